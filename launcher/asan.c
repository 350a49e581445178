/* Does the command need a sanitizer runtime ahead of every preload? A
 * program built with gcc -fsanitize=address (or clang -shared-libasan)
 * names libasan.so.N (libclang_rt.asan-ARCH.so) in its DT_NEEDED list, and
 * that runtime ends the program ("ASan runtime does not come first") unless
 * it is the first library loaded. The launcher reads the command's dynamic
 * section itself (a few pread()s, every offset checked against the file):
 * it must not run the command, nor trust its bytes. */
#include "launcher.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct elf_file {
    int fd;
    bool is64;
    off_t size;
} elf_file_t;

static bool read_at(const elf_file_t *f, uint64_t off, void *buf, size_t len)
{
    if (off > (uint64_t)f->size || len > (uint64_t)f->size - off)
        return false;
    return pread(f->fd, buf, len, (off_t)off) == (ssize_t)len;
}

/* One program header, whatever the class. */
typedef struct segment {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
} segment_t;

static bool segment_at(const elf_file_t *f, uint64_t phoff, uint16_t phentsize, size_t i,
                       segment_t *s)
{
    uint64_t off = phoff + (uint64_t)i * phentsize;
    if (f->is64) {
        Elf64_Phdr p;
        if (phentsize < sizeof p || !read_at(f, off, &p, sizeof p))
            return false;
        *s = (segment_t){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz};
    } else {
        Elf32_Phdr p;
        if (phentsize < sizeof p || !read_at(f, off, &p, sizeof p))
            return false;
        *s = (segment_t){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz};
    }
    return true;
}

/* The file offset of virtual address VADDR, through the PT_LOAD segments. */
static bool vaddr_to_offset(const elf_file_t *f, uint64_t phoff, uint16_t phentsize,
                            uint16_t phnum, uint64_t vaddr, uint64_t *off)
{
    for (size_t i = 0; i < phnum; i++) {
        segment_t s;
        if (!segment_at(f, phoff, phentsize, i, &s))
            return false;
        if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
            *off = s.offset + (vaddr - s.vaddr);
            return true;
        }
    }
    return false;
}

#define MAX_DYNAMIC 4096 /* entries read at most */

/* The first DT_NEEDED entry of F that must come first, into OUT. */
static bool needed_runtime(const elf_file_t *f, char *out, size_t outsz)
{
    unsigned char ident[EI_NIDENT];
    if (!read_at(f, 0, ident, sizeof ident) || memcmp(ident, ELFMAG, SELFMAG) != 0)
        return false;
    const unsigned int one = 1;
    int native = *(const unsigned char *)&one ? ELFDATA2LSB : ELFDATA2MSB;
    if (ident[EI_DATA] != native || (ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32))
        return false;
    elf_file_t file = *f;
    file.is64 = ident[EI_CLASS] == ELFCLASS64;
    uint64_t phoff;
    uint16_t phentsize, phnum;
    if (file.is64) {
        Elf64_Ehdr e;
        if (!read_at(&file, 0, &e, sizeof e))
            return false;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    } else {
        Elf32_Ehdr e;
        if (!read_at(&file, 0, &e, sizeof e))
            return false;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    }
    segment_t dyn = {0};
    bool found = false;
    for (size_t i = 0; i < phnum && !found; i++) {
        if (!segment_at(&file, phoff, phentsize, i, &dyn))
            return false;
        found = dyn.type == PT_DYNAMIC;
    }
    if (!found)
        return false; /* static: nothing is loaded before it */
    size_t entsize = file.is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    size_t count = (size_t)(dyn.filesz / entsize);
    if (count > MAX_DYNAMIC)
        count = MAX_DYNAMIC;
    uint64_t strtab = 0, strsz = 0, needed[64];
    size_t nneeded = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t tag;
        uint64_t val;
        if (file.is64) {
            Elf64_Dyn d;
            if (!read_at(&file, dyn.offset + i * entsize, &d, sizeof d))
                return false;
            tag = d.d_tag, val = d.d_un.d_val;
        } else {
            Elf32_Dyn d;
            if (!read_at(&file, dyn.offset + i * entsize, &d, sizeof d))
                return false;
            tag = d.d_tag, val = d.d_un.d_val;
        }
        if (tag == DT_NULL)
            break;
        if (tag == DT_STRTAB)
            strtab = val;
        else if (tag == DT_STRSZ)
            strsz = val;
        else if (tag == DT_NEEDED && nneeded < BC_ARRAY_LEN(needed))
            needed[nneeded++] = val;
    }
    uint64_t stroff;
    if (!strtab || !vaddr_to_offset(&file, phoff, phentsize, phnum, strtab, &stroff))
        return false;
    for (size_t i = 0; i < nneeded; i++) {
        if (needed[i] >= strsz)
            continue;
        char name[256];
        size_t len = sizeof name - 1;
        if (strsz - needed[i] < len)
            len = (size_t)(strsz - needed[i]);
        uint64_t at = stroff + needed[i];
        if (at > (uint64_t)file.size)
            continue;
        if (len > (uint64_t)file.size - at)
            len = (size_t)((uint64_t)file.size - at);
        if (!read_at(&file, at, name, len))
            continue;
        name[len] = '\0';
        size_t n = strlen(name);
        if (n > 0 && n < outsz && !strpbrk(name, ": \t\n") && bc_env_must_come_first(name, n)) {
            memcpy(out, name, n + 1);
            return true;
        }
    }
    return false;
}

/* COMMAND's file, found as posix_spawnp() finds it. */
static bool command_path(const char *command, char *out, size_t outsz)
{
    if (strchr(command, '/')) {
        size_t n = strlen(command);
        if (n >= outsz)
            return false;
        memcpy(out, command, n + 1);
        return true;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        size_t len = strcspn(p, ":");
        const char *dir = len ? p : ".";
        size_t dlen = len ? len : 1;
        if (dlen + 1 + strlen(command) < outsz) {
            memcpy(out, dir, dlen);
            out[dlen] = '/';
            strcpy(out + dlen + 1, command);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return true;
        }
        p += len;
        if (!*p)
            return false;
    }
}

bool bc_command_runtime_first(const char *command, char *out, size_t outsz)
{
    char path[PATH_MAX];
    if (!command_path(command, path, sizeof path))
        return false;
    elf_file_t f = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(f.fd, &st) == 0 && S_ISREG(st.st_mode)) {
        f.size = st.st_size;
        found = needed_runtime(&f, out, outsz);
    }
    close(f.fd);
    return found;
}
