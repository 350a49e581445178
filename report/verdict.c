/* Ownership verdicts: which rule of the BSTR contract a finding broke,
 * inferred from its stacks, naming the functions involved.
 *
 *   rule 1  the caller allocates an [in] BSTR and frees it after the call:
 *           the callee must not free it.
 *   rule 2  the caller frees a BSTR it receives (return value or [out]).
 *   rule 3  a function that returns a BSTR allocates it and does not free it.
 *
 * A wrong verdict is worse than none, so one is given only when the stacks
 * match a pattern exactly; everything else gets nothing. Every pattern
 * needs:
 *   - complete stacks of the main thread: each ends in the C library's
 *     start-up code below main() (a stack cut by max_frames, or a thread's,
 *     cannot be compared with another: two threads running the same code
 *     have the same return addresses);
 *   - no recursion: no function of the program twice in a stack;
 *   - the frames the pattern names in the program's own code (a source
 *     file), each a real call (not an inlined one, whose frame is not its
 *     own), with DWARF describing the functions' parameters;
 *   - "the same frame" compared by whole stack suffixes (every return
 *     address below it), not by names.
 *
 * The patterns (A: allocation, P: first free, X: the second free or the
 * use, in stack frames #0, #1, ...):
 *   in_param_freed_by_callee (rule 1), double_free or use_after_free:
 *     A#0 and X#0 are in the same function M, with the same frames below
 *     (A#1.. == X#1..): M allocated it and later freed (used) it. P#1 is in
 *     M and P#2.. == A#1..: the first free came from a call M made, into C
 *     (P#0, not M), and C takes a BSTR parameter by value.
 *   returned_then_freed_by_callee (rule 3), double_free or use_after_free:
 *     A#0 and P#0 are in the same function F with A#1.. == P#1..: F
 *     allocated and freed it in one call. X#0 is in G, the function A#1 is
 *     in, with X#1.. == A#2..: G, F's caller, freed (used) it after that
 *     call. F returns a BSTR or has a BSTR* / BSTR& parameter.
 *   returned_not_freed_by_caller (rule 2), leak:
 *     A#0 is in F, which returns a BSTR or has a BSTR* / BSTR& parameter;
 *     A#1 is in G (not F), which has no way to hand a BSTR to its own
 *     caller (so G did not pass it on again): no BSTR return or BSTR*
 *     parameter, no pointer to a structure holding a BSTR (this included:
 *     G did not keep it in its object), no void pointer, no returned
 *     structure with a BSTR in it. And F handed out nothing else from that call: every other
 *     BSTR allocated in F below the same frames (A#1..) was freed in F
 *     below them too. That needs every freed record still in the table
 *     (nothing left the quarantine); otherwise no verdict.
 *   allocated_not_freed, leak:
 *     A#0 is in F, which has no way to hand a pointer out: no pointer or
 *     reference parameter to writable data (this included), no returned
 *     pointer or aggregate. And no global or static variable of any loaded
 *     module holds the BSTR at exit (F may have stored it in one): the
 *     writable segments are searched for each of the group's BSTRs, so a
 *     group of more than BC_INFO_BSTRS gets no verdict. (A BSTR F stored in
 *     a thread-local variable, or in memory a global points to, is not
 *     found this way: such a leak reads "allocated and never freed by F",
 *     which is still what happened.) */
#include "report.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const bc_rule_ids[BC_RULE_COUNT] = {
    "",
    "in_param_freed_by_callee",
    "returned_not_freed_by_caller",
    "returned_then_freed_by_callee",
    "allocated_not_freed",
};

/* ----------------------------------------------------------- history */

typedef struct history_key {
    bc_stack_id_t alloc, free;
    uint32_t state;
} history_key_t;

typedef struct history_item {
    UT_hash_handle hh;
    history_key_t key;
} history_item_t;

/* The items whose allocation stacks share the frames below frame 0 (the
 * caller's frame): built on first use, so a leak verdict looks at its
 * caller frame's items only. */
typedef struct suffix_bucket {
    UT_hash_handle hh;
    uint64_t key; /* hash of frames 1.. */
    size_t len, cap;
    const history_item_t **items;
} suffix_bucket_t;

struct bc_history {
    history_item_t *items;
    suffix_bucket_t *buckets;
    bool indexed;
    bool complete;
    bool out_of_memory;
};

static uint64_t suffix_hash(bc_stack_t s)
{
    uint64_t h = 0xcbf29ce484222325ull ^ s.nframes;
    for (uint32_t i = 1; i < s.nframes; i++) {
        h ^= (uint64_t)s.frames[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

/* Index the items by the hash of their allocation stack's frames 1..;
 * false when out of memory (no verdict then). */
static bool history_index(bc_history_t *h)
{
    if (h->indexed)
        return !h->out_of_memory;
    h->indexed = true;
    for (const history_item_t *item = h->items; item; item = item->hh.next) {
        bc_stack_t r = bc_snapshot_stack(item->key.alloc);
        if (r.nframes < 2)
            continue;
        uint64_t key = suffix_hash(r);
        suffix_bucket_t *b = NULL;
        HASH_FIND(hh, h->buckets, &key, sizeof key, b);
        if (!b) {
            b = calloc(1, sizeof *b);
            if (!b) {
                h->out_of_memory = true;
                return false;
            }
            b->key = key;
            HASH_ADD(hh, h->buckets, key, sizeof b->key, b);
            if (!BC_HASH_ADDED(b)) {
                free(b);
                h->out_of_memory = true;
                return false;
            }
        }
        if (b->len == b->cap) {
            size_t ncap = b->cap ? b->cap * 2 : 4;
            const history_item_t **grown = realloc(b->items, ncap * sizeof *grown);
            if (!grown) {
                h->out_of_memory = true;
                return false;
            }
            b->items = grown;
            b->cap = ncap;
        }
        b->items[b->len++] = item;
    }
    return true;
}

bc_history_t *bc_history_new(void)
{
    return calloc(1, sizeof(bc_history_t));
}

void bc_history_add(bc_history_t *h, const bc_record_view_t *rec)
{
    if (!h || h->out_of_memory)
        return;
    history_key_t key;
    memset(&key, 0, sizeof key);
    key.alloc = rec->alloc_stack;
    key.free = rec->state == BC_LIVE ? 0 : rec->free_stack;
    key.state = rec->state == BC_LIVE ? BC_LIVE : BC_FREED;
    history_item_t *item = NULL;
    HASH_FIND(hh, h->items, &key, sizeof key, item);
    if (item)
        return;
    item = calloc(1, sizeof *item);
    if (!item) {
        h->out_of_memory = true;
        return;
    }
    item->key = key;
    HASH_ADD(hh, h->items, key, sizeof item->key, item);
    if (!BC_HASH_ADDED(item)) {
        free(item);
        h->out_of_memory = true;
    }
}

void bc_history_set_complete(bc_history_t *h, bool complete)
{
    if (h)
        h->complete = complete && !h->out_of_memory;
}

void bc_history_free(bc_history_t *h)
{
    if (!h)
        return;
    suffix_bucket_t *b, *btmp;
    HASH_ITER(hh, h->buckets, b, btmp) {
        HASH_DELETE(hh, h->buckets, b);
        free(b->items);
        free(b);
    }
    history_item_t *item, *tmp;
    HASH_ITER(hh, h->items, item, tmp) {
        HASH_DELETE(hh, h->items, item);
        free(item);
    }
    free(h);
}

/* ------------------------------------------------------------ frames */

/* One frame of a stack as a verdict sees it. */
typedef struct vframe {
    const char *function; /* as symbolized (demangled, with parameters) */
    const char *file;
    int line;
    bool plain; /* a real call in the program's own code, with a name */
} vframe_t;

static vframe_t frame_at(bc_stack_t s, uint32_t i)
{
    vframe_t v;
    memset(&v, 0, sizeof v);
    if (i >= s.nframes)
        return v;
    bc_frame_info_t frames[BC_MAX_INLINE];
    size_t n = bc_symbolize(s.frames[i], frames, BC_MAX_INLINE);
    v.function = frames[n - 1].function;
    v.file = frames[n - 1].file;
    v.line = frames[n - 1].line;
    v.plain = n == 1 && !frames[0].inlined && frames[0].function && bc_frame_is_user(&frames[0]);
    return v;
}

static bool same_function(const vframe_t *a, const vframe_t *b)
{
    return a->plain && b->plain && strcmp(a->function, b->function) == 0 &&
           strcmp(a->file, b->file) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The C library's code below main() (glibc, musl). */
static bool is_main_start(const char *name)
{
    return name && (starts_with(name, "__libc_start_main") ||
                    strcmp(name, "__libc_start_call_main") == 0 || strcmp(name, "_start") == 0 ||
                    strcmp(name, "libc_start_main_stage2") == 0 ||
                    strcmp(name, "_start_c") == 0);
}

/* The C library's code below a thread's start routine. */
static bool is_thread_start(const char *name)
{
    return name && (strcmp(name, "start_thread") == 0 || strcmp(name, "clone") == 0 ||
                    strcmp(name, "clone3") == 0 || strcmp(name, "__clone") == 0 ||
                    strcmp(name, "__clone3") == 0 || strcmp(name, "start") == 0);
}

/* A whole stack of the main thread, without recursion. */
static bool stack_usable(bc_stack_t s)
{
    if (s.nframes < 2 || s.nframes > BC_MAX_FRAMES)
        return false;
    vframe_t bottom = frame_at(s, s.nframes - 1);
    if (!is_main_start(bottom.function))
        return false;
    const char *names[BC_MAX_FRAMES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < s.nframes; i++) {
        vframe_t f = frame_at(s, i);
        if (is_thread_start(f.function))
            return false;
        if (f.plain)
            names[n++] = f.function;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = i + 1; k < n; k++)
            if (strcmp(names[i], names[k]) == 0)
                return false;
    return true;
}

/* Frames A[IA..] and B[IB..] are the same return addresses. */
static bool suffix_equal(bc_stack_t a, uint32_t ia, bc_stack_t b, uint32_t ib)
{
    if (ia > a.nframes || ib > b.nframes || a.nframes - ia != b.nframes - ib)
        return false;
    return memcmp(a.frames + ia, b.frames + ib, (a.nframes - ia) * sizeof *a.frames) == 0;
}

void bc_short_function(const char *function, char *out, size_t outsz)
{
    if (!outsz)
        return;
    size_t len = strlen(function);
    /* qualifiers after the parameter list */
    static const char *const tails[] = {" const", " volatile", " &&", " &", " noexcept"};
    size_t end = len;
    for (bool cut = true; cut;) {
        cut = false;
        for (size_t i = 0; i < BC_ARRAY_LEN(tails); i++) {
            size_t t = strlen(tails[i]);
            if (end >= t && strncmp(function + end - t, tails[i], t) == 0) {
                end -= t;
                cut = true;
            }
        }
    }
    size_t keep = len;
    if (end > 0 && function[end - 1] == ')') {
        int depth = 0;
        for (size_t i = end; i-- > 0;) {
            if (function[i] == ')')
                depth++;
            else if (function[i] == '(' && --depth == 0) {
                if (i > 0)
                    keep = i;
                break;
            }
        }
    }
    if (keep >= outsz)
        keep = outsz - 1;
    memcpy(out, function, keep);
    out[keep] = '\0';
}

/* "FILE:LINE" of a frame, FILE relative to the working directory when it
 * lies below it. */
static void where(const vframe_t *f, char *out, size_t outsz)
{
    char cwd[PATH_MAX];
    const char *file = f->file;
    if (getcwd(cwd, sizeof cwd)) {
        size_t n = strlen(cwd);
        if (n > 1 && strncmp(file, cwd, n) == 0 && file[n] == '/')
            file += n + 1;
    }
    size_t len = strlen(file);
    if (len > outsz - 16) /* keep the end: the basename and the line */
        file += len - (outsz - 16);
    int n = f->line > 0 ? snprintf(out, outsz, "%s:%d", file, f->line)
                        : snprintf(out, outsz, "%s", file);
    if (n < 0)
        out[0] = '\0';
}

#define NAME_MAX_LEN 160
#define WHERE_MAX_LEN 240

typedef struct names {
    char a[NAME_MAX_LEN], b[NAME_MAX_LEN], at[WHERE_MAX_LEN];
} names_t;

/* The verdict's text, as a heap copy (none when out of memory: then no
 * verdict either). */
__attribute__((format(printf, 2, 3))) static void set_text(bc_finding_info_t *info,
                                                           const char *fmt, ...)
{
    char text[BC_RULE_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    free(info->rule_text);
    info->rule_text = n > 0 ? strdup(text) : NULL;
    if (!info->rule_text)
        info->rule = BC_RULE_NONE;
}

/* ---------------------------------------------------------- patterns */

/* Rule 1: the first free in a callee of the function that allocated the
 * BSTR and freed (used) it again from the same frame. */
static bool in_param_freed(bc_stack_t a, bc_stack_t p, bc_stack_t x, bool used,
                           bc_finding_info_t *info)
{
    if (a.nframes < 2 || x.nframes < 2 || p.nframes < 3)
        return false;
    if (!suffix_equal(a, 1, x, 1) || !suffix_equal(p, 2, a, 1))
        return false;
    vframe_t a0 = frame_at(a, 0), x0 = frame_at(x, 0), p0 = frame_at(p, 0), p1 = frame_at(p, 1);
    if (!same_function(&a0, &x0) || !same_function(&p1, &a0) || !p0.plain ||
        same_function(&p0, &a0))
        return false;
    bc_function_shape_t callee = bc_symbolize_shape(p.frames[0]);
    if (!callee.known || !callee.bstr_in)
        return false;
    names_t n;
    bc_short_function(p0.function, n.a, sizeof n.a);
    bc_short_function(a0.function, n.b, sizeof n.b);
    where(&p1, n.at, sizeof n.at);
    info->rule = BC_RULE_IN_PARAM_FREED_BY_CALLEE;
    set_text(info,
             "`%s` freed an [in] BSTR that its caller `%s` lent it at %s (rule 1); the caller's "
             "%s",
             n.a, n.b, n.at, used ? "use comes after that free" : "free is the second one");
    return true;
}

/* Rule 3: allocated and freed in one call of F, then freed (used) by F's
 * caller from the frame that called F. */
static bool returned_then_freed(bc_stack_t a, bc_stack_t p, bc_stack_t x, bool used,
                                bc_finding_info_t *info)
{
    if (a.nframes < 3 || p.nframes < 2 || x.nframes < 2)
        return false;
    if (!suffix_equal(a, 1, p, 1) || !suffix_equal(x, 1, a, 2))
        return false;
    vframe_t a0 = frame_at(a, 0), p0 = frame_at(p, 0), a1 = frame_at(a, 1), x0 = frame_at(x, 0);
    if (!same_function(&a0, &p0) || !same_function(&x0, &a1) || same_function(&a0, &a1))
        return false;
    bc_function_shape_t fn = bc_symbolize_shape(a.frames[0]);
    if (!fn.known || !(fn.returns_bstr || fn.bstr_out))
        return false;
    names_t n;
    bc_short_function(a0.function, n.a, sizeof n.a);
    bc_short_function(a1.function, n.b, sizeof n.b);
    where(&a1, n.at, sizeof n.at);
    info->rule = BC_RULE_RETURNED_THEN_FREED_BY_CALLEE;
    set_text(info,
             "`%s` freed the BSTR it returned to `%s` at %s (rule 3); the caller's %s", n.a, n.b,
             n.at, used ? "use comes after that free" : "free is the second one");
    return true;
}

/* Did F (frame 0 of A) hand out anything but this BSTR from that call?
 * Every other record allocated in F below A's frames must have been freed
 * in F below them too. */
static bool only_this_handed_out(bc_stack_t a, bc_stack_id_t a_id, const vframe_t *f,
                                 bc_history_t *h)
{
    if (!h || !h->complete || !history_index(h))
        return false;
    uint64_t key = suffix_hash(a);
    suffix_bucket_t *bucket = NULL;
    HASH_FIND(hh, h->buckets, &key, sizeof key, bucket);
    for (size_t i = 0; bucket && i < bucket->len; i++) {
        const history_item_t *item = bucket->items[i];
        if (item->key.alloc == a_id || item->key.alloc == 0)
            continue;
        bc_stack_t r = bc_snapshot_stack(item->key.alloc);
        if (!suffix_equal(r, 1, a, 1))
            continue;
        vframe_t r0 = frame_at(r, 0);
        if (!same_function(&r0, f))
            continue; /* another callee of the same caller frame */
        if (item->key.state == BC_LIVE || !item->key.free)
            return false; /* F made another BSTR that is still live */
        bc_stack_t s = bc_snapshot_stack(item->key.free);
        vframe_t s0 = frame_at(s, 0);
        if (!suffix_equal(s, 1, a, 1) || !same_function(&s0, f))
            return false; /* ... or one that someone else freed */
    }
    return true;
}

typedef struct global_search {
    const uintptr_t *bstrs;
    uint32_t n;
    bool found;
} global_search_t;

/* false (stop) once a word of [LO, HI) is one of the group's BSTRs */
static bool search_segment(uintptr_t lo, uintptr_t hi, void *arg)
{
    global_search_t *s = arg;
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi && !s->found; a += sizeof(uintptr_t)) {
        uintptr_t word;
        memcpy(&word, (const void *)a, sizeof word);
        for (uint32_t k = 0; k < s->n; k++)
            if (word == s->bstrs[k])
                s->found = true;
    }
    return !s->found;
}

/* Does a global or static variable of any loaded module hold one of the
 * group's BSTRs? (true when the group's BSTRs are not all known) */
static bool held_by_a_global(const bc_finding_t *f, const bc_finding_info_t *info)
{
    if (info->nbstrs == 0 || info->nbstrs != f->count)
        return true;
    global_search_t s = {info->bstrs, info->nbstrs, false};
    bc_platform_segments(BC_SEGMENTS_DATA, search_segment, &s);
    return s.found;
}

static bool leak_verdict(const bc_finding_t *f, bc_stack_id_t a_id, bc_history_t *h,
                         bc_finding_info_t *info)
{
    bc_stack_t a = bc_snapshot_stack(a_id);
    if (a.nframes < 2)
        return false;
    vframe_t a0 = frame_at(a, 0);
    if (!a0.plain)
        return false;
    bc_function_shape_t fn = bc_symbolize_shape(a.frames[0]);
    if (!fn.known || !stack_usable(a))
        return false;
    names_t n;
    if (fn.returns_bstr || fn.bstr_out) {
        vframe_t a1 = frame_at(a, 1);
        if (!a1.plain || same_function(&a0, &a1))
            return false;
        bc_function_shape_t caller = bc_symbolize_shape(a.frames[1]);
        if (!caller.known || caller.bstr_channel)
            return false;
        if (!only_this_handed_out(a, a_id, &a0, h))
            return false;
        bc_short_function(a0.function, n.a, sizeof n.a);
        bc_short_function(a1.function, n.b, sizeof n.b);
        where(&a1, n.at, sizeof n.at);
        info->rule = BC_RULE_RETURNED_NOT_FREED_BY_CALLER;
        set_text(info,
                 "`%s` returned this BSTR to `%s` (%s), and the receiver must free it (rule 2)",
                 n.a, n.b, n.at);
        return true;
    }
    if (fn.may_hand_on || held_by_a_global(f, info))
        return false;
    bc_short_function(a0.function, n.a, sizeof n.a);
    where(&a0, n.at, sizeof n.at);
    info->rule = BC_RULE_ALLOCATED_NOT_FREED;
    set_text(info, "allocated and never freed by `%s` (%s)",
             n.a, n.at);
    return true;
}

void bc_verdict(const bc_finding_t *f, bc_history_t *h, bc_finding_info_t *info)
{
    info->rule = BC_RULE_NONE;
    free(info->rule_text);
    info->rule_text = NULL;
    if (f->kind == BC_KIND_LEAK) {
        if (f->stacks[BC_ROLE_ALLOC])
            leak_verdict(f, f->stacks[BC_ROLE_ALLOC], h, info);
        return;
    }
    if (f->kind != BC_KIND_DOUBLE_FREE && f->kind != BC_KIND_USE_AFTER_FREE)
        return;
    bool used = f->kind == BC_KIND_USE_AFTER_FREE;
    bc_stack_id_t ids[3] = {f->stacks[BC_ROLE_ALLOC], f->stacks[BC_ROLE_PREVIOUS_FREE],
                            f->stacks[used ? BC_ROLE_ACCESS : BC_ROLE_FREE]};
    bc_stack_t s[3];
    for (int i = 0; i < 3; i++) {
        if (!ids[i])
            return;
        s[i] = bc_snapshot_stack(ids[i]);
        if (!stack_usable(s[i]))
            return;
    }
    if (!in_param_freed(s[0], s[1], s[2], used, info))
        returned_then_freed(s[0], s[1], s[2], used, info);
}
