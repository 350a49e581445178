/* --baseline=FILE: a CI gate on new findings only. The baseline is an
 * earlier merged report (or one process's report). Every finding of it and
 * of this run gets a fingerprint (report/fingerprint.c: the kind and the
 * names of the first frames of each stack, never an address), and each of
 * this run's findings takes at most one baseline finding with the same
 * fingerprint: it is "unchanged"; without one it is "new". Baseline
 * findings left over are "fixed". Only new findings decide the exit status
 * (main.c). */
#include "launcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool frame_fingerprint(bc_fingerprint_t *fp, const bc_json_t *frame)
{
    return bc_fingerprint_frame(fp, bc_json_str(bc_json_get(frame, "function")),
                                bc_json_str(bc_json_get(frame, "file")),
                                bc_json_str(bc_json_get(frame, "module")));
}

void bc_json_fingerprint(const bc_json_t *finding, char out[BC_FINGERPRINT_LEN])
{
    const char *kind = bc_json_str(bc_json_get(finding, "kind"));
    const bc_json_t *stacks = bc_json_get(finding, "stacks");
    bc_fingerprint_t fp;
    bc_fingerprint_begin(&fp, kind ? kind : "");
    for (size_t r = 0; bc_fingerprint_roles[r]; r++) {
        const bc_json_t *stack = bc_json_get(stacks, bc_fingerprint_roles[r]);
        size_t n = bc_json_count(stack);
        if (n == 0)
            continue; /* the shim leaves out an empty stack too */
        bc_fingerprint_stack(&fp, bc_fingerprint_roles[r]);
        for (size_t i = 0; i < n && frame_fingerprint(&fp, &stack->items[i]); i++)
            ;
    }
    bc_fingerprint_end(&fp, out);
}

/* The findings arrays of a report: a merged one's processes, or its own. */
static void add_findings(bc_baseline_t *b, const bc_json_t *report, size_t *cap)
{
    const bc_json_t *findings = bc_json_get(report, "findings");
    for (size_t i = 0; i < bc_json_count(findings); i++) {
        if (b->nold == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            bc_baseline_entry_t *grown = realloc(b->old, ncap * sizeof *grown);
            if (!grown)
                return;
            b->old = grown;
            *cap = ncap;
        }
        bc_baseline_entry_t *e = &b->old[b->nold++];
        memset(e, 0, sizeof *e);
        e->finding = &findings->items[i];
        bc_json_fingerprint(e->finding, e->fingerprint);
    }
}

bool bc_baseline_load(bc_baseline_t *b, const char *path)
{
    memset(b, 0, sizeof *b);
    b->path = path;
    size_t len = 0;
    b->text = bc_read_file(path, &len);
    if (!b->text) {
        bc_launcher_error("cannot read the baseline '%s': %s", path, strerror(errno));
        return false;
    }
    char err[200];
    b->json = bc_json_parse(b->text, len, err, sizeof err);
    const char *tool = bc_json_str(bc_json_get(b->json, "tool"));
    const bc_json_t *processes = bc_json_get(b->json, "processes");
    bool merged = processes && processes->type == BC_JSON_ARRAY;
    bool single = bc_json_get(b->json, "findings") != NULL;
    if (!b->json || !tool || strcmp(tool, "bstrcheck") != 0 || (!merged && !single)) {
        bc_launcher_error("the baseline '%s' is not a bstrcheck JSON report (%s)", path,
                          !b->json ? err : "no \"tool\": \"bstrcheck\" with \"processes\" or "
                                           "\"findings\"");
        bc_baseline_free(b);
        return false;
    }
    size_t cap = 0;
    if (merged)
        for (size_t i = 0; i < processes->len; i++)
            add_findings(b, &processes->items[i], &cap);
    else
        add_findings(b, b->json, &cap);
    return true;
}

bool bc_baseline_compare(bc_baseline_t *b, const bc_collection_t *c)
{
    b->nprocesses = c->count;
    b->state = calloc(c->count ? c->count : 1, sizeof *b->state);
    b->fingerprints = calloc(c->count ? c->count : 1, sizeof *b->fingerprints);
    if (!b->state || !b->fingerprints) {
        bc_launcher_error("out of memory");
        return false;
    }
    for (size_t p = 0; p < c->count; p++) {
        const bc_json_t *findings = bc_json_get(c->reports[p].json, "findings");
        size_t n = bc_json_count(findings);
        b->state[p] = calloc(n ? n : 1, sizeof **b->state);
        b->fingerprints[p] = calloc(n ? n : 1, sizeof **b->fingerprints);
        if (!b->state[p] || !b->fingerprints[p]) {
            bc_launcher_error("out of memory");
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            bc_json_fingerprint(&findings->items[i], b->fingerprints[p][i]);
            b->state[p][i] = BC_BASELINE_NEW;
            for (size_t k = 0; k < b->nold; k++) {
                bc_baseline_entry_t *e = &b->old[k];
                if (!e->matched && strcmp(e->fingerprint, b->fingerprints[p][i]) == 0) {
                    e->matched = true;
                    b->state[p][i] = BC_BASELINE_UNCHANGED;
                    break;
                }
            }
            if (b->state[p][i] == BC_BASELINE_NEW)
                b->new_count++;
            else
                b->unchanged_count++;
        }
    }
    for (size_t k = 0; k < b->nold; k++)
        b->fixed_count += !b->old[k].matched;
    return true;
}

void bc_baseline_free(bc_baseline_t *b)
{
    for (size_t p = 0; p < b->nprocesses; p++) {
        if (b->state)
            free(b->state[p]);
        if (b->fingerprints)
            free(b->fingerprints[p]);
    }
    free(b->state);
    free(b->fingerprints);
    free(b->old);
    bc_json_free(b->json);
    free(b->text);
    memset(b, 0, sizeof *b);
}

void bc_baseline_summary(int fd, const bc_baseline_t *b)
{
    bc_out_t out;
    bc_out_init_fd(&out, fd);
    bc_out_puts(&out, "bstrcheck: baseline ");
    bc_out_text_escaped(&out, b->path, strlen(b->path));
    bc_out_printf(&out, ": %zu new, %zu unchanged, %zu fixed finding(s)%s\n", b->new_count,
                  b->unchanged_count, b->fixed_count,
                  b->new_count ? "; only the new ones fail the run" : "");
    bc_out_flush(&out);
}

void bc_json_value_write(bc_out_t *out, const bc_json_t *v)
{
    switch (v->type) {
    case BC_JSON_NULL:
        bc_out_puts(out, "null");
        break;
    case BC_JSON_BOOL:
        bc_out_puts(out, v->boolean ? "true" : "false");
        break;
    case BC_JSON_NUMBER:
        if (v->is_uint)
            bc_out_printf(out, "%llu", (unsigned long long)v->uint);
        else
            bc_out_printf(out, "%.17g", v->number);
        break;
    case BC_JSON_STRING:
        bc_out_json_string(out, v->string, v->len);
        break;
    case BC_JSON_ARRAY:
        bc_out_puts(out, "[");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                bc_out_puts(out, ", ");
            bc_json_value_write(out, &v->items[i]);
        }
        bc_out_puts(out, "]");
        break;
    case BC_JSON_OBJECT:
        bc_out_puts(out, "{");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                bc_out_puts(out, ", ");
            bc_out_json_string(out, v->keys[i], strlen(v->keys[i]));
            bc_out_puts(out, ": ");
            bc_json_value_write(out, &v->items[i]);
        }
        bc_out_puts(out, "}");
        break;
    }
}
