/* bstrcheck_describe and the gdb extension: a live BSTR, a freed one, an
 * address inside one and an unknown address, described through the client
 * API (printed on stdout) and, at stop_here(), through gdb's `bstr`. Runs
 * with and without the shim: it links only a plain BSTR runtime. */
#include "bstrcheck.h"
#include "oleauto.h"

#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

BSTR live_bstr, freed_bstr;

NOINLINE static BSTR make_live(void)
{
    return SysAllocString(OLESTR("Hello, describe"));
}

NOINLINE static BSTR make_freed(void)
{
    BSTR b = SysAllocString(OLESTR("gone"));
    SysFreeString(b);
    return b;
}

/* gdb stops here (`break stop_here`): every case is set up. */
NOINLINE void stop_here(void)
{
    __asm__ volatile("" ::: "memory");
}

static void show(const char *what, const void *p)
{
    char buf[4096];
    size_t n = bstrcheck_describe(p, buf, sizeof buf);
    printf("== %s: %zu\n%s", what, n, buf);
    if (n > 0 && buf[strlen(buf) - 1] != '\n')
        printf("\n");
}

int main(void)
{
    live_bstr = make_live();
    freed_bstr = make_freed();
    int local = 0;
    show("live", live_bstr);
    show("freed", freed_bstr);
    show("inside", (const char *)live_bstr + 6);
    show("unknown", &local);
    char small[16];
    memset(small, 'x', sizeof small);
    size_t n = bstrcheck_describe(live_bstr, small, sizeof small);
    printf("== small: returned %zu, wrote %zu\n", n, strnlen(small, sizeof small));
    stop_here();
    SysFreeString(live_bstr);
    return 0;
}
