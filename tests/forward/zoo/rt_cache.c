/* Case 3, a Windows-like caching runtime: a freed BSTR goes into a small
 * per-size cache (blocks rounded up to 16 data bytes, up to 4 per size,
 * last in first out) and the next BSTR of that size gets the same address.
 * The contract: bstrcheck still sees every free, and an address handed out
 * again is a new BSTR, not a double free. Single-threaded (no lock), 16-bit
 * OLECHAR, 8-byte header (zoo_rt16.h). */
#include "zoo_rt16.h"

#define CLASSES 17
#define PER_CLASS 4

static zoo_hdr_t *cache[CLASSES][PER_CLASS];
static int cached[CLASSES];

static unsigned class_of(uint32_t bytes)
{
    return (bytes + 15) / 16;
}

static BSTR cache_make(const void *src, uint32_t bytes)
{
    if (bytes > 0x7FFFFFF0u)
        return NULL;
    unsigned cls = class_of(bytes);
    if (cls < CLASSES && cached[cls])
        return zoo_fill(cache[cls][--cached[cls]], src, bytes);
    size_t capacity = cls < CLASSES ? (size_t)cls * 16 : bytes;
    zoo_hdr_t *h = malloc(sizeof *h + capacity + 4);
    return h ? zoo_fill(h, src, bytes) : NULL;
}

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    return cache_make(psz, len);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    return len < 0x3FFFFFF0u ? cache_make(psz, len * 2u) : NULL;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    return psz ? cache_make(psz, (uint32_t)zoo_units(psz) * 2u) : NULL;
}

void SysFreeString(BSTR b)
{
    if (!b || !zoo_kill(b))
        return;
    zoo_hdr_t *h = zoo_hdr(b);
    unsigned cls = class_of(h->bytes);
    if (cls < CLASSES && cached[cls] < PER_CLASS)
        cache[cls][cached[cls]++] = h;
    else
        zoo_bury(h);
}

unsigned SysStringByteLen(BSTR b)
{
    return b ? zoo_hdr(b)->bytes : 0;
}

unsigned SysStringLen(BSTR b)
{
    return b ? zoo_hdr(b)->bytes / 2 : 0;
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
    return 1;
}

int SysReAllocString(BSTR *pb, const OLECHAR *psz)
{
    int ok = SysReAllocStringLen(pb, psz, psz ? (unsigned)zoo_units(psz) : 0);
    return ok;
}

HRESULT SysAddRefString(BSTR b)
{
    return zoo_pin(b);
}

void SysReleaseString(BSTR b)
{
    if (b && zoo_unpin(b))
        SysFreeString(b);
}

int ZooOwns(BSTR b)
{
    return b && zoo_hdr(b)->state == ZOO_LIVE;
}
