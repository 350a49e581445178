/* A callee built without debug information (-g0): nothing tells the
 * verdicts that it takes a BSTR, so its free of one gets no verdict. */
#include "oleauto.h"

void nodebug_free_in(BSTR message);

__attribute__((noinline)) void nodebug_free_in(BSTR message)
{
    SysFreeString(message);
}
