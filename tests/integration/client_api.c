/* The client API through include/bstrcheck.h, linked against nothing of
 * bstrcheck's: with the shim preloaded it counts, without it every call
 * returns 0. The Sys* functions are weak so the program also runs without
 * any BSTR runtime. */
#include "bstrcheck.h"
#include "oleauto.h"

#include <stdio.h>

#pragma weak SysAllocString
#pragma weak SysFreeString

int main(void)
{
    int active = bstrcheck_is_active();
    uint64_t mark = bstrcheck_checkpoint();
    BSTR a = NULL, b = NULL, c = NULL;
    if (SysAllocString) {
        a = SysAllocString(OLESTR("one"));
        b = SysAllocString(OLESTR("two"));
        c = SysAllocString(OLESTR("three"));
        SysFreeString(b);
    }
    size_t leaked = bstrcheck_leaks_since(mark, 1);
    uint64_t later = bstrcheck_checkpoint();
    size_t none = bstrcheck_leaks_since(later, 0);
    if (SysAllocString) {
        SysFreeString(a);
        SysFreeString(c);
    }
    size_t after_free = bstrcheck_leaks_since(mark, 0);
    printf("active=%d leaked=%zu none=%zu after_free=%zu\n", active, leaked, none, after_free);
    return 0;
}
