/* The allocation table: one record per BSTR the shim handed out, keyed by
 * pointer, in shards under separate locks so threads do not serialize on
 * one mutex. Each shard also keeps its part of the quarantine: freed
 * records stay findable (double frees, late use) and their memory is not
 * reused until the shard's share of quarantine_kb is exceeded. */
#include "bc.h"

#include <stdlib.h>
#include <time.h>

#define SHARD_BITS 6
#define SHARD_COUNT (1u << SHARD_BITS)

struct bc_shard {
    pthread_mutex_t lock;
    bc_record_t *records;
    bc_record_t *q_head, *q_tail; /* oldest first */
    size_t q_bytes;
    bc_counts_t counts;
} __attribute__((aligned(64)));

static bc_shard_t shards[SHARD_COUNT];
static size_t quarantine_per_shard;
static uint64_t next_seq = 1;

void bc_table_init(void)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
    quarantine_per_shard = (size_t)bc_opt.quarantine_kb * 1024 / SHARD_COUNT;
}

static bc_shard_t *shard_of(uintptr_t bstr)
{
    /* BSTRs are at least 4-aligned: drop the constant bits, then mix. */
    uint64_t h = (uint64_t)(bstr >> 2) * 0x9E3779B97F4A7C15ull;
    return &shards[h >> (64 - SHARD_BITS)];
}

bc_shard_t *bc_table_lock(uintptr_t bstr)
{
    bc_shard_t *shard = shard_of(bstr);
    pthread_mutex_lock(&shard->lock);
    return shard;
}

bc_shard_t *bc_table_trylock(uintptr_t bstr)
{
    bc_shard_t *shard = shard_of(bstr);
    return pthread_mutex_trylock(&shard->lock) == 0 ? shard : NULL;
}

void bc_table_unlock(bc_shard_t *shard)
{
    pthread_mutex_unlock(&shard->lock);
}

bc_record_t *bc_shard_find(bc_shard_t *shard, uintptr_t bstr)
{
    bc_record_t *rec = NULL;
    HASH_FIND(hh, shard->records, &bstr, sizeof bstr, rec);
    return rec;
}

bool bc_shard_insert(bc_shard_t *shard, uintptr_t bstr, uint32_t bytes, bc_stack_id_t stack,
                     int runtime)
{
    bc_record_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return false;
    rec->bstr = bstr;
    rec->bytes = bytes;
    rec->alloc_stack = stack;
    rec->seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
    rec->state = BC_LIVE;
    rec->flags = (uint8_t)(runtime << 4);
    HASH_ADD(hh, shard->records, bstr, sizeof rec->bstr, rec);
    if (!BC_HASH_ADDED(rec)) {
        bc_internal_free(rec);
        return false;
    }
    bc_filter_add(bstr);
    shard->counts.allocations++;
    return true;
}

/* The record leaves the table for good. */
static void forget(bc_shard_t *shard, bc_record_t *rec)
{
    HASH_DELETE(hh, shard->records, rec);
    bc_filter_remove(rec->bstr);
    bc_internal_free(rec);
}

/* Memory a quarantined record holds back (a real runtime's block is
 * counted as its data plus a header). */
static size_t bc_footprint(const bc_record_t *rec)
{
    if (BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN)
        return bc_own_footprint(rec->bytes);
    return (size_t)rec->bytes + 16;
}

void bc_shard_drop(bc_shard_t *shard, bc_record_t *rec)
{
    if (rec->state == BC_LIVE)
        shard->counts.frees++;
    if (rec->state == BC_FREED) {
        /* unlink from the quarantine FIFO */
        bc_record_t **link = &shard->q_head, *prev = NULL;
        while (*link && *link != rec) {
            prev = *link;
            link = &(*link)->qnext;
        }
        if (*link) {
            *link = rec->qnext;
            if (shard->q_tail == rec)
                shard->q_tail = prev;
            shard->q_bytes -= bc_footprint(rec);
        }
    }
    forget(shard, rec);
}

void bc_shard_retire(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t free_stack)
{
    rec->state = BC_FREED;
    rec->free_stack = free_stack;
    shard->counts.frees++;
    /* One larger than the shard's whole share would only push everything
     * out, itself included: it skips the quarantine (and the poisoning, which
     * for a huge untouched string would write gigabytes). */
    if (quarantine_per_shard == 0 || bc_footprint(rec) > quarantine_per_shard) {
        bc_on_evict(rec);
        forget(shard, rec);
        return;
    }
    bc_on_retire(rec);
    rec->qnext = NULL;
    if (shard->q_tail)
        shard->q_tail->qnext = rec;
    else
        shard->q_head = rec;
    shard->q_tail = rec;
    shard->q_bytes += bc_footprint(rec);
    while (shard->q_bytes > quarantine_per_shard && shard->q_head) {
        bc_record_t *old = shard->q_head;
        shard->q_head = old->qnext;
        if (!shard->q_head)
            shard->q_tail = NULL;
        shard->q_bytes -= bc_footprint(old);
        bc_on_evict(old);
        forget(shard, old);
    }
}

void bc_table_flush_runtime(int runtime)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        bc_shard_t *shard = &shards[i];
        pthread_mutex_lock(&shard->lock);
        bc_record_t *keep_head = NULL, *keep_tail = NULL;
        for (bc_record_t *rec = shard->q_head, *next; rec; rec = next) {
            next = rec->qnext;
            if (BC_RECORD_RUNTIME(rec) == runtime) {
                shard->q_bytes -= bc_footprint(rec);
                bc_on_evict(rec);
                forget(shard, rec);
                continue;
            }
            rec->qnext = NULL;
            if (keep_tail)
                keep_tail->qnext = rec;
            else
                keep_head = rec;
            keep_tail = rec;
        }
        shard->q_head = keep_head;
        shard->q_tail = keep_tail;
        pthread_mutex_unlock(&shard->lock);
    }
}

void bc_table_lock_all(void)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        pthread_mutex_lock(&shards[i].lock);
}

void bc_table_unlock_all(void)
{
    for (unsigned i = SHARD_COUNT; i-- > 0;)
        pthread_mutex_unlock(&shards[i].lock);
}

void bc_table_foreach(void (*fn)(const bc_record_t *, void *), void *arg)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            fn(rec, arg);
}

void bc_table_audit(void (*fn)(bc_record_t *, void *), void *arg)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            fn(rec, arg);
}

/* Lock SHARD, giving up after about a second: the search runs from a
 * signal handler, and a thread that died holding a lock must not hang it. */
static bool lock_patiently(bc_shard_t *shard)
{
    for (int tries = 0; tries < 1000; tries++) {
        if (pthread_mutex_trylock(&shard->lock) == 0)
            return true;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return false;
}

bool bc_table_search(void (*fn)(const bc_record_t *, void *), void *arg)
{
    bool complete = true;
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        if (!lock_patiently(&shards[i])) {
            complete = false;
            continue;
        }
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            fn(rec, arg);
        pthread_mutex_unlock(&shards[i].lock);
    }
    return complete;
}

bc_counts_t bc_table_counts(void)
{
    bc_counts_t sum = {0, 0};
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        sum.allocations += shards[i].counts.allocations;
        sum.frees += shards[i].counts.frees;
    }
    return sum;
}

uint64_t bc_table_next_seq(void)
{
    return __atomic_load_n(&next_seq, __ATOMIC_RELAXED);
}
