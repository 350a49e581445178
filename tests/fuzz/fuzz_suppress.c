/* libFuzzer target: the suppressions parser (report/suppress.c) and its
 * glob. Any file text must parse without crashing into rules of a real
 * kind (or '*') with a non-empty pattern that lies inside the text; the
 * glob must answer (and match a pattern against itself when it has no
 * '*'), for patterns and texts taken from the input. Warnings go to
 * stderr: run with -close_fd_mask=2. */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_suppress: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    bc_suppressions_t s;
    bc_suppressions_parse(&s, "fuzz.supp", text);
    for (size_t i = 0; i < s.nrules; i++) {
        const bc_suppress_rule_t *r = &s.rules[i];
        check(r->kind == BC_KIND_ANY || (r->kind >= 0 && r->kind < BC_KIND_COUNT), "rule kind");
        check(r->pattern && r->pattern[0] != '\0', "empty pattern");
        check(r->pattern >= text && r->pattern < text + size, "pattern outside the text");
        check(r->line >= 1, "line number");
        if (!strchr(r->pattern, '*'))
            check(bc_glob_match(r->pattern, r->pattern), "a plain pattern matches itself");
        check(bc_glob_match("*", r->pattern), "'*' matches everything");
        /* each pattern against the next rule's, both ways: no crash */
        if (i + 1 < s.nrules) {
            (void)bc_glob_match(r->pattern, s.rules[i + 1].pattern);
            (void)bc_glob_match(s.rules[i + 1].pattern, r->pattern);
        }
    }
    free(s.rules);
    free(text);
    return 0;
}
