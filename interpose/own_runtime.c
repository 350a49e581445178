/* Mode own: bstrcheck is the BSTR runtime. Windows' layout: a pointer-sized
 * header whose last 4 bytes hold the length in bytes, then the data, so the
 * BSTR is pointer-aligned; blocks are rounded up to 16 bytes. After the
 * data, zero bytes up to and including one whole NUL OLECHAR at the next
 * character boundary (for 2-byte characters: 2 zeros after an even length,
 * 3 after an odd one, as SysAllocStringByteLen promises). */
#include "bc.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_SIZE sizeof(void *)
#define BLOCK_ALIGN 16

unsigned bc_own_width(void)
{
    return (unsigned)bc_opt.olechar;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

size_t bc_own_block_size(uint32_t bytes)
{
    size_t w = bc_own_width();
    size_t data_end = round_up(bytes, w) + w; /* data, padding, terminator */
    return round_up(HEADER_SIZE + data_end, BLOCK_ALIGN);
}

bc_bstr_t bc_own_alloc(const void *src, size_t copy, uint32_t bytes)
{
    size_t size = bc_own_block_size(bytes);
    if (copy > bytes)
        copy = bytes;
    /* Without a source, calloc: zeroed contents as in Wine, and a huge
     * uninitialized string costs no page touching. */
    char *block = src && copy ? malloc(size) : calloc(1, size);
    if (!block)
        return NULL;
    char *data = block + HEADER_SIZE;
    if (src && copy) {
        memset(block, 0, HEADER_SIZE);
        memcpy(data, src, copy);
        memset(data + copy, 0, size - HEADER_SIZE - copy);
    }
    memcpy(data - sizeof(uint32_t), &bytes, sizeof bytes);
    return data;
}

void bc_own_release(bc_bstr_t bstr, uint32_t bytes)
{
    (void)bytes;
    free((char *)bstr - HEADER_SIZE);
}
