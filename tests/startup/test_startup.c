/* A process that makes no Sys* call pays for none of the tracking
 * (issue 15), checked inside the hidden core:
 *   fork        a fork before the first Sys* call takes none of the
 *               tracking locks; after it, it does;
 *   catch_free  free() and realloc() never read the filter before the
 *               first Sys* call, nor with catch_free=0: its pages are made
 *               unreadable, and the calls must not fault (a child with
 *               catch_free=1 shows that they would). */
#include "hooks.h"
#include "tap.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static bool fork_and_wait(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

static int test_fork(void)
{
    tap_plan(4);
    bc_init_core();
    tap_ok(fork_and_wait(), "a fork before any Sys* call works");
    tap_ok(bc_fork_armed_count == 0, "and takes none of the tracking locks (%u)",
           bc_fork_armed_count);
    bc_init_slow(); /* what the first Sys* call does */
    tap_ok(fork_and_wait(), "a fork after the first Sys* call works");
    tap_ok(bc_fork_armed_count == 1, "and takes them (%u)", bc_fork_armed_count);
    return tap_done();
}

/* malloc'd blocks of many sizes, freed and reallocated: with a filter
 * probe, some of them hash into the unreadable pages. (Called through
 * volatile pointers: a compiler may drop a malloc/free pair it sees.) */
static void *(*volatile do_malloc)(size_t) = malloc;
static void *(*volatile do_realloc)(void *, size_t) = realloc;
static void (*volatile do_free)(void *) = free;

static void churn(void)
{
    for (unsigned i = 0; i < 4096; i++) {
        void *p = do_malloc(8 + (i * 37) % 2000);
        void *q = do_malloc(16 + (i * 53) % 300);
        p = do_realloc(p, 64 + (i * 11) % 4000);
        do_free(p);
        do_free(q);
    }
}

static bool protect_filter(int prot)
{
    uintptr_t lo;
    size_t size;
    bc_table_filter_extent(&lo, &size);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = (lo + page - 1) & ~(page - 1);
    uintptr_t end = (lo + size) & ~(page - 1);
    return end > first && mprotect((void *)first, end - first, prot) == 0;
}

#define FAULTED 42

static void faulted(int sig)
{
    (void)sig;
    _exit(FAULTED);
}

static int test_catch_free(void)
{
    tap_plan(5);
    setenv("BSTRCHECK_OPTIONS", "catch_free=1", 1);
    bc_init_core();
    tap_ok(protect_filter(PROT_NONE), "the filter's pages are made unreadable");
    churn();
    tap_ok(true, "before the first Sys* call, free() and realloc() never read the filter");
    bc_opt.catch_free = false;
    bc_init_slow();
    churn();
    tap_ok(true, "with catch_free=0, they never read it after the first Sys* call either");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* our own handler: a sanitizer's would turn the fault into exit(1) */
        signal(SIGSEGV, faulted);
        signal(SIGBUS, faulted);
        bc_opt.catch_free = true;
        churn();
        _exit(0);
    }
    int status = 0;
    tap_ok(pid > 0 && waitpid(pid, &status, 0) == pid, "a child with catch_free=1 ran");
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == FAULTED,
           "and read the filter: it faulted (status %#x)", (unsigned)status);
    protect_filter(PROT_READ | PROT_WRITE);
    return tap_done();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fork") == 0)
        return test_fork();
    if (argc > 1 && strcmp(argv[1], "catch_free") == 0)
        return test_catch_free();
    fprintf(stderr, "usage: test_startup fork|catch_free\n");
    return 2;
}
