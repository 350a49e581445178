/* The bookkeeping around the runtime: what each Sys* function records, and
 * which misuse it reports. Entry points call these with the guard held.
 * Every error path reports and returns what a careful runtime would,
 * never reading through a pointer that is not a live or quarantined BSTR. */
#include "bc.h"

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

/* A new BSTR, recorded. BYTES that do not fit the 32-bit prefix (or equal
 * 0xFFFFFFFF, SysAllocStringByteLen's refusal) give NULL. */
static bc_bstr_t alloc_recorded(const void *src, size_t copy, uint64_t bytes)
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

bc_bstr_t bc_track_alloc(const void *src, size_t copy, uint64_t bytes)
{
    return alloc_recorded(src, copy, bytes);
}

/* Free REC (shard locked), or only note the request while it is pinned:
 * the last SysReleaseString frees it then. */
static void free_locked(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t stack)
{
    if (rec->pins > 0) {
        rec->free_pending = 1;
        rec->free_stack = stack;
        return;
    }
    bc_shard_retire(shard, rec, stack);
}

BC_NOINLINE static void report_double_free(const bc_record_t *rec, bc_stack_id_t stack,
                                           const char *fn)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_FREE] = stack;
    stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    bc_event(BC_KIND_DOUBLE_FREE, stacks, (bc_bstr_t)rec->bstr, rec->bytes, rec->bytes,
             "%s on BSTR %p, which was already freed", fn, (void *)rec->bstr);
}

BC_NOINLINE static void report_not_a_bstr(bc_kind_t kind, const void *ptr, const char *fn)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[kind == BC_KIND_INVALID_FREE ? BC_ROLE_FREE : BC_ROLE_ACCESS] = bc_stack_here();
    bc_event(kind, stacks, NULL, 0, 0, "%s on %p, which is not a BSTR", fn, ptr);
}

BC_NOINLINE static void report_use_after_free(const bc_record_t *rec, const char *fn)
{
    bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
    stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    stacks[BC_ROLE_PREVIOUS_FREE] = rec->free_stack;
    stacks[BC_ROLE_ACCESS] = bc_stack_here();
    bc_event(BC_KIND_USE_AFTER_FREE, stacks, (bc_bstr_t)rec->bstr, rec->bytes, rec->bytes,
             "%s on BSTR %p, which was already freed", fn, (void *)rec->bstr);
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
    if (!rec) {
        bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
        stacks[BC_ROLE_FREE] = stack;
        bc_event(BC_KIND_INVALID_FREE, stacks, NULL, 0, 0,
                 "SysFreeString on %p, which is not a BSTR", (void *)bstr);
    }
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
        report_not_a_bstr(BC_KIND_INVALID_BSTR, NULL, fn);
        return 0;
    }
    bc_bstr_t old = *pbstr;
    size_t width = bc_own_width();
    uint64_t bytes = chars * width;
    bool result_is_null = src_is_sz && !src; /* SysReAllocString(&b, NULL) */

    bc_shard_t *shard = NULL;
    bc_record_t *rec = NULL;
    if (old) {
        shard = bc_table_lock((uintptr_t)old);
        rec = bc_shard_find(shard, (uintptr_t)old);
        if (!rec || rec->state != BC_LIVE) {
            bc_stack_id_t stack = bc_stack_here();
            if (rec)
                report_double_free(rec, stack, fn);
            bc_table_unlock(shard);
            if (!rec)
                report_not_a_bstr(BC_KIND_INVALID_BSTR, old, fn);
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
    bc_stack_id_t stack = bc_stack_here();
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

uint32_t bc_track_byte_len(bc_bstr_t bstr, const char *fn)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    uint32_t len = 0;
    if (BC_LIKELY(rec && rec->state == BC_LIVE)) {
        len = bc_own_prefix(bstr);
    } else if (rec) {
        report_use_after_free(rec, fn);
        len = bc_own_prefix(bstr); /* quarantined memory is still ours */
    }
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, fn);
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
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysAddRefString");
    return hr;
}

void bc_track_release(bc_bstr_t bstr)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)bstr);
    bool unbalanced = false;
    if (rec && rec->state == BC_LIVE) {
        if (rec->pins == 0) {
            unbalanced = true;
        } else if (--rec->pins == 0 && rec->free_pending) {
            bc_shard_retire(shard, rec, rec->free_stack);
        }
    } else if (rec) {
        report_use_after_free(rec, "SysReleaseString");
    }
    if (unbalanced) {
        bc_stack_id_t stacks[BC_ROLE_COUNT] = NO_STACKS;
        stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
        stacks[BC_ROLE_ACCESS] = bc_stack_here();
        bc_event(BC_KIND_INVALID_BSTR, stacks, bstr, rec->bytes, 0,
                 "SysReleaseString on BSTR %p without a matching SysAddRefString",
                 bstr);
    }
    bc_table_unlock(shard);
    if (!rec)
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysReleaseString");
}
