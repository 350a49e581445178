// A C++ program that uses nothing of libstdc++ (no new, no streams, no
// exceptions): g++ links it with --as-needed, which drops libstdc++ from
// its DT_NEEDED, so the process has no __cxa_demangle of its own. Its leak
// is in Shop::Catalog::Consume, which the report must still name so.
#include "oleauto.h"

#include <dlfcn.h>
#include <stdio.h>

namespace Shop {
class Catalog {
public:
    __attribute__((noinline)) BSTR Consume(const char16_t *item)
    {
        return SysAllocString(item); // leaked by main
    }
};
} // namespace Shop

int main()
{
    // Is libstdc++ in the process? (RTLD_NOLOAD: look, do not load.)
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    printf("libstdc++ loaded: %s\n", libstdcxx ? "yes" : "no");
    Shop::Catalog catalog;
    BSTR item = catalog.Consume(u"apples");
    printf("%u\n", SysStringLen(item));
    return 0;
}
