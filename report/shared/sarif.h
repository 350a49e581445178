/* The one SARIF 2.1.0 writer (sarif.c) and the model its two callers fill:
 * the shim's per-process log (sarif_shim.c, from findings, depot stacks and
 * the symbolizer) and the launcher's merged log (launcher/sarif.c, from the
 * per-process JSON reports). A log is bc_sarif_begin, one bc_sarif_result
 * per finding, bc_sarif_end. Nothing here allocates. */
#ifndef BC_SARIF_H
#define BC_SARIF_H

#include "output.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A stack of ROLE: symbolized frames (bc_frame_info_t; pc is not
 * written), innermost first, inlined calls as frames of their own. */
typedef struct bc_sarif_stack {
    bc_role_t role;
    const bc_frame_info_t *frames;
    size_t nframes; /* 0: left out */
} bc_sarif_stack_t;

/* One finding. Strings are UTF-8; NULL means "not known". */
typedef struct bc_sarif_result {
    int kind;              /* a bc_kind_t, or -1 for a kind not in the table */
    const char *kind_name; /* the ruleId; bc_kind_names[kind] when NULL */
    const char *detail;    /* an error's one line (leaks: not used) */
    uint64_t count, bytes;
    const char *sample;    /* the first characters, may hold NULs */
    size_t sample_len;     /* 0: no sample */
    uint64_t seq_first, seq_last; /* allocation numbers; 0: unknown */
    const char *rule_id, *rule_text; /* the ownership verdict, or NULL */
    const char *fingerprint;         /* bstrcheckFingerprint/v1 */
    bc_sarif_stack_t stacks[BC_ROLE_COUNT]; /* in the order to show them */
    size_t nstacks;
    /* where the result is located (one of the stacks' frames), or NULL;
     * without a file, its module, then EXE, stands in as the artifact, and
     * without WHERE or EXE the result has no location */
    const bc_frame_info_t *where;
    const char *exe;            /* the process's executable */
    const char *baseline_state; /* "new", "unchanged", "absent", or NULL */
    /* from a merged run: the message and properties name the process; PID 0
     * is a baseline's finding, whose EXE is no file */
    bool merged;
    int pid;
} bc_sarif_result_t;

/* The run's counts, as run.properties (the shim's summary). */
typedef struct bc_sarif_counts {
    const char *reason;
    uint64_t allocations, frees, leaked, leaked_bytes, suppressed;
} bc_sarif_counts_t;

/* The run: its invocation and, optionally, its counts. */
typedef struct bc_sarif_run {
    char *const *arguments; /* NULL-terminated command line, or NULL */
    int pid;                /* > 0: the invocation's processId */
    const char *exe;        /* executableLocation, or NULL / "" */
    bool working_directory; /* write the current directory */
    bool has_exit_code;
    int exit_code;
    const bc_sarif_counts_t *counts; /* or NULL */
} bc_sarif_run_t;

typedef struct bc_sarif_writer {
    bc_out_t *out;
    const bc_sarif_run_t *run;
    size_t nresults;
} bc_sarif_writer_t;

void bc_sarif_begin(bc_sarif_writer_t *w, bc_out_t *out, const bc_sarif_run_t *run);
void bc_sarif_result(bc_sarif_writer_t *w, const bc_sarif_result_t *result);
void bc_sarif_end(bc_sarif_writer_t *w);

#endif /* BC_SARIF_H */
