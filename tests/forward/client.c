/* A client of fakeole in two ways:
 *   client linked   the program links libfakeole.so and calls Sys* itself
 *                   (the shim forwards to the next definition, RTLD_NEXT)
 *   client dlopen   the program dlopen()s libfakeole.so RTLD_LOCAL and calls
 *                   functions that use its runtime through its own PLT
 * Output lines are compared with a run without the shim. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

typedef wchar_t *BSTR;
#define NOINLINE __attribute__((noinline))

#ifdef LINKED
BSTR SysAllocString(const wchar_t *);
BSTR SysAllocStringLen(const wchar_t *, unsigned);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);
int SysReAllocStringLen(BSTR *, const wchar_t *, unsigned);

static NOINLINE BSTR client_leak(void) { return SysAllocString(L"client leak"); }
static NOINLINE void client_free(BSTR b) { SysFreeString(b); }

int main(int argc, char **argv)
{
    int bugs = argc > 1 && strcmp(argv[1], "bugs") == 0;
    BSTR a = SysAllocString(L"hello");
    BSTR b = SysAllocStringLen(L"with\0nul", 8);
    printf("len %u %u bytes %u\n", SysStringLen(a), SysStringLen(b), SysStringByteLen(b));
    int ok = SysReAllocStringLen(&a, a, 3);
    printf("realloc %d len %u first %lc\n", ok, SysStringLen(a), (wint_t)a[0]);
    SysFreeString(a);
    SysFreeString(b);
    if (bugs) {
        for (int i = 0; i < 2; i++)
            client_leak();
        BSTR c = SysAllocString(L"double");
        client_free(c);
        client_free(c);
    }
    puts("done");
    return 0;
}
#else
int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "libfakeole.so";
    int bugs = argc > 2 && strcmp(argv[2], "bugs") == 0;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    void (*leak)(void), (*twice)(void), (*untracked)(void), (*private_free)(BSTR);
    unsigned (*roundtrip)(void);
    BSTR (*make)(void);
    void *sym;
#define LOOKUP(var, name) (sym = dlsym(lib, name), memcpy(&var, &sym, sizeof var))
    LOOKUP(leak, "fake_leak");
    LOOKUP(twice, "fake_double_free");
    LOOKUP(untracked, "fake_untracked");
    LOOKUP(private_free, "fake_private_free");
    LOOKUP(roundtrip, "fake_roundtrip");
    LOOKUP(make, "fake_make");
    printf("roundtrip %u\n", roundtrip());
    untracked();
    private_free(make());
    if (bugs) {
        leak();
        twice();
    }
    if (argc > 2 && strcmp(argv[2], "close") == 0) {
        /* BSTRs of fakeole's runtime wait in the quarantine; after the
         * unload, churn pushes them out: the shim must not call into the
         * unloaded library then. */
        for (int i = 0; i < 50; i++)
            roundtrip();
        dlclose(lib);
        BSTR (*alloc)(const wchar_t *);
        void (*release)(BSTR);
        sym = dlsym(RTLD_DEFAULT, "SysAllocString");
        memcpy(&alloc, &sym, sizeof alloc);
        sym = dlsym(RTLD_DEFAULT, "SysFreeString");
        memcpy(&release, &sym, sizeof release);
        for (int i = 0; alloc && release && i < 20000; i++)
            release(alloc(L"after the unload"));
        puts("survived the unload");
    }
    puts("done");
    return 0;
}
#endif
