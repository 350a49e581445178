/* A runtime whose Sys* functions are async-signal-safe: BSTRs come from a
 * static pool of fixed slots claimed with compare-and-swap, no malloc, no
 * lock (as an embedded or real-time runtime would have). So a program may
 * call them from a signal handler. 16-bit OLECHAR, the prefix at p-4; a
 * string longer than a slot's room is refused with NULL. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;

#define SLOTS 65536
#define ROOM 28 /* bytes of data a slot holds, terminator apart */

typedef struct slot {
    uint32_t used;
    uint32_t bytes; /* the prefix, right before the data */
    OLECHAR data[ROOM / 2 + 1];
    uint16_t pad;
} slot_t;

static slot_t pool[SLOTS];
static unsigned next_hint;

static slot_t *slot_of(BSTR b)
{
    return (slot_t *)(void *)((char *)b - offsetof(slot_t, data));
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len * 2u > ROOM)
        return NULL;
    unsigned start = __atomic_fetch_add(&next_hint, 1, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < SLOTS; k++) {
        slot_t *s = &pool[(start + k) % SLOTS];
        uint32_t free_mark = 0;
        if (!__atomic_compare_exchange_n(&s->used, &free_mark, 1, false, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
            continue;
        s->bytes = len * 2u;
        if (psz)
            memcpy(s->data, psz, len * 2u);
        else
            memset(s->data, 0, len * 2u);
        s->data[len] = 0;
        return s->data;
    }
    return NULL;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    unsigned n = 0;
    while (psz[n])
        n++;
    return SysAllocStringLen(psz, n);
}

void SysFreeString(BSTR b)
{
    if (b)
        __atomic_store_n(&slot_of(b)->used, 0, __ATOMIC_RELEASE);
}

unsigned SysStringByteLen(BSTR b)
{
    return b ? slot_of(b)->bytes : 0;
}

unsigned SysStringLen(BSTR b)
{
    return SysStringByteLen(b) / 2;
}
