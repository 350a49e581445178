/* Case 4 (and, versioned, case 9's 16-bit runtime): a 16-byte header, a
 * magic word at p-16 and the byte-length prefix at p-4, the data 16-aligned
 * (posix_memalign). 16-bit OLECHAR; the functions do not call each other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
typedef int32_t HRESULT;

#define LIVE16 0x3631484cu /* "LH16" */
#define DEAD16 0x44414544u
#define E_INVALIDARG_ ((HRESULT)-2147024809)

typedef struct hdr16 {
    uint32_t magic;
    uint8_t pins, pending;
    uint16_t unused;
    uint32_t reserved;
    uint32_t bytes; /* the prefix, at p-4 */
} hdr16_t;

/* Dead blocks wait here before free() (see zoo_rt16.h, double frees). */
static __thread void *ring[16];
static __thread unsigned ring_next;

static hdr16_t *hdr(BSTR b)
{
    return (hdr16_t *)(void *)((char *)b - sizeof(hdr16_t));
}

static BSTR make(const void *src, uint32_t bytes)
{
    void *mem;
    if (bytes > 0x7FFFFFF0u || posix_memalign(&mem, 16, sizeof(hdr16_t) + (size_t)bytes + 4))
        return NULL;
    hdr16_t *h = mem;
    memset(h, 0, sizeof *h);
    h->magic = LIVE16;
    h->bytes = bytes;
    char *data = (char *)(h + 1);
    if (src)
        memcpy(data, src, bytes);
    else
        memset(data, 0, bytes);
    memset(data + bytes, 0, 4);
    return (BSTR)(void *)data;
}

static size_t units(const OLECHAR *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    return make(psz, len);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    return len < 0x3FFFFFF0u ? make(psz, len * 2u) : NULL;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    return psz ? make(psz, (uint32_t)units(psz) * 2u) : NULL;
}

static void release(hdr16_t *h)
{
    h->magic = DEAD16;
    void *old = ring[ring_next];
    ring[ring_next] = h;
    ring_next = (ring_next + 1) % 16;
    free(old);
}

void SysFreeString(BSTR b)
{
    if (!b)
        return;
    hdr16_t *h = hdr(b);
    if (h->magic != LIVE16)
        return; /* a double free: ignored */
    if (h->pins)
        h->pending = 1;
    else
        release(h);
}

unsigned SysStringByteLen(BSTR b)
{
    return b ? hdr(b)->bytes : 0;
}

unsigned SysStringLen(BSTR b)
{
    return b ? hdr(b)->bytes / 2 : 0;
}

int SysReAllocStringLen(BSTR *pb, const OLECHAR *psz, unsigned len)
{
    if (!pb || len >= 0x3FFFFFF0u)
        return 0;
    BSTR fresh = make(psz, len * 2u);
    if (!fresh)
        return 0;
    if (*pb && hdr(*pb)->magic == LIVE16) {
        if (hdr(*pb)->pins)
            hdr(*pb)->pending = 1;
        else
            release(hdr(*pb));
    }
    *pb = fresh;
    return 1;
}

int SysReAllocString(BSTR *pb, const OLECHAR *psz)
{
    return SysReAllocStringLen(pb, psz, psz ? (unsigned)units(psz) : 0) ? 1 : 0;
}

HRESULT SysAddRefString(BSTR b)
{
    if (!b || hdr(b)->magic != LIVE16)
        return E_INVALIDARG_;
    hdr(b)->pins++;
    return 0;
}

void SysReleaseString(BSTR b)
{
    if (!b || hdr(b)->magic != LIVE16 || !hdr(b)->pins)
        return;
    if (--hdr(b)->pins == 0 && hdr(b)->pending)
        release(hdr(b));
}

/* Not a Sys* function: whether B carries this runtime's live header. */
int ZooOwns(BSTR b)
{
    return b && hdr(b)->magic == LIVE16;
}
