/* The merged SARIF 2.1.0 log, made from the per-process JSON reports and
 * written by the shim's SARIF writer (report/sarif.c): one run with the
 * command's arguments and exit code, a result per finding of every
 * process, located at the first frame with a source file in its most
 * telling stack (access, free, previous free, then allocation: the text
 * report's order), with its stacks, pid and exe. */
#include "launcher.h"
#include "sarif.h"

#include <stdlib.h>
#include <string.h>

static const bc_role_t role_order[] = {
    BC_ROLE_ACCESS, BC_ROLE_FREE, BC_ROLE_PREVIOUS_FREE, BC_ROLE_ALLOC,
};

/* A JSON frame ({"module", "offset", "function", "file", "line",
 * "inlined"}) as a symbolized frame; its strings stay in the JSON tree. */
static void read_frame(const bc_json_t *j, bc_frame_info_t *f)
{
    memset(f, 0, sizeof *f);
    const char *module = bc_json_str(bc_json_get(j, "module"));
    f->module = module ? module : "";
    const char *offset = bc_json_str(bc_json_get(j, "offset"));
    if (offset)
        f->offset = (uintptr_t)strtoull(offset, NULL, 16);
    f->function = bc_json_str(bc_json_get(j, "function"));
    f->file = bc_json_str(bc_json_get(j, "file"));
    uint64_t line = bc_json_uint(bc_json_get(j, "line"), 0);
    f->line = line <= INT32_MAX ? (int)line : 0;
    const bc_json_t *inlined = bc_json_get(j, "inlined");
    f->inlined = inlined && inlined->type == BC_JSON_BOOL && inlined->boolean;
}

/* The finding's stacks into RES (FRAMES: malloc'd, for the caller to
 * free), and its location: the first frame with a file, else the first. */
static bc_frame_info_t *read_stacks(const bc_json_t *finding, bc_sarif_result_t *res)
{
    const bc_json_t *stacks = bc_json_get(finding, "stacks");
    size_t total = 0;
    for (size_t r = 0; r < BC_ARRAY_LEN(role_order); r++)
        total += bc_json_count(bc_json_get(stacks, bc_fingerprint_roles[role_order[r]]));
    bc_frame_info_t *frames = total ? malloc(total * sizeof *frames) : NULL;
    if (!frames)
        return NULL; /* no frames, or out of memory: a result without stacks */
    size_t used = 0;
    for (size_t r = 0; r < BC_ARRAY_LEN(role_order); r++) {
        const bc_json_t *stack = bc_json_get(stacks, bc_fingerprint_roles[role_order[r]]);
        bc_sarif_stack_t *s = &res->stacks[res->nstacks++];
        s->role = role_order[r];
        s->frames = frames + used;
        s->nframes = bc_json_count(stack);
        for (size_t i = 0; i < s->nframes; i++) {
            bc_frame_info_t *f = &frames[used++];
            read_frame(&stack->items[i], f);
            if (!res->where || (!res->where->file && f->file))
                res->where = f;
        }
    }
    return frames;
}

/* One result of process PID (0: a baseline's finding); STATE is its
 * baselineState ("new", "unchanged", "absent"), or NULL without a
 * baseline. */
static void write_result(bc_sarif_writer_t *w, const bc_json_t *finding, int pid, const char *exe,
                         const char *state)
{
    const char *kind = bc_json_str(bc_json_get(finding, "kind"));
    const bc_json_t *sample = bc_json_get(finding, "sample");
    const bc_json_t *seq = bc_json_get(finding, "seq");
    const bc_json_t *rule = bc_json_get(finding, "rule");
    bc_sarif_result_t res = {
        .kind = bc_kind_from_name(kind),
        .kind_name = kind ? kind : "unknown",
        .detail = bc_json_str(bc_json_get(finding, "detail")),
        .count = bc_json_uint(bc_json_get(finding, "count"), 0),
        .bytes = bc_json_uint(bc_json_get(finding, "bytes"), 0),
        .sample = bc_json_str(sample),
        .sample_len = bc_json_str(sample) ? sample->len : 0,
        .seq_first = bc_json_uint(seq, bc_json_uint(bc_json_get(seq, "first"), 0)),
        .seq_last = bc_json_uint(bc_json_get(seq, "last"), 0),
        .rule_id = bc_json_str(bc_json_get(rule, "id")),
        .rule_text = bc_json_str(bc_json_get(rule, "text")),
        .exe = exe[0] ? exe : NULL,
        .baseline_state = state,
        .merged = true,
        .pid = pid,
    };
    char fingerprint[BC_FINGERPRINT_LEN];
    bc_json_fingerprint(finding, fingerprint);
    res.fingerprint = fingerprint;
    bc_frame_info_t *frames = read_stacks(finding, &res);
    bc_sarif_result(w, &res);
    free(frames);
}

bool bc_merged_sarif_write(const char *path, const bc_collection_t *c, const bc_run_result_t *run,
                           const bc_baseline_t *baseline)
{
    bc_out_t out;
    if (!bc_out_open(&out, path))
        return false;
    bc_sarif_run_t sarif_run = {
        .arguments = run->command,
        .working_directory = true,
        .has_exit_code = true,
        .exit_code = run->exit_status,
    };
    bc_sarif_writer_t w;
    bc_sarif_begin(&w, &out, &sarif_run);
    for (size_t i = 0; i < c->count; i++) {
        const bc_process_report_t *r = &c->reports[i];
        const bc_json_t *findings = bc_json_get(r->json, "findings");
        const char *exe = bc_json_str(bc_json_get(r->json, "exe"));
        for (size_t k = 0; k < bc_json_count(findings); k++) {
            const char *state = NULL;
            if (baseline)
                state = baseline->state[i][k] == BC_BASELINE_UNCHANGED ? "unchanged" : "new";
            write_result(&w, &findings->items[k], r->pid, exe ? exe : "", state);
        }
    }
    /* the baseline's findings this run no longer has */
    for (size_t k = 0; baseline && k < baseline->nold; k++)
        if (!baseline->old[k].matched)
            write_result(&w, baseline->old[k].finding, 0, "baseline", "absent");
    bc_sarif_end(&w);
    return bc_out_close(&out);
}
