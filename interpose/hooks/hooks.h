/* hooks/: where the process enters the shim. The exported Sys* entry
 * points and bstrcheck_* API, the free()/realloc() and dlopen()/dlclose()
 * wrappers, constructors and destructors, the signal, fork and exit hooks,
 * and the personality routine of the entry points' cleanups. The only
 * callers of report/. */
#ifndef BC_HOOKS_H
#define BC_HOOKS_H

#include "check.h"

/* --------------------------------------------------------------- "init.c" */
/* Two steps. The core (options, runtimes, fork handlers: cheap, nothing
 * mapped) is set up at load; what costs (libunwind, stack machinery) at the
 * first Sys* call or bstrcheck_* call, so that a process that never makes
 * a BSTR does not pay for it. */
/* (bc_ready, bc_armed, bc_finished and the arm gate: base/state.h) */
void bc_init_core(void);
void bc_init_slow(void);
/* Before a Sys* call: everything set up. */
static inline void bc_ensure_init(void)
{
    if (BC_UNLIKELY(!bc_armed))
        bc_init_slow();
}

/* --------------------------------------------------------- "catch_free.c" */
/* Modules loaded since start-up get their free()/realloc() slots pointed
 * at the wrappers (only when an allocator is preloaded ahead of the shim). */
void bc_catch_free_rescan(void);

/* ----------------------------------------------------------- "watchdog.c" */
/* The exit report may hang (exit() was called inside a Sys* call): end the
 * process after a few seconds with a warning if it has not finished. */
void bc_watchdog_arm(void);

/* ------------------------------------------------------------ the guard */
/* Entering and leaving the shim from the program's code (an exported
 * function): the outermost call notes its frame, and forgets it on the way
 * out, so no later capture starts from a frame that is gone. */
#define BC_GUARD_ENTER()                                                    \
    do {                                                                    \
        if (bc_depth++ == 0)                                                \
            bc_entry_frame = (uintptr_t)__builtin_frame_address(0);         \
    } while (0)
#define BC_GUARD_LEAVE()                                                    \
    do {                                                                    \
        if (--bc_depth == 0) {                                              \
            bc_entry_frame = 0;                                             \
            if (BC_UNLIKELY(bc_unwound)) /* lost frames inside this call */ \
                bc_unwound = bc_passing = 0;                                \
        }                                                                   \
    } while (0)

/* -------------------------------------------------------------- "fault.c" */
/* Install the SIGSEGV handler that turns guard-page faults into findings. */
void bc_fault_init(void);

/* ------------------------------------------------------- "personality.c" */
/* Find the unwinder the shim's cleanups belong to (at arming: a process
 * that makes no Sys* call never needs it). Until then every unwinder is
 * treated as foreign, whose frames' cleanups lost_cleanups stands in for. */
void bc_personality_init(void);

/* ------------------------------------------------------------- "entry.c" */
/* Per runtime index, its ten entry points: a module whose calls must reach
 * its own runtime gets its PLT slots pointed at these (runtime/). */
extern void *const bc_runtime_entries[BC_MAX_RUNTIMES][BC_FN_COUNT];

/* --------------------------------------------------------------- "fork.c" */
/* Register the fork handlers (once, from init): every lock of the shim is
 * taken before fork in one fixed order, so no child inherits a locked one. */
void bc_fork_init(void);
/* Forks that locked the depot and the events: none before the first Sys*
 * call (tests). */
extern unsigned bc_fork_armed_count;

#endif /* BC_HOOKS_H */
