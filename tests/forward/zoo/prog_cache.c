/* Case 3's program, linked against the caching runtime (rt_cache.c). It
 * frees a BSTR and asks for another of the same size: the runtime hands out
 * the same address, and the "layout: reused" lines say whether it did. The
 * new BSTR must read as its own text (not the old one, not poison), and
 * freeing it is no double free. Last, one planted leak and one planted
 * double free (last, so the runtime's cache state after it does not
 * matter). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "zoo_prog.h"

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
BSTR SysAllocStringLen(const OLECHAR *, unsigned);
int SysReAllocString(BSTR *, const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);
int ZooOwns(BSTR);

static unsigned long allocations;

static void show(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b), bytes = SysStringByteLen(b);
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 2));
    zoo_print_text(b, len, 2);
    printf("\nlayout: %s align8=%u owned=%d\n", what, zoo_align8(b), ZooOwns(b));
}

static BSTR make(const OLECHAR *s)
{
    BSTR b = SysAllocString(s);
    allocations += b != NULL;
    return b;
}

NOINLINE static void leak_cached(void)
{
    zoo_sink = (uintptr_t)SysAllocString(u"leaked from the cache");
    allocations++;
}

NOINLINE static void double_free_cached(void)
{
    BSTR b = SysAllocString(u"freed twice, cached once");
    allocations++;
    SysFreeString(b);
    SysFreeString(b);
}

int main(void)
{
    BSTR a = make(u"cache me");
    uintptr_t first = (uintptr_t)a;
    show("first", a);
    SysFreeString(a);
    BSTR b = make(u"cached!!");
    printf("layout: reused=%d\n", (uintptr_t)b == first);
    show("second", b);
    SysFreeString(b);

    /* Rounds of three sizes, freed out of order and asked for again. */
    static const OLECHAR *const texts[3] = {u"short", u"a middle sized one", u"and one that is rather longer"};
    static const OLECHAR *const again[3] = {u"SHORT", u"A MIDDLE SIZED ONE", u"AND ONE THAT IS RATHER LONGER"};
    static const unsigned lens[3] = {5, 18, 29};
    unsigned reuses = 0, wrong = 0;
    for (int round = 0; round < 30; round++) {
        BSTR x[3];
        uintptr_t was[3];
        for (int k = 0; k < 3; k++) {
            x[k] = make(texts[k]);
            was[k] = (uintptr_t)x[k];
        }
        int order[3] = {round % 3, (round + 1) % 3, (round + 2) % 3};
        for (int k = 0; k < 3; k++)
            SysFreeString(x[order[k]]);
        for (int k = 0; k < 3; k++) {
            x[k] = make(again[k]);
            reuses += (uintptr_t)x[k] == was[k];
            wrong += SysStringLen(x[k]) != lens[k] ||
                     memcmp(x[k], again[k], 2 * (size_t)lens[k] + 2) != 0;
        }
        if (round % 2)
            allocations += SysReAllocString(&x[1], u"changed in place?") == 1;
        for (int k = 0; k < 3; k++)
            SysFreeString(x[k]);
    }
    printf("rounds: wrong=%u\n", wrong);
    printf("layout: reuses=%u\n", reuses);

    leak_cached();
    double_free_cached();
    printf("count: allocations=%lu\n", allocations);
    return 0;
}
