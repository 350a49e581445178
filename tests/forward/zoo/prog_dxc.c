/* Case 7's program, linked against the three-function DXC-like runtime
 * (rt_dxc.c): it can only call SysAllocString, SysStringLen and
 * SysFreeString. The prefix it reads is the byte length (chars * 4). One
 * planted leak, whose "bytes" and "sample" the report must get right. */
#include <stdint.h>
#include <stdio.h>
#include <wchar.h>

#include "zoo_prog.h"

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);

static void show(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b);
    printf("%s: len=%u prefix=%u terminated=%d text=", what, len, (unsigned)zoo_prefix(b),
           zoo_terminated(b, len * 4, 4));
    zoo_print_text(b, len, 4);
    printf("\nlayout: %s align8=%u\n", what, zoo_align8(b));
}

NOINLINE static void leak_dxc(void)
{
    zoo_sink = (uintptr_t)SysAllocString(L"leaked by dxc");
}

int main(void)
{
    BSTR a = SysAllocString(L"float4 main() : SV_Target");
    show("source", a);
    BSTR e = SysAllocString(L"");
    show("empty", e);
    for (int i = 0; i < 100; i++) {
        BSTR t = SysAllocString(L"temporary");
        if (SysStringLen(t) != 9)
            printf("wrong length at %d\n", i);
        SysFreeString(t);
    }
    printf("null: %d %u\n", SysAllocString(NULL) == NULL, SysStringLen(NULL));
    SysFreeString(a);
    SysFreeString(e);
    leak_dxc();
    printf("count: allocations=103\n");
    return 0;
}
