/* The personality routine of the shim's own cleanup scopes (-fexceptions:
 * a C++ runtime may throw through an entry point). libgcc_s's, which the
 * compiler names, reads a frame through the functions of the unwinder
 * that calls it; an unwinder linked into the runtime itself (-static-libgcc)
 * has other ones, and libgcc_s's routine aborts on its frames. So calls
 * from the unwinder the shim is linked against (the module of its own
 * _Unwind_Resume) go to that unwinder's routine, and any other unwinder is
 * told to go on past the shim's frame (_URC_CONTINUE_UNWIND, which needs
 * nothing of the frame): the cleanups do not run, and lost_cleanups does
 * their work. ELF and the Itanium unwinding ABI. */
#include "hooks.h"

#include <string.h>

#define URC_CONTINUE_UNWIND 8
#define UA_CLEANUP_PHASE 2
#define UA_FORCE_UNWIND 8

struct _Unwind_Exception;
struct _Unwind_Context;
typedef int (*personality_fn)(int, int, uint64_t, struct _Unwind_Exception *,
                              struct _Unwind_Context *);
/* The shim's cleanups call it: its module is the unwinder they belong to. */
void _Unwind_Resume(struct _Unwind_Exception *);

static personality_fn real_personality;
static uintptr_t unwinder_lo, unwinder_hi;

void bc_personality_init(void)
{
    void (*resume_fn)(struct _Unwind_Exception *) = _Unwind_Resume;
    void *resume;
    memcpy(&resume, &resume_fn, sizeof resume);
    bc_module_t m;
    if (!bc_platform_module_of((uintptr_t)resume, &m))
        return;
    void *p = bc_platform_symbol_near(resume, "__gcc_personality_v0");
    if (!p)
        return;
    memcpy(&real_personality, &p, sizeof real_personality);
    unwinder_lo = m.lo;
    __atomic_store_n(&unwinder_hi, m.hi, __ATOMIC_RELEASE);
}

/* The start of the unwinder's exception object (the Itanium C++ ABI):
 * in the cleanup phase, both GNU's and LLVM's unwinders keep the stack
 * address of the frame that catches in private_2. */
typedef struct exception_header {
    uint64_t exception_class;
    void (*cleanup)(int, struct _Unwind_Exception *);
    uintptr_t private_1, private_2;
} exception_header_t;

/* One of the shim's frames goes without its cleanups. When the frame that
 * catches is above the outermost entry point's (the program catches), the
 * whole call is over: the thread's state is set back at once, as the
 * cleanups would have. Else (the runtime catches its own exception inside
 * the call) the call goes on, and its end clears what was left
 * (BC_GUARD_LEAVE). A forced unwind (thread cancellation) ends it all. */
static void lost_cleanups(int actions, struct _Unwind_Exception *e)
{
    exception_header_t h;
    memcpy(&h, e, sizeof h);
    uintptr_t catcher = (actions & UA_FORCE_UNWIND) ? UINTPTR_MAX : h.private_2;
    if (bc_entry_frame && catcher > bc_entry_frame) {
        bc_depth = 0;
        bc_passing = 0;
        bc_forwarding_rt = 0;
        bc_entry_frame = 0;
        bc_unwound = 0;
    } else {
        bc_unwound = 1;
    }
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
    uintptr_t hi = __atomic_load_n(&unwinder_hi, __ATOMIC_ACQUIRE);
    if (hi && from >= unwinder_lo && from < hi)
        return real_personality(version, actions, cls, e, context);
    if (actions & UA_CLEANUP_PHASE)
        lost_cleanups(actions, e);
    return URC_CONTINUE_UNWIND;
}

