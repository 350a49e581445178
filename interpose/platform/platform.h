/* platform/: the contract a port implements. Everything the shim needs of
 * the dynamic linker, the C library's allocator chain, signals and ELF is
 * declared here and defined in the *_linux.c files of platform/; no other
 * file of the shim includes <dlfcn.h>, <link.h> or <ucontext.h>
 * (tests/layering checks it). A macOS port supplies *_darwin.c files for
 * these declarations (dyld's image list, dlsym(RTLD_NEXT) alike) and a
 * symbolizer of its own (report/symbolize.c reads ELF and DWARF through
 * libdw); the rest is POSIX, Linux's extras behind BC_OS_LINUX. */
#ifndef BC_PLATFORM_H
#define BC_PLATFORM_H

#include "state.h"

/* ------------------------------------------ "modules_linux.c": modules, symbols, PLT/GOT */
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

/* ------------------------------------------- "next_linux.c": the real functions */
/* The C library's functions the shim wraps, and where it passes calls on:
 * the next definition after the shim (RTLD_NEXT). One list, resolved in
 * one place (heaptrack's HOOK(name) list); the Sys* functions are the
 * runtime's list (runtime/runtime.h). */
#define BC_NEXT_FUNCTIONS(X)                  \
    X(free, void, (void *))                   \
    X(realloc, void *, (void *, size_t))      \
    X(dlopen, void *, (const char *, int))    \
    X(dlclose, int, (void *))
typedef struct bc_next {
#define BC_NEXT_FIELD(name, ret, args) ret(*name) args;
    BC_NEXT_FUNCTIONS(BC_NEXT_FIELD)
#undef BC_NEXT_FIELD
} bc_next_t;
/* Resolve them (at the first need; threads that race get the same
 * answers). A missing one stays NULL. dlsym may call free() meanwhile:
 * bc_next_resolving() is true on this thread while it does. */
const bc_next_t *bc_next_resolve(void);
bool bc_next_resolving(void);
/* The next definitions, once resolved (NULL fields before). */
extern bc_next_t bc_next;
/* The global definition of NAME: what a call in the program binds to. */
void *bc_platform_global_symbol(const char *name);

/* Release the shim's own memory (uthash's tables, snapshots, symbolizer
 * state): to the allocator that made it, whoever is first in the process,
 * bypassing the shim's free() wrapper (hooks/catch_free.c sets which). */
void bc_internal_free(void *p);
void bc_platform_set_own_free(void (*own_free)(void *));
/* The same, unless one was set already (a first guess never overrides). */
void bc_platform_offer_own_free(void (*own_free)(void *));
/* Inside bc_internal_free's call to the allocator on this thread: a call
 * that comes back into the wrappers is the allocator continuing its chain. */
extern __thread volatile int bc_freeing_own BC_TLS;

/* ------------------------------------- "machine_linux.c": libraries, signals */
/* dlopen(SONAME) for the shim's own use (RTLD_NOW | RTLD_LOCAL); NULL with
 * the reason in WHY. */
void *bc_platform_library_open(const char *soname, char *why, size_t why_size);
/* LIB's definition of NAME (NULL: none; the program's dlerror() is kept). */
void *bc_platform_library_symbol(void *lib, const char *name);
/* The definition of NAME reached from the module holding ADDR, as
 * dlsym(that module, NAME) finds it; NULL when none. */
void *bc_platform_symbol_near(const void *addr, const char *name);
/* Call FN for each executable (or writable) segment of every loaded
 * module, until it returns false. Returns a generation that changes when
 * modules are loaded or unloaded. */
typedef enum { BC_SEGMENTS_CODE, BC_SEGMENTS_DATA } bc_segments_t;
unsigned long long bc_platform_segments(bc_segments_t which,
                                        bool (*fn)(uintptr_t lo, uintptr_t hi, void *arg),
                                        void *arg);
/* The extent [LO, HI) of the loaded module whose segments hold ADDR. */
bool bc_module_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);
/* The module a dlopen() handle refers to: the extent of its segments. */
bool bc_platform_handle_extent(void *handle, uintptr_t *lo, uintptr_t *hi);
/* The interrupted instruction of a signal handler's context (0: unknown). */
uintptr_t bc_platform_signal_pc(const void *ucontext);
/* The dynamic linker's own module (0: unknown): never patched. */
uintptr_t bc_platform_loader_base(void);
/* Does a dlopen() MODE make the module's symbols global? */
bool bc_platform_mode_global(int mode);
/* The real dlclose, for the shim's own references (the wrapper's work
 * skipped); -1 when there is none. */
int bc_real_dlclose(void *handle);
/* The C library's declarations of what hooks/ defines (no <dlfcn.h> there). */
void *dlopen(const char *file, int mode);
int dlclose(void *handle);

#endif /* BC_PLATFORM_H */
