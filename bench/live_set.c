/* The live-set workload (issue 15, part 3): allocate N BSTRs, all live at
 * once, read each one's length, then free them all. What it measures is
 * the shim's table as it holds N records: insert, find and remove at scale.
 *
 *   bstr-live N [rounds]
 *
 * Prints the sum of the lengths (so nothing is optimized away) and its
 * resident set size in KiB, for the metadata bytes per live BSTR. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len);
void SysFreeString(BSTR bstr);
unsigned SysStringLen(BSTR bstr);

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 1;
    if (n <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: bstr-live N [rounds]\n");
        return 2;
    }
    static const OLECHAR text[16] = {'l', 'i', 'v', 'e'};
    BSTR *live = malloc((size_t)n * sizeof *live);
    if (!live) {
        fprintf(stderr, "bstr-live: cannot hold %ld pointers\n", n);
        return 1;
    }
    uint64_t sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (long i = 0; i < n; i++)
            live[i] = SysAllocStringLen(text, (unsigned)(i % 16));
        for (long i = 0; i < n; i++)
            sum += SysStringLen(live[i]);
        for (long i = 0; i < n; i++)
            SysFreeString(live[i]);
    }
    free(live);
    printf("sum %llu peak_rss_kb %ld\n", (unsigned long long)sum, rss_kb());
    return 0;
}
