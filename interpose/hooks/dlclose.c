/* The dlopen() and dlclose() wrappers.
 *
 * dlopen: a module loaded at run time may bring a BSTR runtime of its own
 * (runtimes.c). While the real dlopen runs, its constructors' calls are
 * told apart by return address; when it returns, the new modules are
 * looked at before the program can call into them. The real dlopen is
 * asked as if the program had called it (its RUNPATH, not the shim's).
 *
 * dlclose: a module's symbols and line tables leave with it, but the
 * stacks stored in the depot still point into it, and the report reads
 * them only at exit. So before the real dlclose, a note of the module is
 * taken (path, load bias, build-id: no file is read, nothing is
 * symbolized) and a runtime living there releases what waits in the
 * quarantine; after it, if the module is really gone, the stored
 * addresses in it are tied to the note (the report reads its file then),
 * and its runtime's live BSTRs become orphans. The wrappers' own path is
 * a load, a few tests and the call; the work is skipped inside the shim's
 * own calls (libdw may dlclose). */
#include "hooks.h"
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool resolved(void)
{
    /* (dlopen is published before dlclose: state one, the other is there) */
    if (BC_LIKELY(__atomic_load_n(&bc_next.dlclose, __ATOMIC_ACQUIRE)))
        return bc_next.dlopen != NULL;
    bc_next_resolve();
    if (bc_next.dlopen && bc_next.dlclose)
        return true;
    static int warned;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        bc_warn("cannot find the real dlopen/dlclose; they fail");
    return false;
}

static void *dlopen_as_caller(const char *file, int mode, uintptr_t caller)
{
    return bc_platform_dlopen_for(bc_next.dlopen, bc_next.dlclose, file, mode, caller);
}

static void loading_done(int *token)
{
    if (*token)
        bc_runtimes_loading(-1);
}

BC_EXPORT void *dlopen(const char *file, int mode)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    if (BC_UNLIKELY(!resolved()))
        return NULL;
    if (!bc_ready || bc_finished || bc_depth > 0 || bc_opt.mode == BC_MODE_OWN) {
        void *handle = dlopen_as_caller(file, mode, caller);
        if (handle && bc_ready) {
            int errno_was = errno;
            bc_catch_free_rescan();
            errno = errno_was;
        }
        return handle;
    }
    int errno_was = errno;
    /* a throwing constructor must not leave the count raised */
    int token __attribute__((cleanup(loading_done))) = 1;
    (void)token;
    bc_runtimes_loading(1);
    errno = errno_was;
    void *handle = dlopen_as_caller(file, mode, caller);
    errno_was = errno;
    if (handle) {
        bc_runtimes_scan(BC_SCAN_SETTLE | (bc_platform_mode_global(mode) ? BC_SCAN_GLOBAL : 0));
        bc_catch_free_rescan();
    } else {
        bc_track_modules_pruned(); /* (the program's dlerror() is the real dlopen's) */
    }
    errno = errno_was;
    return handle;
}

BC_NOINLINE static int close_watched(void *handle, int caller_errno)
{
    uintptr_t lo, hi;
    bc_depth++;
    bool known = bc_platform_handle_extent(handle, &lo, &hi);
    bc_module_note_t *note = NULL;
    uint32_t stacks = 0;
    if (known) {
        note = bc_symbolize_note_module(lo, hi);
        stacks = bc_depot_count(); /* stacks stored later are not in it */
        bc_track_module_closing(lo, hi); /* while its code is still there */
        bc_stack_cache_invalidate(); /* cached stacks may end in its code */
    }
    errno = caller_errno;
    int result = bc_next.dlclose(handle);
    int errno_was = errno;
    bc_module_t now;
    /* still there (other references, RTLD_NODELETE) or gone */
    if (known && result == 0 && !(bc_platform_module_of(lo, &now) && now.lo == lo)) {
        bc_symbolize_module_gone(note, stacks);
        note = NULL;
        bc_track_module_closed(lo, hi);
    }
    free(note);
    errno = errno_was;
    bc_depth--;
    return result;
}

BC_EXPORT int dlclose(void *handle)
{
    int saved_errno = errno;
    if (BC_UNLIKELY(!resolved()))
        return -1;
    /* glibc declares the handle nonnull; a caller may still pass NULL, which
     * only the real dlclose should judge. */
    uintptr_t raw;
    memcpy(&raw, &handle, sizeof raw);
    errno = saved_errno;
    if (bc_ready && !bc_finished && bc_depth == 0 && raw != 0)
        return close_watched(handle, saved_errno);
    return bc_next.dlclose(handle);
}
