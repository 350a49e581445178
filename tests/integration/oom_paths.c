/* Fault injection's test program: `oom_paths MODE [N]`.
 *   walk N        N calls of make_person(), a COM-style function with three
 *                 allocations and careful cleanup on each failure. Under
 *                 fail_once_per_stack=1 each of its error paths runs once;
 *                 the report must show no leak.
 *   walk_buggy N  the same with make_person_buggy(), which leaks its first
 *                 string when the second allocation fails: the injection
 *                 must expose that leak.
 *   sequence N    N SysAllocString calls; prints the ordinals that got NULL
 *                 and a digest of them (fail_nth, fail_rate, fail_seed)
 *   realloc       a failed SysReAllocString/SysReAllocStringLen must return
 *                 FALSE and leave *pbstr as it was
 * Every BSTR that was made is freed, so only planted bugs leak. */
#include "oleauto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE HRESULT make_person(BSTR *out_name, BSTR *out_title)
{
    BSTR name = SysAllocString(OLESTR("Ada Lovelace"));
    if (!name)
        return E_OUTOFMEMORY;
    BSTR title = SysAllocStringLen(OLESTR("Dr."), 3);
    if (!title) {
        SysFreeString(name);
        return E_OUTOFMEMORY;
    }
    if (!SysReAllocString(&title, OLESTR("Countess"))) {
        SysFreeString(title); /* untouched by the failed call: still ours */
        SysFreeString(name);
        return E_OUTOFMEMORY;
    }
    *out_name = name;
    *out_title = title;
    return S_OK;
}

static NOINLINE HRESULT make_person_buggy(BSTR *out_name, BSTR *out_title)
{
    BSTR name = SysAllocString(OLESTR("Ada Lovelace"));
    if (!name)
        return E_OUTOFMEMORY;
    BSTR title = SysAllocStringLen(OLESTR("Dr."), 3);
    if (!title)
        return E_OUTOFMEMORY; /* the bug: name leaks on this path */
    *out_name = name;
    *out_title = title;
    return S_OK;
}

static int walk(int n, HRESULT (*make)(BSTR *, BSTR *))
{
    int ok = 0, oom = 0, other = 0;
    for (int i = 0; i < n; i++) {
        BSTR name = NULL, title = NULL;
        HRESULT hr = make(&name, &title);
        if (hr == S_OK && name && title) {
            ok++;
            SysFreeString(name);
            SysFreeString(title);
        } else if (hr == E_OUTOFMEMORY) {
            oom++;
        } else {
            other++;
        }
    }
    printf("ok=%d oom=%d other=%d\n", ok, oom, other);
    return other ? 1 : 0;
}

static int sequence(int n)
{
    unsigned long long digest = 1469598103934665603ull; /* FNV-1a of the NULL ordinals */
    int nulls = 0;
    printf("null at:");
    for (int i = 1; i <= n; i++) {
        BSTR b = SysAllocString(OLESTR("x"));
        if (b) {
            SysFreeString(b);
            continue;
        }
        nulls++;
        digest = (digest ^ (unsigned)i) * 1099511628211ull;
        if (nulls <= 20)
            printf(" %d", i);
    }
    printf("\nnulls=%d digest=%llx\n", nulls, digest);
    return 0;
}

/* A failed SysReAlloc* returns FALSE and leaves *pbstr, and the string
 * it points to, as they were. */
static int realloc_untouched(void)
{
    BSTR b = SysAllocString(OLESTR("keep")); /* attempt 1 */
    BSTR before = b;
    int ok1 = SysReAllocString(&b, OLESTR("new one")); /* attempt 2 */
    int same1 = b == before && SysStringLen(b) == 4 && memcmp(b, OLESTR("keep"), 8) == 0;
    before = b;
    UINT len = SysStringLen(b);
    int ok2 = SysReAllocStringLen(&b, OLESTR("other"), 5); /* attempt 3 */
    int same2 = b == before && SysStringLen(b) == len;
    BSTR c = SysAllocStringByteLen("bytes", 5); /* attempt 4 */
    printf("realloc=%d untouched=%d realloc_len=%d untouched=%d byte_len=%s\n", ok1, same1, ok2,
           same2, c ? "made" : "null");
    SysFreeString(b);
    SysFreeString(c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 10;
    if (strcmp(mode, "walk") == 0)
        return walk(n, make_person);
    if (strcmp(mode, "walk_buggy") == 0)
        return walk(n, make_person_buggy);
    if (strcmp(mode, "sequence") == 0)
        return sequence(n);
    if (strcmp(mode, "realloc") == 0)
        return realloc_untouched();
    fprintf(stderr, "usage: oom_paths walk|walk_buggy|sequence|realloc [N]\n");
    return 2;
}
