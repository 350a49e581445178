/* Suppressions: the glob matcher, the file parser (rules, comments,
 * malformed lines), matching a frame by function, file and module, and a
 * whole finding through real stacks of this program. Warnings go to stderr. */
#include "hooks.h"
#include "report.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Two functions to stand in as stack frames. */
NOINLINE void bc_test_leaky_function(void)
{
    __asm__ volatile("");
}

NOINLINE void bc_test_caller_function(void)
{
    __asm__ volatile("");
}

static void glob_tests(void)
{
    static const struct {
        const char *pattern, *text;
        bool match;
    } cases[] = {
        {"alloc_site_b", "alloc_site_b", true},
        {"alloc_site", "alloc_site_b", false},   /* whole names, not prefixes */
        {"site_b", "alloc_site_b", false},       /* nor parts */
        {"alloc_site_*", "alloc_site_b", true},
        {"alloc_site_b*", "alloc_site_b", true}, /* '*' may match nothing */
        {"*site*", "alloc_site_b", true},
        {"*", "", true},
        {"*", "anything/at/all", true},          /* '*' crosses '/' */
        {"", "", true},
        {"", "x", false},
        {"x", "", false},
        {"a*b*c", "aXbYbZc", true},              /* backtracking */
        {"a*b*c", "aXbYbZ", false},
        {"*.so*", "/usr/lib/libfoo.so.1", true},
        {"lib?.so", "libx.so", false},           /* '?' is literal */
        {"lib?.so", "lib?.so", true},
        {"[ab]", "a", false},                    /* so is '[' */
        {"**a", "ba", true},
        {"Alloc_site_b", "alloc_site_b", false}, /* case matters */
        {"ns::f", "ns::f", true},
    };
    for (size_t i = 0; i < BC_ARRAY_LEN(cases); i++)
        tap_ok(bc_glob_match(cases[i].pattern, cases[i].text) == cases[i].match,
               "glob '%s' %s '%s'", cases[i].pattern, cases[i].match ? "matches" : "does not match",
               cases[i].text);
}

static void parse_tests(void)
{
    char text[] = "# a comment\n"
                  "\n"
                  "leak:alloc_site_b\n"
                  "  double_free : second_free_site  \r\n"
                  "*:libplugin.so\n"
                  "bogus line\n"
                  "nokind:foo\n"
                  "leak:\n"
                  "leak:ns::Class::method\n"
                  "   # an indented comment\n"
                  "mismatched_free:last line without newline";
    bc_suppressions_t s;
    size_t malformed = bc_suppressions_parse(&s, "rules.supp", text);
    tap_is_uint(malformed, 3, "three malformed lines (each warned about)");
    tap_is_uint(s.nrules, 5, "five rules");
    if (s.nrules != 5) {
        for (int i = 0; i < 14; i++)
            tap_ok(false, "rules missing");
        return;
    }
    tap_is_int(s.rules[0].kind, BC_KIND_LEAK, "rule 1: leak");
    tap_is_str(s.rules[0].pattern, "alloc_site_b", "rule 1: pattern");
    tap_is_uint(s.rules[0].line, 3, "rule 1: line 3");
    tap_is_int(s.rules[1].kind, BC_KIND_DOUBLE_FREE, "rule 2: kind with spaces around it");
    tap_is_str(s.rules[1].pattern, "second_free_site", "rule 2: pattern trimmed (CRLF too)");
    tap_is_uint(s.rules[1].line, 4, "rule 2: line 4");
    tap_is_int(s.rules[2].kind, BC_KIND_ANY, "rule 3: '*' is any kind");
    tap_is_str(s.rules[2].pattern, "libplugin.so", "rule 3: pattern");
    tap_is_int(s.rules[3].kind, BC_KIND_LEAK, "rule 4: leak");
    tap_is_str(s.rules[3].pattern, "ns::Class::method", "rule 4: '::' stays in the pattern");
    tap_is_uint(s.rules[3].line, 9, "rule 4: line 9 (malformed lines counted)");
    tap_is_int(s.rules[4].kind, BC_KIND_MISMATCHED_FREE, "rule 5: mismatched_free");
    tap_is_str(s.rules[4].pattern, "last line without newline", "rule 5: last line, no newline");
    tap_is_uint(s.rules[4].line, 11, "rule 5: line 11");
    free(s.rules);

    char empty[] = "";
    tap_is_uint(bc_suppressions_parse(&s, "empty", empty), 0, "empty file: no warnings");
    tap_is_uint(s.nrules, 0, "empty file: no rules");
    free(s.rules);
}

static void load_tests(void)
{
    bc_suppressions_t s;
    tap_ok(!bc_suppressions_load(&s, "/nonexistent-dir/x.supp"), "missing file: load fails (one warning)");
    tap_is_uint(s.nrules, 0, "missing file: no rules");
    bc_suppressions_free(&s);

    char path[] = "/tmp/bc-unit-supp-XXXXXX";
    int fd = mkstemp(path);
    const char *content = "leak:from_a_file\n";
    bool wrote = fd >= 0 && write(fd, content, strlen(content)) == (ssize_t)strlen(content);
    if (fd >= 0)
        close(fd);
    tap_ok(wrote && bc_suppressions_load(&s, path), "readable file loads");
    tap_ok(s.nrules == 1 && strcmp(s.rules[0].pattern, "from_a_file") == 0, "its rule");
    bc_suppressions_free(&s);
    unlink(path);
}

static void frame_tests(void)
{
    bc_frame_info_t f;
    memset(&f, 0, sizeof f);
    f.function = "ns::Class::method(int, char const*) const";
    f.file = "/src/project/widget.cpp";
    f.line = 12;
    f.module = "/opt/app/lib/libwidget.so.1";

    tap_ok(bc_suppress_frame_matches("ns::Class::method(int, char const*) const", &f),
           "function: full demangled name");
    tap_ok(bc_suppress_frame_matches("ns::Class::method", &f), "function: without its parameter list");
    tap_ok(bc_suppress_frame_matches("ns::Class::*", &f), "function: glob");
    tap_ok(!bc_suppress_frame_matches("Class::method", &f), "function: not a part of the name");
    tap_ok(bc_suppress_frame_matches("widget.cpp", &f), "file: basename");
    tap_ok(bc_suppress_frame_matches("/src/project/widget.cpp", &f), "file: full path");
    tap_ok(bc_suppress_frame_matches("/src/*", &f), "file: path glob");
    tap_ok(bc_suppress_frame_matches("libwidget.so.1", &f), "module: basename");
    tap_ok(bc_suppress_frame_matches("libwidget.so*", &f), "module: basename glob");
    tap_ok(bc_suppress_frame_matches("/opt/app/lib/libwidget.so.1", &f), "module: full path");
    tap_ok(!bc_suppress_frame_matches("libwidget", &f), "module: not a prefix");

    f.function = "std::function<void (int)>::operator()(int) const";
    tap_ok(bc_suppress_frame_matches("std::function<void (int)>::operator()", &f),
           "function: operator() keeps its own parentheses");
    f.function = "(anonymous namespace)::helper(int)";
    tap_ok(bc_suppress_frame_matches("(anonymous namespace)::helper", &f),
           "function: anonymous namespace");

    memset(&f, 0, sizeof f);
    f.module = "";
    tap_ok(!bc_suppress_frame_matches("*", &f), "a frame with nothing known matches nothing");
}

static bc_stack_id_t stack_of(void (*fn)(void), void (*caller)(void))
{
    /* "return addresses" one byte into each function: symbolized as it */
    uintptr_t frames[2] = {(uintptr_t)fn + 1, (uintptr_t)caller + 1};
    return bc_depot_put(frames, 2);
}

static void finding_tests(void)
{
    bc_finding_t leak;
    memset(&leak, 0, sizeof leak);
    leak.kind = BC_KIND_LEAK;
    leak.count = 3;
    leak.stacks[BC_ROLE_ALLOC] = stack_of(bc_test_leaky_function, bc_test_caller_function);

    char text[] = "double_free:bc_test_leaky_function\n"
                  "leak:nothing_like_it\n";
    bc_suppressions_t s;
    bc_suppressions_parse(&s, "finding.supp", text);
    tap_ok(!bc_suppressions_match(&s, &leak), "a rule of another kind does not apply");
    free(s.rules);

    char text2[] = "leak:bc_test_caller_function\n";
    bc_suppressions_parse(&s, "finding.supp", text2);
    tap_ok(bc_suppressions_match(&s, &leak), "a rule matching any frame (here the second) applies");
    free(s.rules);

    char text3[] = "*:test_suppress.c\n";
    bc_suppressions_parse(&s, "finding.supp", text3);
    tap_ok(bc_suppressions_match(&s, &leak), "'*' kind, matched by source file");
    free(s.rules);

    char rule[256];
    size_t n = bc_suppression_for(&leak, rule, sizeof rule);
    tap_is_str(n ? rule : "", "leak:bc_test_leaky_function", "generated rule names the first user frame");
    char text4[300];
    snprintf(text4, sizeof text4, "%s\n", rule);
    bc_suppressions_parse(&s, "generated.supp", text4);
    tap_ok(bc_suppressions_match(&s, &leak), "the generated rule suppresses its finding");
    free(s.rules);

    bc_finding_t nothing;
    memset(&nothing, 0, sizeof nothing);
    nothing.kind = BC_KIND_INVALID_FREE;
    tap_is_uint(bc_suppression_for(&nothing, rule, sizeof rule), 0, "no stack: no generated rule");
}

int main(void)
{
    tap_plan(20 + 18 + 4 + 14 + 6);
    bc_options_parse(NULL);
    glob_tests();
    parse_tests();
    load_tests();
    frame_tests();
    finding_tests();
    return tap_done();
}
