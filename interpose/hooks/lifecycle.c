/* The shim's life in a process: set up at load, report at exit. Only the
 * shared library has these hooks (the unit tests link the core without
 * them).
 *
 * The report must run after every destructor: the program's static ones,
 * and every library's, including runtimes that do not link the shim and
 * so are finalized after it (a runtime that frees a BSTR in its own
 * destructor has not leaked it). The shim's ELF destructor runs inside
 * glibc's _dl_fini, itself the first exit handler registered and so the
 * last to run; an exit handler registered from there (not tied to any
 * module) runs right after _dl_fini returns, before stdio is flushed and
 * the process ends. If that registration is refused, the report runs at
 * once, as before. */
#include "hooks.h"
#include "report.h"

int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

/* Only the core: what costs waits for the first Sys* call (init.c). */
__attribute__((constructor)) static void bc_constructor(void)
{
    bc_init_core();
    /* the global runtime, before any user code runs */
    bc_runtimes_scan(BC_SCAN_GLOBAL | BC_SCAN_SETTLE);
}

static void report_at_exit(void *arg)
{
    (void)arg;
    if (BC_UNLIKELY(bc_depth > 0))
        bc_watchdog_arm(); /* exit() from a handler that interrupted a Sys* call */
    int status = bc_report_at_exit();
    if (status != 0)
        bc_exit_now(status);
}

__attribute__((destructor)) static void bc_destructor(void)
{
    bc_init_core();
    if (__cxa_atexit(report_at_exit, NULL, NULL) != 0)
        report_at_exit(NULL);
}
