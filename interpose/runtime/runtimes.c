/* Real BSTR runtimes, for modes forward and auto: for each call, the
 * runtime it would have reached without the shim, as the dynamic linker
 * binds it. A module's reference to SysAllocString binds to the first
 * definition in the global scope (the program, the preloads, their
 * dependencies, RTLD_GLOBAL additions), then in the module's own local
 * scope. So:
 *   - with a runtime in the global scope after the shim (RTLD_NEXT: a
 *     liboleaut32 the program links), every call goes to it;
 *   - without one, a module that defines the functions itself (a plugin
 *     dlopen()ed RTLD_LOCAL, as p7zip's 7z.so) calls its own, through its
 *     PLT, and the shim comes first. Such a module gets its PLT slots for
 *     Sys* pointed at entry points that know its runtime (entry.c), so
 *     that a tail call, a function pointer or a caller in another module
 *     cannot mislead the shim. Until then (while it is being loaded and
 *     its constructors run) its calls are told apart by return address;
 *   - otherwise the shim is the runtime (BC_RUNTIME_OWN).
 * A call a runtime makes while the shim is calling into it is its own
 * (bc_forwarding_rt), whatever its return address says.
 *
 * No shim lock is held across a dynamic-linker call (dlsym, dlopen,
 * dl_iterate_phdr): a thread inside dlopen() holds the linker's lock and
 * may call Sys* from a constructor. Scans run unlocked, possibly in two
 * threads at once, and publish under publish_lock, which guards only this
 * file's arrays. */
#include "runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

const char *const bc_fn_names[BC_FN_COUNT] = {
#define FN_NAME(id, name) #name,
    BC_SYS_FUNCTIONS(FN_NAME)
#undef FN_NAME
};

#define MAX_MODULES 256
#define MAX_LOCALS 64

/* A module whose calls reach a runtime of its own. */
typedef struct local_module {
    uintptr_t lo, hi;
    int runtime;
    bool patched; /* its PLT slots lead to its runtime's entry points */
} local_module_t;

bc_runtime_t bc_runtimes[BC_MAX_RUNTIMES];
int bc_default_runtime = BC_RUNTIME_OWN;

/* The watch (runtime.h): NULL_WORD in mode own, FORCE_WORD while calls must be
 * told apart by return address, else the loader's last l_next. */
static void *const null_word = NULL;
static void *const force_word = (void *)&force_word;
void *const *bc_modules_watch = &force_word; /* the first call scans */
static void *const *tail_next = &force_word;

static int loading;   /* dlopen() calls in progress */
static int unpatched; /* local runtimes whose calls may still come unpatched */
static local_module_t locals[MAX_LOCALS];
static int local_count;
/* Modules already found to define no runtime (by first address), so a
 * scan after each dlopen looks up symbols in new modules only. Forgotten
 * at every dlclose (addresses are reused). */
static uintptr_t plain_modules[MAX_MODULES];
static int plain_count;
static pthread_mutex_t publish_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t shim_lo, shim_hi;
/* The symbol version of the global runtime's SysFreeString ("": none). A
 * module whose own definitions carry another version binds to its own:
 * its versioned references do not match the global ones. */
static char global_version[64];
static bool global_looked; /* the first look at the global scope was made */
/* Unloads seen (bc_runtimes_closed, prune): a scan that started before one
 * must not publish the loader's last entry it saw, which may be gone. */
static unsigned unloads;
static bool used_forward;
static int warned_full, warned_blind, warned_no_runtime, warned_symbolic;

/* With publish_lock held: what the hot path's one word should watch. */
static void update_watch(void)
{
    void *const *watch;
    if (bc_opt.mode == BC_MODE_OWN)
        watch = &null_word;
    else if (__atomic_load_n(&loading, __ATOMIC_RELAXED) > 0 || unpatched > 0)
        watch = &force_word;
    else
        watch = tail_next ? tail_next : &null_word;
    if (__atomic_load_n(&bc_modules_watch, __ATOMIC_ACQUIRE) != watch)
        __atomic_store_n(&bc_modules_watch, watch, __ATOMIC_RELEASE);
}

static void *const (*entries)[BC_FN_COUNT];

void bc_runtimes_init(void *const (*given)[BC_FN_COUNT])
{
    entries = given;
    pthread_mutex_lock(&publish_lock);
    update_watch();
    pthread_mutex_unlock(&publish_lock);
}

static bool is_runtime(void *const fn[BC_FN_COUNT])
{
    return fn[BC_FN_FREE] && (fn[BC_FN_ALLOC_LEN] || fn[BC_FN_ALLOC]);
}

/* A runtime slot's module name, formatted before publish_lock is taken
 * (no formatting under a shim lock). */
typedef struct module_name {
    char text[sizeof bc_runtimes[0].module];
} module_name_t;

static module_name_t name_of(const bc_module_t *m)
{
    module_name_t name;
    snprintf(name.text, sizeof name.text, "%s", m->path && *m->path ? m->path : "(the program)");
    return name;
}

/* The slot of the runtime whose functions are FN, taken if new: a real
 * index, or BC_RUNTIME_OWN when every slot is in use. publish_lock held. */
static int publish_runtime(void *const fn[BC_FN_COUNT], const bc_module_t *m,
                           const module_name_t *name)
{
    int free_slot = 0;
    for (int rt = 1; rt < BC_RUNTIME_ORPHAN; rt++) {
        if (bc_runtimes[rt].in_use && bc_runtimes[rt].fn[BC_FN_FREE] == fn[BC_FN_FREE])
            return rt;
        if (!bc_runtimes[rt].in_use && !free_slot)
            free_slot = rt;
    }
    if (!free_slot)
        return BC_RUNTIME_OWN;
    bc_runtime_t *r = &bc_runtimes[free_slot];
    memset(r, 0, sizeof *r);
    memcpy(r->fn, fn, sizeof r->fn);
    r->lo = m->lo;
    r->hi = m->hi;
    memcpy(r->module, name->text, sizeof r->module);
    __atomic_store_n(&r->in_use, true, __ATOMIC_RELEASE);
    return free_slot;
}

static local_module_t *local_of(uintptr_t addr)
{
    for (int i = 0; i < local_count; i++)
        if (addr >= locals[i].lo && addr < locals[i].hi)
            return &locals[i];
    return NULL;
}

static void warn_once(int *flag, const char *fmt, const char *what)
{
    if (!__atomic_exchange_n(flag, 1, __ATOMIC_RELAXED))
        bc_warn(fmt, what);
}

/* A runtime linked with -Bsymbolic calls its own functions directly: the
 * shim cannot see those calls, and says so once. */
static void warn_if_symbolic(const bc_module_t *m)
{
    if (bc_platform_symbolic(m))
        warn_once(&warned_symbolic,
                  "'%s' was linked with -Bsymbolic: the calls it makes to its own Sys* "
                  "functions do not reach bstrcheck and are not checked",
                  m->path && *m->path ? m->path : "the program");
}

/* The runtime after the shim in the global scope, until there is one. */
static void look_for_global(void)
{
    if (__atomic_load_n(&bc_default_runtime, __ATOMIC_ACQUIRE) != BC_RUNTIME_OWN)
        return;
    void *fn[BC_FN_COUNT];
    /* SysFreeString first: in most processes there is none, and each failed
     * lookup costs the dynamic linker a formatted error message */
    fn[BC_FN_FREE] = bc_platform_next_symbol(bc_fn_names[BC_FN_FREE]);
    if (!fn[BC_FN_FREE])
        return;
    for (int i = 0; i < BC_FN_COUNT; i++)
        if (i != BC_FN_FREE)
            fn[i] = bc_platform_next_symbol(bc_fn_names[i]);
    bc_module_t m;
    if (!is_runtime(fn) || !bc_platform_module_of((uintptr_t)fn[BC_FN_FREE], &m))
        return;
    warn_if_symbolic(&m);
    const char *version = bc_platform_symbol_version(&m, bc_fn_names[BC_FN_FREE]);
    char version_text[sizeof global_version];
    snprintf(version_text, sizeof version_text, "%s", version ? version : "");
    module_name_t name = name_of(&m);
    pthread_mutex_lock(&publish_lock);
    int rt = publish_runtime(fn, &m, &name);
    if (bc_default_runtime == BC_RUNTIME_OWN) {
        memcpy(global_version, version_text, sizeof global_version);
        __atomic_store_n(&bc_default_runtime, rt, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&publish_lock);
}

/* Point M's Sys* slots bound to the shim (or not bound yet) at runtime
 * RT's entry points. */
static int patch_to_runtime(const bc_module_t *m, int rt)
{
    bc_patch_t patch = {bc_fn_names, entries[rt], NULL, BC_FN_COUNT, shim_lo, shim_hi};
    return bc_platform_patch_calls(m, &patch);
}

/* M defines the Sys* functions and nothing in the global scope does: its
 * own calls reach its own runtime. Publish it, wait for its dlopen to end,
 * and point its PLT slots at that runtime's entry points. */
static void adopt_local(const bc_module_t *m, void *const fn[BC_FN_COUNT], bool settle)
{
    module_name_t name = name_of(m);
    pthread_mutex_lock(&publish_lock);
    local_module_t *known = local_of(m->lo);
    bool done = known && known->patched;
    int rt = known ? known->runtime : publish_runtime(fn, m, &name);
    bool added = !known && rt != BC_RUNTIME_OWN && local_count < MAX_LOCALS;
    if (added) {
        locals[local_count++] = (local_module_t){m->lo, m->hi, rt, false};
        unpatched++;
        update_watch();
    }
    pthread_mutex_unlock(&publish_lock);
    if (!added && !known)
        warn_once(&warned_full, "too many BSTR runtimes; '%s' is served by the shim itself",
                  m->path);
    /* Patched once its dlopen is over, by a scan that may wait for that:
     * meanwhile its calls are told apart by return address. */
    if (done || !(added || known) || !settle)
        return;
    void *hold = bc_platform_module_hold(m->path); /* kept while its slots are written */
    bool loaded = hold != NULL;
    int patched = -1;
    if (loaded) {
        patched = patch_to_runtime(m, rt);
        bc_real_dlclose(hold);
    }
    pthread_mutex_lock(&publish_lock);
    local_module_t *local = local_of(m->lo);
    if (local && local->runtime == rt && !local->patched && patched >= 0) {
        local->patched = true;
        unpatched--;
        update_watch();
    }
    pthread_mutex_unlock(&publish_lock);
    if (loaded && patched < 0)
        warn_once(&warned_blind,
                  "cannot redirect the Sys* calls of '%s' to its own runtime; they are told "
                  "apart by return address (a tail call may reach the wrong runtime)",
                  m->path);
}

/* M defines no runtime but may call one: without a global runtime, its
 * references bind in the local scope it was loaded into, where a runtime
 * module it needs, or that needs it (a plugin and its helper library),
 * answers. Point its slots at that runtime's entry points too. */
static void adopt_neighbour(const bc_module_t *m, const bc_module_t *list, int n)
{
    for (int i = 0; i < n; i++) {
        const bc_module_t *p = &list[i];
        if (p->lo == m->lo || !(bc_platform_needs(m, p) || bc_platform_needs(p, m)))
            continue;
        pthread_mutex_lock(&publish_lock);
        const local_module_t *local = local_of(p->lo);
        int rt = local && local->lo == p->lo ? local->runtime : BC_RUNTIME_OWN;
        bool room = rt != BC_RUNTIME_OWN && local_count < MAX_LOCALS;
        pthread_mutex_unlock(&publish_lock);
        if (!room)
            continue; /* a library it needs or that needs it, with no runtime */
        void *hold = bc_platform_module_hold(m->path);
        if (!hold)
            return;
        int patched = patch_to_runtime(m, rt);
        bc_real_dlclose(hold);
        if (patched > 0) {
            pthread_mutex_lock(&publish_lock);
            if (!local_of(m->lo) && local_count < MAX_LOCALS)
                locals[local_count++] = (local_module_t){m->lo, m->hi, rt, true};
            pthread_mutex_unlock(&publish_lock);
        }
        return;
    }
}

void bc_runtimes_scan(int how)
{
    bool settle = how & BC_SCAN_SETTLE;
    unsigned unloads_before = __atomic_load_n(&unloads, __ATOMIC_ACQUIRE);
    if (bc_opt.mode == BC_MODE_OWN)
        return;
    bc_depth++; /* the linker's own mallocs and frees pass straight through */
    if (!shim_hi) {
        bc_module_t self;
        if (bc_platform_module_of((uintptr_t)&bc_runtimes_scan, &self)) {
            shim_lo = self.lo;
            shim_hi = self.hi;
        }
    }
    if (how & BC_SCAN_GLOBAL) {
        look_for_global(); /* ten dlsym calls: not after every dlopen */
        __atomic_store_n(&global_looked, true, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&bc_default_runtime, __ATOMIC_ACQUIRE) == BC_RUNTIME_OWN &&
        bc_opt.mode == BC_MODE_FORWARD)
        warn_once(&warned_no_runtime,
                  "mode=forward: no real BSTR runtime for %s; the shim serves it (mode own)",
                  "the program");
    bc_module_t list[MAX_MODULES];
    bool fresh_plain[MAX_MODULES] = {false};
    void *const *tail = NULL;
    int n = bc_platform_modules(list, MAX_MODULES, &tail);
    for (int i = 0; i < n; i++) {
        const bc_module_t *m = &list[i];
        int global = __atomic_load_n(&bc_default_runtime, __ATOMIC_ACQUIRE);
        if (m->lo == shim_lo || (global != BC_RUNTIME_OWN && !global_version[0]) ||
            (global != BC_RUNTIME_OWN && m->lo == bc_runtimes[global].lo))
            continue; /* the global scope answers everyone */
        pthread_mutex_lock(&publish_lock);
        const local_module_t *local = local_of(m->lo);
        bool known = local && (local->patched || !settle);
        for (int k = 0; k < plain_count && !known; k++)
            known = plain_modules[k] == m->lo;
        pthread_mutex_unlock(&publish_lock);
        if (known)
            continue;
        void *fn[BC_FN_COUNT];
        for (int k = 0; k < BC_FN_COUNT; k++)
            fn[k] = bc_platform_module_symbol(m, bc_fn_names[k]);
        if (is_runtime(fn))
            warn_if_symbolic(m);
        const char *version = bc_platform_symbol_version(m, bc_fn_names[BC_FN_FREE]);
        if (is_runtime(fn) && global != BC_RUNTIME_OWN &&
            (!version || strcmp(version, global_version) == 0))
            fn[BC_FN_FREE] = NULL; /* its references bind to the global runtime */
        if (!is_runtime(fn)) {
            if (!settle)
                continue; /* looked at again by the scan that ends its dlopen */
            pthread_mutex_lock(&publish_lock);
            if (plain_count < MAX_MODULES)
                plain_modules[plain_count++] = m->lo;
            pthread_mutex_unlock(&publish_lock);
            fresh_plain[i] = global == BC_RUNTIME_OWN;
            continue;
        }
        if (!m->path || !*m->path) {
            warn_once(&warned_blind,
                      "%s exports its own Sys* functions (-rdynamic?): its calls, and its "
                      "plugins', bind to them before bstrcheck's and are not checked",
                      "the program");
            continue;
        }
        adopt_local(m, fn, settle);
    }
    for (int i = 0; i < n; i++)
        if (fresh_plain[i])
            adopt_neighbour(&list[i], list, n);
    pthread_mutex_lock(&publish_lock);
    if (unloads == unloads_before)
        tail_next = tail;
    update_watch();
    pthread_mutex_unlock(&publish_lock);
    bc_depth--;
}

int bc_runtime_slow(uintptr_t ra)
{
    if (bc_opt.mode == BC_MODE_OWN)
        return BC_RUNTIME_OWN;
    bool scanned = false;
    void *const *tail = __atomic_load_n(&tail_next, __ATOMIC_ACQUIRE);
    if (tail && *tail) {
        /* No call that waits for the dynamic linker's lock here (another
         * thread may hold it in dlopen() and wait for this one): the first
         * look only, which happens at start-up, looks for the global
         * runtime and patches. */
        bool first = !__atomic_load_n(&global_looked, __ATOMIC_ACQUIRE);
        bc_runtimes_scan(first ? BC_SCAN_GLOBAL | BC_SCAN_SETTLE : 0);
        scanned = true;
    }
    int rt = __atomic_load_n(&bc_default_runtime, __ATOMIC_ACQUIRE);
    if (!scanned && !__atomic_load_n(&loading, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&unpatched, __ATOMIC_RELAXED))
        return rt;
    /* A module being loaded (its constructors), or one that could not be
     * patched: its own calls come here, from its own code. */
    pthread_mutex_lock(&publish_lock);
    const local_module_t *local = local_of(ra);
    if (local)
        rt = local->runtime;
    pthread_mutex_unlock(&publish_lock);
    return rt;
}

void bc_runtimes_loading(int count)
{
    pthread_mutex_lock(&publish_lock);
    __atomic_fetch_add(&loading, count, __ATOMIC_RELAXED);
    update_watch();
    pthread_mutex_unlock(&publish_lock);
}

void bc_runtime_note_forward(void)
{
    if (!__atomic_load_n(&used_forward, __ATOMIC_RELAXED))
        __atomic_store_n(&used_forward, true, __ATOMIC_RELAXED);
}

static bool overlaps(const bc_runtime_t *r, uintptr_t lo, uintptr_t hi)
{
    return r->in_use && r->lo < hi && r->hi > lo;
}

unsigned bc_runtimes_in(uintptr_t lo, uintptr_t hi)
{
    unsigned set = 0;
    for (int rt = 1; rt < BC_RUNTIME_ORPHAN; rt++)
        if (overlaps(&bc_runtimes[rt], lo, hi))
            set |= 1u << rt;
    return set;
}

void bc_runtimes_closed(uintptr_t lo, uintptr_t hi, void (*orphan)(int rt))
{
    /* Whatever went, the loader's last entry may have been freed with it,
     * and a new module may come at the same addresses: look again at the
     * next call. */
    pthread_mutex_lock(&publish_lock);
    unloads++;
    plain_count = 0;
    tail_next = &force_word;
    for (int i = 0; i < local_count;) /* the module itself, runtime or neighbour */
        if (locals[i].lo < hi && locals[i].hi > lo) {
            unpatched -= !locals[i].patched;
            locals[i] = locals[--local_count];
        } else {
            i++;
        }
    update_watch();
    pthread_mutex_unlock(&publish_lock);
    for (int rt = 1; rt < BC_RUNTIME_ORPHAN; rt++) {
        if (!overlaps(&bc_runtimes[rt], lo, hi))
            continue;
        /* Its live BSTRs stay leaks with their stacks, never read again;
         * then the slot is free for the next runtime. */
        orphan(rt);
        pthread_mutex_lock(&publish_lock);
        for (int i = 0; i < local_count;)
            if (locals[i].runtime == rt) {
                unpatched -= !locals[i].patched;
                locals[i] = locals[--local_count];
            } else {
                i++;
            }
        if (bc_default_runtime == rt)
            __atomic_store_n(&bc_default_runtime, BC_RUNTIME_OWN, __ATOMIC_RELEASE);
        __atomic_store_n(&bc_runtimes[rt].in_use, false, __ATOMIC_RELEASE);
        tail_next = &force_word; /* look again at the next call */
        update_watch();
        pthread_mutex_unlock(&publish_lock);
    }
}

void bc_runtimes_prune(void (*orphan)(int rt))
{
    local_module_t copy[MAX_LOCALS];
    pthread_mutex_lock(&publish_lock);
    int n = local_count;
    memcpy(copy, locals, sizeof copy[0] * (size_t)n);
    pthread_mutex_unlock(&publish_lock);
    for (int i = 0; i < n; i++) {
        bc_module_t now;
        if (!bc_platform_module_of(copy[i].lo, &now) || now.lo != copy[i].lo)
            bc_runtimes_closed(copy[i].lo, copy[i].hi, orphan);
    }
    pthread_mutex_lock(&publish_lock);
    unloads++;
    tail_next = &force_word; /* the loader's last entry may be gone too */
    update_watch();
    pthread_mutex_unlock(&publish_lock);
}

void bc_runtimes_lock(void)
{
    pthread_mutex_lock(&publish_lock);
}

void bc_runtimes_unlock(void)
{
    pthread_mutex_unlock(&publish_lock);
}

void bc_runtimes_child_after_fork(void)
{
    publish_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    if (loading) /* (a write would cost the child a copy of the page) */
        loading = 0; /* the other threads' dlopen() calls stayed in the parent */
    update_watch();
}

const char *bc_runtimes_mode(void)
{
    return used_forward ? "forward" : "own";
}

unsigned bc_runtime_width(int rt)
{
    if (rt == BC_RUNTIME_OWN || rt == BC_RUNTIME_ORPHAN)
        return bc_own_width();
    unsigned w = __atomic_load_n(&bc_runtimes[rt].width, __ATOMIC_RELAXED);
    return w ? w : bc_own_width(); /* not learned yet: own mode's */
}

