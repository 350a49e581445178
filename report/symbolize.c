/* Symbolization at report time, once per distinct return address:
 * dladdr gives the module, its base and the nearest dynamic symbol. C++
 * names are demangled with the program's own __cxa_demangle when it has
 * one (every C++ program does); a C program has no mangled names. */
#include "report.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct symbol_entry {
    UT_hash_handle hh;
    uintptr_t ra; /* key */
    bc_frame_info_t info;
} symbol_entry_t;

static symbol_entry_t *symbol_cache;
static pthread_mutex_t symbol_lock = PTHREAD_MUTEX_INITIALIZER;

typedef char *(*demangle_fn_t)(const char *, char *, size_t *, int *);

static char *demangle(const char *name)
{
    static demangle_fn_t fn;
    static bool looked_up;
    if (!looked_up) {
        void *sym = dlsym(RTLD_DEFAULT, "__cxa_demangle");
        memcpy(&fn, &sym, sizeof fn);
        looked_up = true;
    }
    if (!fn || strncmp(name, "_Z", 2) != 0)
        return NULL;
    int status = -1;
    char *out = fn(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
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

static void resolve(uintptr_t ra, bc_frame_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->pc = ra - 1; /* inside the call, for symbols and lines */
    info->module = "";
    Dl_info dl;
    if (!dladdr((void *)info->pc, &dl) || !dl.dli_fbase)
        return;
    info->offset = info->pc - (uintptr_t)dl.dli_fbase;
    /* The main program's map has an empty or relative name. */
    info->module = dl.dli_fname && dl.dli_fname[0] == '/' ? dl.dli_fname : bc_exe_path();
    if (dl.dli_sname) {
        char *nice = demangle(dl.dli_sname);
        info->function = nice ? nice : dl.dli_sname;
    }
}

bc_frame_info_t bc_symbolize(uintptr_t ra)
{
    bc_frame_info_t info;
    pthread_mutex_lock(&symbol_lock);
    symbol_entry_t *e = NULL;
    HASH_FIND(hh, symbol_cache, &ra, sizeof ra, e);
    if (e) {
        info = e->info;
    } else {
        resolve(ra, &info);
        e = malloc(sizeof *e);
        if (e) {
            e->ra = ra;
            e->info = info;
            HASH_ADD(hh, symbol_cache, ra, sizeof e->ra, e);
        }
    }
    pthread_mutex_unlock(&symbol_lock);
    return info;
}
