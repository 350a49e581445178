/* A shard's arena (arena.h): chunks from mmap carved front to back, a free
 * list per power of two up to 2 KiB, and a mapping of its own for each
 * larger block. Used only under the shard's lock, so it needs none. */
#include "arena.h"

#include <sys/mman.h>

/* Nothing here calls the C library's allocator. */
#pragma GCC poison malloc calloc realloc free bc_internal_free

/* Chunks start small (a process that makes a few BSTRs touches a page or
 * two of each shard it uses) and double up to 1 MiB. */
#define CHUNK_FIRST (64u << 10)
#define CHUNK_MAX (1u << 20)
/* What a large block is counted as (mmap rounds up to its own pages). */
#define PAGE 4096u

/* LeakSanitizer's, when the process has it: it does not scan mappings of
 * its own accord, and a quarantined BSTR's block is held only by its
 * record. (It takes only LeakSanitizer's own lock: no callback.) */
extern void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));

static void dcheck_locked(void)
{
    BC_DCHECK(bc_shard_locks_held > 0, "the table's arena was used without a shard lock");
}

static void *map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* SIZE (a multiple of 16) bytes from the current chunk, or a new one: the
 * old chunk's rest is left untouched (never resident, never counted). */
static void *carve(bc_arena_t *arena, size_t size)
{
    if ((size_t)(arena->end - arena->next) < size) {
        size_t chunk = arena->chunk ? arena->chunk * 2 : CHUNK_FIRST;
        if (chunk > CHUNK_MAX)
            chunk = CHUNK_MAX;
        char *p = map(chunk);
        if (!p)
            return NULL;
#ifdef MADV_NOHUGEPAGE
        /* chunks of all shards lie side by side, mostly untouched at
         * first: a huge page would make a whole 2 MiB of them resident */
        madvise(p, chunk, MADV_NOHUGEPAGE);
#endif
        if (__lsan_register_root_region) /* (records live in chunks only) */
            __lsan_register_root_region(p, chunk);
        arena->chunk = chunk;
        arena->next = p;
        arena->end = p + chunk;
    }
    void *p = arena->next;
    arena->next += size;
    arena->bytes += size;
    return p;
}

/* The free list of a small SIZE: 0 for up to 64 bytes, 1 up to 128, ... */
static unsigned class_of(size_t size)
{
    return size <= 64 ? 0 : (unsigned)(64 - __builtin_clzll(size - 1)) - 6;
}

static size_t large_size(size_t size)
{
    return (size + PAGE - 1) & ~(size_t)(PAGE - 1);
}

void *bc_arena_alloc(bc_arena_t *arena, size_t size)
{
    dcheck_locked();
    if (size > BC_ARENA_SMALL_MAX) {
        void *p = map(size);
        if (p)
            arena->bytes += large_size(size);
        return p;
    }
    unsigned c = class_of(size);
    void **spare = arena->spare[c];
    if (spare) {
        arena->spare[c] = *spare;
        return spare;
    }
    return carve(arena, (size_t)64 << c);
}

void bc_arena_free(bc_arena_t *arena, void *p, size_t size)
{
    dcheck_locked();
    if (!p)
        return;
    if (size > BC_ARENA_SMALL_MAX) {
        munmap(p, size);
        arena->bytes -= large_size(size);
        return;
    }
    unsigned c = class_of(size);
    *(void **)p = arena->spare[c];
    arena->spare[c] = p;
}

void *bc_arena_keep(bc_arena_t *arena, size_t min, size_t size, size_t *got)
{
    dcheck_locked();
    for (unsigned c = BC_ARENA_CLASSES; c-- > 0 && ((size_t)64 << c) >= min;) {
        void **spare = arena->spare[c];
        if (spare) {
            arena->spare[c] = *spare;
            *got = (size_t)64 << c;
            return spare;
        }
    }
    size = (size + 15) & ~(size_t)15;
    void *p = carve(arena, size);
    *got = p ? size : 0;
    return p;
}
