/* What a process sees of the shim before and after its first Sys* call
 * (issue 15): run bare and under the shim, its output must match where the
 * shim promises to be invisible. The Sys* functions are looked up, not
 * linked, so that it runs bare too.
 *   startup-prog fds [sys]   (after one BSTR made and freed, with sys) the
 *                            numbers a new file and a new pipe get, and the
 *                            descriptors below 64 that are open
 *   startup-prog maps [sys]  the libraries of the unwinder and of the
 *                            symbolizer found mapped, one a line
 *   startup-prog race N      N threads make their first BSTR at once while
 *                            the main thread forks (each child makes one
 *                            too); prints "made M"
 *   startup-prog forks N     N times fork, _exit in the child, wait; prints
 *                            the minor page faults of the loop, the
 *                            children's included ("faults F")
 *   startup-prog reports N   a thread writes N reports (bstrcheck_report_now),
 *                            each with a new overflow to say, while the main
 *                            thread forks N times; prints "forked F" */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void *(*alloc_fn)(const void *, unsigned);
typedef void (*free_fn)(void *);

static alloc_fn sys_alloc;
static free_fn sys_free;

static int find_sys(void)
{
    void *a = dlsym(RTLD_DEFAULT, "SysAllocStringLen");
    void *f = dlsym(RTLD_DEFAULT, "SysFreeString");
    memcpy(&sys_alloc, &a, sizeof a);
    memcpy(&sys_free, &f, sizeof f);
    if (!sys_alloc || !sys_free) {
        fprintf(stderr, "startup-prog: no SysAllocStringLen in the process\n");
        return -1;
    }
    return 0;
}

static int one_bstr(void)
{
    void *b = sys_alloc(NULL, 4);
    if (!b)
        return -1;
    sys_free(b);
    return 0;
}

static int fds(void)
{
    int file = open("/dev/null", O_RDONLY);
    int pipe_fds[2] = {-1, -1};
    if (pipe(pipe_fds) != 0)
        return 1;
    printf("file %d\npipe %d %d\nopen below 64:", file, pipe_fds[0], pipe_fds[1]);
    for (int fd = 0; fd < 64; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf(" %d", fd);
    printf("\n");
    /* above: only close-on-exec ones (libunwind's pipe) may be there */
    for (int fd = 64; fd < 1024; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            printf("inherited by exec: %d\n", fd);
    }
    return 0;
}

static int maps(void)
{
    static const char *const watched[] = {"libunwind", "liblzma", "libdw", "libelf", "libz.",
                                          "libbz2"};
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 1;
    char line[4096];
    bool seen[sizeof watched / sizeof *watched] = {false};
    while (fgets(line, sizeof line, f))
        for (size_t i = 0; i < sizeof watched / sizeof *watched; i++)
            if (strstr(line, watched[i]) && !seen[i]) {
                seen[i] = true;
                printf("mapped %s\n", watched[i]);
            }
    fclose(f);
    return 0;
}

static pthread_barrier_t start;
static int made;

static void *racer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    if (one_bstr() == 0)
        __atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int race(int n)
{
    pthread_t threads[64];
    if (n < 1 || n > 64 || pthread_barrier_init(&start, NULL, (unsigned)n + 1) != 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, racer, NULL) != 0)
            return 1;
    pthread_barrier_wait(&start);
    int failed = 0, last_status = 0;
    for (int i = 0; i < 8; i++) { /* forks while the threads arm */
        pid_t pid = fork();
        if (pid == 0)
            _exit(one_bstr() == 0 ? 0 : 3);
        int status = -1;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            failed++;
            last_status = status;
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    printf("made %d\nchildren failed %d\n", made, failed);
    if (failed)
        printf("a child's status %#x\n", (unsigned)last_status);
    return failed ? 1 : 0;
}

static long minor_faults(void)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return self.ru_minflt + children.ru_minflt;
}

static int forks(int n)
{
    long before = minor_faults();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            return 1;
    }
    printf("faults %ld\n", minor_faults() - before);
    return 0;
}

/* The report walks a stack under its lock (the access stack of a finding
 * it says); a fork meanwhile must neither deadlock with it nor wait for
 * ever. */
static int reports_left;

static void *reporter(void *arg)
{
    void (*report_now)(void) = NULL;
    void *sym = dlsym(RTLD_DEFAULT, "bstrcheck_report_now");
    memcpy(&report_now, &sym, sizeof sym);
    (void)arg;
    while (report_now && __atomic_load_n(&reports_left, __ATOMIC_RELAXED) > 0) {
        char *b = sys_alloc(NULL, 4); /* 8 bytes at OLECHAR 2 */
        if (b)
            b[8 + 2] = 'X'; /* past the terminator: an overflow for the report */
        report_now();
        sys_free(b);
        __atomic_sub_fetch(&reports_left, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static int reports(int n)
{
    pthread_t thread;
    reports_left = n;
    if (pthread_create(&thread, NULL, reporter, NULL) != 0)
        return 1;
    int forked = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        int status;
        forked += pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status);
    }
    pthread_join(thread, NULL);
    printf("forked %d\n", forked);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    bool sys = argc > 2 && strcmp(argv[2], "sys") == 0;
    if (strcmp(argv[1], "race") == 0)
        return argc > 2 && find_sys() == 0 ? race(atoi(argv[2])) : 2;
    if (strcmp(argv[1], "forks") == 0)
        return argc > 2 ? forks(atoi(argv[2])) : 2;
    if (strcmp(argv[1], "reports") == 0)
        return argc > 2 && find_sys() == 0 ? reports(atoi(argv[2])) : 2;
    if (sys && (find_sys() != 0 || one_bstr() != 0))
        return 1;
    if (strcmp(argv[1], "fds") == 0)
        return fds();
    if (strcmp(argv[1], "maps") == 0)
        return maps();
    return 2;
}
