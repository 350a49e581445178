/* A BSTR runtime of its own, for the forward-mode tests: built like
 * p7zip's 7z.so (malloc, a bare 4-byte byte-length prefix at malloc()+4,
 * wchar_t characters), exporting all ten Sys* functions and calling them
 * through its own PLT. Planted bugs: fake_leak() and fake_double_free(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

typedef wchar_t *BSTR;
#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))

EXPORT BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    if (len >= 0xFFFFFFFFu - sizeof(wchar_t) - 4)
        return NULL;
    char *block = malloc(4 + len + sizeof(wchar_t) + 3);
    if (!block)
        return NULL;
    memcpy(block, &len, 4);
    if (psz)
        memcpy(block + 4, psz, len);
    else
        memset(block + 4, 0, len);
    memset(block + 4 + len, 0, sizeof(wchar_t) + 3);
    return (BSTR)(block + 4);
}

EXPORT BSTR SysAllocStringLen(const wchar_t *psz, unsigned len)
{
    if (len >= 0x3FFFFFF0u)
        return NULL;
    return SysAllocStringByteLen((const char *)psz, len * (unsigned)sizeof(wchar_t));
}

EXPORT BSTR SysAllocString(const wchar_t *psz)
{
    return psz ? SysAllocStringLen(psz, (unsigned)wcslen(psz)) : NULL;
}

EXPORT void SysFreeString(BSTR bstr)
{
    if (bstr)
        free((char *)bstr - 4);
}

EXPORT unsigned SysStringByteLen(BSTR bstr)
{
    uint32_t len = 0;
    if (bstr)
        memcpy(&len, (char *)bstr - 4, 4);
    return len;
}

EXPORT unsigned SysStringLen(BSTR bstr)
{
    return SysStringByteLen(bstr) / sizeof(wchar_t);
}

EXPORT int SysReAllocStringLen(BSTR *pbstr, const wchar_t *psz, unsigned len)
{
    BSTR fresh = SysAllocStringLen(psz, len);
    if (!fresh)
        return 0;
    SysFreeString(*pbstr);
    *pbstr = fresh;
    return 1;
}

EXPORT int SysReAllocString(BSTR *pbstr, const wchar_t *psz)
{
    return SysReAllocStringLen(pbstr, psz, psz ? (unsigned)wcslen(psz) : 0);
}

EXPORT int32_t SysAddRefString(BSTR bstr)
{
    (void)bstr;
    return 0;
}

EXPORT void SysReleaseString(BSTR bstr)
{
    (void)bstr;
}

/* ---- what the library itself does with its runtime ---- */

EXPORT NOINLINE void fake_leak(void)
{
    SysAllocString(L"leaked in fakeole");
}

EXPORT NOINLINE void fake_double_free(void)
{
    BSTR b = SysAllocString(L"twice");
    SysFreeString(b);
    SysFreeString(b);
}

EXPORT NOINLINE unsigned fake_roundtrip(void)
{
    BSTR b = SysAllocString(L"round trip \u00e9");
    SysReAllocString(&b, L"replaced");
    unsigned len = SysStringLen(b);
    SysFreeString(b);
    return len;
}

/* A private copy of SysFreeString, like p7zip's 7z program has: free()
 * on the block, never through the Sys* API. */
EXPORT NOINLINE void fake_private_free(BSTR bstr)
{
    free((char *)bstr - 4);
}

EXPORT NOINLINE BSTR fake_make(void)
{
    return SysAllocString(L"made by fakeole");
}

/* A BSTR made where the shim cannot see (no PLT call), then freed through
 * the API: an untracked free, not an error. */
EXPORT NOINLINE void fake_untracked(void)
{
    char *block = malloc(4 + 8 + sizeof(wchar_t));
    uint32_t len = 8;
    memcpy(block, &len, 4);
    memset(block + 4, 'u', 8 + sizeof(wchar_t));
    SysFreeString((BSTR)(block + 4));
}
