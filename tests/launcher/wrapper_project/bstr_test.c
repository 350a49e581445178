/* One test program, built twice: "frees" frees its BSTR, "leaks" (-DLEAK)
 * does not. The BSTR runtime is the shim the wrapper preloads: the Sys*
 * references are weak, and without a runtime the test is skipped (77). */
#include <stdint.h>

typedef uint16_t *BSTR;
BSTR SysAllocString(const uint16_t *psz) __attribute__((weak));
void SysFreeString(BSTR bstr) __attribute__((weak));

int main(void)
{
    static const uint16_t text[] = {'w', 'r', 'a', 'p', 0};
    if (!SysAllocString || !SysFreeString)
        return 77;
    BSTR s = SysAllocString(text);
#ifndef LEAK
    SysFreeString(s);
#endif
    return s ? 0 : 1;
}
