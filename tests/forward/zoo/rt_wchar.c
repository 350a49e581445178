/* Case 5, a wchar_t runtime built like p7zip's: 4-byte OLECHAR, malloc(),
 * a bare 4-byte byte-length prefix at malloc()+4 (so the BSTR is only
 * 4-aligned), the other functions calling SysAllocStringByteLen and
 * SysStringByteLen through the PLT (not in tail position). There is no room
 * for a dead mark, so no double free is planted against it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;
typedef int32_t HRESULT;

static unsigned long calls;
#define AFTER() __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED)

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    if (len > 0x7FFFFFF0u)
        return NULL;
    char *block = malloc(4 + (size_t)len + sizeof(OLECHAR) + 3);
    if (!block)
        return NULL;
    memcpy(block, &len, 4);
    if (psz)
        memcpy(block + 4, psz, len);
    else
        memset(block + 4, 0, len);
    memset(block + 4 + len, 0, sizeof(OLECHAR) + 3);
    return (BSTR)(void *)(block + 4);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x1FFFFFF0u)
        return NULL;
    BSTR b = SysAllocStringByteLen((const char *)psz, len * (unsigned)sizeof(OLECHAR));
    AFTER();
    return b;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    BSTR b = SysAllocStringLen(psz, (unsigned)wcslen(psz));
    AFTER();
    return b;
}

void SysFreeString(BSTR b)
{
    if (b)
        free((char *)b - 4);
}

unsigned SysStringByteLen(BSTR b)
{
    uint32_t len = 0;
    if (b)
        memcpy(&len, (char *)b - 4, 4);
    return len;
}

unsigned SysStringLen(BSTR b)
{
    unsigned bytes = SysStringByteLen(b);
    AFTER();
    return bytes / (unsigned)sizeof(OLECHAR);
}

int SysReAllocStringLen(BSTR *pb, const OLECHAR *psz, unsigned len)
{
    if (!pb)
        return 0;
    BSTR fresh = SysAllocStringLen(psz, len);
    if (!fresh)
        return 0;
    SysFreeString(*pb);
    *pb = fresh;
    AFTER();
    return 1;
}

int SysReAllocString(BSTR *pb, const OLECHAR *psz)
{
    int ok = SysReAllocStringLen(pb, psz, psz ? (unsigned)wcslen(psz) : 0);
    AFTER();
    return ok;
}

HRESULT SysAddRefString(BSTR b)
{
    (void)b;
    return 0;
}

void SysReleaseString(BSTR b)
{
    (void)b;
}
