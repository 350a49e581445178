/* The bstrcheck_* client API (include/bstrcheck.h). */
#define BSTRCHECK_SHIM_BUILD 1
#include "bstrcheck.h"

#include "hooks.h"
#include "report.h"

BC_EXPORT int bstrcheck_is_active(void)
{
    return 1;
}

BC_EXPORT uint64_t bstrcheck_checkpoint(void)
{
    bc_ensure_init();
    return bc_table_next_seq();
}

BC_EXPORT size_t bstrcheck_leaks_since(uint64_t marker, int report)
{
    bc_ensure_init();
    return bc_report_leaks_since(marker, report != 0);
}

BC_EXPORT void bstrcheck_report_now(void)
{
    bc_ensure_init();
    bc_report_now();
}

/* The BSTR counterpart of __asan_describe_address (report/describe.c). */
BC_EXPORT size_t bstrcheck_describe(const void *p, char *buf, size_t size)
{
    bc_ensure_init();
    bc_depth++; /* the shim's own work: nothing here is the program's */
    size_t len = bc_describe(p, buf, size);
    bc_depth--;
    return len;
}
