/* The read-only view the cold path (report/, bstrcheck_describe) takes of
 * the table: every record copied out in one consistent cut, and the
 * table's counts at the same moment. Only the copy runs with the shards
 * locked: the buffer is sized and allocated with no lock held (and again,
 * larger, if the table grew meanwhile), so the report can allocate, group
 * and format as it likes. */
#include "bc.h"

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

bool bc_snapshot_take(bc_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
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
        if (!c.views)
            return false;
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
