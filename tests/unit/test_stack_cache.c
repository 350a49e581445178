/* The per-thread stack cache (stack_cache.c), with both unwinders: a cached
 * stack is reused only when a full walk would give the same frames. Every
 * id from the cache is compared with the id of an uncached capture of the
 * same call. The callers live in libstack_callers.so (see there why). */
#include "hooks.h"
#include "tap.h"

#include <stdio.h>

typedef uint32_t (*entry_fn_t)(void);
uint32_t via_a(entry_fn_t entry);
uint32_t via_b(entry_fn_t entry);
uint32_t nofp_a(entry_fn_t entry);
uint32_t nofp_b(entry_fn_t entry);
uint32_t outer_a(entry_fn_t entry);
uint32_t outer_b(entry_fn_t entry);
uint32_t at_depth(entry_fn_t entry, int depth);
uint32_t stale_f(entry_fn_t entry, int depth, int site);

static uintptr_t last_entry_frame;
static bool uncached;

/* What an exported Sys* function does before it captures a stack. */
__attribute__((noinline)) static uint32_t entry_point(void)
{
    bc_depth++;
    bc_entry_frame = (uintptr_t)__builtin_frame_address(0);
    last_entry_frame = bc_entry_frame;
    bc_opt.stack_cache = !uncached;
    bc_stack_id_t id = bc_stack_here();
    bc_opt.stack_cache = true;
    bc_depth--;
    bc_entry_frame = 0;
    return id;
}

static bc_stack_cache_stats_t since(bc_stack_cache_stats_t before)
{
    bc_stack_cache_stats_t now = bc_stack_cache_stats();
    return (bc_stack_cache_stats_t){now.hits - before.hits, now.misses - before.misses,
                                    now.checks - before.checks,
                                    now.check_failures - before.check_failures};
}

enum { ROUNDS = 600 };

/* Alternate two callers. The first round runs uncached, from the same call
 * sites (a stack includes this function's frames): every later id must
 * match it. */
static void alternate(const char *what, uint32_t (*a)(entry_fn_t), uint32_t (*b)(entry_fn_t))
{
    uint32_t want_a = 0, want_b = 0;
    uintptr_t frame_a = 0, frame_b = 0;
    int wrong = 0;
    bc_stack_cache_stats_t before = bc_stack_cache_stats();
    for (int i = -1; i < ROUNDS; i++) {
        uncached = i < 0;
        uint32_t got_a = a(entry_point);
        frame_a = last_entry_frame;
        uint32_t got_b = b(entry_point);
        frame_b = last_entry_frame;
        if (i < 0) {
            want_a = got_a;
            want_b = got_b;
            before = bc_stack_cache_stats();
        } else {
            wrong += (got_a != want_a) + (got_b != want_b);
        }
    }
    uncached = false;
    bc_stack_cache_stats_t d = since(before);
    tap_ok(want_a && want_b && want_a != want_b, "%s: two callers, two stacks (%u, %u)", what,
           want_a, want_b);
    tap_ok(frame_a == frame_b, "%s: the entry's frame is at the same address from both", what);
    tap_is_int(wrong, 0, "%s: every cached id is the uncached one", what);
    tap_ok(d.hits >= 2 * ROUNDS - 4, "%s: the cache served them (%llu hits, %llu misses)", what,
           (unsigned long long)d.hits, (unsigned long long)d.misses);
    tap_is_uint(d.check_failures, 0, "%s: no self-check failed", what);
}

static void depths(void)
{
    uint32_t want[4] = {0};
    int wrong = 0;
    for (int i = -1; i < ROUNDS; i++)
        for (int d = 0; d < 4; d++) {
            uncached = i < 0;
            uint32_t got = at_depth(entry_point, d);
            if (i < 0)
                want[d] = got;
            else
                wrong += got != want[d];
        }
    uncached = false;
    tap_ok(want[0] != want[1] && want[1] != want[2] && want[2] != want[3],
           "the same chain at four depths: four stacks");
    tap_is_int(wrong, 0, "the same chain at four depths: every cached id is the uncached one");
}

/* Site A one level down, site A, site B, from one call instruction: the
 * buffer of the caller without frame pointers holds a stale copy of site
 * A's return address where site B's call has its slot above. */
static void stale_copies(void)
{
    static const int depth[] = {1, 0, 0}, site[] = {0, 0, 1};
    uint32_t want[3] = {0};
    int wrong = 0;
    for (int i = -1; i < ROUNDS / 10; i++)
        for (int k = 0; k < 3; k++) {
            uncached = i < 0;
            uint32_t got = stale_f(entry_point, depth[k], site[k]);
            if (i < 0)
                want[k] = got;
            else
                wrong += got != want[k];
        }
    uncached = false;
    /* A frame-pointer walk need not tell them apart: the caller without
     * frame pointers hides its return address (and under a sanitizer, more
     * of the chain); only libunwind must. */
    if (bc_opt.unwind == BC_UNWIND_FP)
        tap_ok(want[0] && want[1] && want[2], "stale copies: stacks captured");
    else
        tap_ok(want[0] != want[1] && want[1] != want[2] && want[0] != want[2],
               "stale copies: three stacks");
    tap_is_int(wrong, 0, "stale copies: every cached id is the uncached one");
}

/* One call site for the three calls below. */
__attribute__((noinline)) static void call_via_a(bool invalidate_first)
{
    if (invalidate_first)
        bc_stack_cache_invalidate();
    via_a(entry_point);
}

static void invalidate(void)
{
    bc_stack_cache_stats_t before = bc_stack_cache_stats();
    for (volatile int i = 0; i < 3; i++) /* volatile: one loop body, not peeled */
        call_via_a(i == 2);
    bc_stack_cache_stats_t d = since(before);
    tap_ok(d.hits == 1 && d.misses == 2, "after an unload, a cached stack is walked again "
           "(%llu hits, %llu misses)", (unsigned long long)d.hits, (unsigned long long)d.misses);
}

int main(void)
{
    tap_plan(2 * 20);
    const char *unwinders[] = {"unwind=libunwind", "unwind=fp"};
    for (int u = 0; u < 2; u++) {
        bc_options_parse(unwinders[u]);
        bc_stack_init();
        tap_diag("%s", unwinders[u]);
        alternate("frame-pointer callers", via_a, via_b);
        alternate("callers without frame pointers", nofp_a, nofp_b);
        alternate("callers eight frames up", outer_a, outer_b);
        depths();
        stale_copies();
        invalidate();
    }
    return tap_done();
}
