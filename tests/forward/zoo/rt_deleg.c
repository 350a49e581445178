/* Case 2, a delegating runtime: its functions call each other, never in
 * tail position (work follows each call). Built three ways:
 *   libzoo_deleg_plt.so    the calls go through the PLT, so under the shim
 *                          they come back to it as nested calls
 *   libzoo_deleg_bsym.so   linked -Wl,-Bsymbolic: the same calls are bound
 *                          inside the library at link time; the shim only
 *                          sees the program's calls
 *   libzoo_deleg_alias.so  -DZOO_ALIAS: the calls go to hidden internal
 *                          names and the exported names are aliases of them
 * 16-bit OLECHAR, 8-byte header (zoo_rt16.h). */
#include "zoo_rt16.h"

#ifdef ZOO_ALIAS
#define CALL(name) zoo_impl_##name
#define IMPL(name) __attribute__((visibility("hidden"))) zoo_impl_##name
#else
#define CALL(name) name
#define IMPL(name) name
#endif

/* Work after each delegated call, so that none is a tail call. */
static unsigned long calls;
#define AFTER() __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED)

BSTR IMPL(SysAllocStringByteLen)(const char *psz, unsigned len);
BSTR IMPL(SysAllocStringLen)(const OLECHAR *psz, unsigned len);
BSTR IMPL(SysAllocString)(const OLECHAR *psz);
void IMPL(SysFreeString)(BSTR b);
unsigned IMPL(SysStringByteLen)(BSTR b);
unsigned IMPL(SysStringLen)(BSTR b);
int IMPL(SysReAllocStringLen)(BSTR *pb, const OLECHAR *psz, unsigned len);
int IMPL(SysReAllocString)(BSTR *pb, const OLECHAR *psz);
HRESULT IMPL(SysAddRefString)(BSTR b);
void IMPL(SysReleaseString)(BSTR b);
int IMPL(ZooOwns)(BSTR b);

BSTR IMPL(SysAllocStringByteLen)(const char *psz, unsigned len)
{
    return zoo_make(psz, len);
}

BSTR IMPL(SysAllocStringLen)(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x3FFFFFF0u)
        return NULL;
    BSTR b = CALL(SysAllocStringByteLen)((const char *)psz, len * 2u);
    AFTER();
    return b;
}

BSTR IMPL(SysAllocString)(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    BSTR b = CALL(SysAllocStringLen)(psz, (unsigned)zoo_units(psz));
    AFTER();
    return b;
}

void IMPL(SysFreeString)(BSTR b)
{
    if (b && zoo_kill(b))
        zoo_bury(zoo_hdr(b));
}

unsigned IMPL(SysStringByteLen)(BSTR b)
{
    return b ? zoo_hdr(b)->bytes : 0;
}

unsigned IMPL(SysStringLen)(BSTR b)
{
    unsigned bytes = CALL(SysStringByteLen)(b);
    AFTER();
    return bytes / 2;
}

int IMPL(SysReAllocStringLen)(BSTR *pb, const OLECHAR *psz, unsigned len)
{
    if (!pb)
        return 0;
    BSTR fresh = CALL(SysAllocStringLen)(psz, len);
    if (!fresh)
        return 0;
    CALL(SysFreeString)(*pb);
    *pb = fresh;
    AFTER();
    return 1;
}

int IMPL(SysReAllocString)(BSTR *pb, const OLECHAR *psz)
{
    int ok = CALL(SysReAllocStringLen)(pb, psz, psz ? (unsigned)zoo_units(psz) : 0);
    AFTER();
    return ok;
}

HRESULT IMPL(SysAddRefString)(BSTR b)
{
    return zoo_pin(b);
}

void IMPL(SysReleaseString)(BSTR b)
{
    if (!b || !zoo_unpin(b))
        return;
    CALL(SysFreeString)(b);
    AFTER();
}

int IMPL(ZooOwns)(BSTR b)
{
    return b && zoo_hdr(b)->state == ZOO_LIVE;
}

#ifdef ZOO_ALIAS
#define ALIAS(ret, name, args) ret name args __attribute__((alias("zoo_impl_" #name)))
ALIAS(BSTR, SysAllocStringByteLen, (const char *, unsigned));
ALIAS(BSTR, SysAllocStringLen, (const OLECHAR *, unsigned));
ALIAS(BSTR, SysAllocString, (const OLECHAR *));
ALIAS(void, SysFreeString, (BSTR));
ALIAS(unsigned, SysStringByteLen, (BSTR));
ALIAS(unsigned, SysStringLen, (BSTR));
ALIAS(int, SysReAllocStringLen, (BSTR *, const OLECHAR *, unsigned));
ALIAS(int, SysReAllocString, (BSTR *, const OLECHAR *));
ALIAS(HRESULT, SysAddRefString, (BSTR));
ALIAS(void, SysReleaseString, (BSTR));
ALIAS(int, ZooOwns, (BSTR));
#endif
