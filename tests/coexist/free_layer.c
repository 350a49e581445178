/* A preload library that defines free() alone and hands every call on
 * (dlsym(RTLD_NEXT)), as a free() tracer would. With it ahead of the shim,
 * malloc() and free() come from different libraries: the shim cannot match
 * the malloc family as a set, so it warns once and lets free() and
 * realloc() pass straight through (the "split" case of run.py). */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

typedef void (*free_fn)(void *);

void free(void *p)
{
    static free_fn next;
    static __thread volatile int resolving; /* volatile: dlsym calls back in here */
    if (!next) {
        if (resolving)
            return; /* dlsym freeing as we look: dropped */
        resolving = 1;
        void *found = dlsym(RTLD_NEXT, "free");
        resolving = 0;
        memcpy(&next, &found, sizeof next);
        if (!next)
            return;
    }
    next(p);
}
