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

/* Resolve NAME in the global scope once per translation unit. A pointer
 * stored in a void* is read back through memcpy: ISO C has no cast between
 * object and function pointers. */
#define BSTRCHECK_LOOKUP_(type, name)                                        \
    static type fn_;                                                         \
    static int looked_up_;                                                   \
    if (!looked_up_) {                                                       \
        void *sym_ = dlsym(RTLD_DEFAULT, name);                              \
        __builtin_memcpy(&fn_, &sym_, sizeof fn_);                           \
        looked_up_ = 1;                                                      \
    }

/* 1 when the shim is loaded in this process. */
static inline int bstrcheck_is_active(void)
{
    BSTRCHECK_LOOKUP_(int (*)(void), "bstrcheck_is_active")
    return fn_ ? fn_() : 0;
}

/* A marker for bstrcheck_leaks_since; 0 without the shim. */
static inline uint64_t bstrcheck_checkpoint(void)
{
    BSTRCHECK_LOOKUP_(uint64_t (*)(void), "bstrcheck_checkpoint")
    return fn_ ? fn_() : 0;
}

/* BSTRs allocated after MARKER and still live; REPORT != 0 also writes them
 * to the log as leak findings. */
static inline size_t bstrcheck_leaks_since(uint64_t marker, int report)
{
    BSTRCHECK_LOOKUP_(size_t (*)(uint64_t, int), "bstrcheck_leaks_since")
    return fn_ ? fn_(marker, report) : 0;
}

/* Write the report of everything found so far (leaks: what is live now). */
static inline void bstrcheck_report_now(void)
{
    BSTRCHECK_LOOKUP_(void (*)(void), "bstrcheck_report_now")
    if (fn_)
        fn_();
}

#undef BSTRCHECK_LOOKUP_
#endif /* BSTRCHECK_SHIM_BUILD */

#ifdef __cplusplus
}
#endif

#endif /* BSTRCHECK_H */
