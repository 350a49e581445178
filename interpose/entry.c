/* The ten exported Sys* entry points. Each is the same short path:
 * initialize once, hold the guard, find the caller's runtime, hand over to
 * track.c, and leave errno as the program had it. On the way out, the
 * outermost call does the frees that signal handlers deferred (nested.c):
 * one load when there are none.
 *
 * A call made inside the shim's call to a real runtime, from that runtime
 * (its SysStringLen calling its own SysStringByteLen through its PLT), is
 * passed straight through first thing: no guard, no errno, no bookkeeping,
 * just as without the shim. A nested call the shim itself serves (a signal
 * handler's, in mode own) goes the common way, and nested.c serves it. */
#include "bc.h"

#include <errno.h>

typedef unsigned int bc_uint_t;

/* errno's address, once per thread: the same for the thread's life, and
 * asking for it costs a call through the PLT. */
static __thread int *errno_at __attribute__((tls_model("initial-exec")));

static inline int *my_errno(void)
{
    int *at = errno_at;
    if (BC_UNLIKELY(!at))
        errno_at = at = &errno;
    return at;
}

#define CALLER ((uintptr_t)__builtin_return_address(0))
#define PASS_THROUGH(rt, statement)                       \
    do {                                                  \
        if (BC_UNLIKELY(bc_depth > 0)) {                  \
            int rt = bc_runtime_for_caller(CALLER);       \
            if (rt != BC_RUNTIME_OWN)                     \
                statement;                                \
        }                                                 \
    } while (0)
#define ENTER()                            \
    int *errno_at_ = my_errno();           \
    int saved_errno_ = *errno_at_;         \
    bc_ensure_init();                      \
    BC_GUARD_ENTER();                      \
    int rt_ = bc_runtime_for_caller(CALLER)
#define LEAVE()                 \
    bc_deferred_maybe_drain();  \
    BC_GUARD_LEAVE();           \
    *errno_at_ = saved_errno_

BC_EXPORT bc_bstr_t SysAllocString(const void *psz)
{
    PASS_THROUGH(rt, return bc_forward_alloc(rt, BC_ALLOC_SZ, psz, 0));
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_SZ, psz, 0);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringLen(const void *psz, bc_uint_t len)
{
    PASS_THROUGH(rt, return bc_forward_alloc(rt, BC_ALLOC_LEN, psz, len));
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_LEN, psz, len);
    LEAVE();
    return bstr;
}

BC_EXPORT bc_bstr_t SysAllocStringByteLen(const char *psz, bc_uint_t len)
{
    PASS_THROUGH(rt, return bc_forward_alloc(rt, BC_ALLOC_BYTE_LEN, psz, len));
    ENTER();
    bc_bstr_t bstr = bc_track_alloc(rt_, BC_ALLOC_BYTE_LEN, psz, len);
    LEAVE();
    return bstr;
}

BC_EXPORT int SysReAllocString(bc_bstr_t *pbstr, const void *psz)
{
    PASS_THROUGH(rt, return bc_forward_realloc(rt, pbstr, psz, 0, true));
    ENTER();
    int ok = bc_track_realloc(rt_, pbstr, psz, 0, true);
    LEAVE();
    return ok;
}

BC_EXPORT int SysReAllocStringLen(bc_bstr_t *pbstr, const void *psz, bc_uint_t len)
{
    PASS_THROUGH(rt, return bc_forward_realloc(rt, pbstr, psz, len, false));
    ENTER();
    int ok = bc_track_realloc(rt_, pbstr, psz, len, false);
    LEAVE();
    return ok;
}

BC_EXPORT void SysFreeString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    PASS_THROUGH(rt, { bc_forward_free(rt, bstr); return; });
    ENTER();
    bc_track_free(rt_, bstr);
    LEAVE();
}

BC_EXPORT bc_uint_t SysStringByteLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    PASS_THROUGH(rt, return bc_forward_byte_len(rt, bstr));
    ENTER();
    bc_uint_t len = bc_track_len(rt_, bstr, false);
    LEAVE();
    return len;
}

BC_EXPORT bc_uint_t SysStringLen(bc_bstr_t bstr)
{
    if (!bstr)
        return 0;
    PASS_THROUGH(rt, return bc_forward_len(rt, bstr));
    ENTER();
    bc_uint_t len = bc_track_len(rt_, bstr, true);
    LEAVE();
    return len;
}

BC_EXPORT bc_hresult_t SysAddRefString(bc_bstr_t bstr)
{
    if (!bstr)
        return BC_E_INVALIDARG;
    PASS_THROUGH(rt, return bc_forward_addref(rt, bstr));
    ENTER();
    bc_hresult_t hr = bc_track_addref(rt_, bstr);
    LEAVE();
    return hr;
}

BC_EXPORT void SysReleaseString(bc_bstr_t bstr)
{
    if (!bstr)
        return;
    PASS_THROUGH(rt, { bc_forward_release(rt, bstr); return; });
    ENTER();
    bc_track_release(rt_, bstr);
    LEAVE();
}
