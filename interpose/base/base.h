/* base/: what every layer of the shim, and the launcher, may use. It
 * calls nothing above it: options, logging, the Windows types, OLECHAR and
 * UTF helpers, the finding kinds. Everything here has hidden visibility;
 * the exported surface is only the Sys* entry points and the bstrcheck_*
 * API (exports.map). */
#ifndef BC_BASE_H
#define BC_BASE_H

#include "config.h"
#include "kinds.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_EXPORT __attribute__((visibility("default")))
#define BC_NOINLINE __attribute__((noinline))
/* Code that reads raw stack words (frame records, return-address slots,
 * other frames' locals): not instrumented, since any word may lie in a
 * sanitizer's redzone. */
#define BC_RAW_STACK_READ __attribute__((no_sanitize("address")))
#define BC_LIKELY(x) __builtin_expect(!!(x), 1)
#define BC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))


/* Debug checks of the shim's own rules (a shard lock held where it must
 * be, or not held where foreign code runs). Built in with -Ddchecks=true
 * (the default for development builds; meson.build): a broken rule aborts
 * with its file and line, so a test that breaks one fails loudly. */
#if BC_DCHECKS
__attribute__((noreturn)) void bc_dcheck_failed(const char *what, const char *file, int line);
#define BC_DCHECK(cond, what)                                \
    do {                                                     \
        if (BC_UNLIKELY(!(cond)))                            \
            bc_dcheck_failed(what, __FILE__, __LINE__);      \
    } while (0)
#else
#define BC_DCHECK(cond, what) ((void)0)
#endif

#if BC_OS_LINUX /* ELF section names */
/* What fork() writes in every process (its handlers' locks and flags):
 * gathered in one section, so a fork costs one copy-on-write fault in the
 * parent and one in the child, not one for each file's page. */
#define BC_FORK_STATE __attribute__((section("bc_fork_state")))
/* And the code a fork runs (its handlers): a child maps the pages of a
 * library's code as it first runs them, one fault each; together they
 * take one or two. */
#define BC_FORK_CODE __attribute__((section(".text.hot.bc_fork")))
#else
#define BC_FORK_STATE
#define BC_FORK_CODE
#endif

/* The Windows types, spelled out: bstrcheck has no windows.h. OLECHAR's
 * width is a run-time option, so BSTR is an opaque pointer here. */
typedef void *bc_bstr_t;
/* The byte-length prefix as stored, the 4 bytes before the data, where
 * every runtime of the contract keeps it. */
static inline uint32_t bc_bstr_prefix(const void *bstr)
{
    uint32_t prefix;
    __builtin_memcpy(&prefix, (const char *)bstr - sizeof prefix, sizeof prefix);
    return prefix;
}
typedef int32_t bc_hresult_t;
#define BC_S_OK ((bc_hresult_t)0)
#define BC_E_INVALIDARG ((bc_hresult_t)0x80070057)

typedef uint32_t bc_stack_id_t; /* 0 means "no stack" */
#define BC_MAX_FRAMES 256 /* a stack's frames, at most */
/* The frames (return addresses, innermost first) behind a stack id. */
typedef struct bc_stack {
    uint32_t nframes;
    const uintptr_t *frames;
} bc_stack_t;

/* A record's state, and the table's running counts. */
enum { BC_LIVE = 0, BC_FREED = 1 };
typedef struct bc_counts {
    uint64_t allocations;
    uint64_t frees;
} bc_counts_t;

/* ------------------------------------------------------------ "options.c" */
/* Same order as the choices of "mode" and "unwind" in options.inc. */
typedef enum { BC_MODE_AUTO, BC_MODE_OWN, BC_MODE_FORWARD } bc_mode_t;
typedef enum { BC_UNWIND_LIBUNWIND, BC_UNWIND_FP } bc_unwind_t;

#define BC_OPT_CTYPE_BOOL int
#define BC_OPT_CTYPE_INT int
#define BC_OPT_CTYPE_ENUM int
#define BC_OPT_CTYPE_STR const char *
#define BC_OPT_CTYPE_REAL double

typedef struct bc_options {
#define BC_OPTION(kind, name, deflt, range, desc) BC_OPT_CTYPE_##kind name;
#include "options.inc"
#undef BC_OPTION
} bc_options_t;

extern bc_options_t bc_opt;

/* BSTRCHECK_OPTIONS is read up to this many bytes (NUL included). */
#define BC_OPTIONS_TEXT_MAX 4096

/* Reset bc_opt to the defaults, then apply "name=value:name=value" from
 * TEXT (NULL: nothing). Bad names and values warn and keep the default.
 * Returns the number of warnings. */
int bc_options_parse(const char *text);
/* Print every option with its default and meaning to fd. */
void bc_options_print_help(int fd);
/* Would NAME=VALUE be accepted? 0 if so, ENOENT for an unknown name, EINVAL
 * for a bad value; *VALID (may be NULL) gets the valid choices. bc_opt is
 * left as it was (the launcher checks its --name=value flags with this). */
int bc_option_check(const char *name, const char *value, const char **valid);

/* ---------------------------------------------------------------- "log.c" */
/* Formatting into a fixed buffer, never malloc: safe while reporting. */
void bc_log_write(int fd, const char *buf, size_t len);
__attribute__((format(printf, 1, 2))) void bc_warn(const char *fmt, ...);
/* One line: PREFIX, then FMT, then a newline, written to FD at once. */
__attribute__((format(printf, 3, 0))) void bc_log_line(int fd, const char *prefix,
                                                       const char *fmt, va_list ap);

/* ---------------------------------------------------------------- "utf.c" */
/* Length in code units of a NUL-terminated OLECHAR string of WIDTH (2 or 4). */
size_t bc_olestr_units(const void *psz, unsigned width);
/* The first BC_SAMPLE_CHARS characters of a BSTR of BYTES bytes and WIDTH
 * (2: UTF-16, 4: UTF-32) as UTF-8 into OUT; bad code units become U+FFFD,
 * a longer string ends in "...". Returns the length written (NULs kept). */
#define BC_SAMPLE_CHARS 64
#define BC_SAMPLE_MAX (BC_SAMPLE_CHARS * 4 + 4)
/* A finding's one-line detail, at most. */
#define BC_DETAIL_MAX 200
uint32_t bc_sample_utf8(const void *bstr, uint32_t bytes, unsigned width, char *out,
                        size_t outsz);
/* Append one UTF-8 code point; returns bytes written (0 if it does not fit). */
size_t bc_utf8_put(uint32_t cp, char *out, size_t room);

/* An address no user-space object can have: the first page (NULL plus a
 * small offset; Linux never maps it for a program) or above the user part
 * of the address space (kernel and non-canonical addresses). The shim
 * reads through a BSTR* only when this is false. (A BSTR argument is never
 * read through unless the table knows it anyway.) */
static inline bool bc_addr_impossible(const void *p)
{
    uintptr_t a = (uintptr_t)p;
#if defined(__x86_64__)
    if (a >> 56) /* user space ends at 2^47, or 2^56 with 5-level paging */
        return true;
#elif defined(__aarch64__)
    if ((a >> 52) & 0xF) /* user space ends at 2^52 at most; the top byte may be a tag */
        return true;
#endif
    return a < 4096;
}

#endif /* BC_BASE_H */
