/* break_on_alloc: a hook on every tracked allocation (its ordinal and
 * BSTR), armed only when the option asks for one. */
#include "bc.h"

bool bc_break_armed;

void bc_break_check(uint64_t seq, bc_bstr_t bstr)
{
    (void)seq;
    (void)bstr;
}
