/* The real functions behind the shim's wrappers (BC_NEXT_FUNCTIONS), and
 * the release of the shim's own memory. dlsym(RTLD_NEXT) for each name of
 * the list, in one place. AddressSanitizer's start calls free() (through
 * dlsym) before its shadow memory exists: what free()'s wrapper reaches
 * here is not instrumented. */
#include "platform.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_ASAN __attribute__((no_sanitize("address")))

bc_next_t bc_next;
/* volatile: dlsym calls back into free() here, which the compiler cannot see */
static __thread volatile int resolving BC_TLS;
__thread volatile int bc_freeing_own BC_TLS;
static void (*own_free)(void *);

NO_ASAN bool bc_next_resolving(void)
{
    return resolving;
}

NO_ASAN const bc_next_t *bc_next_resolve(void)
{
    int saved = errno;
    resolving++;
    bc_next_t found;
#define RESOLVE(name, ret, args)                 \
    {                                            \
        void *sym = dlsym(RTLD_NEXT, #name);     \
        memcpy(&found.name, &sym, sizeof sym);   \
    }
    BC_NEXT_FUNCTIONS(RESOLVE)
#undef RESOLVE
    resolving--;
#define PUBLISH(name, ret, args) __atomic_store_n(&bc_next.name, found.name, __ATOMIC_RELEASE);
    BC_NEXT_FUNCTIONS(PUBLISH)
#undef PUBLISH
    errno = saved;
    return &bc_next;
}

NO_ASAN void *bc_platform_global_symbol(const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (!sym)
        (void)dlerror(); /* the program's next dlerror() is about its own calls */
    return sym;
}

NO_ASAN void bc_platform_set_own_free(void (*fn)(void *))
{
    __atomic_store_n(&own_free, fn, __ATOMIC_RELEASE);
}

NO_ASAN void bc_platform_offer_own_free(void (*fn)(void *))
{
    void (*unset)(void *) = NULL;
    __atomic_compare_exchange_n(&own_free, &unset, fn, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
}

/* Before hooks/catch_free.c has chosen (a Sys* call from another library's
 * constructor): the global free, unless that is the shim's own wrapper,
 * then the next one. */
NO_ASAN static void (*choose_own_free(void))(void *)
{
#if defined(BC_NO_FREE_WRAPPERS)
    return free; /* a fuzzing build: free() is the sanitizer's, unwrapped */
#else
    resolving++;
    void *global = dlsym(RTLD_DEFAULT, "free");
    Dl_info in_global, in_shim;
    bool shims = global && dladdr(global, &in_global) &&
                 dladdr((void *)(uintptr_t)bc_internal_free, &in_shim) &&
                 in_global.dli_fbase == in_shim.dli_fbase;
    resolving--;
    if (global && !shims) {
        void (*fn)(void *);
        memcpy(&fn, &global, sizeof fn);
        return fn;
    }
    return __atomic_load_n(&bc_next.free, __ATOMIC_ACQUIRE) ? bc_next.free : bc_next_resolve()->free;
#endif
}

NO_ASAN void bc_internal_free(void *p)
{
    void (*fn)(void *) = __atomic_load_n(&own_free, __ATOMIC_ACQUIRE);
    if (BC_UNLIKELY(!fn)) {
        if (resolving)
            return;
        if (!(fn = choose_own_free()))
            return;
        bc_platform_offer_own_free(fn);
        fn = __atomic_load_n(&own_free, __ATOMIC_ACQUIRE);
    }
    bc_freeing_own++;
    fn(p);
    bc_freeing_own--;
}
