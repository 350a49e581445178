/* The stack depot: every distinct stack is stored once and named by a
 * 32-bit id, so records carry 4 bytes instead of their frames. A hit, the
 * common case, takes no lock: an open-addressing table of entry pointers,
 * published with release stores and read with acquire loads. Only an
 * insert (a stack never seen before) takes the mutex. Stacks are never
 * removed, and entries live in an arena, so a reader never sees one move
 * or die. */
#include "stack.h"

#include <string.h>
#include <sys/mman.h>

typedef struct depot_entry {
    uint64_t hash;
    bc_stack_id_t id;
    uint32_t nframes;
    uintptr_t frames[];
} depot_entry_t;

/* 2^21 slots: 16 MiB of address space, touched only where entries land.
 * Filled to three quarters at most. */
#define SLOT_BITS 21
#define SLOT_COUNT (1u << SLOT_BITS)
#define MAX_STACKS (SLOT_COUNT / 4 * 3)

/* id -> entry: fixed chunks, so readers never see an array move. */
#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS (MAX_STACKS / CHUNK_SIZE + 1)

#define ARENA_CHUNK (1u << 20)

static pthread_mutex_t insert_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static depot_entry_t **slots; /* SLOT_COUNT, mapped on first insert */
static depot_entry_t **by_id[MAX_CHUNKS];
static uint32_t next_id = 1;
static char *arena_next, *arena_end;
static bool full_warned;

static uint64_t hash_frames(const uintptr_t *frames, uint32_t nframes)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ nframes;
    for (uint32_t i = 0; i < nframes; i++) {
        h ^= frames[i];
        h *= 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    return h | 1; /* never 0 */
}

static bool same(const depot_entry_t *e, uint64_t hash, const uintptr_t *frames,
                 uint32_t nframes)
{
    return e->hash == hash && e->nframes == nframes &&
           memcmp(e->frames, frames, nframes * sizeof *frames) == 0;
}

/* The slot holding this stack, or the empty slot where it would go. */
static depot_entry_t *probe(uint64_t hash, const uintptr_t *frames, uint32_t nframes,
                            uint32_t *empty)
{
    depot_entry_t **table = __atomic_load_n(&slots, __ATOMIC_ACQUIRE);
    if (!table) {
        *empty = UINT32_MAX;
        return NULL;
    }
    for (uint32_t i = (uint32_t)hash & (SLOT_COUNT - 1);; i = (i + 1) & (SLOT_COUNT - 1)) {
        depot_entry_t *e = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
        if (!e) {
            *empty = i;
            return NULL;
        }
        if (same(e, hash, frames, nframes))
            return e;
    }
}

static void *arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if ((size_t)(arena_end - arena_next) < size) {
        size_t chunk = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        char *mem = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return NULL;
        arena_next = mem;
        arena_end = mem + chunk;
    }
    void *p = arena_next;
    arena_next += size;
    return p;
}

BC_NOINLINE static bc_stack_id_t insert(uint64_t hash, const uintptr_t *frames, uint32_t nframes)
{
    bc_stack_id_t id = 0;
    pthread_mutex_lock(&insert_lock);
    if (!slots) {
        void *mem = mmap(NULL, SLOT_COUNT * sizeof *slots, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mem == MAP_FAILED)
            goto out;
        __atomic_store_n(&slots, mem, __ATOMIC_RELEASE);
    }
    uint32_t empty;
    depot_entry_t *e = probe(hash, frames, nframes, &empty); /* another thread may have won */
    if (e) {
        id = e->id;
        goto out;
    }
    if (next_id >= MAX_STACKS) {
        if (!full_warned)
            bc_warn("stack depot is full (%u stacks); new stacks are recorded as unknown",
                    MAX_STACKS);
        full_warned = true;
        goto out;
    }
    uint32_t chunk = next_id >> CHUNK_BITS;
    if (!by_id[chunk]) {
        depot_entry_t **ids = arena_alloc(CHUNK_SIZE * sizeof *ids);
        if (!ids)
            goto out;
        __atomic_store_n(&by_id[chunk], ids, __ATOMIC_RELEASE);
    }
    e = arena_alloc(sizeof *e + nframes * sizeof *frames);
    if (!e)
        goto out;
    e->hash = hash;
    e->id = next_id;
    e->nframes = nframes;
    memcpy(e->frames, frames, nframes * sizeof *frames);
    __atomic_store_n(&by_id[chunk][e->id & (CHUNK_SIZE - 1)], e, __ATOMIC_RELEASE);
    __atomic_store_n(&slots[empty], e, __ATOMIC_RELEASE);
    __atomic_store_n(&next_id, next_id + 1, __ATOMIC_RELEASE);
    id = e->id;
out:
    pthread_mutex_unlock(&insert_lock);
    return id;
}

bc_stack_id_t bc_depot_put(const uintptr_t *frames, uint32_t nframes)
{
    if (nframes == 0)
        return 0;
    uint64_t hash = hash_frames(frames, nframes);
    uint32_t empty;
    depot_entry_t *e = probe(hash, frames, nframes, &empty);
    return BC_LIKELY(e != NULL) ? e->id : insert(hash, frames, nframes);
}

bc_stack_t bc_depot_get(bc_stack_id_t id)
{
    bc_stack_t s = {0, NULL};
    if (id == 0 || id >= __atomic_load_n(&next_id, __ATOMIC_ACQUIRE))
        return s;
    depot_entry_t **ids = __atomic_load_n(&by_id[id >> CHUNK_BITS], __ATOMIC_ACQUIRE);
    depot_entry_t *e = ids ? __atomic_load_n(&ids[id & (CHUNK_SIZE - 1)], __ATOMIC_ACQUIRE) : NULL;
    if (e) {
        s.nframes = e->nframes;
        s.frames = e->frames;
    }
    return s;
}

uint32_t bc_depot_count(void)
{
    return __atomic_load_n(&next_id, __ATOMIC_ACQUIRE) - 1;
}

void bc_depot_foreach(void (*fn)(bc_stack_id_t, bc_stack_t, void *), void *arg)
{
    uint32_t n = bc_depot_count();
    for (bc_stack_id_t id = 1; id <= n; id++)
        fn(id, bc_depot_get(id), arg);
}

/* fork: only inserts lock (hits read without a lock), so holding the
 * insert lock across fork is all a child needs. */
void bc_depot_lock(void)
{
    pthread_mutex_lock(&insert_lock);
}

void bc_depot_unlock(void)
{
    pthread_mutex_unlock(&insert_lock);
}

void bc_depot_child_after_fork(void)
{
    insert_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}
