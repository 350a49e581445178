// Case 6's program (C++), linked against the throwing runtime
// (rt_throw.cpp). It asks for the magic length three times from
// SysAllocStringLen and twice from SysReAllocStringLen (with
// "realloc-first", SysReAllocStringLen first: a throw that left the shim's
// guard set would hide what a later one does), catches std::bad_alloc each
// time, and then goes on making, leaking and double-freeing BSTRs: those
// later bugs must still be reported, and the exit report must still come. The "rt:" lines say what the runtime did
// with the magic length; mode own, where bstrcheck is the runtime, returns
// NULL / FALSE instead (zoo.py substitutes those lines there).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "zoo_prog.h"

typedef char16_t OLECHAR;
typedef OLECHAR *BSTR;

extern "C" {
BSTR SysAllocString(const OLECHAR *);
BSTR SysAllocStringLen(const OLECHAR *, unsigned);
int SysReAllocString(BSTR *, const OLECHAR *);
int SysReAllocStringLen(BSTR *, const OLECHAR *, unsigned);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);
int ZooOwns(BSTR);
}

static const unsigned ZOO_THROW_LEN = 0x80000001u;
static unsigned long allocations;

static void show(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b), bytes = SysStringByteLen(b);
    std::printf("%s: len=%u bytes=%u prefix=%u text=", what, len, bytes, (unsigned)zoo_prefix(b));
    zoo_print_text(b, len, 2);
    std::printf("\nlayout: %s align8=%u owned=%d\n", what, zoo_align8(b), ZooOwns(b));
}

static BSTR counted(BSTR b)
{
    allocations += b != nullptr;
    return b;
}

NOINLINE static void huge_alloc()
{
    try {
        BSTR h = SysAllocStringLen(nullptr, ZOO_THROW_LEN);
        std::printf("rt: huge alloc returned %s\n", h ? "a BSTR" : "NULL");
        SysFreeString(h);
    } catch (const std::bad_alloc &) {
        std::printf("rt: huge alloc threw bad_alloc\n");
    }
}

NOINLINE static void huge_realloc(BSTR *pb)
{
    try {
        int ok = SysReAllocStringLen(pb, u"never", ZOO_THROW_LEN);
        std::printf("rt: huge realloc returned %d\n", ok);
    } catch (const std::bad_alloc &) {
        std::printf("rt: huge realloc threw bad_alloc\n");
    }
}

NOINLINE static void leak_after_throw()
{
    zoo_sink = reinterpret_cast<uintptr_t>(counted(SysAllocString(u"leaked after the throw")));
}

NOINLINE static void double_free_after_throw()
{
    BSTR b = counted(SysAllocString(u"freed twice after the throw"));
    SysFreeString(b);
    SysFreeString(b);
}

int main(int argc, char **argv)
{
    bool realloc_first = argc > 1 && std::strcmp(argv[1], "realloc-first") == 0;
    BSTR a = counted(SysAllocString(u"made before the throw"));
    show("before", a);
    if (realloc_first)
        huge_realloc(&a);
    for (int i = 0; i < 3; i++)
        huge_alloc();
    if (!realloc_first)
        huge_realloc(&a);
    show("kept", a); // *pbstr untouched by the failed re-allocation
    huge_realloc(&a);

    BSTR c = counted(SysAllocString(u"made after the throw"));
    int ok = SysReAllocString(&c, u"re-allocated after the throw");
    allocations += ok == 1;
    show("after", c);
    SysFreeString(c);
    SysFreeString(a);
    for (int i = 0; i < 2; i++)
        leak_after_throw();
    double_free_after_throw();
    std::printf("count: allocations=%lu\n", allocations);
    return 0;
}
