/* The read-only view the cold path (report/, bstrcheck_describe) takes of
 * the core (snapshot.h): every record copied out in one consistent cut,
 * and the table's counts at the same moment. Only the copy runs with the
 * shards locked: the buffer is sized and allocated with no lock held (and
 * again, larger, if the table grew meanwhile), so the report can allocate,
 * group and format as it likes. */
#include "check.h"

#include <stdlib.h>
#include <string.h>

typedef struct copy_into {
    bc_record_view_t *views;
    size_t n, cap;
} copy_into_t;

static void copy_one(const bc_record_t *rec, void *arg)
{
    copy_into_t *c = arg;
    if (c->n < c->cap)
        c->views[c->n++] = bc_record_view(rec);
}

bc_record_view_t bc_record_view(const bc_record_t *rec)
{
    bc_record_view_t v;
    memset(&v, 0, sizeof v);
    v.bstr = bc_record_bstr(rec);
    v.seq = rec->seq;
    v.bytes = rec->bytes;
    v.alloc_stack = rec->alloc_stack;
    v.free_stack = rec->free_stack;
    v.state = rec->state;
    v.flags = rec->flags;
    return v;
}

/* The side table's live BSTRs (made by signal handlers), with their
 * samples: own memory, always readable. */
typedef struct side_copy {
    bc_side_view_t *views;
    size_t n, cap, seen;
} side_copy_t;

static void copy_side(const bc_record_t *rec, void *arg)
{
    side_copy_t *c = arg;
    if (c->n < c->cap) {
        c->views[c->n].view = bc_record_view(rec);
        bc_sample_copy(&c->views[c->n].sample, rec);
        c->n++;
    }
    c->seen++;
}

/* Sized by a first count, again larger when handlers made more meanwhile. */
static bool take_side(bc_snapshot_t *s)
{
    side_copy_t c = {NULL, 0, 0, 0};
    bc_side_foreach_live(copy_side, &c); /* (cap 0: counts only) */
    do {
        free(c.views);
        c.cap = c.seen + 16;
        c.n = c.seen = 0;
        c.views = malloc(c.cap * sizeof *c.views);
        if (!c.views)
            return false;
        bc_side_foreach_live(copy_side, &c);
    } while (c.seen > c.cap);
    s->side = c.views;
    s->side_count = c.n;
    return true;
}

bool bc_snapshot_take(bc_snapshot_t *s, bool with_side)
{
    memset(s, 0, sizeof *s);
    s->side_counts = bc_side_counts();
    if (with_side && !take_side(s)) /* (the table's copy may still fit) */
        bc_warn("out of memory while copying the BSTRs signal handlers made; they are missing "
                "from the report");
    copy_into_t c = {NULL, 0, 0};
    for (;;) {
        bc_table_lock_all();
        size_t need = bc_table_records_locked();
        if (need <= c.cap) {
            bc_table_foreach(copy_one, &c);
            s->counts = bc_table_counts();
            bc_table_unlock_all();
            break;
        }
        bc_table_unlock_all();
        free(c.views);
        /* room for what is made meanwhile; at least twice the last try, so
         * a table that grows as fast as we copy is caught in a few tries */
        size_t room = need + need / 8 + 64;
        c.cap = room > 2 * c.cap ? room : 2 * c.cap;
        c.views = malloc(c.cap * sizeof *c.views);
        if (!c.views) {
            bc_snapshot_free(s);
            bc_table_lock_all(); /* the counts, at least */
            s->counts = bc_table_counts();
            bc_table_unlock_all();
            return false;
        }
    }
    s->records = c.views;
    s->count = c.n;
    return true;
}

void bc_snapshot_free(bc_snapshot_t *s)
{
    free(s->records);
    s->records = NULL;
    s->count = 0;
    free(s->side);
    s->side = NULL;
    s->side_count = 0;
}

void bc_sample_copy(bc_sample_t *out, const bc_record_t *rec)
{
    out->bytes = 0;
    if (rec->state != BC_LIVE || !bc_record_readable(rec))
        return; /* freed memory is never read, an orphan's is gone */
    unsigned width = bc_record_width(rec);
    uint32_t room = (uint32_t)sizeof out->raw / 4 * width;
    uint32_t bytes = rec->bytes < room ? rec->bytes : room;
    memcpy(out->raw, (const void *)bc_record_bstr(rec), bytes);
    out->bytes = bytes;
    out->width = width;
}

bool bc_snapshot_sample(const bc_record_view_t *v, bc_sample_t *out)
{
    bc_record_t *rec;
    out->bytes = 0;
    bc_shard_t *shard = bc_table_lock_find(v->bstr, &rec);
    /* the very BSTR the view saw, still live: its memory cannot go away
     * while the shard is locked */
    if (rec && rec->seq == v->seq)
        bc_sample_copy(out, rec);
    bc_table_unlock(shard);
    return out->bytes != 0;
}

uint64_t bc_snapshot_first_own_seq(void)
{
    return bc_table_first_own_seq();
}

bc_stack_t bc_snapshot_stack(bc_stack_id_t id)
{
    return bc_depot_get(id);
}

uint32_t bc_snapshot_stacks(void)
{
    return bc_depot_count();
}

const char *bc_snapshot_mode(void)
{
    return bc_runtimes_mode();
}

bool bc_snapshot_side_len(uintptr_t bstr, uint32_t *bytes)
{
    return bc_side_len((bc_bstr_t)bstr, bytes);
}

/* ---- bstrcheck_describe's search ---- */

/* The memory a record's BSTR covers: the shim's own blocks from the
 * header on; a real runtime's from the 4-byte prefix to the terminator. */
static void span_of(const bc_record_t *rec, uintptr_t *lo, uintptr_t *hi)
{
    if (BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN) {
        bc_own_span((bc_bstr_t)bc_record_bstr(rec), rec->bytes, lo, hi);
    } else {
        *lo = bc_record_bstr(rec) - 4;
        *hi = bc_record_bstr(rec) + rec->bytes + 4;
    }
}

typedef struct find_search {
    uintptr_t p;
    bc_found_t *out;
    int runtime;
} find_search_t;

/* With the record's shard locked: copy what the text needs (and a live
 * BSTR's sample, read while the shard keeps it alive). */
static void look_at(const bc_record_t *rec, void *arg)
{
    find_search_t *s = arg;
    int match = 0;
    uintptr_t lo = 0, hi = 0;
    span_of(rec, &lo, &hi);
    if (bc_record_bstr(rec) == s->p)
        match = 3;
    else if (s->p >= lo && s->p < hi)
        match = rec->state == BC_LIVE ? 2 : 1;
    if (match <= s->out->match)
        return;
    bc_found_t *f = s->out;
    f->match = match;
    f->rec = bc_record_view(rec);
    f->lo = lo;
    f->hi = hi;
    f->pins = rec->pins;
    f->free_pending = (rec->flags & BC_FLAG_FREE_PENDING) != 0;
    f->width = bc_record_width(rec);
    s->runtime = BC_RECORD_RUNTIME(rec);
    f->sample_len = 0;
    /* a live BSTR's memory is readable while its shard is locked; a freed
     * one's may be a guard page, an orphan's is gone */
    if (rec->state == BC_LIVE && bc_record_readable(rec))
        f->sample_len = bc_sample_utf8((const void *)bc_record_bstr(rec), rec->bytes, f->width,
                                       f->sample, sizeof f->sample);
}

bool bc_snapshot_find(uintptr_t p, bc_found_t *out)
{
    memset(out, 0, sizeof *out);
    find_search_t s = {p, out, BC_RUNTIME_OWN};
    bool complete = bc_table_search(look_at, &s);
    if (out->match)
        out->runtime = s.runtime == BC_RUNTIME_ORPHAN ? NULL
                       : s.runtime == BC_RUNTIME_OWN  ? ""
                                                      : bc_runtimes[s.runtime].module;
    return complete;
}
