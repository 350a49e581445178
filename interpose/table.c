/* The allocation table: one record per BSTR the shim handed out, keyed by
 * pointer, in shards under separate locks so threads do not serialize on
 * one mutex. Each shard also keeps its part of the quarantine: freed
 * records stay findable (double frees, late use) and their memory is not
 * reused until the shard's share of quarantine_kb is exceeded. */
#include "bc.h"

#include <stdlib.h>

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
static uint64_t first_own_seq = 1;

void bc_table_init(void)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
    quarantine_per_shard = (size_t)bc_opt.quarantine_kb * 1024 / SHARD_COUNT;
}

static bc_shard_t *shard_of(uintptr_t bstr)
{
    /* BSTRs are 8-aligned: drop the constant bits, then mix. */
    uint64_t h = (uint64_t)(bstr >> 3) * 0x9E3779B97F4A7C15ull;
    return &shards[h >> (64 - SHARD_BITS)];
}

bc_shard_t *bc_table_lock(uintptr_t bstr)
{
    bc_shard_t *shard = shard_of(bstr);
    pthread_mutex_lock(&shard->lock);
    return shard;
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

bool bc_shard_insert(bc_shard_t *shard, uintptr_t bstr, uint32_t bytes, bc_stack_id_t stack)
{
    bc_record_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return false;
    rec->bstr = bstr;
    rec->bytes = bytes;
    rec->alloc_stack = stack;
    rec->seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
    rec->state = BC_LIVE;
    HASH_ADD(hh, shard->records, bstr, sizeof rec->bstr, rec);
    shard->counts.allocations++;
    return true;
}

/* The record leaves the table for good and its memory goes back. */
static void release(bc_shard_t *shard, bc_record_t *rec)
{
    HASH_DELETE(hh, shard->records, rec);
    bc_own_release((bc_bstr_t)rec->bstr, rec->bytes);
    free(rec);
}

void bc_shard_retire(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t free_stack)
{
    rec->state = BC_FREED;
    rec->free_stack = free_stack;
    shard->counts.frees++;
    if (quarantine_per_shard == 0) {
        release(shard, rec);
        return;
    }
    rec->qnext = NULL;
    if (shard->q_tail)
        shard->q_tail->qnext = rec;
    else
        shard->q_head = rec;
    shard->q_tail = rec;
    shard->q_bytes += bc_own_block_size(rec->bytes);
    while (shard->q_bytes > quarantine_per_shard && shard->q_head) {
        bc_record_t *old = shard->q_head;
        shard->q_head = old->qnext;
        if (!shard->q_head)
            shard->q_tail = NULL;
        shard->q_bytes -= bc_own_block_size(old->bytes);
        release(shard, old);
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

uint64_t bc_table_first_own_seq(void)
{
    return first_own_seq;
}

void bc_table_child_after_fork(void)
{
    /* Re-initialized, not unlocked: the child's only thread is not the one
     * that locked them, and no other thread is left to hold one. */
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        shards[i].counts.allocations = 0;
        shards[i].counts.frees = 0;
    }
    first_own_seq = next_seq;
}
