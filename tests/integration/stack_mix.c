/* Many call chains, for the stack cache: the same allocation sites reached
 * through different callers at the same depth, at varying recursion depths,
 * through callers without frame pointers (with buffers in their frames),
 * from two threads, with double frees on the way. run.py runs it with
 * stack_cache=1 and stack_cache=0 and requires the same report. */
#include "oleauto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define KEEP_FRAME __asm__ volatile("" ::: "memory")
#define NO_FRAME_POINTER __attribute__((noinline, optimize("omit-frame-pointer")))

static NOINLINE BSTR site_one(void) { return SysAllocString(OLESTR("one")); }
static NOINLINE BSTR site_two(void) { return SysAllocStringLen(OLESTR("two"), 3); }
static NOINLINE void free_site(BSTR b) { SysFreeString(b); }

typedef BSTR (*site_fn)(void);

static NOINLINE BSTR via_a(site_fn f) { BSTR b = f(); KEEP_FRAME; return b; }
static NOINLINE BSTR via_b(site_fn f) { BSTR b = f(); KEEP_FRAME; return b; }

/* BUFFER_SIZE bytes of locals, so a search for a return address above crosses
 * them. */
#define CALLER_WITHOUT_FRAME_POINTER(name, buffer_size) \
    static NO_FRAME_POINTER BSTR name(site_fn f)        \
    {                                                   \
        volatile char buffer[buffer_size];              \
        buffer[0] = 0;                                  \
        BSTR b = f();                                   \
        KEEP_FRAME;                                     \
        return buffer[0] ? NULL : b;                    \
    }
CALLER_WITHOUT_FRAME_POINTER(nofp_a, 200)
CALLER_WITHOUT_FRAME_POINTER(nofp_b, 120)

typedef BSTR (*via_fn)(site_fn);

static NOINLINE BSTR descend(int depth, via_fn via, site_fn site)
{
    BSTR b = depth > 0 ? descend(depth - 1, via, site) : via(site);
    KEEP_FRAME;
    return b;
}

/* A deterministic mix: what leaks, and from where, depends only on SEED. */
static void mix(unsigned seed, int rounds)
{
    static const via_fn vias[] = {via_a, via_b, nofp_a, nofp_b};
    static const site_fn sites[] = {site_one, site_two};
    for (int i = 0; i < rounds; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        BSTR b = descend((int)(r % 6), vias[(r >> 4) % 4], sites[(r >> 6) % 2]);
        if ((r >> 7) % 8 == 0) {
            free_site(b);
            if ((r >> 10) % 4 == 0)
                free_site(b); /* a double free */
        }
        /* else: leaked */
    }
}

static void *thread_mix(void *arg)
{
    mix((unsigned)(uintptr_t)arg, 3000);
    return NULL;
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_mix, (void *)(uintptr_t)7) != 0)
        return 1;
    mix(1, 3000);
    pthread_join(t, NULL);
    puts("done");
    return 0;
}
