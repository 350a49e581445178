/* The shim's life in a process: set up at load, report at exit. Only the
 * shared library has these hooks (the unit tests link the core without
 * them). The exit report runs from the ELF destructor, which the dynamic
 * linker runs after the program's static destructors (exit handlers) and
 * after the destructors of every library that depends on the shim. */
#include "bc.h"
#include "report.h"

__attribute__((constructor)) static void bc_constructor(void)
{
    bc_ensure_init();
}

__attribute__((destructor)) static void bc_destructor(void)
{
    bc_ensure_init();
    if (BC_UNLIKELY(bc_depth > 0))
        bc_watchdog_arm(); /* exit() from a handler that interrupted a Sys* call */
    int status = bc_report_at_exit();
    if (status != 0)
        bc_exit_now(status);
}
