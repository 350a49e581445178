/* report/: the cold path, from the core's snapshot (check/snapshot.h, the
 * only core header it includes) to text, JSON, SARIF and the exit status:
 * grouping, symbolization (libdw), suppressions, verdicts. Runs at exit or
 * when hooks/ asks (the client API, a fault, abort_on_error), never on the
 * allocation path, and never with a shim lock held. */
#ifndef BC_REPORT_H
#define BC_REPORT_H

#include "hash.h"
#include "output.h"
#include "snapshot.h"

/* ----------------------------------------------------------- "symbolize.c" */
#define BC_MAX_INLINE 8
/* What DWARF says of the function that holds a return address, for the
 * ownership verdicts (verdict.c). Only a frame that is not inlined has a
 * shape; everything is false when nothing is known. */
typedef struct bc_function_shape {
    bool known;        /* DWARF describes the function and its parameters */
    bool returns_bstr; /* its return type is BSTR */
    bool bstr_out;     /* a BSTR* or BSTR& parameter ([out] or [in, out]) */
    bool bstr_in;      /* a BSTR parameter ([in]) */
    bool bstr_channel; /* a way to hand a BSTR to its caller: returns_bstr,
                          bstr_out, a pointer to a structure with a BSTR in
                          it (this included), void *, a returned structure
                          or pointer to one with a BSTR in it, ... */
    bool may_hand_on;  /* some way to pass a pointer out: a pointer or reference
                          parameter (this included) to anything but constant
                          data or characters, varargs, a returned pointer or
                          aggregate */
} bc_function_shape_t;
/* The shape of the function RA returns into (cached per address). */
bc_function_shape_t bc_symbolize_shape(uintptr_t ra);
/* Symbolize the return address RA into at most MAX frames (cached per
 * address): inlined calls first, marked inlined, then the function that
 * holds them. Returns the count, at least 1. */
size_t bc_symbolize(uintptr_t ra, bc_frame_info_t *out, size_t max);
/* Close the libdw session (after a report); the cache stays. */
void bc_symbolize_end(void);

/* How addresses were resolved so far (for tests): from DWARF, or from the
 * symbol table alone (the C library's start-up frames). */
typedef struct bc_symbolize_stats {
    unsigned long dwarf_lookups, symtab_only;
} bc_symbolize_stats_t;
bc_symbolize_stats_t bc_symbolize_stats(void);
/* What symbolizing a module's frames needs once it is unloaded: its path,
 * load bias and build-id, read from memory (no libdw). Take it for the
 * module at [LO, HI) before the real dlclose; NULL when there is none. */
typedef struct bc_module_note bc_module_note_t;
bc_module_note_t *bc_symbolize_note_module(uintptr_t lo, uintptr_t hi);
/* The module of NOTE was unloaded: the addresses in it of the stored
 * stacks 1..STACKS (those stored before the close) are resolved from its
 * file when a report shows them. Takes NOTE. */
void bc_symbolize_module_gone(bc_module_note_t *note, uint32_t stacks);
/* The program's executable path. */
const char *bc_exe_path(void);

/* -------------------------------------------------------------- "frames.c" */
/* The order a finding's stacks are shown in: what happened, then its
 * history (access, free, previous_free, alloc). */
extern const bc_role_t bc_role_display_order[BC_ROLE_COUNT];
/* Call FN for every symbolized frame of stack ID (inlined frames are frames
 * of their own), innermost first, with its number; stop when FN returns
 * false. Returns the number of frames visited. */
unsigned bc_frames_walk(bc_stack_id_t id,
                        bool (*fn)(const bc_frame_info_t *, unsigned, void *), void *arg);
/* Frame F as the text reports show it, "#NUMBER 0xPC in FUNCTION
 * FILE:LINE" (or "(MODULE+0xOFFSET)" without a file), cut to CAP bytes. */
#define BC_FRAME_TEXT_MAX 4096
void bc_frame_format(const bc_frame_info_t *f, unsigned number, char *buf, size_t cap);
/* The part of PATH after its last '/'. */
const char *bc_path_basename(const char *path);
/* A frame in the program's own code: it has a source file, and it is not
 * in the C or C++ runtime, the dynamic linker, the shim or a system header. */
bool bc_frame_is_user(const bc_frame_info_t *f);
/* The first frame of F, over its stacks in display order, that is in the
 * user's code; else the first one with a source file; else the first one.
 * False when F has no frame at all. */
bool bc_finding_primary_frame(const bc_finding_t *f, bc_frame_info_t *out);

/* ------------------------------------------------------------ "suppress.c" */
#define BC_KIND_ANY (-1)

typedef struct bc_suppress_rule {
    int kind;            /* a bc_kind_t, or BC_KIND_ANY for '*' */
    const char *pattern; /* '*' matches any run of characters */
    unsigned line;
} bc_suppress_rule_t;

typedef struct bc_suppressions {
    bc_suppress_rule_t *rules;
    size_t nrules;
    char *text; /* the file's text; patterns point into it */
} bc_suppressions_t;

/* Does PATTERN match the whole of TEXT? '*' matches any run of characters
 * (also none, also '/'); every other character matches only itself. */
bool bc_glob_match(const char *pattern, const char *text);
/* Parse TEXT (modified in place, kept by S) as a suppressions file named
 * NAME: "KIND:PATTERN" per line, '#' comments, blank lines. A malformed line
 * warns once, naming NAME:LINE, and is skipped. Returns the number of
 * malformed lines. */
size_t bc_suppressions_parse(bc_suppressions_t *s, const char *name, char *text);
/* Read and parse the file at PATH. An unreadable file warns once and
 * leaves S empty; returns false then. */
bool bc_suppressions_load(bc_suppressions_t *s, const char *path);
void bc_suppressions_free(bc_suppressions_t *s);
/* Does PATTERN match the frame's function (also without its parameter
 * list), its file or its module (full path or basename)? */
bool bc_suppress_frame_matches(const char *pattern, const bc_frame_info_t *f);
/* Does a rule of F's kind match a frame of any of F's stacks? */
bool bc_suppressions_match(const bc_suppressions_t *s, const bc_finding_t *f);
/* The rules of the `suppressions` option, read on first use (report time). */
const bc_suppressions_t *bc_suppressions_active(void);
/* A rule that suppresses F ("kind:function" from its primary frame in the
 * user's code, else "kind:module-basename") into OUT. Returns its length,
 * 0 when F has no frame. */
size_t bc_suppression_for(const bc_finding_t *f, char *out, size_t outsz);

/* ------------------------------------------------------------- "verdict.c" */
/* Which ownership rule (README.md, "Ownership verdicts") a finding broke, when its stacks
 * say so exactly (see verdict.c); BC_RULE_NONE otherwise. */
typedef enum bc_rule {
    BC_RULE_NONE,
    BC_RULE_IN_PARAM_FREED_BY_CALLEE,      /* rule 1 */
    BC_RULE_RETURNED_NOT_FREED_BY_CALLER,  /* rule 2 */
    BC_RULE_RETURNED_THEN_FREED_BY_CALLEE, /* rule 3 */
    BC_RULE_ALLOCATED_NOT_FREED,           /* a leak its allocating function kept */
    BC_RULE_COUNT
} bc_rule_t;
extern const char *const bc_rule_ids[BC_RULE_COUNT];

#define BC_RULE_TEXT_MAX 768
/* What the report adds to a finding: its BSTRs' allocation numbers and the
 * verdict. */
#define BC_INFO_BSTRS 8
typedef struct bc_finding_info {
    uint64_t seq_first, seq_last; /* {N}: 0 when unknown; a leak group's first and last */
    bc_rule_t rule;
    char *rule_text; /* malloc'd with the rule; free_report frees it */
    /* a leak group's BSTRs, when it has at most BC_INFO_BSTRS (else 0) */
    uint32_t nbstrs;
    uintptr_t bstrs[BC_INFO_BSTRS];
} bc_finding_info_t;

/* The records' history a leak verdict consults: every distinct (allocation
 * stack, free stack, state) of the table's records. Added to with every
 * shard locked (it allocates, and calls nothing else). */
typedef struct bc_history bc_history_t;
bc_history_t *bc_history_new(void);
void bc_history_add(bc_history_t *h, const bc_record_view_t *rec);
/* Every freed record is still in the table (none left the quarantine):
 * the history is complete. Set by the caller once the scan is done. */
void bc_history_set_complete(bc_history_t *h, bool complete);
void bc_history_free(bc_history_t *h);
/* The verdict on F into INFO (rule and rule_text; a leak group's bstrs are
 * read); H may be NULL (no leak verdict that needs the history is given
 * then). Symbolizes: no lock held. */
void bc_verdict(const bc_finding_t *f, bc_history_t *h, bc_finding_info_t *info);
/* FUNCTION without its parameter list ("Ns::F(int) const" -> "Ns::F") into
 * OUT. */
void bc_short_function(const char *function, char *out, size_t outsz);

/* --------------------------------------------------------- "fingerprint.c" */
/* The fingerprint of F (the shim's side). */
void bc_finding_fingerprint(const bc_finding_t *f, char out[BC_FINGERPRINT_LEN]);

/* -------------------------------------------------------------- "report.c" */
typedef struct bc_report {
    const char *reason;     /* "exit", "checkpoint", "report_now" */
    int pid, parent_pid;
    const char *exe;
    const char *mode;
    uint64_t allocations, frees, leaked, leaked_bytes;
    uint64_t events[BC_KIND_COUNT];
    uint64_t suppressed, untracked_frees, released_by_free, injected_failures;
    bc_finding_t *findings; /* errors in order seen, then leaks largest first */
    bc_finding_info_t *info; /* one per finding, or NULL */
    size_t nfindings;
    size_t leak_groups;
} bc_report_t;

/* The exit report; returns the status to exit with (0: leave it alone). */
int bc_report_at_exit(void);
/* Leave now with STATUS, flushing the program's stdio first. */
__attribute__((noreturn)) void bc_exit_now(int status);
/* BSTRs allocated at or after ordinal SEQ that are still live; with
 * REPORT, also write them as leak findings to the log. */
size_t bc_report_leaks_since(uint64_t seq, bool report);
/* Write the text (and JSON) report of everything found so far. */
void bc_report_now(void);
/* abort_on_error: print FINDING now, then raise SIGABRT. */
void bc_report_abort(const bc_finding_t *finding);
/* bstrcheck_describe's text for address P into BUF (its length). */
size_t bc_describe(const void *p, char *buf, size_t size);
/* fork: no report runs across it; the child gets a fresh lock. */
BC_FORK_CODE void bc_report_lock(void);
BC_FORK_CODE void bc_report_unlock(void);
BC_FORK_CODE void bc_report_child_after_fork(void);

/* ---------------------------------------------------------------- "text.c" */
void bc_text_write(bc_out_t *out, const bc_report_t *report);
/* -------------------------------------------------------------- "json.c" */
void bc_json_write(bc_out_t *out, const bc_report_t *report);
/* ------------------------------------------------------------- "sarif.c" */
/* One SARIF 2.1.0 log: one run, one rule per finding kind, one result per
 * finding. */
void bc_sarif_write(bc_out_t *out, const bc_report_t *report);

#endif /* BC_REPORT_H */
