/* A stand-in for a program's real BSTR runtime (Wine's oleaut32, a port's
 * own): plain malloc, no checks. The checkpoints example links it; under
 * the preloaded shim the shim's Sys* functions come first and this one is
 * never called. Only what the example uses. */
#include "oleauto.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    size_t len = 0;
    while (psz[len])
        len++;
    uint32_t bytes = (uint32_t)(len * sizeof(OLECHAR));
    char *block = malloc(sizeof(uint32_t) + bytes + sizeof(OLECHAR));
    if (!block)
        return NULL;
    memcpy(block, &bytes, sizeof bytes);
    memcpy(block + sizeof bytes, psz, bytes + sizeof(OLECHAR));
    return (BSTR)(void *)(block + sizeof bytes);
}

EXPORT UINT SysStringLen(BSTR bstr)
{
    uint32_t bytes = 0;
    if (bstr)
        memcpy(&bytes, (char *)bstr - sizeof bytes, sizeof bytes);
    return bytes / sizeof(OLECHAR);
}

EXPORT void SysFreeString(BSTR bstr)
{
    if (bstr)
        free((char *)bstr - sizeof(uint32_t));
}
