/* Findings noticed under a shard lock, said after the unlock. Saying one
 * (bc_event) formats and allocates, and capturing its stack runs the
 * unwinder: foreign code, which never runs under a shard lock. So a check
 * under the lock copies what the finding needs (the record, the first
 * characters of a live string) and the caller says it once unlocked. */
#include "check.h"


bc_notice_t *bc_notice(bc_notices_t *notices, bc_say_t what, const bc_record_t *rec,
                       bc_stack_id_t access)
{
    BC_DCHECK(bc_shard_locks_held > 0, "bc_notice outside a shard lock");
    if (notices->count == BC_NOTICES_MAX)
        return NULL; /* cannot happen: no path notices more than it has room for */
    bc_notice_t *n = &notices->item[notices->count++];
    n->what = what;
    n->rec = *rec;
    n->access = access;
    n->fn = NULL;
    n->ptr = NULL;
    n->number = 0;
    n->sample.bytes = 0;
    return n;
}

static void say(bc_notice_t *n)
{
    const bc_record_t *rec = &n->rec;
    void *bstr = (void *)bc_record_bstr(rec);
    bc_stack_id_t access = n->access ? n->access : bc_stack_here();
    bc_stacks_t accessed = {.alloc = rec->alloc_stack, .access = access};
    const bc_sample_t *sample = n->sample.bytes ? &n->sample : NULL;
    switch (n->what) {
    case BC_SAY_PREFIX:
        bc_event(BC_KIND_PREFIX_CORRUPT, accessed, NULL, rec->bytes,
                 "length prefix of BSTR %p is %u, but %u bytes were allocated (%s)", bstr,
                 (unsigned)n->number, rec->bytes, n->fn);
        break;
    case BC_SAY_OVERFLOW:
        bc_event(BC_KIND_OVERFLOW, accessed, sample, rec->bytes,
                 "%zu byte(s) past the end of BSTR %p (%u bytes) were written (%s)",
                 (size_t)n->number, bstr, rec->bytes, n->fn);
        break;
    case BC_SAY_USE_AFTER_FREE:
        accessed.previous_free = rec->free_stack;
        bc_event(BC_KIND_USE_AFTER_FREE, accessed, NULL, rec->bytes,
                 "%s on BSTR %p, which was already freed", n->fn, bstr);
        break;
    case BC_SAY_UNPINNED_RELEASE:
        bc_event(BC_KIND_INVALID_BSTR, accessed, sample, 0,
                 "SysReleaseString on BSTR %p without a matching SysAddRefString", bstr);
        break;
    case BC_SAY_MISMATCHED:
        bc_event(BC_KIND_MISMATCHED_FREE,
                 (bc_stacks_t){.alloc = rec->alloc_stack, .free = access,
                               .previous_free = rec->state != BC_LIVE ? rec->free_stack : 0},
                 sample, rec->bytes,
                 "%s(%p) on %s BSTR %p: BSTRs are released with SysFreeString", n->fn, n->ptr,
                 rec->state != BC_LIVE ? "the already freed" : "the", bstr);
        break;
    }
}

void bc_notices_say(bc_notices_t *notices)
{
    bc_no_lock_held("bc_notices_say");
    for (unsigned i = 0; i < notices->count; i++)
        say(&notices->item[i]);
    notices->count = 0;
}
