/* The shim's per-process SARIF log: each finding's stacks symbolized into
 * frames, located at its first frame in the user's code (frames.c), and
 * handed to the one SARIF writer (sarif.c) with the process's invocation
 * and summary counts. */
#include "report.h"
#include "sarif.h"

#include <stdlib.h>

typedef struct frame_list {
    bc_frame_info_t *frames;
    size_t n, cap;
} frame_list_t;

static bool collect_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    frame_list_t *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        bc_frame_info_t *grown = realloc(l->frames, cap * sizeof *grown);
        if (!grown)
            return false; /* out of memory: the stack is cut here */
        l->frames = grown;
        l->cap = cap;
    }
    l->frames[l->n++] = *f; /* its strings live in the symbolizer's cache */
    return true;
}

static void write_finding(bc_sarif_writer_t *w, const bc_report_t *r, const bc_finding_t *f,
                          const bc_finding_info_t *info)
{
    bc_sarif_result_t res = {
        .kind = (int)f->kind,
        .detail = f->detail,
        .count = f->count,
        .bytes = f->bytes,
        .sample = f->sample,
        .sample_len = f->sample_len,
        .exe = r->exe,
    };
    if (info) {
        res.seq_first = info->seq_first;
        res.seq_last = info->seq_last;
        if (info->rule != BC_RULE_NONE) {
            res.rule_id = bc_rule_ids[info->rule];
            res.rule_text = info->rule_text;
        }
    }
    char fingerprint[BC_FINGERPRINT_LEN];
    bc_finding_fingerprint(f, fingerprint);
    res.fingerprint = fingerprint;
    bc_frame_info_t where;
    if (bc_finding_primary_frame(f, &where))
        res.where = &where;
    frame_list_t lists[BC_ROLE_COUNT] = {{0}};
    for (int i = 0; i < BC_ROLE_COUNT; i++) {
        bc_role_t role = bc_role_display_order[i];
        if (f->stacks[role])
            bc_frames_walk(f->stacks[role], collect_frame, &lists[i]);
        res.stacks[i] = (bc_sarif_stack_t){role, lists[i].frames, lists[i].n};
    }
    res.nstacks = BC_ROLE_COUNT;
    bc_sarif_result(w, &res);
    for (int i = 0; i < BC_ROLE_COUNT; i++)
        free(lists[i].frames);
}

void bc_sarif_write(bc_out_t *out, const bc_report_t *r)
{
    bc_sarif_counts_t counts = {
        .reason = r->reason,
        .allocations = r->allocations,
        .frees = r->frees,
        .leaked = r->leaked,
        .leaked_bytes = r->leaked_bytes,
        .suppressed = r->suppressed,
    };
    bc_sarif_run_t run = {
        .pid = r->pid,
        .exe = r->exe,
        .working_directory = true,
        .counts = &counts,
    };
    bc_sarif_writer_t w;
    bc_sarif_begin(&w, out, &run);
    for (size_t i = 0; i < r->nfindings; i++)
        write_finding(&w, r, &r->findings[i], r->info ? &r->info[i] : NULL);
    bc_sarif_end(&w);
}
