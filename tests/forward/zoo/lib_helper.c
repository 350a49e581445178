/* Case 8b: a helper library that calls the Sys* functions but defines
 * none. It is loaded RTLD_LOCAL together with the runtime plugin it needs
 * (DT_NEEDED libzoo_plug_p7.so), and no runtime is in the global scope, so
 * without the shim its references bind in that local scope: to the
 * plugin's runtime. The program reaches it only through dlsym(). */
#include <stdio.h>
#include <wchar.h>

typedef wchar_t *BSTR;
BSTR SysAllocString(const wchar_t *psz);
unsigned SysStringLen(BSTR b);
unsigned SysStringByteLen(BSTR b);
void SysFreeString(BSTR b);
int plug_owns(BSTR b);

#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))

static volatile BSTR sink;

EXPORT void helper_show(const wchar_t *text)
{
    BSTR b = SysAllocString(text);
    printf("helper: len=%u bytes=%u owned=%d\n", SysStringLen(b), SysStringByteLen(b),
           plug_owns(b));
    SysFreeString(b);
}

EXPORT NOINLINE void helper_leak(void)
{
    sink = SysAllocString(L"leaked by the helper");
    printf("helper leak: len=%u\n", SysStringLen(sink));
}
