// Case 11, a C++ runtime (extern "C" functions, 16-bit OLECHAR, 8-byte
// header from zoo_rt16.h) that uses itself while being loaded and
// unloaded: its ELF constructor makes a BSTR and its ELF destructor frees
// it, and a static object does the same in its constructor and destructor.
// Both calls go through the PLT, so under the shim they are tracked; they
// are freed before the process ends, so they are not leaks. The destructor
// also prints, without a newline: the very last output of the process,
// which must not be lost.
#include <cstdio>

#include "zoo_rt16.h"

extern "C" {

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    return zoo_make(psz, len);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    return len < 0x3FFFFFF0u ? zoo_make(psz, len * 2u) : nullptr;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    return psz ? zoo_make(psz, static_cast<uint32_t>(zoo_units(psz)) * 2u) : nullptr;
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
    return SysReAllocStringLen(pb, psz, psz ? static_cast<unsigned>(zoo_units(psz)) : 0) ? 1 : 0;
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

namespace {

BSTR made_by_constructor;

struct Holder {
    BSTR b;
    Holder() : b(SysAllocString(u"made by a static object")) {}
    ~Holder()
    {
        std::printf("[static object: %u] ", SysStringLen(b));
        SysFreeString(b);
    }
    Holder(const Holder &) = delete;
    Holder &operator=(const Holder &) = delete;
};

Holder holder;

__attribute__((constructor)) void runtime_constructor()
{
    made_by_constructor = SysAllocString(u"made in a constructor");
}

__attribute__((destructor)) void runtime_destructor()
{
    unsigned len = SysStringLen(made_by_constructor);
    SysFreeString(made_by_constructor);
    std::printf("[runtime destructor: %u]", len);
}

} // namespace

extern "C" BSTR RtConstructorString()
{
    return made_by_constructor;
}

extern "C" BSTR RtStaticString()
{
    return holder.b;
}
