/* Symbolization at report time, once per distinct return address, never on
 * the allocation path. dladdr gives the module and its base; libdw (from
 * elfutils) gives the function, file and line, and expands inlined calls
 * into frames of their own. Strings are copied into the cache, so the
 * libdw session can be closed after each report and a module unloaded
 * later still reads the same. C++ names are demangled by a private copy of
 * libstdc++'s __cxa_demangle, loaded at the first report with RTLD_LOCAL
 * (see find_demangler). Before a module is
 * dlclose()d, the shim resolves the stored addresses that lie in it
 * (bc_symbolize_range), so its frames still read right at exit.
 *
 * The C library's start-up frames at the bottom of every stack
 * (__libc_start_call_main, start_thread, ...) are named from the symbol
 * table alone. With Debian's libc6-dbg installed, a line for one of them
 * costs decompressing all of libc's DWARF, about 45 ms per report, for a
 * line in glibc's start-up code nobody reads; Valgrind hides these frames
 * as "(below main)". A libc frame anywhere else still gets its line. */
#include "report.h"

#include <dlfcn.h>
#if defined(__has_include)
#if __has_include(<gnu/lib-names.h>)
#include <gnu/lib-names.h> /* LIBC_SO, glibc's "libc.so.6" */
#endif
#endif
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct symbol_entry {
    UT_hash_handle hh;
    uintptr_t ra; /* key */
    size_t nframes;
    bc_frame_info_t frames[BC_MAX_INLINE];
    bool shape_done;
    bc_function_shape_t shape;
} symbol_entry_t;

static symbol_entry_t *symbol_cache;
static pthread_mutex_t symbol_lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
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

static Dwfl *session(void)
{
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .debuginfo_path = &debuginfo_path,
    };
    if (dwfl)
        return dwfl;
    dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return NULL;
    dwfl_report_begin(dwfl);
    if (dwfl_linux_proc_report(dwfl, getpid()) != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dwfl_end(dwfl);
        dwfl = NULL;
    }
    return dwfl;
}

void bc_symbolize_end(void)
{
    pthread_mutex_lock(&symbol_lock);
    if (dwfl)
        dwfl_end(dwfl);
    dwfl = NULL;
    pthread_mutex_unlock(&symbol_lock);
}

/* The function a scope DIE stands for: its linkage name (demangled) when
 * it has one, else its plain name, looked up through abstract origins. */
static char *scope_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dwarf_formstring(&attr);
    if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
        name = dwarf_formstring(&attr);
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
    const char *dir = dwarf_attr(cu, DW_AT_comp_dir, &attr) ? dwarf_formstring(&attr) : NULL;
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
    if (dwarf_attr(inlined, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &lineno) == 0)
        *line = (int)lineno;
    if (dwarf_attr(inlined, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &index) == 0 &&
        dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && index < nfiles) {
        *file = source_path(cu, dwarf_filesrc(files, index, NULL, NULL));
    }
}

/* Fill FRAMES from the DWARF scopes at PC: inlined calls first, the
 * function that holds them last. Returns the count (0: no DWARF here). */
static size_t resolve_dwarf(Dwfl_Module *mod, uintptr_t pc, bc_frame_info_t *frames)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    if (!cu)
        return 0;
    char *file = NULL;
    int line = 0;
    Dwfl_Line *src = dwfl_module_getsrc(mod, pc);
    if (src) {
        file = source_path(cu, dwfl_lineinfo(src, NULL, &line, NULL, NULL, NULL));
    }
    /* dwarf_getscopes follows an inlined call into the abstract definition
     * of what was inlined; the chain of real containers (inlined calls up
     * to the function that holds them) comes from dwarf_getscopes_die on
     * the innermost scope, as eu-addr2line -i does. */
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cu, pc - bias, &scopes);
    if (nscopes > 0) {
        Dwarf_Die innermost;
        Dwarf_Addr dwarf_bias;
        Dwarf *dwarf = dwfl_module_getdwarf(mod, &dwarf_bias);
        bool found = dwarf && dwarf_offdie(dwarf, dwarf_dieoffset(&scopes[0]), &innermost);
        free(scopes);
        scopes = NULL;
        nscopes = found ? dwarf_getscopes_die(&innermost, &scopes) : 0;
    }
    size_t n = 0;
    for (int i = 0; i < nscopes && n < BC_MAX_INLINE; i++) {
        int tag = dwarf_tag(&scopes[i]);
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
    const char *name = dwfl_module_addrname(mod, pc);
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

static size_t resolve(uintptr_t ra, bc_frame_info_t *frames)
{
    memset(frames, 0, BC_MAX_INLINE * sizeof *frames);
    bc_frame_info_t base;
    memset(&base, 0, sizeof base);
    base.pc = ra - 1; /* inside the call instruction, for symbols and lines */
    base.module = "";
    Dl_info dl;
    const char *dl_name = NULL;
    void *module_base = NULL;
    if (dladdr((void *)base.pc, &dl) && dl.dli_fbase) {
        module_base = dl.dli_fbase;
        base.offset = base.pc - (uintptr_t)dl.dli_fbase;
        /* The main program's map has an empty or relative name. */
        base.module = strdup(dl.dli_fname && dl.dli_fname[0] == '/' ? dl.dli_fname
                                                                      : bc_exe_path());
        dl_name = dl.dli_sname;
    }
    size_t n = 0;
    Dwfl *d = session();
    Dwfl_Module *mod = d ? dwfl_addrmodule(d, base.pc) : NULL;
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
        e->nframes = resolve(ra, e->frames);
        HASH_ADD(hh, symbol_cache, ra, sizeof e->ra, e);
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
    return dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, out);
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
        int tag = dwarf_tag(&t);
        if (tag == DW_TAG_typedef) {
            const char *name = dwarf_diename(&t);
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
        int tag = dwarf_tag(t);
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
    return strip_type(&t, NULL) && is_pointer_tag(dwarf_tag(&t)) && type_of(&t, &pointee) &&
           is_bstr(pointee);
}

/* A one-byte scalar: char, signed char, unsigned char, bool. */
static bool is_byte(Dwarf_Die t)
{
    Dwarf_Word size = 0;
    return strip_type(&t, NULL) && dwarf_tag(&t) == DW_TAG_base_type &&
           dwarf_aggregate_size(&t, &size) == 0 && size == 1;
}

/* Could a value of type T carry a BSTR out of a function (a parameter
 * written through, or a returned value)? Scalars, and pointers to constant
 * data, to bytes or to byte pointers (char **argv) cannot without a cast;
 * everything else might. */
static bool is_channel(Dwarf_Die t)
{
    if (!strip_type(&t, NULL))
        return false; /* void */
    int tag = dwarf_tag(&t);
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
    if (is_pointer_tag(dwarf_tag(&target)) && type_of(&target, &inner) && is_byte(inner))
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
    int tag = dwarf_tag(&t);
    if (tag == DW_TAG_array_type) {
        Dwarf_Die element;
        return type_of(&t, &element) && holds_bstr(element, depth + 1);
    }
    if (tag != DW_TAG_structure_type && tag != DW_TAG_class_type && tag != DW_TAG_union_type)
        return false;
    if (dwarf_hasattr(&t, DW_AT_declaration))
        return true; /* its members are not known here */
    Dwarf_Die child;
    if (dwarf_child(&t, &child) != 0)
        return false;
    do {
        int ctag = dwarf_tag(&child);
        Dwarf_Die type;
        if ((ctag == DW_TAG_member || ctag == DW_TAG_inheritance) && type_of(&child, &type) &&
            holds_bstr(type, depth + 1))
            return true;
    } while (dwarf_siblingof(&child, &child) == 0);
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
    if (!strip_type(&t, NULL) || !is_pointer_tag(dwarf_tag(&t)))
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
    if (!is_pointer_tag(dwarf_tag(&target)))
        return false;
    Dwarf_Die inner;
    if (!type_of(&target, &inner) || !strip_type(&inner, NULL))
        return true; /* void ** */
    Dwarf_Word size = 0;
    if (dwarf_tag(&inner) == DW_TAG_base_type)
        return dwarf_aggregate_size(&inner, &size) != 0 || size > 1; /* wchar_t ** */
    return holds_bstr(inner, 0); /* Data **: a new Data with a BSTR in it */
}

/* Could a returned value of type T carry a BSTR? */
static bool is_bstr_return(Dwarf_Die t)
{
    if (holds_bstr(t, 0))
        return true;
    if (!strip_type(&t, NULL) || !is_pointer_tag(dwarf_tag(&t)))
        return false;
    Dwarf_Die pointee;
    return !type_of(&t, &pointee) || holds_bstr(pointee, 0);
}

/* The parameters of FN (a subprogram DIE) into SHAPE; the count seen. */
static int shape_parameters(Dwarf_Die *fn, bc_function_shape_t *shape)
{
    Dwarf_Die child;
    int params = 0;
    if (dwarf_child(fn, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
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
    } while (dwarf_siblingof(&child, &child) == 0);
    return params;
}

static void shape_of(uintptr_t ra, bc_function_shape_t *shape)
{
    memset(shape, 0, sizeof *shape);
    uintptr_t pc = ra - 1;
    Dwfl *d = session();
    Dwfl_Module *mod = d ? dwfl_addrmodule(d, pc) : NULL;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
    if (!cu)
        return;
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cu, pc - bias, &scopes);
    for (int i = 0; i < nscopes; i++) {
        int tag = dwarf_tag(&scopes[i]);
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
            if (dwarf_attr(&fn, DW_AT_abstract_origin, &attr) &&
                dwarf_formref_die(&attr, &origin))
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
        shape_of(ra, &shape);
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

typedef struct address_range {
    uintptr_t lo, hi;
} address_range_t;

static void symbolize_stack_in_range(bc_stack_id_t id, bc_stack_t stack, void *arg)
{
    (void)id;
    const address_range_t *range = arg;
    for (uint32_t i = 0; i < stack.nframes; i++) {
        uintptr_t pc = stack.frames[i] - 1; /* what resolve() looks up */
        if (pc >= range->lo && pc < range->hi) {
            bc_frame_info_t frame;
            bc_symbolize(stack.frames[i], &frame, 1); /* fills the cache */
        }
    }
}

void bc_symbolize_range(uintptr_t lo, uintptr_t hi)
{
    address_range_t range = {lo, hi};
    bc_depot_foreach(symbolize_stack_in_range, &range);
    bc_symbolize_end();
}
