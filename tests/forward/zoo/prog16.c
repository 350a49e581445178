/* The program of cases 1, 2, 4 and 13, linked against one 16-bit runtime
 * (which one is decided at link time; every one exports ZooOwns()).
 *   prog16 script          every Sys* function once or more, single-threaded,
 *                          then one planted leak and one planted double free
 *   prog16 threads N ITER  N threads allocate, re-allocate, pin and free
 *                          (their own BSTRs and their neighbour's), then each
 *                          leaks one; exact counts, whatever the timing
 * The last line is "count: allocations=N": what zoo.py expects in
 * summary.allocations. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoo_prog.h"

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
typedef int32_t HRESULT;

BSTR SysAllocString(const OLECHAR *);
BSTR SysAllocStringLen(const OLECHAR *, unsigned);
BSTR SysAllocStringByteLen(const char *, unsigned);
int SysReAllocString(BSTR *, const OLECHAR *);
int SysReAllocStringLen(BSTR *, const OLECHAR *, unsigned);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);
HRESULT SysAddRefString(BSTR);
void SysReleaseString(BSTR);
int ZooOwns(BSTR);

static unsigned long allocations;

static void show(const char *what, BSTR b)
{
    if (!b) {
        printf("%s: NULL\n", what);
        return;
    }
    unsigned len = SysStringLen(b), bytes = SysStringByteLen(b);
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 2));
    zoo_print_text(b, len, 2);
    printf("\nlayout: %s align8=%u align16=%u owned=%d\n", what, zoo_align8(b), zoo_align16(b), ZooOwns(b));
}

static BSTR counted(BSTR b)
{
    if (b)
        allocations++;
    return b;
}

NOINLINE static void leak_here(void)
{
    zoo_sink = (uintptr_t)counted(SysAllocString(u"leaked on purpose"));
}

NOINLINE static void double_free_here(void)
{
    BSTR b = counted(SysAllocString(u"freed twice"));
    SysFreeString(b);
    SysFreeString(b);
}

static int script(void)
{
    BSTR a = counted(SysAllocString(u"first string"));
    show("alloc", a);
    int ok = SysReAllocString(&a, u"re-allocated string");
    allocations += ok == 1;
    printf("realloc: %d\n", ok);
    show("realloc", a);
    ok = SysReAllocStringLen(&a, a + 3, 5); /* from inside itself */
    allocations += ok == 1;
    printf("realloc-self: %d\n", ok);
    show("realloc-self", a);

    BSTR odd = counted(SysAllocStringByteLen("abcde", 5));
    show("bytelen-odd", odd);
    BSTR nuls = counted(SysAllocStringLen(u"a\0b\0c", 5));
    show("embedded-nul", nuls);
    BSTR empty = counted(SysAllocString(u""));
    show("empty", empty);
    BSTR blank = counted(SysAllocStringLen(NULL, 3));
    printf("null-source: len=%u terminated=%d\n", SysStringLen(blank),
           zoo_terminated(blank, SysStringByteLen(blank), 2));
    printf("null: alloc=%d len=%u bytes=%u\n", SysAllocString(NULL) == NULL, SysStringLen(NULL),
           SysStringByteLen(NULL));

    /* A pinned BSTR outlives SysFreeString; the last SysReleaseString frees
     * it (the tail-call runtime jumps to SysFreeString from there). */
    BSTR p = counted(SysAllocString(u"pinned string"));
    printf("addref: %d\n", (int)SysAddRefString(p));
    SysFreeString(p);
    show("pinned-after-free", p);
    SysReleaseString(p);
    BSTR q = counted(SysAllocString(u"pin and release"));
    printf("addref: %d\n", (int)SysAddRefString(q));
    SysReleaseString(q);
    show("released", q);
    SysFreeString(q);

    SysFreeString(a);
    SysFreeString(odd);
    SysFreeString(nuls);
    SysFreeString(empty);
    SysFreeString(blank);
    SysFreeString(NULL);
    leak_here();
    double_free_here();
    printf("count: allocations=%lu\n", allocations);
    return 0;
}

/* ------------------------------------------------------------ threads */

#define HANDOFF 32

static int nthreads;
static long iterations;
static pthread_barrier_t barrier;
static BSTR handoff[64][HANDOFF];

typedef struct worker {
    int id;
    unsigned long allocations, errors;
} worker_t;

/* "t<id>-<i>" padded with letters to a length that varies with i. */
static unsigned text_for(OLECHAR *buf, int id, long i)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "t%d-%ld-", id, i);
    unsigned len = (unsigned)n + (unsigned)(i % 11);
    for (unsigned k = 0; k < len; k++)
        buf[k] = (OLECHAR)(k < (unsigned)n ? tmp[k] : 'a' + (int)k % 26);
    buf[len] = 0;
    return len;
}

static int same(BSTR b, const OLECHAR *text, unsigned len)
{
    return b && SysStringLen(b) == len && SysStringByteLen(b) == 2 * len &&
           memcmp(b, text, 2 * (size_t)len) == 0 && b[len] == 0;
}

NOINLINE static void thread_leak(worker_t *w)
{
    zoo_sink = (uintptr_t)SysAllocString(u"leaked by a thread");
    w->allocations++;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    OLECHAR text[64];
    static const OLECHAR other[] = u"re-allocated in a thread";
    for (long i = 0; i < iterations; i++) {
        unsigned len = text_for(text, w->id, i);
        BSTR b = SysAllocString(text);
        w->allocations += b != NULL;
        w->errors += !same(b, text, len);
        if (i % 3 == 0) {
            w->allocations += SysReAllocString(&b, other) == 1;
            w->errors += !same(b, other, 24);
        }
        if (i % 5 == 0) {
            w->errors += SysAddRefString(b) != 0;
            SysFreeString(b); /* pinned: still there */
            w->errors += !(SysStringLen(b) == (i % 3 == 0 ? 24 : len));
            SysReleaseString(b); /* freed now */
        } else {
            SysFreeString(b);
        }
    }
    /* BSTRs made by one thread and freed by another. */
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < HANDOFF; k++) {
            text_for(text, w->id, k);
            handoff[w->id][k] = SysAllocString(text);
            w->allocations++;
        }
        pthread_barrier_wait(&barrier);
        int from = (w->id + 1) % nthreads;
        for (int k = 0; k < HANDOFF; k++) {
            unsigned len = text_for(text, from, k);
            w->errors += !same(handoff[from][k], text, len);
            SysFreeString(handoff[from][k]);
        }
        pthread_barrier_wait(&barrier);
    }
    thread_leak(w);
    return NULL;
}

static int threads(int n, long iters)
{
    nthreads = n;
    iterations = iters;
    pthread_t tid[64];
    worker_t w[64];
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){.id = i};
        pthread_create(&tid[i], NULL, work, &w[i]);
    }
    unsigned long total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        printf("thread %d: errors=%lu\n", i, w[i].errors);
        total += w[i].allocations;
    }
    printf("count: allocations=%lu\n", total);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "script") == 0)
        return script();
    if (argc > 3 && strcmp(argv[1], "threads") == 0) {
        int n = atoi(argv[2]);
        if (n >= 2 && n <= 64)
            return threads(n, atol(argv[3]));
    }
    fprintf(stderr, "usage: %s script | threads N ITERATIONS\n", argv[0]);
    return 2;
}
