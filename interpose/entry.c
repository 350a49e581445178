/* The ten exported Sys* entry points. Each is the same short path:
 * initialize once, hold the guard, find the caller's runtime, hand over to
 * track.c, and leave errno as the program had it. On the way out, the
 * outermost call does the frees that signal handlers deferred (nested.c):
 * one load when there are none. */
#include "bc.h"

#include <errno.h>

typedef unsigned int bc_uint_t;

#define ENTER()                                                            \
    int saved_errno_ = errno;                                              \
    bc_ensure_init();                                                      \
    BC_GUARD_ENTER();                                                      \
    int rt_ = bc_runtime_for_caller((uintptr_t)__builtin_return_address(0))
#define LEAVE()                 \
    bc_deferred_maybe_drain();  \
    BC_GUARD_LEAVE();           \
    errno = saved_errno_

BC_EXPORT bc_bstr_t SysAllocString(const void *psz)
{
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_SZ, psz, 0);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringLen(const void *psz, bc_uint_t len)
{
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_LEN, psz, len);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringByteLen(const char *psz, bc_uint_t len)
{
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_BYTE_LEN, psz, len);
    LEAVE();
    return bstr;
}

BC_EXPORT int SysReAllocString(bc_bstr_t *pbstr, const void *psz)
{
    ENTER();
    int ok = bc_track_realloc(rt_, pbstr, psz, 0, true);
    LEAVE();
    return ok;
}

BC_EXPORT int SysReAllocStringLen(bc_bstr_t *pbstr, const void *psz, bc_uint_t len)
{
    ENTER();
    int ok = bc_track_realloc(rt_, pbstr, psz, len, false);
    LEAVE();
    return ok;
}

BC_EXPORT void SysFreeString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    ENTER();
    bc_track_free(rt_, bstr);
    LEAVE();
}

BC_EXPORT bc_uint_t SysStringByteLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    ENTER();
    bc_uint_t len = bc_track_len(rt_, bstr, false);
    LEAVE();
    return len;
}

BC_EXPORT bc_uint_t SysStringLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    ENTER();
    bc_uint_t len = bc_track_len(rt_, bstr, true);
    LEAVE();
    return len;
}

BC_EXPORT bc_hresult_t SysAddRefString(bc_bstr_t bstr)
{
    if (!bstr)
        return BC_E_INVALIDARG;
    ENTER();
    bc_hresult_t hr = bc_track_addref(rt_, bstr);
    LEAVE();
    return hr;
}

BC_EXPORT void SysReleaseString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    ENTER();
    bc_track_release(rt_, bstr);
    LEAVE();
}
