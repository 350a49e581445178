/* bstrcheck internal header: one section per file that defines it.
 * Everything here has hidden visibility; the exported surface is only the
 * Sys* entry points and the bstrcheck_* API (exports.map). */
#ifndef BC_H
#define BC_H

#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_EXPORT __attribute__((visibility("default")))
#define BC_NOINLINE __attribute__((noinline))
/* Code that reads raw stack words (frame records, return-address slots,
 * other frames' locals): not instrumented, since any word may lie in a
 * sanitizer's redzone. */
#define BC_RAW_STACK_READ __attribute__((no_sanitize("address")))

/* How many of the LEN bytes at P, from the start, equal BYTE: a word at a
 * time (canary, poison and terminator checks, where intact is the rule). */
static inline size_t bc_leading_bytes(const void *p, size_t len, unsigned char byte)
{
    const unsigned char *bytes = p;
    const uint64_t pattern = 0x0101010101010101ull * byte;
    size_t i = 0;
    for (uint64_t word; i + 8 <= len; i += 8) {
        __builtin_memcpy(&word, bytes + i, 8);
        if (word != pattern)
            break;
    }
    while (i < len && bytes[i] == byte)
        i++;
    return i;
}
#define BC_LIKELY(x) __builtin_expect(!!(x), 1)
#define BC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Debug checks of the shim's own rules (a shard lock held where it must
 * be, or not held where foreign code runs). Built in with -Ddchecks=true
 * (the default for development builds; meson.build): a broken rule aborts
 * with its file and line, so a test that breaks one fails loudly. */
#if BC_DCHECKS
__attribute__((noreturn)) void bc_dcheck_failed(const char *what, const char *file, int line);
#define BC_DCHECK(cond, what)                                \
    do {                                                     \
        if (BC_UNLIKELY(!(cond)))                            \
            bc_dcheck_failed(what, __FILE__, __LINE__);      \
    } while (0)
#else
#define BC_DCHECK(cond, what) ((void)0)
#endif

#if BC_OS_LINUX /* ELF section names */
/* What fork() writes in every process (its handlers' locks and flags):
 * gathered in one section, so a fork costs one copy-on-write fault in the
 * parent and one in the child, not one for each file's page. */
#define BC_FORK_STATE __attribute__((section("bc_fork_state")))
/* And the code a fork runs (its handlers): a child maps the pages of a
 * library's code as it first runs them, one fault each; together they
 * take one or two. */
#define BC_FORK_CODE __attribute__((section(".text.hot.bc_fork")))
#else
#define BC_FORK_STATE
#define BC_FORK_CODE
#endif

/* The Windows types, spelled out: bstrcheck has no windows.h. OLECHAR's
 * width is a run-time option, so BSTR is an opaque pointer here. */
typedef void *bc_bstr_t;
typedef int32_t bc_hresult_t;
#define BC_S_OK ((bc_hresult_t)0)
#define BC_E_INVALIDARG ((bc_hresult_t)0x80070057)

typedef uint32_t bc_stack_id_t; /* 0 means "no stack" */

/* ------------------------------------------------------------ "options.c" */
/* Same order as the choices of "mode" and "unwind" in options.inc. */
typedef enum { BC_MODE_AUTO, BC_MODE_OWN, BC_MODE_FORWARD } bc_mode_t;
typedef enum { BC_UNWIND_LIBUNWIND, BC_UNWIND_FP } bc_unwind_t;

#define BC_OPT_CTYPE_BOOL int
#define BC_OPT_CTYPE_INT int
#define BC_OPT_CTYPE_ENUM int
#define BC_OPT_CTYPE_STR const char *
#define BC_OPT_CTYPE_REAL double

typedef struct bc_options {
#define BC_OPTION(kind, name, deflt, range, desc) BC_OPT_CTYPE_##kind name;
#include "options.inc"
#undef BC_OPTION
} bc_options_t;

extern bc_options_t bc_opt;

/* BSTRCHECK_OPTIONS is read up to this many bytes (NUL included). */
#define BC_OPTIONS_TEXT_MAX 4096

/* Reset bc_opt to the defaults, then apply "name=value:name=value" from
 * TEXT (NULL: nothing). Bad names and values warn and keep the default.
 * Returns the number of warnings. */
int bc_options_parse(const char *text);
/* Print every option with its default and meaning to fd. */
void bc_options_print_help(int fd);
/* Would NAME=VALUE be accepted? 0 if so, ENOENT for an unknown name, EINVAL
 * for a bad value; *VALID (may be NULL) gets the valid choices. bc_opt is
 * left as it was (the launcher checks its --name=value flags with this). */
int bc_option_check(const char *name, const char *value, const char **valid);

/* ---------------------------------------------------------------- "log.c" */
/* Formatting into a fixed buffer, never malloc: safe while reporting. */
void bc_log_write(int fd, const char *buf, size_t len);
__attribute__((format(printf, 1, 2))) void bc_warn(const char *fmt, ...);
/* One line: PREFIX, then FMT, then a newline, written to FD at once. */
__attribute__((format(printf, 3, 0))) void bc_log_line(int fd, const char *prefix,
                                                       const char *fmt, va_list ap);

/* --------------------------------------------------------------- "init.c" */
/* Two steps. The core (options, runtimes, fork handlers: cheap, nothing
 * mapped) is set up at load; what costs (libunwind, stack machinery) at the
 * first Sys* call or bstrcheck_* call, so that a process that never makes
 * a BSTR does not pay for it. */
extern volatile int bc_ready;    /* the core: options read, runtimes known */
extern volatile int bc_armed;    /* and the rest: a Sys* call was made */
extern volatile int bc_finished; /* the exit report has run */
void bc_init_core(void);
void bc_init_slow(void);
/* Held by fork (fork.c) and by the steps of arming a child must not
 * inherit half done; bc_armed changes only under it. */
BC_FORK_CODE void bc_arm_gate_lock(void);
BC_FORK_CODE void bc_arm_gate_unlock(void);
BC_FORK_CODE void bc_arm_gate_child_after_fork(void);
/* Before a Sys* call: everything set up. */
static inline void bc_ensure_init(void)
{
    if (BC_UNLIKELY(!bc_armed))
        bc_init_slow();
}

/* --------------------------------------------------------- "catch_free.c" */
/* Modules loaded since start-up get their free()/realloc() slots pointed
 * at the wrappers (only when an allocator is preloaded ahead of the shim). */
void bc_catch_free_rescan(void);

/* ------------------------------------------------------------ "dlclose.c" */
/* The real dlclose (the shim's own calls skip the wrapper's work). */
int bc_real_dlclose(void *handle);

/* ----------------------------------------------------------- "watchdog.c" */
/* The exit report may hang (exit() was called inside a Sys* call): end the
 * process after a few seconds with a warning if it has not finished. */
void bc_watchdog_arm(void);

/* -------------------------------------------------------------- "guard.c" */
/* Depth of Sys* calls on this thread: only the outermost one records. */
extern __thread int bc_depth __attribute__((tls_model("initial-exec")));
/* The outermost call's own frame, where a stack of the program starts
 * (stack.c, stack_cache.c); 0 outside the shim. */
extern __thread uintptr_t bc_entry_frame __attribute__((tls_model("initial-exec")));
/* Entering and leaving the shim from the program's code (an exported
 * function): the outermost call notes its frame, and forgets it on the way
 * out, so no later capture starts from a frame that is gone. */
#define BC_GUARD_ENTER()                                                    \
    do {                                                                    \
        if (bc_depth++ == 0)                                                \
            bc_entry_frame = (uintptr_t)__builtin_frame_address(0);         \
    } while (0)
#define BC_GUARD_LEAVE()                                                    \
    do {                                                                    \
        if (--bc_depth == 0) {                                              \
            bc_entry_frame = 0;                                             \
            if (BC_UNLIKELY(bc_unwound)) /* lost frames inside this call */ \
                bc_unwound = bc_passing = 0;                                \
        }                                                                   \
    } while (0)

/* ----------------------------------------------------- "platform_linux.c" */
typedef struct bc_module {
    uintptr_t lo, hi;  /* extent of its load segments */
    const char *path;  /* "" for the main program */
    uintptr_t base;    /* load bias */
    const void *dynamic; /* its dynamic section */
} bc_module_t;

/* The module that contains ADDR. */
bool bc_platform_module_of(uintptr_t addr, bc_module_t *out);
/* The next definition of NAME after the shim in the global scope. */
void *bc_platform_next_symbol(const char *name);
/* MODULE's own definition of NAME (not a dependency's), or NULL. */
void *bc_platform_module_symbol(const bc_module_t *module, const char *name);
/* The version of that definition (NAME@@VERSION), or NULL when it has none
 * or the base one: a reference of another version does not bind to it. */
const char *bc_platform_symbol_version(const bc_module_t *module, const char *name);
/* The loaded modules, up to MAX, in the loader's order; *TAIL_NEXT gets the
 * word that turns non-NULL when another module is loaded. */
int bc_platform_modules(bc_module_t *out, int max, void *const **tail_next);
/* Run FN, which opens descriptors it keeps, so that they land above the
 * numbers a program expects to get first. */
void bc_platform_with_high_fds(void (*fn)(void));
/* Was M linked with -Bsymbolic (its references to its own symbols bound
 * inside it, never through the shim)? */
bool bc_platform_symbolic(const bc_module_t *m);
/* Does M name DEP among its DT_NEEDED (by DEP's soname or file name)? */
bool bc_platform_needs(const bc_module_t *m, const bc_module_t *dep);
/* A reference to the module at PATH once no dlopen() of it is in progress
 * (release it with the real dlclose); NULL when it is not loaded. */
void *bc_platform_module_hold(const char *path);
/* Which of a module's PLT and GOT slots to point elsewhere: those of
 * NAMES[k] bound into [FROM_LO, FROM_HI) or to FROM[k] (FROM may be NULL),
 * or not bound yet, get TO[k] (NULL: leave that name alone). NAMES are in
 * an order where the first and last hold every first letter used. */
typedef struct bc_patch {
    const char *const *names;
    void *const *to;
    void *const *from;
    int n;
    uintptr_t from_lo, from_hi;
} bc_patch_t;
/* Apply PATCH to M: the number of slots patched, -1 when one could not be
 * written. */
int bc_platform_patch_calls(const bc_module_t *m, const bc_patch_t *patch);
/* fork: hold the patcher's lock across it; the child starts it afresh. */
BC_FORK_CODE void bc_platform_patch_lock(void);
BC_FORK_CODE void bc_platform_patch_unlock(void);
BC_FORK_CODE void bc_platform_patch_child_after_fork(void);
/* dlopen(FILE, MODE) as if CALLER (a return address) had called it: its
 * RUNPATH/RPATH, not the shim's, for a bare name. */
void *bc_platform_dlopen_for(void *(*real_dlopen)(const char *, int),
                             int (*real_dlclose)(void *), const char *file, int mode,
                             uintptr_t caller);

/* -------------------------------------------------------------- "stack.c" */
#define BC_MAX_FRAMES 256
/* At the first Sys* call, no shim lock held: load libunwind (or warn once
 * and fall back to unwind=fp when it cannot be used). */
void bc_stack_init(void);
/* Has bc_stack_init loaded libunwind? */
bool bc_stack_libunwind_loaded(void);
/* Capture the caller's stack into FRAMES (at most MAX entries), the shim's
 * own frames cut. Returns the number of frames. */
uint32_t bc_stack_capture(uintptr_t *frames, uint32_t max);
/* The stack words a walk depended on: where they are, and what they held. */
typedef struct bc_stack_word {
    uintptr_t addr, value;
} bc_stack_word_t;
typedef struct bc_stack_words {
    uint32_t count, cap; /* count > cap: too many to keep */
    bc_stack_word_t *word;
} bc_stack_words_t;
static inline void bc_stack_words_note(bc_stack_words_t *w, uintptr_t addr, uintptr_t value)
{
    if (w->count < w->cap)
        w->word[w->count] = (bc_stack_word_t){addr, value};
    w->count++;
}
/* Capture the stack of the outermost entry point's caller (bc_depth 1),
 * and the stack words the result depends on. False when those words are
 * not known (only the frames are then valid). */
bool bc_stack_capture_at_entry(uintptr_t *frames, uint32_t max, uint32_t *nframes,
                               bc_stack_words_t *words);
/* Changes when the set of executable mappings the fp walker knows does. */
uintptr_t bc_stack_code_version(void);

/* ------------------------------------------------------- "stack_cache.c" */
/* Capture and store in the depot: the common path of every entry point
 * (0 in a nested call). */
bc_stack_id_t bc_stack_here(void);
/* The same, whatever the depth (error reports). */
bc_stack_id_t bc_stack_now(void);
/* Code was unloaded: no cached stack may be trusted. */
void bc_stack_cache_invalidate(void);
/* Hits and misses of the stack caches of this thread and of the threads
 * that have exited, and self-checks run and failed (tests, benchmarks). */
typedef struct bc_stack_cache_stats {
    uint64_t hits, misses, checks, check_failures;
} bc_stack_cache_stats_t;
bc_stack_cache_stats_t bc_stack_cache_stats(void);
/* fork: the frame-pointer walker's module list lock. */
BC_FORK_CODE void bc_stack_lock(void);
BC_FORK_CODE void bc_stack_unlock(void);
BC_FORK_CODE void bc_stack_child_after_fork(void);
/* A free's stack: bc_stack_here, or 0 with free_stacks=0. */
static inline bc_stack_id_t bc_free_stack_here(void)
{
    return bc_opt.free_stacks ? bc_stack_here() : 0;
}
/* The extent [LO, HI) of the loaded module whose segments hold ADDR. */
bool bc_module_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/* -------------------------------------------------------------- "depot.c" */
typedef struct bc_stack {
    uint32_t nframes;
    const uintptr_t *frames;
} bc_stack_t;

/* Deduplicate a stack into a 32-bit id; 0 when out of memory. */
bc_stack_id_t bc_depot_put(const uintptr_t *frames, uint32_t nframes);
/* The frames behind ID; nframes == 0 for id 0 or an unknown id. */
bc_stack_t bc_depot_get(bc_stack_id_t id);
uint32_t bc_depot_count(void);
/* fork (see "fork.c"): hold the depot across fork; the child gets a fresh
 * lock, and keeps the stacks. */
BC_FORK_CODE void bc_depot_lock(void);
BC_FORK_CODE void bc_depot_unlock(void);
BC_FORK_CODE void bc_depot_child_after_fork(void);
/* Call FN for every stored stack (report time). */
void bc_depot_foreach(void (*fn)(bc_stack_id_t, bc_stack_t, void *), void *arg);

/* -------------------------------------------------------------- "table.c" */
enum { BC_LIVE = 0, BC_FREED = 1 };

typedef struct bc_record bc_record_t;
typedef struct bc_shard bc_shard_t;

/* The shim's own frees bypass the free() wrapper of catch_free.c. */
void bc_internal_free(void *p);
#define uthash_free(ptr, sz) bc_internal_free(ptr)
/* Out of memory inside uthash must not end the program (its default is
 * exit(-1)): the item is not added, and HASH_ADD leaves its hh.tbl NULL,
 * which every caller checks. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>
#define BC_HASH_ADDED(item) ((item)->hh.tbl != NULL)

/* The key, the BSTR pointer handed to the program, is held in hh.key
 * itself rather than pointed to: a record is 80 bytes, not 88. */
struct bc_record {
    UT_hash_handle hh;
    uint64_t seq;            /* allocation ordinal, for checkpoints */
    uint32_t bytes;          /* byte length at allocation (the prefix) */
    bc_stack_id_t alloc_stack;
    bc_stack_id_t free_stack;
    uint16_t pins;           /* SysAddRefString count */
    uint8_t state;           /* BC_LIVE or BC_FREED */
    uint8_t flags;           /* BC_FLAG_* (low 4 bits), runtime index (high 4) */
};

/* The metadata per live BSTR (docs/benchmarks.md, at most 96 bytes) is a
 * record plus its share of uthash's buckets: a field more is a new figure. */
_Static_assert(sizeof(bc_record_t) == 80, "a record is 80 bytes");

#define BC_RECORD_RUNTIME(rec) ((int)((rec)->flags >> 4))

static inline uintptr_t bc_record_bstr(const bc_record_t *rec)
{
    return (uintptr_t)rec->hh.key;
}

enum {
    BC_FLAG_FREE_PENDING = 1,  /* SysFreeString seen while pinned */
    BC_FLAG_PREFIX_SEEN = 2,   /* prefix_corrupt already reported */
    BC_FLAG_OVERFLOW_SEEN = 4, /* overflow already reported */
    BC_FLAG_POISONED = 8,      /* the freed body holds poison */
};

typedef struct bc_counts {
    uint64_t allocations;
    uint64_t frees;
} bc_counts_t;

/* Shard locks this thread holds. No foreign code (a real runtime, free()
 * of a BSTR's block) may run while it is above 0: bc_no_lock_held says so
 * once if it does, which the tests look for. */
extern __thread int bc_shard_locks_held __attribute__((tls_model("initial-exec")));
/* Calls passed straight to a runtime (entry.c) in progress on this thread:
 * a signal handler's may run while the code it interrupted holds a lock. */
extern __thread int bc_passing __attribute__((tls_model("initial-exec")));
void bc_lock_rule_broken(const char *what);
static inline void bc_no_lock_held(const char *what)
{
    if (BC_UNLIKELY(bc_shard_locks_held > 0) && !bc_passing)
        bc_lock_rule_broken(what);
}
void bc_table_init(void);
/* The shard this thread inserts BSTR into, locked: in its own group, or
 * next to an older record of BSTR another group still has. */
bc_shard_t *bc_table_lock_home(uintptr_t bstr);
/* The shard holding BSTR's record, locked, with the record in *REC; when
 * none holds one, *REC is NULL and the shard returned (locked) is only to
 * be unlocked: nothing is inserted through it. */
bc_shard_t *bc_table_lock_find(uintptr_t bstr, bc_record_t **rec);
/* The same without waiting: NULL when a shard is busy (nested.c). */
bc_shard_t *bc_table_trylock_find(uintptr_t bstr, bc_record_t **rec);
void bc_table_unlock(bc_shard_t *shard);
/* With the shard locked: */
/* Insert a new live record; NULL when out of memory. Counts an allocation.
 * Records are never unmapped: a dropped one is reused, its key cleared. */
bc_record_t *bc_shard_insert(bc_shard_t *shard, uintptr_t bstr, uint32_t bytes,
                             bc_stack_id_t stack, int runtime);
/* Records pushed out of the quarantine: detached from the table under its
 * lock, copied here, and released by the caller after the unlock, since
 * releasing calls foreign code (a real runtime's SysFreeString, free()). */
#define BC_EVICT_MAX 8
typedef struct bc_evicted {
    unsigned count;
    bc_record_t rec[BC_EVICT_MAX];
} bc_evicted_t;
/* An empty batch (not = {0}: that would clear all of it on every free). */
#define BC_EVICTED(name) \
    bc_evicted_t name;   \
    name.count = 0
/* Mark REC freed (counts a free) and hold it in quarantine; records pushed
 * out of the quarantine go to OUT (release them after the unlock). */
void bc_shard_retire(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t free_stack,
                     bc_evicted_t *out);
/* Forget REC without touching its memory (someone else released it);
 * counts a free if it was live. */
void bc_shard_drop(bc_shard_t *shard, bc_record_t *rec);
/* Release every quarantined record of RUNTIME now (its module goes away). */
void bc_table_flush_runtime(int runtime);
/* Every record of runtime FROM now belongs to TO (an unloaded runtime's
 * live BSTRs become orphans). */
void bc_table_retag_runtime(int from, int to);
/* Lock every shard (report time, fork) and unlock them again. */
void bc_table_lock_all(void);
void bc_table_unlock_all(void);
/* With all shards locked: visit every record; count them; sum the counters. */
void bc_table_foreach(void (*fn)(const bc_record_t *, void *), void *arg);
size_t bc_table_records_locked(void);
/* Visit every record, locking one shard at a time (patiently: this runs
 * from the fault handler too). False if a shard could not be locked. */
bool bc_table_search(void (*fn)(const bc_record_t *, void *), void *arg);
bc_counts_t bc_table_counts(void);
/* A checkpoint marker: every allocation from now on gets an ordinal at or
 * above it. */
uint64_t bc_table_next_seq(void);
/* The first ordinal this process allocated itself: 1, or in a forked child
 * the ordinal at fork. Older records are the parent's, never our leaks. */
uint64_t bc_table_first_own_seq(void);
/* fork: hold the table (every shard, once anything was ever tracked), and
 * release it in the parent. */
BC_FORK_CODE void bc_table_fork_prepare(void);
BC_FORK_CODE void bc_table_fork_parent(void);
/* In a forked child, with the table held by the fork: fresh locks, zero
 * counters, and every record inherited (see bc_table_first_own_seq). */
BC_FORK_CODE void bc_table_child_after_fork(void);
/* The tables' shape, for tests and benchmarks: records; uthash's buckets;
 * the longest chain; records a find of every record compares in all
 * (its place in its chain, summed); tables uthash stopped expanding; bytes
 * of records (slabs), buckets and tables. */
typedef struct bc_table_shape {
    size_t records, buckets, longest_chain, compares, unexpandable, bytes;
} bc_table_shape_t;
void bc_table_shape(bc_table_shape_t *out);

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
/* Give BSTR's block back (it leaves the quarantine). */
void bc_own_release(bc_bstr_t bstr, uint32_t bytes);
/* Size of the block behind a BSTR of BYTES bytes. */
size_t bc_own_block_size(uint32_t bytes);
/* Memory a BSTR of BYTES bytes holds (quarantine accounting). */
size_t bc_own_footprint(uint32_t bytes);
/* The address range of REC's block, for "inside a BSTR" searches. */
void bc_own_span(const bc_record_t *rec, uintptr_t *lo, uintptr_t *hi);
/* Offset from the data where the terminator ends. */
size_t bc_own_data_end(uint32_t bytes);
/* How far past the string's last byte the terminator or canaries were
 * changed (0: intact). */
size_t bc_own_overflow(bc_bstr_t bstr, uint32_t bytes);
/* Poison a freed body (or make its pages inaccessible). */
void bc_own_poison(bc_bstr_t bstr, uint32_t bytes);
/* How many poisoned bytes changed; *FIRST gets the first one's offset. */
size_t bc_own_poison_damage(bc_bstr_t bstr, uint32_t bytes, size_t *first);
/* The prefix as stored in memory. */
static inline uint32_t bc_own_prefix(bc_bstr_t bstr)
{
    uint32_t prefix;
    __builtin_memcpy(&prefix, (const char *)bstr - sizeof prefix, sizeof prefix);
    return prefix;
}

/* -------------------------------------------------------- "guard_pages.c" */
/* Page-heap mode: each BSTR ends flush against an inaccessible page. */
void bc_guard_init(void);
bc_bstr_t bc_guard_alloc(uint32_t bytes);
void bc_guard_release(bc_bstr_t bstr, uint32_t bytes);
/* Make a quarantined BSTR's pages inaccessible. */
void bc_guard_protect(bc_bstr_t bstr, uint32_t bytes);
/* Bytes from the data to the guard page (data, terminator, canaries). */
size_t bc_guard_data_room(uint32_t bytes);
/* The mapping of REC, guard page included. */
bool bc_guard_span(const bc_record_t *rec, uintptr_t *lo, uintptr_t *hi);
/* Memory a BSTR of BYTES bytes maps, guard page included. */
size_t bc_guard_footprint(uint32_t bytes);

/* -------------------------------------------------------------- "fault.c" */
/* Install the SIGSEGV handler that turns guard-page faults into findings. */
void bc_fault_init(void);

/* ------------------------------------------------------------- "table.c" */
/* May P be a tracked BSTR, or a block start 4 or 8 bytes before one (what a
 * free() of it would be handed)? False means surely not. Lock-free. */
bool bc_table_may_hold(uintptr_t p);
/* Where the filter lies: untouched until the first BSTR is tracked (a
 * process's RSS counts only the pages written), never read by free() or
 * realloc() before the first Sys* call or with catch_free=0 (tests). */
void bc_table_filter_extent(uintptr_t *lo, size_t *size);

/* ----------------------------------------------------------- "runtimes.c" */
enum {
    BC_FN_ALLOC, BC_FN_ALLOC_LEN, BC_FN_ALLOC_BYTE_LEN, BC_FN_REALLOC, BC_FN_REALLOC_LEN,
    BC_FN_FREE, BC_FN_LEN, BC_FN_BYTE_LEN, BC_FN_ADDREF, BC_FN_RELEASE, BC_FN_COUNT
};
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
/* The runtime this thread is calling into (0: none). A Sys* call made
 * meanwhile is that runtime's own (through its PLT, a tail call or not),
 * and goes straight to it. */
extern __thread int bc_forwarding_rt __attribute__((tls_model("initial-exec")));
int bc_runtime_slow(uintptr_t ra);
/* An exception the runtime caught inside a call went past some of the
 * shim's frames without their cleanups (personality.c): the call's end
 * clears what they left (BC_GUARD_LEAVE). */
extern __thread int bc_unwound __attribute__((tls_model("initial-exec")));
/* Find the unwinder the shim's cleanups belong to (at arming: a process
 * that makes no Sys* call never needs it). Until then every unwinder is
 * treated as foreign, whose frames' cleanups lost_cleanups stands in for. */
void bc_personality_init(void);
/* The runtime for a top-level call that came through the generic entry
 * points, RA its return address (consulted only while a module is loading
 * or could not be patched). */
static inline int bc_runtime_for_entry(uintptr_t ra)
{
    if (BC_LIKELY(*__atomic_load_n(&bc_modules_watch, __ATOMIC_ACQUIRE) == NULL))
        return __atomic_load_n(&bc_default_runtime, __ATOMIC_RELAXED);
    return bc_runtime_slow(ra);
}
/* Per runtime index, its ten entry points (entry.c): a module whose calls
 * must reach its own runtime gets its PLT slots pointed at these. */
extern void *const bc_runtime_entries[BC_MAX_RUNTIMES][BC_FN_COUNT];
/* After options: set up for the mode (no dynamic-linker call). */
void bc_runtimes_init(void);
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
/* The module in [LO, HI) is being dlclose()d (before: release what its
 * runtime holds in the quarantine while its code exists) or was (after,
 * when it is gone: its live BSTRs become orphans, its slot free). */
void bc_runtimes_closing(uintptr_t lo, uintptr_t hi);
void bc_runtimes_closed(uintptr_t lo, uintptr_t hi);
/* A dlopen() failed: forget modules it had mapped and unmapped again. */
void bc_runtimes_prune(void);
/* A call was forwarded: the report says mode "forward". */
void bc_runtime_note_forward(void);
/* "forward" once any call was forwarded, else "own". */
const char *bc_runtimes_mode(void);
/* The OLECHAR width of REC's runtime. */
/* The OLECHAR width of runtime RT's strings (own mode's while unknown). */
unsigned bc_runtime_width(int rt);
unsigned bc_record_width(const bc_record_t *rec);
/* May REC's memory be read (not an orphan)? */
static inline bool bc_record_readable(const bc_record_t *rec)
{
    return BC_RECORD_RUNTIME(rec) != BC_RUNTIME_ORPHAN;
}
/* fork: held across it; the child starts the locks afresh. */
BC_FORK_CODE void bc_runtimes_lock(void);
BC_FORK_CODE void bc_runtimes_unlock(void);
BC_FORK_CODE void bc_runtimes_child_after_fork(void);

/* ------------------------------------------------------------ "forward.c" */
typedef enum { BC_ALLOC_SZ, BC_ALLOC_LEN, BC_ALLOC_BYTE_LEN } bc_alloc_kind_t;
bc_bstr_t bc_forward_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_forward_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_forward_free(int rt, bc_bstr_t bstr);
uint32_t bc_forward_byte_len(int rt, bc_bstr_t bstr);
uint32_t bc_forward_len(int rt, bc_bstr_t bstr);
/* Learn RT's OLECHAR width from BSTR, just made by request (KIND, PSZ, LEN). */
void bc_forward_learn_width(int rt, bc_bstr_t bstr, bc_alloc_kind_t kind, const void *psz,
                            unsigned len);
/* The 4-byte prefix before a BSTR's data, read directly. */
uint32_t bc_raw_prefix(bc_bstr_t bstr);
bc_hresult_t bc_forward_addref(int rt, bc_bstr_t bstr);
void bc_forward_release(int rt, bc_bstr_t bstr);

/* -------------------------------------------------------------- "track.c" */
/* What the entry points do once past the guard: the bookkeeping around the
 * runtime RT (the caller's). Each returns what the Sys* function returns.
 * A real runtime's nested calls never come here: entry.c passes them
 * through. */
bc_bstr_t bc_track_alloc(int rt, bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_track_realloc(int rt, bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_track_free(int rt, bc_bstr_t bstr);
/* SysStringByteLen (CHARS false) or SysStringLen (CHARS true). */
uint32_t bc_track_len(int rt, bc_bstr_t bstr, bool chars);
bc_hresult_t bc_track_addref(int rt, bc_bstr_t bstr);
void bc_track_release(int rt, bc_bstr_t bstr);
/* Length in OLECHARs of a NUL-terminated string of the current width. */
size_t bc_olestr_len(const void *psz);
/* The same for any width (a real runtime's). */
size_t bc_olestr_units(const void *psz, unsigned width);
/* free() or realloc() was handed P, which the filter says may be a BSTR.
 * foreign_free: true when the shim took care of P (do not free it);
 * foreign_realloc: BC_NOT_A_BSTR when P is none of ours, else the new
 * block. */
#define BC_NOT_A_BSTR ((void *)-1)
bool bc_track_foreign_free(void *p, const char *fn);
void *bc_track_foreign_realloc(void *p, size_t size);
/* Table hook: a record enters the quarantine (its body is poisoned). */
void bc_on_retire(bc_record_t *rec);
/* Give back the memory of records that left the quarantine (no lock held):
 * writes after free are checked first. */
void bc_release_evicted(const bc_evicted_t *out);
/* Check every record for damage (overflow, prefix, writes after free);
 * all shards locked. */
void bc_track_audit_all(void);
/* A SysFreeString deferred by a reentrant call, done now (no stack). */
void bc_track_free_deferred(bc_bstr_t bstr);
/* The byte length of an own-mode request, and how many bytes of PSZ to
 * copy; UINT32_MAX or more means too long for the prefix. */
uint64_t bc_own_request(bc_alloc_kind_t kind, const void *psz, unsigned len, size_t *copy);
/* An address no user-space object can have: the first page (NULL plus a
 * small offset; Linux never maps it for a program) or above the user part
 * of the address space (kernel and non-canonical addresses). The shim
 * reads through a BSTR* only when this is false. (A BSTR argument is never
 * read through unless the table knows it anyway.) */
static inline bool bc_addr_impossible(const void *p)
{
    uintptr_t a = (uintptr_t)p;
#if defined(__x86_64__)
    if (a >> 56) /* user space ends at 2^47, or 2^56 with 5-level paging */
        return true;
#elif defined(__aarch64__)
    if ((a >> 52) & 0xF) /* user space ends at 2^52 at most; the top byte may be a tag */
        return true;
#endif
    return a < 4096;
}

/* ------------------------------------------------------------ "inject.c" */
/* Fault injection (fail_rate, fail_nth, fail_seed, fail_once_per_stack). */
extern bool bc_inject_active; /* any of them set: the hot path tests this */
void bc_inject_init(void);
/* Should this allocation attempt, from STACK, fail? Counts the attempt,
 * and the injected failure. */
bool bc_inject_fail(bc_stack_id_t stack);

/* -------------------------------------------------------------- "side.c" */
/* BSTRs made by reentrant calls: lock-free, malloc-free, own layout. */
bc_bstr_t bc_side_alloc(const void *src, size_t copy, uint32_t bytes);
/* Each returns false when BSTR is not in the side table. */
bool bc_side_free(bc_bstr_t bstr);
bool bc_side_len(bc_bstr_t bstr, uint32_t *bytes);
bool bc_side_addref(bc_bstr_t bstr, bc_hresult_t *hr);
bool bc_side_release(bc_bstr_t bstr);
/* Report time: every live side BSTR as a record (runtime own, no stack). */
void bc_side_foreach_live(void (*fn)(const bc_record_t *, void *), void *arg);
bc_counts_t bc_side_counts(void);
/* fork: the child keeps the parent's side BSTRs (it may free them) but
 * neither counts nor reports them. */
BC_FORK_CODE void bc_side_child_after_fork(void);

/* ------------------------------------------------------------ "nested.c" */
/* A call is reentrant when, in own mode, this thread was already inside
 * the shim: a signal handler that interrupted a Sys* call. It must take no
 * lock and call no malloc. (In forward mode, depth > 1 is a real runtime's
 * own nested call, passed straight through.) */
static inline bool bc_reentered(int rt)
{
    return rt == BC_RUNTIME_OWN && bc_depth > 1;
}
bc_bstr_t bc_nested_alloc(bc_alloc_kind_t kind, const void *psz, unsigned len);
int bc_nested_realloc(bc_bstr_t *pbstr, const void *psz, unsigned len, bool is_sz);
void bc_nested_free(bc_bstr_t bstr);
uint32_t bc_nested_len(bc_bstr_t bstr, bool chars);
bc_hresult_t bc_nested_addref(bc_bstr_t bstr);
void bc_nested_release(bc_bstr_t bstr);
/* Frees deferred by reentrant calls, waiting to be done. */
extern unsigned bc_deferred_pending;
/* Do them (outermost calls only: no lock held). */
void bc_deferred_drain(void);
static inline void bc_deferred_maybe_drain(void)
{
    if (BC_UNLIKELY(__atomic_load_n(&bc_deferred_pending, __ATOMIC_RELAXED)) && bc_depth == 1)
        bc_deferred_drain();
}
/* At exit: one warning each for lost deferred frees and unchecked calls. */
void bc_nested_warn(void);

/* -------------------------------------------------------- "break_alloc.c" */
/* break_on_alloc: armed when the option names an ordinal; the check runs
 * on every tracked allocation, after the table's lock is released. */
extern bool bc_break_armed;
/* Arm it from the option (init). */
void bc_break_init(void);
void bc_break_check(uint64_t seq, bc_bstr_t bstr);

/* ------------------------------------------------------------- "events.c" */
#include "kinds.h" /* bc_kind_t and bc_kind_names: report/, shared with the launcher */

typedef enum {
    BC_ROLE_ALLOC,
    BC_ROLE_FREE,
    BC_ROLE_PREVIOUS_FREE,
    BC_ROLE_ACCESS,
    BC_ROLE_COUNT
} bc_role_t;

#define BC_SAMPLE_CHARS 64
#define BC_SAMPLE_MAX (BC_SAMPLE_CHARS * 4 + 4)
#define BC_DETAIL_MAX 200

/* One finding: a group of identical events (same kind and stacks). */
typedef struct bc_finding {
    bc_kind_t kind;
    uint64_t count;
    uint64_t bytes;
    bc_stack_id_t stacks[BC_ROLE_COUNT];
    char sample[BC_SAMPLE_MAX]; /* UTF-8, unescaped, may hold NULs */
    uint32_t sample_len;        /* 0: no sample */
    char detail[BC_DETAIL_MAX];
} bc_finding_t;

extern const char *const bc_role_names[BC_ROLE_COUNT];

/* The first characters of a live string, copied while its record was
 * locked: enough for BC_SAMPLE_CHARS characters and the "..." test. */
typedef struct bc_sample {
    unsigned char raw[(2 * BC_SAMPLE_CHARS + 2) * 4];
    uint32_t bytes; /* 0: no sample */
    unsigned width;
} bc_sample_t;

/* Under REC's shard lock: the first characters of its string, if live and
 * readable (else OUT->bytes is 0). */
void bc_sample_copy(bc_sample_t *out, const bc_record_t *rec);

/* ------------------------------------------------------------ "snapshot.c" */
/* The cold path's read-only view of the table (report/, describe): one
 * consistent copy of every record, taken with no allocation under a lock. */
typedef struct bc_record_view {
    uintptr_t bstr;
    uint64_t seq;
    uint32_t bytes;
    bc_stack_id_t alloc_stack, free_stack;
    uint8_t state, flags; /* as bc_record_t's */
} bc_record_view_t;
typedef struct bc_snapshot {
    bc_record_view_t *records;
    size_t count;
    bc_counts_t counts; /* the table's counts at the same moment */
} bc_snapshot_t;
bc_record_view_t bc_record_view(const bc_record_t *rec);
/* False when out of memory (S is then empty). */
bool bc_snapshot_take(bc_snapshot_t *s);
void bc_snapshot_free(bc_snapshot_t *s);
/* The sample of V's BSTR, read under its shard lock if it is still that
 * very BSTR and live; false otherwise. */
bool bc_snapshot_sample(const bc_record_view_t *v, bc_sample_t *out);

/* Record an error event (slow path; never under a shard lock: it formats
 * and allocates). SAMPLE (may be NULL) is the string's sample. */
BC_NOINLINE void bc_event(bc_kind_t kind, const bc_stack_id_t stacks[BC_ROLE_COUNT],
                          const bc_sample_t *sample, uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------- "notice.c" */
/* A finding noticed under a shard lock, said after the unlock. */
typedef enum {
    BC_SAY_PREFIX,           /* NUMBER: the prefix found; FN: when */
    BC_SAY_OVERFLOW,         /* NUMBER: bytes written past the end; FN: when */
    BC_SAY_USE_AFTER_FREE,   /* FN: the Sys* function */
    BC_SAY_UNPINNED_RELEASE,
    BC_SAY_MISMATCHED,       /* FN: free or realloc; PTR: what it was handed */
} bc_say_t;
typedef struct bc_notice {
    bc_say_t what;
    bc_record_t rec;       /* as it was when noticed */
    bc_stack_id_t access;  /* the call's stack; 0: captured when said */
    const char *fn;
    const void *ptr;
    uint64_t number;
    bc_sample_t sample;
} bc_notice_t;
#define BC_NOTICES_MAX 2 /* a free may find both a prefix and an overflow */
typedef struct bc_notices {
    unsigned count;
    bc_notice_t item[BC_NOTICES_MAX];
} bc_notices_t;
/* An empty list (not = {0}: that would clear all of it on every free). */
#define BC_NOTICES(name) \
    bc_notices_t name;   \
    name.count = 0
/* Under the lock: note a finding about REC (copied). */
bc_notice_t *bc_notice(bc_notices_t *notices, bc_say_t what, const bc_record_t *rec,
                       bc_stack_id_t access);
/* After the unlock: say them all (bc_event). */
void bc_notices_say(bc_notices_t *notices);
/* Informational counts, not findings. */
typedef enum {
    BC_COUNT_UNTRACKED_FREES,
    BC_COUNT_RELEASED_BY_FREE,
    BC_COUNT_INJECTED_FAILURES,
    BC_COUNT_KINDS
} bc_count_t;
void bc_count(bc_count_t which);
uint64_t bc_count_get(bc_count_t which);
/* Visit every error finding recorded so far. */
void bc_events_foreach(void (*fn)(const bc_finding_t *, void *), void *arg);
uint64_t bc_events_count(bc_kind_t kind);
/* fork: hold the events lock across it; the child starts with no events
 * (the parent's are the parent's to report) and a fresh lock. */
BC_FORK_CODE void bc_events_lock(void);
BC_FORK_CODE void bc_events_unlock(void);
BC_FORK_CODE void bc_events_child_after_fork(void);

/* --------------------------------------------------------------- "fork.c" */
/* Register the fork handlers (once, from init): every lock of the shim is
 * taken before fork in one fixed order, so no child inherits a locked one. */
void bc_fork_init(void);
/* Forks that locked the depot and the events: none before the first Sys*
 * call (tests). */
extern unsigned bc_fork_armed_count;

#endif /* BC_H */
