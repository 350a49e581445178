/* The program of run.py: makes BSTRs directly or through a plugin that it
 * loads and unloads, so that what the shim loads and when it symbolizes
 * can be watched from outside.
 *   lazy-prog clean               allocate and free, no report to symbolize
 *   lazy-prog leak                leak one BSTR from main_leak_site
 *   lazy-prog plugin PATH MODE [NEW]
 *                                 dlopen PATH, call plugin_work(MODE is
 *                                 "leak"), dlclose it, check it is gone;
 *                                 then move NEW over PATH (a rebuild) */
#include "oleauto.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR main_leak_site(void)
{
    return SysAllocString(OLESTR("leaked by the program"));
}

static int is_mapped(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const char *base = strrchr(info->dlpi_name, '/');
    return base && strcmp(base + 1, (const char *)arg) == 0;
}

static int plugin(const char *path, int leak, const char *replacement)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    void *sym = dlsym(handle, "plugin_work");
    int (*work)(int);
    memcpy(&work, &sym, sizeof work);
    if (!work || !work(leak))
        return 1;
    if (dlclose(handle) != 0)
        return 1;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("unloaded=%d\n", !dl_iterate_phdr(is_mapped, (void *)base));
    if (replacement && rename(replacement, path) != 0) {
        perror("rename");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "clean") == 0) {
        BSTR s = SysAllocString(OLESTR("clean"));
        SysFreeString(s);
        return s ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "leak") == 0)
        return main_leak_site() ? 0 : 1;
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "plugin") == 0)
        return plugin(argv[2], strcmp(argv[3], "leak") == 0, argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: lazy-prog clean|leak|plugin PATH leak|clean [NEW]\n");
    return 2;
}
