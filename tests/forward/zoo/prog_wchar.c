/* Case 5's program, linked against the p7zip-like wchar_t runtime
 * (rt_wchar.c): 4-byte characters, so a call served at width 2 changes
 * every length and text below. One planted leak. */
#include <stdint.h>
#include <stdio.h>
#include <wchar.h>

#include "zoo_prog.h"

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
BSTR SysAllocStringLen(const OLECHAR *, unsigned);
BSTR SysAllocStringByteLen(const char *, unsigned);
int SysReAllocString(BSTR *, const OLECHAR *);
int SysReAllocStringLen(BSTR *, const OLECHAR *, unsigned);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
unsigned SysStringByteLen(BSTR);

static unsigned long allocations;

static void show(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b), bytes = SysStringByteLen(b);
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 4));
    zoo_print_text(b, len, 4);
    printf("\nlayout: %s align8=%u\n", what, zoo_align8(b));
}

static BSTR counted(BSTR b)
{
    allocations += b != NULL;
    return b;
}

NOINLINE static void leak_wide(void)
{
    zoo_sink = (uintptr_t)counted(SysAllocString(L"leaked wide string"));
}

int main(void)
{
    BSTR a = counted(SysAllocString(L"wide \u00e9t\u00e9 string"));
    show("alloc", a);
    int ok = SysReAllocString(&a, L"re-allocated wide");
    allocations += ok == 1;
    show("realloc", a);
    ok = SysReAllocStringLen(&a, a + 3, 6);
    allocations += ok == 1;
    show("realloc-self", a);
    BSTR n = counted(SysAllocStringLen(L"x\0y", 3));
    show("embedded-nul", n);
    BSTR odd = counted(SysAllocStringByteLen("abcdefg", 7));
    show("bytelen-odd", odd);
    BSTR e = counted(SysAllocString(L""));
    show("empty", e);
    SysFreeString(a);
    SysFreeString(n);
    SysFreeString(odd);
    SysFreeString(e);
    leak_wide();
    printf("count: allocations=%lu\n", allocations);
    return 0;
}
