/* Callers for test_stack_cache, in a library of their own: the test
 * program holds the shim's core, whose frames a capture cuts, so the
 * program's frames that matter must lie in another module. */
#include <stdint.h>

typedef uint32_t (*entry_fn_t)(void);

#define KEEP_FRAME __asm__ volatile("" ::: "memory")

/* Two callers with the same frame: the entry's frame is at the same address
 * from either, and only the return address above tells them apart. */
#define CALLER(name)                                       \
    __attribute__((noinline)) uint32_t name(entry_fn_t entry) \
    {                                                      \
        uint32_t id = entry();                             \
        KEEP_FRAME;                                        \
        return id;                                         \
    }
CALLER(via_a)
CALLER(via_b)

/* The same, without frame pointers and with a buffer in the frame: with
 * libunwind, the slot of the return address above is found by a search. */
#define CALLER_WITHOUT_FRAME_POINTER(name)                                              \
    __attribute__((noinline, optimize("omit-frame-pointer"))) uint32_t name(entry_fn_t entry) \
    {                                                                                   \
        volatile char buffer[256];                                                      \
        buffer[0] = 1;                                                                  \
        uint32_t id = entry() + buffer[0] - 1;                                          \
        KEEP_FRAME;                                                                     \
        return id;                                                                      \
    }
CALLER_WITHOUT_FRAME_POINTER(nofp_a)
CALLER_WITHOUT_FRAME_POINTER(nofp_b)

/* A difference far up: the same eight frames below. */
__attribute__((noinline)) static uint32_t middle(entry_fn_t entry, int depth)
{
    uint32_t id = depth > 0 ? middle(entry, depth - 1) : via_a(entry);
    KEEP_FRAME;
    return id;
}

__attribute__((noinline)) uint32_t outer_a(entry_fn_t entry)
{
    uint32_t id = middle(entry, 8);
    KEEP_FRAME;
    return id;
}

__attribute__((noinline)) uint32_t outer_b(entry_fn_t entry)
{
    uint32_t id = middle(entry, 8);
    KEEP_FRAME;
    return id;
}

/* The same call chain at a varying depth. */
__attribute__((noinline)) uint32_t at_depth(entry_fn_t entry, int depth)
{
    uint32_t id = depth > 0 ? at_depth(entry, depth - 1) : via_a(entry);
    KEEP_FRAME;
    return id;
}

/* A caller without frame pointers whose untouched buffer keeps copies of
 * return addresses from earlier, deeper calls; stale_f reaches it from two
 * call sites and at two depths. */
__attribute__((noinline, optimize("omit-frame-pointer"))) static uint32_t stale_g(entry_fn_t entry)
{
    volatile char buffer[1024];
    buffer[0] = 0;
    uint32_t id = entry();
    KEEP_FRAME;
    return buffer[0] ? 0 : id;
}

__attribute__((noinline)) uint32_t stale_f(entry_fn_t entry, int depth, int site)
{
    volatile char pad[96];
    pad[0] = 0;
    uint32_t id;
    if (depth > 0)
        id = stale_f(entry, depth - 1, site);
    else if (site == 0)
        id = stale_g(entry) + 1; /* site A */
    else
        id = stale_g(entry) + 2; /* site B */
    KEEP_FRAME;
    return id - (site == 0 ? 1 : 2) * (depth == 0) + pad[0];
}
