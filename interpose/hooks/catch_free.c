/* catch_free=1: free() and realloc() are watched for BSTRs released outside
 * the Sys* API. The cost for every other pointer is one hash and one load
 * (two when it is not 16-aligned): a counting filter, kept by the table
 * (bc_table_may_hold), over the addresses a tracked BSTR can be freed by:
 * the BSTR itself and the two block starts a runtime may use, 4 and 8 bytes
 * before it. Only a filter hit takes the slow path through the table.
 *
 * The shim's own frees never come here: internal code calls
 * bc_internal_free() directly.
 *
 * Which allocator. The process may have another malloc than glibc's, and
 * other interposers, preloaded ahead of the shim or after it, or linked
 * (DT_NEEDED). The shim defines no malloc, so its own memory comes from
 * the global malloc, whoever that is. Three functions matter here:
 *   own_free   releases the shim's own memory: the free that the process's
 *              global binding gives, or, when that is the shim's own
 *              wrapper, the next definition after the shim (RTLD_NEXT).
 *   real_free  where the wrappers send a pointer after their checks.
 *   next_free  the definition after the shim (RTLD_NEXT): where a chain of
 *              interposers that reaches the shim continues.
 * (and the same for realloc). Once, at start-up (check_family), the malloc
 * family (malloc, free, realloc, calloc, posix_memalign, aligned_alloc,
 * memalign, malloc_usable_size) is checked as a set: each must come from
 * the module that defines the global malloc, unless that module does not
 * define it at all (a forwarding layer such as heaptrack's). Then:
 *  (a) the global free() is the shim's (the shim is preloaded ahead of every
 *      other free): the wrappers are reached by ordinary binding, and send
 *      on to next_free, which is the global malloc's partner.
 *  (b) an allocator that does not forward comes first (LD_PRELOAD=
 *      libjemalloc.so.2:libbstrcheck.so, or a program linking one ahead of
 *      the shim): the process's free() calls never reach the shim. The
 *      wrappers send on to that allocator's own free/realloc, and the
 *      modules loaded so far get their GOT slots for free/realloc pointed at
 *      the wrappers, as the dynamic linker would have bound them with the
 *      shim first. Modules dlopen()ed later are not (see
 *      bc_catch_free_rescan below).
 *  (c) a layer that forwards with dlsym(RTLD_NEXT) comes first (heaptrack's
 *      preload library): its free() calls the shim's, which sends on to
 *      next_free. Nothing to patch.
 * (b) and (c) are told apart by trying: one block from the global malloc is
 * released with the global free, and the wrapper notes whether that call
 * came back to it (probe_free).
 * When the set cannot be matched (malloc from one library, free from
 * another), one warning names them, and the wrappers pass straight
 * through to what the process would have called without the shim.
 *
 * Re-entry. While the shim releases its own memory (bc_internal_free:
 * bc_freeing_own > 0 on the thread), a call that comes back into the wrappers is
 * the allocator ahead continuing its chain: it goes on unchecked, so it
 * never looks into the table (whose lock the caller may hold). The
 * wrappers' fast paths are unchanged: the real function, and errno as it
 * leaves it; only the slow path (a filter hit) saves and restores errno
 * around the shim's own work. No shim lock is held here across a call to
 * foreign code. */
#include "hooks.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* free() runs before anything else is set up: AddressSanitizer's own start
 * calls it (through dlsym) before its shadow memory exists. So the wrapper
 * and what it touches on its fast path are not instrumented; a sanitizer
 * build of the unit tests links these wrappers too. */
#define NO_ASAN __attribute__((no_sanitize("address")))

#if defined(BC_NO_FREE_WRAPPERS)
/* A fuzzing build: the core is linked into a program whose malloc belongs
 * to the sanitizer; free() and realloc() stay theirs, unwatched (and
 * bc_internal_free is plain free). */
void bc_catch_free_rescan(void)
{
}
#else
typedef void (*free_fn_t)(void *);
typedef void *(*realloc_fn_t)(void *, size_t);
typedef void *(*malloc_fn_t)(size_t);

/* Set once each (lazily at the first call, then by the start-up check);
 * read with atomic loads, since a call may race with the check. */
static free_fn_t next_free, real_free;
static realloc_fn_t next_realloc, real_realloc;
/* 0 when the family could not be matched: no checks, straight through. */
static volatile int watching = 1;
/* Case (b): the wrappers are reached through patched GOT slots. */
static int patching;


#define LOAD(var) __atomic_load_n(&(var), __ATOMIC_ACQUIRE)
#define STORE(var, value) __atomic_store_n(&(var), (value), __ATOMIC_RELEASE)

NO_ASAN static void *as_ptr(free_fn_t f)
{
    void *p;
    memcpy(&p, &f, sizeof p);
    return p;
}

NO_ASAN static free_fn_t as_free(void *p)
{
    free_fn_t f;
    memcpy(&f, &p, sizeof f);
    return f;
}

NO_ASAN static realloc_fn_t as_realloc(void *p)
{
    realloc_fn_t f;
    memcpy(&f, &p, sizeof f);
    return f;
}

/* The wrappers' own addresses, taken without the GOT (which may hold
 * another library's free): hidden aliases, defined after the wrappers. */
static void *self_free_addr(void);
static void *self_realloc_addr(void);

/* The first call on any thread, before the start-up check (or in a process
 * where it never ran): what is right in every case that can reach the
 * wrappers this early, since patching (b) only starts with the check.
 * dlsym may itself free or realloc: while resolving, such calls on this
 * thread are dropped (free) or refused (realloc). */
NO_ASAN static void resolve(void)
{
    int saved = errno;
    const bc_next_t *next = bc_next_resolve();
    STORE(next_realloc, next->realloc);
    STORE(next_free, next->free);
    if (!LOAD(real_realloc))
        STORE(real_realloc, next->realloc);
    if (!LOAD(real_free))
        STORE(real_free, next->free);
    /* (dlsym may free: real_free is set by now) */
    void *gf = bc_platform_global_symbol("free");
    /* (a guess: the start-up check's choice, made or to come, stands) */
    bc_platform_offer_own_free(gf && gf != self_free_addr() ? as_free(gf) : next->free);
    errno = saved;
}

/* The fast paths are what they were before any of this: the real
 * function, errno as it leaves it. Only a filter hit looks further. */
NO_ASAN BC_EXPORT void free(void *p)
{
    if (!p)
        return;
    free_fn_t real = LOAD(real_free);
    if (BC_UNLIKELY(!real)) {
        if (bc_next_resolving()) /* dlsym calling back */
            return;
        resolve();
        real = LOAD(real_free);
    }
    /* inside the shim first: a real runtime freeing a block for the shim
     * costs no filter probe (a likely cache miss); nor does a process that
     * made no Sys* call yet (the filter's pages stay untouched), nor
     * catch_free=0: straight to the C library */
    if (BC_LIKELY(bc_depth > 0 || !bc_armed || !bc_opt.catch_free ||
                  !bc_table_may_hold((uintptr_t)p) || !watching || bc_freeing_own)) {
        real(p);
        return;
    }
    int saved = errno;
    BC_GUARD_ENTER();
    bool ours = bc_track_foreign_free(p, "free");
    BC_GUARD_LEAVE();
    errno = saved;
    if (!ours)
        real(p);
}

NO_ASAN BC_EXPORT void *realloc(void *p, size_t size)
{
    realloc_fn_t real = LOAD(real_realloc);
    if (BC_UNLIKELY(!real)) {
        if (bc_next_resolving()) /* dlsym calling back */
            return NULL;
        resolve();
        real = LOAD(real_realloc);
    }
    if (BC_LIKELY(!p || bc_depth > 0 || !bc_armed || !bc_opt.catch_free ||
                  !bc_table_may_hold((uintptr_t)p) || !watching || bc_freeing_own))
        return real(p, size);
    int saved = errno;
    BC_GUARD_ENTER();
    void *moved = bc_track_foreign_realloc(p, size);
    BC_GUARD_LEAVE();
    if (moved == BC_NOT_A_BSTR) {
        errno = saved;
        return real(p, size);
    }
    errno = moved || !size ? saved : ENOMEM;
    return moved;
}

/* The start-up probe (below) sends the wrappers here for a moment: a free
 * of its block that arrives here came back through the allocator. */
static void *probe_block;
static volatile int probe_came_back;

NO_ASAN static void probe_free(void *p)
{
    if (p == probe_block)
        probe_came_back = 1;
    LOAD(next_free)(p);
}

/* (only their addresses are taken: the attributes of the C library's
 * declarations, leaf and alloc_size, do not matter for those) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
extern void bc_self_free(void *) __attribute__((alias("free"), visibility("hidden")));
extern void *bc_self_realloc(void *, size_t) __attribute__((alias("realloc"), visibility("hidden")));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

NO_ASAN static void *self_free_addr(void)
{
    return as_ptr(bc_self_free);
}

static void *self_realloc_addr(void)
{
    void *p;
    realloc_fn_t f = bc_self_realloc;
    memcpy(&p, &f, sizeof p);
    return p;
}

/* ------------------------------------------------- the start-up check */

static bool module_has(const bc_module_t *m, const void *addr)
{
    return (uintptr_t)addr >= m->lo && (uintptr_t)addr < m->hi;
}

static const char *module_name(const bc_module_t *m)
{
#if defined(__GLIBC__)
    return m->path && *m->path ? m->path : program_invocation_name;
#else
    return m->path && *m->path ? m->path : "the program";
#endif
}

/* What the process calls for NAME, the shim left out: the global
 * definition, or the next one when the global one is the shim's. */
static void *process_symbol(const char *name)
{
    void *f = bc_platform_global_symbol(name);
    if (f && (f == self_free_addr() || f == self_realloc_addr()))
        f = bc_platform_next_symbol(name);
    return f;
}

/* ---------------------------------------------------- GOT patching (b) */

typedef struct patch_job {
    uintptr_t skip[3]; /* addresses inside modules left alone: the shim, the allocator, ld.so */
    void *from[2];     /* the allocator's free and realloc */
    void *to[2];       /* the wrappers */
} patch_job_t;

static patch_job_t patch_plan; /* written once, before patching is set */

/* Point every loaded module's free/realloc slots bound to the allocator
 * (or not bound yet) at the wrappers. The module list is taken before the
 * lock: no shim lock is held across a dynamic-linker call. */
static int patch_modules(void)
{
    static const char *const names[2] = {"free", "realloc"};
    bc_module_t modules[256];
    void *const *tail;
    int n = bc_platform_modules(modules, (int)BC_ARRAY_LEN(modules), &tail);
    int failed = 0;
    bc_patch_t patch = {names, patch_plan.to, patch_plan.from, 2, 0, 0};
    for (int i = 0; i < n; i++) {
        bool skip = false;
        for (size_t k = 0; k < BC_ARRAY_LEN(patch_plan.skip); k++)
            skip |= patch_plan.skip[k] >= modules[i].lo && patch_plan.skip[k] < modules[i].hi;
        if (!skip && bc_platform_patch_calls(&modules[i], &patch) < 0)
            failed++;
    }
    return failed ? -1 : 0;
}

/* Case (b) only: modules loaded since (dlopen) get their slots patched too.
 * Call it after a dlopen() returns (no shim lock held). */
void bc_catch_free_rescan(void)
{
    if (__atomic_load_n(&patching, __ATOMIC_ACQUIRE))
        patch_modules();
}

static int warned;

__attribute__((format(printf, 1, 2))) static void warn_once(const char *fmt, ...)
{
    if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bc_warn("%s", line);
}

/* The malloc family, checked as a set once at start-up (see the top). */
static void check_family(void)
{
    static const char *const family[] = {
        "malloc", "free", "realloc", "calloc", "posix_memalign", "aligned_alloc", "memalign",
        "malloc_usable_size",
    };
    static int checked;
    if (__atomic_exchange_n(&checked, 1, __ATOMIC_ACQ_REL))
        return;
    if (!LOAD(real_free))
        resolve();
    void *global_malloc = bc_platform_global_symbol("malloc");
    bc_module_t self, g;
    if (!global_malloc || !bc_platform_module_of((uintptr_t)self_free_addr(), &self) ||
        !bc_platform_module_of((uintptr_t)global_malloc, &g) || !bc_platform_module_symbol(&g, "malloc"))
        return; /* nothing to match against: the lazy choice stands */
    if (g.lo == self.lo)
        return; /* the core linked into a program that defines malloc (tests) */

    void *fn[BC_ARRAY_LEN(family)];
    for (size_t i = 0; i < BC_ARRAY_LEN(family); i++) {
        fn[i] = process_symbol(family[i]);
        if (!fn[i] || module_has(&g, fn[i]))
            continue;
        /* A layer (it forwards) may leave some of the family to the
         * allocator after it; an allocator must serve all it defines, and
         * free, realloc and calloc in any case. */
        bool core = i <= 3;
        if (!core && !bc_platform_module_symbol(&g, family[i]))
            continue;
        bc_module_t other;
        const char *where = bc_platform_module_of((uintptr_t)fn[i], &other) ? module_name(&other) : "?";
        /* Pass straight through to what the process would call without
         * the shim (the wrappers are reached only with the shim first). */
        STORE(watching, 0);
        void *own = bc_platform_module_symbol(&g, "free");
        if (own) {
            bc_platform_set_own_free(as_free(own));
        }
        warn_once("the malloc family does not match: malloc() comes from %s, %s() from %s; "
                  "catch_free is off (free() and realloc() pass straight through)",
                  module_name(&g), family[i], where);
        return;
    }

    void *global_free = bc_platform_global_symbol("free");
    if (global_free == self_free_addr())
        return; /* (a): the lazy choice is the right one */

    /* The global free is the allocator's, ahead of the shim: (b) or (c)? */
    malloc_fn_t alloc;
    memcpy(&alloc, &global_malloc, sizeof alloc);
    void *block = alloc(48);
    if (block) {
        probe_block = block;
        STORE(real_free, probe_free);
        as_free(global_free)(block);
        STORE(real_free, LOAD(next_free));
        probe_block = NULL;
    }
    bc_platform_set_own_free(as_free(global_free));
    if (probe_came_back || !block)
        return; /* (c): a layer that forwards to us; real_free stays next_free */
    /* (b) */
    STORE(real_realloc, as_realloc(fn[2]));
    STORE(real_free, as_free(global_free));
    patch_plan = (patch_job_t){
        .skip = {(uintptr_t)self_free_addr(), (uintptr_t)global_malloc, bc_platform_loader_base()},
        .from = {global_free, fn[2]},
        .to = {self_free_addr(), self_realloc_addr()},
    };
    STORE(patching, 1);
    if (patch_modules() != 0)
        warn_once("%s is loaded ahead of the shim and its free() calls could not all be redirected "
                  "to the shim's: catch_free misses those (put libbstrcheck.so first in LD_PRELOAD)",
                  module_name(&g));
}

__attribute__((constructor)) static void catch_free_start(void)
{
    int saved = errno;
    check_family();
    errno = saved;
}
#endif /* BC_NO_FREE_WRAPPERS */
