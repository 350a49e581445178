/* table/: the records, by BSTR pointer: sharded uthash tables, the
 * quarantine of freed records, and the lock-free filter that free() asks
 * first. It knows no runtime and no policy: a record carries its runtime's
 * index as a number, the caller says what a retired record holds back (its
 * footprint), and records leaving the quarantine are handed back to the
 * caller, who releases them after the unlock (the shape of
 * sanitizer_common's quarantine Recycle). Under a shard lock it calls no
 * foreign code, not even malloc: its memory is its own (arena.h). */
#ifndef BC_TABLE_H
#define BC_TABLE_H

#include "hash.h"

/* -------------------------------------------------------------- "table.c" */
typedef struct bc_record bc_record_t;
typedef struct bc_shard bc_shard_t;


/* The key, the BSTR pointer handed to the program, is held in hh.key
 * itself rather than pointed to: a record is 80 bytes, not 88. */
struct bc_record {
    UT_hash_handle hh;
    uint64_t seq;            /* allocation ordinal, for checkpoints */
    uint32_t bytes;          /* byte length at allocation (the prefix) */
    bc_stack_id_t alloc_stack;
    bc_stack_id_t free_stack;
    uint16_t pins;           /* SysAddRefString count */
    uint8_t state;           /* BC_LIVE or BC_FREED */
    uint8_t flags;           /* BC_FLAG_* (low 4 bits), runtime index (high 4) */
};

/* The metadata per live BSTR (docs/benchmarks.md, at most 96 bytes) is a
 * record plus its share of uthash's buckets: a field more is a new figure. */
_Static_assert(sizeof(bc_record_t) == 80, "a record is 80 bytes");

#define BC_RECORD_RUNTIME(rec) ((int)((rec)->flags >> 4))

static inline uintptr_t bc_record_bstr(const bc_record_t *rec)
{
    return (uintptr_t)rec->hh.key;
}

enum {
    BC_FLAG_FREE_PENDING = 1,  /* SysFreeString seen while pinned */
    BC_FLAG_PREFIX_SEEN = 2,   /* prefix_corrupt already reported */
    BC_FLAG_OVERFLOW_SEEN = 4, /* overflow already reported */
    BC_FLAG_POISONED = 8,      /* the freed body holds poison */
};

/* Once, before any other call (maps nothing: the shards' memory is mapped
 * at their first insert). */
void bc_table_init(void);
/* The shard this thread inserts BSTR into, locked: in its own group, or
 * next to an older record of BSTR another group still has. */
bc_shard_t *bc_table_lock_home(uintptr_t bstr);
/* The shard holding BSTR's record, locked, with the record in *REC; when
 * none holds one, *REC is NULL and the shard returned (locked) is only to
 * be unlocked: nothing is inserted through it. */
bc_shard_t *bc_table_lock_find(uintptr_t bstr, bc_record_t **rec);
/* The same without waiting: NULL when a shard is busy (nested.c). */
bc_shard_t *bc_table_trylock_find(uintptr_t bstr, bc_record_t **rec);
void bc_table_unlock(bc_shard_t *shard);
/* With the shard locked: */
/* Insert a new live record; NULL when out of memory. Counts an allocation.
 * Records are never unmapped: a dropped one is reused, its key cleared. */
bc_record_t *bc_shard_insert(bc_shard_t *shard, uintptr_t bstr, uint32_t bytes,
                             bc_stack_id_t stack, int runtime);
/* Records pushed out of the quarantine: detached from the table under its
 * lock, copied here, and released by the caller after the unlock, since
 * releasing calls foreign code (a real runtime's SysFreeString, free()). */
#define BC_EVICT_MAX 8
typedef struct bc_evicted {
    unsigned count;
    bc_record_t rec[BC_EVICT_MAX];
} bc_evicted_t;
/* An empty batch (not = {0}: that would clear all of it on every free). */
#define BC_EVICTED(name) \
    bc_evicted_t name;   \
    name.count = 0
/* Mark REC freed (counts a free) and hold it in quarantine, where it
 * counts as FOOTPRINT bytes (the memory its block holds back, computed by
 * the caller before the lock: the table asks nobody under it); records
 * pushed out of the quarantine go to OUT (release them after the unlock).
 * True when REC stays in the quarantine (the caller may poison its body
 * before the unlock); false when it went to OUT itself. */
bool bc_shard_retire(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t free_stack,
                     size_t footprint, bc_evicted_t *out);
/* Forget REC without touching its memory (someone else released it);
 * counts a free if it was live. */
void bc_shard_drop(bc_shard_t *shard, bc_record_t *rec);
/* Detach RUNTIME's quarantined records (its module goes away), up to OUT's
 * room, from shard *CURSOR on (0 at first): each shard is unlocked before
 * this returns, and the caller releases OUT. False once none is left. */
bool bc_table_detach_runtime(int runtime, unsigned *cursor, bc_evicted_t *out);
/* Every record of runtime FROM now belongs to TO (an unloaded runtime's
 * live BSTRs become orphans). */
void bc_table_retag_runtime(int from, int to);
/* Lock every shard (report time, fork) and unlock them again. */
void bc_table_lock_all(void);
void bc_table_unlock_all(void);
/* With all shards locked: visit every record; count them; sum the counters. */
void bc_table_foreach(void (*fn)(const bc_record_t *, void *), void *arg);
size_t bc_table_records_locked(void);
/* Visit every record, locking one shard at a time (patiently: this runs
 * from the fault handler too). False if a shard could not be locked. */
bool bc_table_search(void (*fn)(const bc_record_t *, void *), void *arg);
bc_counts_t bc_table_counts(void);
/* A checkpoint marker: every allocation from now on gets an ordinal at or
 * above it. */
uint64_t bc_table_next_seq(void);
/* The first ordinal this process allocated itself: 1, or in a forked child
 * the ordinal at fork. Older records are the parent's, never our leaks. */
uint64_t bc_table_first_own_seq(void);
/* fork: hold the table (every shard, once anything was ever tracked), and
 * release it in the parent. */
BC_FORK_CODE void bc_table_fork_prepare(void);
BC_FORK_CODE void bc_table_fork_parent(void);
/* In a forked child, with the table held by the fork: fresh locks, zero
 * counters, and every record inherited (see bc_table_first_own_seq). */
BC_FORK_CODE void bc_table_child_after_fork(void);
/* The tables' shape, for tests and benchmarks: records; uthash's buckets;
 * the longest chain; records a find of every record compares in all
 * (its place in its chain, summed); tables uthash stopped expanding; bytes
 * the shards' arenas hold (slabs, buckets, tables, rings, idle blocks). */
typedef struct bc_table_shape {
    size_t records, buckets, longest_chain, compares, unexpandable, bytes;
} bc_table_shape_t;
void bc_table_shape(bc_table_shape_t *out);

/* ------------------------------------------------------- "table.c": the filter */
/* May P be a tracked BSTR, or a block start 4 or 8 bytes before one (what a
 * free() of it would be handed)? False means surely not. Lock-free. */
bool bc_table_may_hold(uintptr_t p);
/* Where the filter lies: untouched until the first BSTR is tracked (a
 * process's RSS counts only the pages written), never read by free() or
 * realloc() before the first Sys* call or with catch_free=0 (tests). */
void bc_table_filter_extent(uintptr_t *lo, size_t *size);

#endif /* BC_TABLE_H */
