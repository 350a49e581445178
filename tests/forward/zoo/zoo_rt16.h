/* Shared by the zoo's 16-bit test runtimes (C and C++): the 8-byte header
 * and the heap. Each runtime still decides for itself how its Sys*
 * functions call each other, which is what the zoo is about.
 *
 * Layout: an 8-byte header (a state word, a pin count, a free-pending flag,
 * then the byte length in its last 4 bytes: the prefix at p-4), the data,
 * then at least 4 zero bytes; the block comes from malloc(), so the BSTR is
 * 8-aligned.
 *
 * Double frees: a freed block is marked dead and waits in a short
 * per-thread ring before free(), so a planted double free (which the
 * programs do right after the first free) finds a dead mark and is ignored,
 * as Windows' cached oleaut32 would. Without that, the run without the shim
 * would abort in glibc and there would be nothing to compare with. */
#ifndef ZOO_RT16_H
#define ZOO_RT16_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
typedef char16_t OLECHAR; /* the same 16 bits; u"" literals need no cast */
#else
typedef uint16_t OLECHAR;
#endif
typedef OLECHAR *BSTR;
typedef int32_t HRESULT;

#define ZOO_S_OK ((HRESULT)0)
#define ZOO_E_INVALIDARG ((HRESULT)-2147024809) /* 0x80070057 */
#define ZOO_LIVE 0x4c56u                         /* "VL" */
#define ZOO_DEAD 0x4444u
#define ZOO_RING 16

typedef struct zoo_hdr {
    uint16_t state;
    uint8_t pins;
    uint8_t pending;
    uint32_t bytes; /* the prefix */
} zoo_hdr_t;

static __thread void *zoo_ring[ZOO_RING];
static __thread unsigned zoo_ring_next;

static inline zoo_hdr_t *zoo_hdr(BSTR b)
{
    return (zoo_hdr_t *)(void *)((char *)b - sizeof(zoo_hdr_t));
}

/* A dead block waits in the ring; the one it pushes out is freed. */
static inline void zoo_bury(void *block)
{
    unsigned i = zoo_ring_next;
    void *old = zoo_ring[i];
    zoo_ring[i] = block;
    zoo_ring_next = (i + 1) % ZOO_RING;
    free(old);
}

static inline size_t zoo_units(const OLECHAR *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* A live header for BYTES at BLOCK (CAPACITY data bytes fit), data copied
 * from SRC (zeros when NULL) and terminated. */
static inline BSTR zoo_fill(zoo_hdr_t *h, const void *src, uint32_t bytes)
{
    h->state = ZOO_LIVE;
    h->pins = 0;
    h->pending = 0;
    h->bytes = bytes;
    char *data = (char *)(h + 1);
    if (src)
        memmove(data, src, bytes);
    else
        memset(data, 0, bytes);
    memset(data + bytes, 0, 4);
    return (BSTR)(void *)data;
}

static inline BSTR zoo_make(const void *src, uint32_t bytes)
{
    if (bytes > 0x7FFFFFF0u)
        return NULL;
    zoo_hdr_t *h = (zoo_hdr_t *)malloc(sizeof(zoo_hdr_t) + (size_t)bytes + 4);
    return h ? zoo_fill(h, src, bytes) : NULL;
}

/* SysFreeString's bookkeeping: 1 when B is to be released now (it was live
 * and unpinned; it is marked dead), 0 when a double free (ignored) or a
 * pinned BSTR (the free waits for the last SysReleaseString). */
static inline int zoo_kill(BSTR b)
{
    zoo_hdr_t *h = zoo_hdr(b);
    if (h->state != ZOO_LIVE)
        return 0;
    if (h->pins) {
        h->pending = 1;
        return 0;
    }
    h->state = ZOO_DEAD;
    return 1;
}

/* SysReleaseString's bookkeeping: 1 when the last pin went and a free was
 * pending, so the caller frees B now. */
static inline int zoo_unpin(BSTR b)
{
    zoo_hdr_t *h = zoo_hdr(b);
    if (h->state != ZOO_LIVE || h->pins == 0)
        return 0;
    if (--h->pins || !h->pending)
        return 0;
    h->pending = 0;
    return 1;
}

static inline HRESULT zoo_pin(BSTR b)
{
    if (!b)
        return ZOO_E_INVALIDARG;
    zoo_hdr_t *h = zoo_hdr(b);
    if (h->state != ZOO_LIVE || h->pins == UINT8_MAX)
        return ZOO_E_INVALIDARG;
    h->pins++;
    return ZOO_S_OK;
}

#endif
