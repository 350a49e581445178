// Case 6, a C++ runtime (extern "C" functions, 16-bit OLECHAR, 8-byte
// header from zoo_rt16.h) that throws std::bad_alloc from
// SysAllocStringLen and from SysReAllocStringLen when asked for the length
// ZOO_THROW_LEN, the way a runtime built on operator new fails. The
// exception crosses the shim on its way to the program, which catches it
// and goes on. (ZOO_THROW_LEN is 0x80000001 characters: too long for the
// 32-bit prefix, so the contract has mode own return NULL / FALSE there.)
#include <new>

#include "zoo_rt16.h"

#define ZOO_THROW_LEN 0x80000001u

extern "C" {

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    return zoo_make(psz, len);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len == ZOO_THROW_LEN)
        throw std::bad_alloc();
    if (len >= 0x3FFFFFF0u)
        return nullptr;
    return zoo_make(psz, len * 2u);
}

static unsigned long calls;

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return nullptr;
    BSTR b = SysAllocStringLen(psz, static_cast<unsigned>(zoo_units(psz)));
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return b;
}

void SysFreeString(BSTR b)
{
    if (b && zoo_kill(b))
        zoo_bury(zoo_hdr(b));
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
    if (len == ZOO_THROW_LEN)
        throw std::bad_alloc();
    if (!pb)
        return 0;
    BSTR fresh = SysAllocStringLen(psz, len);
    if (!fresh)
        return 0;
    SysFreeString(*pb);
    *pb = fresh;
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return 1;
}

int SysReAllocString(BSTR *pb, const OLECHAR *psz)
{
    int ok = SysReAllocStringLen(pb, psz, psz ? static_cast<unsigned>(zoo_units(psz)) : 0);
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
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

} // extern "C"
