/* The recursion guard. A counter, not a flag: a real runtime's
 * SysAllocString may call SysAllocStringLen through its PLT, and only the
 * outermost call may record. initial-exec TLS keeps the hot test a single
 * %fs-relative load, with no call into the dynamic linker. */
#include "bc.h"

__thread int bc_depth __attribute__((tls_model("initial-exec")));

/* The outermost Sys* entry point's frame on this thread: its saved return
 * address is the program's call, so unwind=fp starts there and never walks
 * the shim's own frames. */
__thread uintptr_t bc_entry_frame __attribute__((tls_model("initial-exec")));

/* Calls passed straight to a real runtime, in progress on this thread. */
__thread int bc_passing __attribute__((tls_model("initial-exec")));
