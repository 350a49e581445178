/* stack/: where a call came from. Two unwinders behind one capture
 * (stack.c: libunwind, frame pointers), the per-thread stack cache
 * (stack_cache.c) and the depot that turns a stack into a 32-bit id
 * (depot.c). It knows nothing of BSTRs, records or policy. */
#ifndef BC_STACK_H
#define BC_STACK_H

#include "platform.h"

/* -------------------------------------------------------------- "stack.c" */
/* At the first Sys* call, no shim lock held: load libunwind (or warn once
 * and fall back to unwind=fp when it cannot be used). */
void bc_stack_init(void);
/* Has bc_stack_init loaded libunwind? */
bool bc_stack_libunwind_loaded(void);
/* Capture the caller's stack into FRAMES (at most MAX entries), the shim's
 * own frames cut. Returns the number of frames. */
uint32_t bc_stack_capture(uintptr_t *frames, uint32_t max);
/* The stack words a walk depended on: where they are, and what they held. */
typedef struct bc_stack_word {
    uintptr_t addr, value;
} bc_stack_word_t;
typedef struct bc_stack_words {
    uint32_t count, cap; /* count > cap: too many to keep */
    bc_stack_word_t *word;
} bc_stack_words_t;
static inline void bc_stack_words_note(bc_stack_words_t *w, uintptr_t addr, uintptr_t value)
{
    if (w->count < w->cap)
        w->word[w->count] = (bc_stack_word_t){addr, value};
    w->count++;
}
/* Capture the stack of the outermost entry point's caller (bc_depth 1),
 * and the stack words the result depends on. False when those words are
 * not known (only the frames are then valid). */
bool bc_stack_capture_at_entry(uintptr_t *frames, uint32_t max, uint32_t *nframes,
                               bc_stack_words_t *words);
/* Changes when the set of executable mappings the fp walker knows does. */
uintptr_t bc_stack_code_version(void);

/* ------------------------------------------------------- "stack_cache.c" */
/* Capture and store in the depot: the common path of every entry point
 * (0 in a nested call). */
bc_stack_id_t bc_stack_here(void);
/* The same, whatever the depth (error reports). */
bc_stack_id_t bc_stack_now(void);
/* Code was unloaded: no cached stack may be trusted. */
void bc_stack_cache_invalidate(void);
/* Hits and misses of the stack caches of this thread and of the threads
 * that have exited, and self-checks run and failed (tests, benchmarks). */
typedef struct bc_stack_cache_stats {
    uint64_t hits, misses, checks, check_failures;
} bc_stack_cache_stats_t;
bc_stack_cache_stats_t bc_stack_cache_stats(void);
/* fork: the frame-pointer walker's module list lock. */
BC_FORK_CODE void bc_stack_lock(void);
BC_FORK_CODE void bc_stack_unlock(void);
BC_FORK_CODE void bc_stack_child_after_fork(void);

/* -------------------------------------------------------------- "depot.c" */
/* Deduplicate a stack into a 32-bit id; 0 when out of memory. */
bc_stack_id_t bc_depot_put(const uintptr_t *frames, uint32_t nframes);
/* The frames behind ID; nframes == 0 for id 0 or an unknown id. */
bc_stack_t bc_depot_get(bc_stack_id_t id);
uint32_t bc_depot_count(void);
/* fork (see "fork.c"): hold the depot across fork; the child gets a fresh
 * lock, and keeps the stacks. */
BC_FORK_CODE void bc_depot_lock(void);
BC_FORK_CODE void bc_depot_unlock(void);
BC_FORK_CODE void bc_depot_child_after_fork(void);
/* Call FN for every stored stack (report time). */
void bc_depot_foreach(void (*fn)(bc_stack_id_t, bc_stack_t, void *), void *arg);

#endif /* BC_STACK_H */
