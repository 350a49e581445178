/* Calling a real runtime's Sys* functions (modes forward and auto). The
 * shim's guard is held and bc_forwarding_rt names the runtime, so whatever
 * the real function calls through its own PLT (a tail call included) comes
 * back to the entry points as that runtime's own call and is passed
 * straight to it. An exception thrown by the runtime passes through: the
 * entry point's cleanup scope puts bc_forwarding_rt back (the core is built
 * with -fexceptions). Missing functions are stood in for by the ones the
 * runtime has; a runtime always has SysFreeString and one allocator. */
#include "runtime.h"

#include <string.h>

typedef bc_bstr_t (*alloc_sz_fn_t)(const void *);
typedef bc_bstr_t (*alloc_len_fn_t)(const void *, unsigned);
typedef bc_bstr_t (*alloc_byte_len_fn_t)(const char *, unsigned);
typedef int (*realloc_sz_fn_t)(bc_bstr_t *, const void *);
typedef int (*realloc_len_fn_t)(bc_bstr_t *, const void *, unsigned);
typedef void (*bstr_fn_t)(bc_bstr_t);
typedef unsigned (*len_fn_t)(bc_bstr_t);
typedef bc_hresult_t (*addref_fn_t)(bc_bstr_t);

/* A runtime function as a typed pointer (ISO C: copy the bits). */
#define REAL(type, rt, index)                                          \
    __extension__({                                                    \
        type fn_;                                                      \
        void *sym_ = bc_runtimes[rt].fn[index];                        \
        memcpy(&fn_, &sym_, sizeof fn_);                               \
        fn_;                                                           \
    })
#define HAS(rt, index) (bc_runtimes[rt].fn[index] != NULL)

/* Call runtime RT's function INDEX with this thread inside RT meanwhile
 * (never under a shim lock). An exception thrown by the runtime skips the
 * restore: the entry point's scope puts bc_forwarding_rt back. */
#define CALL(type, rt, index, ...)                                                    \
    __extension__({                                                               \
        bc_no_lock_held("a real runtime");                                        \
        int previous_rt_ = bc_forwarding_rt;                                      \
        bc_forwarding_rt = (rt);                                                  \
        __typeof__(REAL(type, rt, index)(__VA_ARGS__)) result_ =                  \
            REAL(type, rt, index)(__VA_ARGS__);                                   \
        bc_forwarding_rt = previous_rt_;                                          \
        result_;                                                                  \
    })
#define CALL_VOID(type, rt, index, ...)                                               \
    do {                                                                          \
        bc_no_lock_held("a real runtime");                                        \
        int previous_rt_ = bc_forwarding_rt;                                      \
        bc_forwarding_rt = (rt);                                                  \
        REAL(type, rt, index)(__VA_ARGS__);                                       \
        bc_forwarding_rt = previous_rt_;                                          \
    } while (0)

static unsigned width_of(int rt)
{
    unsigned w = __atomic_load_n(&bc_runtimes[rt].width, __ATOMIC_RELAXED);
    return w ? w : bc_own_width();
}

bc_bstr_t bc_forward_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len)
{
    switch (kind) {
    case BC_ALLOC_SZ:
        if (HAS(rt, BC_FN_ALLOC))
            return CALL(alloc_sz_fn_t, rt, BC_FN_ALLOC, psz);
        if (!psz)
            return NULL;
        return CALL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN, psz,
                                                         (unsigned)bc_olestr_units(psz, width_of(rt)));
    case BC_ALLOC_LEN:
        if (HAS(rt, BC_FN_ALLOC_LEN))
            return CALL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN, psz, len);
        if (HAS(rt, BC_FN_ALLOC_BYTE_LEN) && (uint64_t)len * width_of(rt) < UINT32_MAX)
            return CALL(alloc_byte_len_fn_t, rt, BC_FN_ALLOC_BYTE_LEN, psz, len * width_of(rt));
        return NULL;
    case BC_ALLOC_BYTE_LEN:
        if (HAS(rt, BC_FN_ALLOC_BYTE_LEN))
            return CALL(alloc_byte_len_fn_t, rt, BC_FN_ALLOC_BYTE_LEN, psz, len);
        if (HAS(rt, BC_FN_ALLOC_LEN) && len % width_of(rt) == 0)
            return CALL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN, psz, len / width_of(rt));
        return NULL;
    }
    return NULL;
}

int bc_forward_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz)
{
    if (is_sz && HAS(rt, BC_FN_REALLOC))
        return CALL(realloc_sz_fn_t, rt, BC_FN_REALLOC, pbstr, psz);
    if (!is_sz && HAS(rt, BC_FN_REALLOC_LEN))
        return CALL(realloc_len_fn_t, rt, BC_FN_REALLOC_LEN, pbstr, psz, len);
    /* Stand-in: a new string, then the old one freed. */
    bc_bstr_t fresh = bc_forward_alloc(rt, is_sz ? BC_ALLOC_SZ : BC_ALLOC_LEN, psz, len);
    if (!fresh && !(is_sz && !psz))
        return 0;
    if (*pbstr)
        bc_forward_free(rt, *pbstr);
    *pbstr = fresh;
    return 1;
}

void bc_forward_free(int rt, bc_bstr_t bstr)
{
    CALL_VOID(bstr_fn_t, rt, BC_FN_FREE, bstr);
}

uint32_t bc_forward_byte_len(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_BYTE_LEN))
        return CALL(len_fn_t, rt, BC_FN_BYTE_LEN, bstr);
    if (HAS(rt, BC_FN_LEN))
        return CALL(len_fn_t, rt, BC_FN_LEN, bstr) * width_of(rt);
    return 0;
}

uint32_t bc_forward_len(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_LEN))
        return CALL(len_fn_t, rt, BC_FN_LEN, bstr);
    return bc_forward_byte_len(rt, bstr) / width_of(rt);
}

/* Does PSZ hold exactly UNITS non-zero units of WIDTH bytes, then a zero? */
static bool holds_units(const void *psz, size_t units, unsigned width)
{
    for (size_t i = 0; i <= units; i++) {
        uint32_t unit = 0;
        memcpy(&unit, (const char *)psz + i * width, width);
        if ((unit == 0) != (i == units))
            return false;
    }
    return true;
}

/* The width, learned once per runtime from a new BSTR: its prefix against
 * the runtime's SysStringLen, or against the request (a runtime with no
 * SysStringLen, or one whose answers say nothing). Nothing is assumed:
 * without a sure answer the width stays unknown. */
void bc_forward_learn_width(int rt, bc_bstr_t bstr, bc_alloc_kind_t kind, const void *psz,
                            unsigned len)
{
    if (__atomic_load_n(&bc_runtimes[rt].width, __ATOMIC_RELAXED))
        return;
    uint32_t prefix = bc_bstr_prefix(bstr);
    unsigned width = 0;
    if (HAS(rt, BC_FN_LEN)) {
        unsigned chars = CALL(len_fn_t, rt, BC_FN_LEN, bstr);
        if (chars && prefix % chars == 0)
            width = prefix / chars;
    }
    if (!width && kind == BC_ALLOC_LEN && len)
        width = prefix % len == 0 ? prefix / len : 0;
    if (!width && kind == BC_ALLOC_SZ && psz && prefix) {
        /* a 16-bit scan never reads past a 32-bit string's terminator */
        size_t units16 = bc_olestr_units(psz, 2);
        if (prefix == units16 * 2)
            width = 2;
        else if (prefix % 4 == 0 && holds_units(psz, prefix / 4, 4))
            width = 4;
    }
    if (width == 2 || width == 4)
        __atomic_store_n(&bc_runtimes[rt].width, width, __ATOMIC_RELAXED);
}

bc_hresult_t bc_forward_addref(int rt, bc_bstr_t bstr)
{
    return HAS(rt, BC_FN_ADDREF) ? CALL(addref_fn_t, rt, BC_FN_ADDREF, bstr) : BC_S_OK;
}

void bc_forward_release(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_RELEASE))
        CALL_VOID(bstr_fn_t, rt, BC_FN_RELEASE, bstr);
}

/* (the data only: the rest of the block is the runtime's) */
size_t bc_forward_poison_damage(bc_bstr_t bstr, uint32_t bytes, size_t *first)
{
    const unsigned char *data = bstr;
    /* intact is the rule: compared a block at a time, then counted */
    unsigned char poison[64];
    memset(poison, BC_POISON_BYTE, sizeof poison);
    size_t i = 0;
    while (i < bytes) {
        size_t n = bytes - i < sizeof poison ? bytes - i : sizeof poison;
        if (memcmp(data + i, poison, n) != 0)
            break;
        i += n;
    }
    size_t changed = 0;
    for (; i < bytes; i++)
        if (data[i] != BC_POISON_BYTE && changed++ == 0)
            *first = i;
    return changed;
}

size_t bc_forward_release_checked(int rt, bc_bstr_t bstr, uint32_t bytes, bool poisoned,
                                  size_t *first)
{
    size_t changed = poisoned ? bc_forward_poison_damage(bstr, bytes, first) : 0;
    bc_forward_free(rt, bstr);
    return changed;
}
