/* Fault injection: make chosen allocations fail as if memory ran out, to
 * walk a program's error paths. An allocation attempt is every SysAlloc*
 * or SysReAlloc* call that would create a BSTR; attempts are numbered from
 * 1 across the process. An attempt fails when any rule picks it:
 *   fail_nth=N            the Nth attempt;
 *   fail_rate=P           each attempt with probability P (0..1), from a
 *                         hash of fail_seed and the attempt's number, so a
 *                         run is reproducible (fail_seed=0: a fixed seed);
 *   fail_once_per_stack=1 the first attempt from each distinct stack.
 * A failed SysAlloc* returns NULL; a failed SysReAlloc* returns FALSE and
 * leaves *pbstr untouched. Each counts in summary.injected_failures.
 * Reentrant calls (signal handlers, nested.c) are never failed. */
#include "check.h"

#include <string.h>

#define SEEN_BITS 16
#define SEEN_SLOTS (1u << SEEN_BITS)
#define DEFAULT_SEED 0x6A09E667F3BCC909ull

bool bc_inject_active;
static uint64_t attempts;
static uint64_t rate_threshold; /* fail when hash < threshold; rate 1: always */
static bool rate_always;
static uint64_t seed;
/* Stack ids already failed once (id + 1; 0 is empty), open addressing. */
static uint32_t seen[SEEN_SLOTS];
static bool seen_full_warned;

void bc_inject_init(void)
{
    seed = bc_opt.fail_seed ? (uint64_t)bc_opt.fail_seed : DEFAULT_SEED;
    rate_always = bc_opt.fail_rate >= 1.0;
    /* P * 2^64, computed as P * 2^63 * 2 to stay inside the double range */
    rate_threshold = rate_always ? UINT64_MAX
                                 : (uint64_t)(bc_opt.fail_rate * 9223372036854775808.0) * 2;
    bc_inject_active = bc_opt.fail_rate > 0 || bc_opt.fail_nth > 0 || bc_opt.fail_once_per_stack;
}

/* splitmix64's finalizer: a well-mixed 64-bit hash of X. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

/* True the first time STACK is seen. */
static bool first_from(bc_stack_id_t stack)
{
    uint32_t key = stack + 1;
    if (key == 0)
        return false;
    for (uint32_t i = 0, slot = (uint32_t)mix(stack) & (SEEN_SLOTS - 1); i < SEEN_SLOTS;
         i++, slot = (slot + 1) & (SEEN_SLOTS - 1)) {
        uint32_t cur = __atomic_load_n(&seen[slot], __ATOMIC_ACQUIRE);
        while (cur == 0) {
            if (__atomic_compare_exchange_n(&seen[slot], &cur, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                return true;
        }
        if (cur == key)
            return false;
    }
    if (!__atomic_exchange_n(&seen_full_warned, true, __ATOMIC_RELAXED))
        bc_warn("fail_once_per_stack: more than %u distinct allocation stacks; the others "
                "are not failed",
                SEEN_SLOTS);
    return false;
}

bool bc_inject_fail(bc_stack_id_t stack)
{
    uint64_t n = __atomic_add_fetch(&attempts, 1, __ATOMIC_RELAXED);
    bool fail = bc_opt.fail_nth > 0 && n == (uint64_t)bc_opt.fail_nth;
    if (!fail && bc_opt.fail_rate > 0)
        fail = rate_always || mix(seed ^ mix(n)) < rate_threshold;
    if (bc_opt.fail_once_per_stack && first_from(stack))
        fail = true;
    if (fail)
        bc_count(BC_COUNT_INJECTED_FAILURES);
    return fail;
}
