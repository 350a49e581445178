/* A C program that loads a C++ plugin (catalog_plugin.cpp, libstdc++
 * linked into it statically) with dlopen(RTLD_LOCAL) and calls it. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: host PLUGIN\n");
        return 2;
    }
    void *plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        fprintf(stderr, "host: %s\n", dlerror());
        return 1;
    }
    unsigned (*run)(void);
    void *sym = dlsym(plugin, "catalog_run");
    *(void **)&run = sym;
    if (!run)
        return 1;
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    printf("libstdc++ loaded: %s\n", libstdcxx ? "yes" : "no");
    printf("%u\n", run());
    return 0; /* the plugin stays loaded: its leak is reported at exit */
}
