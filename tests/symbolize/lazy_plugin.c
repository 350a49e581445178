/* A plugin lazy-prog loads, calls and unloads: it makes one BSTR and frees
 * it, or leaks it from lazy_plugin_leak_site. Built twice, with debug
 * info and without any (the debuginfod case). */
#include "oleauto.h"

#include <stddef.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR lazy_plugin_leak_site(void)
{
    return SysAllocString(OLESTR("leaked by the plugin"));
}

__attribute__((visibility("default"))) int plugin_work(int leak)
{
    BSTR s = lazy_plugin_leak_site();
    if (!leak)
        SysFreeString(s);
    return s != NULL;
}
