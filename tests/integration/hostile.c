/* Hostile input for every Sys* function (own mode): `hostile SECTION`.
 * Nothing may crash; every bad pointer is reported (invalid_free,
 * invalid_bstr, double_free, use_after_free) or refused with NULL/FALSE.
 * The program prints what it expects the report to count,
 *   expect invalid_free=N invalid_bstr=N double_free=N use_after_free=N
 * and checks every return value itself ("bad=N" counts surprises).
 *
 * Sections:
 *   pointers  NULL plus small offsets, misaligned, stack, code, unmapped,
 *             kernel, inside and before a live BSTR, as a BSTR argument of
 *             every function and as *pbstr of SysReAlloc*
 *   args      impossible psz and pbstr arguments (the first page, kernel)
 *   freed     a quarantined BSTR passed to every function, and as a psz
 *   reused    quarantine_kb=0: a freed BSTR whose memory malloc reused
 *   lengths   huge and overflowing lengths with psz NULL */
#include "oleauto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned bad, invalid_free, invalid_bstr, double_free, use_after_free;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            bad++;                                                             \
            printf("unexpected at line %d: %s\n", __LINE__, #cond);            \
        }                                                                      \
    } while (0)

/* P is no BSTR: every function refuses it and reports it. */
static void not_a_bstr(BSTR p)
{
    SysFreeString(p);
    invalid_free++;
    CHECK(SysStringLen(p) == 0);
    CHECK(SysStringByteLen(p) == 0);
    CHECK(SysAddRefString(p) == E_INVALIDARG);
    SysReleaseString(p);
    invalid_bstr += 4;
    BSTR var = p;
    CHECK(SysReAllocString(&var, OLESTR("new")) == 0 && var == p);
    CHECK(SysReAllocStringLen(&var, OLESTR("new"), 3) == 0 && var == p);
    CHECK(SysReAllocStringLen(&var, NULL, 3) == 0 && var == p);
    invalid_bstr += 3;
}

static BSTR as_bstr(uintptr_t a)
{
    BSTR b;
    memcpy(&b, &a, sizeof b);
    return b;
}

static int pointers(void)
{
    static const uintptr_t small[] = {1, 2, 4, 8, 0x10};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        not_a_bstr(as_bstr(small[i]));
    OLECHAR on_stack[8] = {'s', 't', 'a', 'c', 'k', 0};
    not_a_bstr(on_stack);
    not_a_bstr(as_bstr((uintptr_t)on_stack + 1)); /* misaligned */
    int (*code)(void) = pointers;
    uintptr_t code_addr;
    memcpy(&code_addr, &code, sizeof code_addr);
    not_a_bstr(as_bstr(code_addr)); /* a function */
    not_a_bstr(as_bstr(0xdeadbeef000));         /* unmapped */
    not_a_bstr(as_bstr(0xffff800000000000ull)); /* kernel */
    not_a_bstr(as_bstr(0x8000000000000000ull)); /* non-canonical */
    not_a_bstr(as_bstr(UINTPTR_MAX));
    BSTR live = SysAllocString(OLESTR("a live string"));
    not_a_bstr(live + 1);                           /* inside */
    not_a_bstr(as_bstr((uintptr_t)live + 1));       /* inside, misaligned */
    not_a_bstr(as_bstr((uintptr_t)live - 4));       /* its length prefix */
    CHECK(SysStringLen(live) == 13);                /* untouched by all that */
    SysFreeString(live);
    return 0;
}

static int args(void)
{
    static const uintptr_t impossible[] = {1, 8, 0x10, 0xfff, 0xffff800000000000ull,
                                           UINTPTR_MAX - 1};
    BSTR keep = SysAllocString(OLESTR("keep"));
    for (size_t i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
        const OLECHAR *psz = as_bstr(impossible[i]);
        CHECK(SysAllocString(psz) == NULL);
        CHECK(SysAllocStringLen(psz, 4) == NULL);
        CHECK(SysAllocStringByteLen((const char *)psz, 4) == NULL);
        BSTR var = keep;
        CHECK(SysReAllocString(&var, psz) == 0 && var == keep);
        CHECK(SysReAllocStringLen(&var, psz, 4) == 0 && var == keep);
        BSTR *pbstr;
        memcpy(&pbstr, &impossible[i], sizeof pbstr);
        CHECK(SysReAllocString(pbstr, OLESTR("x")) == 0);
        CHECK(SysReAllocStringLen(pbstr, OLESTR("x"), 1) == 0);
        invalid_bstr += 7;
    }
    CHECK(SysReAllocString(NULL, OLESTR("x")) == 0);
    CHECK(SysReAllocStringLen(NULL, NULL, 0) == 0);
    invalid_bstr += 2;
    CHECK(SysStringLen(keep) == 4);
    SysFreeString(keep);
    return 0;
}

static int freed(void)
{
    BSTR b = SysAllocString(OLESTR("freed"));
    SysFreeString(b);
    SysFreeString(b);
    double_free++;
    CHECK(SysStringLen(b) == 5); /* the recorded length, from the record */
    CHECK(SysStringByteLen(b) == 10);
    CHECK(SysAddRefString(b) == E_INVALIDARG);
    SysReleaseString(b);
    use_after_free += 4;
    BSTR var = b;
    CHECK(SysReAllocString(&var, OLESTR("x")) == 0 && var == b);
    CHECK(SysReAllocStringLen(&var, OLESTR("x"), 1) == 0 && var == b);
    double_free += 2;
    /* As a psz: the contract reads it; the poisoned body still ends at the
     * kept terminator, so the copy stays inside the freed block. */
    BSTR copy = SysAllocString(b);
    CHECK(copy != NULL && SysStringLen(copy) == 5 && copy[0] == 0xFDFD);
    SysFreeString(copy);
    return 0;
}

static int reused(void)
{
    BSTR b = SysAllocString(OLESTR("reused"));
    SysFreeString(b); /* quarantine_kb=0: its memory goes back to malloc */
    void *blocks[64];
    int hit = 0;
    for (int i = 0; i < 64; i++) {
        blocks[i] = malloc(32);
        memset(blocks[i], 0x41, 32);
        hit |= (char *)blocks[i] + sizeof(void *) == (char *)b;
    }
    printf("reused=%d\n", hit);
    not_a_bstr(b); /* malloc's now, or nobody's: never read */
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
    return 0;
}

static int lengths(void)
{
    /* Too long for the 32-bit prefix: NULL, no allocation. */
    CHECK(SysAllocStringLen(NULL, 0x80000000u) == NULL);
    CHECK(SysAllocStringLen(NULL, 0xffffffffu) == NULL);
    CHECK(SysAllocStringByteLen(NULL, 0xffffffffu) == NULL);
    BSTR var = SysAllocString(OLESTR("small"));
    BSTR before = var;
    CHECK(SysReAllocStringLen(&var, NULL, 0x80000000u) == 0 && var == before);
    CHECK(SysReAllocStringLen(&var, NULL, 0xffffffffu) == 0 && var == before);
    /* Huge but valid: a BSTR, or NULL when memory runs out; either way
     * freeing it must not touch its gigabytes. */
    BSTR huge = SysAllocStringLen(NULL, 0x7fffffffu);
    CHECK(huge == NULL || SysStringLen(huge) == 0x7fffffffu);
    SysFreeString(huge);
    huge = SysAllocStringByteLen(NULL, 0xfffffffeu);
    CHECK(huge == NULL || SysStringByteLen(huge) == 0xfffffffeu);
    SysFreeString(huge);
    huge = SysAllocStringByteLen(NULL, 0x80000000u);
    CHECK(huge == NULL || SysStringByteLen(huge) == 0x80000000u);
    if (huge && SysReAllocStringLen(&huge, NULL, 0x7ffffff0u))
        CHECK(SysStringLen(huge) == 0x7ffffff0u);
    SysFreeString(huge);
    CHECK(SysStringLen(var) == 5);
    SysFreeString(var);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } sections[] = {
        {"pointers", pointers}, {"args", args},       {"freed", freed},
        {"reused", reused},     {"lengths", lengths},
    };
    for (size_t i = 0; argc > 1 && i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(argv[1], sections[i].name) == 0) {
            sections[i].run();
            printf("expect invalid_free=%u invalid_bstr=%u double_free=%u use_after_free=%u\n",
                   invalid_free, invalid_bstr, double_free, use_after_free);
            printf("bad=%u\nstill running\n", bad);
            return 0;
        }
    fprintf(stderr, "usage: hostile pointers|args|freed|reused|lengths\n");
    return 2;
}
