/* Misuse scenarios for the integration suite: `misuse NAME` runs one. Each
 * prints "still running" after the misuse when the program is expected to
 * go on; run.py checks the finding, its stacks and the exit status. */
#include "oleauto.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR make_string(void) { return SysAllocString(OLESTR("payload")); }
static NOINLINE void free_it(BSTR b) { SysFreeString(b); }
static NOINLINE UINT read_len(BSTR b) { return SysStringLen(b); }
static NOINLINE void c_free(void *p) { free(p); }
static volatile OLECHAR sink;

static void still_running(void) { puts("still running"); fflush(stdout); }

static int uaf_len(void)
{
    BSTR b = make_string();
    free_it(b);
    printf("len=%u\n", read_len(b));
    still_running();
    return 0;
}

static int uaf_pin(void)
{
    BSTR b = make_string();
    free_it(b);
    SysAddRefString(b);
    SysReleaseString(b);
    still_running();
    return 0;
}

static int write_after_free(void)
{
    BSTR b = make_string();
    free_it(b);
    b[1] = 'X'; /* the body is still mapped: only the poison shows it */
    still_running();
    return 0;
}

/* The same write, then enough frees to push the BSTR out of a small
 * quarantine: found when it leaves. */
static int write_after_free_evicted(void)
{
    enum { CHURN = 20000 };
    static BSTR churn[CHURN];
    BSTR b = make_string();
    free_it(b);
    b[0] = 'Y';
    /* distinct addresses, so every shard's quarantine overflows */
    for (int i = 0; i < CHURN; i++)
        churn[i] = SysAllocString(OLESTR("churn"));
    for (int i = 0; i < CHURN; i++)
        SysFreeString(churn[i]);
    still_running();
    return 0;
}

static int overflow_at_free(void)
{
    BSTR b = make_string();
    UINT n = SysStringLen(b);
    b[n] = '!';     /* the terminator */
    b[n + 1] = '!'; /* one past it */
    free_it(b);
    still_running();
    return 0;
}

static int overflow_at_exit(void)
{
    BSTR b = make_string();
    b[SysStringLen(b) + 1] = '!';
    still_running();
    SysFreeString(NULL);
    return 0; /* b leaks too: the overflow is found at exit */
}

static int prefix_corrupt(void)
{
    BSTR b = make_string();
    uint32_t bogus = 9999;
    memcpy((char *)b - 4, &bogus, 4);
    printf("len=%u\n", read_len(b));
    still_running();
    free_it(b);
    return 0;
}

static int free_inside(void)
{
    BSTR b = make_string();
    free_it(b + 2);
    printf("len=%u\n", SysStringLen(b)); /* still live */
    SysFreeString(b);
    still_running();
    return 0;
}

static int invalid_bstr(void)
{
    static const OLECHAR literal[] = {'l', 'i', 't', 0};
    OLECHAR on_stack[4] = {'s', 't', 0, 0};
    printf("%u %u %u\n", read_len((BSTR)literal), SysStringByteLen(on_stack),
           SysStringLen((BSTR)(uintptr_t)0x1000));
    still_running();
    return 0;
}

static int mismatched_free(void)
{
    BSTR b = make_string();
    c_free(b);
    still_running();
    return 0;
}

static int mismatched_block(void)
{
    BSTR b = make_string();
    c_free((char *)b - sizeof(void *));
    still_running();
    return 0;
}

/* The mismatched free() comes through the same call instruction as the
 * allocation before it, from a frame whose untouched buffer covers where
 * the allocation's entry point had its frame: the free's stack is still
 * its own. */
static NOINLINE void step_alloc(BSTR *b) { *b = make_string(); }
static NOINLINE void touch_first(volatile char *p) { p[0] = 1; }
static NOINLINE void step_free(BSTR *b)
{
    volatile char buffer[4096];
    touch_first(buffer); /* the rest stays as the allocation left it */
    c_free(*b);
}
typedef void (*step_fn)(BSTR *);
static step_fn steps[] = {step_alloc, step_free};

static int mismatched_after_alloc(void)
{
    BSTR b = NULL;
    for (int i = 0; i < 2; i++)
        steps[i](&b);
    still_running();
    return 0;
}

static int mismatched_realloc(void)
{
    BSTR b = make_string();
    char *moved = realloc(b, 64);
    printf("copied=%d\n", moved && memcmp(moved, OLESTR("payload"), 14) == 0);
    free(moved);
    still_running();
    return 0;
}

static int pins(void)
{
    BSTR b = make_string();
    if (SysAddRefString(b) != S_OK)
        return 1;
    SysFreeString(b); /* pinned: not freed yet */
    printf("len=%u\n", SysStringLen(b));
    SysReleaseString(b); /* the pending free happens now */
    BSTR c = make_string();
    SysReleaseString(c); /* unbalanced */
    SysFreeString(c);
    still_running();
    return 0;
}

static int guard_overflow(void)
{
    BSTR b = make_string();
    still_running();
    const volatile char *p = (const char *)b;
    for (size_t i = 0; i < 1u << 20; i++)
        sink = p[i]; /* reads on until the guard page */
    return 0;
}

static int guard_uaf(void)
{
    BSTR b = make_string();
    free_it(b);
    still_running();
    sink = b[0];
    return 0;
}

static void own_handler(int sig)
{
    (void)sig;
    static const char msg[] = "program's own SIGSEGV handler\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(8);
    _exit(7);
}

static int guard_other_fault(void)
{
    signal(SIGSEGV, own_handler); /* installed after the shim's */
    BSTR b = make_string();
    SysFreeString(b);
    still_running();
    sink = *(volatile OLECHAR *)(uintptr_t)0x10;
    return 0;
}

static int guard_clean(void)
{
    BSTR b = SysAllocStringLen(NULL, 3000);
    for (UINT i = 0; i < 3000; i++)
        b[i] = 'g';
    SysReAllocStringLen(&b, b, 5);
    printf("len=%u\n", SysStringLen(b));
    SysFreeString(b);
    return 0;
}

static int double_free_abort(void)
{
    BSTR b = make_string();
    free_it(b);
    free_it(b);
    still_running();
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"uaf_len", uaf_len},
        {"uaf_pin", uaf_pin},
        {"write_after_free", write_after_free},
        {"write_after_free_evicted", write_after_free_evicted},
        {"overflow_at_free", overflow_at_free},
        {"overflow_at_exit", overflow_at_exit},
        {"prefix_corrupt", prefix_corrupt},
        {"free_inside", free_inside},
        {"invalid_bstr", invalid_bstr},
        {"mismatched_free", mismatched_free},
        {"mismatched_block", mismatched_block},
        {"mismatched_after_alloc", mismatched_after_alloc},
        {"mismatched_realloc", mismatched_realloc},
        {"pins", pins},
        {"guard_overflow", guard_overflow},
        {"guard_uaf", guard_uaf},
        {"guard_other_fault", guard_other_fault},
        {"guard_clean", guard_clean},
        {"double_free_abort", double_free_abort},
    };
    for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            return scenarios[i].run();
    fprintf(stderr, "usage: misuse NAME\n");
    return 2;
}
