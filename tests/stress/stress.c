/* Stress programs for the `stress` suite: `stress MODE [OPS]`. Eight threads
 * allocate, reallocate and free BSTRs across threads through a shared array
 * of slots; the program counts what it did and prints
 *   allocations=N frees=N leaked=N ops=N errors=N
 * which run.py compares with the JSON report. Whatever is left in the slots
 * at the end is leaked on purpose, so the leak count is checked too.
 *
 * Modes (each on top of the same workload):
 *   threads      the workload alone
 *   fork         the main thread forks short children while the workers
 *                run; each child uses BSTRs and exits (writing its report)
 *   signals      a timer sends SIGPROF every 100 us to a worker; the
 *                handler only counts
 *   signals_sys  SIGPROF; the handler itself allocates, reads and frees
 *                BSTRs, frees BSTRs the workers made, and keeps a few
 *   exit_load    the workers never stop; main calls exit() under load
 *   exit_in_handler  the same, but a worker's signal handler calls exit(),
 *                most likely in the middle of that worker's Sys* call
 *
 * Every BSTR holds its own length in its first character (a length-0 one
 * has its terminator there), so a worker checks SysStringLen against the
 * contents of each BSTR it takes. */
#include "oleauto.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { THREADS = 8, SLOTS = 4096, MAX_CHARS = 48, BIG_CHARS = 3000 };

static BSTR slots[SLOTS];
static long ops_per_thread = 125000;
static volatile int stop_workers;

/* What the program did, summed over threads and signal handlers. Atomic
 * adds on uint64_t are lock-free here, so handlers may use them. */
static uint64_t allocations, frees, errors, ops_done;

static void add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Text of LEN characters whose first one is LEN. */
static void fill(OLECHAR *text, unsigned len, unsigned tag)
{
    for (unsigned i = 0; i < len; i++)
        text[i] = (OLECHAR)('a' + (tag + i) % 26);
    if (len)
        text[0] = (OLECHAR)len;
    text[len] = 0;
}

static unsigned pick_len(uint64_t r)
{
    return r % 1000 == 0 ? BIG_CHARS : (unsigned)(r % MAX_CHARS);
}

/* A new BSTR through one of the three allocators. */
static BSTR make(uint64_t *rng, OLECHAR *text, unsigned tag)
{
    uint64_t r = next_random(rng);
    unsigned len = pick_len(r >> 8);
    fill(text, len, tag);
    switch (r % 3) {
    case 0:
        if (len == 0)
            return SysAllocStringLen(NULL, 0);
        return SysAllocString(text);
    case 1:
        return SysAllocStringLen(text, len);
    default:
        return SysAllocStringByteLen((const char *)text, len * (UINT)sizeof(OLECHAR));
    }
}

static void check(BSTR b)
{
    if (SysStringLen(b) != b[0] || SysStringByteLen(b) != b[0] * sizeof(OLECHAR))
        add(&errors, 1);
}

/* Put B back into slot I; if another thread filled it meanwhile, free B. */
static void put_back(unsigned i, BSTR b, uint64_t *freed)
{
    BSTR expected = NULL;
    if (!__atomic_compare_exchange_n(&slots[i], &expected, b, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        SysFreeString(b);
        (*freed)++;
    }
}

static void one_op(uint64_t *rng, OLECHAR *text, unsigned tag, uint64_t *made, uint64_t *freed)
{
    uint64_t r = next_random(rng);
    unsigned i = (unsigned)(r % SLOTS);
    unsigned what = (unsigned)((r >> 20) % 100);
    BSTR b = __atomic_exchange_n(&slots[i], NULL, __ATOMIC_ACQ_REL);
    if (!b) {
        b = make(rng, text, tag);
        if (!b) {
            add(&errors, 1);
            return;
        }
        (*made)++;
        put_back(i, b, freed);
        return;
    }
    check(b); /* b may come from any thread */
    if (what < 45) {
        SysFreeString(b);
        (*freed)++;
        return;
    }
    if (what < 75) {
        unsigned len = pick_len(next_random(rng));
        fill(text, len, tag);
        if (!SysReAllocStringLen(&b, text, len)) {
            add(&errors, 1);
        } else {
            (*made)++;
            (*freed)++;
        }
    } else if (what < 95) {
        unsigned len = pick_len(next_random(rng)) | 1; /* SysReAllocString needs a NUL */
        fill(text, len, tag);
        if (!SysReAllocString(&b, text)) {
            add(&errors, 1);
        } else {
            (*made)++;
            (*freed)++;
        }
    } else {
        if (SysAddRefString(b) != S_OK)
            add(&errors, 1);
        check(b);
        SysReleaseString(b);
    }
    check(b);
    put_back(i, b, freed);
}

static void *worker(void *arg)
{
    unsigned tag = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (tag + 1);
    OLECHAR text[BIG_CHARS + 1];
    uint64_t made = 0, freed = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    long n;
    for (n = 0; n < ops_per_thread && !stop_workers; n++) {
        one_op(&rng, text, tag, &made, &freed);
        if ((n & 255) == 255) {
            add(&allocations, made);
            add(&frees, freed);
            add(&ops_done, 256);
            made = freed = 0;
        }
    }
    add(&allocations, made);
    add(&frees, freed);
    add(&ops_done, (uint64_t)(n & 255));
    /* Blocked again before the thread exits: glibc's thread exit takes
     * malloc's own locks, and a handler that calls Sys* (that is, malloc)
     * must not interrupt it there, as README's "What is async-signal-safe"
     * says. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    return NULL;
}

static void start_workers(pthread_t *t)
{
    for (unsigned i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            perror("pthread_create");
            exit(2);
        }
}

static void join_workers(pthread_t *t)
{
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

/* The program's own counts, for run.py to hold the report to. EXTRA:
 * BSTRs left live outside the slots. */
static int print_counts(uint64_t extra)
{
    uint64_t leaked = extra;
    for (unsigned i = 0; i < SLOTS; i++)
        leaked += slots[i] != NULL;
    printf("allocations=%llu frees=%llu leaked=%llu ops=%llu errors=%llu\n",
           (unsigned long long)allocations, (unsigned long long)frees,
           (unsigned long long)leaked, (unsigned long long)ops_done,
           (unsigned long long)errors);
    fflush(stdout);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------- fork storm */

/* A child: a few BSTRs of its own, one leaked, then exit() (its report). */
static void child(unsigned n)
{
    alarm(60); /* a child that hangs is killed, and the parent sees it */
    OLECHAR text[16];
    fill(text, 5, n);
    BSTR a = SysAllocString(text);
    BSTR b = SysAllocStringLen(text, 3);
    SysReAllocString(&b, text);
    if (!a || !b || SysStringLen(a) != 5 || SysStringLen(b) != 5)
        exit(3);
    SysFreeString(b);
    exit(0); /* a leaks: the child's report has it */
}

static bool child_ok(pid_t pid, int status)
{
    /* 0: clean; the shim's exitcode (23) when the child reports leaks */
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 23))
        return true;
    fprintf(stderr, "child %d: status 0x%x\n", (int)pid, status);
    return false;
}

/* CHILDREN forks, IN_FLIGHT at a time, while the workers run until the
 * last child is reaped. */
static int fork_storm(unsigned children)
{
    enum { IN_FLIGHT = 4 };
    ops_per_thread = 1L << 60;
    pthread_t t[THREADS];
    start_workers(t);
    unsigned bad = 0, running = 0, started = 0;
    while (started < children || running > 0) {
        if (started < children && running < IN_FLIGHT) {
            pid_t pid = fork();
            if (pid == 0)
                child(started);
            if (pid < 0) {
                perror("fork");
                bad++;
            } else {
                running++;
            }
            started++;
            continue;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            break;
        running--;
        bad += !child_ok(pid, status);
    }
    stop_workers = 1;
    join_workers(t);
    printf("children=%u bad_children=%u\n", children, bad);
    if (bad)
        add(&errors, bad);
    return print_counts(0);
}

/* ------------------------------------------------------------------ signals */

static uint64_t signals_seen;
static int handler_uses_sys;
enum { POOL = 2000, KEPT_MAX = 4096 };
static BSTR handler_pool[POOL]; /* made by main, freed by the handler */
static unsigned pool_next;
static BSTR kept[KEPT_MAX];     /* made by the handler, leaked on purpose */
static unsigned kept_count;

static void on_prof(int sig)
{
    (void)sig;
    int saved = errno;
    uint64_t n = __atomic_add_fetch(&signals_seen, 1, __ATOMIC_RELAXED);
    if (handler_uses_sys) {
        static const OLECHAR hello[] = {3, 'h', 'i', 0};
        BSTR b = SysAllocString(hello);
        if (!b || SysStringLen(b) != 3 || b[1] != 'h')
            add(&errors, 1);
        if (b)
            add(&allocations, 1);
        if (b && SysReAllocStringLen(&b, hello, 2)) {
            add(&allocations, 1);
            add(&frees, 1);
        }
        if (b && (SysStringByteLen(b) != 2 * sizeof(OLECHAR) || SysAddRefString(b) != S_OK))
            add(&errors, 1);
        SysReleaseString(b);
        unsigned k = n % 64 == 0 ? __atomic_fetch_add(&kept_count, 1, __ATOMIC_RELAXED) : KEPT_MAX;
        if (k < KEPT_MAX) {
            kept[k] = b; /* leaked */
        } else {
            SysFreeString(b);
            add(&frees, 1);
        }
        unsigned p = __atomic_fetch_add(&pool_next, 1, __ATOMIC_RELAXED);
        if (p < POOL) {
            SysFreeString(handler_pool[p]); /* made outside the handler */
            add(&frees, 1);
        }
    }
    errno = saved;
}

static int signals(bool use_sys)
{
    handler_uses_sys = use_sys;
    OLECHAR text[8];
    fill(text, 4, 0);
    for (unsigned i = 0; i < POOL; i++) {
        handler_pool[i] = SysAllocString(text);
        add(&allocations, 1);
    }
    /* Only the workers take the signal: they are the ones inside Sys*. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupted system calls see EINTR */
    sigaction(SIGPROF, &sa, NULL);
    /* A timer: SIGPROF every 100 us of wall time, delivered to a worker
     * (the other threads block it). Not faster: a handler that allocates
     * takes tens of microseconds, and when one worker is left, a faster
     * timer would keep it in its handler for good (a livelock of the
     * program's making). */
    timer_t timer;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGPROF;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) {
        perror("timer_create");
        return 2;
    }
    struct itimerspec every = {{0, 100000}, {0, 100000}};
    timer_settime(timer, 0, &every, NULL);
    pthread_t t[THREADS];
    start_workers(t);
    join_workers(t);
    timer_delete(timer);
    /* whatever the handler did not free is still live: count it as leaked */
    unsigned p = pool_next < POOL ? pool_next : POOL;
    uint64_t pool_left = POOL - p;
    uint64_t kept_n = kept_count < KEPT_MAX ? kept_count : KEPT_MAX;
    printf("signals=%llu handler_frees_of_pool=%u pool_left=%llu kept=%llu\n",
           (unsigned long long)signals_seen, p, (unsigned long long)pool_left,
           (unsigned long long)kept_n);
    return print_counts(pool_left + kept_n);
}

/* ------------------------------------------------------------ exit under load */

static int exit_load(long delay_ms)
{
    ops_per_thread = 1L << 60;
    pthread_t t[THREADS];
    start_workers(t);
    struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    printf("exiting under load after %llu ops\n",
           (unsigned long long)__atomic_load_n(&ops_done, __ATOMIC_RELAXED));
    fflush(stdout);
    exit(0); /* the workers are still calling Sys* */
}

/* A worker's signal handler calls exit(): most likely while that worker
 * is inside a Sys* call. */
static void exit_now(int sig)
{
    (void)sig;
    exit(0);
}

static int exit_in_handler(void)
{
    ops_per_thread = 1L << 60;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPROF, exit_now);
    pthread_t t[THREADS];
    start_workers(t);
    /* the workers well under way first (the shim sets itself up at the
     * first Sys* call, which may take a while on a busy machine) */
    struct timespec ts = {0, 20 * 1000000L};
    do
        nanosleep(&ts, NULL);
    while (__atomic_load_n(&allocations, __ATOMIC_RELAXED) < 1000);
    pthread_kill(t[0], SIGPROF);
    pause();
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long arg = argc > 2 ? atol(argv[2]) : 0;
    if (strcmp(mode, "exit_load") == 0)
        return exit_load(arg > 0 ? arg : 30);
    if (strcmp(mode, "exit_in_handler") == 0)
        return exit_in_handler();
    if (arg > 0)
        ops_per_thread = arg / THREADS;
    if (strcmp(mode, "threads") == 0) {
        pthread_t t[THREADS];
        start_workers(t);
        join_workers(t);
        return print_counts(0);
    }
    if (strcmp(mode, "fork") == 0)
        return fork_storm(argc > 3 ? (unsigned)atoi(argv[3]) : 200);
    if (strcmp(mode, "signals") == 0)
        return signals(false);
    if (strcmp(mode, "signals_sys") == 0)
        return signals(true);
    fprintf(stderr, "usage: stress threads|fork|signals|signals_sys|exit_load [OPS|MS] [CHILDREN]\n");
    return 2;
}
