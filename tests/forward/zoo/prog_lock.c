/* Case 10's program, linked against the runtime with a lock of its own
 * (rt_lock.c). N threads hammer it: each makes BSTRs and frees them, half
 * with SysFreeString (shim first, then the runtime's lock) and half with
 * RtClear (the runtime's lock first, then the shim), pins some (SysAddRefString
 * and SysReleaseString take the lock too), and all free a pool that one of
 * them made.
 * Exact counts whatever the timing; the main thread plants one leak.
 *   prog_lock N ITERATIONS */
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
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
HRESULT SysAddRefString(BSTR);
void SysReleaseString(BSTR);
void RtClear(BSTR *);

#define POOL 512
#define POOL_ROUNDS 64

static int nthreads;
static long iterations;
static pthread_barrier_t barrier;
static BSTR pool[POOL];

typedef struct worker {
    int id;
    unsigned long allocations, errors;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    for (long i = 0; i < iterations; i++) {
        BSTR b = SysAllocString(i % 2 ? u"cleared by RtClear" : u"freed by SysFreeString");
        w->allocations++;
        w->errors += SysStringLen(b) != (i % 2 ? 18u : 22u);
        if (i % 4 == 0) {
            w->errors += SysAddRefString(b) != 0;
            SysReleaseString(b);
        }
        if (i % 2) {
            RtClear(&b);
            w->errors += b != NULL;
        } else {
            SysFreeString(b);
        }
    }
    /* A shared pool, made by one thread a round and freed by all at once:
     * the shim files a BSTR under the thread that made it, so this is where
     * threads free into the same part of the shim's table together, some
     * from inside RtClear (holding the runtime's lock), some from outside. */
    for (int round = 0; round < POOL_ROUNDS; round++) {
        if (round % nthreads == w->id) {
            for (int k = 0; k < POOL; k++)
                pool[k] = SysAllocString(u"handed over");
            w->allocations += POOL;
        }
        pthread_barrier_wait(&barrier);
        for (int k = w->id; k < POOL; k += nthreads) {
            w->errors += SysStringLen(pool[k]) != 11;
            /* The shim between two calls that take the runtime's lock. */
            w->errors += SysAddRefString(pool[k]) != 0;
            SysReleaseString(pool[k]);
            if ((k / nthreads) % 2)
                RtClear(&pool[k]);
            else
                SysFreeString(pool[k]);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

NOINLINE static void lock_leak(void)
{
    zoo_sink = (uintptr_t)SysAllocString(u"leaked past the lock");
}

int main(int argc, char **argv)
{
    nthreads = argc > 2 ? atoi(argv[1]) : 0;
    iterations = argc > 2 ? atol(argv[2]) : 0;
    if (nthreads < 2 || nthreads > 16) {
        fprintf(stderr, "usage: %s THREADS ITERATIONS\n", argv[0]);
        return 2;
    }
    pthread_t tid[16];
    worker_t w[16];
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    for (int i = 0; i < nthreads; i++) {
        w[i] = (worker_t){.id = i};
        pthread_create(&tid[i], NULL, work, &w[i]);
    }
    unsigned long total = 1;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        printf("thread %d: errors=%lu\n", i, w[i].errors);
        total += w[i].allocations;
    }
    lock_leak();
    printf("count: allocations=%lu\n", total);
    return 0;
}
