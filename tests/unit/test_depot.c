/* The stack depot: deduplication, ids, round trips, and concurrent puts. */
#include "hooks.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>

#define MANY 20000
#define THREADS 4
#define PER_THREAD 2000

/* Stack number K of a family: distinct content for distinct (family, k). */
static void make_stack(uintptr_t *frames, uint32_t n, uint32_t family, uint32_t k)
{
    for (uint32_t i = 0; i < n; i++)
        frames[i] = 0x400000u + ((uintptr_t)family << 40) + ((uintptr_t)k << 12) + i * 8u;
}

static bool stack_equals(bc_stack_t s, const uintptr_t *frames, uint32_t n)
{
    return s.nframes == n && s.frames && memcmp(s.frames, frames, n * sizeof *frames) == 0;
}

typedef struct worker {
    int index;
    bc_stack_id_t shared_ids[PER_THREAD]; /* stacks every thread puts */
    bc_stack_id_t own_ids[PER_THREAD];    /* stacks only this thread puts */
} worker_t;

static pthread_barrier_t start;

static int cmp_id(const void *x, const void *y)
{
    bc_stack_id_t a = *(const bc_stack_id_t *)x, b = *(const bc_stack_id_t *)y;
    return (a > b) - (a < b);
}

static void *work(void *arg)
{
    worker_t *w = arg;
    uintptr_t frames[12];
    pthread_barrier_wait(&start);
    for (uint32_t k = 0; k < PER_THREAD; k++) {
        /* interleave: shared stacks in an order that differs per thread */
        uint32_t ks = (k + (uint32_t)w->index * 500u) % PER_THREAD;
        make_stack(frames, 12, 100, ks);
        w->shared_ids[ks] = bc_depot_put(frames, 12);
        make_stack(frames, 12, 200 + (uint32_t)w->index, k);
        w->own_ids[k] = bc_depot_put(frames, 12);
    }
    return NULL;
}

int main(void)
{
    tap_plan(27);
    bc_options_parse(NULL);

    uintptr_t a[5] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000};
    uintptr_t a_copy[5] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000};
    uintptr_t b[5] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5008};

    bc_stack_id_t ida = bc_depot_put(a, 5);
    tap_ok(ida != 0, "put of a 5-frame stack gives a non-zero id (got %u)", ida);
    tap_is_uint(bc_depot_put(a_copy, 5), ida, "same frames (other buffer) give the same id");
    bc_stack_id_t idb = bc_depot_put(b, 5);
    tap_ok(idb != 0 && idb != ida, "different last frame gives a different id (%u vs %u)",
           idb, ida);
    bc_stack_id_t ida4 = bc_depot_put(a, 4);
    tap_ok(ida4 != 0 && ida4 != ida && ida4 != idb,
           "a prefix (4 of 5 frames) gives a different id (%u)", ida4);
    bc_stack_id_t ida1 = bc_depot_put(a, 1);
    tap_ok(ida1 != 0 && ida1 != ida4 && ida1 != ida,
           "a 1-frame stack gives its own id (%u)", ida1);
    tap_is_uint(bc_depot_put(a, 0), 0, "nframes == 0 gives id 0");
    tap_is_uint(bc_depot_put(NULL, 0), 0, "NULL frames with nframes == 0 give id 0");
    tap_is_uint(bc_depot_count(), 4, "depot holds 4 distinct stacks");

    bc_stack_t s = bc_depot_get(ida);
    tap_ok(stack_equals(s, a, 5), "get(ida) returns the 5 frames (nframes %u)", s.nframes);
    tap_ok(s.frames != a, "get returns the depot's copy, not the caller's buffer");
    s = bc_depot_get(idb);
    tap_ok(stack_equals(s, b, 5), "get(idb) returns b's frames");
    s = bc_depot_get(ida4);
    tap_ok(stack_equals(s, a, 4), "get(prefix id) returns 4 frames (nframes %u)", s.nframes);
    s = bc_depot_get(ida1);
    tap_ok(stack_equals(s, a, 1), "get(1-frame id) returns 1 frame (nframes %u)", s.nframes);

    s = bc_depot_get(0);
    tap_is_uint(s.nframes, 0, "get(0) has nframes 0");
    s = bc_depot_get(ida + 1000);
    tap_is_uint(s.nframes, 0, "get(an id never handed out) has nframes 0");
    s = bc_depot_get(0xFFFFFFFFu);
    tap_is_uint(s.nframes, 0, "get(0xFFFFFFFF) has nframes 0");

    /* Long stacks: the maximum. */
    uintptr_t big[BC_MAX_FRAMES];
    make_stack(big, BC_MAX_FRAMES, 7, 7);
    bc_stack_id_t idbig = bc_depot_put(big, BC_MAX_FRAMES);
    s = bc_depot_get(idbig);
    tap_ok(idbig != 0 && stack_equals(s, big, BC_MAX_FRAMES),
           "a %d-frame stack round-trips", BC_MAX_FRAMES);

    /* Many distinct stacks, more than one id chunk (4096). */
    bc_stack_id_t *ids = calloc(MANY, sizeof *ids);
    if (!ids)
        return 1;
    uintptr_t frames[8];
    uint32_t zero = 0, bad_round_trip = 0, not_dedup = 0;
    for (uint32_t k = 0; k < MANY; k++) {
        make_stack(frames, 1 + k % 8, 1, k);
        ids[k] = bc_depot_put(frames, 1 + k % 8);
        zero += ids[k] == 0;
    }
    tap_is_uint(zero, 0, "%d distinct stacks: none gets id 0", MANY);
    for (uint32_t k = 0; k < MANY; k++) {
        make_stack(frames, 1 + k % 8, 1, k);
        bad_round_trip += !stack_equals(bc_depot_get(ids[k]), frames, 1 + k % 8);
        not_dedup += bc_depot_put(frames, 1 + k % 8) != ids[k];
    }
    tap_is_uint(bad_round_trip, 0, "%d distinct stacks all round-trip", MANY);
    tap_is_uint(not_dedup, 0, "%d stacks put again return their first id", MANY);
    uint32_t dup_ids = 0;
    for (uint32_t k = 1; k < MANY; k++)
        dup_ids += ids[k] != ids[k - 1] + 1; /* ids are handed out in order */
    tap_is_uint(dup_ids, 0, "distinct stacks got distinct, consecutive ids");
    tap_is_uint(bc_depot_count(), 5 + MANY, "depot count is %d", 5 + MANY);
    free(ids);

    /* Four threads: shared stacks get one id everywhere, own stacks differ. */
    static worker_t workers[THREADS];
    pthread_t tids[THREADS];
    uint32_t before = bc_depot_count();
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        workers[t].index = t;
        pthread_create(&tids[t], NULL, work, &workers[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(tids[t], NULL);
    pthread_barrier_destroy(&start);

    uint32_t shared_mismatch = 0, zero_ids = 0, collide = 0, bad = 0;
    uintptr_t f12[12];
    size_t nall = 0;
    bc_stack_id_t *all = calloc((size_t)PER_THREAD * (1 + THREADS), sizeof *all);
    if (!all)
        return 1;
    for (uint32_t k = 0; k < PER_THREAD; k++) {
        for (int t = 0; t < THREADS; t++) {
            shared_mismatch += workers[t].shared_ids[k] != workers[0].shared_ids[k];
            zero_ids += workers[t].shared_ids[k] == 0 || workers[t].own_ids[k] == 0;
            make_stack(f12, 12, 200 + (uint32_t)t, k);
            bad += !stack_equals(bc_depot_get(workers[t].own_ids[k]), f12, 12);
            all[nall++] = workers[t].own_ids[k];
        }
        make_stack(f12, 12, 100, k);
        bad += !stack_equals(bc_depot_get(workers[0].shared_ids[k]), f12, 12);
        all[nall++] = workers[0].shared_ids[k];
    }
    qsort(all, nall, sizeof *all, cmp_id);
    for (size_t i = 1; i < nall; i++)
        collide += all[i] == all[i - 1];
    free(all);
    tap_is_uint(zero_ids, 0, "threads: no id 0");
    tap_is_uint(shared_mismatch, 0, "threads: same stack -> same id in all %d threads", THREADS);
    tap_is_uint(collide, 0, "threads: different stacks -> different ids");
    tap_is_uint(bad, 0, "threads: every id returns its own frames");
    tap_is_uint(bc_depot_count() - before, PER_THREAD * (1 + THREADS),
                "threads: exactly %d new stacks stored", PER_THREAD * (1 + THREADS));

    return tap_done();
}
