/* Conformance: every fact of BSTR-CONTRACT.md's "Layout" and "Functions (own
 * mode)" sections, checked against libbstrcheck.so as the program's BSTR
 * runtime. Built twice: plain (OLECHAR = char16_t, run with olechar=2) and
 * with -DOLECHAR_IS_WCHAR_T (OLECHAR = wchar_t, run with olechar=4).
 *
 * Output is TAP (plan printed last). Every BSTR this program allocates is
 * freed, so the shim must find nothing at exit: the exit status (0, not the
 * shim's exitcode) checks that its bookkeeping matches the contract too.
 *
 *   conformance             the main checks
 *   conformance pbstr-null  SysReAlloc*(NULL, ...) returns FALSE; the shim
 *                           reports it, so run this with exitcode=0
 *   conformance child KIND  one misuse (double free, invalid free, pbstr
 *                           NULL), run by the main checks in a child
 *                           process with exitcode=42: the child must not
 *                           crash, and its exit status shows it was reported
 */
#include "oleauto.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define W ((size_t)sizeof(OLECHAR))

/* The client API (INTERFACE.md), called directly: this program links
 * libbstrcheck.so, which exports it. Declared here rather than through
 * include/bstrcheck.h so the checks depend on nothing but the shim. */
int bstrcheck_is_active(void);
uint64_t bstrcheck_checkpoint(void);
size_t bstrcheck_leaks_since(uint64_t marker, int report);

/* A length whose byte count no longer fits the 32-bit prefix. */
#ifdef OLECHAR_IS_WCHAR_T
#define HUGE_LEN 0x40000000u
#else
#define HUGE_LEN 0x80000000u
#endif

static unsigned n_checks;
static unsigned n_failed;
static int child_mode; /* print "R|desc|diag" lines for the parent instead of TAP */

/* One TAP line; on failure, DIAG (printf format) explains expected vs got. */
__attribute__((format(printf, 3, 4)))
static int check(int cond, const char *desc, const char *diag, ...)
{
    n_checks++;
    if (child_mode) {
        va_list ap;
        va_start(ap, diag);
        printf("%d|%s|", cond ? 1 : 0, desc);
        vprintf(diag, ap);
        putchar('\n');
        va_end(ap);
        fflush(stdout);
        return cond;
    }
    printf("%s %u - %s\n", cond ? "ok" : "not ok", n_checks, desc);
    if (!cond) {
        n_failed++;
        va_list ap;
        va_start(ap, diag);
        fputs("# ", stdout);
        vprintf(diag, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    fflush(stdout);
    return cond;
}

static char desc_buf[512];

__attribute__((format(printf, 1, 2)))
static const char *D(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc_buf, sizeof desc_buf, fmt, ap);
    va_end(ap);
    return desc_buf;
}

static uint32_t read_prefix(BSTR b)
{
    uint32_t p;
    memcpy(&p, (const char *)b - 4, sizeof p);
    return p;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static size_t live_since(uint64_t mark)
{
    return bstrcheck_leaks_since(mark, 0);
}

/* The index of the first byte where A and B differ, or N. */
static size_t first_diff(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    size_t i = 0;
    while (i < n && x[i] == y[i])
        i++;
    return i;
}

/* Every layout fact of one BSTR that should hold BYTES bytes. EXPECT (may be
 * NULL: contents unspecified) holds the bytes it should start with, EXPECT_N
 * of them. Each fact is its own check; a NULL BSTR fails them all. */
static void check_bstr(const char *what, BSTR b, size_t bytes, const void *expect, size_t expect_n)
{
    const unsigned char *data = (const unsigned char *)b;
    char name[256];
    snprintf(name, sizeof name, "%s", what);

    check(b != NULL, D("%s: returns a BSTR (not NULL)", name), "expected non-NULL, got NULL");

    check(b && (uintptr_t)b % sizeof(void *) == 0,
          D("%s: pointer is pointer-aligned (%zu)", name, sizeof(void *)),
          "expected address %% %zu == 0, got %p (remainder %zu)", sizeof(void *), (void *)b,
          (size_t)((uintptr_t)b % sizeof(void *)));

    uint32_t prefix = b ? read_prefix(b) : 0;
    check(b && prefix == bytes, D("%s: 4 bytes before the pointer hold the length in bytes (%zu)", name, bytes),
          "expected prefix %zu, got %s%lu", bytes, b ? "" : "(NULL) ", (unsigned long)prefix);

    UINT bl = b ? SysStringByteLen(b) : 0;
    check(b && bl == bytes, D("%s: SysStringByteLen == %zu", name, bytes),
          "expected %zu, got %u", bytes, bl);

    UINT cl = b ? SysStringLen(b) : 0;
    check(b && cl == bytes / W && cl == prefix / W,
          D("%s: SysStringLen == prefix / sizeof(OLECHAR) == %zu", name, bytes / W),
          "expected %zu (prefix %lu / %zu), got %u", bytes / W, (unsigned long)prefix, W, cl);

    if (expect) {
        size_t at = b ? first_diff(data, expect, expect_n) : 0;
        check(b && at == expect_n, D("%s: contents are the %zu expected bytes", name, expect_n),
              "first difference at byte %zu: expected 0x%02x, got %s0x%02x", at,
              at < expect_n ? ((const unsigned char *)expect)[at] : 0, b ? "" : "(NULL) ",
              b && at < expect_n ? data[at] : 0);
    }

    size_t r = round_up(bytes, W);
    if (r != bytes) {
        check(b && data[bytes] == 0, D("%s: NUL byte at byte [%zu]", name, bytes),
              "expected 0x00, got %s0x%02x", b ? "" : "(NULL) ", b ? data[bytes] : 0);
    }
    size_t nz = W;
    size_t bad = 0;
    if (b) {
        for (nz = 0; nz < W; nz++)
            if (data[r + nz] != 0)
                break;
        bad = nz < W ? data[r + nz] : 0;
    }
    check(b && nz == W, D("%s: whole NUL OLECHAR at byte [%zu] (char [%zu])", name, r, r / W),
          "expected %zu zero bytes from byte %zu, got %s0x%02zx at byte %zu", W, r,
          b ? "" : "(NULL) ", bad, r + nz);
}

static void check_freed(const char *what, uint64_t mark, size_t expect_live)
{
    size_t live = live_since(mark);
    check(live == expect_live, what, "expected %zu BSTRs live since the mark, got %zu", expect_live, live);
}

/* ---------------------------------------------------------------- Layout */

static void test_layout_sweep(void)
{
    /* Pointer alignment, prefix and terminator over many sizes. */
    size_t bad_n = SIZE_MAX;
    const char *why = "";
    uintptr_t addr = 0;
    for (size_t n = 0; n <= 64 && bad_n == SIZE_MAX; n++) {
        BSTR b = SysAllocStringLen(NULL, (UINT)n);
        addr = (uintptr_t)b;
        if (!b) {
            bad_n = n, why = "NULL";
        } else if ((uintptr_t)b % sizeof(void *)) {
            bad_n = n, why = "misaligned";
        } else if (read_prefix(b) != n * W) {
            bad_n = n, why = "wrong prefix";
        } else if (b[n] != 0) {
            bad_n = n, why = "not terminated";
        }
        SysFreeString(b);
    }
    check(bad_n == SIZE_MAX,
          "SysAllocStringLen(NULL, 0..64): all pointer-aligned, prefix n*sizeof(OLECHAR), terminated",
          "failed at n=%zu: %s (address 0x%lx)", bad_n, why, (unsigned long)addr);

    bad_n = SIZE_MAX;
    for (size_t n = 0; n <= 64 && bad_n == SIZE_MAX; n++) {
        BSTR b = SysAllocStringByteLen(NULL, (UINT)n);
        const unsigned char *d = (const unsigned char *)b;
        size_t r = round_up(n, W);
        addr = (uintptr_t)b;
        if (!b) {
            bad_n = n, why = "NULL";
        } else if ((uintptr_t)b % sizeof(void *)) {
            bad_n = n, why = "misaligned";
        } else if (read_prefix(b) != n) {
            bad_n = n, why = "wrong prefix";
        } else if (d[n] != 0) {
            bad_n = n, why = "no NUL byte at [len]";
        } else {
            for (size_t i = 0; i < W; i++)
                if (d[r + i] != 0)
                    bad_n = n, why = "no NUL OLECHAR at the next character boundary";
        }
        SysFreeString(b);
    }
    check(bad_n == SIZE_MAX,
          "SysAllocStringByteLen(NULL, 0..64): all pointer-aligned, prefix len, NUL byte and NUL OLECHAR",
          "failed at len=%zu: %s (address 0x%lx)", bad_n, why, (unsigned long)addr);
}

/* -------------------------------------------------------- SysAllocString */

static void test_alloc_string(void)
{
    BSTR b = SysAllocString(NULL);
    check(b == NULL, "SysAllocString(NULL) returns NULL", "expected NULL, got %p", (void *)b);
    SysFreeString(b);

    b = SysAllocString(OLESTR(""));
    check_bstr("SysAllocString(\"\")", b, 0, NULL, 0);
    SysFreeString(b);

    static const OLECHAR abc[] = OLESTR("abc");
    b = SysAllocString(abc);
    check_bstr("SysAllocString(\"abc\")", b, 3 * W, abc, 3 * W);
    check(b != abc, "SysAllocString(\"abc\"): returns a copy, not the argument",
          "expected a new pointer, got the argument %p", (void *)b);
    SysFreeString(b);

    /* Copies up to the terminator, not beyond. */
    static const OLECHAR two[] = {'a', 'b', 0, 'c', 'd', 0};
    b = SysAllocString(two);
    check_bstr("SysAllocString({a,b,0,c,d,0}) stops at the first NUL", b, 2 * W, two, 2 * W);
    SysFreeString(b);

    /* Characters whose low byte / low half is zero: the terminator is a
     * whole OLECHAR, not a zero byte or 16-bit unit. */
#ifdef OLECHAR_IS_WCHAR_T
    static const OLECHAR wide[] = {0x00010000, 0x0010FFFF, 0x01000000, 0x00000100, 0x000000FF, 0};
#else
    static const OLECHAR wide[] = {0x0100, 0xFFFF, 0x00FF, 0xD83D, 0xDE00, 0};
#endif
    b = SysAllocString(wide);
    check_bstr("SysAllocString(characters with zero low bytes)", b, 5 * W, wide, 5 * W);
    SysFreeString(b);

    enum { LONG_N = 1000 };
    OLECHAR *lng = malloc((LONG_N + 1) * W);
    for (size_t i = 0; i < LONG_N; i++)
        lng[i] = (OLECHAR)('a' + i % 26);
    lng[LONG_N] = 0;
    b = SysAllocString(lng);
    check_bstr("SysAllocString(1000 characters)", b, LONG_N * W, lng, LONG_N * W);
    SysFreeString(b);
    free(lng);
}

/* ----------------------------------------------------- SysAllocStringLen */

static void test_alloc_string_len(void)
{
    static const OLECHAR hello[] = OLESTR("hello");
    BSTR b = SysAllocStringLen(hello, 3);
    check_bstr("SysAllocStringLen(\"hello\", 3) copies 3 and terminates at [3]", b, 3 * W, hello, 3 * W);
    SysFreeString(b);

    b = SysAllocStringLen(hello, 0);
    check_bstr("SysAllocStringLen(\"hello\", 0) is empty", b, 0, NULL, 0);
    SysFreeString(b);

    static const OLECHAR emb[] = {'a', 0, 'b', 0, 'c', 'x', 0};
    b = SysAllocStringLen(emb, 5);
    check_bstr("SysAllocStringLen({a,0,b,0,c}, 5): embedded NULs copied and counted", b, 5 * W, emb, 5 * W);
    SysFreeString(b);

    b = SysAllocStringLen(NULL, 0);
    check_bstr("SysAllocStringLen(NULL, 0) is an empty BSTR", b, 0, NULL, 0);
    SysFreeString(b);

    b = SysAllocStringLen(NULL, 10);
    check_bstr("SysAllocStringLen(NULL, 10) allocated, terminated at [10]", b, 10 * W, NULL, 0);
    SysFreeString(b);

    const UINT huge[] = {HUGE_LEN, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        if (i > 0 && huge[i] == huge[0])
            continue;
        b = SysAllocStringLen(NULL, huge[i]);
        check(b == NULL,
              D("SysAllocStringLen(NULL, 0x%X): byte count does not fit 32 bits -> NULL", huge[i]),
              "expected NULL, got %p (prefix %lu)", (void *)b, b ? (unsigned long)read_prefix(b) : 0ul);
        SysFreeString(b);
    }
}

/* ------------------------------------------------- SysAllocStringByteLen */

static void test_alloc_string_byte_len(void)
{
    /* Source bytes, one of them NUL (embedded NULs are copied). */
    static const unsigned char src[] = {0x11, 0x22, 0x00, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA};
    for (UINT len = 0; len <= 9; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, src, len);
        BSTR b = SysAllocStringByteLen((const char *)copy, len);
        check_bstr(D("SysAllocStringByteLen(bytes, %u)", len), b, len, src, len);
        free(copy);
        SysFreeString(b);
    }

    /* The contract's own examples of rounding down. */
    static const UINT ex[] = {5, 1};
    for (size_t i = 0; i < 2; i++) {
        BSTR b = SysAllocStringByteLen("abcdefgh", ex[i]);
        UINT cl = SysStringLen(b), bl = SysStringByteLen(b);
        check(b && cl == ex[i] / W && bl == ex[i],
              D("SysAllocStringByteLen(.., %u): SysStringLen rounds down to %zu, SysStringByteLen %u",
                ex[i], ex[i] / W, ex[i]),
              "expected SysStringLen %zu / SysStringByteLen %u, got %u / %u%s", ex[i] / W, ex[i], cl,
              bl, b ? "" : " (NULL BSTR)");
        SysFreeString(b);
    }

    static const UINT nlens[] = {0, 1, 5, 7, 8};
    for (size_t i = 0; i < sizeof nlens / sizeof nlens[0]; i++) {
        BSTR b = SysAllocStringByteLen(NULL, nlens[i]);
        check_bstr(D("SysAllocStringByteLen(NULL, %u)", nlens[i]), b, nlens[i], NULL, 0);
        SysFreeString(b);
    }

    BSTR b = SysAllocStringByteLen(NULL, 0xFFFFFFFFu);
    check(b == NULL, "SysAllocStringByteLen(NULL, 0xFFFFFFFF) returns NULL",
          "expected NULL, got %p", (void *)b);
    SysFreeString(b);
}

/* ---------------------------------------------- SysReAllocString(Len) */

static void test_realloc_string(void)
{
    static const OLECHAR nv[] = OLESTR("new string");
    uint64_t mark = bstrcheck_checkpoint();
    BSTR b = SysAllocString(OLESTR("old"));
    BSTR old = b;
    INT r = SysReAllocString(&b, nv);
    check(r != 0, "SysReAllocString(&b, \"new string\") returns TRUE", "expected nonzero, got %d", r);
    check(b != NULL, "SysReAllocString(&b, \"new string\"): *pbstr replaced (not NULL)",
          "expected a BSTR, got NULL (old was %p)", (void *)old);
    check_bstr("SysReAllocString(&b, \"new string\")", b, 10 * W, nv, 10 * W);
    check_freed("SysReAllocString: old BSTR freed, only the new one live", mark, 1);
    SysFreeString(b);
    check_freed("SysReAllocString: nothing live after freeing the result", mark, 0);

    /* psz pointing into *pbstr itself. */
    static const OLECHAR ov[] = OLESTR("old value");
    mark = bstrcheck_checkpoint();
    b = SysAllocString(ov);
    r = SysReAllocString(&b, b);
    check(r != 0, "SysReAllocString(&b, b) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocString(&b, b) keeps the contents", b, 9 * W, ov, 9 * W);
    check_freed("SysReAllocString(&b, b): exactly one BSTR live", mark, 1);
    r = SysReAllocString(&b, b ? b + 4 : NULL);
    check(r != 0, "SysReAllocString(&b, b + 4) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocString(&b, b + 4) copies the tail \"value\"", b, 5 * W, ov + 4, 5 * W);
    check_freed("SysReAllocString(&b, b + 4): old BSTR freed", mark, 1);
    SysFreeString(b);

    /* *pbstr NULL acts like SysAllocString. */
    static const OLECHAR xyz[] = OLESTR("xyz");
    mark = bstrcheck_checkpoint();
    b = NULL;
    r = SysReAllocString(&b, xyz);
    check(r != 0, "SysReAllocString(&NULL, \"xyz\") returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocString(&NULL, \"xyz\") acts like SysAllocString", b, 3 * W, xyz, 3 * W);
    check_freed("SysReAllocString(&NULL, \"xyz\"): one BSTR live", mark, 1);
    SysFreeString(b);

    b = NULL;
    r = SysReAllocString(&b, OLESTR(""));
    check(r != 0, "SysReAllocString(&NULL, \"\") returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocString(&NULL, \"\") is an empty BSTR", b, 0, NULL, 0);
    SysFreeString(b);
}

static void test_realloc_string_len(void)
{
    static const OLECHAR hw[] = OLESTR("hello world");
    uint64_t mark = bstrcheck_checkpoint();
    BSTR b = SysAllocString(OLESTR("old"));
    INT r = SysReAllocStringLen(&b, hw, 5);
    check(r != 0, "SysReAllocStringLen(&b, \"hello world\", 5) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, \"hello world\", 5)", b, 5 * W, hw, 5 * W);
    check_freed("SysReAllocStringLen: old BSTR freed, only the new one live", mark, 1);
    SysFreeString(b);

    static const OLECHAR emb[] = {'a', 0, 'b', 0, 'c', 'x', 0};
    b = SysAllocString(OLESTR("old"));
    r = SysReAllocStringLen(&b, emb, 5);
    check(r != 0, "SysReAllocStringLen(&b, {a,0,b,0,c}, 5) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, {a,0,b,0,c}, 5): embedded NULs copied", b, 5 * W, emb, 5 * W);
    SysFreeString(b);

    /* psz inside *pbstr, shorter. */
    static const OLECHAR abcdef[] = OLESTR("abcdef");
    mark = bstrcheck_checkpoint();
    b = SysAllocString(abcdef);
    r = SysReAllocStringLen(&b, b, 3);
    check(r != 0, "SysReAllocStringLen(&b, b, 3) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, b, 3) on \"abcdef\" gives \"abc\"", b, 3 * W, abcdef, 3 * W);
    check_freed("SysReAllocStringLen(&b, b, 3): old BSTR freed", mark, 1);
    SysFreeString(b);

    /* psz inside *pbstr, longer than the old length. */
    mark = bstrcheck_checkpoint();
    b = SysAllocString(abcdef);
    r = SysReAllocStringLen(&b, b, 10);
    check(r != 0, "SysReAllocStringLen(&b, b, 10) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, b, 10) on \"abcdef\": old characters kept, terminated at [10]", b,
               10 * W, abcdef, 6 * W);
    check_freed("SysReAllocStringLen(&b, b, 10): old BSTR freed", mark, 1);
    SysFreeString(b);

    /* psz inside *pbstr, in the middle. */
    b = SysAllocString(abcdef);
    r = SysReAllocStringLen(&b, b ? b + 2 : NULL, 3);
    check(r != 0, "SysReAllocStringLen(&b, b + 2, 3) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, b + 2, 3) on \"abcdef\" gives \"cde\"", b, 3 * W, abcdef + 2, 3 * W);
    SysFreeString(b);

    /* *pbstr NULL acts like SysAllocStringLen. */
    static const OLECHAR xyz[] = OLESTR("xyz");
    mark = bstrcheck_checkpoint();
    b = NULL;
    r = SysReAllocStringLen(&b, xyz, 2);
    check(r != 0, "SysReAllocStringLen(&NULL, \"xyz\", 2) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&NULL, \"xyz\", 2) acts like SysAllocStringLen", b, 2 * W, xyz, 2 * W);
    check_freed("SysReAllocStringLen(&NULL, ..): one BSTR live", mark, 1);
    SysFreeString(b);

    b = NULL;
    r = SysReAllocStringLen(&b, NULL, 0);
    check(r != 0, "SysReAllocStringLen(&NULL, NULL, 0) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&NULL, NULL, 0) is an empty BSTR", b, 0, NULL, 0);
    SysFreeString(b);

    /* psz NULL with len: a terminated BSTR of len. */
    mark = bstrcheck_checkpoint();
    b = SysAllocString(OLESTR("old"));
    r = SysReAllocStringLen(&b, NULL, 4);
    check(r != 0, "SysReAllocStringLen(&b, NULL, 4) returns TRUE", "expected nonzero, got %d", r);
    check_bstr("SysReAllocStringLen(&b, NULL, 4) keeps a terminated BSTR of 4", b, 4 * W, NULL, 0);
    check_freed("SysReAllocStringLen(&b, NULL, 4): old BSTR freed", mark, 1);
    SysFreeString(b);

    /* Failure: FALSE, *pbstr untouched (and still live, unchanged). */
    const UINT huge[] = {HUGE_LEN, 0xFFFFFFFFu};
    for (size_t i = 0; i < 2; i++) {
        mark = bstrcheck_checkpoint();
        b = SysAllocString(abcdef);
        BSTR before = b;
        r = SysReAllocStringLen(&b, NULL, huge[i]);
        check(r == 0, D("SysReAllocStringLen(&b, NULL, 0x%X) fails: returns FALSE", huge[i]),
              "expected 0, got %d", r);
        check(b == before, D("SysReAllocStringLen(&b, NULL, 0x%X): *pbstr untouched", huge[i]),
              "expected %p, got %p", (void *)before, (void *)b);
        check_freed(D("SysReAllocStringLen(&b, NULL, 0x%X): old BSTR still live", huge[i]), mark, 1);
        if (b == before) {
            check_bstr(D("SysReAllocStringLen(&b, NULL, 0x%X): old BSTR intact", huge[i]), b, 6 * W,
                       abcdef, 6 * W);
            SysFreeString(b);
        } else {
            check(0, D("SysReAllocStringLen(&b, NULL, 0x%X): old BSTR intact", huge[i]),
                  "*pbstr no longer holds the old BSTR (now %p)", (void *)b);
            SysFreeString(b); /* whatever it returned */
            if (r == 0)
                SysFreeString(before); /* not freed by a call that failed */
        }

        BSTR nb = NULL;
        r = SysReAllocStringLen(&nb, NULL, huge[i]);
        check(r == 0 && nb == NULL,
              D("SysReAllocStringLen(&NULL, NULL, 0x%X) returns FALSE, *pbstr stays NULL", huge[i]),
              "expected FALSE and NULL, got %d and %p", r, (void *)nb);
        SysFreeString(nb);
    }
}

/* ----------------------------------- SysFreeString, SysString(Byte)Len */

static void test_free_and_len(void)
{
    uint64_t mark = bstrcheck_checkpoint();
    SysFreeString(NULL);
    check_freed("SysFreeString(NULL) is a no-op (returns, nothing changes)", mark, 0);

    UINT n = SysStringLen(NULL);
    check(n == 0, "SysStringLen(NULL) == 0", "expected 0, got %u", n);
    n = SysStringByteLen(NULL);
    check(n == 0, "SysStringByteLen(NULL) == 0", "expected 0, got %u", n);

    mark = bstrcheck_checkpoint();
    BSTR b = SysAllocString(OLESTR("abc"));
    check_freed("SysAllocString: one BSTR live", mark, 1);
    SysFreeString(b);
    check_freed("SysFreeString frees it", mark, 0);
}

/* ------------------------------------- SysAddRefString / SysReleaseString */

static void test_pins(void)
{
    static const OLECHAR pinned[] = OLESTR("pinned");

    /* One pin: the free waits for the release. */
    uint64_t mark = bstrcheck_checkpoint();
    BSTR b = SysAllocString(pinned);
    HRESULT hr = SysAddRefString(b);
    check(hr == S_OK, "SysAddRefString returns S_OK", "expected 0x0, got 0x%08X", (unsigned)hr);
    SysFreeString(b);
    check_freed("pinned BSTR: SysFreeString does not free it (still live)", mark, 1);
    UINT len = SysStringLen(b);
    check(len == 6, "pinned BSTR after SysFreeString: SysStringLen still 6",
          "expected 6, got %u", len);
    size_t at = first_diff(b, pinned, 7 * W);
    check(at == 7 * W, "pinned BSTR after SysFreeString: contents still readable",
          "first difference at byte %zu", at);
    SysReleaseString(b);
    check_freed("SysReleaseString of the last pin performs the pending free", mark, 0);

    /* Two pins: only the last release frees. */
    mark = bstrcheck_checkpoint();
    b = SysAllocString(pinned);
    HRESULT hr1 = SysAddRefString(b), hr2 = SysAddRefString(b);
    check(hr1 == S_OK && hr2 == S_OK, "SysAddRefString twice returns S_OK twice",
          "expected 0x0 and 0x0, got 0x%08X and 0x%08X", (unsigned)hr1, (unsigned)hr2);
    SysFreeString(b);
    SysReleaseString(b);
    check_freed("two pins, one released: SysFreeString still deferred", mark, 1);
    len = SysStringByteLen(b);
    check(len == 6 * W, "two pins, one released: SysStringByteLen still works",
          "expected %zu, got %u", 6 * W, len);
    SysReleaseString(b);
    check_freed("two pins, both released: the pending free happened", mark, 0);

    /* A pin released before any free: the BSTR stays live, a later
     * SysFreeString frees it at once. */
    mark = bstrcheck_checkpoint();
    b = SysAllocString(pinned);
    hr = SysAddRefString(b);
    check(hr == S_OK, "SysAddRefString (no free pending) returns S_OK", "expected 0x0, got 0x%08X",
          (unsigned)hr);
    SysReleaseString(b);
    check_freed("SysReleaseString without a pending free does not free", mark, 1);
    check_bstr("BSTR after SysAddRefString + SysReleaseString", b, 6 * W, pinned, 6 * W);
    SysFreeString(b);
    check_freed("unpinned BSTR: SysFreeString frees it", mark, 0);
}

/* ------------------------------------------------ misuse, in a child */

#define CHILD_EXITCODE 42

/* In the child: one misuse, then free everything else. */
static int run_child(const char *kind)
{
    child_mode = 1;
    if (strcmp(kind, "clean") == 0) {
        BSTR b = SysAllocString(OLESTR("clean"));
        check(b != NULL, "SysAllocString returns a BSTR", "expected non-NULL, got NULL");
        SysFreeString(b);
    } else if (strcmp(kind, "double-free") == 0) {
        BSTR b = SysAllocString(OLESTR("twice"));
        SysFreeString(b);
        SysFreeString(b);
        check(1, "second SysFreeString of the same BSTR returned", "unreachable");
    } else if (strcmp(kind, "free-inside") == 0) {
        BSTR b = SysAllocString(OLESTR("inside"));
        SysFreeString(b ? b + 2 : NULL);
        check(b && SysStringLen(b) == 6, "SysFreeString(b + 2) returned; b still a live BSTR of 6",
              "expected SysStringLen 6, got %u", b ? SysStringLen(b) : 0u);
        SysFreeString(b);
    } else if (strcmp(kind, "free-foreign") == 0) {
        /* Looks like a BSTR (pointer-aligned, a prefix before it), never was one. */
        static union {
            void *align;
            unsigned char raw[64];
        } fake;
        uint32_t prefix = 4 * (uint32_t)W;
        memcpy(fake.raw + sizeof(void *) - 4, &prefix, 4);
        SysFreeString((BSTR)(void *)(fake.raw + sizeof(void *)));
        check(1, "SysFreeString on a pointer that never was a BSTR returned", "unreachable");
    } else if (strcmp(kind, "realloc-pbstr-null") == 0) {
        INT r = SysReAllocString(NULL, OLESTR("x"));
        check(r == 0, "SysReAllocString(NULL, \"x\") returns FALSE", "expected 0, got %d", r);
    } else if (strcmp(kind, "realloclen-pbstr-null") == 0) {
        INT r = SysReAllocStringLen(NULL, OLESTR("x"), 1);
        check(r == 0, "SysReAllocStringLen(NULL, \"x\", 1) returns FALSE", "expected 0, got %d", r);
    } else {
        check(0, kind, "unknown child kind");
    }
    return 0;
}

/* In the parent: run SELF as a child doing KIND under exitcode=42, relay
 * its checks, and check it exited normally with 42 (REPORTED) or 0. */
static void spawn_child(const char *self, const char *kind, int reported, const char *what)
{
    char opts[128];
    snprintf(opts, sizeof opts, "mode=own:olechar=%zu:detect_leaks=1:exitcode=%d", W, CHILD_EXITCODE);
    const char *saved = getenv("BSTRCHECK_OPTIONS");
    char *saved_copy = saved ? strdup(saved) : NULL;
    setenv("BSTRCHECK_OPTIONS", opts, 1);

    int fds[2];
    if (pipe(fds) != 0) {
        check(0, D("%s: child started", what), "pipe failed");
        free(saved_copy);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "child", kind, (char *)NULL);
        _exit(127);
    }
    if (saved_copy)
        setenv("BSTRCHECK_OPTIONS", saved_copy, 1);
    else
        unsetenv("BSTRCHECK_OPTIONS");
    free(saved_copy);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        check(0, D("%s: child started", what), "fork failed");
        return;
    }

    FILE *in = fdopen(fds[0], "r");
    char line[1024];
    unsigned relayed = 0;
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        char *desc = strchr(line, '|');
        char *diag = desc ? strchr(desc + 1, '|') : NULL;
        if (!desc || !diag)
            continue;
        *desc++ = 0;
        *diag++ = 0;
        check(strcmp(line, "1") == 0, D("%s: %s", what, desc), "%s", diag);
        relayed++;
    }
    if (in)
        fclose(in);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    int expect = reported ? CHILD_EXITCODE : 0;
    check(relayed > 0, D("%s: child ran its checks", what), "expected at least one check line, got none");
    check(WIFEXITED(status), D("%s: does not crash", what), "child ended by signal %d",
          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == expect,
          D(reported ? "%s: reported (exit status is exitcode %d)" : "%s: nothing reported (exit status %d)",
            what, expect),
          "expected exit status %d, got %d", expect, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_misuse(const char *self)
{
    spawn_child(self, "clean", 0, "control: correct use");
    spawn_child(self, "double-free", 1, "SysFreeString twice (double free)");
    spawn_child(self, "free-inside", 1, "SysFreeString(b + 2) (invalid free)");
    spawn_child(self, "free-foreign", 1, "SysFreeString(never a BSTR) (invalid free)");
    spawn_child(self, "realloc-pbstr-null", 1, "SysReAllocString(NULL, ..)");
    spawn_child(self, "realloclen-pbstr-null", 1, "SysReAllocStringLen(NULL, ..)");
}

/* --------------------------------------------------------------- pbstr NULL */

static int run_pbstr_null(void)
{
    INT r = SysReAllocString(NULL, OLESTR("x"));
    check(r == 0, "SysReAllocString(NULL, \"x\") returns FALSE", "expected 0, got %d", r);
    r = SysReAllocStringLen(NULL, OLESTR("x"), 1);
    check(r == 0, "SysReAllocStringLen(NULL, \"x\", 1) returns FALSE", "expected 0, got %d", r);
    r = SysReAllocStringLen(NULL, NULL, 0);
    check(r == 0, "SysReAllocStringLen(NULL, NULL, 0) returns FALSE", "expected 0, got %d", r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "child") == 0)
        return run_child(argv[2]);
    if (argc > 1 && strcmp(argv[1], "pbstr-null") == 0) {
        run_pbstr_null();
    } else {
        check(bstrcheck_is_active() == 1, "libbstrcheck is loaded (bstrcheck_is_active)",
              "expected 1, got %d: the live-BSTR checks below cannot work", bstrcheck_is_active());
        uint64_t start = bstrcheck_checkpoint();

        BSTR probe = SysAllocString(OLESTR("ab"));
        UINT bl = SysStringByteLen(probe);
        check(bl == 2 * W, D("olechar option matches sizeof(OLECHAR) = %zu", W),
              "SysStringByteLen(SysAllocString(\"ab\")): expected %zu, got %u", 2 * W, bl);
        SysFreeString(probe);

        test_layout_sweep();
        test_alloc_string();
        test_alloc_string_len();
        test_alloc_string_byte_len();
        test_realloc_string();
        test_realloc_string_len();
        test_free_and_len();
        test_pins();
        test_misuse(argv[0]);

        check_freed("every BSTR this program allocated is freed", start, 0);
    }
    printf("1..%u\n", n_checks);
    if (n_failed)
        printf("# %u of %u checks failed (olechar=%zu)\n", n_failed, n_checks, W);
    return 0;
}
