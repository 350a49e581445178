/* The SARIF 2.1.0 report (OASIS Static Analysis Results Interchange Format)
 * for code-scanning tools: one run, one rule per finding kind, one result
 * per finding. A result points at its first frame in the user's code; its
 * stacks come twice, as SARIF `stacks` (innermost frame first) and as
 * `codeFlows` (outermost call first), which viewers show step by step. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* INTERFACE.md's finding kinds table, one line each. */
static const char *const kind_descriptions[BC_KIND_COUNT] = {
    "A BSTR still live at exit (or at a checkpoint asked to report).",
    "SysFreeString or SysReAlloc* on a BSTR already freed.",
    "SysFreeString on a pointer that never was a BSTR, or points inside one.",
    "A freed BSTR used: SysStringLen, SysStringByteLen, SysAddRefString or SysReleaseString "
    "on it, a write into its poisoned body, or a guard-page fault on it.",
    "Bytes past a BSTR's terminator changed, or a guard-page fault past its end.",
    "A BSTR's length prefix no longer matches what was allocated.",
    "SysStringLen, SysStringByteLen, SysReAlloc* or SysAddRefString on a pointer that is not "
    "a BSTR.",
    "free() or realloc() on a BSTR or its block.",
};

static const char *const role_messages[BC_ROLE_COUNT] = {
    "allocated at", "freed at", "previously freed at", "accessed at",
};

/* "double_free" -> "DoubleFree": the rule's friendly name. */
static void write_rule_name(bc_out_t *out, const char *kind)
{
    bool upper = true;
    for (const char *p = kind; *p; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        char c = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        bc_out_write(out, &c, 1);
        upper = false;
    }
}

static void write_rules(bc_out_t *out)
{
    for (int k = 0; k < BC_KIND_COUNT; k++) {
        bc_out_printf(out, "%s\n        {\"id\": \"%s\", \"name\": \"", k ? "," : "",
                      bc_kind_names[k]);
        write_rule_name(out, bc_kind_names[k]);
        bc_out_puts(out, "\", \"shortDescription\": {\"text\": ");
        bc_out_json_string(out, kind_descriptions[k], strlen(kind_descriptions[k]));
        bc_out_puts(out, "}, \"defaultConfiguration\": {\"level\": \"error\"}}");
    }
}

/* "function (module+0xoffset)", or what of it is known. */
static void write_frame_message(bc_out_t *out, const bc_frame_info_t *f)
{
    bc_out_puts(out, "\"message\": {\"text\": \"");
    const char *function = f->function ? f->function : "??";
    bc_out_json_chars(out, function, strlen(function));
    if (f->inlined)
        bc_out_puts(out, " (inlined)");
    if (!f->file && f->module[0]) {
        bc_out_puts(out, " (");
        bc_out_json_chars(out, f->module, strlen(f->module));
        bc_out_printf(out, "+0x%lx)", (unsigned long)f->offset);
    }
    bc_out_puts(out, "\"}");
}

/* A location object for frame F. Without a source file, FALLBACK_URI
 * (a module path, or NULL) stands in as the artifact. */
static void write_location(bc_out_t *out, const bc_frame_info_t *f, const char *fallback_uri)
{
    bc_out_puts(out, "{");
    const char *artifact = f->file && f->file[0] ? f->file : fallback_uri;
    if (artifact) {
        bc_out_puts(out, "\"physicalLocation\": {\"artifactLocation\": {\"uri\": \"");
        bc_out_file_uri(out, artifact);
        bc_out_puts(out, "\"}");
        if (artifact == f->file && f->line > 0)
            bc_out_printf(out, ", \"region\": {\"startLine\": %d}", f->line);
        bc_out_puts(out, "}, ");
    }
    if (f->function) {
        bc_out_puts(out, "\"logicalLocations\": [{\"fullyQualifiedName\": ");
        bc_out_json_string(out, f->function, strlen(f->function));
        bc_out_puts(out, ", \"kind\": \"function\"}], ");
    }
    write_frame_message(out, f);
    bc_out_puts(out, "}");
}

typedef struct frame_writer {
    bc_out_t *out;
    bool first;
} frame_writer_t;

static bool write_stack_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    frame_writer_t *w = arg;
    bc_out_puts(w->out, w->first ? "\n            {\"location\": " : ",\n            {\"location\": ");
    write_location(w->out, f, NULL);
    if (f->module[0]) {
        bc_out_puts(w->out, ", \"module\": ");
        bc_out_json_string(w->out, f->module, strlen(f->module));
    }
    bc_out_puts(w->out, "}");
    w->first = false;
    return true;
}

static void write_stacks(bc_out_t *out, const bc_finding_t *f)
{
    bool first = true;
    bc_out_puts(out, ",\n       \"stacks\": [");
    for (int i = 0; i < BC_ROLE_COUNT; i++) {
        bc_role_t role = bc_role_display_order[i];
        if (!f->stacks[role] || bc_depot_get(f->stacks[role]).nframes == 0)
            continue;
        bc_out_printf(out, "%s\n          {\"message\": {\"text\": \"%s\"}, \"frames\": [",
                      first ? "" : ",", role_messages[role]);
        frame_writer_t w = {out, true};
        bc_frames_walk(f->stacks[role], write_stack_frame, &w);
        bc_out_puts(out, "]}");
        first = false;
    }
    bc_out_puts(out, "]");
}

/* One code flow per stack, its locations in execution order: the
 * outermost call first, nestingLevel counting the calls below it. */
static void write_code_flow(bc_out_t *out, bc_role_t role, bc_stack_t stack)
{
    bc_out_printf(out, "\n          {\"message\": {\"text\": \"%s\"}, \"threadFlows\": "
                       "[{\"locations\": [",
                  role_messages[role]);
    unsigned level = 0;
    for (uint32_t i = stack.nframes; i-- > 0;) {
        bc_frame_info_t frames[BC_MAX_INLINE];
        size_t n = bc_symbolize(stack.frames[i], frames, BC_MAX_INLINE);
        for (size_t k = n; k-- > 0;) {
            bc_out_puts(out, level ? ",\n            {\"location\": " : "\n            {\"location\": ");
            write_location(out, &frames[k], NULL);
            bc_out_printf(out, ", \"nestingLevel\": %u}", level);
            level++;
        }
    }
    bc_out_puts(out, "]}]}");
}

static void write_code_flows(bc_out_t *out, const bc_finding_t *f)
{
    bool first = true;
    bc_out_puts(out, ",\n       \"codeFlows\": [");
    for (int i = 0; i < BC_ROLE_COUNT; i++) {
        bc_role_t role = bc_role_display_order[i];
        bc_stack_t stack = f->stacks[role] ? bc_depot_get(f->stacks[role]) : (bc_stack_t){0, NULL};
        if (stack.nframes == 0)
            continue;
        if (!first)
            bc_out_puts(out, ",");
        write_code_flow(out, role, stack);
        first = false;
    }
    bc_out_puts(out, "]");
}

/* "Leak of N BSTR(s), B bytes, allocated in F." or "KIND: DETAIL (N
 * event(s))." then the sample, text-escaped. */
static void write_message(bc_out_t *out, const bc_finding_t *f, const bc_frame_info_t *where,
                          const bc_finding_info_t *info)
{
    char head[BC_DETAIL_MAX + 160];
    int n;
    if (f->kind == BC_KIND_LEAK)
        n = snprintf(head, sizeof head, "Leak of %llu BSTR(s), %llu bytes, allocated",
                     (unsigned long long)f->count, (unsigned long long)f->bytes);
    else
        n = snprintf(head, sizeof head, "%s: %s (%llu event(s))", bc_kind_names[f->kind],
                     f->detail, (unsigned long long)f->count);
    bc_out_puts(out, "\"message\": {\"text\": \"");
    bc_out_json_chars(out, head, n > 0 ? strnlen(head, sizeof head) : 0);
    if (f->kind == BC_KIND_LEAK && where && where->function) {
        bc_out_puts(out, " in ");
        bc_out_json_chars(out, where->function, strlen(where->function));
    }
    bc_out_puts(out, ".");
    if (f->sample_len) {
        char sample[BC_SAMPLE_MAX * 4 + 1];
        size_t len = bc_text_escape(f->sample, f->sample_len, sample, sizeof sample);
        bc_out_puts(out, " Sample: \\\"");
        bc_out_json_chars(out, sample, len);
        bc_out_puts(out, "\\\".");
    }
    if (info && info->seq_first) {
        if (f->kind == BC_KIND_LEAK && f->count > 1)
            bc_out_printf(out, " Allocations {%llu} to {%llu}.",
                          (unsigned long long)info->seq_first,
                          (unsigned long long)info->seq_last);
        else
            bc_out_printf(out, " Allocation {%llu}.", (unsigned long long)info->seq_first);
    }
    if (info && info->rule != BC_RULE_NONE) {
        bc_out_puts(out, " Ownership: ");
        bc_out_json_chars(out, info->rule_text, strlen(info->rule_text));
        bc_out_puts(out, ".");
    }
    bc_out_puts(out, "\"}");
}

static void write_result(bc_out_t *out, const bc_report_t *r, const bc_finding_t *f,
                         const bc_finding_info_t *info)
{
    bc_out_printf(out, "\n      {\"ruleId\": \"%s\", \"ruleIndex\": %d, \"level\": \"error\",\n       ",
                  bc_kind_names[f->kind], (int)f->kind);
    bc_frame_info_t where;
    bool located = bc_finding_primary_frame(f, &where);
    write_message(out, f, located ? &where : NULL, info);
    bc_out_puts(out, ",\n       \"locations\": [");
    if (located) {
        write_location(out, &where, where.module[0] ? where.module : r->exe);
    } else {
        bc_frame_info_t nowhere;
        memset(&nowhere, 0, sizeof nowhere);
        nowhere.module = "";
        write_location(out, &nowhere, r->exe);
    }
    bc_out_puts(out, "]");
    char fingerprint[BC_FINGERPRINT_LEN];
    bc_finding_fingerprint(f, fingerprint);
    bc_out_printf(out, ",\n       \"partialFingerprints\": {\"bstrcheckFingerprint/v1\": \"%s\"}",
                  fingerprint);
    write_stacks(out, f);
    write_code_flows(out, f);
    bc_out_printf(out, ",\n       \"properties\": {\"count\": %llu, \"bytes\": %llu",
                  (unsigned long long)f->count, (unsigned long long)f->bytes);
    if (f->sample_len) {
        bc_out_puts(out, ", \"sample\": ");
        bc_out_json_string(out, f->sample, f->sample_len);
    }
    if (info && info->seq_first && f->kind == BC_KIND_LEAK)
        bc_out_printf(out, ", \"seq\": {\"first\": %llu, \"last\": %llu}",
                      (unsigned long long)info->seq_first, (unsigned long long)info->seq_last);
    else if (info && info->seq_first)
        bc_out_printf(out, ", \"seq\": %llu", (unsigned long long)info->seq_first);
    if (info && info->rule != BC_RULE_NONE)
        bc_out_printf(out, ", \"rule\": \"%s\"", bc_rule_ids[info->rule]);
    bc_out_puts(out, "}}");
}

static void write_invocation(bc_out_t *out, const bc_report_t *r)
{
    bc_out_printf(out, "  \"invocations\": [{\"executionSuccessful\": true, \"processId\": %d", r->pid);
    if (r->exe[0]) {
        bc_out_puts(out, ", \"executableLocation\": {\"uri\": \"");
        bc_out_file_uri(out, r->exe);
        bc_out_puts(out, "\"}");
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && cwd[0] == '/') {
        /* code scanning makes absolute file URIs relative to this */
        bc_out_puts(out, ", \"workingDirectory\": {\"uri\": \"");
        bc_out_file_uri(out, cwd);
        bc_out_puts(out, cwd[1] ? "/\"}" : "\"}");
    }
    bc_out_puts(out, "}],\n");
}

void bc_sarif_write(bc_out_t *out, const bc_report_t *r)
{
    bc_out_puts(out, "{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
                     " \"version\": \"2.1.0\",\n"
                     " \"runs\": [{\n");
    bc_out_printf(out, "  \"tool\": {\"driver\": {\"name\": \"bstrcheck\", \"version\": \"%s\", "
                       "\"semanticVersion\": \"%s\",\n      \"rules\": [",
                  BC_VERSION, BC_VERSION);
    write_rules(out);
    bc_out_puts(out, "]}},\n");
    write_invocation(out, r);
    bc_out_puts(out, "  \"results\": [");
    for (size_t i = 0; i < r->nfindings; i++) {
        if (i)
            bc_out_puts(out, ",");
        write_result(out, r, &r->findings[i], r->info ? &r->info[i] : NULL);
    }
    bc_out_printf(out, "%s],\n", r->nfindings ? "\n  " : "");
    bc_out_printf(out, "  \"properties\": {\"reason\": \"%s\", \"allocations\": %llu, "
                       "\"frees\": %llu, \"leaked\": %llu, \"leakedBytes\": %llu, "
                       "\"suppressed\": %llu}\n }]}\n",
                  r->reason, (unsigned long long)r->allocations, (unsigned long long)r->frees,
                  (unsigned long long)r->leaked, (unsigned long long)r->leaked_bytes,
                  (unsigned long long)r->suppressed);
}
