/* Scenario programs for the integration suite: `scenarios NAME` runs one
 * scenario; run.py checks its JSON report and exit status. Each call site
 * that a test looks for in a stack lives in its own noinline function. */
#include "oleauto.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR alloc_site_a(void) { return SysAllocString(OLESTR("alpha")); }
static NOINLINE BSTR alloc_site_b(void) { return SysAllocStringLen(OLESTR("bravo-bravo"), 11); }
static NOINLINE BSTR alloc_site_c(void) { return SysAllocStringByteLen("c", 1); }
static NOINLINE void first_free_site(BSTR b) { SysFreeString(b); }
static NOINLINE void second_free_site(BSTR b) { SysFreeString(b); }
static NOINLINE void bogus_free_site(void *p) { SysFreeString((BSTR)p); }

static int clean(void)
{
    BSTR a = alloc_site_a();
    BSTR b = SysAllocStringLen(NULL, 100);
    SysReAllocString(&b, OLESTR("replaced"));
    SysReAllocStringLen(&b, b, 3);
    if (SysStringLen(a) != 5 || SysStringLen(b) != 3)
        return 1;
    SysFreeString(a);
    SysFreeString(b);
    SysFreeString(NULL);
    return 0;
}

/* 3 leaks from site a, 2 from b, 1 from c: three groups. */
static int leak_groups(void)
{
    for (int i = 0; i < 3; i++)
        alloc_site_a();
    for (int i = 0; i < 2; i++)
        alloc_site_b();
    alloc_site_c();
    BSTR freed = alloc_site_a(); /* not a leak */
    SysFreeString(freed);
    return 0;
}

static int double_free(void)
{
    BSTR b = alloc_site_a();
    first_free_site(b);
    second_free_site(b);
    puts("still running after the double free");
    return 0;
}

static int invalid_free(void)
{
    OLECHAR not_a_bstr[8] = {'x', 0};
    bogus_free_site(not_a_bstr + 2);
    puts("still running after the invalid free");
    return 0;
}

/* Producers allocate, a different thread frees: the table must follow
 * BSTRs across threads. */
enum { THREADS = 4, PER_THREAD = 5000 };
static BSTR handoff[THREADS][PER_THREAD];

static void *producer(void *arg)
{
    BSTR *slots = arg;
    for (int i = 0; i < PER_THREAD; i++)
        slots[i] = SysAllocStringLen(OLESTR("threaded"), (UINT)(i % 8));
    return NULL;
}

static void *consumer(void *arg)
{
    BSTR *slots = arg;
    for (int i = 0; i < PER_THREAD; i++)
        SysFreeString(slots[i]);
    return NULL;
}

static int threads(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, producer, handoff[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* thread i frees what thread i+1 allocated */
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, consumer, handoff[(i + 1) % THREADS]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("allocations=%d\n", THREADS * PER_THREAD);
    return 0;
}

/* errno as the program left it, after every Sys* function, on the first
 * call (which sets the shim up), on error paths (which report), and on a
 * second thread with a value of its own. Prints how many calls kept it. */
static int errno_calls(int value)
{
    int kept = 0, calls = 0;
#define KEEPS(call)                     \
    do {                                \
        errno = value;                  \
        call;                           \
        kept += errno == value;         \
        calls++;                        \
    } while (0)
    BSTR a = NULL, b = NULL;
    static char not_a_bstr[64];
    KEEPS(a = SysAllocString(OLESTR("errno")));
    KEEPS(b = SysAllocStringLen(OLESTR("errno"), 3));
    KEEPS(SysFreeString(SysAllocStringByteLen("ab", 2)));
    KEEPS(SysReAllocString(&a, OLESTR("again")));
    KEEPS(SysReAllocStringLen(&b, OLESTR("again"), 4));
    KEEPS((void)SysStringLen(a));
    KEEPS((void)SysStringByteLen(b));
    KEEPS((void)SysAddRefString(a));
    KEEPS(SysReleaseString(a));
    KEEPS(SysFreeString(a));
    KEEPS(SysFreeString(a)); /* a double free: reported */
    KEEPS(SysFreeString((BSTR)(not_a_bstr + 8))); /* not a BSTR: reported */
    KEEPS((void)SysStringLen((BSTR)(not_a_bstr + 8)));
    KEEPS(SysFreeString(b));
#undef KEEPS
    printf("errno kept %d of %d (%d)\n", kept, calls, value);
    return kept == calls;
}

static void *errno_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)errno_calls(ERANGE);
}

static int errno_kept(void)
{
    int ok = errno_calls(EDOM);
    pthread_t t;
    void *thread_ok = NULL;
    if (pthread_create(&t, NULL, errno_thread, NULL) != 0 || pthread_join(t, &thread_ok) != 0)
        return 1;
    ok = ok && thread_ok && errno_calls(EDOM); /* this thread's again, after the other's */
    puts(ok ? "errno kept everywhere" : "errno changed");
    return 0;
}

/* Leaks and a non-zero status of the program's own. */
static int leak_and_exit_5(void)
{
    alloc_site_a();
    return 5;
}

/* A string with characters that need escaping and converting. */
static int leak_sample(void)
{
    static const OLECHAR text[] = {'q', '"', '\\', '\n', 0xE9, 0x4E2D, 0, 'z'};
    SysAllocStringLen(text, 8);
    return 0;
}

/* An error and three leak groups: for suppressions by kind, max_findings
 * and SARIF. */
static int mixed(void)
{
    double_free();
    return leak_groups();
}

/* Is a module whose path contains NAME still mapped? */
static int module_mapped(struct dl_phdr_info *info, size_t size, void *name)
{
    (void)size;
    return info->dlpi_name && strstr(info->dlpi_name, name) != NULL;
}

/* A plugin (BC_PLUGIN) leaks a BSTR and is unloaded before exit. Prints
 * dlclose's result, whether errno survived and whether the plugin is gone. */
static int dlclose_leak(void)
{
    const char *path = getenv("BC_PLUGIN");
    void *handle = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!handle) {
        fprintf(stderr, "dlopen %s: %s\n", path ? path : "(BC_PLUGIN unset)", dlerror());
        return 1;
    }
    void *sym = dlsym(handle, "plugin_leak");
    int (*plugin_leak)(void);
    memcpy(&plugin_leak, &sym, sizeof plugin_leak);
    if (!plugin_leak || !plugin_leak())
        return 1;
    errno = EDOM;
    int rc = dlclose(handle);
    int errno_kept = errno == EDOM;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("dlclose=%d errno_kept=%d unloaded=%d\n", rc, errno_kept,
           !dl_iterate_phdr(module_mapped, (void *)base));
    return 0;
}

/* fork: the parent leaks one BSTR and frees one twice before forking; the
 * child leaks two of its own. The child's report must hold its two leaks
 * only, the parent's its one leak and its double free. */
static NOINLINE BSTR alloc_in_parent(void) { return SysAllocString(OLESTR("parent")); }
static NOINLINE BSTR alloc_in_child(void) { return SysAllocString(OLESTR("child")); }

static int fork_leaks(void)
{
    alloc_in_parent();
    BSTR twice = alloc_site_a(); /* an event and a free before the fork, */
    first_free_site(twice);       /* the parent's too */
    second_free_site(twice);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        alloc_in_child();
        alloc_in_child();
        exit(0); /* a normal exit: the child writes its own report */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("parent=%d child=%d child_status=%d\n", (int)getpid(), (int)pid,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* fork while other threads hammer the table: no child may inherit a locked
 * shard, events or depot lock (its exit report locks them all), and the
 * BSTRs the threads hold at fork time are not the child's leaks. */
enum { BUSY_THREADS = 3, BUSY_FORKS = 60, CHILD_BSTRS = 300 };
static volatile int busy_stop;

static void *hammer(void *arg)
{
    (void)arg;
    BSTR held[16] = {0};
    for (unsigned i = 0; !busy_stop; i++) {
        SysFreeString(held[i % 16]);
        held[i % 16] = SysAllocStringLen(OLESTR("busy"), i % 4);
    }
    for (int i = 0; i < 16; i++)
        SysFreeString(held[i]);
    return NULL;
}

/* Wait for PID at most SECONDS; -1 (after killing it) when it hangs. */
static int wait_bounded(pid_t pid, int seconds)
{
    struct timespec nap = {0, 5 * 1000 * 1000};
    for (int tries = 0; tries < seconds * 200; tries++) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int fork_busy(void)
{
    pthread_t t[BUSY_THREADS];
    for (int i = 0; i < BUSY_THREADS; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    int hung = 0, leaky = 0, forks = 0;
    for (int f = 0; f < BUSY_FORKS; f++) {
        forks++;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            /* Touch every shard, then exit: the exit report locks them all. */
            BSTR mine[CHILD_BSTRS];
            for (int i = 0; i < CHILD_BSTRS; i++)
                mine[i] = alloc_site_a();
            for (int i = 0; i < CHILD_BSTRS; i++)
                SysFreeString(mine[i]);
            exit(0);
        }
        int status = pid < 0 ? -1 : wait_bounded(pid, 10);
        if (status == -1)
            hung++;
        else if (status != 0)
            leaky++;
        if (hung || leaky)
            break; /* one is enough: do not wait for the rest to hang */
    }
    busy_stop = 1;
    for (int i = 0; i < BUSY_THREADS; i++)
        pthread_join(t[i], NULL);
    printf("forks=%d hung=%d failed=%d\n", forks, hung, leaky);
    return hung || leaky ? 1 : 0;
}

/* exec: the image that leaked is gone (no report for it); the new image,
 * the same pid, is under the shim again through LD_PRELOAD. */
static int exec_leak(void)
{
    alloc_site_c();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    fflush(stdout);
    execl(self, self, "leak_groups", (char *)NULL);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"clean", clean},
        {"leak_groups", leak_groups},
        {"double_free", double_free},
        {"invalid_free", invalid_free},
        {"threads", threads},
        {"leak_and_exit_5", leak_and_exit_5},
        {"leak_sample", leak_sample},
        {"mixed", mixed},
        {"dlclose_leak", dlclose_leak},
        {"fork", fork_leaks},
        {"fork_busy", fork_busy},
        {"exec_leak", exec_leak},
        {"errno_kept", errno_kept},
    };
    for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            return scenarios[i].run();
    fprintf(stderr, "usage: scenarios NAME\n");
    return 2;
}
