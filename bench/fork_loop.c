/* The fixed cost of a process (issue 15), three ways:
 *   fork-loop                         returns at once: the tiny program;
 *   fork-loop fork N [LIVE]           N times fork, _exit in the child,
 *                                     waitpid; with LIVE, LIVE BSTRs made
 *                                     first (and kept live), through the
 *                                     Sys* functions found in the process;
 *   fork-loop spawn N [--preload LIB] PROG [ARG...]
 *                                     N times posix_spawn PROG and wait;
 *                                     with --preload, only the children
 *                                     get LD_PRELOAD=LIB.
 * Each loop prints microseconds per iteration. */
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *(*alloc)(const void *, unsigned);
static void (*release)(void *);
static void **kept;

static int make_live(long live)
{
    /* looked up, not linked: the loop must run bare too */
    void *sym = dlsym(RTLD_DEFAULT, "SysAllocStringLen");
    memcpy(&alloc, &sym, sizeof alloc);
    sym = dlsym(RTLD_DEFAULT, "SysFreeString");
    memcpy(&release, &sym, sizeof release);
    kept = calloc((size_t)live, sizeof *kept);
    if (!alloc || !release || !kept) {
        fprintf(stderr, "fork-loop: no SysAllocStringLen in the process (preload a runtime)\n");
        return -1;
    }
    for (long i = 0; i < live; i++)
        if (!(kept[i] = alloc(NULL, 8)))
            return -1;
    return 0;
}

static int fork_loop(long n, long live)
{
    if (live > 0 && make_live(live) != 0)
        return 1;
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            _exit(0);
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
            fprintf(stderr, "fork-loop: child failed\n");
            return 1;
        }
    }
    printf("fork+exit+wait: %.1f us per call (%ld calls, %ld live BSTRs)\n",
           (now_us() - t0) / (double)n, n, live);
    for (long i = 0; i < live; i++)
        release(kept[i]);
    return 0;
}

static int spawn_loop(long n, const char *preload, char **argv)
{
    char **env = environ;
    if (preload) {
        size_t count = 0;
        while (environ[count])
            count++;
        env = calloc(count + 2, sizeof *env);
        char *entry = malloc(strlen(preload) + sizeof "LD_PRELOAD=");
        if (!env || !entry)
            return 1;
        sprintf(entry, "LD_PRELOAD=%s", preload);
        size_t k = 0;
        for (size_t i = 0; i < count; i++)
            if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
                env[k++] = environ[i];
        env[k++] = entry;
        env[k] = NULL;
    }
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, env);
        if (err != 0) {
            fprintf(stderr, "fork-loop: cannot start %s: %s\n", argv[0], strerror(err));
            return 1;
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork-loop: %s failed\n", argv[0]);
            return 1;
        }
    }
    printf("posix_spawn+wait: %.1f us per process (%ld runs of %s%s)\n",
           (now_us() - t0) / (double)n, n, argv[0], preload ? ", preloaded" : "");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 0;
    if (strcmp(argv[1], "fork") == 0 && argc >= 3)
        return fork_loop(atol(argv[2]), argc >= 4 ? atol(argv[3]) : 0);
    if (strcmp(argv[1], "spawn") == 0 && argc >= 4) {
        const char *preload = NULL;
        int first = 3;
        if (strcmp(argv[3], "--preload") == 0 && argc >= 6) {
            preload = argv[4];
            first = 5;
        }
        return spawn_loop(atol(argv[2]), preload, argv + first);
    }
    fprintf(stderr, "usage: fork-loop [fork N [LIVE] | spawn N [--preload LIB] PROG [ARG...]]\n");
    return 2;
}
