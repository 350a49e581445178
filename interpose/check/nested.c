/* Reentrant calls in own mode: a Sys* call made while this thread is
 * already inside the shim. In own mode that only happens when a signal
 * handler interrupts a Sys* call and calls Sys* itself. The interrupted
 * call may hold a table shard, the depot, the events mutex, libunwind's
 * state or malloc's lock, so a reentrant call must take none of them. It
 * is served untracked-but-correct, with no lock and no malloc:
 *   - allocations come from the side table (side.c: mmap, atomic slots),
 *     counted and reported like any BSTR, without a stack;
 *   - SysFreeString of a side BSTR unmaps it; of any other pointer, the
 *     free is deferred: queued here, and done with the full checks by the
 *     next outermost Sys* call to return, or by the report;
 *   - readers, pins and SysReAlloc* of a BSTR from the table try its
 *     shard for a moment (trylock, bounded): another thread holds a shard
 *     only briefly, but if it is the interrupted call on this very thread
 *     the lock never comes, and the call answers 0 / E_INVALIDARG / FALSE
 *     (counted, and warned about once at exit).
 * A reentrant call reports no finding itself (that needs the events mutex
 * and a stack); a deferred free of a bad pointer is reported when it is
 * done. */
#include "check.h"

#include <sched.h>
#include <string.h>

#define DEFERRED_SLOTS 4096
#define TRYLOCK_ROUNDS 1000

unsigned bc_deferred_pending;
static uintptr_t deferred[DEFERRED_SLOTS];
static unsigned deferred_used; /* slots [0, deferred_used) were ever used */
static uint64_t deferred_dropped, unchecked;

static void defer_free(bc_bstr_t bstr)
{
    for (unsigned i = 0; i < DEFERRED_SLOTS; i++) {
        uintptr_t expected = 0;
        if (__atomic_load_n(&deferred[i], __ATOMIC_RELAXED) != 0 ||
            !__atomic_compare_exchange_n(&deferred[i], &expected, (uintptr_t)bstr, false,
                                         __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            continue;
        unsigned seen = __atomic_load_n(&deferred_used, __ATOMIC_RELAXED);
        while (seen < i + 1 &&
               !__atomic_compare_exchange_n(&deferred_used, &seen, i + 1, true,
                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            ;
        __atomic_fetch_add(&bc_deferred_pending, 1, __ATOMIC_RELEASE);
        return;
    }
    __atomic_fetch_add(&deferred_dropped, 1, __ATOMIC_RELAXED);
}

void bc_deferred_drain(void)
{
    unsigned n = __atomic_load_n(&deferred_used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        if (!__atomic_load_n(&deferred[i], __ATOMIC_RELAXED))
            continue;
        uintptr_t bstr = __atomic_exchange_n(&deferred[i], 0, __ATOMIC_ACQ_REL);
        if (!bstr)
            continue;
        __atomic_fetch_sub(&bc_deferred_pending, 1, __ATOMIC_RELEASE);
        bc_track_free_deferred((bc_bstr_t)bstr);
    }
}

void bc_core_warn_at_exit(void)
{
    uint64_t dropped = __atomic_load_n(&deferred_dropped, __ATOMIC_RELAXED);
    uint64_t not_checked = __atomic_load_n(&unchecked, __ATOMIC_RELAXED);
    if (dropped)
        bc_warn("%llu SysFreeString call(s) in signal handlers were lost (more than %d "
                "waiting at once); those BSTRs show as leaks",
                (unsigned long long)dropped, DEFERRED_SLOTS);
    if (not_checked)
        bc_warn("%llu Sys* call(s) in signal handlers could not look their BSTR up (the "
                "interrupted call held its lock) and answered 0, E_INVALIDARG or FALSE",
                (unsigned long long)not_checked);
}

/* The shard holding BSTR's record, locked (as bc_table_lock_find), or
 * NULL after a bounded wait. */
static bc_shard_t *lock_briefly(uintptr_t bstr, bc_record_t **rec)
{
    for (int round = 0; round < TRYLOCK_ROUNDS; round++) {
        bc_shard_t *shard = bc_table_trylock_find(bstr, rec);
        if (shard)
            return shard;
        sched_yield();
    }
    __atomic_fetch_add(&unchecked, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* The byte length of a live BSTR, from the side table or the main one. */
static bool live_bytes(bc_bstr_t bstr, uint32_t *bytes)
{
    if (bc_side_len(bstr, bytes))
        return true;
    bc_record_t *rec;
    bc_shard_t *shard = lock_briefly((uintptr_t)bstr, &rec);
    if (!shard)
        return false;
    bool live = rec && rec->state == BC_LIVE && BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN;
    if (live)
        *bytes = rec->bytes;
    bc_table_unlock(shard);
    return live;
}

bc_bstr_t bc_nested_alloc(bc_alloc_kind_t kind, const void *psz, unsigned len)
{
    if (kind == BC_ALLOC_SZ && !psz)
        return NULL;
    size_t copy;
    uint64_t bytes = bc_own_request(kind, psz, len, &copy);
    if (bytes >= UINT32_MAX)
        return NULL;
    return bc_side_alloc(psz, copy, (uint32_t)bytes);
}

void bc_nested_free(bc_bstr_t bstr)
{
    if (!bc_side_free(bstr))
        defer_free(bstr);
}

uint32_t bc_nested_len(bc_bstr_t bstr, bool chars)
{
    uint32_t bytes = 0;
    if (!live_bytes(bstr, &bytes))
        bytes = 0;
    return chars ? bytes / bc_own_width() : bytes;
}

bc_hresult_t bc_nested_addref(bc_bstr_t bstr)
{
    bc_hresult_t hr = BC_E_INVALIDARG;
    if (bc_side_addref(bstr, &hr))
        return hr;
    bc_record_t *rec;
    bc_shard_t *shard = lock_briefly((uintptr_t)bstr, &rec);
    if (!shard)
        return hr;
    if (rec && rec->state == BC_LIVE && BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN && rec->pins < UINT16_MAX) {
        rec->pins++;
        hr = BC_S_OK;
    }
    bc_table_unlock(shard);
    return hr;
}

void bc_nested_release(bc_bstr_t bstr)
{
    if (bc_side_release(bstr))
        return;
    bc_record_t *rec;
    bc_shard_t *shard = lock_briefly((uintptr_t)bstr, &rec);
    if (!shard)
        return;
    bool free_now = false;
    if (rec && rec->state == BC_LIVE && BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN && rec->pins > 0 &&
        --rec->pins == 0 && (rec->flags & BC_FLAG_FREE_PENDING)) {
        /* the last pin of a freed BSTR: the free itself waits (it may
         * release memory, which needs malloc) */
        rec->flags &= (uint8_t)~BC_FLAG_FREE_PENDING;
        free_now = true;
    }
    bc_table_unlock(shard);
    if (free_now)
        defer_free(bstr);
}

int bc_nested_realloc(bc_bstr_t *pbstr, const void *src, unsigned len, bool is_sz)
{
    if (!pbstr || bc_addr_impossible(pbstr))
        return 0;
    bc_bstr_t old = *pbstr;
    uint32_t old_bytes = 0;
    if (old && !live_bytes(old, &old_bytes))
        return 0; /* not a live BSTR (or not verifiable now): *pbstr untouched */
    bc_bstr_t fresh = NULL;
    if (!(is_sz && !src)) {
        uint64_t bytes = (is_sz ? bc_olestr_len(src) : len) * (uint64_t)bc_own_width();
        if (bytes >= UINT32_MAX)
            return 0;
        size_t copy = src ? (size_t)bytes : 0;
        uintptr_t s = (uintptr_t)src, o = (uintptr_t)old;
        if (old && s >= o && s <= o + old_bytes && copy > o + old_bytes - s)
            copy = o + old_bytes - s; /* src points into the old string */
        fresh = bc_side_alloc(src, copy, (uint32_t)bytes);
        if (!fresh)
            return 0;
    }
    if (old)
        bc_nested_free(old);
    *pbstr = fresh;
    return 1;
}
