/* The rest of what the shim asks of the dynamic linker and the machine:
 * libraries it loads for itself (libunwind), executable segments (the
 * frame-pointer walker), a handle's module, a signal's interrupted pc. */
#include "platform.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

void *bc_platform_library_open(const char *soname, char *why, size_t why_size)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *err = dlerror();
        snprintf(why, why_size, "%s", err ? err : "dlopen failed");
    }
    return lib;
}

void *bc_platform_library_symbol(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);
    if (!sym)
        (void)dlerror();
    return sym;
}

void *bc_platform_symbol_near(const void *addr, const char *name)
{
    Dl_info info;
    if (!dladdr(addr, &info) || !info.dli_fname)
        return NULL;
    void *module = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    void *p = module ? dlsym(module, name) : NULL;
    if (module)
        dlclose(module); /* NOLOAD: only the reference it took */
    if (!p)
        (void)dlerror();
    return p;
}

typedef struct segment_walk {
    bool (*fn)(uintptr_t lo, uintptr_t hi, void *arg);
    void *arg;
    unsigned flag; /* PF_X or PF_W */
    unsigned long long generation;
} segment_walk_t;

static int each_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    segment_walk_t *walk = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        walk->generation = info->dlpi_adds + info->dlpi_subs;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & walk->flag)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            if (!walk->fn(lo, lo + ph->p_memsz, walk->arg))
                return 1;
        }
    }
    return 0;
}

unsigned long long bc_platform_segments(bc_segments_t which,
                                        bool (*fn)(uintptr_t lo, uintptr_t hi, void *arg),
                                        void *arg)
{
    segment_walk_t walk = {fn, arg, which == BC_SEGMENTS_CODE ? PF_X : PF_W, 0};
    dl_iterate_phdr(each_segment, &walk);
    return walk.generation;
}

/* From its dynamic section, which lies inside its own segments. */
bool bc_platform_handle_extent(void *handle, uintptr_t *lo, uintptr_t *hi)
{
    struct link_map *map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_ld)
        return false;
    return bc_module_range((uintptr_t)map->l_ld, lo, hi);
}

bool bc_module_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    bc_module_t m;
    if (!bc_platform_module_of(addr, &m))
        return false;
    *lo = m.lo;
    *hi = m.hi;
    return true;
}

uintptr_t bc_platform_signal_pc(const void *ucontext)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

uintptr_t bc_platform_loader_base(void)
{
#if defined(__linux__)
    return (uintptr_t)getauxval(AT_BASE);
#else
    return 0;
#endif
}

bool bc_platform_mode_global(int mode)
{
    return (mode & RTLD_GLOBAL) != 0;
}

int bc_real_dlclose(void *handle)
{
    if (BC_UNLIKELY(!__atomic_load_n(&bc_next.dlclose, __ATOMIC_ACQUIRE)))
        bc_next_resolve();
    return bc_next.dlclose ? bc_next.dlclose(handle) : -1;
}
