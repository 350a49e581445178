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
