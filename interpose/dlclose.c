/* The dlclose() wrapper. A module's symbols and line tables leave with it,
 * but the stacks stored in the depot still point into it, and the report
 * reads them only at exit. So before the real dlclose, every stored
 * address that lies in the module is resolved into the symbolize cache
 * (which keeps copies of the strings), and the libdw session, whose view
 * of the loaded modules is about to go stale, is closed. The wrapper's own
 * path is a load, a few tests and the call; the work is a noinline slow
 * path, skipped inside the shim's own calls (libdw may dlclose). */
#include "bc.h"
#include "report.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

typedef int (*dlclose_fn_t)(void *);

static dlclose_fn_t real_dlclose;

BC_NOINLINE static dlclose_fn_t resolve_real_dlclose(void)
{
    void *sym = dlsym(RTLD_NEXT, "dlclose");
    dlclose_fn_t fn;
    memcpy(&fn, &sym, sizeof fn);
    if (!fn)
        bc_warn("cannot find the real dlclose; dlclose fails");
    __atomic_store_n(&real_dlclose, fn, __ATOMIC_RELEASE);
    return fn;
}

BC_NOINLINE static void before_unload(void *handle)
{
    struct link_map *map = NULL;
    uintptr_t lo, hi;
    bc_depth++;
    /* l_ld, the module's dynamic section, lies inside its own segments. */
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_ld &&
        bc_module_range((uintptr_t)map->l_ld, &lo, &hi)) {
        bc_symbolize_range(lo, hi);
        /* A runtime living there must not be called after the unload:
         * release its quarantined BSTRs now and resolve callers afresh. */
        bc_runtimes_closing(lo, hi);
        bc_stack_cache_invalidate(); /* cached stacks may end in its code */
    }
    bc_depth--;
}

BC_EXPORT int dlclose(void *handle)
{
    int saved_errno = errno;
    dlclose_fn_t real = __atomic_load_n(&real_dlclose, __ATOMIC_ACQUIRE);
    if (BC_UNLIKELY(!real) && !(real = resolve_real_dlclose()))
        return -1;
    /* glibc declares the handle nonnull; a caller may still pass NULL, which
     * only the real dlclose should judge. */
    uintptr_t raw;
    memcpy(&raw, &handle, sizeof raw);
    if (bc_ready && !bc_finished && bc_depth == 0 && raw != 0)
        before_unload(handle);
    errno = saved_errno;
    return real(handle);
}
