/* catch_free=1: free() and realloc() are watched for BSTRs released outside
 * the Sys* API. The cost for every other pointer is one hash and one load
 * (two when it is not 16-aligned): a counting filter, kept by the table
 * (bc_table_may_hold), over the addresses a tracked BSTR can be freed by:
 * the BSTR itself and the two block starts a runtime may use, 4 and 8 bytes
 * before it. Only a filter hit takes the slow path through the table.
 *
 * The shim's own frees never come here: internal code calls
 * bc_internal_free() directly. */
#include "bc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* free() runs before anything else is set up: AddressSanitizer's own start
 * calls it (through dlsym) before its shadow memory exists. So the wrapper
 * and what it touches on its fast path are not instrumented; a sanitizer
 * build of the unit tests links these wrappers too. */
#define NO_ASAN __attribute__((no_sanitize("address")))

#if defined(BC_NO_FREE_WRAPPERS)
/* A fuzzing build: the core is linked into a program whose malloc belongs
 * to the sanitizer; free() and realloc() stay theirs, unwatched. */
void bc_internal_free(void *p)
{
    free(p);
}
#else
typedef void (*free_fn_t)(void *);
typedef void *(*realloc_fn_t)(void *, size_t);

static free_fn_t real_free;
static realloc_fn_t real_realloc;
/* volatile: dlsym calls back into free() here, which the compiler cannot see */
static __thread volatile int resolving __attribute__((tls_model("initial-exec")));

/* dlsym may itself free or realloc: while resolving, such calls on this
 * thread are dropped (free) or refused (realloc). */
NO_ASAN static void resolve(void)
{
    resolving++;
    void *f = dlsym(RTLD_NEXT, "free");
    void *r = dlsym(RTLD_NEXT, "realloc");
    memcpy(&real_realloc, &r, sizeof real_realloc);
    memcpy(&real_free, &f, sizeof real_free);
    resolving--;
}

NO_ASAN void bc_internal_free(void *p)
{
    if (BC_UNLIKELY(!real_free)) {
        if (resolving)
            return;
        resolve();
    }
    real_free(p);
}

NO_ASAN BC_EXPORT void free(void *p)
{
    if (!p)
        return;
    if (BC_UNLIKELY(!real_free)) {
        if (resolving)
            return;
        resolve();
    }
    /* inside the shim first: a real runtime freeing a block for the shim
     * costs no filter probe (a likely cache miss) */
    if (BC_LIKELY(bc_depth > 0 || !bc_table_may_hold((uintptr_t)p) || !bc_ready ||
                  !bc_opt.catch_free)) {
        real_free(p);
        return;
    }
    int saved = errno;
    BC_GUARD_ENTER();
    bool ours = bc_track_foreign_free(p, "free");
    BC_GUARD_LEAVE();
    errno = saved;
    if (!ours)
        real_free(p);
}

NO_ASAN BC_EXPORT void *realloc(void *p, size_t size)
{
    if (BC_UNLIKELY(!real_realloc)) {
        if (resolving)
            return NULL;
        resolve();
    }
    if (BC_LIKELY(!p || bc_depth > 0 || !bc_table_may_hold((uintptr_t)p) || !bc_ready ||
                  !bc_opt.catch_free))
        return real_realloc(p, size);
    BC_GUARD_ENTER();
    void *moved = bc_track_foreign_realloc(p, size);
    BC_GUARD_LEAVE();
    return moved == BC_NOT_A_BSTR ? real_realloc(p, size) : moved;
}
#endif /* BC_NO_FREE_WRAPPERS */
