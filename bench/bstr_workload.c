/* The benchmark workload: a callee DEPTH frames deep allocates a BSTR, the
 * caller frees it; one in LEAK_EVERY is leaked. THREADS threads each do
 * ITERATIONS of that.
 *
 *   bstr_workload [iterations] [depth] [threads] [leak_every] [length] [live]
 *
 * With LIVE > 0 it instead keeps LIVE BSTRs live at once and prints its
 * resident set size (for metadata per BSTR). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len);
void SysFreeString(BSTR bstr);
unsigned SysStringLen(BSTR bstr);

static long iterations = 1000000;
static int depth = 16, threads = 1, leak_every = 1000;
static unsigned length = 24;
static OLECHAR text[4096];

__attribute__((noinline)) static BSTR descend(int level)
{
    BSTR b;
    if (level <= 1)
        b = SysAllocStringLen(text, length);
    else
        b = descend(level - 1);
    __asm__ volatile("" ::: "memory"); /* keep every frame a real call */
    return b;
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    for (long i = 0; i < iterations; i++) {
        BSTR b = descend(depth);
        sum += SysStringLen(b);
        if (leak_every == 0 || (i + 1) % leak_every != 0)
            SysFreeString(b);
    }
    return (void *)(uintptr_t)sum;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc > 1) iterations = atol(argv[1]);
    if (argc > 2) depth = atoi(argv[2]);
    if (argc > 3) threads = atoi(argv[3]);
    if (argc > 4) leak_every = atoi(argv[4]);
    if (argc > 5) length = (unsigned)atoi(argv[5]);
    long live = argc > 6 ? atol(argv[6]) : 0;
    if (length >= sizeof text / sizeof text[0] || threads < 1 || threads > 64)
        return 2;
    for (unsigned i = 0; i < length; i++)
        text[i] = (OLECHAR)('a' + i % 26);

    if (live > 0) {
        BSTR *keep = malloc((size_t)live * sizeof *keep);
        long before = rss_kb();
        for (long i = 0; i < live; i++)
            keep[i] = descend(depth);
        long after = rss_kb();
        printf("live=%ld rss_before_kb=%ld rss_after_kb=%ld\n", live, before, after);
        for (long i = 0; i < live; i++)
            SysFreeString(keep[i]);
        free(keep);
        return 0;
    }

    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
