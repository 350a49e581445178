// A C++ plugin that carries libstdc++ inside itself (-static-libstdc++,
// its symbols kept local with --exclude-libs), loaded by a C program with
// dlopen(RTLD_LOCAL): the process has no __cxa_demangle it could find. Its
// leak is in Shop::Catalog::Consume.
#include "oleauto.h"

#include <string>

namespace Shop {
class Catalog {
public:
    __attribute__((noinline)) BSTR Consume(const std::u16string &item)
    {
        return SysAllocString(item.c_str()); // leaked by the host
    }
};
} // namespace Shop

extern "C" __attribute__((visibility("default"))) unsigned catalog_run(void)
{
    Shop::Catalog catalog;
    std::u16string name(u"pears");
    name += u" and plums"; // libstdc++'s own code, linked in statically
    BSTR item = catalog.Consume(name);
    return SysStringLen(item);
}
