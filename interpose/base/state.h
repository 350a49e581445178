/* base/: the shim's per-thread and per-process state, which every layer
 * reads and none owns (the launcher does not include it). Defined in
 * state.c; written by the layer each comment names. */
#ifndef BC_STATE_H
#define BC_STATE_H

#include "base.h"

#include <pthread.h>

#define BC_TLS __attribute__((tls_model("initial-exec")))

/* ---- the process ---- */
/* Two steps of start-up (hooks/init.c). The core (options, runtimes, fork
 * handlers: cheap, nothing mapped) is set up at load; what costs (libunwind,
 * stack machinery) at the first Sys* call or bstrcheck_* call. */
extern volatile int bc_ready;    /* the core: options read, runtimes known */
extern volatile int bc_armed;    /* and the rest: a Sys* call was made */
extern volatile int bc_finished; /* the exit report has run */
/* Held by fork (hooks/fork.c) and by the steps of arming a child must not
 * inherit half done (init, stack); bc_armed changes only under it. */
BC_FORK_CODE void bc_arm_gate_lock(void);
BC_FORK_CODE void bc_arm_gate_unlock(void);
BC_FORK_CODE void bc_arm_gate_child_after_fork(void);

/* Work that a fork in another thread must not cut in half, because the
 * child would inherit it half done: a libunwind walk (its cache's mutex),
 * arming (dlopen, dlsym, dl_iterate_phdr: the dynamic linker's locks and
 * caches). A fork waits until
 * none is in progress (bc_fork_wait_unsafe, before it takes any lock but
 * the report's: a report may walk a stack), and
 * none starts until the fork is done (bc_fork_unsafe_done, in the parent).
 * Work nested in such work on one thread (a fault handler's walk) does not
 * wait. Never begun with a shim lock held. */
void bc_fork_unsafe_begin(void);
void bc_fork_unsafe_end(void);
BC_FORK_CODE void bc_fork_wait_unsafe(void);
BC_FORK_CODE void bc_fork_unsafe_done(void);
BC_FORK_CODE void bc_fork_unsafe_child_after_fork(void);

/* ---- this thread ---- */
/* Depth of Sys* calls on this thread: only the outermost one records
 * (hooks' BC_GUARD_ENTER/LEAVE). */
extern __thread int bc_depth BC_TLS;
/* The outermost call's own frame, where a stack of the program starts
 * (stack/); 0 outside the shim. */
extern __thread uintptr_t bc_entry_frame BC_TLS;
/* Calls passed straight to a runtime (hooks/entry.c) in progress on this
 * thread: a signal handler's may run while the code it interrupted holds a
 * lock. */
extern __thread int bc_passing BC_TLS;
/* The runtime this thread is calling into (0: none; runtime/forward.c). A
 * Sys* call made meanwhile is that runtime's own (through its PLT, a tail
 * call or not), and goes straight to it. */
extern __thread int bc_forwarding_rt BC_TLS;
/* An exception the runtime caught inside a call went past some of the
 * shim's frames without their cleanups (hooks/personality.c): the call's
 * end clears what they left (BC_GUARD_LEAVE). */
extern __thread int bc_unwound BC_TLS;
/* Shard locks this thread holds (table/). No foreign code (a real runtime,
 * free() of a BSTR's block, malloc, formatting) may run while it is above
 * 0: bc_no_lock_held says so once if it does, which the tests look for. */
extern __thread int bc_shard_locks_held BC_TLS;
void bc_lock_rule_broken(const char *what);
static inline void bc_no_lock_held(const char *what)
{
    if (BC_UNLIKELY(bc_shard_locks_held > 0) && !bc_passing)
        bc_lock_rule_broken(what);
}

#endif /* BC_STATE_H */
