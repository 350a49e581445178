/* Case 7, DirectXShaderCompiler's kind of runtime (its WinAdapter on
 * Linux): only SysAllocString, SysFreeString and SysStringLen exist, OLECHAR
 * is wchar_t (4 bytes), and a 4-byte prefix holds the length in bytes. With
 * no SysStringByteLen to ask, the shim must still get a leak's bytes
 * (chars * 4) and its sample text right. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    size_t units = wcslen(psz);
    uint32_t bytes = (uint32_t)(units * sizeof(OLECHAR));
    uint32_t *blob = malloc(sizeof(uint32_t) + bytes + sizeof(OLECHAR));
    if (!blob)
        return NULL;
    *blob = bytes;
    BSTR b = (BSTR)(void *)(blob + 1);
    memcpy(b, psz, bytes + sizeof(OLECHAR));
    return b;
}

void SysFreeString(BSTR b)
{
    if (b)
        free((uint32_t *)(void *)b - 1);
}

unsigned SysStringLen(BSTR b)
{
    return b ? ((uint32_t *)(void *)b)[-1] / (unsigned)sizeof(OLECHAR) : 0;
}
