/* The read-only snapshot the report takes of the table (snapshot.c): one
 * consistent cut (its records and its counts from the same moment, even
 * while another thread keeps inserting, which makes the buffer too small
 * and the copy start again), each view a faithful copy, and a sample read
 * only from the very BSTR the view saw while it is live. */
#include "hooks.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BASE 5000
#define WIDTH 2

static void insert(uintptr_t p, uint32_t bytes, bc_stack_id_t stack)
{
    bc_shard_t *shard = bc_table_lock_home(p);
    bc_shard_insert(shard, p, bytes, stack, BC_RUNTIME_OWN);
    bc_table_unlock(shard);
}

static volatile int stop;
static uintptr_t fake_next = 0x7f0000000000;

static void *inserter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200000; i++) {
        insert(fake_next, 8, 7);
        fake_next += 64;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int by_bstr(const void *a, const void *b)
{
    uintptr_t x = ((const bc_record_view_t *)a)->bstr, y = ((const bc_record_view_t *)b)->bstr;
    return x < y ? -1 : x > y;
}

int main(void)
{
    bc_options_parse(NULL);
    bc_table_init();
    tap_plan(7);

    /* real memory behind the records, for the samples: "snap" at width 2 */
    static uint16_t strings[BASE][8];
    for (int i = 0; i < BASE; i++) {
        const char *text = "snapshot";
        for (int k = 0; k < 8; k++)
            strings[i][k] = (uint16_t)text[k];
        insert((uintptr_t)strings[i], 16, (bc_stack_id_t)(i % 5 + 1));
    }
    bc_snapshot_t snap;
    bool taken = bc_snapshot_take(&snap, true);
    tap_ok(taken && snap.count == BASE, "a snapshot holds every record (%zu)", snap.count);
    qsort(snap.records, snap.count, sizeof *snap.records, by_bstr);
    bool faithful = true;
    for (size_t i = 0; i < snap.count; i++) {
        const bc_record_view_t *v = &snap.records[i];
        faithful &= v->bstr == (uintptr_t)strings[i] && v->bytes == 16 && v->state == BC_LIVE &&
                    v->alloc_stack == (bc_stack_id_t)(i % 5 + 1) && v->seq != 0;
    }
    tap_ok(faithful, "each view copies its record's pointer, length, state and stack");
    bc_sample_t sample;
    tap_ok(bc_snapshot_sample(&snap.records[0], &sample) && sample.bytes == 16 &&
               memcmp(sample.raw, strings[0], 16) == 0,
           "the sample of a live BSTR is its text");

    /* the BSTR is freed, then another record takes its address */
    bc_record_t *rec;
    BC_EVICTED(out);
    bc_shard_t *shard = bc_table_lock_find((uintptr_t)strings[0], &rec);
    if (rec)
        bc_shard_drop(shard, rec);
    bc_table_unlock(shard);
    bc_release_evicted(&out);
    insert((uintptr_t)strings[0], 16, 9);
    tap_ok(!bc_snapshot_sample(&snap.records[0], &sample),
           "no sample from a newer BSTR at the same address");
    bc_snapshot_free(&snap);

    /* a cut taken while another thread inserts: records and counts agree */
    pthread_t t;
    pthread_create(&t, NULL, inserter, NULL);
    bool consistent = true;
    size_t grew = 0, last = 0;
    /* cuts until the inserter is done (and one more) */
    for (int round = 0, last_round = 0; !last_round; round++) {
        last_round = __atomic_load_n(&stop, __ATOMIC_ACQUIRE);
        if (!bc_snapshot_take(&snap, true)) {
            consistent = false;
            break;
        }
        uint64_t live = snap.counts.allocations - snap.counts.frees;
        size_t lives = 0;
        for (size_t i = 0; i < snap.count; i++)
            lives += snap.records[i].state == BC_LIVE;
        consistent &= lives == live;
        grew += snap.count > last;
        last = snap.count;
        bc_snapshot_free(&snap);
    }
    pthread_join(t, NULL);
    tap_ok(consistent, "every cut's live records match its counts, taken while the table grows");
    tap_ok(grew > 1, "the table grew between cuts (%zu times)", grew);
    tap_ok(snap.records == NULL && snap.count == 0, "a freed snapshot is empty");
    return tap_done();
}
