/* check/: the policy. What each Sys* call records, and which misuse it
 * reports: the bookkeeping around the runtime (track.c), reentrant calls
 * (nested.c, side.c), findings noticed under a lock and said after it
 * (notice.c, events.c), fault injection and break_on_alloc, and the one
 * read-only view the report takes (snapshot.c, snapshot.h). Below it:
 * runtime/, table/ and stack/, which it calls, and which never call it. */
#ifndef BC_CHECK_H
#define BC_CHECK_H

#include "runtime.h"
#include "snapshot.h"
#include "stack.h"
#include "table.h"

/* -------------------------------------------------------------- "track.c" */
/* What the entry points do once past the guard: the bookkeeping around the
 * runtime RT (the caller's). Each returns what the Sys* function returns.
 * A real runtime's nested calls never come here: entry.c passes them
 * through; nor do reentrant calls in own mode, which go to nested.c. */
bc_bstr_t bc_track_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_track_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_track_free(int rt, bc_bstr_t bstr);
/* SysStringByteLen (CHARS false) or SysStringLen (CHARS true). */
uint32_t bc_track_len(int rt, bc_bstr_t bstr, bool chars);
bc_hresult_t bc_track_addref(int rt, bc_bstr_t bstr);
void bc_track_release(int rt, bc_bstr_t bstr);
/* Length in OLECHARs of a NUL-terminated string of the current width. */
size_t bc_olestr_len(const void *psz);
/* free() or realloc() was handed P, which the filter says may be a BSTR.
 * foreign_free: true when the shim took care of P (do not free it);
 * foreign_realloc: BC_NOT_A_BSTR when P is none of ours, else the new
 * block. */
#define BC_NOT_A_BSTR ((void *)-1)
bool bc_track_foreign_free(void *p, const char *fn);
void *bc_track_foreign_realloc(void *p, size_t size);
/* Give back the memory of records that left the quarantine (no lock held):
 * writes after free are checked first. */
void bc_release_evicted(const bc_evicted_t *out);
/* A SysFreeString deferred by a reentrant call, done now (no stack). */
void bc_track_free_deferred(bc_bstr_t bstr);
/* The byte length of an own-mode request, and how many bytes of PSZ to
 * copy; UINT32_MAX or more means too long for the prefix. */
uint64_t bc_own_request(bc_alloc_kind_t kind, const void *psz, unsigned len, size_t *copy);

/* A module is being dlclose()d: the real SysFreeString of what its runtimes
 * hold in the quarantine, while their code exists (no lock held). */
void bc_track_module_closing(uintptr_t lo, uintptr_t hi);
/* It is gone: its runtimes' live BSTRs become orphans (leaks with their
 * stacks, never read again), and their slots are free. */
void bc_track_module_closed(uintptr_t lo, uintptr_t hi);
/* A dlopen() failed: the modules it had mapped and unmapped again are
 * gone in the same way. */
void bc_track_modules_pruned(void);
/* The OLECHAR width of REC's runtime. */
static inline unsigned bc_record_width(const bc_record_t *rec)
{
    return bc_runtime_width(BC_RECORD_RUNTIME(rec));
}
/* May REC's memory be read (not an orphan)? */
static inline bool bc_record_readable(const bc_record_t *rec)
{
    return BC_RECORD_RUNTIME(rec) != BC_RUNTIME_ORPHAN;
}

/* ------------------------------------------------------------ "inject.c" */
/* Fault injection (fail_rate, fail_nth, fail_seed, fail_once_per_stack). */
extern bool bc_inject_active; /* any of them set: the hot path tests this */
void bc_inject_init(void);
/* Should this allocation attempt, from STACK, fail? Counts the attempt,
 * and the injected failure. */
bool bc_inject_fail(bc_stack_id_t stack);

/* -------------------------------------------------------------- "side.c" */
/* BSTRs made by reentrant calls: lock-free, malloc-free, own layout. */
bc_bstr_t bc_side_alloc(const void *src, size_t copy, uint32_t bytes);
/* Each returns false when BSTR is not in the side table. */
bool bc_side_free(bc_bstr_t bstr);
bool bc_side_len(bc_bstr_t bstr, uint32_t *bytes);
bool bc_side_addref(bc_bstr_t bstr, bc_hresult_t *hr);
bool bc_side_release(bc_bstr_t bstr);
/* Report time: every live side BSTR as a record (runtime own, no stack). */
void bc_side_foreach_live(void (*fn)(const bc_record_t *, void *), void *arg);
bc_counts_t bc_side_counts(void);
/* fork: the child keeps the parent's side BSTRs (it may free them) but
 * neither counts nor reports them. */
BC_FORK_CODE void bc_side_child_after_fork(void);

/* ------------------------------------------------------------ "nested.c" */
bc_bstr_t bc_nested_alloc(bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_nested_realloc(bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_nested_free(bc_bstr_t bstr);
uint32_t bc_nested_len(bc_bstr_t bstr, bool chars);
bc_hresult_t bc_nested_addref(bc_bstr_t bstr);
void bc_nested_release(bc_bstr_t bstr);
/* Frees deferred by reentrant calls, waiting to be done. */
extern unsigned bc_deferred_pending;
/* Do them (outermost calls only: no lock held; hooks/entry.c, on the
 * way out of the outermost call, when any is pending). */
void bc_deferred_drain(void);
/* (at exit, bc_core_warn_at_exit in snapshot.h warns of what was lost) */

/* -------------------------------------------------------- "break_alloc.c" */
/* break_on_alloc: armed when the option names an ordinal; the check runs
 * on every tracked allocation, after the table's lock is released. */
extern bool bc_break_armed;
/* Arm it from the option (init). */
void bc_break_init(void);
void bc_break_check(uint64_t seq, bc_bstr_t bstr);

/* ------------------------------------------------------------- "events.c" */
/* Under REC's shard lock: the first characters of its string, if live and
 * readable (else OUT->bytes is 0). */
void bc_sample_copy(bc_sample_t *out, const bc_record_t *rec);

/* The stacks of one event, by role (0: none), named where it is made:
 * (bc_stacks_t){.alloc = rec->alloc_stack, .access = stack}. */
typedef struct bc_stacks {
    bc_stack_id_t alloc, free, previous_free, access; /* bc_role_t's order */
} bc_stacks_t;
/* Record an error event (slow path; never under a shard lock: it formats
 * and allocates). SAMPLE (may be NULL) is the string's sample. */
BC_NOINLINE void bc_event(bc_kind_t kind, bc_stacks_t stacks, const bc_sample_t *sample,
                          uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------- "notice.c" */
/* A finding noticed under a shard lock, said after the unlock. */
typedef enum {
    BC_SAY_PREFIX,           /* NUMBER: the prefix found; FN: when */
    BC_SAY_OVERFLOW,         /* NUMBER: bytes written past the end; FN: when */
    BC_SAY_USE_AFTER_FREE,   /* FN: the Sys* function */
    BC_SAY_UNPINNED_RELEASE,
    BC_SAY_MISMATCHED,       /* FN: free or realloc; PTR: what it was handed */
} bc_say_t;
typedef struct bc_notice {
    bc_say_t what;
    bc_record_t rec;       /* as it was when noticed */
    bc_stack_id_t access;  /* the call's stack; 0: captured when said */
    const char *fn;
    const void *ptr;
    uint64_t number;
    bc_sample_t sample;
} bc_notice_t;
#define BC_NOTICES_MAX 2 /* a free may find both a prefix and an overflow */
typedef struct bc_notices {
    unsigned count;
    bc_notice_t item[BC_NOTICES_MAX];
} bc_notices_t;
/* An empty list (not = {0}: that would clear all of it on every free). */
#define BC_NOTICES(name) \
    bc_notices_t name;   \
    name.count = 0
/* Under the lock: note a finding about REC (copied). */
bc_notice_t *bc_notice(bc_notices_t *notices, bc_say_t what, const bc_record_t *rec,
                       bc_stack_id_t access);
/* After the unlock: say them all (bc_event). */
void bc_notices_say(bc_notices_t *notices);
/* Count one of the informational counts (snapshot.h). */
void bc_count(bc_count_t which);
/* What abort_on_error runs with the finding that stops the process: the
 * report (hooks/ registers it, so the core never calls report/). */
void bc_events_set_abort_hook(void (*hook)(const bc_finding_t *finding));
/* fork: hold the events lock across it; the child starts with no events
 * (the parent's are the parent's to report) and a fresh lock. */
BC_FORK_CODE void bc_events_lock(void);
BC_FORK_CODE void bc_events_unlock(void);
BC_FORK_CODE void bc_events_child_after_fork(void);

/* Under REC's shard lock: the report's view of it. */
bc_record_view_t bc_record_view(const bc_record_t *rec);

#endif /* BC_CHECK_H */
