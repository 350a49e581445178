/* What the exit report costs. Runs the leaker (N BSTRs from S stacks, all
 * leaked) under the shim with detect_leaks=0 and with detect_leaks=1, best
 * of R interleaved rounds: the difference in wall time is the report's
 * cost, the difference in peak RSS (wait4's ru_maxrss) its memory. Then at
 * N/10, to show the report's memory follows the number of groups, not of
 * BSTRs. Fails if a run ends with the wrong status or the JSON report does
 * not count N leaks in S groups.
 *
 * Usage: report-bench SHIM LEAKER [N [S]]   (BC_BENCH_RUNS: R, default 3) */
#include <ftw.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct measure {
    double seconds; /* best wall time */
    long rss_kb;    /* peak RSS of that run */
    int status;     /* exit status, -1 if it did not exit */
} measure_t;

static char workdir[] = "/tmp/bc-bench-XXXXXX";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One run of LEAKER with BSTRCHECK_OPTIONS=OPTIONS and the shim preloaded. */
static measure_t run_once(const char *shim, const char *leaker, const char *n, const char *s,
                          const char *options)
{
    measure_t m = {0, 0, -1};
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + 3, sizeof *env);
    char preload[4096], opts[8192];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
    snprintf(opts, sizeof opts, "BSTRCHECK_OPTIONS=%s", options);
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
            strncmp(environ[i], "BSTRCHECK_OPTIONS=", 18) != 0)
            env[k++] = environ[i];
    env[k++] = preload;
    env[k++] = opts;
    char *argv[] = {(char *)leaker, (char *)n, (char *)s, NULL};
    double start = now();
    pid_t pid;
    if (posix_spawn(&pid, leaker, NULL, NULL, argv, env) != 0) {
        perror("posix_spawn");
        free(env);
        return m;
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) == pid) {
        m.seconds = now() - start;
        m.rss_kb = ru.ru_maxrss;
        m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    free(env);
    return m;
}

typedef struct config {
    const char *n;       /* BSTRs to leak */
    const char *options; /* BSTRCHECK_OPTIONS */
    measure_t best;
} config_t;

/* RUNS rounds; each round runs every configuration once, so a burst of
 * load on the machine hits them all alike. Keeps each one's best run. */
static void best_of(int runs, const char *shim, const char *leaker, const char *s,
                    config_t *configs, size_t nconfigs)
{
    for (size_t c = 0; c < nconfigs; c++)
        configs[c].best = (measure_t){1e30, 0, -1};
    for (int i = 0; i < runs; i++)
        for (size_t c = 0; c < nconfigs; c++) {
            measure_t m = run_once(shim, leaker, configs[c].n, s, configs[c].options);
            if (m.status < 0 || m.seconds < configs[c].best.seconds)
                configs[c].best = m;
        }
}

static size_t count_occurrences(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    size_t found = 0;
    for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++)
        found++;
    return found;
}

static bool expect_status(const char *what, const measure_t *m, int status)
{
    if (m->status == status)
        return true;
    fprintf(stderr, "report-bench: %s exited with %d, expected %d\n", what, m->status, status);
    return false;
}

static void row(const char *what, const measure_t *m, const measure_t *base)
{
    printf("  %-34s %7.3f s  peak RSS %8.1f MiB", what, m->seconds, (double)m->rss_kb / 1024);
    if (base)
        printf("   report %+7.3f s  %+6.1f MiB", m->seconds - base->seconds,
               (double)(m->rss_kb - base->rss_kb) / 1024);
    printf("\n");
}

/* nftw callback: remove one entry (children first, FTW_DEPTH). No shell. */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: report-bench SHIM LEAKER [N [STACKS]]\n");
        return 2;
    }
    const char *shim = argv[1], *leaker = argv[2];
    long n = argc > 3 ? atol(argv[3]) : 1000000;
    const char *stacks = argc > 4 ? argv[4] : "32";
    const char *runs_env = getenv("BC_BENCH_RUNS");
    int runs = runs_env && atoi(runs_env) > 0 ? atoi(runs_env) : 3;
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 1;
    }
    char n_text[32], tenth_text[32], opts_off[9000], opts_text[9000], opts_all[9000];
    snprintf(n_text, sizeof n_text, "%ld", n);
    snprintf(tenth_text, sizeof tenth_text, "%ld", n / 10);
    snprintf(opts_off, sizeof opts_off, "detect_leaks=0:log_path=%s/off.log", workdir);
    snprintf(opts_text, sizeof opts_text, "detect_leaks=1:log_path=%s/text.log", workdir);
    snprintf(opts_all, sizeof opts_all,
             "detect_leaks=1:log_path=%s/all.log:json_path=%s/r.json:sarif_path=%s/r.sarif",
             workdir, workdir, workdir);

    printf("bstrcheck report benchmark: %ld leaked BSTRs from %s stacks, best of %d runs\n", n,
           stacks, runs);
    config_t configs[] = {
        {n_text, opts_off, {0, 0, 0}},     {n_text, opts_text, {0, 0, 0}},
        {n_text, opts_all, {0, 0, 0}},     {tenth_text, opts_off, {0, 0, 0}},
        {tenth_text, opts_text, {0, 0, 0}},
    };
    best_of(runs, shim, leaker, stacks, configs, sizeof configs / sizeof configs[0]);
    measure_t off = configs[0].best, text = configs[1].best, all = configs[2].best;
    measure_t off10 = configs[3].best, text10 = configs[4].best;
    row("detect_leaks=0 (no report)", &off, NULL);
    row("detect_leaks=1, text report", &text, &off);
    row("detect_leaks=1, text + JSON + SARIF", &all, &off);
    printf("the same with %ld BSTRs (same %s stacks):\n", n / 10, stacks);
    row("detect_leaks=0 (no report)", &off10, NULL);
    row("detect_leaks=1, text report", &text10, &off10);

    bool ok = expect_status("detect_leaks=0", &off, 0) &
              expect_status("detect_leaks=1", &text, 23) &
              expect_status("detect_leaks=1 with JSON and SARIF", &all, 23);
    char json[9000], needle[64];
    snprintf(json, sizeof json, "%s/r.json", workdir);
    snprintf(needle, sizeof needle, "\"leaked\": %ld,", n);
    size_t groups = count_occurrences(json, "\"kind\": \"leak\"");
    if (count_occurrences(json, needle) != 1 || groups != (size_t)atol(stacks)) {
        fprintf(stderr, "report-bench: JSON report does not hold %ld leaks in %s groups (%zu groups)\n",
                n, stacks, groups);
        ok = false;
    }
    printf("report cost at %ld BSTRs: %.3f s (text), %.3f s (text + JSON + SARIF); "
           "report memory %+.1f MiB at %ld, %+.1f MiB at %ld\n",
           n, text.seconds - off.seconds, all.seconds - off.seconds,
           (double)(text.rss_kb - off.rss_kb) / 1024, n,
           (double)(text10.rss_kb - off10.rss_kb) / 1024, n / 10);

    if (nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "report-bench: could not remove %s\n", workdir);
    return ok ? 0 : 1;
}
