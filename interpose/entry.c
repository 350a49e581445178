/* The ten exported Sys* entry points. Each is the same short path:
 * initialize once, hold the guard, hand over to track.c, and leave errno as
 * the program had it. Argument validation that needs no table lookup is
 * done here, before any locking. */
#include "bc.h"

#include <errno.h>

typedef unsigned int bc_uint_t;

#define ENTER()              \
    int saved_errno_ = errno; \
    bc_ensure_init();        \
    bc_depth++
#define LEAVE()   \
    bc_depth--;   \
    errno = saved_errno_

BC_EXPORT bc_bstr_t SysAllocString(const void *psz)
{
    if (!psz)
        return NULL;
    ENTER();
    uint64_t bytes = (uint64_t)bc_olestr_len(psz) * bc_own_width();
    bc_bstr_t bstr = bc_track_alloc(psz, (size_t)bytes, bytes);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringLen(const void *psz, bc_uint_t len)
{
    ENTER();
    uint64_t bytes = (uint64_t)len * bc_own_width();
    bc_bstr_t bstr = bc_track_alloc(psz, psz ? (size_t)bytes : 0, bytes);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringByteLen(const char *psz, bc_uint_t len)
{
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(psz, psz ? len : 0, len);
    LEAVE();
    return bstr;
}

BC_EXPORT int SysReAllocString(bc_bstr_t *pbstr, const void *psz)
{
    ENTER();
    uint64_t chars = psz ? bc_olestr_len(psz) : 0;
    int ok = bc_track_realloc(pbstr, psz, chars, true);
    LEAVE();
    return ok;
}

BC_EXPORT int SysReAllocStringLen(bc_bstr_t *pbstr, const void *psz, bc_uint_t len)
{
    ENTER();
    int ok = bc_track_realloc(pbstr, psz, len, false);
    LEAVE();
    return ok;
}

BC_EXPORT void SysFreeString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    ENTER();
    bc_track_free(bstr);
    LEAVE();
}

BC_EXPORT bc_uint_t SysStringByteLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    ENTER();
    bc_uint_t len = bc_track_byte_len(bstr, "SysStringByteLen");
    LEAVE();
    return len;
}

BC_EXPORT bc_uint_t SysStringLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    ENTER();
    bc_uint_t len = bc_track_byte_len(bstr, "SysStringLen") / bc_own_width();
    LEAVE();
    return len;
}

BC_EXPORT bc_hresult_t SysAddRefString(bc_bstr_t bstr)
{
    if (!bstr)
        return BC_E_INVALIDARG;
    ENTER();
    bc_hresult_t hr = bc_track_addref(bstr);
    LEAVE();
    return hr;
}

BC_EXPORT void SysReleaseString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    ENTER();
    bc_track_release(bstr);
    LEAVE();
}
