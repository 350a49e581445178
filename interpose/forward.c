/* Calling a real runtime's Sys* functions (modes forward and auto). The
 * shim's guard is held, so whatever the real function calls through its
 * own PLT comes back to the entry points as a nested call and is passed
 * straight through. Missing functions are stood in for by the ones the
 * runtime has; a runtime always has SysFreeString and one allocator. */
#include "bc.h"

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
            return REAL(alloc_sz_fn_t, rt, BC_FN_ALLOC)(psz);
        if (!psz)
            return NULL;
        return REAL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN)(psz,
                                                         (unsigned)bc_olestr_units(psz, width_of(rt)));
    case BC_ALLOC_LEN:
        if (HAS(rt, BC_FN_ALLOC_LEN))
            return REAL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN)(psz, len);
        if (HAS(rt, BC_FN_ALLOC_BYTE_LEN) && (uint64_t)len * width_of(rt) < UINT32_MAX)
            return REAL(alloc_byte_len_fn_t, rt, BC_FN_ALLOC_BYTE_LEN)(psz, len * width_of(rt));
        return NULL;
    case BC_ALLOC_BYTE_LEN:
        if (HAS(rt, BC_FN_ALLOC_BYTE_LEN))
            return REAL(alloc_byte_len_fn_t, rt, BC_FN_ALLOC_BYTE_LEN)(psz, len);
        if (HAS(rt, BC_FN_ALLOC_LEN) && len % width_of(rt) == 0)
            return REAL(alloc_len_fn_t, rt, BC_FN_ALLOC_LEN)(psz, len / width_of(rt));
        return NULL;
    }
    return NULL;
}

int bc_forward_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz)
{
    if (is_sz && HAS(rt, BC_FN_REALLOC))
        return REAL(realloc_sz_fn_t, rt, BC_FN_REALLOC)(pbstr, psz);
    if (!is_sz && HAS(rt, BC_FN_REALLOC_LEN))
        return REAL(realloc_len_fn_t, rt, BC_FN_REALLOC_LEN)(pbstr, psz, len);
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
    REAL(bstr_fn_t, rt, BC_FN_FREE)(bstr);
}

uint32_t bc_forward_byte_len(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_BYTE_LEN))
        return REAL(len_fn_t, rt, BC_FN_BYTE_LEN)(bstr);
    if (HAS(rt, BC_FN_LEN))
        return REAL(len_fn_t, rt, BC_FN_LEN)(bstr) * width_of(rt);
    return 0;
}

uint32_t bc_forward_len(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_LEN))
        return REAL(len_fn_t, rt, BC_FN_LEN)(bstr);
    return bc_forward_byte_len(rt, bstr) / width_of(rt);
}

void bc_forward_learn_width(int rt, bc_bstr_t bstr)
{
    if (bc_runtimes[rt].width || !HAS(rt, BC_FN_LEN) || !HAS(rt, BC_FN_BYTE_LEN))
        return;
    unsigned chars = REAL(len_fn_t, rt, BC_FN_LEN)(bstr);
    unsigned bytes = REAL(len_fn_t, rt, BC_FN_BYTE_LEN)(bstr);
    if (chars && (bytes / chars == 2 || bytes / chars == 4) && bytes % chars == 0)
        __atomic_store_n(&bc_runtimes[rt].width, bytes / chars, __ATOMIC_RELAXED);
}

bc_hresult_t bc_forward_addref(int rt, bc_bstr_t bstr)
{
    return HAS(rt, BC_FN_ADDREF) ? REAL(addref_fn_t, rt, BC_FN_ADDREF)(bstr) : BC_S_OK;
}

void bc_forward_release(int rt, bc_bstr_t bstr)
{
    if (HAS(rt, BC_FN_RELEASE))
        REAL(bstr_fn_t, rt, BC_FN_RELEASE)(bstr);
}
