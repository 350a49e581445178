/* Stack capture. Only raw return addresses are taken while the program runs
 * (symbols are resolved once, at report time). libunwind's unw_backtrace
 * walks with its per-thread cache of unwind info. The shim's own frames,
 * and libunwind's, are cut so a stack starts at the program's frame that
 * called the Sys* function. */
#include "bc.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

typedef struct address_range {
    uintptr_t lo, hi;
} address_range_t;

static address_range_t self_range;     /* the shim's own module */
static address_range_t unwinder_range; /* libunwind */

static void module_range_of(const void *addr, address_range_t *out)
{
    bc_module_t m;
    if (bc_platform_module_of((uintptr_t)addr, &m)) {
        out->lo = m.lo;
        out->hi = m.hi;
    }
}

bool bc_module_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    bc_module_t m;
    if (!bc_platform_module_of(addr, &m))
        return false;
    *lo = m.lo;
    *hi = m.hi;
    return true;
}

static bool in_range(const address_range_t *r, uintptr_t pc)
{
    return pc >= r->lo && pc < r->hi;
}

void bc_stack_init(void)
{
    module_range_of((const void *)(uintptr_t)&bc_stack_init, &self_range);
    module_range_of((const void *)(uintptr_t)&unw_backtrace, &unwinder_range);
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

uint32_t bc_stack_capture(uintptr_t *frames, uint32_t max)
{
    enum { SHIM_FRAMES_SLACK = 12 };
    void *raw[BC_MAX_FRAMES + SHIM_FRAMES_SLACK];
    if (max > BC_MAX_FRAMES)
        max = BC_MAX_FRAMES;
    int n = unw_backtrace(raw, (int)(max + SHIM_FRAMES_SLACK));
    int first = 0;
    while (first < n && (in_range(&self_range, (uintptr_t)raw[first]) ||
                         in_range(&unwinder_range, (uintptr_t)raw[first])))
        first++;
    uint32_t count = 0;
    for (int i = first; i < n && count < max; i++)
        frames[count++] = (uintptr_t)raw[i];
    return count;
}

bc_stack_id_t bc_stack_here(void)
{
    if (bc_depth > 1)
        return 0; /* a nested call: the outer one has the stack */
    uintptr_t frames[BC_MAX_FRAMES];
    uint32_t n = bc_stack_capture(frames, (uint32_t)bc_opt.max_frames);
    return bc_depot_put(frames, n);
}
