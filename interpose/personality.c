/* The personality routine of the shim's own cleanup scopes (-fexceptions:
 * a C++ runtime may throw through an entry point). libgcc_s's, which the
 * compiler names, reads a frame through the functions of the unwinder
 * that calls it; an unwinder linked into the runtime itself (-static-libgcc)
 * has other ones, and libgcc_s's routine aborts on its frames. So calls
 * from libgcc_s go to its routine, and any other unwinder is told to go on
 * past the shim's frame (_URC_CONTINUE_UNWIND, which needs nothing of the
 * frame): the cleanups do not run, the thread's recursion depth stays
 * raised, and bc_unwound says so until the program's next call mends it
 * (bc_mend_unwound). ELF and the GNU unwinder's ABI. */
#include "bc.h"

#include <dlfcn.h>
#include <string.h>

#define URC_CONTINUE_UNWIND 8
#define UA_CLEANUP_PHASE 2

struct _Unwind_Exception;
struct _Unwind_Context;
typedef int (*personality_fn)(int, int, uint64_t, struct _Unwind_Exception *,
                              struct _Unwind_Context *);

__thread int bc_unwound __attribute__((tls_model("initial-exec")));

static personality_fn real_personality;
static uintptr_t libgcc_lo, libgcc_hi;

static bool resolve(void)
{
    if (__atomic_load_n(&libgcc_hi, __ATOMIC_ACQUIRE))
        return true;
    void *p = dlsym(RTLD_DEFAULT, "__gcc_personality_v0"); /* ours is hidden */
    bc_module_t m;
    if (!p || !bc_platform_module_of((uintptr_t)p, &m))
        return false;
    memcpy(&real_personality, &p, sizeof real_personality);
    libgcc_lo = m.lo;
    __atomic_store_n(&libgcc_hi, m.hi, __ATOMIC_RELEASE);
    return true;
}

/* used: the compiler refers to it only after link-time optimization has
 * chosen what to keep. */
__attribute__((visibility("hidden"), used)) int
__gcc_personality_v0(int version, int actions, uint64_t cls, struct _Unwind_Exception *e,
                     struct _Unwind_Context *context);
int __gcc_personality_v0(int version, int actions, uint64_t cls, struct _Unwind_Exception *e,
                         struct _Unwind_Context *context)
{
    uintptr_t from = (uintptr_t)__builtin_return_address(0);
    if (resolve() && from >= libgcc_lo && from < libgcc_hi)
        return real_personality(version, actions, cls, e, context);
    if (actions & UA_CLEANUP_PHASE)
        bc_unwound = 1; /* this frame goes without its cleanups */
    return URC_CONTINUE_UNWIND;
}
