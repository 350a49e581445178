/* Case 1, the tail-call runtime. Built with gcc -O2 -fPIC and default
 * visibility, three of its functions end in a jump through the PLT:
 *   SysAllocString    jmp SysAllocStringLen@plt
 *   SysReAllocString  jmp SysReAllocStringLen@plt
 *   SysReleaseString  jmp SysFreeString@plt
 * (zoo.py checks that with objdump before it runs the case). Under the
 * shim the jump lands in the shim again with the return address of the
 * shim's own call into this runtime, not this runtime's: the shim used to
 * spin there (100% CPU, no exit). 16-bit OLECHAR, 8-byte header (zoo_rt16.h). */
#include "zoo_rt16.h"

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    return zoo_make(psz, len);
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x3FFFFFF0u)
        return NULL;
    return zoo_make(psz, len * 2u);
}

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    return SysAllocStringLen(psz, (unsigned)zoo_units(psz));
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
    return SysReAllocStringLen(pb, psz, psz ? (unsigned)zoo_units(psz) : 0);
}

HRESULT SysAddRefString(BSTR b)
{
    return zoo_pin(b);
}

void SysReleaseString(BSTR b)
{
    if (!b || !zoo_unpin(b))
        return;
    SysFreeString(b);
}

/* Not a Sys* function: whether B carries this runtime's live header. */
int ZooOwns(BSTR b)
{
    return b && zoo_hdr(b)->state == ZOO_LIVE;
}
