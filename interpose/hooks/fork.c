/* fork(): the child must not inherit a locked table, and must not report
 * its parent's BSTRs as its own leaks. Every lock of the shim is taken
 * before fork, in one fixed order (the order the code nests them: report,
 * shards in index order, events, depot, runtime finder, fp walker), and
 * released after it in the
 * parent. The child, whose only thread is the forking one, gets fresh
 * locks, zero counters and no events; the records it inherits stay in its
 * table (it may still free them, or free one twice) but are never its
 * leaks. Its exit report goes to its own pid's files through %p.
 * exec needs nothing: LD_PRELOAD carries the shim into the new image. */
#include "hooks.h"
#include "report.h"

/* Whether this fork took the locks. Not when the forking thread is itself
 * inside a Sys* call (fork() from a signal handler that interrupted one):
 * it may hold one of them, and waiting for it would never end. While it
 * holds them, the thread counts as inside the shim (bc_depth), so that a
 * signal handler's Sys* call takes the lock-free path (nested.c). */
static __thread bool fork_locked BC_TLS;

/* Until the first Sys* call (bc_armed), the depot, the events and the
 * side table are unused: a fork neither locks nor resets them, which keeps
 * it as cheap as without the shim. The arm gate (init.c) orders arming
 * against fork: bc_armed changes under it, so a fork that saw it clear
 * ends before anything armed is used. */
static bool fork_armed BC_FORK_STATE; /* what this fork saw (the gate serializes forks) */
unsigned bc_fork_armed_count BC_FORK_STATE; /* forks that took the tracking locks (tests) */

/* The order is the order the code nests the locks in. (No real runtime
 * runs under any of them: a quarantined BSTR is released after its shard's
 * lock, and runtime lookups publish under the finder's lock only.) The
 * shards are taken only once anything was ever tracked. */
BC_FORK_CODE static void before_fork(void)
{
    fork_locked = bc_depth == 0;
    if (!fork_locked)
        return;
    bc_depth++;
    /* a report may walk a stack (a finding it says): it ends first */
    bc_report_lock();
    /* then the fork-unsafe work of other threads, which takes none of the
     * locks below before it ends (state.h) */
    bc_fork_wait_unsafe();
    bc_arm_gate_lock();
    fork_armed = bc_armed;
    bc_table_fork_prepare();
    if (fork_armed) {
        bc_fork_armed_count++;
        bc_events_lock();
        bc_depot_lock();
    }
    bc_runtimes_lock();
    bc_stack_lock();
    bc_platform_patch_lock();
}

BC_FORK_CODE static void after_fork_parent(void)
{
    if (!fork_locked)
        return;
    bc_platform_patch_unlock();
    bc_stack_unlock();
    bc_runtimes_unlock();
    if (fork_armed) {
        bc_depot_unlock();
        bc_events_unlock();
    }
    bc_table_fork_parent();
    bc_arm_gate_unlock();
    bc_fork_unsafe_done();
    bc_report_unlock();
    bc_depth--;
}

BC_FORK_CODE static void after_fork_child(void)
{
    /* not locked (a fork inside a Sys* call): armed or not, reset it all */
    bool armed = !fork_locked || fork_armed;
    if (fork_locked)
        bc_depth--;
    bc_arm_gate_child_after_fork();
    bc_fork_unsafe_child_after_fork();
    bc_platform_patch_child_after_fork();
    bc_stack_child_after_fork();
    if (armed) {
        bc_depot_child_after_fork();
        bc_side_child_after_fork();
        bc_events_child_after_fork();
    }
    bc_runtimes_child_after_fork();
    bc_table_child_after_fork();
    bc_report_child_after_fork();
}

void bc_fork_init(void)
{
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0)
        bc_warn("cannot register fork handlers; a forked child may report its parent's BSTRs");
}
