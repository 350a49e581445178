/* The benchmark's workload: N BSTRs (argv[1], default 1000000) allocated
 * from S distinct stacks (argv[2], default 32) and all leaked. Stack k is
 * alloc_at_depth recursing k times, so S stacks need no S functions. */
#include "oleauto.h"

#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR alloc_at_depth(int depth)
{
    if (depth > 0)
        return alloc_at_depth(depth - 1);
    return SysAllocStringLen(OLESTR("a leaked benchmark string"), 25);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int stacks = argc > 2 ? atoi(argv[2]) : 32;
    if (n < 0 || stacks < 1)
        return 2;
    for (long i = 0; i < n; i++)
        if (!alloc_at_depth((int)(i % stacks)))
            return 1;
    return 0; /* every BSTR leaks */
}
