/* Start-up, in two steps, each lazy and thread-safe: another library's
 * constructor may call Sys* before ours has run.
 *   the core   options, runtimes, fork handlers: what forward mode's scan
 *              at load and the dlopen/dlclose wrappers need; cheap, maps
 *              nothing (lifecycle.c's constructor sets it up at the latest);
 *   arming     the table, libunwind and the stack machinery: at the first
 *              Sys* or bstrcheck_* call, before that call takes any shim
 *              lock. A process that never makes a BSTR never pays for it:
 *              no library loaded, no descriptor opened, no page written. */
#include "hooks.h"
#include "report.h"

#include <stdlib.h>
#include <unistd.h>

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

static void init_once_fn(void)
{
    bc_options_parse(options_env());
    if (bc_opt.help)
        bc_options_print_help(2);
    if (bc_opt.guard_pages && bc_opt.mode != BC_MODE_OWN) {
        /* page-heap blocks are the shim's own; real runtimes keep theirs */
        bc_warn("guard_pages=1 protects only the BSTRs bstrcheck allocates itself (mode own)");
    }
    bc_runtimes_init(bc_runtime_entries);
    bc_inject_init();
    bc_break_init(); /* break_on_alloc (break_alloc.c) */
    if (bc_opt.guard_pages) {
        bc_guard_init();
        bc_fault_init();
    }
    bc_fork_init();
    bc_events_set_abort_hook(bc_report_abort); /* abort_on_error */
    __atomic_store_n(&bc_ready, 1, __ATOMIC_RELEASE);
}


void bc_init_core(void)
{
    if (__atomic_load_n(&bc_ready, __ATOMIC_ACQUIRE))
        return;
    bc_depth++;
    pthread_once(&init_once, init_once_fn);
    bc_depth--;
}

/* Not a pthread_once: arming calls dlopen, and a thread inside dlopen()
 * (the dynamic linker's lock held) may call Sys* from a constructor and
 * wait for it. Threads that arm at once each do the (idempotent) work;
 * only the table's set-up (no foreign code) is done once, under the gate
 * (a fork never sees it half done). A call nested in
 * the shim (a signal handler's, while this thread arms) arms nothing: the
 * nested path (nested.c) needs none of it, and must not wait. */
static bool table_ready;

void bc_init_slow(void)
{
    bc_init_core();
    if (__atomic_load_n(&bc_armed, __ATOMIC_ACQUIRE) || bc_depth > 0)
        return;
    bc_depth++; /* the dynamic linker's mallocs and frees pass straight through */
    bc_arm_gate_lock();
    if (!table_ready) {
        bc_table_init();
        table_ready = true;
    }
    bc_arm_gate_unlock();
    /* dlopen, dlsym, dl_iterate_phdr: a fork in another thread meanwhile
     * would give the child the dynamic linker's locks or caches half way
     * through, and the child's own arming would hang or crash on them */
    bc_fork_unsafe_begin();
    bc_stack_init();
    bc_personality_init(); /* before a call can reach a runtime that throws */
    bc_fork_unsafe_end();
    bc_arm_gate_lock();
    __atomic_store_n(&bc_armed, 1, __ATOMIC_RELEASE);
    bc_arm_gate_unlock();
    bc_depth--;
}
