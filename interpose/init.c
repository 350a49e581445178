/* Start-up and shut-down. Initialization is lazy and thread-safe: another
 * library's constructor may call Sys* before ours has run. The exit report
 * runs from our ELF destructor, which the dynamic linker runs after the
 * program's static destructors (exit handlers) and after the destructors of
 * every library that depends on the shim. */
#include "bc.h"
#include "report.h"

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
    if (bc_opt.mode == BC_MODE_FORWARD) {
        bc_warn("mode=forward is not available in this version; using mode=own");
        bc_opt.mode = BC_MODE_OWN;
    }
    bc_table_init();
    bc_stack_init();
    bc_fork_init();
    __atomic_store_n(&bc_ready, 1, __ATOMIC_RELEASE);
}

void bc_init_slow(void)
{
    bc_depth++;
    pthread_once(&init_once, init_once_fn);
    bc_depth--;
}

__attribute__((constructor)) static void bc_constructor(void)
{
    bc_ensure_init();
}

__attribute__((destructor)) static void bc_destructor(void)
{
    bc_ensure_init();
    int status = bc_report_at_exit();
    if (status != 0)
        bc_exit_now(status);
}
