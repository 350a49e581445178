/* Shared by the zoo's programs (C and C++). What they print about a BSTR
 * is derived from what they got back: lengths from the Sys* API, the
 * prefix and the terminator read where the ABI puts them, the text decoded
 * at the width the program uses, so that a call served by the wrong
 * runtime or at the wrong width changes the output.
 *
 * Lines starting with "layout:" describe the serving runtime's private
 * choices (alignment, its own header, address reuse by a cache): zoo.py
 * compares them only where the runtime is the program's own (bare, auto,
 * forward) and checks what bstrcheck promises instead in mode own. */
#ifndef ZOO_PROG_H
#define ZOO_PROG_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* Where planted leaks are dropped: a store, so that the call that made
 * them is not a tail call and the leak's first frame is its function. */
static volatile uintptr_t zoo_sink;

static inline void zoo_print_text(const void *p, unsigned units, unsigned width)
{
    putchar('"');
    for (unsigned i = 0; i < units; i++) {
        uint32_t c;
        if (width == 2) {
            uint16_t u;
            memcpy(&u, (const char *)p + 2 * (size_t)i, 2);
            c = u;
        } else {
            memcpy(&c, (const char *)p + 4 * (size_t)i, 4);
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            putchar((int)c);
        else
            printf("\\u%04x", (unsigned)c);
    }
    putchar('"');
}

static inline uint32_t zoo_prefix(const void *p)
{
    uint32_t v;
    memcpy(&v, (const char *)p - 4, 4);
    return v;
}

/* 1 when the BSTR of BYTES bytes is terminated: a NUL byte at [bytes], and
 * a NUL character at [bytes / width] when bytes is a whole number of them. */
static inline int zoo_terminated(const void *p, uint32_t bytes, unsigned width)
{
    const unsigned char *c = (const unsigned char *)p;
    if (c[bytes] != 0)
        return 0;
    if (bytes % width)
        return 1;
    for (unsigned i = 0; i < width; i++)
        if (c[bytes + i] != 0)
            return 0;
    return 1;
}

static inline unsigned zoo_align8(const void *p)
{
    return (unsigned)((uintptr_t)p % 8);
}

static inline unsigned zoo_align16(const void *p)
{
    return (unsigned)((uintptr_t)p % 16);
}

#endif
