/* bc_options_parse(): defaults, every option kind, separators, and that bad
 * input warns (counted) and keeps the default. Warnings go to stderr. */
#include "hooks.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void expect_defaults(const char *when)
{
    tap_is_int(bc_opt.mode, BC_MODE_AUTO, "%s: mode default auto", when);
    tap_is_int(bc_opt.olechar, 2, "%s: olechar default 2", when);
    tap_is_int(bc_opt.exitcode, 23, "%s: exitcode default 23", when);
    tap_is_int(bc_opt.detect_leaks, 1, "%s: detect_leaks default 1", when);
    tap_is_str(bc_opt.log_path, "stderr", "%s: log_path default stderr", when);
    tap_is_str(bc_opt.json_path, "", "%s: json_path default empty", when);
    tap_is_int(bc_opt.max_frames, 32, "%s: max_frames default 32", when);
    tap_is_int(bc_opt.quarantine_kb, 1024, "%s: quarantine_kb default 1024", when);
    tap_is_int(bc_opt.help, 0, "%s: help default 0", when);
    tap_is_str(bc_opt.sarif_path, "", "%s: sarif_path default empty", when);
    tap_is_str(bc_opt.suppressions, "", "%s: suppressions default empty", when);
    tap_is_int(bc_opt.max_findings, 100, "%s: max_findings default 100", when);
    tap_is_int(bc_opt.gen_suppressions, 0, "%s: gen_suppressions default 0", when);
}
#define DEFAULT_CHECKS 13

/* A bad value: one warning, the option keeps its default. */
#define BAD(text, field, deflt)                                                     \
    do {                                                                            \
        tap_is_int(bc_options_parse(text), 1, "'%s' gives one warning", text);      \
        tap_is_int(bc_opt.field, deflt, "'%s' keeps the default", text);            \
    } while (0)

int main(void)
{
    tap_plan(3 * DEFAULT_CHECKS + 64 + 11 + 35);

    /* NULL: defaults, no warnings. */
    tap_is_int(bc_options_parse(NULL), 0, "NULL gives no warnings");
    expect_defaults("NULL");

    /* Each kind on its own (20). */
    tap_is_int(bc_options_parse("mode=own"), 0, "mode=own: no warning");
    tap_is_int(bc_opt.mode, BC_MODE_OWN, "mode=own -> BC_MODE_OWN");
    tap_is_int(bc_options_parse("mode=forward"), 0, "mode=forward: no warning");
    tap_is_int(bc_opt.mode, BC_MODE_FORWARD, "mode=forward -> BC_MODE_FORWARD");
    tap_is_int(bc_options_parse("olechar=4"), 0, "olechar=4: no warning");
    tap_is_int(bc_opt.olechar, 4, "olechar=4 -> 4");
    tap_is_int(bc_options_parse("exitcode=7"), 0, "exitcode=7: no warning");
    tap_is_int(bc_opt.exitcode, 7, "exitcode=7 -> 7");
    tap_is_int(bc_options_parse("detect_leaks=0"), 0, "detect_leaks=0: no warning");
    tap_is_int(bc_opt.detect_leaks, 0, "detect_leaks=0 -> 0");
    tap_is_int(bc_options_parse("log_path=/tmp/x%p.log"), 0, "log_path: no warning");
    tap_is_str(bc_opt.log_path, "/tmp/x%p.log", "log_path=/tmp/x%%p.log kept verbatim");
    tap_is_int(bc_options_parse("json_path=/tmp/r.json"), 0, "json_path: no warning");
    tap_is_str(bc_opt.json_path, "/tmp/r.json", "json_path=/tmp/r.json");
    tap_is_int(bc_options_parse("max_frames=64"), 0, "max_frames=64: no warning");
    tap_is_int(bc_opt.max_frames, 64, "max_frames=64 -> 64");
    tap_is_int(bc_options_parse("quarantine_kb=0"), 0, "quarantine_kb=0: no warning");
    tap_is_int(bc_opt.quarantine_kb, 0, "quarantine_kb=0 -> 0");
    tap_is_int(bc_options_parse("help=1"), 0, "help=1: no warning");
    tap_is_int(bc_opt.help, 1, "help=1 -> 1");

    /* Several at once (9). */
    tap_is_int(bc_options_parse("mode=own:olechar=4:exitcode=9:detect_leaks=0:"
                                "log_path=/tmp/a.log:json_path=/tmp/b.json:max_frames=5:"
                                "quarantine_kb=17"),
               0, "eight options separated by ':' give no warnings");
    tap_is_int(bc_opt.mode, BC_MODE_OWN, "multi: mode");
    tap_is_int(bc_opt.olechar, 4, "multi: olechar");
    tap_is_int(bc_opt.exitcode, 9, "multi: exitcode");
    tap_is_int(bc_opt.detect_leaks, 0, "multi: detect_leaks");
    tap_is_str(bc_opt.log_path, "/tmp/a.log", "multi: log_path");
    tap_is_str(bc_opt.json_path, "/tmp/b.json", "multi: json_path");
    tap_is_int(bc_opt.max_frames, 5, "multi: max_frames");
    tap_is_int(bc_opt.quarantine_kb, 17, "multi: quarantine_kb");

    /* The report options (11). */
    tap_is_int(bc_options_parse("sarif_path=/tmp/r%p.sarif:suppressions=/tmp/s.supp:"
                                "max_findings=0:gen_suppressions=1"),
               0, "report options: no warnings");
    tap_is_str(bc_opt.sarif_path, "/tmp/r%p.sarif", "sarif_path kept verbatim");
    tap_is_str(bc_opt.suppressions, "/tmp/s.supp", "suppressions");
    tap_is_int(bc_opt.max_findings, 0, "max_findings=0 (no cap)");
    tap_is_int(bc_opt.gen_suppressions, 1, "gen_suppressions=1");
    tap_is_int(bc_options_parse("max_findings=5"), 0, "max_findings=5: no warning");
    tap_is_int(bc_opt.max_findings, 5, "max_findings=5 -> 5");
    BAD("max_findings=-1", max_findings, 100);
    BAD("gen_suppressions=2", gen_suppressions, 0);

    /* Each call starts from the defaults (3). */
    tap_is_int(bc_options_parse("exitcode=5"), 0, "second call: no warning");
    tap_is_int(bc_opt.exitcode, 5, "second call applies its option");
    tap_is_int(bc_opt.mode, BC_MODE_AUTO, "second call reset mode from the previous call");

    /* Unknown name: one warning, all defaults. */
    tap_is_int(bc_options_parse("no_such_option=1"), 1, "unknown name gives one warning");
    expect_defaults("unknown name");

    /* Bad values (16). */
    BAD("olechar=3", olechar, 2);
    BAD("exitcode=abc", exitcode, 23);
    BAD("exitcode=300", exitcode, 23);
    BAD("exitcode=-1", exitcode, 23);
    BAD("mode=bogus", mode, BC_MODE_AUTO);
    BAD("max_frames=0", max_frames, 32);
    BAD("detect_leaks=2", detect_leaks, 1);
    BAD("exitcode=", exitcode, 23);

    /* A bad value among good ones keeps the others (6). */
    tap_is_int(bc_options_parse("exitcode=7:olechar=3:max_frames=8"), 1,
               "one bad value among good ones: one warning");
    tap_is_int(bc_opt.exitcode, 7, "good option before the bad one applied");
    tap_is_int(bc_opt.olechar, 2, "bad option keeps its default");
    tap_is_int(bc_opt.max_frames, 8, "good option after the bad one applied");
    tap_is_int(bc_options_parse("exitcode:olechar=4"), 1, "item without '=' gives one warning");
    tap_is_int(bc_opt.olechar, 4, "the option after the '=' -less item still applies");

    /* Empty text (2). */
    tap_is_int(bc_options_parse(""), 0, "empty string gives no warnings");
    tap_is_int(bc_opt.exitcode, 23, "empty string keeps defaults");

    /* Item without '=' alone, and an overlong string (5 + defaults). */
    tap_is_int(bc_options_parse("detect_leaks"), 1, "'detect_leaks' without '=' warns once");
    tap_is_int(bc_opt.detect_leaks, 1, "'detect_leaks' without '=' keeps the default");

    size_t n = 10000;
    char *big = malloc(n + 1);
    if (!big)
        return 1;
    /* "exitcode=7:" then a huge log_path that runs past 4096 bytes. */
    strcpy(big, "exitcode=7:log_path=");
    size_t used = strlen(big);
    memset(big + used, 'a', n - used);
    big[n] = '\0';
    int w = bc_options_parse(big);
    tap_ok(w >= 1, "overlong string (%zu chars) warns (got %d warnings)", n, w);
    tap_is_int(bc_opt.exitcode, 7, "overlong string: options before the cut still apply");
    tap_ok(bc_opt.log_path && strlen(bc_opt.log_path) < 4096,
           "overlong string: log_path is cut below 4096 chars (got %zu)",
           bc_opt.log_path ? strlen(bc_opt.log_path) : (size_t)0);
    free(big);
    tap_is_int(bc_options_parse(NULL), 0, "NULL after the overlong string");
    expect_defaults("after overlong");

    /* Fault injection: fail_rate is a plain decimal in 0..1 (35). */
    static const struct {
        const char *text;
        double value;
    } rates[] = {{"0", 0}, {"1", 1}, {"0.25", 0.25}, {".5", 0.5}, {"1.", 1}, {"0.001", 0.001},
                 {"1.000", 1}, {"00.5", 0.5}};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "fail_rate=%s", rates[i].text);
        tap_is_int(bc_options_parse(text), 0, "'%s': no warning", text);
        tap_ok(bc_opt.fail_rate > rates[i].value - 1e-12 && bc_opt.fail_rate < rates[i].value + 1e-12,
               "'%s' -> %g (got %g)", text, rates[i].value, bc_opt.fail_rate);
    }
    static const char *const bad_rates[] = {"1.01", "-0", "-0.5", "1e-3", "0x1p-2", "inf", "nan",
                                            "", ".", "0..5", "0,5", "0.5x"};
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "fail_rate=%s", bad_rates[i]);
        tap_is_int(bc_options_parse(text), 1, "'%s' gives one warning", text);
    }
    tap_ok(bc_opt.fail_rate == 0, "a bad fail_rate keeps the default 0");
    tap_is_int(bc_options_parse("fail_nth=7:fail_seed=42:fail_once_per_stack=1"), 0,
               "fail_nth, fail_seed, fail_once_per_stack: no warning");
    tap_is_int(bc_opt.fail_nth, 7, "fail_nth=7");
    tap_is_int(bc_opt.fail_seed, 42, "fail_seed=42");
    tap_is_int(bc_opt.fail_once_per_stack, 1, "fail_once_per_stack=1");
    tap_is_int(bc_options_parse(NULL), 0, "reset");
    tap_ok(bc_opt.fail_rate == 0 && bc_opt.fail_nth == 0 && bc_opt.fail_seed == 0 &&
               bc_opt.fail_once_per_stack == 0,
           "fault injection is off by default");
    return tap_done();
}
