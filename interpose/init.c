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
    bc_runtimes_init();
    bc_stack_init();
    bc_inject_init();
    bc_break_init(); /* break_on_alloc (break_alloc.c) */
    if (bc_opt.guard_pages) {
        bc_guard_init();
        bc_fault_init();
    }
    bc_fork_init();
    __atomic_store_n(&bc_ready, 1, __ATOMIC_RELEASE);
}

void bc_init_slow(void)
{
    bc_depth++;
    pthread_once(&init_once, init_once_fn);
    bc_depth--;
}
