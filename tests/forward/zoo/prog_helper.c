/* Case 8b: see lib_helper.c. argv[1]: the helper library. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

int main(int argc, char **argv)
{
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    void (*show)(const wchar_t *);
    void (*leak)(void);
    void *s = dlsym(h, "helper_show"), *l = dlsym(h, "helper_leak");
    memcpy(&show, &s, sizeof show);
    memcpy(&leak, &l, sizeof leak);
    if (!show || !leak)
        return 3;
    show(L"through the helper");
    leak();
    printf("done\n");
    return 0;
}
