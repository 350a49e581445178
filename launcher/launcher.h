/* The bstrcheck launcher: `bstrcheck [--OPTION=VALUE ...] [--] COMMAND
 * [ARGS...]` runs COMMAND with the shim preloaded into every process of its
 * tree, collects each process's JSON report and merges them. One section
 * per file that defines it. The launcher also compiles the shim's option
 * table (interpose/base/options.c) and report writer (report/shared/output.c). */
#ifndef BC_LAUNCHER_H
#define BC_LAUNCHER_H

#include "config.h"
#include "output.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the launcher's own failures (a shell's, for the last two). */
enum {
    BC_EXIT_USAGE = 2,         /* bad command line, or the launcher cannot set up */
    BC_EXIT_NOT_EXECUTABLE = 126,
    BC_EXIT_NOT_FOUND = 127,
};

/* Print "bstrcheck: MESSAGE" on stderr: the launcher's one line per error. */
__attribute__((format(printf, 1, 2))) void bc_launcher_error(const char *fmt, ...);

/* --------------------------------------------------------------- "args.c" */
typedef struct bc_launch_args {
    const char *json_path;   /* --json=FILE: merged report, or NULL */
    const char *sarif_path;  /* --sarif=FILE: merged SARIF, or NULL */
    const char *baseline_path; /* --baseline=FILE: an earlier merged report, or NULL */
    bool help, version;
    const char **options;    /* "name=value" for the shim, in command-line order */
    size_t noptions;
    char **command;          /* NULL-terminated COMMAND ARGS... */
} bc_launch_args_t;

/* Parse ARGV. Returns 0, or prints one line naming the problem and returns
 * BC_EXIT_USAGE. ARGS points into ARGV (options needs free()). */
int bc_args_parse(int argc, char **argv, bc_launch_args_t *args);

/* -------------------------------------------------------------- "usage.c" */
void bc_usage_print(int fd);
void bc_version_print(int fd);

/* ----------------------------------------------------------- "platform.c" */
/* Everything that differs between Linux and macOS lives there. */
/* The preload variable: "LD_PRELOAD" or "DYLD_INSERT_LIBRARIES". */
const char *bc_platform_preload_var(void);
/* The shim that belongs to this launcher: installed layout (<bindir>/../
 * <libdir>) or build tree (build/launcher/.. ). Absolute, in a malloc'd
 * string; NULL after one error line when it cannot be found. */
char *bc_platform_find_shim(void);

/* ---------------------------------------------------------------- "env.c" */
/* The command's environment: ENVIRON with SHIM prepended to the preload
 * variable (unless already there) and OPTIONS appended to the existing
 * BSTRCHECK_OPTIONS. NULL (after one error line) on failure. Free with
 * bc_env_free. */
char **bc_env_build(char **environ_in, const char *shim, const char *options);
/* The same with FIRST (a library name, or NULL) at the very front of the
 * preload variable, before the shim, unless the list already starts with
 * a runtime that must come first. */
char **bc_env_build_first(char **environ_in, const char *first, const char *shim,
                          const char *options);
void bc_env_free(char **env);
/* Is the preload entry ENTRY (LEN bytes) a sanitizer runtime that refuses
 * to start unless it comes first (libasan, libhwasan, clang's)? */
bool bc_env_must_come_first(const char *entry, size_t len);
/* The BSTRCHECK_OPTIONS items the launcher adds, in the order they apply:
 * report_empty=0, the existing variable's items, the --name=value flags,
 * json_path=REPORT_TEMPLATE. Malloc'd; NULL (after one error line) if too
 * long for the shim. */
char *bc_env_options(const char *existing, const bc_launch_args_t *args,
                     const char *report_template);
/* The exitcode the shim will use with that BSTRCHECK_OPTIONS text. */
int bc_env_exitcode(const char *options);

/* --------------------------------------------------------------- "asan.c" */
/* The sanitizer runtime COMMAND (found as posix_spawnp finds it) names in
 * its DT_NEEDED list and that must come first, into OUT (e.g.
 * "libasan.so.8"); false for any other command, a script, or unreadable. */
bool bc_command_runtime_first(const char *command, char *out, size_t outsz);

/* -------------------------------------------------------------- "spawn.c" */
/* Run COMMAND with ENV and wait for it. Returns its status as a shell
 * gives it (128+N when killed by signal N), or 126/127 after one error
 * line when it cannot be started. */
int bc_spawn_wait(char **command, char **env);

/* ---------------------------------------------------------- "json_read.c" */
typedef enum {
    BC_JSON_NULL,
    BC_JSON_BOOL,
    BC_JSON_NUMBER,
    BC_JSON_STRING,
    BC_JSON_ARRAY,
    BC_JSON_OBJECT,
} bc_json_type_t;

typedef struct bc_json bc_json_t;
struct bc_json {
    bc_json_type_t type;
    bool boolean;
    double number;
    bool is_uint;      /* a non-negative integer that fits uint64_t */
    uint64_t uint;
    char *string;      /* STRING: UTF-8, NUL-terminated (may also hold NULs) */
    size_t len;        /* STRING: bytes; ARRAY/OBJECT: items */
    bc_json_t *items;  /* ARRAY items, OBJECT values */
    char **keys;       /* OBJECT keys, parallel to items */
};

#define BC_JSON_MAX_DEPTH 128
/* Parse LEN bytes of TEXT (one JSON value, whitespace around it). NULL on
 * bad input, with a one-line reason in ERR. */
bc_json_t *bc_json_parse(const char *text, size_t len, char *err, size_t errsz);
void bc_json_free(bc_json_t *value);
/* OBJ's member KEY (first one), or NULL; NULL-safe. */
const bc_json_t *bc_json_get(const bc_json_t *obj, const char *key);
/* Typed reads; DEFAULT / NULL when VALUE is missing or another type. */
uint64_t bc_json_uint(const bc_json_t *value, uint64_t deflt);
const char *bc_json_str(const bc_json_t *value);
size_t bc_json_count(const bc_json_t *array); /* 0 unless an array */

/* ------------------------------------------------------------ "collect.c" */
/* One process's report: the file's text, verbatim, and its parse. */
typedef struct bc_process_report {
    char *text;
    size_t len;
    bc_json_t *json;
    int pid;
} bc_process_report_t;

typedef struct bc_collection {
    bc_process_report_t *reports; /* sorted by pid */
    size_t count;
} bc_collection_t;

/* The whole of the regular file PATH, NUL-terminated, in a malloc'd
 * buffer (*LEN: its length); NULL with errno set. */
char *bc_read_file(const char *path, size_t *len);
/* Make the private report directory (mode 0700) under $TMPDIR or /tmp
 * into OUT; false after one error line. */
bool bc_report_dir_create(char *out, size_t outsz);
/* Read every report in DIR (skipping, with one warning each, the ones that
 * are not a bstrcheck JSON report), then empty and remove DIR. */
void bc_collect(const char *dir, bc_collection_t *out);
void bc_collection_free(bc_collection_t *c);
/* Does this process report a finding? */
bool bc_report_has_findings(const bc_process_report_t *r);

/* ----------------------------------------------------------- "baseline.c" */
/* --baseline=FILE: the findings of an earlier merged report (or of one
 * process's report), matched with this run's by fingerprint (report.h's
 * bc_fingerprint_*: kind and function names, never addresses). */
typedef enum { BC_BASELINE_NEW = 1, BC_BASELINE_UNCHANGED = 2 } bc_baseline_state_t;

typedef struct bc_baseline_entry {
    char fingerprint[BC_FINGERPRINT_LEN];
    const bc_json_t *finding; /* in the baseline's tree */
    bool matched;             /* an unchanged finding of this run */
} bc_baseline_entry_t;

typedef struct bc_baseline {
    const char *path;
    char *text;
    bc_json_t *json;
    bc_baseline_entry_t *old; /* every finding of the baseline */
    size_t nold;
    /* this run: per process (as collected), per finding */
    unsigned char **state;
    char (**fingerprints)[BC_FINGERPRINT_LEN];
    size_t nprocesses;
    size_t new_count, unchanged_count, fixed_count;
} bc_baseline_t;

/* Read and parse PATH; false after one error line. */
bool bc_baseline_load(bc_baseline_t *b, const char *path);
/* Match C's findings against the baseline's: each takes at most one
 * baseline finding with its fingerprint; the baseline's left over are
 * fixed. */
bool bc_baseline_compare(bc_baseline_t *b, const bc_collection_t *c);
void bc_baseline_free(bc_baseline_t *b);
/* The fingerprint of a JSON finding (its "kind" and "stacks"). */
void bc_json_fingerprint(const bc_json_t *finding, char out[BC_FINGERPRINT_LEN]);
/* Write VALUE as JSON. */
void bc_json_value_write(bc_out_t *out, const bc_json_t *value);
/* One line on FD: how many findings are new, unchanged and fixed. */
void bc_baseline_summary(int fd, const bc_baseline_t *b);

/* -------------------------------------------------------------- "merge.c" */
typedef struct bc_run_result {
    char **command;
    int command_status; /* the command's own, shell-style */
    int exit_status;    /* what the launcher exits with */
} bc_run_result_t;

/* The merged JSON report (README.md, "The launcher"). With a
 * BASELINE (else NULL), each finding gets "baseline": "new" | "unchanged",
 * and the report lists the baseline's "fixed" findings. */
bool bc_merge_write_json(const char *path, const bc_collection_t *c, const bc_run_result_t *run,
                         const bc_baseline_t *baseline);

/* -------------------------------------------------------------- "sarif.c" */
/* A SARIF 2.1.0 log with one run, one result per finding of every process,
 * each with partialFingerprints; with a BASELINE (else NULL), also its
 * baselineState, and the fixed findings as "absent" results. */
bool bc_merged_sarif_write(const char *path, const bc_collection_t *c, const bc_run_result_t *run,
                           const bc_baseline_t *baseline);

/* ------------------------------------------------------------ "summary.c" */
/* One line per process with findings and a total SUMMARY line on FD;
 * nothing when no process has a finding. */
void bc_summary_write(int fd, const bc_collection_t *c);

#endif /* BC_LAUNCHER_H */
