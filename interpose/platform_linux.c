/* The platform mechanics of finding modules and symbols, in one place:
 * glibc's dl_iterate_phdr and dlsym(RTLD_NEXT), and a module's own ELF
 * dynamic symbol table. A macOS port replaces this file (dyld's image
 * list, dlsym(RTLD_NEXT) alike). */
#include "bc.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

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
    return dlsym(RTLD_NEXT, name);
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

/* Looked up in the module's own .dynsym through its hash table, not with
 * dlsym: a module may be asked while its constructors run, before the
 * dynamic linker would answer for it. */
void *bc_platform_module_symbol(const bc_module_t *module, const char *name)
{
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const uint32_t *gnu = NULL, *sysv = NULL;
    if (!module->dynamic)
        return NULL;
    for (const ElfW(Dyn) *d = module->dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const void *)dyn_ptr(module, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const void *)dyn_ptr(module, d->d_un.d_ptr); break;
        case DT_GNU_HASH: gnu = (const void *)dyn_ptr(module, d->d_un.d_ptr); break;
        case DT_HASH: sysv = (const void *)dyn_ptr(module, d->d_un.d_ptr); break;
        default: break;
        }
    }
    if (!symtab || !strtab)
        return NULL;
    const ElfW(Sym) *found = NULL;
    if (gnu) {
        uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_words = gnu[2];
        const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)&gnu[4] + bloom_words);
        const uint32_t *chain = buckets + nbuckets;
        uint32_t h = gnu_hash(name);
        uint32_t i = nbuckets ? buckets[h % nbuckets] : 0;
        if (i >= symoffset) {
            for (;; i++) {
                uint32_t ch = chain[i - symoffset];
                if ((ch | 1) == (h | 1) && defines(&symtab[i], strtab, name)) {
                    found = &symtab[i];
                    break;
                }
                if (ch & 1)
                    break;
            }
        }
    } else if (sysv) {
        uint32_t nbucket = sysv[0];
        const uint32_t *bucket = &sysv[2], *chain = &bucket[nbucket];
        for (uint32_t i = nbucket ? bucket[sysv_hash(name) % nbucket] : 0; i != STN_UNDEF;
             i = chain[i])
            if (defines(&symtab[i], strtab, name)) {
                found = &symtab[i];
                break;
            }
    }
    if (!found || ELF64_ST_TYPE(found->st_info) == STT_GNU_IFUNC)
        return NULL; /* an ifunc would need its resolver run: not worth it here */
    uintptr_t addr = module->base + found->st_value;
    return addr >= module->lo && addr < module->hi ? (void *)addr : NULL;
}
