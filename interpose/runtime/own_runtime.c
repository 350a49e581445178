/* Mode own: bstrcheck is the BSTR runtime. Windows' layout: a pointer-sized
 * header whose last 4 bytes hold the length in bytes, then the data, so the
 * BSTR is pointer-aligned; blocks are rounded up to 16 bytes. After the
 * data, zero bytes up to and including one whole NUL OLECHAR at the next
 * character boundary (for 2-byte characters: 2 zeros after an even length,
 * 3 after an odd one, as SysAllocStringByteLen promises). After that,
 * canary bytes to the end of the block (at least BC_MIN_CANARY) reveal
 * writes past the end; a freed body is filled with poison that reveals
 * writes after free. With guard_pages=1 the block comes from
 * guard_pages.c instead of malloc. */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_ALIGN 16
#define MIN_CANARY 4 /* at least two 16-bit characters past the terminator */

unsigned bc_own_width(void)
{
    return (unsigned)bc_opt.olechar;
}

/* TO is a power of two (a character width, or the block alignment). */
static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) & ~(to - 1);
}

size_t bc_own_data_end(uint32_t bytes)
{
    size_t w = bc_own_width();
    return round_up(bytes, w) + w; /* data, padding, terminator */
}

size_t bc_own_block_size(uint32_t bytes)
{
    return round_up(BC_OWN_HEADER_SIZE + bc_own_data_end(bytes) + MIN_CANARY, BLOCK_ALIGN);
}

size_t bc_own_footprint(uint32_t bytes)
{
    return bc_opt.guard_pages ? bc_guard_footprint(bytes) : bc_own_block_size(bytes);
}

void bc_own_span(bc_bstr_t bstr, uint32_t bytes, uintptr_t *lo, uintptr_t *hi)
{
    if (bc_opt.guard_pages) {
        bc_guard_span(bstr, bytes, lo, hi);
        return;
    }
    *lo = (uintptr_t)bstr - BC_OWN_HEADER_SIZE;
    *hi = *lo + bc_own_block_size(bytes);
}

/* The block's usable end, as seen from the data: canaries run up to it. */
static size_t canary_end(uint32_t bytes)
{
    if (bc_opt.guard_pages)
        return bc_guard_data_room(bytes);
    return bc_own_block_size(bytes) - BC_OWN_HEADER_SIZE;
}

bc_bstr_t bc_own_lay_out(char *data, const void *src, size_t copy, uint32_t bytes, size_t end)
{
    if (copy > bytes)
        copy = bytes;
    size_t data_end = bc_own_data_end(bytes);
    if (src && copy) {
        memcpy(data, src, copy);
        memset(data + copy, 0, data_end - copy);
    }
    memset(data + data_end, BC_CANARY_BYTE, end - data_end);
    memcpy(data - sizeof(uint32_t), &bytes, sizeof bytes);
    return data;
}

bc_bstr_t bc_own_alloc(const void *src, size_t copy, uint32_t bytes)
{
    char *data;
    if (bc_opt.guard_pages) {
        data = bc_guard_alloc(bytes); /* mmap'ed: zero */
        if (!data)
            return NULL;
    } else {
        size_t size = bc_own_block_size(bytes);
        /* Without a source, calloc: zeroed contents as in Wine, and a huge
         * uninitialized string costs no page touching. */
        bool copies = src && copy;
        char *block = copies ? malloc(size) : calloc(1, size);
        if (!block)
            return NULL;
        if (copies)
            memset(block, 0, BC_OWN_HEADER_SIZE);
        data = block + BC_OWN_HEADER_SIZE;
    }
    return bc_own_lay_out(data, src, copy, bytes, canary_end(bytes));
}

void bc_own_release(bc_bstr_t bstr, uint32_t bytes)
{
    bc_no_lock_held("free() of a BSTR's block");
    if (bc_opt.guard_pages)
        bc_guard_release(bstr, bytes);
    else
        bc_internal_free((char *)bstr - BC_OWN_HEADER_SIZE);
}

/* How many of the LEN bytes at P, from the start, equal BYTE: a word at a
 * time (canary, poison and terminator checks, where intact is the rule). */
static inline size_t leading_bytes(const void *p, size_t len, unsigned char byte)
{
    const unsigned char *at = p;
    const uint64_t pattern = 0x0101010101010101ull * byte;
    size_t i = 0;
    for (uint64_t word; i + 8 <= len; i += 8) {
        memcpy(&word, at + i, 8);
        if (word != pattern)
            break;
    }
    while (i < len && at[i] == byte)
        i++;
    return i;
}

size_t bc_own_overflow(bc_bstr_t bstr, uint32_t bytes)
{
    const unsigned char *data = bstr;
    size_t data_end = bc_own_data_end(bytes), end = canary_end(bytes);
    if (BC_LIKELY(leading_bytes(data + data_end, end - data_end, BC_CANARY_BYTE) ==
                      end - data_end &&
                  leading_bytes(data + bytes, data_end - bytes, 0) == data_end - bytes))
        return 0; /* intact; below, where the damage ends */
    for (size_t i = end; i-- > data_end;)
        if (data[i] != BC_CANARY_BYTE)
            return i - bytes + 1;
    for (size_t i = data_end; i-- > bytes;)
        if (data[i] != 0)
            return i - bytes + 1;
    return 0;
}

/* A freed body is poisoned up to its terminator, which stays: a freed
 * BSTR handed back as a psz still ends inside its block. */
static size_t poison_end(uint32_t bytes)
{
    return bc_own_data_end(bytes) - bc_own_width();
}

void bc_own_poison(bc_bstr_t bstr, uint32_t bytes)
{
    if (bc_opt.guard_pages)
        bc_guard_protect(bstr, bytes);
    else
        memset(bstr, BC_POISON_BYTE, poison_end(bytes));
}

size_t bc_own_poison_damage(bc_bstr_t bstr, uint32_t bytes, size_t *first)
{
    if (bc_opt.guard_pages)
        return 0; /* no access was possible: the pages were inaccessible */
    const unsigned char *data = bstr;
    size_t changed = 0, poisoned = poison_end(bytes), end = bc_own_data_end(bytes);
    /* The common case, no damage: the poison, then the terminator, which
     * stays zero. */
    if (leading_bytes(data, poisoned, BC_POISON_BYTE) == poisoned &&
        leading_bytes(data + poisoned, end - poisoned, 0) == end - poisoned)
        return 0;
    for (size_t i = 0; i < end; i++) {
        if (data[i] != (i < poisoned ? BC_POISON_BYTE : 0)) {
            if (changed++ == 0)
                *first = i;
        }
    }
    return changed;
}

size_t bc_own_release_checked(bc_bstr_t bstr, uint32_t bytes, bool poisoned, size_t *first)
{
    size_t changed = poisoned ? bc_own_poison_damage(bstr, bytes, first) : 0;
    bc_own_release(bstr, bytes);
    return changed;
}
