/* The Sys* entry points. Each is the same short path: initialize once,
 * hold the guard, know the runtime, hand over to track.c, and leave errno
 * as the program had it. On the way out, the outermost call does the frees
 * that signal handlers deferred (nested.c): one load when there are none.
 *
 * Two sets of the ten functions share one body each:
 *   - the exported ones, reached through the global scope: the runtime is
 *     the global one (runtimes.c), unless a module is loading;
 *   - per runtime index, unexported ones that a module with a runtime of
 *     its own gets its PLT slots pointed at (runtimes.c): the runtime is
 *     known without looking at a return address, tail calls included.
 *
 * A call made while the shim is calling into a real runtime is that
 * runtime's own (its SysStringLen calling its SysStringByteLen through its
 * PLT, or tail-calling it): it is passed straight through first thing, no
 * guard, no errno, no bookkeeping, just as without the shim. A nested call
 * the shim itself serves (a signal handler's, in mode own) goes the common
 * way, and nested.c serves it.
 *
 * The guard is a cleanup scope: a C++ exception thrown by a real runtime
 * through the shim restores the depth, the frame, errno and the runtime
 * being called on its way (the
 * core is built with -fexceptions, and no shim lock is held across a call
 * into a runtime). */
#include "hooks.h"

#include <errno.h>

typedef unsigned int bc_uint_t;

/* errno's address, once per thread: the same for the thread's life, and
 * asking for it costs a call through the PLT. */
static __thread int *errno_at BC_TLS;

static inline int *my_errno(void)
{
    int *at = errno_at;
    if (BC_UNLIKELY(!at))
        errno_at = at = &errno;
    return at;
}

/* What the outermost call restores on its way out, normally or not. */
typedef struct entry_scope {
    int *errno_at;
    int saved_errno;
    int forwarding_rt; /* forward.c sets it around each call into a runtime */
} entry_scope_t;

static inline void leave_entry(entry_scope_t *scope)
{
    bc_forwarding_rt = scope->forwarding_rt;
    /* frees that signal handlers deferred (nested.c): one load when none */
    if (BC_UNLIKELY(__atomic_load_n(&bc_deferred_pending, __ATOMIC_RELAXED)) && bc_depth == 1)
        bc_deferred_drain();
    BC_GUARD_LEAVE();
    *scope->errno_at = scope->saved_errno;
}

/* FIXED: the entry point's runtime index, or -1 for the exported ones. */
#define ANY_RUNTIME (-1)
#define CALLER ((uintptr_t)__builtin_return_address(0))

/* A call made while this thread is inside the shim: a runtime's own call
 * (see above) goes straight to it; so does a signal handler's call that
 * interrupted the shim elsewhere, to the global runtime, taking no lock.
 * Only where the shim itself is the runtime does nested.c serve it. */
static inline int nested_runtime(int fixed)
{
    if (fixed != ANY_RUNTIME)
        return fixed;
    return bc_forwarding_rt ? bc_forwarding_rt
                            : __atomic_load_n(&bc_default_runtime, __ATOMIC_RELAXED);
}
static void unpass(const int *passing)
{
    (void)passing;
    bc_passing--;
}
/* (bc_passing: a handler's call may run while the code it interrupted
 * holds a shim lock; that is not the shim calling out under its lock.) */
#define PASS_THROUGH(fixed, statement)                                       \
    do {                                                                     \
        if (BC_UNLIKELY(bc_depth > 0)) {                                     \
            int rt = nested_runtime(fixed);                                  \
            if (rt != BC_RUNTIME_OWN) {                                      \
                int passing_ __attribute__((cleanup(unpass))) = ++bc_passing; \
                (void)passing_;                                              \
                statement;                                                   \
            }                                                                \
        }                                                                    \
    } while (0)
#define ENTER(fixed)                                                               \
    entry_scope_t scope_ __attribute__((cleanup(leave_entry)));                    \
    scope_.errno_at = my_errno();                                                  \
    scope_.saved_errno = *scope_.errno_at;                                         \
    scope_.forwarding_rt = bc_forwarding_rt;                                       \
    bc_ensure_init();                                                              \
    BC_GUARD_ENTER();                                                              \
    int rt_ = (fixed) != ANY_RUNTIME ? (fixed) : bc_runtime_for_entry(CALLER)

/* Past the guard: the bookkeeping (track.c), or, when this thread was
 * already inside the shim in own mode (a signal handler that interrupted a
 * Sys* call), the lock-free, malloc-free nested path (nested.c). */
#define DISPATCH(nested_call, tracked_call)                                     \
    (BC_UNLIKELY(rt_ == BC_RUNTIME_OWN && bc_depth > 1) ? (nested_call) : (tracked_call))

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE bc_bstr_t alloc_entry(int fixed, bc_alloc_kind_t kind, const void *psz,
                                    bc_uint_t len)
{
    PASS_THROUGH(fixed, return bc_forward_alloc(rt, kind, psz, len));
    ENTER(fixed);
    return DISPATCH(bc_nested_alloc(kind, psz, len), bc_track_alloc(rt_, kind, psz, len));
}

ALWAYS_INLINE int realloc_entry(int fixed, bc_bstr_t *pbstr, const void *psz, bc_uint_t len,
                                bool is_sz)
{
    PASS_THROUGH(fixed, return bc_forward_realloc(rt, pbstr, psz, len, is_sz));
    ENTER(fixed);
    return DISPATCH(bc_nested_realloc(pbstr, psz, len, is_sz),
                    bc_track_realloc(rt_, pbstr, psz, len, is_sz));
}

ALWAYS_INLINE void free_entry(int fixed, bc_bstr_t bstr)
{
    if (!bstr)
        return;
    PASS_THROUGH(fixed, { bc_forward_free(rt, bstr); return; });
    ENTER(fixed);
    DISPATCH(bc_nested_free(bstr), bc_track_free(rt_, bstr));
}

ALWAYS_INLINE bc_uint_t len_entry(int fixed, bc_bstr_t bstr, bool chars)
{
    if (!bstr)
        return 0;
    PASS_THROUGH(fixed, return chars ? bc_forward_len(rt, bstr) : bc_forward_byte_len(rt, bstr));
    ENTER(fixed);
    return DISPATCH(bc_nested_len(bstr, chars), bc_track_len(rt_, bstr, chars));
}

ALWAYS_INLINE bc_hresult_t addref_entry(int fixed, bc_bstr_t bstr)
{
    if (!bstr)
        return BC_E_INVALIDARG;
    PASS_THROUGH(fixed, return bc_forward_addref(rt, bstr));
    ENTER(fixed);
    return DISPATCH(bc_nested_addref(bstr), bc_track_addref(rt_, bstr));
}

ALWAYS_INLINE void release_entry(int fixed, bc_bstr_t bstr)
{
    if (!bstr)
        return;
    PASS_THROUGH(fixed, { bc_forward_release(rt, bstr); return; });
    ENTER(fixed);
    DISPATCH(bc_nested_release(bstr), bc_track_release(rt_, bstr));
}

/* The ten functions for runtime index FIXED, with NAME_ as their prefix.
 * (Each is its own frame: the capture cuts it as the shim's.) */
#define ENTRY_POINTS(prefix, fixed, linkage)                                                   \
    linkage bc_bstr_t prefix##SysAllocString(const void *psz)                                  \
    {                                                                                          \
        return alloc_entry(fixed, BC_ALLOC_SZ, psz, 0);                                        \
    }                                                                                          \
    linkage bc_bstr_t prefix##SysAllocStringLen(const void *psz, bc_uint_t len)                \
    {                                                                                          \
        return alloc_entry(fixed, BC_ALLOC_LEN, psz, len);                                     \
    }                                                                                          \
    linkage bc_bstr_t prefix##SysAllocStringByteLen(const char *psz, bc_uint_t len)            \
    {                                                                                          \
        return alloc_entry(fixed, BC_ALLOC_BYTE_LEN, psz, len);                                \
    }                                                                                          \
    linkage int prefix##SysReAllocString(bc_bstr_t *pbstr, const void *psz)                    \
    {                                                                                          \
        return realloc_entry(fixed, pbstr, psz, 0, true);                                      \
    }                                                                                          \
    linkage int prefix##SysReAllocStringLen(bc_bstr_t *pbstr, const void *psz, bc_uint_t len)  \
    {                                                                                          \
        return realloc_entry(fixed, pbstr, psz, len, false);                                   \
    }                                                                                          \
    linkage void prefix##SysFreeString(bc_bstr_t bstr)                                         \
    {                                                                                          \
        free_entry(fixed, bstr);                                                               \
    }                                                                                          \
    linkage bc_uint_t prefix##SysStringByteLen(bc_bstr_t bstr)                                 \
    {                                                                                          \
        return len_entry(fixed, bstr, false);                                                  \
    }                                                                                          \
    linkage bc_uint_t prefix##SysStringLen(bc_bstr_t bstr)                                     \
    {                                                                                          \
        return len_entry(fixed, bstr, true);                                                   \
    }                                                                                          \
    linkage bc_hresult_t prefix##SysAddRefString(bc_bstr_t bstr)                               \
    {                                                                                          \
        return addref_entry(fixed, bstr);                                                      \
    }                                                                                          \
    linkage void prefix##SysReleaseString(bc_bstr_t bstr)                                      \
    {                                                                                          \
        release_entry(fixed, bstr);                                                            \
    }

ENTRY_POINTS(, ANY_RUNTIME, BC_EXPORT)

#define RUNTIME_ENTRY_POINTS(k) ENTRY_POINTS(rt##k##_, k, static BC_NOINLINE)
RUNTIME_ENTRY_POINTS(1)
RUNTIME_ENTRY_POINTS(2)
RUNTIME_ENTRY_POINTS(3)
RUNTIME_ENTRY_POINTS(4)
RUNTIME_ENTRY_POINTS(5)
RUNTIME_ENTRY_POINTS(6)
RUNTIME_ENTRY_POINTS(7)
RUNTIME_ENTRY_POINTS(8)
RUNTIME_ENTRY_POINTS(9)
RUNTIME_ENTRY_POINTS(10)
RUNTIME_ENTRY_POINTS(11)
RUNTIME_ENTRY_POINTS(12)
RUNTIME_ENTRY_POINTS(13)
RUNTIME_ENTRY_POINTS(14)

/* In enum order (BC_FN_ALLOC ... BC_FN_RELEASE). */
#define ENTRY_TABLE(p)                                                                 \
    {                                                                                  \
        (void *)p##SysAllocString, (void *)p##SysAllocStringLen,                       \
            (void *)p##SysAllocStringByteLen, (void *)p##SysReAllocString,             \
            (void *)p##SysReAllocStringLen, (void *)p##SysFreeString,                  \
            (void *)p##SysStringLen, (void *)p##SysStringByteLen,                      \
            (void *)p##SysAddRefString, (void *)p##SysReleaseString                    \
    }
_Static_assert(BC_RUNTIME_ORPHAN == 15, "entry points exist for runtime indexes 1 to 14");
__extension__ void *const bc_runtime_entries[BC_MAX_RUNTIMES][BC_FN_COUNT] = {
    {0},
    ENTRY_TABLE(rt1_), ENTRY_TABLE(rt2_), ENTRY_TABLE(rt3_), ENTRY_TABLE(rt4_),
    ENTRY_TABLE(rt5_), ENTRY_TABLE(rt6_), ENTRY_TABLE(rt7_), ENTRY_TABLE(rt8_),
    ENTRY_TABLE(rt9_), ENTRY_TABLE(rt10_), ENTRY_TABLE(rt11_), ENTRY_TABLE(rt12_),
    ENTRY_TABLE(rt13_), ENTRY_TABLE(rt14_), {0},
};
