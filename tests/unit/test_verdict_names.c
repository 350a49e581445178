/* Pieces of the ownership verdicts and baselines that need no program:
 * short function names (what a verdict prints) and fingerprints (what a
 * baseline matches): the same names give the same fingerprint, whatever
 * the addresses; another function, kind or stack gives another. */
#include "report.h"
#include "tap.h"

static void short_name(const char *full, const char *expected)
{
    char out[64];
    bc_short_function(full, out, sizeof out);
    tap_ok(strcmp(out, expected) == 0, "short name of '%s' is '%s' (got '%s')", full, expected,
           out);
}

typedef struct frame {
    const char *function, *file, *module;
} frame_t;

static void fingerprint(const char *kind, const char *role, const frame_t *frames, size_t n,
                        char out[BC_FINGERPRINT_LEN])
{
    bc_fingerprint_t fp;
    bc_fingerprint_begin(&fp, kind);
    bc_fingerprint_stack(&fp, role);
    for (size_t i = 0; i < n && bc_fingerprint_frame(&fp, frames[i].function, frames[i].file,
                                                     frames[i].module);
         i++)
        ;
    bc_fingerprint_end(&fp, out);
}

int main(void)
{
    tap_plan(16);
    short_name("Greeter::GetTitle(char16_t**)", "Greeter::GetTitle");
    short_name("main", "main");
    short_name("Ns::F(int) const", "Ns::F");
    short_name("Ns::F(int) const &&", "Ns::F");
    short_name("S::operator()(int)", "S::operator()");
    short_name("f<int>(std::vector<int, std::allocator<int> > const&)", "f<int>");
    short_name("(anonymous namespace)::g(void (*)(int))", "(anonymous namespace)::g");
    char small[5];
    bc_short_function("Greeter::GetTitle(char16_t**)", small, sizeof small);
    tap_ok(strcmp(small, "Gree") == 0, "cut to the buffer (got '%s')", small);

    const frame_t leak[] = {{"load_config", "/a/src/leaky.c", "/a/build/leaky"},
                            {"main", "/a/src/leaky.c", "/a/build/leaky"},
                            {"__libc_start_call_main", NULL, "/lib/libc.so.6"},
                            {"__libc_start_main", NULL, "/lib/libc.so.6"},
                            {"_start", NULL, "/a/build/leaky"}};
    const frame_t moved[] = {{"load_config", "/b/src/leaky.c", "/b/other/leaky-moved"},
                             {"main", "/b/src/leaky.c", "/b/other/leaky-moved"},
                             {"__libc_start_call_main", NULL, "/usr/lib/libc.so.6"},
                             {"__libc_start_main", NULL, "/usr/lib/libc.so.6"}};
    const frame_t other[] = {{"load_theme", "/a/src/leaky.c", "/a/build/leaky"},
                             {"main", "/a/src/leaky.c", "/a/build/leaky"},
                             {"__libc_start_call_main", NULL, "/lib/libc.so.6"},
                             {"__libc_start_main", NULL, "/lib/libc.so.6"}};
    char a[BC_FINGERPRINT_LEN], b[BC_FINGERPRINT_LEN], c[BC_FINGERPRINT_LEN];
    fingerprint("leak", "alloc", leak, 5, a);
    fingerprint("leak", "alloc", moved, 4, b);
    tap_ok(strcmp(a, b) == 0, "the first four frames' names only: paths, modules and deeper "
                              "frames do not count (%s, %s)", a, b);
    tap_ok(strlen(a) == 16 && strspn(a, "0123456789abcdef") == 16, "16 hex digits (%s)", a);
    fingerprint("leak", "alloc", other, 4, c);
    tap_ok(strcmp(a, c) != 0, "another leaking function: another fingerprint");
    fingerprint("double_free", "alloc", leak, 4, c);
    tap_ok(strcmp(a, c) != 0, "another kind: another fingerprint");
    fingerprint("leak", "free", leak, 4, c);
    tap_ok(strcmp(a, c) != 0, "another role: another fingerprint");

    /* frames without a function: the file's basename, then the module's */
    const frame_t nofn1[] = {{NULL, "/a/x/plugin.c", "/a/lib/libp.so"}};
    const frame_t nofn2[] = {{NULL, "/b/y/plugin.c", "/b/lib/libp.so"}};
    const frame_t nofn3[] = {{NULL, "/b/y/other.c", "/b/lib/libp.so"}};
    const frame_t nofile1[] = {{NULL, NULL, "/a/lib/libp.so"}};
    const frame_t nofile2[] = {{NULL, NULL, "/b/lib64/libp.so"}};
    fingerprint("leak", "alloc", nofn1, 1, a);
    fingerprint("leak", "alloc", nofn2, 1, b);
    fingerprint("leak", "alloc", nofn3, 1, c);
    tap_ok(strcmp(a, b) == 0 && strcmp(a, c) != 0, "no function: the file's basename counts");
    fingerprint("leak", "alloc", nofile1, 1, a);
    fingerprint("leak", "alloc", nofile2, 1, b);
    tap_ok(strcmp(a, b) == 0, "no function, no file: the module's basename counts");
    /* a function called like a file name is not the same frame */
    const frame_t named[] = {{"plugin.c", NULL, NULL}};
    fingerprint("leak", "alloc", named, 1, a);
    fingerprint("leak", "alloc", nofn1, 1, b);
    tap_ok(strcmp(a, b) != 0, "a function name and a file name never collide");
    return tap_done();
}
