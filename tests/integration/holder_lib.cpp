// A shared library with a static BSTR holder, freed by its destructor.
#include "oleauto.h"

namespace {
struct LibHolder {
    BSTR value = SysAllocString(u"held by a library");
    ~LibHolder() { SysFreeString(value); }
} lib_holder;
} // namespace

extern "C" __attribute__((visibility("default"))) int holder_lib_touch(void)
{
    return (int)SysStringLen(lib_holder.value);
}
