/* runtime/: who makes a BSTR's memory. The shim's own layout (once, in
 * own_runtime.c; guard_pages.c for page-heap mode), the real runtimes
 * found in the process (runtimes.c) and the calls forwarded to them
 * (forward.c). It knows nothing of records or of what a call reports. */
#ifndef BC_RUNTIME_H
#define BC_RUNTIME_H

#include "platform.h"

/* ---------------------------------------------------------- "own_runtime.c" */
/* bstrcheck as the BSTR runtime: Windows layout, pointer-aligned data,
 * the 4-byte byte-length prefix right before it, rounded to 16 bytes. */
#define BC_OWN_HEADER_SIZE sizeof(void *) /* its last 4 bytes: the prefix */
#define BC_CANARY_BYTE 0xCB /* after the terminator, to the block's end */
#define BC_POISON_BYTE 0xFD /* a freed body, while quarantined */
unsigned bc_own_width(void);
/* A new BSTR of BYTES bytes, copying COPY bytes from SRC (may be NULL) and
 * zeroing the rest and the terminator. NULL when out of memory. */
bc_bstr_t bc_own_alloc(const void *src, size_t copy, uint32_t bytes);
/* Lay a BSTR of BYTES bytes out at DATA (zeroed memory, its header
 * before it): COPY bytes from SRC (may be NULL), zeros to the terminator,
 * canaries up to END bytes from DATA, the prefix. Returns DATA. */
bc_bstr_t bc_own_lay_out(char *data, const void *src, size_t copy, uint32_t bytes, size_t end);
/* Give BSTR's block back. */
void bc_own_release(bc_bstr_t bstr, uint32_t bytes);
/* The same for a BSTR leaving the quarantine (no lock held): when its body
 * was POISONED, first count the poisoned bytes that changed (returned;
 * *FIRST gets the first one's offset). */
size_t bc_own_release_checked(bc_bstr_t bstr, uint32_t bytes, bool poisoned, size_t *first);
/* How many poisoned bytes changed; *FIRST gets the first one's offset. */
size_t bc_own_poison_damage(bc_bstr_t bstr, uint32_t bytes, size_t *first);
/* Size of the block behind a BSTR of BYTES bytes. */
size_t bc_own_block_size(uint32_t bytes);
/* Memory a BSTR of BYTES bytes holds (quarantine accounting). */
size_t bc_own_footprint(uint32_t bytes);
/* The address range of the block of a BSTR of BYTES bytes, for "inside a
 * BSTR" searches. */
void bc_own_span(bc_bstr_t bstr, uint32_t bytes, uintptr_t *lo, uintptr_t *hi);
/* Offset from the data where the terminator ends. */
size_t bc_own_data_end(uint32_t bytes);
/* How far past the string's last byte the terminator or canaries were
 * changed (0: intact). */
size_t bc_own_overflow(bc_bstr_t bstr, uint32_t bytes);
/* Poison a freed body (or make its pages inaccessible). */
void bc_own_poison(bc_bstr_t bstr, uint32_t bytes);

/* -------------------------------------------------------- "guard_pages.c" */
/* Page-heap mode: each BSTR ends flush against an inaccessible page. */
void bc_guard_init(void);
bc_bstr_t bc_guard_alloc(uint32_t bytes);
void bc_guard_release(bc_bstr_t bstr, uint32_t bytes);
/* Make a quarantined BSTR's pages inaccessible. */
void bc_guard_protect(bc_bstr_t bstr, uint32_t bytes);
/* Bytes from the data to the guard page (data, terminator, canaries). */
size_t bc_guard_data_room(uint32_t bytes);
/* The mapping of a BSTR of BYTES bytes, guard page included. */
void bc_guard_span(bc_bstr_t bstr, uint32_t bytes, uintptr_t *lo, uintptr_t *hi);
/* Memory a BSTR of BYTES bytes maps, guard page included. */
size_t bc_guard_footprint(uint32_t bytes);

/* ----------------------------------------------------------- "runtimes.c" */
/* The Sys* functions a runtime provides, in one list: the names each
 * runtime is asked for, and the slots of bc_runtime_t.fn. */
#define BC_SYS_FUNCTIONS(X)                                   \
    X(ALLOC, SysAllocString) X(ALLOC_LEN, SysAllocStringLen)  \
    X(ALLOC_BYTE_LEN, SysAllocStringByteLen)                  \
    X(REALLOC, SysReAllocString) X(REALLOC_LEN, SysReAllocStringLen) \
    X(FREE, SysFreeString) X(LEN, SysStringLen) X(BYTE_LEN, SysStringByteLen) \
    X(ADDREF, SysAddRefString) X(RELEASE, SysReleaseString)
enum {
#define BC_FN_ENUM(id, name) BC_FN_##id,
    BC_SYS_FUNCTIONS(BC_FN_ENUM)
#undef BC_FN_ENUM
    BC_FN_COUNT
};
extern const char *const bc_fn_names[BC_FN_COUNT];
#define BC_RUNTIME_OWN 0
/* A record whose runtime's module was unloaded: still a leak with its
 * stacks, but its memory is never read and never released. */
#define BC_RUNTIME_ORPHAN 15
#define BC_MAX_RUNTIMES 16 /* the record keeps the index in 4 bits; 1..14 are real */

typedef struct bc_runtime {
    void *fn[BC_FN_COUNT]; /* the real functions; NULL where missing */
    unsigned width;        /* OLECHAR width learned from its answers; 0 unknown */
    uintptr_t lo, hi;      /* the module that defines them */
    bool in_use;
    char module[240];
} bc_runtime_t;

extern bc_runtime_t bc_runtimes[BC_MAX_RUNTIMES];
/* What a call through the global scope reaches, as the dynamic linker
 * would bind it without the shim: a real runtime, or BC_RUNTIME_OWN. */
extern int bc_default_runtime;
/* A word that is NULL while the default answers every call: it points at
 * the link map's last l_next (modules were loaded since the last look), or
 * at a word that is never NULL while a module may call through its own
 * PLT slots before they were pointed at its runtime's entry points. */
extern void *const *bc_modules_watch;
int bc_runtime_slow(uintptr_t ra);
/* The runtime for a top-level call that came through the generic entry
 * points, RA its return address (consulted only while a module is loading
 * or could not be patched). */
static inline int bc_runtime_for_entry(uintptr_t ra)
{
    if (BC_LIKELY(*__atomic_load_n(&bc_modules_watch, __ATOMIC_ACQUIRE) == NULL))
        return __atomic_load_n(&bc_default_runtime, __ATOMIC_RELAXED);
    return bc_runtime_slow(ra);
}
/* After options: set up for the mode (no dynamic-linker call). ENTRIES:
 * per runtime index, its ten entry points (hooks/entry.c): a module whose
 * calls must reach its own runtime gets its PLT slots pointed at these. */
void bc_runtimes_init(void *const (*entries)[BC_FN_COUNT]);
/* Look at the loaded modules now (the constructor, and after dlopen):
 * runtimes local to a module, and the global runtime when it may have
 * changed (at start, after an RTLD_GLOBAL dlopen). Takes no shim lock
 * across a dynamic-linker call. */
enum {
    BC_SCAN_GLOBAL = 1, /* look for a global runtime (dlsym) */
    BC_SCAN_SETTLE = 2, /* may wait for a dlopen() in progress, and patch */
};
void bc_runtimes_scan(int how);
/* dlopen() is in progress on some thread (COUNT +1 / -1): calls are
 * answered by their return address meanwhile (constructors). */
void bc_runtimes_loading(int count);
/* The runtimes whose module lies in [LO, HI), as a set of bits (1 << rt):
 * a module being dlclose()d, whose runtimes release what they hold in the
 * quarantine while their code exists (the caller does that). */
unsigned bc_runtimes_in(uintptr_t lo, uintptr_t hi);
/* The module in [LO, HI) is gone: each runtime living there has ORPHAN
 * called with its index (its live BSTRs become orphans: the caller's
 * records) before its slot is freed for the next runtime. */
void bc_runtimes_closed(uintptr_t lo, uintptr_t hi, void (*orphan)(int rt));
/* A dlopen() failed: forget modules it had mapped and unmapped again
 * (ORPHAN as for bc_runtimes_closed). */
void bc_runtimes_prune(void (*orphan)(int rt));
/* A call was forwarded: the report says mode "forward". */
void bc_runtime_note_forward(void);
/* "forward" once any call was forwarded, else "own". */
const char *bc_runtimes_mode(void);
/* The OLECHAR width of runtime RT's strings (own mode's while unknown). */
unsigned bc_runtime_width(int rt);
/* fork: held across it; the child starts the locks afresh. */
BC_FORK_CODE void bc_runtimes_lock(void);
BC_FORK_CODE void bc_runtimes_unlock(void);
BC_FORK_CODE void bc_runtimes_child_after_fork(void);

/* ------------------------------------------------------------ "forward.c" */
typedef enum { BC_ALLOC_SZ, BC_ALLOC_LEN, BC_ALLOC_BYTE_LEN } bc_alloc_kind_t;
bc_bstr_t bc_forward_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_forward_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_forward_free(int rt, bc_bstr_t bstr);
/* Free a BSTR of RT leaving the quarantine (no lock held): when its data
 * was POISONED (BC_POISON_BYTE), first count the bytes that changed
 * (returned; *FIRST gets the first one's offset). */
size_t bc_forward_release_checked(int rt, bc_bstr_t bstr, uint32_t bytes, bool poisoned,
                                  size_t *first);
/* How many bytes of a real runtime's poisoned data changed (*FIRST: the
 * first one's offset). */
size_t bc_forward_poison_damage(bc_bstr_t bstr, uint32_t bytes, size_t *first);
uint32_t bc_forward_byte_len(int rt, bc_bstr_t bstr);
uint32_t bc_forward_len(int rt, bc_bstr_t bstr);
/* Learn RT's OLECHAR width from BSTR, just made by request (KIND, PSZ, LEN). */
void bc_forward_learn_width(int rt, bc_bstr_t bstr, bc_alloc_kind_t kind, const void *psz,
                            unsigned len);
bc_hresult_t bc_forward_addref(int rt, bc_bstr_t bstr);
void bc_forward_release(int rt, bc_bstr_t bstr);

#endif /* BC_RUNTIME_H */
