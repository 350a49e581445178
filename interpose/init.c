/* Start-up. Initialization is lazy and thread-safe: another library's
 * constructor may call Sys* before ours has run (lifecycle.c's constructor
 * only makes sure it happens at load at the latest). */
#include "bc.h"

#include <stdlib.h>
#include <unistd.h>

volatile int bc_ready;
volatile int bc_finished;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *options_env(void)
{
#if BC_OS_LINUX
    /* secure_getenv: a setuid program must not become a file writer. */
    return secure_getenv("BSTRCHECK_OPTIONS");
#else
    return getenv("BSTRCHECK_OPTIONS");
#endif
}

/* fork(): a child must never inherit a lock that another thread of the
 * parent held at the moment of the fork (that thread does not exist in the
 * child, so the lock would stay taken and the child's next Sys* call or its
 * exit report would hang). So fork waits until the shim is quiet: prepare
 * takes every shard, then the depot, then the events mutex (the order the
 * hot paths nest them in), and both sides release them afterwards (glibc's
 * plain mutexes may be unlocked by the child's copy of the forking thread;
 * the depot's rwlock is started afresh there). A minimal version: the
 * fork-handling work may replace it.
 *
 * Skipped when this thread is itself inside a Sys* call (fork() from a
 * signal handler that interrupted one): it may hold one of these locks,
 * and waiting for it would never end. */
static __thread bool fork_locked __attribute__((tls_model("initial-exec")));

static void before_fork(void)
{
    fork_locked = bc_ready && bc_depth == 0;
    if (!fork_locked)
        return;
    bc_depth++; /* holding shim locks: a handler's Sys* call must know */
    bc_table_lock_all();
    bc_depot_lock();
    bc_events_lock();
}

static void release_after_fork(bool in_child)
{
    if (!fork_locked)
        return;
    fork_locked = false;
    bc_events_unlock();
    bc_depot_unlock(in_child);
    bc_table_unlock_all();
    bc_depth--;
}

static void after_fork_parent(void)
{
    release_after_fork(false);
}

static void after_fork_child(void)
{
    release_after_fork(true);
}

static void init_once_fn(void)
{
    bc_options_parse(options_env());
    if (bc_opt.help)
        bc_options_print_help(2);
    if (bc_opt.guard_pages && bc_opt.mode != BC_MODE_OWN) {
        /* page-heap blocks are the shim's own; real runtimes keep theirs */
        bc_warn("guard_pages=1 protects only the BSTRs bstrcheck allocates itself (mode own)");
    }
    bc_table_init();
    bc_stack_init();
    bc_inject_init();
    if (bc_opt.guard_pages) {
        bc_guard_init();
        bc_fault_init();
    }
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0)
        bc_warn("cannot register the fork handlers; a child forked while other threads "
                "call Sys* may hang");
    __atomic_store_n(&bc_ready, 1, __ATOMIC_RELEASE);
}

void bc_init_slow(void)
{
    bc_depth++;
    pthread_once(&init_once, init_once_fn);
    bc_depth--;
}
