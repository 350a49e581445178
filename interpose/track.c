/* The bookkeeping around the runtime: what each Sys* function records, and
 * which misuse it reports. Entry points call these with the guard held.
 * Every error path reports and returns what a careful runtime would,
 * never reading through a pointer that is not a live or quarantined BSTR. */
#include "bc.h"

#include <stdlib.h>
#include <string.h>

#define NO_STACKS {0, 0, 0, 0}

size_t bc_olestr_len(const void *psz)
{
    size_t n = 0;
    if (bc_own_width() == 2) {
        const uint16_t *p = psz;
        while (p[n])
            n++;
    } else {
        const uint32_t *p = psz;
        while (p[n])
            n++;
    }
    return n;
}

/* ------------------------------------------------------------ reports */

BC_NOINLINE static void report_double_free(const bc_record_t *rec, bc_stack_id_t stack,
                                           const char *fn)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_FREE] = stack;
    stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    bc_event(BC_KIND_DOUBLE_FREE, stacks, NULL, 0, rec->bytes,
             "%s on BSTR %p, which was already freed", fn, (void *)rec->bstr);
}

BC_NOINLINE static void report_use_after_free(const bc_record_t *rec, const char *fn)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    stacks[BC_ROLE_ACCESS] = bc_stack_here();
    bc_event(BC_KIND_USE_AFTER_FREE, stacks, NULL, 0, rec->bytes,
             "%s on BSTR %p, which was already freed", fn, (void *)rec->bstr);
}

typedef struct inside_search {
    uintptr_t ptr;
    bool found;
    bc_record_t rec;
} inside_search_t;

static void match_inside(const bc_record_t *rec, void *arg)
{
    inside_search_t *s = arg;
    uintptr_t lo, hi;
    bc_own_span(rec, &lo, &hi);
    if (!s->found && s->ptr >= lo && s->ptr < hi && rec->state == BC_LIVE) {
        s->rec = *rec;
        s->found = true;
    }
}

/* PTR is not a BSTR. Say so, naming the BSTR it points into if it does
 * (that BSTR stays live). STACK is the call's stack, or 0 to capture. */
BC_NOINLINE static void report_not_a_bstr(bc_kind_t kind, const void *ptr, const char *fn,
                                          bc_stack_id_t stack)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    bc_role_t role = kind == BC_KIND_INVALID_FREE ? BC_ROLE_FREE : BC_ROLE_ACCESS;
    stacks[role] = stack ? stack : bc_stack_here();
    inside_search_t s = {.ptr = (uintptr_t)ptr};
    if (ptr)
        bc_table_search(match_inside, &s);
    if (s.found) {
        stacks[BC_ROLE_ALLOC] = s.rec.alloc_stack;
        long long offset = (long long)((uintptr_t)ptr - s.rec.bstr);
        bc_event(kind, stacks, NULL, 0, 0,
                 "%s on %p, which is not a BSTR: %lld bytes %s the BSTR %p allocated at the "
                 "stack below",
                 fn, ptr, offset < 0 ? -offset : offset, offset < 0 ? "before" : "inside",
                 (void *)s.rec.bstr);
    } else {
        bc_event(kind, stacks, NULL, 0, 0, "%s on %p, which is not a BSTR", fn, ptr);
    }
}

/* Overflow and prefix checks of a live record (shard locked); each is
 * reported once per BSTR. ACCESS is the stack of the call that checks. */
static void check_live(bc_record_t *rec, bc_stack_id_t access, const char *when)
{
    bc_bstr_t bstr = (bc_bstr_t)rec->bstr;
    uint32_t prefix = bc_own_prefix(bstr);
    if (BC_UNLIKELY(prefix != rec->bytes) && !(rec->flags & BC_FLAG_PREFIX_SEEN)) {
        rec->flags |= BC_FLAG_PREFIX_SEEN;
        bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
        stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
        stacks[BC_ROLE_ACCESS] = access;
        bc_event(BC_KIND_PREFIX_CORRUPT, stacks, bstr, rec->bytes, rec->bytes,
                 "length prefix of BSTR %p is %u, but %u bytes were allocated (%s)", bstr,
                 prefix, rec->bytes, when);
    }
    size_t past = bc_own_overflow(bstr, rec->bytes);
    if (BC_UNLIKELY(past) && !(rec->flags & BC_FLAG_OVERFLOW_SEEN)) {
        rec->flags |= BC_FLAG_OVERFLOW_SEEN;
        bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
        stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
        stacks[BC_ROLE_ACCESS] = access;
        bc_event(BC_KIND_OVERFLOW, stacks, bstr, rec->bytes, rec->bytes,
                 "%zu byte(s) past the end of BSTR %p (%u bytes) were written (%s)", past, bstr,
                 rec->bytes, when);
    }
}

/* ------------------------------------------------------ table hooks */

void bc_on_retire(bc_record_t *rec)
{
    bc_own_poison((bc_bstr_t)rec->bstr, rec->bytes);
    rec->flags |= BC_FLAG_POISONED;
}

/* A write into a quarantined body: found when it leaves, or at exit. */
static void check_poison(bc_record_t *rec, const char *when)
{
    size_t first = 0;
    size_t changed = bc_own_poison_damage((bc_bstr_t)rec->bstr, rec->bytes, &first);
    if (!changed)
        return;
    rec->flags &= (uint8_t)~BC_FLAG_POISONED; /* reported once */
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    bc_event(BC_KIND_USE_AFTER_FREE, stacks, NULL, 0, rec->bytes,
             "write after free: %zu byte(s) of the freed BSTR %p changed, the first at "
             "offset %zu (%s)",
             changed, (void *)rec->bstr, first, when);
}

void bc_on_evict(bc_record_t *rec)
{
    if (rec->flags & BC_FLAG_POISONED)
        check_poison(rec, "found when it left the quarantine");
    bc_own_release((bc_bstr_t)rec->bstr, rec->bytes);
}

static void audit_record(bc_record_t *rec, void *arg)
{
    (void)arg;
    if (rec->state == BC_LIVE)
        check_live(rec, 0, "found at exit");
    else if (rec->flags & BC_FLAG_POISONED)
        check_poison(rec, "found at exit");
}

void bc_track_audit_all(void)
{
    bc_table_audit(audit_record, NULL);
}

/* ---------------------------------------------------------- allocation */

/* A new BSTR, recorded. BYTES that do not fit the 32-bit prefix (or equal
 * 0xFFFFFFFF, SysAllocStringByteLen's refusal) give NULL. */
bc_bstr_t bc_track_alloc(const void *src, size_t copy, uint64_t bytes)
{
    if (bytes >= UINT32_MAX)
        return NULL;
    bc_bstr_t bstr = bc_own_alloc(src, copy, (uint32_t)bytes);
    if (!bstr)
        return NULL;
    bc_stack_id_t stack = bc_stack_here();
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bool ok = bc_shard_insert(shard, (uintptr_t)bstr, (uint32_t)bytes, stack);
    bc_table_unlock(shard);
    if (!ok) {
        /* No record, no BSTR: an untracked own-mode BSTR would later look
         * like an invalid free. Out of memory is what the caller sees. */
        bc_own_release(bstr, (uint32_t)bytes);
        return NULL;
    }
    return bstr;
}

/* Free REC (shard locked) after checking it, or only note the request
 * while it is pinned: the last SysReleaseString frees it then. */
static void free_locked(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t stack)
{
    check_live(rec, stack, "found when it was freed");
    if (rec->pins > 0) {
        rec->flags |= BC_FLAG_FREE_PENDING;
        rec->free_stack = stack;
        return;
    }
    bc_shard_retire(shard, rec, stack);
}

void bc_track_free(bc_bstr_t bstr)
{
    bc_stack_id_t stack = bc_stack_here();
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    if (BC_LIKELY(rec && rec->state == BC_LIVE))
        free_locked(shard, rec, stack);
    else if (rec)
        report_double_free(rec, stack, "SysFreeString");
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_FREE, bstr, "SysFreeString", stack);
}

/* How many bytes may be read from SRC when it points into OLD's data (the
 * caller's "psz may point into *pbstr"); SIZE_MAX when it does not. */
static size_t readable_inside(const bc_record_t *old, const void *src)
{
    uintptr_t s = (uintptr_t)src;
    if (!old || s < old->bstr || s > old->bstr + old->bytes)
        return SIZE_MAX;
    return old->bstr + old->bytes - s;
}

int bc_track_realloc(bc_bstr_t *pbstr, const void *src, uint64_t chars, bool src_is_sz)
{
    const char *fn = src_is_sz ? "SysReAllocString" : "SysReAllocStringLen";
    if (!pbstr) {
        report_not_a_bstr(BC_KIND_INVALID_BSTR, NULL, fn, 0);
        return 0;
    }
    bc_bstr_t old = *pbstr;
    uint64_t bytes = chars * bc_own_width();
    bool result_is_null = src_is_sz && !src; /* SysReAllocString(&b, NULL) */
    bc_stack_id_t stack = bc_stack_here();

    bc_shard_t *shard = NULL;
    bc_record_t *rec = NULL;
    if (old) {
        shard = bc_table_lock((uintptr_t)old);
        rec = bc_shard_find(shard, (uintptr_t)old);
        if (!rec || rec->state != BC_LIVE) {
            if (rec)
                report_double_free(rec, stack, fn);
            bc_table_unlock(shard);
            if (!rec)
                report_not_a_bstr(BC_KIND_INVALID_BSTR, old, fn, stack);
            return 0;
        }
    }

    /* Copy before the old string is freed: src may point into it. */
    bc_bstr_t fresh = NULL;
    if (!result_is_null) {
        size_t copy = src ? (size_t)(bytes < SIZE_MAX ? bytes : SIZE_MAX) : 0;
        size_t inside = readable_inside(rec, src);
        if (copy > inside)
            copy = inside;
        if (bytes >= UINT32_MAX || !(fresh = bc_own_alloc(src, copy, (uint32_t)bytes))) {
            if (shard)
                bc_table_unlock(shard);
            return 0; /* *pbstr untouched */
        }
    }
    if (rec)
        free_locked(shard, rec, stack);
    if (shard)
        bc_table_unlock(shard);

    if (fresh) {
        bc_shard_t *fresh_shard = bc_table_lock((uintptr_t)fresh);
        bool ok = bc_shard_insert(fresh_shard, (uintptr_t)fresh, (uint32_t)bytes, stack);
        bc_table_unlock(fresh_shard);
        if (!ok) {
            bc_own_release(fresh, (uint32_t)bytes);
            fresh = NULL;
        }
    }
    *pbstr = fresh;
    return 1;
}

/* ------------------------------------------------------------- readers */

uint32_t bc_track_byte_len(bc_bstr_t bstr, const char *fn)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    uint32_t len = 0;
    if (BC_LIKELY(rec && rec->state == BC_LIVE)) {
        len = rec->bytes;
        if (BC_UNLIKELY(bc_own_prefix(bstr) != len) && !(rec->flags & BC_FLAG_PREFIX_SEEN))
            check_live(rec, bc_stack_here(), fn);
    } else if (rec) {
        report_use_after_free(rec, fn);
        len = rec->bytes; /* the freed memory is not read */
    }
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, fn, 0);
    return len;
}

bc_hresult_t bc_track_addref(bc_bstr_t bstr)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    bc_hresult_t hr = BC_E_INVALIDARG;
    if (rec && rec->state == BC_LIVE && rec->pins < UINT16_MAX) {
        rec->pins++;
        hr = BC_S_OK;
    } else if (rec && rec->state != BC_LIVE) {
        report_use_after_free(rec, "SysAddRefString");
    }
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysAddRefString", 0);
    return hr;
}

void bc_track_release(bc_bstr_t bstr)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    if (rec && rec->state == BC_LIVE) {
        if (rec->pins == 0) {
            bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
            stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
            stacks[BC_ROLE_ACCESS] = bc_stack_here();
            bc_event(BC_KIND_INVALID_BSTR, stacks, bstr, rec->bytes, 0,
                     "SysReleaseString on BSTR %p without a matching SysAddRefString", bstr);
        } else if (--rec->pins == 0 && (rec->flags & BC_FLAG_FREE_PENDING)) {
            rec->flags &= (uint8_t)~BC_FLAG_FREE_PENDING;
            bc_shard_retire(shard, rec, rec->free_stack);
        }
    } else if (rec) {
        report_use_after_free(rec, "SysReleaseString");
    }
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysReleaseString", 0);
}

/* ------------------------------------------------- free() and realloc() */

typedef struct foreign_hit {
    bc_shard_t *shard;
    bc_record_t *rec;
} foreign_hit_t;

/* The record P frees, if P is a BSTR or one of the block starts a runtime
 * may use (4 or 8 bytes before it). The shard is left locked on a hit. */
static foreign_hit_t find_foreign(void *p)
{
    static const uintptr_t offsets[] = {0, 8, 4};
    for (size_t i = 0; i < BC_ARRAY_LEN(offsets); i++) {
        uintptr_t bstr = (uintptr_t)p + offsets[i];
        bc_shard_t *shard = bc_table_lock(bstr);
        bc_record_t *rec = bc_shard_find(shard, bstr);
        if (rec)
            return (foreign_hit_t){shard, rec};
        bc_table_unlock(shard);
    }
    return (foreign_hit_t){NULL, NULL};
}

/* Report free()/realloc() of a BSTR and release it as SysFreeString would
 * have (shard locked). */
static void mismatched_locked(foreign_hit_t hit, void *p, const char *fn, bc_stack_id_t stack)
{
    bc_record_t *rec = hit.rec;
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_FREE] = stack;
    bool freed = rec->state != BC_LIVE;
    if (freed)
        stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    bc_event(BC_KIND_MISMATCHED_FREE, stacks, freed ? NULL : (bc_bstr_t)rec->bstr, rec->bytes,
             rec->bytes, "%s(%p) on %s BSTR %p: BSTRs are released with SysFreeString", fn, p,
             freed ? "the already freed" : "the", (void *)rec->bstr);
    if (!freed) {
        rec->pins = 0; /* free() ignores pins: the memory is gone for the program */
        bc_shard_retire(hit.shard, rec, stack);
    }
}

bool bc_track_foreign_free(void *p, const char *fn)
{
    foreign_hit_t hit = find_foreign(p);
    if (!hit.rec)
        return false;
    bc_stack_id_t stack = bc_stack_here();
    mismatched_locked(hit, p, fn, stack);
    bc_table_unlock(hit.shard);
    return true;
}

void *bc_track_foreign_realloc(void *p, size_t size)
{
    foreign_hit_t hit = find_foreign(p);
    if (!hit.rec)
        return BC_NOT_A_BSTR;
    /* The program gets what realloc promises: a new block holding the old
     * bytes. The BSTR goes to the quarantine like any freed one. */
    uintptr_t lo, hi;
    bc_own_span(hit.rec, &lo, &hi);
    void *moved = size ? malloc(size) : NULL;
    if (moved && hit.rec->state == BC_LIVE) {
        size_t have = hi - (uintptr_t)p;
        if (bc_opt.guard_pages)
            have = hit.rec->bstr + bc_guard_data_room(hit.rec->bytes) - (uintptr_t)p;
        memcpy(moved, p, have < size ? have : size);
    }
    mismatched_locked(hit, p, "realloc", bc_stack_here());
    bc_table_unlock(hit.shard);
    return moved;
}
