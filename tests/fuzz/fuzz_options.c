/* libFuzzer target: bc_options_parse() on any text. Whatever the input,
 * the parser must not crash, and every option must end up inside its
 * declared range (a bad value keeps the default), with the same result
 * when the same text is parsed again. Warnings go to stderr: run with
 * -close_fd_mask=2. */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_options: %s\n", what);
        abort();
    }
}

static bool is_bool(int v)
{
    return v == 0 || v == 1;
}

static bool string_ok(const char *s)
{
    return s && strnlen(s, 4096) < 4096;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int warnings = bc_options_parse(text);
    check(warnings >= 0, "negative warning count");
    check(bc_opt.mode >= BC_MODE_AUTO && bc_opt.mode <= BC_MODE_FORWARD, "mode");
    check(bc_opt.olechar == 2 || bc_opt.olechar == 4, "olechar");
    check(bc_opt.exitcode >= 0 && bc_opt.exitcode <= 255, "exitcode");
    check(bc_opt.max_frames >= 1 && bc_opt.max_frames <= 256, "max_frames");
    check(bc_opt.quarantine_kb >= 0 && bc_opt.quarantine_kb <= 16777216, "quarantine_kb");
    check(bc_opt.max_findings >= 0, "max_findings");
    check(bc_opt.fail_rate >= 0 && bc_opt.fail_rate <= 1, "fail_rate (NaN fails this too)");
    check(bc_opt.fail_nth >= 0 && bc_opt.fail_seed >= 0, "fail_nth, fail_seed");
    check(is_bool(bc_opt.detect_leaks) && is_bool(bc_opt.catch_free) && is_bool(bc_opt.guard_pages) &&
              is_bool(bc_opt.abort_on_error) && is_bool(bc_opt.help) &&
              is_bool(bc_opt.gen_suppressions) && is_bool(bc_opt.fail_once_per_stack),
          "booleans");
    check(string_ok(bc_opt.log_path) && string_ok(bc_opt.json_path) &&
              string_ok(bc_opt.sarif_path) && string_ok(bc_opt.suppressions),
          "strings");
    /* Deterministic: the same text, the same options. */
    bc_options_t first = bc_opt;
    char log_path[4096], json_path[4096];
    snprintf(log_path, sizeof log_path, "%s", first.log_path);
    snprintf(json_path, sizeof json_path, "%s", first.json_path);
    check(bc_options_parse(text) == warnings, "warnings differ on a second parse");
    check(bc_opt.mode == first.mode && bc_opt.exitcode == first.exitcode &&
              bc_opt.fail_rate == first.fail_rate && bc_opt.quarantine_kb == first.quarantine_kb,
          "a second parse differs");
    check(strcmp(bc_opt.log_path, log_path) == 0 && strcmp(bc_opt.json_path, json_path) == 0,
          "a second parse differs in a path");
    free(text);
    return 0;
}
