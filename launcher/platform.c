/* The launcher's platform mechanics, all here: which variable preloads a
 * library (LD_PRELOAD or DYLD_INSERT_LIBRARIES), what the shim's file is
 * called, and where the running launcher lives (/proc/self/exe or
 * _NSGetExecutablePath). The shim is looked for relative to that, so an
 * installed tree or a build tree can move as a whole. */
#include "launcher.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if BC_OS_DARWIN
#include <mach-o/dyld.h>
#define SHIM_NAME "libbstrcheck.dylib"
#define PRELOAD_VAR "DYLD_INSERT_LIBRARIES"
#else
#define SHIM_NAME "libbstrcheck.so"
#define PRELOAD_VAR "LD_PRELOAD"
#endif

const char *bc_platform_preload_var(void)
{
    return PRELOAD_VAR;
}

/* The running launcher's own path (symlinks resolved) into OUT. */
static bool self_path(char *out, size_t outsz)
{
    char raw[PATH_MAX];
#if BC_OS_DARWIN
    uint32_t size = sizeof raw;
    if (_NSGetExecutablePath(raw, &size) != 0)
        return false;
#else
    ssize_t n = readlink("/proc/self/exe", raw, sizeof raw - 1);
    if (n <= 0)
        return false;
    raw[n] = '\0';
#endif
    char resolved[PATH_MAX];
    if (!realpath(raw, resolved) || strlen(resolved) >= outsz)
        return false;
    strcpy(out, resolved);
    return true;
}

/* DIR/RELATIVE/SHIM_NAME (RELATIVE may be absolute), resolved, if readable. */
static char *try_candidate(const char *dir, const char *relative)
{
    char path[PATH_MAX * 2];
    if (relative[0] == '/')
        snprintf(path, sizeof path, "%s/%s", relative, SHIM_NAME);
    else
        snprintf(path, sizeof path, "%s/%s/%s", dir, relative, SHIM_NAME);
    char resolved[PATH_MAX];
    if (access(path, R_OK) != 0 || !realpath(path, resolved))
        return NULL;
    return strdup(resolved);
}

char *bc_platform_find_shim(void)
{
    char dir[PATH_MAX];
    if (!self_path(dir, sizeof dir)) {
        bc_launcher_error("cannot find the launcher's own path (%s): %s",
                          BC_OS_DARWIN ? "_NSGetExecutablePath" : "/proc/self/exe",
                          strerror(errno));
        return NULL;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    /* Installed: <prefix>/<bindir>/bstrcheck and <prefix>/<libdir>/SHIM.
     * Build tree: build/launcher/bstrcheck and build/SHIM. */
    static const char *const layouts[] = {BC_LIBDIR_FROM_BINDIR, ".."};
    for (size_t i = 0; i < BC_ARRAY_LEN(layouts); i++) {
        char *shim = try_candidate(dir, layouts[i]);
        if (shim)
            return shim;
    }
    bc_launcher_error("cannot find %s: looked in %s%s%s and %s/..", SHIM_NAME,
                      BC_LIBDIR_FROM_BINDIR[0] == '/' ? "" : dir,
                      BC_LIBDIR_FROM_BINDIR[0] == '/' ? "" : "/", BC_LIBDIR_FROM_BINDIR, dir);
    return NULL;
}
