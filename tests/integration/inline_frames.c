/* Inlined calls get frames of their own in a report: make_label is always
 * inlined into build_label, which is never inlined. The leak's allocation
 * stack must read make_label (inlined) then build_label, each with its
 * own line. */
#include "oleauto.h"

#include <stdio.h>

static BSTR volatile last_label; /* a store after the call: no tail call */

static inline __attribute__((always_inline)) BSTR make_label(const OLECHAR *text)
{
    BSTR b = SysAllocString(text); /* INLINE-CALL-LINE */
    last_label = b;
    return b;
}

__attribute__((noinline)) static BSTR build_label(void)
{
    return make_label(OLESTR("inlined")); /* OUTER-CALL-LINE */
}

int main(void)
{
    BSTR b = build_label();
    printf("%u\n", SysStringLen(b));
    return 0; /* b leaks */
}
