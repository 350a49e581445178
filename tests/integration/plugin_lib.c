/* A plugin that scenarios' "dlclose_leak" loads with dlopen(), leaks one
 * BSTR from, and unloads with dlclose() before exit: the report must still
 * name plugin_leak_site and its file:line. */
#include "oleauto.h"

#include <stddef.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR plugin_leak_site(void)
{
    return SysAllocString(OLESTR("from the plugin"));
}

__attribute__((visibility("default"))) int plugin_leak(void)
{
    return plugin_leak_site() != NULL;
}
