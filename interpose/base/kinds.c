/* The finding kinds' names and descriptions (kinds.h). Compiled into the
 * shim and into the launcher, so both write the same SARIF rules. */
#include "kinds.h"

#include <string.h>

const char *const bc_kind_names[BC_KIND_COUNT] = {
    [BC_KIND_LEAK] = "leak",
    [BC_KIND_DOUBLE_FREE] = "double_free",
    [BC_KIND_INVALID_FREE] = "invalid_free",
    [BC_KIND_USE_AFTER_FREE] = "use_after_free",
    [BC_KIND_OVERFLOW] = "overflow",
    [BC_KIND_PREFIX_CORRUPT] = "prefix_corrupt",
    [BC_KIND_INVALID_BSTR] = "invalid_bstr",
    [BC_KIND_MISMATCHED_FREE] = "mismatched_free",
};

const char *const bc_kind_descriptions[BC_KIND_COUNT] = {
    [BC_KIND_LEAK] = "A BSTR still live at exit (or at a checkpoint asked to report).",
    [BC_KIND_DOUBLE_FREE] = "SysFreeString or SysReAlloc* on a BSTR already freed.",
    [BC_KIND_INVALID_FREE] =
        "SysFreeString on a pointer that never was a BSTR, or points inside one.",
    [BC_KIND_USE_AFTER_FREE] =
        "A freed BSTR used: SysStringLen, SysStringByteLen, SysAddRefString or "
        "SysReleaseString on it, a write into its poisoned body, or a guard-page fault on it.",
    [BC_KIND_OVERFLOW] =
        "Bytes past a BSTR's terminator changed, or a guard-page fault past its end.",
    [BC_KIND_PREFIX_CORRUPT] = "A BSTR's length prefix no longer matches what was allocated.",
    [BC_KIND_INVALID_BSTR] = "SysStringLen, SysStringByteLen, SysReAlloc* or SysAddRefString "
                             "on a pointer that is not a BSTR.",
    [BC_KIND_MISMATCHED_FREE] = "free() or realloc() on a BSTR or its block.",
};

int bc_kind_from_name(const char *name)
{
    for (int k = 0; name && k < BC_KIND_COUNT; k++)
        if (strcmp(name, bc_kind_names[k]) == 0)
            return k;
    return -1;
}

const char *const bc_role_names[BC_ROLE_COUNT] = {
    "alloc", "free", "previous_free", "access",
};
