/* table/: a shard's own memory (table.c only). Everything the table
 * allocates under a shard lock comes from its shard's arena: record slabs,
 * quarantine rings, uthash's tables and buckets. Pages come from mmap, a
 * system call that takes no user-space lock, so no foreign code (malloc,
 * free) runs under the lock. Nothing is mapped before the first use. */
#ifndef BC_ARENA_H
#define BC_ARENA_H

#include "state.h"

/* Blocks up to 2 KiB, in powers of two from 64 bytes, are carved from
 * chunks and kept on a free list per size when given back; larger ones are
 * mappings of their own, unmapped when given back. */
#define BC_ARENA_CLASSES 6
#define BC_ARENA_SMALL_MAX (64u << (BC_ARENA_CLASSES - 1))

typedef struct bc_arena {
    char *next, *end; /* the current chunk's untouched rest */
    size_t chunk;     /* the size of the last chunk mapped */
    size_t bytes;     /* what is held: carved from chunks, or mapped alone */
    void *spare[BC_ARENA_CLASSES];
} bc_arena_t;

/* With the arena's shard locked (all of these). SIZE bytes, 16-aligned;
 * NULL when the system has no memory left. */
void *bc_arena_alloc(bc_arena_t *arena, size_t size);
/* Give back P (NULL: nothing), allocated with the same SIZE. */
void bc_arena_free(bc_arena_t *arena, void *p, size_t size);
/* Memory kept for good (records): a block given back and since idle, when
 * one is at least MIN bytes (so none lies unused), else SIZE fresh bytes.
 * *GOT gets its size; NULL when out of memory. */
void *bc_arena_keep(bc_arena_t *arena, size_t min, size_t size, size_t *got);

#endif /* BC_ARENA_H */
