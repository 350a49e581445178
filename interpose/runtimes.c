/* Real BSTR runtimes, for modes forward and auto. For each caller, the
 * runtime its call would have reached without the shim:
 *   - the calling module's own Sys* definitions, when it has them (a
 *     library dlopen()ed RTLD_LOCAL that calls its own Sys* through its
 *     PLT, as p7zip's 7z.so does: the preloaded shim comes first);
 *   - otherwise the next definition after the shim in the global scope.
 * None: the shim is the runtime (index BC_RUNTIME_OWN). Runtimes are found
 * once per module and cached; a thread also remembers its last two modules. */
#include "bc.h"

#include <stdio.h>
#include <string.h>

static const char *const fn_names[BC_FN_COUNT] = {
    "SysAllocString", "SysAllocStringLen", "SysAllocStringByteLen",
    "SysReAllocString", "SysReAllocStringLen", "SysFreeString",
    "SysStringLen", "SysStringByteLen", "SysAddRefString", "SysReleaseString",
};

#define MAX_MODULES 256

typedef struct module_entry {
    uintptr_t lo, hi;
    int runtime;
} module_entry_t;

bc_runtime_t bc_runtimes[BC_MAX_RUNTIMES];
static int runtime_count = 1; /* 0 is own */
static int global_runtime = -1; /* -1: not looked up yet */
static module_entry_t modules[MAX_MODULES];
static int module_count;
static pthread_rwlock_t modules_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static bool used_forward, warned_no_runtime, warned_full;

/* This thread's last two modules: a program and the runtime it calls,
 * when that runtime calls Sys* itself (its SysStringLen calling its
 * SysStringByteLen through the PLT, which reaches the shim). */
static __thread module_entry_t last_module[2] __attribute__((tls_model("initial-exec")));

static void remember_module(module_entry_t entry)
{
    last_module[1] = last_module[0];
    last_module[0] = entry;
}

/* Fill a runtime from LOOKUP; -1 when it has no SysFreeString (then it is
 * no runtime). Called with resolve_lock held. */
static int add_runtime(const char *path, const bc_module_t *module)
{
    bc_runtime_t r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < BC_FN_COUNT; i++)
        r.fn[i] = module ? bc_platform_module_symbol(module, fn_names[i])
                         : bc_platform_next_symbol(fn_names[i]);
    if (!r.fn[BC_FN_FREE] || !(r.fn[BC_FN_ALLOC_LEN] || r.fn[BC_FN_ALLOC])) {
        return BC_RUNTIME_OWN;
    }
    if (runtime_count == BC_MAX_RUNTIMES) {
        if (!warned_full)
            bc_warn("more than %d BSTR runtimes; '%s' is served by the shim itself",
                    BC_MAX_RUNTIMES - 1, path);
        warned_full = true;
        return BC_RUNTIME_OWN;
    }
    snprintf(r.module, sizeof r.module, "%s", path && *path ? path : "(the program)");
    bc_runtimes[runtime_count] = r;
    return runtime_count++;
}

static int lookup_cached(uintptr_t ra, module_entry_t *out)
{
    int found = -1;
    pthread_rwlock_rdlock(&modules_lock);
    for (int i = 0; i < module_count; i++)
        if (ra >= modules[i].lo && ra < modules[i].hi) {
            *out = modules[i];
            found = modules[i].runtime;
            break;
        }
    pthread_rwlock_unlock(&modules_lock);
    return found;
}

BC_NOINLINE static int resolve_caller(uintptr_t ra)
{
    module_entry_t entry;
    if (lookup_cached(ra, &entry) >= 0) {
        remember_module(entry);
        return entry.runtime;
    }
    bc_module_t module;
    if (!bc_platform_module_of(ra, &module))
        return BC_RUNTIME_OWN; /* a JIT or unknown code: no module of its own */

    pthread_mutex_lock(&resolve_lock);
    int rt = add_runtime(module.path, &module);
    if (rt == BC_RUNTIME_OWN) {
        if (global_runtime < 0)
            global_runtime = add_runtime("next in the global scope", NULL);
        rt = global_runtime;
    }
    if (rt == BC_RUNTIME_OWN && bc_opt.mode == BC_MODE_FORWARD && !warned_no_runtime) {
        bc_warn("mode=forward: no real BSTR runtime for '%s'; the shim serves it (mode own)",
                module.path && *module.path ? module.path : "the program");
        warned_no_runtime = true;
    }
    used_forward |= rt != BC_RUNTIME_OWN;
    entry = (module_entry_t){module.lo, module.hi, rt};
    pthread_rwlock_wrlock(&modules_lock);
    if (module_count < MAX_MODULES)
        modules[module_count++] = entry;
    pthread_rwlock_unlock(&modules_lock);
    pthread_mutex_unlock(&resolve_lock);
    remember_module(entry);
    return rt;
}

int bc_runtime_for_caller(uintptr_t ra)
{
    if (bc_opt.mode == BC_MODE_OWN)
        return BC_RUNTIME_OWN;
    if (ra >= last_module[0].lo && ra < last_module[0].hi)
        return last_module[0].runtime;
    if (ra >= last_module[1].lo && ra < last_module[1].hi)
        return last_module[1].runtime;
    return resolve_caller(ra);
}

void bc_runtimes_forget(uintptr_t lo, uintptr_t hi)
{
    pthread_rwlock_wrlock(&modules_lock);
    for (int i = 0; i < module_count;)
        if (modules[i].lo < hi && modules[i].hi > lo)
            modules[i] = modules[--module_count];
        else
            i++;
    pthread_rwlock_unlock(&modules_lock);
    /* Other threads' two-entry caches: their next call from that range is a
     * call from a module loaded anew, which dlopen makes rare enough to
     * accept; this thread's is cleared here. */
    for (int i = 0; i < 2; i++)
        if (last_module[i].lo < hi && last_module[i].hi > lo)
            memset(&last_module[i], 0, sizeof last_module[i]);
}

void bc_runtimes_closing(uintptr_t lo, uintptr_t hi)
{
    bc_runtimes_forget(lo, hi);
    for (int rt = 1; rt < runtime_count; rt++) {
        uintptr_t fn = (uintptr_t)bc_runtimes[rt].fn[BC_FN_FREE];
        if (fn >= lo && fn < hi)
            bc_table_flush_runtime(rt);
    }
}

void bc_runtimes_lock(void)
{
    pthread_mutex_lock(&resolve_lock);
    pthread_rwlock_wrlock(&modules_lock);
}

void bc_runtimes_unlock(void)
{
    pthread_rwlock_unlock(&modules_lock);
    pthread_mutex_unlock(&resolve_lock);
}

void bc_runtimes_child_after_fork(void)
{
    /* fresh, not unlocked: a glibc rwlock also remembers its writer */
    pthread_rwlock_init(&modules_lock, NULL);
    pthread_mutex_init(&resolve_lock, NULL);
}

const char *bc_runtimes_mode(void)
{
    return used_forward ? "forward" : "own";
}

unsigned bc_record_width(const bc_record_t *rec)
{
    int rt = BC_RECORD_RUNTIME(rec);
    if (rt == BC_RUNTIME_OWN)
        return bc_own_width();
    unsigned w = __atomic_load_n(&bc_runtimes[rt].width, __ATOMIC_RELAXED);
    return w ? w : bc_own_width();
}
