/* bstrcheck client API.
 *
 * Usable with or without the shim: a program includes this header and links
 * nothing. Each call looks the shim's function up at run time; without the
 * shim every call is a harmless no-op returning 0.
 *
 *   uint64_t mark = bstrcheck_checkpoint();
 *   run_one_test();
 *   if (bstrcheck_leaks_since(mark, 1) != 0) fail_the_test();
 *
 *   char what[2048];
 *   bstrcheck_describe(some_pointer, what, sizeof what);  // what the shim knows of it
 */
#ifndef BSTRCHECK_H
#define BSTRCHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef BSTRCHECK_SHIM_BUILD
/* The shim itself: plain declarations of the exported functions. */
int      bstrcheck_is_active(void);
uint64_t bstrcheck_checkpoint(void);
size_t   bstrcheck_leaks_since(uint64_t marker, int report);
void     bstrcheck_report_now(void);
size_t   bstrcheck_describe(const void *p, char *buf, size_t size);
void     bstrcheck_break(uint64_t seq, const void *bstr);
#else
#include <dlfcn.h>
#include <string.h>

/* glibc defines RTLD_DEFAULT only under _GNU_SOURCE; its value is 0. */
#ifdef RTLD_DEFAULT
#define BSTRCHECK_RTLD_DEFAULT_ RTLD_DEFAULT
#else
#define BSTRCHECK_RTLD_DEFAULT_ ((void *)0)
#endif

/* Look NAME up in the global scope into the function pointer FN (ISO C has
 * no cast between object and function pointers: copy the bits). Looked up
 * on every call: these calls are rare and this keeps them race-free. */
#define BSTRCHECK_LOOKUP_(fn, name)                                          \
    do {                                                                     \
        void *sym_ = dlsym(BSTRCHECK_RTLD_DEFAULT_, name);                   \
        memcpy(&(fn), &sym_, sizeof(fn));                                    \
    } while (0)

/* 1 when the shim is loaded in this process. */
static inline int bstrcheck_is_active(void)
{
    int (*fn)(void);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_is_active");
    return fn ? fn() : 0;
}

/* A marker for bstrcheck_leaks_since; 0 without the shim. */
static inline uint64_t bstrcheck_checkpoint(void)
{
    uint64_t (*fn)(void);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_checkpoint");
    return fn ? fn() : 0;
}

/* BSTRs allocated after MARKER and still live; REPORT != 0 also writes them
 * to the log as leak findings. */
static inline size_t bstrcheck_leaks_since(uint64_t marker, int report)
{
    size_t (*fn)(uint64_t, int);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_leaks_since");
    return fn ? fn(marker, report) : 0;
}

/* Write the report of everything found so far (leaks: what is live now). */
static inline void bstrcheck_report_now(void)
{
    void (*fn)(void);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_report_now");
    if (fn)
        fn();
}

/* What the shim knows of the address P: a live BSTR (its allocation
 * number, length, sample, pins and allocation stack), a freed one still in
 * the quarantine (its allocation and free stacks), an address inside a
 * BSTR (the offset, and which BSTR), or nothing. Writes at most SIZE bytes
 * of text, NUL-terminated, into BUF (BUF may be NULL when SIZE is 0) and
 * returns the length of the whole description, as snprintf does: a return
 * value of SIZE or more means it was cut. 0 without the shim. */
static inline size_t bstrcheck_describe(const void *p, char *buf, size_t size)
{
    size_t (*fn)(const void *, char *, size_t);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_describe");
    if (!fn) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    return fn(p, buf, size);
}

/* The function break_on_alloc=N calls at allocation N (a place for a
 * debugger's breakpoint: `break bstrcheck_break`). It does nothing, with or
 * without the shim. */
static inline void bstrcheck_break(uint64_t seq, const void *bstr)
{
    void (*fn)(uint64_t, const void *);
    BSTRCHECK_LOOKUP_(fn, "bstrcheck_break");
    if (fn)
        fn(seq, bstr);
}

#undef BSTRCHECK_LOOKUP_
#endif /* BSTRCHECK_SHIM_BUILD */

#ifdef __cplusplus
}
#endif

#endif /* BSTRCHECK_H */
