/* The platform mechanics of finding modules and symbols, in one place:
 * glibc's dl_iterate_phdr and dlsym(RTLD_NEXT), and a module's own ELF
 * dynamic symbol table. A macOS port replaces this file (dyld's image
 * list, dlsym(RTLD_NEXT) alike). */
#include "platform.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct range_query {
    uintptr_t addr;
    bc_module_t *out;
    bool found;
} range_query_t;

/* dl_iterate_phdr callback: the extent of the module that contains addr. */
static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    range_query_t *q = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    bool contains = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t end = start + ph->p_memsz;
        if (start < lo)
            lo = start;
        if (end > hi)
            hi = end;
        if (q->addr >= start && q->addr < end)
            contains = true;
    }
    if (!contains)
        return 0;
    q->out->lo = lo;
    q->out->hi = hi;
    q->out->path = info->dlpi_name;
    q->out->base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            q->out->dynamic = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    q->found = true;
    return 1;
}

bool bc_platform_module_of(uintptr_t addr, bc_module_t *out)
{
    memset(out, 0, sizeof *out);
    range_query_t q = {addr, out, false};
    dl_iterate_phdr(find_module, &q);
    return q.found;
}

void *bc_platform_next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    if (!sym)
        (void)dlerror(); /* the program's next dlerror() is about its own calls */
    return sym;
}

/* A pointer from the dynamic section: glibc relocates most of them in
 * place, but not all (the vDSO's, some read-only ones). */
static uintptr_t dyn_ptr(const bc_module_t *m, ElfW(Addr) value)
{
    return value < m->base ? m->base + value : value;
}

static uint32_t gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = h * 33 + *p;
    return h;
}

static uint32_t sysv_hash(const char *name)
{
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h << 4) + *p;
        uint32_t g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static bool defines(const ElfW(Sym) *sym, const char *strtab, const char *name)
{
    unsigned type = ELF64_ST_TYPE(sym->st_info);
    return sym->st_shndx != SHN_UNDEF && sym->st_value != 0 &&
           (type == STT_FUNC || type == STT_GNU_IFUNC) && strcmp(strtab + sym->st_name, name) == 0;
}

/* The dynamic-section tables of a module that symbol lookups need. */
typedef struct dyn_tables {
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *gnu, *sysv;
    const ElfW(Half) *versym;
    const ElfW(Verdef) *verdef;
} dyn_tables_t;

static bool dyn_tables(const bc_module_t *m, dyn_tables_t *t)
{
    memset(t, 0, sizeof *t);
    if (!m->dynamic)
        return false;
    for (const ElfW(Dyn) *d = m->dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: t->symtab = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_STRTAB: t->strtab = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_GNU_HASH: t->gnu = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_HASH: t->sysv = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_VERSYM: t->versym = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_VERDEF: t->verdef = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        default: break;
        }
    }
    return t->symtab && t->strtab;
}

/* MODULE's own defining entry for NAME in its .dynsym, or NULL. */
static const ElfW(Sym) *find_definition(const dyn_tables_t *t, const char *name)
{
    if (t->gnu) {
        const uint32_t *gnu = t->gnu;
        uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_words = gnu[2];
        const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)&gnu[4] + bloom_words);
        const uint32_t *chain = buckets + nbuckets;
        uint32_t h = gnu_hash(name);
        uint32_t i = nbuckets ? buckets[h % nbuckets] : 0;
        if (i < symoffset)
            return NULL;
        for (;; i++) {
            uint32_t ch = chain[i - symoffset];
            if ((ch | 1) == (h | 1) && defines(&t->symtab[i], t->strtab, name))
                return &t->symtab[i];
            if (ch & 1)
                return NULL;
        }
    }
    if (t->sysv) {
        uint32_t nbucket = t->sysv[0];
        const uint32_t *bucket = &t->sysv[2], *chain = &bucket[nbucket];
        for (uint32_t i = nbucket ? bucket[sysv_hash(name) % nbucket] : 0; i != STN_UNDEF;
             i = chain[i])
            if (defines(&t->symtab[i], t->strtab, name))
                return &t->symtab[i];
    }
    return NULL;
}

/* Looked up in the module's own .dynsym through its hash table, not with
 * dlsym: a module may be asked while its constructors run, before the
 * dynamic linker would answer for it. */
void *bc_platform_module_symbol(const bc_module_t *module, const char *name)
{
    dyn_tables_t t;
    if (!dyn_tables(module, &t))
        return NULL;
    const ElfW(Sym) *found = find_definition(&t, name);
    if (!found || ELF64_ST_TYPE(found->st_info) == STT_GNU_IFUNC)
        return NULL; /* an ifunc would need its resolver run: not worth it here */
    uintptr_t addr = module->base + found->st_value;
    return addr >= module->lo && addr < module->hi ? (void *)addr : NULL;
}

const char *bc_platform_symbol_version(const bc_module_t *module, const char *name)
{
    dyn_tables_t t;
    if (!dyn_tables(module, &t) || !t.versym || !t.verdef)
        return NULL;
    const ElfW(Sym) *found = find_definition(&t, name);
    if (!found)
        return NULL;
    unsigned ndx = t.versym[found - t.symtab] & 0x7fff;
    if (ndx <= 1)
        return NULL; /* local or the base version: matches any reference */
    for (const ElfW(Verdef) *vd = t.verdef;; vd = (const void *)((const char *)vd + vd->vd_next)) {
        if (vd->vd_ndx == ndx && !(vd->vd_flags & VER_FLG_BASE)) {
            const ElfW(Verdaux) *aux = (const void *)((const char *)vd + vd->vd_aux);
            return t.strtab + aux->vda_name;
        }
        if (!vd->vd_next)
            return NULL;
    }
}

/* ------------------------------------------------------ module listing */

typedef struct list_query {
    bc_module_t *out;
    int max, count;
    void *const *tail_next;
} list_query_t;

static int list_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    list_query_t *q = arg;
    if (q->count == 0) {
        /* The loader holds its list still while we are called: walk to
         * its last entry, whose l_next turns non-NULL at the next load. */
        struct link_map *map = _r_debug.r_map;
        while (map && map->l_next)
            map = map->l_next;
        q->tail_next = map ? (void *const *)&map->l_next : NULL;
    }
    if (q->count == q->max || info->dlpi_phnum == 0)
        return 0;
    bc_module_t *m = &q->out[q->count];
    memset(m, 0, sizeof *m);
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            m->dynamic = (const void *)(info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < m->lo)
            m->lo = start;
        if (start + ph->p_memsz > m->hi)
            m->hi = start + ph->p_memsz;
    }
    if (m->lo >= m->hi)
        return 0;
    m->path = info->dlpi_name ? info->dlpi_name : "";
    m->base = info->dlpi_addr;
    q->count++;
    return 0;
}

int bc_platform_modules(bc_module_t *out, int max, void *const **tail_next)
{
    list_query_t q = {out, max, 0, NULL};
    dl_iterate_phdr(list_module, &q);
    *tail_next = q.tail_next;
    return q.count;
}

void *bc_platform_module_hold(const char *path)
{
    if (!path || !*path)
        return NULL; /* the program itself: bound in the global scope, never patched */
    /* dlopen takes the loader's lock, which a dlopen in progress on another
     * thread holds until the module is relocated and initialized. */
    void *handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle)
        (void)dlerror();
    return handle;
}
/* ------------------------------------------------------- PLT patching */

#if defined(__x86_64__)
#define RELOC_JUMP_SLOT R_X86_64_JUMP_SLOT
#define RELOC_GLOB_DAT R_X86_64_GLOB_DAT
#define RELOC_ABS R_X86_64_64
#elif defined(__aarch64__)
#define RELOC_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define RELOC_GLOB_DAT R_AARCH64_GLOB_DAT
#define RELOC_ABS R_AARCH64_ABS64
#endif

#if defined(RELOC_JUMP_SLOT)
typedef struct relro {
    uintptr_t lo, hi;
} relro_t;

/* The pages the loader made read-only (PT_GNU_RELRO); false when the
 * program headers cannot be found (then nothing is patched). */
static bool relro_of(const bc_module_t *m, relro_t *r)
{
    r->lo = r->hi = 0;
    /* PT_GNU_RELRO comes with the program headers, which the ELF header
     * at the module's first load segment points to. */
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)m->lo;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return false;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(m->lo + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_GNU_RELRO) {
            /* what the loader made read-only: whole pages only; the last
             * partial page stays writable (it holds .data too) */
            uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
            r->lo = (m->base + ph[i].p_vaddr) & ~(page - 1);
            r->hi = (m->base + ph[i].p_vaddr + ph[i].p_memsz) & ~(page - 1);
        }
    return true;
}

/* Point SLOT at TO, opening a read-only (RELRO) page for the write. */
static bool write_slot(uintptr_t slot, void *to, relro_t relro)
{
    bool locked = slot >= relro.lo && slot < relro.hi;
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t page = slot & ~(uintptr_t)(size - 1);
    if (locked && mprotect((void *)page, size, PROT_READ | PROT_WRITE) != 0)
        return false;
    __atomic_store_n((void **)slot, to, __ATOMIC_RELEASE);
    if (locked)
        mprotect((void *)page, size, PROT_READ);
    return true;
}

/* One writer of slots at a time: two patchers of one module would open and
 * close its RELRO page under each other. Taken around fork() too. */
static pthread_mutex_t patch_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;

void bc_platform_patch_lock(void)
{
    pthread_mutex_lock(&patch_lock);
}

void bc_platform_patch_unlock(void)
{
    pthread_mutex_unlock(&patch_lock);
}

void bc_platform_patch_child_after_fork(void)
{
    patch_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

static int patch_locked(const bc_module_t *m, const bc_patch_t *patch);

int bc_platform_patch_calls(const bc_module_t *m, const bc_patch_t *patch)
{
    pthread_mutex_lock(&patch_lock);
    int patched = patch_locked(m, patch);
    pthread_mutex_unlock(&patch_lock);
    return patched;
}

static int patch_locked(const bc_module_t *m, const bc_patch_t *patch)
{
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *tables[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    if (!m->dynamic)
        return 0;
    for (const ElfW(Dyn) *d = m->dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_JMPREL: tables[0] = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: sizes[0] = d->d_un.d_val; break;
        case DT_RELA: tables[1] = (const void *)dyn_ptr(m, d->d_un.d_ptr); break;
        case DT_RELASZ: sizes[1] = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!symtab || !strtab)
        return 0;
    relro_t relro = {0, 0};
    bool relro_known = false; /* looked up at the first slot to write */
    int patched = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; tables[t] && i < sizes[t] / sizeof(ElfW(Rela)); i++) {
            const ElfW(Rela) *r = &tables[t][i];
            unsigned type = (unsigned)ELF64_R_TYPE(r->r_info);
            size_t sym = ELF64_R_SYM(r->r_info);
            if (sym == 0 || (type != RELOC_JUMP_SLOT && type != RELOC_GLOB_DAT &&
                             !(type == RELOC_ABS && r->r_addend == 0)))
                continue;
            const char *name = strtab + symtab[sym].st_name;
            if (name[0] != patch->names[0][0] && name[0] != patch->names[patch->n - 1][0])
                continue; /* a cheap first look: the names share a first letter or two */
            for (int k = 0; k < patch->n; k++) {
                if (!patch->to[k] || strcmp(name, patch->names[k]) != 0)
                    continue;
                uintptr_t slot = m->base + r->r_offset;
                uintptr_t now = (uintptr_t)__atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
                /* bound where asked, or not bound yet (its own PLT stub) */
                bool lazy = type == RELOC_JUMP_SLOT && now >= m->lo && now < m->hi;
                bool bound = (now >= patch->from_lo && now < patch->from_hi) ||
                             (patch->from && now == (uintptr_t)patch->from[k]);
                if (bound || lazy) {
                    if (!relro_known && !(relro_known = relro_of(m, &relro)))
                        return -1;
                    if (!write_slot(slot, patch->to[k], relro))
                        return -1;
                    patched++;
                }
                break;
            }
        }
    }
    return patched;
}
#else
int bc_platform_patch_calls(const bc_module_t *m, const bc_patch_t *patch)
{
    (void)m, (void)patch;
    return -1; /* no patcher for this architecture's relocations */
}
#endif

/* ------------------------------------------------ dlopen for a caller */

void *bc_platform_dlopen_for(void *(*real_dlopen)(const char *, int),
                             int (*real_dlclose)(void *), const char *file, int mode,
                             uintptr_t caller)
{
    /* The real dlopen searches a bare name along its caller's RUNPATH and
     * RPATH, and the caller would now be the shim: search the program's
     * caller's path list first, unless the name is already loaded. */
    Dl_info info;
    struct link_map *map = NULL;
    if (!file || strchr(file, '/') || !caller ||
        !dladdr1((void *)caller, &info, (void **)&map, RTLD_DL_LINKMAP) || !map)
        return real_dlopen(file, mode);
    void *loaded = real_dlopen(file, RTLD_LAZY | RTLD_NOLOAD);
    if (loaded) {
        /* already loaded (it stays: someone else holds it): open it as
         * asked, its error, if any, left for the program's dlerror() */
        real_dlclose(loaded);
        return real_dlopen(file, mode);
    }
    (void)dlerror(); /* the probe's "not loaded" is not the program's */
    Dl_serinfo size;
    if (dlinfo(map, RTLD_DI_SERINFOSIZE, &size) != 0)
        return real_dlopen(file, mode);
    Dl_serinfo *paths = malloc(size.dls_size);
    if (!paths)
        return real_dlopen(file, mode);
    paths->dls_size = size.dls_size;
    paths->dls_cnt = size.dls_cnt;
    char found[4096] = "";
    if (dlinfo(map, RTLD_DI_SERINFOSIZE, paths) == 0 && dlinfo(map, RTLD_DI_SERINFO, paths) == 0) {
        for (unsigned i = 0; i < paths->dls_cnt && !found[0]; i++) {
            unsigned origin = paths->dls_serpath[i].dls_flags;
            if (origin != LA_SER_RUNPATH && origin != LA_SER_ORIG && origin != LA_SER_LIBPATH)
                break; /* the cache and the default directories: the real dlopen's own */
            int len = snprintf(found, sizeof found, "%s/%s", paths->dls_serpath[i].dls_name, file);
            if (len <= 0 || (size_t)len >= sizeof found || access(found, F_OK) != 0)
                found[0] = 0;
        }
    }
    free(paths);
    /* The first file found is the one the loader would take, loadable or not. */
    if (found[0])
        return real_dlopen(found, mode);
    return real_dlopen(file, mode);
}

/* ------------------------------------------------------- dependencies */

static const char *soname_of(const bc_module_t *m)
{
    const char *strtab = NULL;
    ElfW(Xword) soname = 0;
    bool has = false;
    for (const ElfW(Dyn) *d = m->dynamic; d && d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB)
            strtab = (const void *)dyn_ptr(m, d->d_un.d_ptr);
        if (d->d_tag == DT_SONAME) {
            soname = d->d_un.d_val;
            has = true;
        }
    }
    return has && strtab ? strtab + soname : NULL;
}

bool bc_platform_needs(const bc_module_t *m, const bc_module_t *dep)
{
    const char *strtab = NULL;
    const char *soname = soname_of(dep);
    const char *base = dep->path ? strrchr(dep->path, '/') : NULL;
    base = base ? base + 1 : dep->path;
    for (const ElfW(Dyn) *d = m->dynamic; d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB)
            strtab = (const void *)dyn_ptr(m, d->d_un.d_ptr);
    if (!strtab)
        return false;
    for (const ElfW(Dyn) *d = m->dynamic; d && d->d_tag != DT_NULL; d++) {
        if (d->d_tag != DT_NEEDED)
            continue;
        const char *needed = strtab + d->d_un.d_val;
        if ((soname && strcmp(needed, soname) == 0) || (base && strcmp(needed, base) == 0))
            return true;
    }
    return false;
}

/* ------------------------------------------------ descriptors kept high */

/* FN may open descriptors it keeps for the process's life (libunwind's
 * validation pipe). A program must see the descriptor numbers it would
 * see without the shim (its first open() gives 3; `cmd <&-` leaves 0
 * closed), so the free numbers below 64 are held by placeholders while FN
 * runs, and what FN opens lands above them. */
void bc_platform_with_high_fds(void (*fn)(void))
{
    enum { LOW = 64 };
    int saved = errno;
    int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool held[LOW] = {false};
    if (filler >= 0 && filler < LOW) {
        held[filler] = true;
        for (int fd = 0; fd < LOW; fd++)
            if (!held[fd] && fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
                dup3(filler, fd, O_CLOEXEC) == fd)
                held[fd] = true;
    }
    fn();
    for (int fd = 0; fd < LOW; fd++)
        if (held[fd])
            close(fd);
    if (filler >= LOW)
        close(filler);
    errno = saved;
}

bool bc_platform_symbolic(const bc_module_t *m)
{
    for (const ElfW(Dyn) *d = m->dynamic; d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_SYMBOLIC || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_SYMBOLIC)))
            return true;
    return false;
}
