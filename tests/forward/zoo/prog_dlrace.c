/* Case 12's program, linked against the delegating runtime
 * (libzoo_deleg_plt.so). Thread A makes the process's first Sys* calls
 * while thread B dlopen()s a library whose constructor makes a BSTR (so
 * that call runs with the dynamic linker's lock held). Both start at a
 * barrier. Then, ROUNDS times: A loads CALLERLIB before the barrier and,
 * after it, makes that module's first Sys* calls (which the shim must place)
 * and its own, while B loads CTORLIB again (its constructor's call comes
 * from a module loaded anew); both unload theirs at the end of the round.
 * In round 0, after the barrier, A waits DELAY microseconds (B waits
 * -DELAY when it is negative), so that A's first call can fall anywhere in
 * B's dlopen() (the runs of a case vary it).
 * And in round 0, before CTORLIB, B loads and unloads STORMLIB (a runtime
 * whose constructor uses itself) STORM times, so that A's first calls
 * likely meet B inside dlopen() whatever the machine's timing.
 * Everything printed is collected from the threads after the join.
 *   prog_dlrace CTORLIB CALLERLIB STORMLIB ROUNDS [DELAY] */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zoo_prog.h"

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);

#define STORM 30

static const char *library, *caller_library, *storm_library;
static int rounds;
static long delay_us;
static pthread_barrier_t barrier;

typedef struct result {
    unsigned long calls, errors;
    char text[4096];
} result_t;

static result_t result_a, result_b;

static void spin_for(long us)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000 < us);
}

static void *thread_a(void *arg)
{
    (void)arg;
    for (int r = 0; r < rounds; r++) {
        void *lib = r ? dlopen(caller_library, RTLD_NOW | RTLD_LOCAL) : NULL;
        unsigned (*churn)(int) = NULL;
        if (lib) {
            void *sym = dlsym(lib, "ctorlib_churn");
            memcpy(&churn, &sym, sizeof churn);
        }
        pthread_barrier_wait(&barrier);
        if (r == 0)
            spin_for(delay_us);
        /* Round 0: the process's first Sys* calls; later rounds: the
         * first from a module just loaded. */
        if (churn) {
            result_a.errors += churn(50);
            result_a.calls += 50;
        }
        for (int i = 0; i < 10; i++) {
            BSTR b = SysAllocString(u"thread A");
            result_a.errors += SysStringLen(b) != 8;
            SysFreeString(b);
            result_a.calls++;
        }
        if (lib)
            dlclose(lib);
    }
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    size_t used = 0;
    for (int r = 0; r < rounds; r++) {
        pthread_barrier_wait(&barrier);
        if (r == 0) {
            spin_for(-delay_us);
            for (int i = 0; i < STORM; i++) {
                void *lib = dlopen(storm_library, RTLD_NOW | RTLD_LOCAL);
                if (!lib) {
                    used += (size_t)snprintf(result_b.text + used, sizeof result_b.text - used,
                                             "storm: dlopen failed\n");
                    break;
                }
                dlclose(lib);
            }
        }
        void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            used += (size_t)snprintf(result_b.text + used, sizeof result_b.text - used,
                                     "round %d: dlopen failed\n", r);
            continue;
        }
        BSTR (*take)(void);
        unsigned (*len)(void);
        void *sym = dlsym(lib, "ctorlib_take");
        memcpy(&take, &sym, sizeof take);
        sym = dlsym(lib, "ctorlib_len");
        memcpy(&len, &sym, sizeof len);
        BSTR b = take();
        unsigned n = SysStringLen(b);
        if (used < sizeof result_b.text - 128)
            used += (size_t)snprintf(result_b.text + used, sizeof result_b.text - used,
                                     "round %d: constructor len=%u now len=%u\n", r, len(), n);
        SysFreeString(b);
        dlclose(lib);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s CTORLIB CALLERLIB STORMLIB ROUNDS [DELAY]\n", argv[0]);
        return 2;
    }
    library = argv[1];
    caller_library = argv[2];
    storm_library = argv[3];
    rounds = atoi(argv[4]);
    delay_us = argc > 5 ? atol(argv[5]) : 0;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, thread_a, NULL);
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("A: calls=%lu errors=%lu\n%s", result_a.calls, result_a.errors, result_b.text);
    return 0;
}
