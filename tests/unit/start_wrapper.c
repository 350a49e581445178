/* A library that wraps __libc_start_main, as preloaded tools do, linked
 * into test_symbolize: the symbolizer must still find libc's own start-up
 * code, not this library. */
#include <dlfcn.h>
#include <string.h>

typedef int (*main_fn_t)(int, char **, char **);
typedef int (*start_main_fn_t)(main_fn_t, int, char **, void (*)(void), void (*)(void),
                               void (*)(void), void *);

int __libc_start_main(main_fn_t main_fn, int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    void *sym = dlsym(RTLD_NEXT, "__libc_start_main");
    start_main_fn_t real;
    memcpy(&real, &sym, sizeof real);
    return real(main_fn, argc, argv, init, fini, rtld_fini, stack_end);
}
