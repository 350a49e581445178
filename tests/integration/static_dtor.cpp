// BSTRs held by static objects and freed by their destructors are not
// leaks: bstrcheck's report runs after static destructors, including those
// of a shared library the program links.
#include "oleauto.h"

#include <cstdio>

extern "C" int holder_lib_touch(void);

namespace {

struct Holder {
    BSTR value;
    explicit Holder(const OLECHAR *text) : value(SysAllocString(text)) {}
    ~Holder() { SysFreeString(value); }
};

Holder global_holder(u"global");

Holder &function_local()
{
    static Holder local(u"function-local static");
    return local;
}

} // namespace

int main()
{
    std::printf("%u %u %d\n", SysStringLen(global_holder.value),
                SysStringLen(function_local().value), holder_lib_touch());
    return 0;
}
