/* The BSTR runtime of the benchmark's bare runs: Windows' layout (a
 * pointer-sized header ending in the byte length, 16-bit characters) on
 * malloc, with nothing else. Under the shim in mode forward it is the real
 * runtime being wrapped; in mode own the shim replaces it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
#define EXPORT __attribute__((visibility("default")))

EXPORT BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x7FFFFFF0u)
        return NULL;
    size_t bytes = (size_t)len * 2;
    char *block = malloc((sizeof(void *) + bytes + 2 + 15) & ~(size_t)15);
    if (!block)
        return NULL;
    uint32_t prefix = (uint32_t)bytes;
    memcpy(block + sizeof(void *) - 4, &prefix, 4);
    BSTR bstr = (BSTR)(block + sizeof(void *));
    if (psz)
        memcpy(bstr, psz, bytes);
    bstr[len] = 0;
    return bstr;
}

EXPORT BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    unsigned n = 0;
    while (psz[n])
        n++;
    return SysAllocStringLen(psz, n);
}

EXPORT void SysFreeString(BSTR bstr)
{
    if (bstr)
        free((char *)bstr - sizeof(void *));
}

EXPORT unsigned SysStringByteLen(BSTR bstr)
{
    uint32_t prefix = 0;
    if (bstr)
        memcpy(&prefix, (char *)bstr - 4, 4);
    return prefix;
}

EXPORT unsigned SysStringLen(BSTR bstr)
{
    return SysStringByteLen(bstr) / 2;
}
