/* The baseline suite's program, built twice from this one source: as is,
 * and moved (-DMOVED: a block of padding code before everything, and no
 * PIE), so the same functions sit at other offsets and load addresses.
 * `leaky config` leaks in load_config, `leaky theme` in load_theme,
 * `leaky both` in both. */
#include "oleauto.h"

#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

#ifdef MOVED
/* Padding: moves every function after it. */
NOINLINE int padding(int x);
NOINLINE int padding(int x)
{
    volatile int acc = x;
    for (int i = 0; i < 100; i++) {
        acc = acc * 31 + i;
        acc ^= acc >> 3;
        acc += i * i;
        acc = acc * 17 - i;
        acc ^= acc << 5;
        acc -= i;
        acc = acc * 13 + 7;
        acc ^= acc >> 7;
    }
    return acc;
}
#endif

static BSTR kept;

NOINLINE static void load_config(void)
{
    kept = SysAllocString(OLESTR("config"));
}

NOINLINE static void load_theme(void)
{
    kept = SysAllocString(OLESTR("theme"));
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
#ifdef MOVED
    if (padding(argc) == 12345)
        puts("");
#endif
    if (strcmp(argv[1], "config") == 0 || strcmp(argv[1], "both") == 0)
        load_config();
    if (strcmp(argv[1], "theme") == 0 || strcmp(argv[1], "both") == 0)
        load_theme();
    return 0;
}
