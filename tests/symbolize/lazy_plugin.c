/* A plugin lazy-prog loads, calls and unloads: it makes one BSTR and frees
 * it, or leaks it from lazy_plugin_leak_site. Built with debug info,
 * without any (the debuginfod case), and as a "rebuild" whose code and
 * names differ (a file replaced after the unload). */
#include "oleauto.h"

#include <stddef.h>

#define NOINLINE __attribute__((noinline))

#ifdef LAZY_PLUGIN_REBUILT
#define lazy_plugin_leak_site rebuilt_leak_site
__attribute__((visibility("default"))) NOINLINE int rebuilt_padding(int x)
{
    return x * 3 + 1;
}
#endif

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
