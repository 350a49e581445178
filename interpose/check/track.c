/* The bookkeeping around the runtime: what each Sys* function records, and
 * which misuse it reports. Entry points call these with the guard held and
 * the caller's runtime: the shim's own (BC_RUNTIME_OWN) or a real one.
 * A record remembers which runtime made its BSTR; frees and reads go by
 * the record when there is one. Every error path reports and returns what
 * a careful runtime would, never reading through a pointer that is not a
 * live or quarantined BSTR. */
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define IS_OWN(rec) (BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN)

/* Characters read through a psz the program passed: it may be misaligned. */
typedef uint16_t any_u16_t __attribute__((aligned(1)));
typedef uint32_t any_u32_t __attribute__((aligned(1)));

size_t bc_olestr_len(const void *psz)
{
    return bc_olestr_units(psz, bc_own_width());
}

/* ------------------------------------------------------------ reports */

BC_NOINLINE static void report_double_free(const bc_record_t *rec, bc_stack_id_t stack,
                                           const char *fn)
{
    bc_event(BC_KIND_DOUBLE_FREE,
             (bc_stacks_t){.alloc = rec->alloc_stack, .free = stack,
                           .previous_free = rec->free_stack},
             NULL, rec->bytes,
             "%s on BSTR %p, which was already freed", fn, (void *)bc_record_bstr(rec));
}

/* The address range a record's memory covers, for "inside a BSTR". */
static void span_of(const bc_record_t *rec, uintptr_t *lo, uintptr_t *hi)
{
    if (IS_OWN(rec)) {
        bc_own_span((bc_bstr_t)bc_record_bstr(rec), rec->bytes, lo, hi);
    } else {
        *lo = bc_record_bstr(rec);
        *hi = bc_record_bstr(rec) + rec->bytes + 1;
    }
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
    span_of(rec, &lo, &hi);
    if (!s->found && s->ptr >= lo && s->ptr < hi && rec->state == BC_LIVE) {
        s->rec = *rec;
        s->found = true;
    }
}

/* PTR is not a BSTR. Say so, naming the BSTR it points into if it does
 * (that BSTR stays live). STACK is the call's stack (0: none known). */
BC_NOINLINE static void report_not_a_bstr(bc_kind_t kind, const void *ptr, const char *fn,
                                          bc_stack_id_t stack)
{
    bc_stacks_t stacks = {0};
    if (kind == BC_KIND_INVALID_FREE)
        stacks.free = stack;
    else
        stacks.access = stack;
    inside_search_t s = {.ptr = (uintptr_t)ptr};
    if (ptr && !bc_addr_impossible(ptr))
        bc_table_search(match_inside, &s);
    if (s.found) {
        stacks.alloc = s.rec.alloc_stack;
        long long offset = (long long)((uintptr_t)ptr - bc_record_bstr(&s.rec));
        bc_event(kind, stacks, NULL, 0,
                 "%s on %p, which is not a BSTR: %lld bytes %s the BSTR %p allocated at the "
                 "stack below",
                 fn, ptr, offset < 0 ? -offset : offset, offset < 0 ? "before" : "inside",
                 (void *)bc_record_bstr(&s.rec));
    } else {
        bc_event(kind, stacks, NULL, 0, "%s on %p, which is not a BSTR", fn, ptr);
    }
}

/* A damaged prefix (shard locked), noticed once per BSTR. */
static void notice_prefix(bc_notices_t *notices, bc_record_t *rec, uint32_t found,
                          bc_stack_id_t access, const char *when)
{
    rec->flags |= BC_FLAG_PREFIX_SEEN;
    bc_notice_t *n = bc_notice(notices, BC_SAY_PREFIX, rec, access);
    if (n) {
        n->number = found;
        n->fn = when;
    }
}

/* Overflow and prefix checks of a live record (shard locked); each is
 * noticed once per BSTR, and said after the unlock. ACCESS is the stack of
 * the call that checks (0: captured then). The prefix is read where every
 * runtime keeps it, never by calling the runtime under the lock (a record
 * whose runtime answers otherwise has BC_FLAG_PREFIX_SEEN from the start).
 * Canaries exist only in the shim's own blocks; an orphan's memory is not
 * read at all. */
static void check_live(bc_notices_t *notices, bc_record_t *rec, bc_bstr_t bstr,
                       bc_stack_id_t access, const char *when)
{
    int rt = BC_RECORD_RUNTIME(rec);
    if (rt == BC_RUNTIME_ORPHAN)
        return;
    uint32_t prefix = bc_bstr_prefix(bstr);
    if (BC_UNLIKELY(prefix != rec->bytes) && !(rec->flags & BC_FLAG_PREFIX_SEEN))
        notice_prefix(notices, rec, prefix, access, when);
    if (rt != BC_RUNTIME_OWN)
        return;
    size_t past = bc_own_overflow(bstr, rec->bytes);
    if (BC_UNLIKELY(past) && !(rec->flags & BC_FLAG_OVERFLOW_SEEN)) {
        rec->flags |= BC_FLAG_OVERFLOW_SEEN;
        bc_notice_t *n = bc_notice(notices, BC_SAY_OVERFLOW, rec, access);
        if (n) {
            n->number = past;
            n->fn = when;
            bc_sample_copy(&n->sample, rec);
        }
    }
}

/* ------------------------------------------------------ the quarantine */

/* The memory a quarantined record holds back, given to the table at retire
 * (a real runtime's block is counted as its data plus a header). */
static size_t footprint(int runtime, uint32_t bytes)
{
    return runtime == BC_RUNTIME_OWN ? bc_own_footprint(bytes) : (size_t)bytes + 16;
}

/* REC (of runtime RT, at BSTR) enters the quarantine: its body is
 * poisoned (under its lock). */
static void poison(bc_record_t *rec, int rt, bc_bstr_t bstr)
{
    if (rt == BC_RUNTIME_ORPHAN)
        return; /* its runtime (and maybe its memory) is gone */
    if (rt == BC_RUNTIME_OWN)
        bc_own_poison(bstr, rec->bytes);
    else
        memset(bstr, BC_POISON_BYTE, rec->bytes); /* the data only */
    rec->flags |= BC_FLAG_POISONED;
}

/* How many bytes of a quarantined body were written; *FIRST gets the
 * first one's offset. */
static size_t poison_damage(const bc_record_t *rec, size_t *first)
{
    if (!bc_record_readable(rec) || !(rec->flags & BC_FLAG_POISONED))
        return 0;
    bc_bstr_t bstr = (bc_bstr_t)bc_record_bstr(rec);
    return IS_OWN(rec) ? bc_own_poison_damage(bstr, rec->bytes, first)
                       : bc_forward_poison_damage(bstr, rec->bytes, first);
}

/* A write into a quarantined body (a detached copy, or one noticed under
 * the lock): found when it leaves, or at exit. */
static void say_poison(const bc_record_t *rec, size_t changed, size_t first, const char *when)
{
    bc_event(BC_KIND_USE_AFTER_FREE,
             (bc_stacks_t){.alloc = rec->alloc_stack, .previous_free = rec->free_stack}, NULL,
             rec->bytes,
             "write after free: %zu byte(s) of the freed BSTR %p changed, the first at "
             "offset %zu (%s)",
             changed, (void *)bc_record_bstr(rec), first, when);
}

/* Retire REC, the record of BSTR, into the quarantine, poisoned, or into
 * OUT. */
static void retire(bc_shard_t *shard, bc_record_t *rec, bc_bstr_t bstr, bc_stack_id_t stack,
                   bc_evicted_t *out)
{
    int rt = BC_RECORD_RUNTIME(rec);
    if (bc_shard_retire(shard, rec, stack, footprint(rt, rec->bytes), out))
        poison(rec, rt, bstr);
}

static void depth_back(const int *depth)
{
    (void)depth;
    bc_depth--;
}

void bc_release_evicted(const bc_evicted_t *out)
{
    for (unsigned i = 0; i < out->count; i++) {
        const bc_record_t *rec = &out->rec[i]; /* detached: a copy, no lock held */
        bc_bstr_t bstr = (bc_bstr_t)bc_record_bstr(rec);
        bool poisoned = (rec->flags & BC_FLAG_POISONED) != 0;
        size_t first = 0, changed = 0;
        int rt = BC_RECORD_RUNTIME(rec);
        if (rt == BC_RUNTIME_OWN) {
            changed = bc_own_release_checked(bstr, rec->bytes, poisoned, &first);
        } else if (rt != BC_RUNTIME_ORPHAN) {
            /* the real free's own Sys* calls pass through; a throw out of
             * it still gives the depth back */
            int depth __attribute__((cleanup(depth_back))) = ++bc_depth;
            (void)depth;
            changed = bc_forward_release_checked(rt, bstr, rec->bytes, poisoned, &first);
        }
        if (changed) /* (the record is a copy: its memory is not read again) */
            say_poison(rec, changed, first, "found when it left the quarantine");
    }
}

/* Would the audit find something on REC (read only, shard locked)? */
static bool damaged(const bc_record_t *rec)
{
    if (!bc_record_readable(rec))
        return false;
    size_t first;
    if (rec->state != BC_LIVE)
        return poison_damage(rec, &first) != 0;
    bc_bstr_t bstr = (bc_bstr_t)bc_record_bstr(rec);
    if (bc_bstr_prefix(bstr) != rec->bytes && !(rec->flags & BC_FLAG_PREFIX_SEEN))
        return true;
    return IS_OWN(rec) && !(rec->flags & BC_FLAG_OVERFLOW_SEEN) &&
           bc_own_overflow(bstr, rec->bytes) != 0;
}

typedef struct damage_list {
    size_t count, cap;
    uintptr_t *bstr; /* NULL: only count */
} damage_list_t;

static void note_damaged(const bc_record_t *rec, void *arg)
{
    damage_list_t *list = arg;
    if (!damaged(rec))
        return;
    if (list->bstr && list->count < list->cap)
        list->bstr[list->count] = bc_record_bstr(rec);
    list->count++;
}

/* Check BSTR's record again under its lock, and say what it has. */
static void audit_one(uintptr_t bstr)
{
    BC_NOTICES(notices);
    bc_record_t *rec, copy;
    memset(&copy, 0, sizeof copy);
    size_t first = 0, changed = 0;
    bc_shard_t *shard = bc_table_lock_find(bstr, &rec);
    if (rec && rec->state == BC_LIVE) {
        check_live(&notices, rec, (bc_bstr_t)bstr, 0, "found at exit");
    } else if (rec && (changed = poison_damage(rec, &first)) != 0) {
        rec->flags &= (uint8_t)~BC_FLAG_POISONED; /* reported once */
        copy = *rec;
    }
    bc_table_unlock(shard);
    bc_notices_say(&notices);
    if (changed)
        say_poison(&copy, changed, first, "found at exit");
}

/* Damage is rare: one read-only pass finds it, shard by shard; the damaged
 * records are then checked one at a time, each said after its unlock. */
static void audit_all(void)
{
    damage_list_t list = {0, 0, NULL};
    bc_table_search(note_damaged, &list);
    if (list.count == 0)
        return;
    list.cap = list.count + 16; /* room for what happens meanwhile */
    list.bstr = calloc(list.cap, sizeof *list.bstr);
    if (!list.bstr)
        return;
    list.count = 0;
    bc_table_search(note_damaged, &list);
    for (size_t i = 0; i < list.count && i < list.cap; i++)
        audit_one(list.bstr[i]);
    bc_internal_free(list.bstr);
}

/* ---------------------------------------------------------- allocation */

/* Each thread remembers the records of its recent allocations, so that a
 * length read of one (the common SysAlloc, SysStringLen, SysFreeString
 * pattern) needs no lock and no table lookup. A memo is only a hint: the
 * record is read without the lock and used only while it still holds this
 * BSTR, live. Records are never unmapped, so a stale hint is safe to read. */
#define MEMO_SLOTS 64
typedef struct live_memo {
    uintptr_t bstr;
    bc_record_t *rec;
} live_memo_t;
/* Behind a pointer: the shim's static TLS must stay small, or it cannot be
 * dlopen()ed once other libraries have taken the spare static TLS. */
static __thread live_memo_t *memo BC_TLS;
static pthread_key_t memo_key;
static pthread_once_t memo_key_once = PTHREAD_ONCE_INIT;

static void free_memo_at_thread_exit(void *m)
{
    if (m == memo)
        memo = NULL;
    bc_internal_free(m);
}

static void create_memo_key(void)
{
    if (pthread_key_create(&memo_key, free_memo_at_thread_exit) != 0)
        memo_key = (pthread_key_t)-1;
}

BC_NOINLINE static live_memo_t *create_memo(void)
{
    live_memo_t *m = calloc(MEMO_SLOTS, sizeof *m);
    if (!m)
        return NULL; /* no memo: the locked path serves */
    pthread_once(&memo_key_once, create_memo_key);
    if (memo_key != (pthread_key_t)-1)
        pthread_setspecific(memo_key, m);
    return memo = m;
}

static live_memo_t *memo_slot(live_memo_t *m, uintptr_t bstr)
{
    return &m[(bstr >> 4) % MEMO_SLOTS];
}

/* REC when it is surely BSTR's live record, else NULL. */
static const bc_record_t *memo_live(uintptr_t bstr)
{
    if (!memo)
        return NULL;
    const live_memo_t *m = memo_slot(memo, bstr);
    if (m->bstr != bstr)
        return NULL;
    const bc_record_t *rec = m->rec;
    if (__atomic_load_n(&rec->hh.key, __ATOMIC_ACQUIRE) != (void *)bstr ||
        __atomic_load_n(&rec->state, __ATOMIC_ACQUIRE) != BC_LIVE)
        return NULL;
    return rec;
}

/* Record a new BSTR; false when out of memory (it then goes untracked).
 * FLAGS: BC_FLAG_* the record starts with. */
static bool record(int rt, bc_bstr_t bstr, uint32_t bytes, bc_stack_id_t stack, uint8_t flags)
{
    bc_shard_t *shard = bc_table_lock_home((uintptr_t)bstr);
    bc_record_t *rec = bc_shard_insert(shard, (uintptr_t)bstr, bytes, stack, rt);
    uint64_t seq = 0;
    if (rec) {
        rec->flags |= flags;
        seq = rec->seq;
    }
    bc_table_unlock(shard);
    if (BC_UNLIKELY(bc_break_armed) && rec) /* after the unlock: it calls out */
        bc_break_check(seq, bstr);
    live_memo_t *m = memo ? memo : create_memo();
    if (rec && m)
        *memo_slot(m, (uintptr_t)bstr) = (live_memo_t){(uintptr_t)bstr, rec};
    return rec != NULL;
}

/* A psz or BSTR* argument that cannot point at user memory (NULL plus an
 * offset, a kernel address): reported, and the call fails as out of
 * memory would, instead of faulting inside the shim. */
BC_NOINLINE static void report_bad_argument(const char *fn, const char *what, const void *ptr,
                                            bc_stack_id_t stack)
{
    bc_event(BC_KIND_INVALID_BSTR, (bc_stacks_t){.access = stack}, NULL, 0,
             "%s: %s %p cannot point to memory the program owns; the call failed", fn, what,
             ptr);
}

/* The byte length and source bytes of an own-mode request. */
uint64_t bc_own_request(bc_alloc_kind_t kind, const void *psz, unsigned len, size_t *copy)
{
    uint64_t bytes;
    switch (kind) {
    case BC_ALLOC_SZ:
        bytes = psz ? (uint64_t)bc_olestr_len(psz) * bc_own_width() : 0;
        break;
    case BC_ALLOC_LEN:
        bytes = (uint64_t)len * bc_own_width();
        break;
    default:
        bytes = len;
        break;
    }
    *copy = psz ? (size_t)(bytes < SIZE_MAX ? bytes : SIZE_MAX) : 0;
    return bytes;
}

static const char *const alloc_names[] = {"SysAllocString", "SysAllocStringLen",
                                          "SysAllocStringByteLen"};

static bc_bstr_t own_alloc(bc_alloc_kind_t kind, const void *psz, unsigned len)
{
    if (kind == BC_ALLOC_SZ && !psz)
        return NULL;
    if (BC_UNLIKELY(psz && bc_addr_impossible(psz))) {
        report_bad_argument(alloc_names[kind], "psz", psz, bc_stack_here());
        return NULL;
    }
    size_t copy;
    uint64_t bytes = bc_own_request(kind, psz, len, &copy);
    /* Too long for the 32-bit prefix (or 0xFFFFFFFF, SysAllocStringByteLen's
     * refusal): NULL. */
    if (bytes >= UINT32_MAX)
        return NULL;
    bc_stack_id_t stack = bc_stack_here();
    if (BC_UNLIKELY(bc_inject_active) && bc_inject_fail(stack))
        return NULL;
    bc_bstr_t bstr = bc_own_alloc(psz, copy, (uint32_t)bytes);
    if (bstr && !record(BC_RUNTIME_OWN, bstr, (uint32_t)bytes, stack, 0)) {
        /* An untracked own BSTR would later look like an invalid free: out
         * of memory is what the caller sees. */
        bc_own_release(bstr, (uint32_t)bytes);
        bstr = NULL;
    }
    return bstr;
}

/* Record BSTR, just made by real runtime RT (no lock held: its byte
 * length comes from the runtime itself). */
static void record_forwarded(int rt, bc_bstr_t bstr, bc_stack_id_t stack)
{
    uint32_t bytes = bc_forward_byte_len(rt, bstr);
    /* a runtime that keeps its length elsewhere: no prefix checks */
    uint8_t flags = bc_bstr_prefix(bstr) == bytes ? 0 : BC_FLAG_PREFIX_SEEN;
    bc_runtime_note_forward();
    record(rt, bstr, bytes, stack, flags);
}

static bc_bstr_t forward_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len)
{
    bc_stack_id_t stack = bc_stack_here();
    if (BC_UNLIKELY(bc_inject_active) && !(kind == BC_ALLOC_SZ && !psz) &&
        bc_inject_fail(stack))
        return NULL;
    bc_bstr_t bstr = bc_forward_alloc(rt, kind, psz, len);
    if (bstr) {
        bc_forward_learn_width(rt, bstr, kind, psz, len);
        record_forwarded(rt, bstr, stack);
    }
    return bstr;
}

bc_bstr_t bc_track_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len)
{
    if (rt == BC_RUNTIME_OWN)
        return own_alloc(kind, psz, len);
    return forward_alloc(rt, kind, psz, len);
}

/* Free REC (shard locked) after checking it, or only note the request
 * while it is pinned: the last SysReleaseString frees it then. Records
 * the quarantine pushes out go to OUT, released after the unlock; what the
 * checks find goes to NOTICES, said after it. */
static void free_locked(bc_shard_t *shard, bc_record_t *rec, bc_bstr_t bstr, bc_stack_id_t stack,
                        bc_evicted_t *out, bc_notices_t *notices)
{
    check_live(notices, rec, bstr, stack, "found when it was freed");
    if (rec->pins > 0) {
        rec->flags |= BC_FLAG_FREE_PENDING;
        rec->free_stack = stack;
        return;
    }
    retire(shard, rec, bstr, stack, out);
}

/* SysFreeString with STACK, the free's stack (0 with free_stacks=0). An
 * error captures the stack after all when it is 0, unless CAPTURE is
 * false: a free deferred from a signal handler has no stack of its own. */
static void free_with_stack(int rt, bc_bstr_t bstr, bc_stack_id_t stack, bool capture)
{
    bc_record_t *rec;
    BC_EVICTED(out);
    BC_NOTICES(notices);
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)bstr, &rec);
    bc_record_t freed;
    bool known = rec != NULL, live = rec && rec->state == BC_LIVE;
    bool orphan = live && BC_RECORD_RUNTIME(rec) == BC_RUNTIME_ORPHAN;
    if (BC_UNLIKELY(orphan)) /* its runtime is gone: forget it, read nothing */
        bc_shard_drop(shard, rec);
    else if (BC_LIKELY(live))
        free_locked(shard, rec, bstr, stack, &out, &notices);
    else if (known)
        freed = *rec;
    bc_table_unlock(shard);
    if (BC_UNLIKELY(orphan)) {
        if (rt != BC_RUNTIME_OWN) /* what the call would reach without the shim */
            bc_forward_free(rt, bstr);
        return;
    }
    if (live) {
        if (BC_UNLIKELY(notices.count))
            bc_notices_say(&notices);
        if (out.count)
            bc_release_evicted(&out);
        return;
    }
    if (!stack && capture)
        stack = bc_stack_here();
    if (known) {
        report_double_free(&freed, stack, "SysFreeString");
    } else if (rt == BC_RUNTIME_OWN) {
        if (!bc_side_free(bstr)) /* made by a signal handler's call */
            report_not_a_bstr(BC_KIND_INVALID_FREE, bstr, "SysFreeString", stack);
    } else {
        /* made where the shim could not see: the runtime's business */
        bc_count(BC_COUNT_UNTRACKED_FREES);
        bc_forward_free(rt, bstr);
    }
}

void bc_track_free(int rt, bc_bstr_t bstr)
{
    /* Captured before locking, so the lock is held briefly; a second free
     * gets its stack in any case. */
    free_with_stack(rt, bstr, bc_opt.free_stacks ? bc_stack_here() : 0, true);
}

void bc_track_free_deferred(bc_bstr_t bstr)
{
    free_with_stack(BC_RUNTIME_OWN, bstr, 0, false);
}

/* How many bytes may be read from SRC when it points into OLD's data (the
 * caller's "psz may point into *pbstr"); SIZE_MAX when it does not. */
static size_t readable_inside(const bc_record_t *old, const void *src)
{
    uintptr_t s = (uintptr_t)src;
    if (!old || s < bc_record_bstr(old) || s > bc_record_bstr(old) + old->bytes)
        return SIZE_MAX;
    return bc_record_bstr(old) + old->bytes - s;
}

/* The new string of a SysReAlloc* call, made by runtime RT; src may point
 * into OLD, which is still intact. */
static bc_bstr_t realloc_fresh(int rt, const bc_record_t *old, const void *src, unsigned len,
                               bool is_sz, bool *failed)
{
    *failed = false;
    if (is_sz && !src)
        return NULL; /* SysReAllocString(&b, NULL): b becomes NULL */
    if (rt == BC_RUNTIME_OWN) {
        uint64_t bytes = (is_sz ? bc_olestr_len(src) : len) * (uint64_t)bc_own_width();
        size_t copy = src ? (size_t)(bytes < SIZE_MAX ? bytes : SIZE_MAX) : 0;
        size_t inside = readable_inside(old, src);
        if (copy > inside)
            copy = inside;
        bc_bstr_t fresh = bytes < UINT32_MAX ? bc_own_alloc(src, copy, (uint32_t)bytes) : NULL;
        *failed = !fresh;
        return fresh;
    }
    unsigned width = bc_runtime_width(rt);
    size_t inside = readable_inside(old, src);
    bc_bstr_t fresh;
    if (!is_sz && src && inside != SIZE_MAX && (uint64_t)len * width > inside) {
        /* longer than what is left of the old string: copy what there is */
        fresh = bc_forward_alloc(rt, BC_ALLOC_LEN, NULL, len);
        if (fresh)
            memcpy(fresh, src, inside);
    } else {
        fresh = bc_forward_alloc(rt, is_sz ? BC_ALLOC_SZ : BC_ALLOC_LEN, src, len);
    }
    *failed = !fresh;
    return fresh;
}

/* SysReAlloc* on OLD, a BSTR a signal handler's call made (side.c): a
 * new string from the table's side, then the old one freed. */
static int realloc_from_side(bc_bstr_t *pbstr, bc_bstr_t old, uint32_t old_bytes,
                             const void *src, unsigned len, bool is_sz, bc_stack_id_t stack)
{
    bc_record_t side;
    memset(&side, 0, sizeof side);
    side.hh.key = (void *)old;
    side.bytes = old_bytes;
    bool failed;
    bc_bstr_t fresh = realloc_fresh(BC_RUNTIME_OWN, &side, src, len, is_sz, &failed);
    if (failed)
        return 0;
    bc_side_free(old);
    if (fresh && !record(BC_RUNTIME_OWN, fresh, bc_bstr_prefix(fresh), stack, 0)) {
        bc_own_release(fresh, bc_bstr_prefix(fresh));
        fresh = NULL;
    }
    *pbstr = fresh;
    return 1;
}

/* SysReAlloc* of OLD, a BSTR the table does not hold (or an orphan): a
 * signal handler's (side.c), one made out of the shim's sight (the real
 * runtime does it all), or no BSTR at all. */
static int realloc_unknown(int rt, bc_bstr_t *pbstr, bc_bstr_t old, const void *src,
                           unsigned len, bool is_sz, bc_stack_id_t stack, const char *fn)
{
    bool allocates = !(is_sz && !src);
    if (rt == BC_RUNTIME_OWN) {
        uint32_t side_bytes;
        if (bc_side_len(old, &side_bytes)) {
            if (allocates && BC_UNLIKELY(bc_inject_active) && bc_inject_fail(stack))
                return 0;
            return realloc_from_side(pbstr, old, side_bytes, src, len, is_sz, stack);
        }
        report_not_a_bstr(BC_KIND_INVALID_BSTR, old, fn, stack);
        return 0;
    }
    if (allocates && BC_UNLIKELY(bc_inject_active) && bc_inject_fail(stack))
        return 0;
    bc_count(BC_COUNT_UNTRACKED_FREES);
    int ok = bc_forward_realloc(rt, pbstr, src, len, is_sz);
    if (ok && *pbstr)
        record_forwarded(rt, *pbstr, stack);
    return ok;
}

/* The old string of a SysReAlloc*, looked up: its record copied into
 * *SNAPSHOT when it is live. 1: live; 0: not in the table; -1: the call
 * is over (a double free, reported). An orphan is forgotten and counts as
 * not in the table. No lock is held on return. */
static int realloc_old(bc_bstr_t old, bc_record_t *snapshot, bc_stack_id_t stack,
                       const char *fn)
{
    bc_record_t *rec;
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)old, &rec);
    int found = 0;
    if (rec && rec->state != BC_LIVE) {
        found = -1;
    } else if (rec && !bc_record_readable(rec)) {
        bc_shard_drop(shard, rec);
        rec = NULL;
    } else if (rec) {
        found = 1;
    }
    if (rec)
        *snapshot = *rec;
    bc_table_unlock(shard);
    if (found < 0)
        report_double_free(snapshot, stack, fn);
    return found;
}

/* Free the old string of a SysReAlloc* now that its copy is made: the
 * record of SNAPSHOT, if nobody freed it meanwhile. */
static void realloc_retire_old(const bc_record_t *snapshot, bc_stack_id_t stack)
{
    bc_record_t *rec;
    BC_EVICTED(out);
    BC_NOTICES(notices);
    bc_shard_t *shard = bc_table_lock_find(bc_record_bstr(snapshot), &rec);
    if (rec && rec->state == BC_LIVE && rec->seq == snapshot->seq)
        free_locked(shard, rec, (bc_bstr_t)bc_record_bstr(rec), stack, &out, &notices);
    bc_table_unlock(shard);
    bc_notices_say(&notices);
    bc_release_evicted(&out);
}

/* Are SysReAlloc*'s pointers usable? Reports it when not. */
static bool realloc_args_ok(int rt, bc_bstr_t *pbstr, const void *src, const char *fn)
{
    if (!pbstr) {
        report_not_a_bstr(BC_KIND_INVALID_BSTR, NULL, fn, bc_stack_here());
        return false;
    }
    if (BC_UNLIKELY(bc_addr_impossible(pbstr) ||
                    (rt == BC_RUNTIME_OWN && src && bc_addr_impossible(src)))) {
        bool bad_pbstr = bc_addr_impossible(pbstr);
        report_bad_argument(fn, bad_pbstr ? "pbstr" : "psz", bad_pbstr ? (const void *)pbstr : src,
                            bc_stack_here());
        return false;
    }
    return true;
}

/* FRESH, the new string of a SysReAlloc*, recorded; NULL when own mode
 * could not record it (it is released). */
static bc_bstr_t record_fresh(int rt, bc_bstr_t fresh, bc_stack_id_t stack)
{
    if (!fresh)
        return NULL;
    if (rt != BC_RUNTIME_OWN) {
        record_forwarded(rt, fresh, stack);
        return fresh;
    }
    uint32_t bytes = bc_bstr_prefix(fresh);
    if (record(rt, fresh, bytes, stack, 0))
        return fresh;
    bc_own_release(fresh, bytes);
    return NULL;
}

int bc_track_realloc(int rt, bc_bstr_t *pbstr, const void *src, unsigned len, bool is_sz)
{
    const char *fn = is_sz ? "SysReAllocString" : "SysReAllocStringLen";
    if (!realloc_args_ok(rt, pbstr, src, fn))
        return 0;
    bc_bstr_t old = *pbstr;
    bc_stack_id_t stack = bc_stack_here();
    bc_record_t snapshot;
    bool have_old = false;
    if (old) {
        int found = realloc_old(old, &snapshot, stack, fn);
        if (found < 0)
            return 0;
        if (found == 0)
            return realloc_unknown(rt, pbstr, old, src, len, is_sz, stack, fn);
        have_old = true;
    }
    /* An allocation, for fault injection, unless the result is NULL. */
    if (!(is_sz && !src) && BC_UNLIKELY(bc_inject_active) && bc_inject_fail(stack))
        return 0; /* *pbstr untouched, as after a real failure */
    /* Copied while the old string is intact (src may point into it), with
     * no lock held: the runtime or malloc is foreign code. */
    bool failed;
    bc_bstr_t fresh = realloc_fresh(rt, have_old ? &snapshot : NULL, src, len, is_sz, &failed);
    if (failed)
        return 0; /* *pbstr untouched */
    if (have_old)
        realloc_retire_old(&snapshot, stack);
    *pbstr = record_fresh(rt, fresh, stack);
    return 1;
}

/* ------------------------------------------------------------- readers */

uint32_t bc_track_len(int rt, bc_bstr_t bstr, bool chars)
{
    const char *fn = chars ? "SysStringLen" : "SysStringByteLen";
    const bc_record_t *known = memo_live((uintptr_t)bstr);
    if (known && bc_record_readable(known)) { /* the same answers as below, without the lock */
        int known_rt = BC_RECORD_RUNTIME(known);
        uint32_t bytes = known->bytes;
        if (known_rt != BC_RUNTIME_OWN)
            return chars ? bc_forward_len(known_rt, bstr) : bc_forward_byte_len(known_rt, bstr);
        if (BC_LIKELY(bc_bstr_prefix(bstr) == bytes))
            return chars ? bytes / bc_own_width() : bytes;
        /* a damaged prefix: reported under the lock, below */
    }
    bc_record_t *rec;
    BC_NOTICES(notices);
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)bstr, &rec);
    uint32_t bytes = 0;
    int rec_rt = rec ? BC_RECORD_RUNTIME(rec) : rt;
    if (BC_UNLIKELY(rec_rt == BC_RUNTIME_ORPHAN)) /* its runtime is gone */
        rec_rt = rt;
    if (BC_LIKELY(rec && rec->state == BC_LIVE)) {
        bytes = rec->bytes;
        if (rec_rt == BC_RUNTIME_OWN && BC_UNLIKELY(bc_bstr_prefix(bstr) != bytes) &&
            !(rec->flags & BC_FLAG_PREFIX_SEEN))
            notice_prefix(&notices, rec, bc_bstr_prefix(bstr), 0, fn);
    } else if (rec) {
        bc_notice_t *n = bc_notice(&notices, BC_SAY_USE_AFTER_FREE, rec, 0);
        if (n)
            n->fn = fn;
        bytes = rec->bytes; /* the freed memory is not read */
    }
    bc_table_unlock(shard);
    if (BC_UNLIKELY(notices.count))
        bc_notices_say(&notices);
    if (rec_rt != BC_RUNTIME_OWN) /* the real runtime's answer, as without the shim */
        return chars ? bc_forward_len(rec_rt, bstr) : bc_forward_byte_len(rec_rt, bstr);
    if (!rec && !bc_side_len(bstr, &bytes))
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, fn, bc_stack_here());
    return chars ? bytes / bc_own_width() : bytes;
}

bc_hresult_t bc_track_addref(int rt, bc_bstr_t bstr)
{
    bc_record_t *rec;
    BC_NOTICES(notices);
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)bstr, &rec);
    bc_hresult_t hr = BC_E_INVALIDARG;
    int pinned_rt = BC_RUNTIME_OWN;
    if (rec && rec->state == BC_LIVE && rec->pins < UINT16_MAX) {
        rec->pins++;
        pinned_rt = BC_RECORD_RUNTIME(rec);
        hr = BC_S_OK;
    } else if (rec && rec->state != BC_LIVE) {
        bc_notice_t *n = bc_notice(&notices, BC_SAY_USE_AFTER_FREE, rec, 0);
        if (n)
            n->fn = "SysAddRefString";
    }
    bc_table_unlock(shard);
    bc_notices_say(&notices);
    if (pinned_rt != BC_RUNTIME_OWN) /* the runtime's own pin, after the unlock */
        return bc_forward_addref(pinned_rt == BC_RUNTIME_ORPHAN ? rt : pinned_rt, bstr);
    if (!rec && rt != BC_RUNTIME_OWN)
        return bc_forward_addref(rt, bstr);
    if (!rec && !bc_side_addref(bstr, &hr))
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysAddRefString", bc_stack_here());
    return hr;
}

void bc_track_release(int rt, bc_bstr_t bstr)
{
    bc_record_t *rec;
    BC_EVICTED(out);
    BC_NOTICES(notices);
    int unpin_rt = BC_RUNTIME_OWN;
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)bstr, &rec);
    if (rec && rec->state == BC_LIVE) {
        if (rec->pins == 0) {
            bc_notice_t *n = bc_notice(&notices, BC_SAY_UNPINNED_RELEASE, rec, 0);
            if (n)
                bc_sample_copy(&n->sample, rec);
        } else {
            unpin_rt = BC_RECORD_RUNTIME(rec);
            if (--rec->pins == 0 && (rec->flags & BC_FLAG_FREE_PENDING)) {
                rec->flags &= (uint8_t)~BC_FLAG_FREE_PENDING;
                retire(shard, rec, bstr, rec->free_stack, &out);
            }
        }
    } else if (rec) {
        bc_notice_t *n = bc_notice(&notices, BC_SAY_USE_AFTER_FREE, rec, 0);
        if (n)
            n->fn = "SysReleaseString";
    }
    bc_table_unlock(shard);
    bc_notices_say(&notices);
    /* The runtime's own unpin first: it may free the string itself. */
    if (unpin_rt != BC_RUNTIME_OWN)
        bc_forward_release(unpin_rt == BC_RUNTIME_ORPHAN ? rt : unpin_rt, bstr);
    bc_release_evicted(&out);
    if (rec)
        return;
    if (!rec && rt != BC_RUNTIME_OWN)
        bc_forward_release(rt, bstr);
    else if (!rec && !bc_side_release(bstr))
        report_not_a_bstr(BC_KIND_INVALID_BSTR, bstr, "SysReleaseString", bc_stack_here());
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
        bc_record_t *rec;
        bc_shard_t *shard = bc_table_lock_find(bstr, &rec);
        if (rec)
            return (foreign_hit_t){shard, rec};
        bc_table_unlock(shard);
    }
    return (foreign_hit_t){NULL, NULL};
}

/* Notice free()/realloc() of a BSTR and release it as SysFreeString
 * would have (shard locked). */
static void mismatched_locked(foreign_hit_t hit, void *p, const char *fn, bc_stack_id_t stack,
                              bc_evicted_t *out, bc_notices_t *notices)
{
    bc_record_t *rec = hit.rec;
    bool freed = rec->state != BC_LIVE;
    bc_notice_t *n = bc_notice(notices, BC_SAY_MISMATCHED, rec, stack);
    if (n) {
        n->fn = fn;
        n->ptr = p;
        bc_sample_copy(&n->sample, rec);
    }
    if (!freed) {
        rec->pins = 0; /* free() ignores pins: the memory is gone for the program */
        retire(hit.shard, rec, (bc_bstr_t)bc_record_bstr(rec), stack, out);
    }
}

/* Is HIT's free() of P the program's mistake, not a runtime's own
 * SysFreeString releasing its block? */
static bool mismatched(foreign_hit_t hit, const void *p)
{
    return IS_OWN(hit.rec) || (uintptr_t)p == bc_record_bstr(hit.rec);
}

/* The hit again, after capturing the call's stack with the lock released
 * (the unwinder never runs under a shard lock). */
static foreign_hit_t find_foreign_again(foreign_hit_t hit, void *p, bc_stack_id_t *stack)
{
    bc_table_unlock(hit.shard);
    *stack = bc_stack_here();
    return find_foreign(p);
}

bool bc_track_foreign_free(void *p, const char *fn)
{
    bc_stack_id_t stack = 0;
    foreign_hit_t hit = find_foreign(p);
    if (hit.rec && mismatched(hit, p))
        hit = find_foreign_again(hit, p, &stack);
    if (!hit.rec)
        return false;
    if (!mismatched(hit, p)) {
        /* A runtime's private SysFreeString releasing its own block with
         * free(): not an error, but the record goes. The memory really is
         * freed now, so it cannot wait in the quarantine. */
        bc_count(BC_COUNT_RELEASED_BY_FREE);
        bc_shard_drop(hit.shard, hit.rec);
        bc_table_unlock(hit.shard);
        return false;
    }
    BC_EVICTED(out);
    BC_NOTICES(notices);
    mismatched_locked(hit, p, fn, stack, &out, &notices);
    bc_table_unlock(hit.shard);
    bc_notices_say(&notices);
    bc_release_evicted(&out);
    return true;
}

void *bc_track_foreign_realloc(void *p, size_t size)
{
    /* The program gets what realloc promises: a new block holding the old
     * bytes, allocated before any lock is taken. The BSTR goes to the
     * quarantine like any freed one. */
    void *moved = size ? malloc(size) : NULL;
    bc_stack_id_t stack = 0;
    foreign_hit_t hit = find_foreign(p);
    if (hit.rec)
        hit = find_foreign_again(hit, p, &stack);
    if (!hit.rec) {
        bc_internal_free(moved);
        return BC_NOT_A_BSTR;
    }
    uintptr_t lo, hi;
    span_of(hit.rec, &lo, &hi);
    if (IS_OWN(hit.rec) && bc_opt.guard_pages)
        hi = bc_record_bstr(hit.rec) + bc_guard_data_room(hit.rec->bytes);
    if (moved && hit.rec->state == BC_LIVE && hi > (uintptr_t)p && bc_record_readable(hit.rec)) {
        size_t have = hi - (uintptr_t)p;
        memcpy(moved, p, have < size ? have : size);
    }
    BC_EVICTED(out);
    BC_NOTICES(notices);
    mismatched_locked(hit, p, "realloc", stack, &out, &notices);
    bc_table_unlock(hit.shard);
    bc_notices_say(&notices);
    bc_release_evicted(&out);
    return moved;
}

/* ------------------------------------------------ before a report, dlclose */

void bc_core_settle(bool audit)
{
    bc_deferred_drain(); /* frees that signal handlers left for later */
    if (audit)
        audit_all(); /* overflows, prefixes, writes after free */
}

void bc_track_module_closing(uintptr_t lo, uintptr_t hi)
{
    unsigned runtimes = bc_runtimes_in(lo, hi);
    for (int rt = 1; runtimes; rt++) {
        if (!(runtimes & (1u << rt)))
            continue;
        runtimes &= ~(1u << rt);
        unsigned cursor = 0;
        bool more;
        do {
            BC_EVICTED(out);
            more = bc_table_detach_runtime(rt, &cursor, &out);
            bc_release_evicted(&out); /* the real SysFreeString, after the unlock */
        } while (more);
    }
}

static void orphan_records(int rt)
{
    bc_table_retag_runtime(rt, BC_RUNTIME_ORPHAN);
}

void bc_track_module_closed(uintptr_t lo, uintptr_t hi)
{
    bc_runtimes_closed(lo, hi, orphan_records);
}

void bc_track_modules_pruned(void)
{
    bc_runtimes_prune(orphan_records);
}
