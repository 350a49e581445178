/* Case 9's program: two runtimes of different widths in one process. It
 * links the 16-bit runtime (libzoo_hdr16v.so, versioned ZOO16_1.0) and
 * calls it directly, and it dlopen()s a wchar_t runtime plugin RTLD_LOCAL
 * (libzoo_plug_wv.so, versioned ZOOW_1.0, so that its PLT binds to itself
 * rather than to the 16-bit runtime) and calls it through the plugin's
 * functions. BSTRs of both are alive at once; each side plants one leak,
 * and the report must read each sample at its own width.
 *   prog_twowidth PLUGIN */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "zoo_prog.h"

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
typedef wchar_t *WBSTR;

BSTR SysAllocString(const OLECHAR *);
int SysReAllocString(BSTR *, const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);
int ZooOwns(BSTR);

static WBSTR (*w_make)(const wchar_t *);
static unsigned (*w_len)(WBSTR);
static unsigned (*w_bytelen)(WBSTR);
static int (*w_realloc)(WBSTR *, const wchar_t *);
static void (*w_free)(WBSTR);
static void (*w_leak)(void);
static int (*w_owns)(WBSTR);

static void show16(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b), bytes = SysStringByteLen(b);
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 2));
    zoo_print_text(b, len, 2);
    printf("\nlayout: %s align8=%u owned=%d\n", what, zoo_align8(b), ZooOwns(b));
}

static void show32(const char *what, WBSTR b)
{
    unsigned len = w_len(b), bytes = w_bytelen(b);
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 4));
    zoo_print_text(b, len, 4);
    printf("\nlayout: %s align8=%u owned=%d\n", what, zoo_align8(b), w_owns(b));
}

NOINLINE static void leak16(void)
{
    zoo_sink = (uintptr_t)SysAllocString(u"leaked sixteen");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    BSTR early = SysAllocString(u"sixteen bits, made first");
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    void *sym;
#define LOOKUP(var, name) (sym = dlsym(lib, name), memcpy(&(var), &sym, sizeof(var)), sym != NULL)
    if (!(LOOKUP(w_make, "plug_make") && LOOKUP(w_len, "plug_len") && LOOKUP(w_bytelen, "plug_bytelen") &&
          LOOKUP(w_realloc, "plug_realloc") && LOOKUP(w_free, "plug_free") &&
          LOOKUP(w_leak, "plug_leak") && LOOKUP(w_owns, "plug_owns"))) {
        printf("dlsym failed\n");
        return 1;
    }
    WBSTR wide = w_make(L"thirty-two bits");
    BSTR narrow = SysAllocString(u"sixteen bits");
    show16("early", early);
    show32("wide", wide);
    show16("narrow", narrow);
    w_realloc(&wide, L"thirty-two bits, re-made");
    SysReAllocString(&narrow, u"sixteen bits, re-made");
    show32("wide-re-made", wide);
    show16("narrow-re-made", narrow);
    w_free(wide);
    SysFreeString(narrow);
    SysFreeString(early);
    leak16();
    w_leak();
    printf("count: allocations=7\n");
    return 0;
}
