/* A program with no BSTR runtime at all: its Sys* references are weak and
 * nothing it links defines them. Only the preloaded shim provides them. */
#include "oleauto.h"

#include <stdio.h>

#pragma weak SysAllocString
#pragma weak SysFreeString
#pragma weak SysStringLen

int main(void)
{
    if (!SysAllocString) {
        puts("no BSTR runtime");
        return 3;
    }
    BSTR kept = SysAllocString(OLESTR("preloaded"));
    BSTR freed = SysAllocString(OLESTR("freed"));
    SysFreeString(freed);
    printf("%u\n", SysStringLen(kept));
    return 0; /* kept leaks: one leak expected */
}
