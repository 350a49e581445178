/* The stack depot: every distinct stack is stored once and named by a
 * 32-bit id, so records carry 4 bytes instead of their frames. Lookups take
 * a read lock; only an insert (a stack never seen before) takes the write
 * lock. Stacks are never removed. */
#include "bc.h"

#include <stdlib.h>
#include <string.h>

typedef struct depot_entry {
    UT_hash_handle hh;
    bc_stack_id_t id;
    uint32_t nframes;
    uintptr_t frames[]; /* the key */
} depot_entry_t;

/* id -> entry: fixed chunks, so readers never see an array move. */
#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 4096

static pthread_rwlock_t depot_lock = PTHREAD_RWLOCK_INITIALIZER;
static depot_entry_t *depot_by_frames;
static depot_entry_t **depot_chunks[MAX_CHUNKS];
static uint32_t depot_next_id = 1;
static bool depot_full_warned;

static depot_entry_t *lookup(const uintptr_t *frames, uint32_t nframes)
{
    depot_entry_t *e = NULL;
    HASH_FIND(hh, depot_by_frames, frames, nframes * sizeof(uintptr_t), e);
    return e;
}

BC_NOINLINE static bc_stack_id_t insert(const uintptr_t *frames, uint32_t nframes)
{
    bc_stack_id_t id = 0;
    pthread_rwlock_wrlock(&depot_lock);
    depot_entry_t *e = lookup(frames, nframes); /* another thread may have won */
    if (e) {
        id = e->id;
        goto out;
    }
    uint32_t chunk = depot_next_id >> CHUNK_BITS;
    if (chunk >= MAX_CHUNKS) {
        if (!depot_full_warned)
            bc_warn("stack depot is full; new stacks are recorded as unknown");
        depot_full_warned = true;
        goto out;
    }
    if (!depot_chunks[chunk]) {
        depot_chunks[chunk] = calloc(CHUNK_SIZE, sizeof(depot_entry_t *));
        if (!depot_chunks[chunk])
            goto out;
    }
    e = malloc(sizeof *e + nframes * sizeof(uintptr_t));
    if (!e)
        goto out;
    e->id = depot_next_id++;
    e->nframes = nframes;
    memcpy(e->frames, frames, nframes * sizeof(uintptr_t));
    HASH_ADD(hh, depot_by_frames, frames, nframes * sizeof(uintptr_t), e);
    depot_chunks[e->id >> CHUNK_BITS][e->id & (CHUNK_SIZE - 1)] = e;
    id = e->id;
out:
    pthread_rwlock_unlock(&depot_lock);
    return id;
}

bc_stack_id_t bc_depot_put(const uintptr_t *frames, uint32_t nframes)
{
    if (nframes == 0)
        return 0;
    pthread_rwlock_rdlock(&depot_lock);
    depot_entry_t *e = lookup(frames, nframes);
    bc_stack_id_t id = e ? e->id : 0;
    pthread_rwlock_unlock(&depot_lock);
    return id ? id : insert(frames, nframes);
}

bc_stack_t bc_depot_get(bc_stack_id_t id)
{
    bc_stack_t s = {0, NULL};
    pthread_rwlock_rdlock(&depot_lock);
    if (id != 0 && id < depot_next_id) {
        depot_entry_t *e = depot_chunks[id >> CHUNK_BITS][id & (CHUNK_SIZE - 1)];
        s.nframes = e->nframes;
        s.frames = e->frames; /* entries never move or die */
    }
    pthread_rwlock_unlock(&depot_lock);
    return s;
}

uint32_t bc_depot_count(void)
{
    pthread_rwlock_rdlock(&depot_lock);
    uint32_t n = depot_next_id - 1;
    pthread_rwlock_unlock(&depot_lock);
    return n;
}

void bc_depot_foreach(void (*fn)(bc_stack_id_t, bc_stack_t, void *), void *arg)
{
    uint32_t n = bc_depot_count();
    for (bc_stack_id_t id = 1; id <= n; id++)
        fn(id, bc_depot_get(id), arg);
}

void bc_depot_lock(void)
{
    pthread_rwlock_wrlock(&depot_lock);
}

void bc_depot_unlock(void)
{
    pthread_rwlock_unlock(&depot_lock);
}

void bc_depot_child_after_fork(void)
{
    /* glibc's rwlock remembers its writer's thread id, which the child's
     * thread does not have: unlocking would be taken for a reader's unlock. */
    pthread_rwlock_init(&depot_lock, NULL);
}
