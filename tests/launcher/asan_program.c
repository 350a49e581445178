/* An AddressSanitizer-instrumented program that makes BSTRs (built with
 * -fsanitize=address, so libasan is in its DT_NEEDED list): one freed, one
 * leaked. Under the launcher it must run, and the shim report its leak. */
#include "oleauto.h"

#include <stdio.h>

int main(void)
{
    BSTR kept = SysAllocString(u"kept by asan_program");
    BSTR freed = SysAllocString(u"freed");
    printf("length %u\n", SysStringLen(freed));
    SysFreeString(freed);
    (void)kept;
    return 0;
}
