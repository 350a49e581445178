/* catch_free=1: free() and realloc() are watched for BSTRs released outside
 * the Sys* API. The cost for every other pointer is one hash and one load:
 * a counting filter over the addresses a tracked BSTR can be freed by (the
 * BSTR itself and the two block starts a runtime may use, 4 and 8 bytes
 * before it). Only a filter hit takes the slow path through the table.
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

#define FILTER_BITS 20
static uint8_t filter[1u << FILTER_BITS];

/* Slots are per 16-byte granule: the BSTR and a block start 4 or 8 bytes
 * before it usually share one, so a BSTR costs one or two counters. */
NO_ASAN static size_t filter_slot(uintptr_t p)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - FILTER_BITS));
}

static void filter_adjust(uintptr_t p, int delta)
{
    uint8_t *slot = &filter[filter_slot(p)];
    uint8_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    for (;;) {
        if (old == UINT8_MAX)
            return; /* saturated: stays a "maybe" for good */
        uint8_t next = (uint8_t)(old + delta);
        if (delta < 0 && old == 0)
            return;
        if (__atomic_compare_exchange_n(slot, &old, next, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

/* The granules free() may be handed for BSTR: its own, and the one of the
 * block start 8 bytes before when that differs (4 bytes before lies in
 * one of the two). */
void bc_filter_add(uintptr_t bstr)
{
    filter_adjust(bstr, 1);
    if ((bstr >> 4) != ((bstr - 8) >> 4))
        filter_adjust(bstr - 8, 1);
}

void bc_filter_remove(uintptr_t bstr)
{
    filter_adjust(bstr, -1);
    if ((bstr >> 4) != ((bstr - 8) >> 4))
        filter_adjust(bstr - 8, -1);
}

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

NO_ASAN static bool filter_maybe(uintptr_t p)
{
    return __atomic_load_n(&filter[filter_slot(p)], __ATOMIC_RELAXED) != 0;
}

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
    if (BC_LIKELY(!filter_maybe((uintptr_t)p) || bc_depth > 0 || !bc_ready ||
                  !bc_opt.catch_free)) {
        real_free(p);
        return;
    }
    int saved = errno;
    bc_depth++;
    bool ours = bc_track_foreign_free(p, "free");
    bc_depth--;
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
    if (BC_LIKELY(!p || !filter_maybe((uintptr_t)p) || bc_depth > 0 || !bc_ready ||
                  !bc_opt.catch_free))
        return real_realloc(p, size);
    bc_depth++;
    void *moved = bc_track_foreign_realloc(p, size);
    bc_depth--;
    return moved == BC_NOT_A_BSTR ? real_realloc(p, size) : moved;
}
#endif /* BC_NO_FREE_WRAPPERS */
