/* A tiny TAP producer for the unit tests: print the plan first, then one
 * "ok N - desc" / "not ok N - desc" line per check, with a "# expected ...
 * got ..." diagnostic on failure. tap_done() returns the exit status. */
#ifndef BC_TAP_H
#define BC_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_planned;
static int tap_run;
static int tap_failed;
static const char *tap_todo_reason; /* set by tap_todo() for the next check */

/* Mark the next check as a known bug: "not ok N - desc # TODO reason" is an
 * expected failure; once the bug is fixed it shows as an unexpected pass
 * (which meson counts as a failure), so the marker gets removed. */
static inline void tap_todo(const char *reason)
{
    tap_todo_reason = reason;
}

/* A check that cannot run here: "ok N - desc # SKIP reason". */
static inline void tap_skip(const char *desc, const char *reason)
{
    printf("ok %d - %s # SKIP %s\n", ++tap_run, desc, reason);
    fflush(stdout);
}

static inline void tap_end_line(bool cond)
{
    if (tap_todo_reason)
        printf(" # TODO %s", tap_todo_reason);
    else if (!cond)
        tap_failed++;
    tap_todo_reason = NULL;
    printf("\n");
}

static inline void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* One "ok N - desc" / "not ok N - desc" line, desc from FMT and AP. */
static inline void tap_vline(bool cond, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static inline void tap_vline(bool cond, const char *fmt, va_list ap)
{
    tap_run++;
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    tap_end_line(cond);
}

static inline bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool tap_ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vline(cond, fmt, ap);
    va_end(ap);
    fflush(stdout);
    return cond;
}

/* Integers (compared as int64_t; unsigned values that fit compare fine). */
#define tap_is_int(got, expected, ...)                                              \
    do {                                                                            \
        int64_t tap_g_ = (int64_t)(got), tap_e_ = (int64_t)(expected);              \
        if (!tap_ok(tap_g_ == tap_e_, __VA_ARGS__))                                 \
            tap_diag("expected %" PRId64 " got %" PRId64, tap_e_, tap_g_);          \
    } while (0)

#define tap_is_uint(got, expected, ...)                                             \
    do {                                                                            \
        uint64_t tap_g_ = (uint64_t)(got), tap_e_ = (uint64_t)(expected);           \
        if (!tap_ok(tap_g_ == tap_e_, __VA_ARGS__))                                 \
            tap_diag("expected %" PRIu64 " got %" PRIu64, tap_e_, tap_g_);          \
    } while (0)

static inline void tap_print_bytes(const char *label, const void *p, size_t n)
{
    const unsigned char *b = p;
    printf("# %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7F && b[i] != '"' && b[i] != '\\')
            putchar(b[i]);
        else
            printf("\\x%02x", b[i]);
    }
    printf("\"\n");
}

/* Byte strings of known length (may hold NULs). */
static inline bool tap_is_mem(const void *got, size_t got_len, const void *expected,
                              size_t exp_len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static inline bool tap_is_mem(const void *got, size_t got_len, const void *expected,
                              size_t exp_len, const char *fmt, ...)
{
    bool cond = got_len == exp_len && (exp_len == 0 || memcmp(got, expected, exp_len) == 0);
    va_list ap;
    va_start(ap, fmt);
    tap_vline(cond, fmt, ap);
    va_end(ap);
    if (!cond) {
        tap_diag("expected ... got ... follow");
        tap_print_bytes("expected", expected, exp_len);
        tap_print_bytes("got", got, got_len);
    }
    fflush(stdout);
    return cond;
}

/* NUL-terminated strings; NULL prints as (null). */
#define tap_is_str(got, expected, ...)                                              \
    do {                                                                            \
        const char *tap_g_ = (got), *tap_e_ = (expected);                           \
        bool tap_c_ = (tap_g_ && tap_e_) ? strcmp(tap_g_, tap_e_) == 0              \
                                         : tap_g_ == tap_e_;                        \
        if (!tap_ok(tap_c_, __VA_ARGS__))                                           \
            tap_diag("expected \"%s\" got \"%s\"", tap_e_ ? tap_e_ : "(null)",      \
                     tap_g_ ? tap_g_ : "(null)");                                   \
    } while (0)

static inline int tap_done(void)
{
    if (tap_run != tap_planned) {
        tap_diag("planned %d checks but ran %d", tap_planned, tap_run);
        return 1;
    }
    if (tap_failed)
        tap_diag("failed %d of %d checks", tap_failed, tap_run);
    return tap_failed ? 1 : 0;
}

#endif /* BC_TAP_H */
