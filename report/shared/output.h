/* report/output.h: what the shim's report and the launcher share. The
 * buffered writer and its escapers, and the fingerprint of a finding. It
 * includes only base/ (the launcher links base/ and these, nothing of the
 * shim's core). */
#ifndef BC_OUTPUT_H
#define BC_OUTPUT_H

#include "base.h"

#include <limits.h>

/* -------------------------------------------------------------- "output.c" */
/* A buffered writer over a file descriptor; never allocates. */
typedef struct bc_out {
    int fd;
    bool own_fd;        /* we opened it: close at the end */
    bool failed;        /* a write failed; the file is abandoned */
    size_t len;
    char path[PATH_MAX];     /* final path ("" for stdio) */
    char tmp_path[PATH_MAX]; /* written here, then renamed ("" if direct) */
    char buf[8192];
} bc_out_t;

/* Expand %p (the pid) in TEMPLATE into OUT. False if it does not fit. */
bool bc_path_expand(const char *template_path, char *out, size_t outsz);
/* Open a report destination: "stderr", "stdout", or a path (with %p). A
 * regular file is written under a temporary name and renamed on close;
 * devices and FIFOs are written directly; a symlink is refused. Returns
 * false (after one warning) when it cannot be opened. */
bool bc_out_open(bc_out_t *out, const char *destination);
/* Write to an already open descriptor (tests, stderr). */
void bc_out_init_fd(bc_out_t *out, int fd);
void bc_out_write(bc_out_t *out, const char *s, size_t len);
void bc_out_puts(bc_out_t *out, const char *s);
__attribute__((format(printf, 2, 3))) void bc_out_printf(bc_out_t *out, const char *fmt, ...);
void bc_out_flush(bc_out_t *out);
/* Flush, close and (for a regular file) rename into place. */
bool bc_out_close(bc_out_t *out);

/* Escapers: LEN bytes of UTF-8 from S. json_string adds the quotes,
 * json_chars does not (a string written in pieces). */
void bc_out_json_string(bc_out_t *out, const char *s, size_t len);
void bc_out_json_chars(bc_out_t *out, const char *s, size_t len);
void bc_out_text_escaped(bc_out_t *out, const char *s, size_t len);
/* The text report's escaping of S into DST (NUL-terminated, cut to fit).
 * Returns the length written. */
size_t bc_text_escape(const char *s, size_t len, char *dst, size_t dstsz);
/* PATH as a URI: "file://" and the percent-encoded path when it is
 * absolute, a percent-encoded relative reference otherwise. The output
 * needs no JSON escaping. */
void bc_out_file_uri(bc_out_t *out, const char *path);

/* --------------------------------------------------------- "fingerprint.c" */
/* A finding's fingerprint for baselines: its kind and the function names of
 * the first frames of its stacks (the file's basename for a frame without a
 * function, the module's without either), never an address, so a rebuild
 * or another load address keeps it. 16 hex digits. The same code runs in
 * the shim (from frames) and in the launcher (from the JSON frames). */
#define BC_FINGERPRINT_FRAMES 4
#define BC_FINGERPRINT_LEN 17
typedef struct bc_fingerprint {
    uint64_t hash;
    const char *role; /* the stack being added */
    unsigned frames;  /* frames of it added so far */
} bc_fingerprint_t;
void bc_fingerprint_begin(bc_fingerprint_t *fp, const char *kind);
/* Start the stack of ROLE ("alloc", "free", ...): roles in the order
 * bc_fingerprint_roles lists. */
void bc_fingerprint_stack(bc_fingerprint_t *fp, const char *role);
/* Add the next frame of the current stack; false once enough were added. */
bool bc_fingerprint_frame(bc_fingerprint_t *fp, const char *function, const char *file,
                          const char *module);
void bc_fingerprint_end(const bc_fingerprint_t *fp, char out[BC_FINGERPRINT_LEN]);
/* The roles a fingerprint covers, in order (NULL-terminated). */
extern const char *const bc_fingerprint_roles[];

/* ------------------------------------------------- a symbolized frame */
typedef struct bc_frame_info {
    uintptr_t pc;          /* the call instruction: return address - 1 */
    const char *module;    /* path, never NULL ("" if unknown) */
    uintptr_t offset;      /* pc - module base */
    const char *function;  /* demangled, or NULL */
    const char *file;      /* NULL without debug info */
    int line;              /* 0 if unknown */
    bool inlined;
} bc_frame_info_t;

#endif /* BC_OUTPUT_H */
