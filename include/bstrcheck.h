/* bstrcheck client API.
 *
 * Usable with or without the shim: a program includes this header and links
 * nothing. Each call looks the shim's function up at run time; without the
 * shim every call is a harmless no-op returning 0.
 *
 *   uint64_t mark = bstrcheck_checkpoint();
 *   run_one_test();
 *   if (bstrcheck_leaks_since(mark, 1) != 0) fail_the_test();
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

#undef BSTRCHECK_LOOKUP_
#endif /* BSTRCHECK_SHIM_BUILD */

#ifdef __cplusplus
}
#endif

#endif /* BSTRCHECK_H */
