/* Cases 8 and 9, a plugin that is a BSTR runtime: it defines the Sys*
 * functions itself (wchar_t OLECHAR, 4 bytes, as p7zip and DXC do), and the
 * program reaches them only through the plugin's own functions, found with
 * dlsym(). Built several ways (meson.build):
 *   PLUG_HEADER 4   a bare prefix at malloc()+4, like p7zip (4-aligned)
 *   PLUG_HEADER 8   a magic word at p-8, then the prefix (8-aligned)
 *   PLUG_HEADER 16  a magic word at p-16, the prefix at p-4 (16-aligned)
 * PLUG_TAG names the build in its magic word, so that plug_owns() tells a
 * BSTR of this very build from anyone else's. The plug_* functions call
 * the Sys* functions through the PLT: plug_make & co. in the middle of
 * their work, plug_make_tail & co. as a plain `return SysX(...)`, which gcc
 * -O2 turns into a jump (zoo.py checks it with objdump): the shim then
 * sees the program's return address, not the plugin's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#ifndef PLUG_HEADER
#define PLUG_HEADER 4
#endif
#ifndef PLUG_TAG
#define PLUG_TAG 'P'
#endif

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;

#define LIVE (0x474c5000u | (uint32_t)PLUG_TAG) /* "?PLG" */
#define DEAD 0x44414544u

/* Work after the calls that are not meant to be tail calls. */
static unsigned long calls;
#define AFTER() __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED)

#if PLUG_HEADER > 4
static __thread void *ring[16];
static __thread unsigned ring_next;

static uint32_t *magic_of(BSTR b)
{
    return (uint32_t *)(void *)((char *)b - PLUG_HEADER);
}
#endif

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    if (len > 0x7FFFFF00u)
        return NULL;
    size_t size = PLUG_HEADER + (size_t)len + 8;
    char *block;
#if PLUG_HEADER == 16
    void *mem;
    if (posix_memalign(&mem, 16, size))
        return NULL;
    block = mem;
#else
    block = malloc(size);
    if (!block)
        return NULL;
#endif
    memset(block, 0, PLUG_HEADER);
#if PLUG_HEADER > 4
    uint32_t live = LIVE;
    memcpy(block, &live, 4);
#endif
    memcpy(block + PLUG_HEADER - 4, &len, 4);
    char *data = block + PLUG_HEADER;
    if (psz)
        memcpy(data, psz, len);
    else
        memset(data, 0, len);
    memset(data + len, 0, 8);
    return (BSTR)(void *)data;
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x1FFFFFC0u)
        return NULL;
    BSTR b = SysAllocStringByteLen((const char *)psz, len * 4u);
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
    if (!b)
        return;
#if PLUG_HEADER > 4
    uint32_t *m = magic_of(b);
    if (*m != LIVE)
        return; /* a double free: ignored (zoo_rt16.h says why) */
    *m = DEAD;
    void *old = ring[ring_next];
    ring[ring_next] = m;
    ring_next = (ring_next + 1) % 16;
    free(old);
#else
    free((char *)b - 4);
#endif
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
    return bytes / 4;
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

/* ---- the plugin's own functions, for the program ---- */

static BSTR volatile kept; /* planted leaks are dropped here */

BSTR plug_make(const OLECHAR *s)
{
    BSTR b = SysAllocString(s);
    AFTER();
    return b;
}

unsigned plug_len(BSTR b)
{
    unsigned n = SysStringLen(b);
    AFTER();
    return n;
}

unsigned plug_bytelen(BSTR b)
{
    unsigned n = SysStringByteLen(b);
    AFTER();
    return n;
}

int plug_realloc(BSTR *pb, const OLECHAR *s)
{
    int ok = SysReAllocString(pb, s);
    AFTER();
    return ok;
}

void plug_free(BSTR b)
{
    SysFreeString(b);
    AFTER();
}

void plug_leak(void)
{
    kept = SysAllocString(L"leaked by plugin");
    AFTER();
}

/* One-line wrappers: tail jumps at -O2. */
BSTR plug_make_tail(const OLECHAR *s)
{
    return SysAllocString(s);
}

unsigned plug_len_tail(BSTR b)
{
    return SysStringLen(b);
}

void plug_free_tail(BSTR b)
{
    SysFreeString(b);
}

#ifdef PLUG_CONSTRUCTOR
/* Case 12's storm library: a runtime whose constructor uses itself, so
 * each dlopen() of it makes a Sys* call with the dynamic linker's lock
 * held, from a module the shim has not seen. */
__attribute__((constructor)) static void plug_constructor(void)
{
    BSTR b = SysAllocString(L"made while loading");
    SysFreeString(b);
}
#endif

/* 1 when B carries this build's live header; -1 when the build has no
 * header to tell by (PLUG_HEADER 4). Reads no Sys* function. */
int plug_owns(BSTR b)
{
#if PLUG_HEADER > 4
    return b && *magic_of(b) == LIVE;
#else
    (void)b;
    return -1;
#endif
}

unsigned plug_header(void)
{
    return PLUG_HEADER;
}
