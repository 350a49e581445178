/* The state every layer reads (state.h). The recursion guard is a counter,
 * not a flag: a real runtime's SysAllocString may call SysAllocStringLen
 * through its PLT, and only the outermost call may record. initial-exec
 * TLS keeps the hot test a single %fs-relative load, with no call into the
 * dynamic linker. */
#include "state.h"

#include <pthread.h>
#include <sched.h>

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

/* Fork-unsafe work in progress, forks waiting for it, and this thread's
 * nesting (state.h). */
static int unsafe_work BC_FORK_STATE;
static int forks_waiting BC_FORK_STATE;
static __thread int doing_unsafe BC_TLS;

void bc_fork_unsafe_begin(void)
{
    /* waiting for a fork with a lock the fork takes would never end */
    BC_DCHECK(bc_shard_locks_held == 0, "fork-unsafe work begun under a shard lock");
    if (doing_unsafe > 0) { /* counted already (a handler inside such work) */
        doing_unsafe++;
        return;
    }
    for (;;) {
        while (__atomic_load_n(&forks_waiting, __ATOMIC_SEQ_CST))
            sched_yield();
        __atomic_add_fetch(&unsafe_work, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&forks_waiting, __ATOMIC_SEQ_CST))
            break;
        __atomic_sub_fetch(&unsafe_work, 1, __ATOMIC_SEQ_CST); /* a fork came first */
    }
    doing_unsafe = 1; /* only once counted: a handler meanwhile waits too */
}

void bc_fork_unsafe_end(void)
{
    if (--doing_unsafe == 0)
        __atomic_sub_fetch(&unsafe_work, 1, __ATOMIC_RELEASE);
}

void bc_fork_wait_unsafe(void)
{
    __atomic_add_fetch(&forks_waiting, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&unsafe_work, __ATOMIC_SEQ_CST) > 0)
        sched_yield();
}

void bc_fork_unsafe_done(void)
{
    __atomic_sub_fetch(&forks_waiting, 1, __ATOMIC_SEQ_CST);
}

void bc_fork_unsafe_child_after_fork(void)
{
    /* the other threads, their work and their forks stayed behind; this
     * one's own (a fork from a handler inside such work) is still counted */
    unsafe_work = doing_unsafe > 0 ? 1 : 0;
    forks_waiting = 0;
}
