/* dlopen() each argument in turn, RTLD_NOW | RTLD_LOCAL, and print
 * "PATH: ok" or the loader's error: how the shim is loaded where LD_PRELOAD
 * is not used (a runtime that dlopen()s it). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        void *handle = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        printf("%s: %s\n", argv[i], handle ? "ok" : dlerror());
        failed |= handle == NULL;
    }
    return failed;
}
