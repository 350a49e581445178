/* The side table: BSTRs made by reentrant calls (nested.c), that is by a
 * signal handler that interrupted a Sys* call on its own thread. Such a
 * call may take no lock and may not call malloc: the interrupted call may
 * hold either. So these BSTRs live here, without a stack, in a fixed array
 * of slots claimed and released with atomic operations, and in memory
 * from mmap (a system call, safe in a handler). They have the own-mode
 * layout (header, prefix, terminator, canaries), are freed at once (no
 * quarantine), and are counted and reported with the others: the report
 * adds their counts and their leaks.
 *
 * A slot's bstr is 0 (free), CLAIMED (being filled or emptied) or the
 * BSTR. Lookups scan the slots ever used, so this costs nothing until a
 * handler makes a BSTR, and stays small (SIDE_SLOTS live ones at most:
 * one more makes the reentrant allocation fail with NULL). */
#include "check.h"

#include <string.h>
#include <sys/mman.h>

#define SIDE_SLOTS 4096
#define CLAIMED ((uintptr_t)1)
#define FREE_PENDING 0x80000000u /* in pins: SysFreeString seen while pinned */
#define PIN_MASK 0xFFFFu

typedef struct side_slot {
    uintptr_t bstr;
    uint32_t bytes;
    uint32_t pins; /* SysAddRefString count, and FREE_PENDING */
    uint64_t seq;
} side_slot_t;

static side_slot_t slots[SIDE_SLOTS];
static unsigned used; /* slots [0, used) were claimed at least once */
static uint64_t made, released;

static side_slot_t *claim(void)
{
    for (unsigned i = 0; i < SIDE_SLOTS; i++) {
        uintptr_t expected = 0;
        if (__atomic_load_n(&slots[i].bstr, __ATOMIC_RELAXED) != 0 ||
            !__atomic_compare_exchange_n(&slots[i].bstr, &expected, CLAIMED, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        unsigned seen = __atomic_load_n(&used, __ATOMIC_RELAXED);
        while (seen < i + 1 && !__atomic_compare_exchange_n(&used, &seen, i + 1, true,
                                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            ;
        return &slots[i];
    }
    return NULL;
}

static side_slot_t *find(uintptr_t bstr)
{
    if (bstr <= CLAIMED)
        return NULL;
    unsigned n = __atomic_load_n(&used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (__atomic_load_n(&slots[i].bstr, __ATOMIC_ACQUIRE) == bstr)
            return &slots[i];
    return NULL;
}

bc_bstr_t bc_side_alloc(const void *src, size_t copy, uint32_t bytes)
{
    side_slot_t *slot = claim();
    if (!slot)
        return NULL;
    size_t size = bc_own_block_size(bytes);
    char *block = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (block == MAP_FAILED) {
        __atomic_store_n(&slot->bstr, 0, __ATOMIC_RELEASE);
        return NULL;
    }
    /* own mode's layout; mmap'ed memory is zero */
    char *data = bc_own_lay_out(block + BC_OWN_HEADER_SIZE, src, copy, bytes,
                                size - BC_OWN_HEADER_SIZE);
    slot->bytes = bytes;
    slot->pins = 0;
    slot->seq = bc_table_next_seq();
    __atomic_store_n(&slot->bstr, (uintptr_t)data, __ATOMIC_RELEASE);
    __atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
    return data;
}

/* Unmap SLOT's BSTR and free the slot; false if someone else did first. */
static bool release_slot(side_slot_t *slot, uintptr_t bstr)
{
    if (!__atomic_compare_exchange_n(&slot->bstr, &bstr, CLAIMED, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    munmap((char *)bstr - BC_OWN_HEADER_SIZE, bc_own_block_size(slot->bytes));
    __atomic_store_n(&slot->bstr, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&released, 1, __ATOMIC_RELAXED);
    return true;
}

bool bc_side_free(bc_bstr_t bstr)
{
    side_slot_t *slot = find((uintptr_t)bstr);
    if (!slot)
        return false;
    uint32_t pins = __atomic_load_n(&slot->pins, __ATOMIC_ACQUIRE);
    if (pins & PIN_MASK) {
        __atomic_fetch_or(&slot->pins, FREE_PENDING, __ATOMIC_ACQ_REL);
        return true;
    }
    release_slot(slot, (uintptr_t)bstr);
    return true;
}

bool bc_side_len(bc_bstr_t bstr, uint32_t *bytes)
{
    side_slot_t *slot = find((uintptr_t)bstr);
    if (slot)
        *bytes = slot->bytes;
    return slot != NULL;
}

bool bc_side_addref(bc_bstr_t bstr, bc_hresult_t *hr)
{
    side_slot_t *slot = find((uintptr_t)bstr);
    if (!slot)
        return false;
    uint32_t pins = __atomic_load_n(&slot->pins, __ATOMIC_RELAXED);
    *hr = BC_E_INVALIDARG;
    while ((pins & PIN_MASK) < PIN_MASK) {
        if (__atomic_compare_exchange_n(&slot->pins, &pins, pins + 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            *hr = BC_S_OK;
            break;
        }
    }
    return true;
}

bool bc_side_release(bc_bstr_t bstr)
{
    side_slot_t *slot = find((uintptr_t)bstr);
    if (!slot)
        return false;
    uint32_t pins = __atomic_load_n(&slot->pins, __ATOMIC_RELAXED);
    while (pins & PIN_MASK) {
        if (__atomic_compare_exchange_n(&slot->pins, &pins, pins - 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            if (pins - 1 == FREE_PENDING)
                release_slot(slot, (uintptr_t)bstr); /* the last pin of a freed BSTR */
            break;
        }
    }
    return true;
}

void bc_side_foreach_live(void (*fn)(const bc_record_t *, void *), void *arg)
{
    unsigned n = __atomic_load_n(&used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        uintptr_t bstr = __atomic_load_n(&slots[i].bstr, __ATOMIC_ACQUIRE);
        if (bstr <= CLAIMED) /* a pinned one freed is live until its last release */
            continue;
        bc_record_t rec;
        memset(&rec, 0, sizeof rec);
        rec.hh.key = (void *)bstr;
        rec.bytes = slots[i].bytes;
        rec.seq = slots[i].seq;
        rec.state = BC_LIVE; /* runtime own, no stack */
        fn(&rec, arg);
    }
}

bc_counts_t bc_side_counts(void)
{
    bc_counts_t c;
    c.allocations = __atomic_load_n(&made, __ATOMIC_RELAXED);
    c.frees = __atomic_load_n(&released, __ATOMIC_RELAXED);
    return c;
}

void bc_side_child_after_fork(void)
{
    /* The parent's side BSTRs stay the parent's: not counted, never leaks
     * of the child (ordinal 0 is older than any checkpoint or fork mark). */
    unsigned n = __atomic_load_n(&used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        slots[i].seq = 0;
    made = released = 0;
}
