/* Symbolization at report time, once per distinct return address, never on
 * the allocation path. dladdr gives the module and its base; libdw (from
 * elfutils) gives the function, file and line, and expands inlined calls
 * into frames of their own. Strings are copied into the cache, so the
 * libdw session can be closed after each report and a module unloaded
 * later still reads the same. C++ names are demangled by a private copy of
 * libstdc++'s __cxa_demangle, loaded at the first report with RTLD_LOCAL
 * (see find_demangler).
 *
 * libdw is not linked: it and what it pulls in (libelf, libz, liblzma,
 * libbz2) cost every process start-up time, and only a report needs them.
 * It is dlopen()ed at the first symbolization, its functions resolved
 * through one table (BC_LIBDW_FUNCTIONS). Without it, frames read
 * module+offset (and the dynamic symbol's name, from dladdr).
 *
 * A module that is dlclose()d leaves a note (bc_symbolize_note_module):
 * its path, load bias and build-id, read from memory. Its frames are
 * resolved at report time, and only those a report shows, from its file,
 * placed at the recorded bias; a file whose build-id no longer matches is
 * not read.
 *
 * Debug files are looked up locally (build-id directory, then the
 * .gnu_debuglink name beside the file and under /usr/lib/debug), never
 * through debuginfod unless debuginfod=1: libdw's standard lookup asks the
 * servers of DEBUGINFOD_URLS for every module without local debug info.
 *
 * The C library's start-up frames at the bottom of every stack
 * (__libc_start_call_main, start_thread, ...) are named from the symbol
 * table alone. With Debian's libc6-dbg installed, a line for one of them
 * costs decompressing all of libc's DWARF, about 45 ms per report, for a
 * line in glibc's start-up code nobody reads; Valgrind hides these frames
 * as "(below main)". A libc frame anywhere else still gets its line. */
#include "report.h"

#include <dlfcn.h>
#include <fcntl.h>
#if defined(__has_include)
#if __has_include(<gnu/lib-names.h>)
#include <gnu/lib-names.h> /* LIBC_SO, glibc's "libc.so.6" */
#endif
#endif
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every libdw function the symbolizer calls; resolved by dlsym from
 * libdw.so.1 (and libelf.so.1, its dependency). */
#define BC_LIBDW_FUNCTIONS(X)                                                                  \
    X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_end) X(dwfl_report_elf)     \
    X(dwfl_linux_proc_report) X(dwfl_linux_proc_find_elf) X(dwfl_standard_find_debuginfo)    \
    X(dwfl_build_id_find_debuginfo) X(dwfl_addrmodule) X(dwfl_module_addrdie)                \
    X(dwfl_module_getsrc) X(dwfl_lineinfo) X(dwfl_module_getdwarf) X(dwfl_module_addrname)   \
    X(dwfl_module_build_id) X(dwarf_attr_integrate) X(dwarf_formstring) X(dwarf_attr)        \
    X(dwarf_formudata) X(dwarf_getsrcfiles) X(dwarf_filesrc) X(dwarf_getscopes)              \
    X(dwarf_offdie) X(dwarf_dieoffset) X(dwarf_getscopes_die) X(dwarf_tag)                   \
    X(dwarf_formref_die) X(dwarf_diename) X(dwarf_aggregate_size) X(dwarf_hasattr)           \
    X(dwarf_child) X(dwarf_siblingof)

static struct libdw_functions {
#define BC_LIBDW_FIELD(name) __typeof__(name) *name;
    BC_LIBDW_FUNCTIONS(BC_LIBDW_FIELD)
#undef BC_LIBDW_FIELD
} dw;
static bool libdw_loaded;
static pthread_once_t libdw_once = PTHREAD_ONCE_INIT;

#define BC_LIBDW_SONAME "libdw.so.1"

static void load_libdw(void)
{
    /* RTLD_LOCAL: nothing of it joins the program's global scope. The
     * handle is kept for the life of the process. */
    void *handle = dlopen(BC_LIBDW_SONAME, RTLD_LAZY | RTLD_LOCAL);
    const char *missing = NULL;
    char why[256] = "";
    if (!handle) {
        const char *err = dlerror();
        snprintf(why, sizeof why, "%s", err ? err : "not found");
    }
#define BC_LIBDW_RESOLVE(name)                                                                 \
    if (handle && !missing) {                                                                  \
        void *sym = dlsym(handle, #name);                                                      \
        if (!sym)                                                                              \
            missing = #name;                                                                   \
        memcpy(&dw.name, &sym, sizeof dw.name);                                                \
    }
    BC_LIBDW_FUNCTIONS(BC_LIBDW_RESOLVE)
#undef BC_LIBDW_RESOLVE
    if (handle && missing)
        snprintf(why, sizeof why, "%s has no %s", BC_LIBDW_SONAME, missing);
    if (!handle || missing) {
        bc_warn("cannot load libdw (%s): frames show module+offset, without source files and lines "
                "(install libdw1 / elfutils-libs)",
                why);
        return;
    }
    libdw_loaded = true;
}

/* Load libdw once, before any lock of the symbolizer is taken. */
static bool have_libdw(void)
{
    pthread_once(&libdw_once, load_libdw);
    return libdw_loaded;
}

/* A module that was dlclose()d while stored stacks pointed into it. */
struct bc_module_note {
    struct bc_module_note *next;
    uintptr_t lo, hi;  /* the extent it had */
    uintptr_t bias;    /* its load bias */
    uintptr_t fbase;   /* dladdr's base, which frame offsets count from */
    unsigned char build_id[64];
    size_t build_id_len; /* 0: none read */
    bool tried;          /* the file was opened (or could not be) this session */
    bool warned;
    Dwfl *dwfl;          /* its own session: the range may hold another module now */
    Dwfl_Module *mod;
    char path[];
};

typedef struct symbol_entry {
    UT_hash_handle hh;
    uintptr_t ra; /* key */
    bc_module_note_t *unloaded; /* set: RA lay in this module, since unloaded */
    bool resolved;              /* false: FRAMES still to fill (from UNLOADED) */
    size_t nframes;
    bc_frame_info_t frames[BC_MAX_INLINE];
    bool shape_done;
    bc_function_shape_t shape;
} symbol_entry_t;

static symbol_entry_t *symbol_cache;
static pthread_mutex_t symbol_lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
static bc_module_note_t *unloaded_modules; /* under symbol_lock */
static char *debuginfo_path;
static bc_symbolize_stats_t stats;

typedef char *(*demangle_fn_t)(const char *, char *, size_t *, int *);

/* The demangler. The program's own __cxa_demangle cannot be relied on: a
 * C++ program that calls nothing of libstdc++ has none (g++ links with
 * --as-needed, which drops libstdc++ from DT_NEEDED), and a C program whose
 * C++ plugin carries libstdc++ statically has one only inside that plugin,
 * out of the global scope. So libstdc++ is loaded here, privately
 * (RTLD_LOCAL: nothing of it joins the global scope, and a program that
 * already has it gets the same copy back), once, at the first name that
 * needs it: report time, never the allocation path. The handle is kept. */
static demangle_fn_t find_demangler(void)
{
    static const char *const libraries[] = {"libstdc++.so.6", "libc++abi.so.1"};
    void *sym = NULL;
    for (size_t i = 0; !sym && i < sizeof libraries / sizeof libraries[0]; i++) {
        void *handle = dlopen(libraries[i], RTLD_LAZY | RTLD_LOCAL);
        if (handle)
            sym = dlsym(handle, "__cxa_demangle");
    }
    if (!sym) /* no such library on this system: the program's, if any */
        sym = dlsym(RTLD_DEFAULT, "__cxa_demangle");
    demangle_fn_t fn;
    memcpy(&fn, &sym, sizeof fn);
    return fn;
}

/* A heap copy of NAME, demangled when it is a C++ name. */
static char *nice_name(const char *name)
{
    static demangle_fn_t demangler;
    static bool looked_up;
    if (!name)
        return NULL;
    if (!looked_up && strncmp(name, "_Z", 2) == 0) {
        demangler = find_demangler();
        looked_up = true;
    }
    if (demangler && strncmp(name, "_Z", 2) == 0) {
        int status = -1;
        char *out = demangler(name, NULL, NULL, &status);
        if (status == 0 && out)
            return out;
        free(out);
    }
    return strdup(name);
}

const char *bc_exe_path(void)
{
    static char path[PATH_MAX];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        path[n > 0 ? n : 0] = '\0';
    }
    return path;
}

/* The standard CRC-32 of FD's contents, as .gnu_debuglink records it. */
static bool file_crc32(int fd, uint32_t *out)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
            table[i] = c;
        }
    uint32_t crc = 0xFFFFFFFFu;
    unsigned char buf[16384];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
    *out = ~crc;
    return got == 0;
}

/* The debug file of a module, found on this machine only: libdw's
 * build-id lookup (the .build-id directories under the debuginfo path),
 * then the .gnu_debuglink name beside the file, in its .debug directory,
 * and under /usr/lib/debug, checked by CRC. Unlike
 * dwfl_standard_find_debuginfo, never asks a debuginfod server. */
static int local_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                           Dwarf_Addr base, const char *file_name, const char *debuglink,
                           GElf_Word crc, char **debuginfo_file_name)
{
    int fd = dw.dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink,
                                             crc, debuginfo_file_name);
    if (fd >= 0 || !file_name || !debuglink || !debuglink[0] || crc == 0)
        return fd;
    const char *slash = strrchr(file_name, '/');
    int dirlen = slash ? (int)(slash - file_name) : 0;
    static const char *const forms[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char candidate[PATH_MAX];
        int n = snprintf(candidate, sizeof candidate, forms[i], dirlen, file_name, debuglink);
        if (n <= 0 || (size_t)n >= sizeof candidate || strcmp(candidate, file_name) == 0)
            continue;
        fd = open(candidate, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        uint32_t got;
        if (file_crc32(fd, &got) && got == crc && lseek(fd, 0, SEEK_SET) == 0) {
            *debuginfo_file_name = strdup(candidate);
            return fd;
        }
        close(fd);
    }
    return -1;
}

static const Dwfl_Callbacks *callbacks(void)
{
    static Dwfl_Callbacks cb;
    if (!cb.find_elf) {
        cb.find_debuginfo = bc_opt.debuginfod ? dw.dwfl_standard_find_debuginfo : local_debuginfo;
        cb.debuginfo_path = &debuginfo_path;
        cb.find_elf = dw.dwfl_linux_proc_find_elf;
    }
    return &cb;
}

/* The session over the modules loaded now. */
static Dwfl *session(void)
{
    if (dwfl)
        return dwfl;
    if (!libdw_loaded)
        return NULL;
    dwfl = dw.dwfl_begin(callbacks());
    if (!dwfl)
        return NULL;
    dw.dwfl_report_begin(dwfl);
    if (dw.dwfl_linux_proc_report(dwfl, getpid()) != 0 || dw.dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dw.dwfl_end(dwfl);
        dwfl = NULL;
    }
    return dwfl;
}

/* NOTE's module, read from its file and placed at its old bias; NULL when
 * the file is gone or is not the module that was loaded (build-id). */
static Dwfl_Module *unloaded_session(bc_module_note_t *note)
{
    if (note->tried || !libdw_loaded)
        return note->mod;
    note->tried = true;
    note->dwfl = dw.dwfl_begin(callbacks());
    if (!note->dwfl)
        return NULL;
    dw.dwfl_report_begin(note->dwfl);
    /* add_p_vaddr: the segments' p_vaddr plus BIAS, as the loader placed them */
    note->mod = dw.dwfl_report_elf(note->dwfl, note->path, note->path, -1, note->bias, true);
    dw.dwfl_report_end(note->dwfl, NULL, NULL);
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int len = note->mod ? dw.dwfl_module_build_id(note->mod, &bits, &vaddr) : 0;
    if (note->mod && note->build_id_len &&
        (len != (int)note->build_id_len || memcmp(bits, note->build_id, note->build_id_len) != 0)) {
        if (!note->warned)
            bc_warn("%s changed on disk after it was unloaded (its build-id differs): its frames "
                    "show module+offset",
                    note->path);
        note->warned = true;
        note->mod = NULL;
    }
    return note->mod;
}

void bc_symbolize_end(void)
{
    pthread_mutex_lock(&symbol_lock);
    if (dwfl)
        dw.dwfl_end(dwfl);
    dwfl = NULL;
    for (bc_module_note_t *note = unloaded_modules; note; note = note->next) {
        if (note->dwfl)
            dw.dwfl_end(note->dwfl);
        note->dwfl = NULL;
        note->mod = NULL;
        note->tried = false;
    }
    pthread_mutex_unlock(&symbol_lock);
}

/* The function a scope DIE stands for: its linkage name (demangled) when
 * it has one, else its plain name, looked up through abstract origins. */
static char *scope_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = NULL;
    if (dw.dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dw.dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dw.dwarf_formstring(&attr);
    if (!name && dw.dwarf_attr_integrate(die, DW_AT_name, &attr))
        name = dw.dwarf_formstring(&attr);
    return nice_name(name);
}

/* NAME made absolute against the CU's compilation directory, with "x/.."
 * and "." segments folded, as a heap copy. */
static char *source_path(Dwarf_Die *cu, const char *name)
{
    if (!name)
        return NULL;
    char joined[PATH_MAX];
    Dwarf_Attribute attr;
    const char *dir = dw.dwarf_attr(cu, DW_AT_comp_dir, &attr) ? dw.dwarf_formstring(&attr) : NULL;
    if (name[0] == '/' || !dir)
        snprintf(joined, sizeof joined, "%s", name);
    else
        snprintf(joined, sizeof joined, "%s/%s", dir, name);

    /* Fold segments in place: out grows from the left, never past in. */
    char *out = joined, *in = joined;
    bool absolute = joined[0] == '/';
    size_t len = 0;
    while (*in) {
        while (*in == '/')
            in++;
        char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t seglen = (size_t)(in - seg);
        if (seglen == 0 || (seglen == 1 && seg[0] == '.'))
            continue;
        if (seglen == 2 && seg[0] == '.' && seg[1] == '.' && len > 0) {
            char *slash = out + len;
            while (slash > out && *--slash != '/')
                ;
            bool parent_is_dotdot = (size_t)(out + len - slash) == 3 && slash[1] == '.' && slash[2] == '.';
            if (!parent_is_dotdot) {
                len = (size_t)(slash - out);
                continue;
            }
        }
        if (len > 0 || absolute)
            out[len++] = '/';
        memmove(out + len, seg, seglen);
        len += seglen;
    }
    if (len == 0 && absolute)
        out[len++] = '/';
    out[len] = '\0';
    return strdup(out);
}

/* File and line of the call that an inlined_subroutine DIE stands for. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inlined, char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word index = 0, lineno = 0;
    Dwarf_Files *files;
    size_t nfiles;
    *file = NULL;
    *line = 0;
    if (dw.dwarf_attr(inlined, DW_AT_call_line, &attr) && dw.dwarf_formudata(&attr, &lineno) == 0)
        *line = (int)lineno;
    if (dw.dwarf_attr(inlined, DW_AT_call_file, &attr) && dw.dwarf_formudata(&attr, &index) == 0 &&
        dw.dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && index < nfiles) {
        *file = source_path(cu, dw.dwarf_filesrc(files, index, NULL, NULL));
    }
}

/* Fill FRAMES from the DWARF scopes at PC: inlined calls first, the
 * function that holds them last. Returns the count (0: no DWARF here). */
static size_t resolve_dwarf(Dwfl_Module *mod, uintptr_t pc, bc_frame_info_t *frames)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dw.dwfl_module_addrdie(mod, pc, &bias);
    if (!cu)
        return 0;
    char *file = NULL;
    int line = 0;
    Dwfl_Line *src = dw.dwfl_module_getsrc(mod, pc);
    if (src) {
        file = source_path(cu, dw.dwfl_lineinfo(src, NULL, &line, NULL, NULL, NULL));
    }
    /* dwarf_getscopes follows an inlined call into the abstract definition
     * of what was inlined; the chain of real containers (inlined calls up
     * to the function that holds them) comes from dwarf_getscopes_die on
     * the innermost scope, as eu-addr2line -i does. */
    Dwarf_Die *scopes = NULL;
    int nscopes = dw.dwarf_getscopes(cu, pc - bias, &scopes);
    if (nscopes > 0) {
        Dwarf_Die innermost;
        Dwarf_Addr dwarf_bias;
        Dwarf *dwarf = dw.dwfl_module_getdwarf(mod, &dwarf_bias);
        bool found = dwarf && dw.dwarf_offdie(dwarf, dw.dwarf_dieoffset(&scopes[0]), &innermost);
        free(scopes);
        scopes = NULL;
        nscopes = found ? dw.dwarf_getscopes_die(&innermost, &scopes) : 0;
    }
    size_t n = 0;
    for (int i = 0; i < nscopes && n < BC_MAX_INLINE; i++) {
        int tag = dw.dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        frames[n].function = scope_name(&scopes[i]);
        frames[n].file = file;
        frames[n].line = line;
        frames[n].inlined = tag == DW_TAG_inlined_subroutine;
        file = NULL; /* the frame owns it now */
        n++;
        if (tag == DW_TAG_subprogram)
            break;
        call_site(cu, &scopes[i], &file, &line); /* where the caller called it */
    }
    free(scopes);
    if (n == 0) { /* a CU but no function scope: keep the line */
        frames[0].file = file;
        frames[0].line = line;
        return 1;
    }
    free(file); /* a call site no frame took, when the cap was reached */
    return n;
}

/* The symbol table's name for PC, without a symbol version
 * ("__libc_start_main@@GLIBC_2.34" reads "__libc_start_main"), as a heap
 * copy, demangled. */
static char *symtab_name(Dwfl_Module *mod, uintptr_t pc)
{
    const char *name = dw.dwfl_module_addrname(mod, pc);
    const char *at = name ? strchr(name, '@') : NULL;
    if (!at || at == name)
        return nice_name(name);
    char *plain = strndup(name, (size_t)(at - name));
    char *nice = nice_name(plain);
    free(plain);
    return nice;
}

/* The C library's own entry frames: below main() and below a thread's
 * start routine (glibc, then musl). glibc's symbol table may name
 * __libc_start_main by an alias ("__libc_start_main_alias_1"). */
static bool is_runtime_start(const char *name)
{
    static const char *const names[] = {
        "__libc_start_call_main", "start_thread", "clone", "clone3", "__clone",
        "__clone3", "libc_start_main_stage2", "start", "start_c",
    };
    static const char libc_start_main[] = "__libc_start_main";
    bool start = name && strncmp(name, libc_start_main, sizeof libc_start_main - 1) == 0;
    for (size_t i = 0; name && !start && i < sizeof names / sizeof names[0]; i++)
        start = strcmp(name, names[i]) == 0;
    return start;
}

/* The C library's load address. The start-up function is looked up in
 * libc itself: a preloaded tool may wrap __libc_start_main (and a program
 * may define abort). musl has no separate libc name to open: there the
 * first definition is taken. */
static void *libc_base(void)
{
    static void *base;
    static bool looked_up;
    if (!looked_up) {
        void *addr = NULL;
#ifdef LIBC_SO
        /* The handle is kept: libc never goes away, and dlclose here would
         * be the shim's own wrapper (dlclose.c), which symbolizes. */
        void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
        if (libc)
            addr = dlsym(libc, "__libc_start_main");
#endif
        if (!addr)
            addr = dlsym(RTLD_DEFAULT, "__libc_start_main");
        Dl_info dl;
        if (addr && dladdr(addr, &dl))
            base = dl.dli_fbase;
        looked_up = true;
    }
    return base;
}

/* Resolve RA into FRAMES: from the modules loaded now, or, when UNLOADED
 * is set, from that unloaded module's file. */
static size_t resolve(uintptr_t ra, bc_module_note_t *unloaded, bc_frame_info_t *frames)
{
    memset(frames, 0, BC_MAX_INLINE * sizeof *frames);
    bc_frame_info_t base;
    memset(&base, 0, sizeof base);
    base.pc = ra - 1; /* inside the call instruction, for symbols and lines */
    base.module = "";
    Dl_info dl;
    const char *dl_name = NULL;
    void *module_base = NULL;
    Dwfl_Module *mod = NULL;
    if (unloaded) {
        base.offset = base.pc - unloaded->fbase;
        base.module = unloaded->path; /* the note is never freed */
        mod = unloaded_session(unloaded);
    } else {
        if (dladdr((void *)base.pc, &dl) && dl.dli_fbase) {
            module_base = dl.dli_fbase;
            base.offset = base.pc - (uintptr_t)dl.dli_fbase;
            /* The main program's map has an empty or relative name. */
            base.module = strdup(dl.dli_fname && dl.dli_fname[0] == '/' ? dl.dli_fname
                                                                          : bc_exe_path());
            dl_name = dl.dli_sname;
        }
        Dwfl *d = session();
        mod = d ? dw.dwfl_addrmodule(d, base.pc) : NULL;
    }
    size_t n = 0;
    /* libc's frames are named from the symbol table first, to spot its
     * start-up code before anything reads libc's DWARF. */
    char *symbol = NULL;
    if (mod && module_base && module_base == libc_base())
        symbol = symtab_name(mod, base.pc);
    if (symbol && is_runtime_start(symbol)) {
        frames[0].function = symbol;
        stats.symtab_only++;
        n = 1;
    } else if (mod) {
        stats.dwarf_lookups++;
        n = resolve_dwarf(mod, base.pc, frames);
        if (n == 0) /* no DWARF here: the symbol table's name alone */
            n = 1;
        if (!frames[n - 1].function) {
            frames[n - 1].function = symbol ? symbol : symtab_name(mod, base.pc);
            symbol = NULL;
        }
        free(symbol);
    } else {
        n = 1;
    }
    if (!frames[n - 1].function)
        frames[n - 1].function = nice_name(dl_name);
    for (size_t i = 0; i < n; i++) {
        frames[i].pc = base.pc;
        frames[i].module = base.module;
        frames[i].offset = base.offset;
    }
    return n;
}

size_t bc_symbolize(uintptr_t ra, bc_frame_info_t *out, size_t max)
{
    have_libdw(); /* dlopen, before the lock */
    pthread_mutex_lock(&symbol_lock);
    symbol_entry_t *e = NULL;
    HASH_FIND(hh, symbol_cache, &ra, sizeof ra, e);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&symbol_lock);
            memset(out, 0, sizeof *out);
            out->pc = ra - 1;
            out->module = "";
            return 1;
        }
        e->ra = ra;
        e->nframes = resolve(ra, NULL, e->frames);
        e->resolved = true;
        HASH_ADD(hh, symbol_cache, ra, sizeof e->ra, e);
    } else if (!e->resolved) {
        e->nframes = resolve(ra, e->unloaded, e->frames);
        e->resolved = true;
    }
    size_t n = e->nframes < max ? e->nframes : max;
    memcpy(out, e->frames, n * sizeof *out);
    if (!BC_HASH_ADDED(e))
        free(e); /* out of memory: not cached (its strings stay, for OUT) */
    pthread_mutex_unlock(&symbol_lock);
    return n;
}

/* ------------------------------------------------ function shapes (verdicts) */

static bool type_of(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Attribute attr;
    return dw.dwarf_attr_integrate(die, DW_AT_type, &attr) && dw.dwarf_formref_die(&attr, out);
}

static bool is_cv(int tag)
{
    return tag == DW_TAG_const_type || tag == DW_TAG_volatile_type ||
           tag == DW_TAG_restrict_type || tag == DW_TAG_atomic_type;
}

/* Is T (through cv-qualifiers) the typedef BSTR? */
static bool is_bstr(Dwarf_Die t)
{
    for (int depth = 0; depth < 16; depth++) {
        int tag = dw.dwarf_tag(&t);
        if (tag == DW_TAG_typedef) {
            const char *name = dw.dwarf_diename(&t);
            return name && strcmp(name, "BSTR") == 0;
        }
        if (!is_cv(tag) || !type_of(&t, &t))
            return false;
    }
    return false;
}

/* T without typedefs and cv-qualifiers; false for void. *CONSTANT tells
 * whether a const was met on the way. */
static bool strip_type(Dwarf_Die *t, bool *constant)
{
    for (int depth = 0; depth < 32; depth++) {
        int tag = dw.dwarf_tag(t);
        if (tag == DW_TAG_const_type && constant)
            *constant = true;
        if (tag != DW_TAG_typedef && !is_cv(tag))
            return true;
        if (!type_of(t, t))
            return false;
    }
    return false;
}

static bool is_pointer_tag(int tag)
{
    return tag == DW_TAG_pointer_type || tag == DW_TAG_reference_type ||
           tag == DW_TAG_rvalue_reference_type;
}

/* Is T a pointer or reference to BSTR (BSTR*, LPBSTR, BSTR&)? */
static bool is_bstr_ref(Dwarf_Die t)
{
    Dwarf_Die pointee;
    return strip_type(&t, NULL) && is_pointer_tag(dw.dwarf_tag(&t)) && type_of(&t, &pointee) &&
           is_bstr(pointee);
}

/* A one-byte scalar: char, signed char, unsigned char, bool. */
static bool is_byte(Dwarf_Die t)
{
    Dwarf_Word size = 0;
    return strip_type(&t, NULL) && dw.dwarf_tag(&t) == DW_TAG_base_type &&
           dw.dwarf_aggregate_size(&t, &size) == 0 && size == 1;
}

/* Could a value of type T carry a BSTR out of a function (a parameter
 * written through, or a returned value)? Scalars, and pointers to constant
 * data, to bytes or to byte pointers (char **argv) cannot without a cast;
 * everything else might. */
static bool is_channel(Dwarf_Die t)
{
    if (!strip_type(&t, NULL))
        return false; /* void */
    int tag = dw.dwarf_tag(&t);
    if (tag == DW_TAG_base_type || tag == DW_TAG_enumeration_type)
        return false;
    if (!is_pointer_tag(tag))
        return true; /* aggregates, arrays, pointers to members ... */
    Dwarf_Die pointee;
    if (!type_of(&t, &pointee))
        return true; /* void * */
    bool constant = false;
    Dwarf_Die target = pointee;
    if (!strip_type(&target, &constant))
        return true; /* void *, const void * */
    if (constant)
        return false;
    if (is_byte(target))
        return false;
    Dwarf_Die inner;
    if (is_pointer_tag(dw.dwarf_tag(&target)) && type_of(&target, &inner) && is_byte(inner))
        return false; /* char ** */
    return true;
}

/* Does a value of type T hold a BSTR in itself: T is BSTR, or a
 * structure, union, class or array with one among its members or bases
 * (pointers are not followed). An incomplete type might: true. */
static bool holds_bstr(Dwarf_Die t, int depth)
{
    if (depth > 6)
        return true;
    if (is_bstr(t))
        return true;
    if (!strip_type(&t, NULL))
        return false;
    int tag = dw.dwarf_tag(&t);
    if (tag == DW_TAG_array_type) {
        Dwarf_Die element;
        return type_of(&t, &element) && holds_bstr(element, depth + 1);
    }
    if (tag != DW_TAG_structure_type && tag != DW_TAG_class_type && tag != DW_TAG_union_type)
        return false;
    if (dw.dwarf_hasattr(&t, DW_AT_declaration))
        return true; /* its members are not known here */
    Dwarf_Die child;
    if (dw.dwarf_child(&t, &child) != 0)
        return false;
    do {
        int ctag = dw.dwarf_tag(&child);
        Dwarf_Die type;
        if ((ctag == DW_TAG_member || ctag == DW_TAG_inheritance) && type_of(&child, &type) &&
            holds_bstr(type, depth + 1))
            return true;
    } while (dw.dwarf_siblingof(&child, &child) == 0);
    return false;
}

/* Could a BSTR reach the caller through a parameter of type T? A BSTR* or
 * BSTR&; a pointer to writable memory that holds a BSTR, or to a pointer
 * to such memory or to characters (wchar_t **); a void pointer. A pointer
 * to an interface or to data without a BSTR in it cannot. */
static bool is_bstr_channel(Dwarf_Die t)
{
    if (is_bstr_ref(t))
        return true;
    if (!strip_type(&t, NULL) || !is_pointer_tag(dw.dwarf_tag(&t)))
        return false;
    Dwarf_Die pointee;
    if (!type_of(&t, &pointee))
        return true; /* void * */
    bool constant = false;
    Dwarf_Die target = pointee;
    if (!strip_type(&target, &constant))
        return true; /* void *, const void * */
    if (constant)
        return false;
    if (holds_bstr(pointee, 0))
        return true;
    if (!is_pointer_tag(dw.dwarf_tag(&target)))
        return false;
    Dwarf_Die inner;
    if (!type_of(&target, &inner) || !strip_type(&inner, NULL))
        return true; /* void ** */
    Dwarf_Word size = 0;
    if (dw.dwarf_tag(&inner) == DW_TAG_base_type)
        return dw.dwarf_aggregate_size(&inner, &size) != 0 || size > 1; /* wchar_t ** */
    return holds_bstr(inner, 0); /* Data **: a new Data with a BSTR in it */
}

/* Could a returned value of type T carry a BSTR? */
static bool is_bstr_return(Dwarf_Die t)
{
    if (holds_bstr(t, 0))
        return true;
    if (!strip_type(&t, NULL) || !is_pointer_tag(dw.dwarf_tag(&t)))
        return false;
    Dwarf_Die pointee;
    return !type_of(&t, &pointee) || holds_bstr(pointee, 0);
}

/* The parameters of FN (a subprogram DIE) into SHAPE; the count seen. */
static int shape_parameters(Dwarf_Die *fn, bc_function_shape_t *shape)
{
    Dwarf_Die child;
    int params = 0;
    if (dw.dwarf_child(fn, &child) != 0)
        return 0;
    do {
        int tag = dw.dwarf_tag(&child);
        if (tag == DW_TAG_unspecified_parameters) {
            shape->may_hand_on = true;
            shape->bstr_channel = true;
            params++;
        } else if (tag == DW_TAG_formal_parameter) {
            params++;
            Dwarf_Die type;
            if (!type_of(&child, &type)) {
                shape->may_hand_on = true; /* unknown: assume the worst */
                shape->bstr_channel = true;
                continue;
            }
            if (is_bstr_channel(type))
                shape->bstr_channel = true;
            if (is_bstr(type))
                shape->bstr_in = true;
            if (is_bstr_ref(type))
                shape->bstr_out = true;
            if (is_channel(type))
                shape->may_hand_on = true;
        }
    } while (dw.dwarf_siblingof(&child, &child) == 0);
    return params;
}

static void shape_of(uintptr_t ra, bc_module_note_t *unloaded, bc_function_shape_t *shape)
{
    memset(shape, 0, sizeof *shape);
    uintptr_t pc = ra - 1;
    Dwfl *d = unloaded ? NULL : session();
    Dwfl_Module *mod = unloaded ? unloaded_session(unloaded) : d ? dw.dwfl_addrmodule(d, pc) : NULL;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = mod ? dw.dwfl_module_addrdie(mod, pc, &bias) : NULL;
    if (!cu)
        return;
    Dwarf_Die *scopes = NULL;
    int nscopes = dw.dwarf_getscopes(cu, pc - bias, &scopes);
    for (int i = 0; i < nscopes; i++) {
        int tag = dw.dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine)
            break; /* an inlined call: no shape */
        if (tag != DW_TAG_subprogram)
            continue;
        Dwarf_Die fn = scopes[i];
        shape->known = true;
        Dwarf_Die type;
        if (type_of(&fn, &type)) {
            shape->returns_bstr = is_bstr(type);
            shape->may_hand_on = is_channel(type);
            shape->bstr_channel = is_bstr_return(type);
        }
        if (shape_parameters(&fn, shape) == 0) {
            /* a concrete copy may leave its parameters to the abstract one */
            Dwarf_Attribute attr;
            Dwarf_Die origin;
            if (dw.dwarf_attr(&fn, DW_AT_abstract_origin, &attr) &&
                dw.dwarf_formref_die(&attr, &origin))
                shape_parameters(&origin, shape);
        }
        break;
    }
    free(scopes);
}

bc_function_shape_t bc_symbolize_shape(uintptr_t ra)
{
    bc_function_shape_t shape;
    bc_frame_info_t frame;
    bc_symbolize(ra, &frame, 1); /* makes the cache entry */
    pthread_mutex_lock(&symbol_lock);
    symbol_entry_t *e = NULL;
    HASH_FIND(hh, symbol_cache, &ra, sizeof ra, e);
    if (e && e->shape_done) {
        shape = e->shape;
    } else {
        shape_of(ra, e ? e->unloaded : NULL, &shape);
        if (e) {
            e->shape = shape;
            e->shape_done = true;
        }
    }
    pthread_mutex_unlock(&symbol_lock);
    return shape;
}

bc_symbolize_stats_t bc_symbolize_stats(void)
{
    pthread_mutex_lock(&symbol_lock);
    bc_symbolize_stats_t copy = stats;
    pthread_mutex_unlock(&symbol_lock);
    return copy;
}

/* The loaded module that holds LO, found with dl_iterate_phdr. */
typedef struct note_search {
    uintptr_t lo;
    bc_module_note_t *note;
} note_search_t;

/* The build-id note among a module's PT_NOTE segments (mapped memory). */
static void read_build_id(struct dl_phdr_info *info, bc_module_note_t *note)
{
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        uintptr_t p = info->dlpi_addr + ph->p_vaddr, end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            uintptr_t name = p + sizeof *nh;
            uintptr_t desc = name + ((nh->n_namesz + 3u) & ~3u);
            uintptr_t next = desc + ((nh->n_descsz + 3u) & ~3u);
            if (next > end || next <= p)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp((const void *)name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
                nh->n_descsz <= sizeof note->build_id) {
                memcpy(note->build_id, (const void *)desc, nh->n_descsz);
                note->build_id_len = nh->n_descsz;
                return;
            }
            p = next;
        }
    }
}

static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    note_search_t *s = arg;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type != PT_LOAD || s->lo < start || s->lo >= start + ph->p_memsz)
            continue;
        const char *name = info->dlpi_name ? info->dlpi_name : "";
        size_t len = strlen(name);
        s->note = calloc(1, sizeof *s->note + len + 1);
        if (s->note) {
            memcpy(s->note->path, name, len + 1);
            s->note->bias = info->dlpi_addr;
            read_build_id(info, s->note);
        }
        return 1;
    }
    return 0;
}

bc_module_note_t *bc_symbolize_note_module(uintptr_t lo, uintptr_t hi)
{
    note_search_t s = {lo, NULL};
    dl_iterate_phdr(find_module, &s);
    Dl_info dl;
    if (!s.note || !s.note->path[0] || !dladdr((void *)lo, &dl) || !dl.dli_fbase) {
        free(s.note); /* the main program is never unloaded; no name, no file to read */
        return NULL;
    }
    s.note->lo = lo;
    s.note->hi = hi;
    s.note->fbase = (uintptr_t)dl.dli_fbase;
    return s.note;
}

static void mark_unloaded(bc_stack_t stack, bc_module_note_t *note)
{
    for (uint32_t i = 0; i < stack.nframes; i++) {
        uintptr_t ra = stack.frames[i], pc = ra - 1; /* what resolve() looks up */
        if (pc < note->lo || pc >= note->hi)
            continue;
        symbol_entry_t *e = NULL;
        HASH_FIND(hh, symbol_cache, &ra, sizeof ra, e);
        if (e)
            continue; /* resolved while the module was there */
        e = calloc(1, sizeof *e);
        if (!e)
            return;
        e->ra = ra;
        e->unloaded = note;
        HASH_ADD(hh, symbol_cache, ra, sizeof e->ra, e);
        if (!BC_HASH_ADDED(e)) {
            free(e);
            return;
        }
    }
}

void bc_symbolize_module_gone(bc_module_note_t *note, uint32_t stacks)
{
    if (!note)
        return;
    pthread_mutex_lock(&symbol_lock);
    for (bc_stack_id_t id = 1; id <= stacks; id++)
        mark_unloaded(bc_snapshot_stack(id), note);
    note->next = unloaded_modules;
    unloaded_modules = note;
    /* the live session's view of the loaded modules is stale now */
    if (dwfl)
        dw.dwfl_end(dwfl);
    dwfl = NULL;
    pthread_mutex_unlock(&symbol_lock);
}
