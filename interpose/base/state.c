/* The state every layer reads (state.h). The recursion guard is a counter,
 * not a flag: a real runtime's SysAllocString may call SysAllocStringLen
 * through its PLT, and only the outermost call may record. initial-exec
 * TLS keeps the hot test a single %fs-relative load, with no call into the
 * dynamic linker. */
#include "state.h"

#include <pthread.h>

volatile int bc_ready;
volatile int bc_armed;
volatile int bc_finished;

__thread int bc_depth BC_TLS;
/* Its saved return address is the program's call, so unwind=fp starts
 * there and never walks the shim's own frames. */
__thread uintptr_t bc_entry_frame BC_TLS;
__thread int bc_passing BC_TLS;
__thread int bc_forwarding_rt BC_TLS;
__thread int bc_unwound BC_TLS;
__thread int bc_shard_locks_held BC_TLS;

/* Orders arming against fork (hooks/fork.c): held across the steps that
 * must not be cut in half in a child, never across a dynamic-linker call. */
static pthread_mutex_t arm_gate BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;

void bc_arm_gate_lock(void)
{
    pthread_mutex_lock(&arm_gate);
}

void bc_arm_gate_unlock(void)
{
    pthread_mutex_unlock(&arm_gate);
}

void bc_arm_gate_child_after_fork(void)
{
    arm_gate = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

void bc_lock_rule_broken(const char *what)
{
    /* a debug build stops at the first broken rule, where it happened */
    BC_DCHECK(false, what);
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        bc_warn("internal error: %s was called with a table lock held (please report this)",
                what);
}
