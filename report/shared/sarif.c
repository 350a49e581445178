/* The SARIF 2.1.0 writer (OASIS Static Analysis Results Interchange Format)
 * for code-scanning tools, shared by the shim and the launcher (sarif.h):
 * one run, one rule per finding kind (kinds.h), one result per finding. A
 * result points at one frame; its stacks come twice, as SARIF `stacks`
 * (innermost frame first) and as `codeFlows` (outermost call first), which
 * viewers show step by step. */
#include "sarif.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
        bc_out_json_string(out, bc_kind_descriptions[k], strlen(bc_kind_descriptions[k]));
        bc_out_puts(out, "}, \"defaultConfiguration\": {\"level\": \"error\"}}");
    }
}

static void string(bc_out_t *out, const char *s)
{
    bc_out_json_string(out, s, strlen(s));
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
        string(out, f->function);
        bc_out_puts(out, ", \"kind\": \"function\"}], ");
    }
    write_frame_message(out, f);
    bc_out_puts(out, "}");
}

static void write_stacks(bc_out_t *out, const bc_sarif_result_t *res)
{
    bool first = true;
    bc_out_puts(out, ",\n       \"stacks\": [");
    for (size_t i = 0; i < res->nstacks && i < BC_ROLE_COUNT; i++) {
        const bc_sarif_stack_t *s = &res->stacks[i];
        if (s->nframes == 0 || (unsigned)s->role >= BC_ROLE_COUNT)
            continue;
        bc_out_printf(out, "%s\n          {\"message\": {\"text\": \"%s\"}, \"frames\": [",
                      first ? "" : ",", role_messages[s->role]);
        for (size_t k = 0; k < s->nframes; k++) {
            const bc_frame_info_t *f = &s->frames[k];
            bc_out_puts(out, k ? ",\n            {\"location\": " : "\n            {\"location\": ");
            write_location(out, f, NULL);
            if (f->module[0]) {
                bc_out_puts(out, ", \"module\": ");
                string(out, f->module);
            }
            bc_out_puts(out, "}");
        }
        bc_out_puts(out, "]}");
        first = false;
    }
    bc_out_puts(out, "]");
}

/* One code flow per stack, its locations in execution order: the
 * outermost call first, nestingLevel counting the calls below it. */
static void write_code_flows(bc_out_t *out, const bc_sarif_result_t *res)
{
    bool first = true;
    bc_out_puts(out, ",\n       \"codeFlows\": [");
    for (size_t i = 0; i < res->nstacks && i < BC_ROLE_COUNT; i++) {
        const bc_sarif_stack_t *s = &res->stacks[i];
        if (s->nframes == 0 || (unsigned)s->role >= BC_ROLE_COUNT)
            continue;
        bc_out_printf(out, "%s\n          {\"message\": {\"text\": \"%s\"}, \"threadFlows\": "
                           "[{\"locations\": [",
                      first ? "" : ",", role_messages[s->role]);
        unsigned level = 0;
        for (size_t k = s->nframes; k-- > 0; level++) {
            bc_out_puts(out, level ? ",\n            {\"location\": " : "\n            {\"location\": ");
            write_location(out, &s->frames[k], NULL);
            bc_out_printf(out, ", \"nestingLevel\": %u}", level);
        }
        bc_out_puts(out, "]}]}");
        first = false;
    }
    bc_out_puts(out, "]");
}

static const char *kind_name(const bc_sarif_result_t *res)
{
    if (res->kind_name)
        return res->kind_name;
    return res->kind >= 0 && res->kind < BC_KIND_COUNT ? bc_kind_names[res->kind] : "unknown";
}

/* "Leak of N BSTR(s), B bytes, allocated in F." or "KIND: DETAIL (N
 * event(s))." then the sample (text-escaped), the allocation numbers, the
 * verdict and, in a merged log, the process. */
static void write_message(bc_out_t *out, const bc_sarif_result_t *res)
{
    char head[BC_DETAIL_MAX + 160];
    int n;
    if (res->kind == BC_KIND_LEAK)
        n = snprintf(head, sizeof head, "Leak of %llu BSTR(s), %llu bytes, allocated",
                     (unsigned long long)res->count, (unsigned long long)res->bytes);
    else
        n = snprintf(head, sizeof head, "%s: %s (%llu event(s))", kind_name(res),
                     res->detail ? res->detail : "", (unsigned long long)res->count);
    bc_out_puts(out, "\"message\": {\"text\": \"");
    bc_out_json_chars(out, head, n > 0 ? strnlen(head, sizeof head) : 0);
    if (res->kind == BC_KIND_LEAK && res->where && res->where->function) {
        bc_out_puts(out, " in ");
        bc_out_json_chars(out, res->where->function, strlen(res->where->function));
    }
    bc_out_puts(out, ".");
    if (res->sample_len) {
        char sample[BC_SAMPLE_MAX * 4 + 1];
        size_t len = bc_text_escape(res->sample, res->sample_len, sample, sizeof sample);
        bc_out_puts(out, " Sample: \\\"");
        bc_out_json_chars(out, sample, len);
        bc_out_puts(out, "\\\".");
    }
    if (res->seq_first) {
        if (res->kind == BC_KIND_LEAK && res->count > 1)
            bc_out_printf(out, " Allocations {%llu} to {%llu}.",
                          (unsigned long long)res->seq_first, (unsigned long long)res->seq_last);
        else
            bc_out_printf(out, " Allocation {%llu}.", (unsigned long long)res->seq_first);
    }
    if (res->rule_text) {
        bc_out_puts(out, " Ownership: ");
        bc_out_json_chars(out, res->rule_text, strlen(res->rule_text));
        bc_out_puts(out, ".");
    }
    if (res->merged && res->pid > 0) {
        bc_out_printf(out, " In process %d (", res->pid);
        bc_out_json_chars(out, res->exe ? res->exe : "", res->exe ? strlen(res->exe) : 0);
        bc_out_puts(out, ").");
    } else if (res->merged) {
        bc_out_puts(out, " Fixed since the baseline.");
    }
    bc_out_puts(out, "\"}");
}

static void write_properties(bc_out_t *out, const bc_sarif_result_t *res)
{
    bc_out_puts(out, ",\n       \"properties\": {");
    if (res->merged) {
        bc_out_printf(out, "\"pid\": %d, \"exe\": ", res->pid);
        string(out, res->exe ? res->exe : "");
        bc_out_puts(out, ", ");
    }
    bc_out_printf(out, "\"count\": %llu, \"bytes\": %llu", (unsigned long long)res->count,
                  (unsigned long long)res->bytes);
    if (res->sample_len) {
        bc_out_puts(out, ", \"sample\": ");
        bc_out_json_string(out, res->sample, res->sample_len);
    }
    if (res->seq_first && res->kind == BC_KIND_LEAK)
        bc_out_printf(out, ", \"seq\": {\"first\": %llu, \"last\": %llu}",
                      (unsigned long long)res->seq_first, (unsigned long long)res->seq_last);
    else if (res->seq_first)
        bc_out_printf(out, ", \"seq\": %llu", (unsigned long long)res->seq_first);
    if (res->rule_id) {
        bc_out_puts(out, ", \"rule\": ");
        string(out, res->rule_id);
    }
    bc_out_puts(out, "}}");
}

void bc_sarif_result(bc_sarif_writer_t *w, const bc_sarif_result_t *res)
{
    bc_out_t *out = w->out;
    if (w->nresults++)
        bc_out_puts(out, ",");
    bc_out_puts(out, "\n      {\"ruleId\": ");
    string(out, kind_name(res));
    if (res->kind >= 0 && res->kind < BC_KIND_COUNT)
        bc_out_printf(out, ", \"ruleIndex\": %d", res->kind);
    bc_out_puts(out, ", \"level\": \"error\",\n       ");
    write_message(out, res);
    /* a baseline's finding (merged, pid 0) has no executable to point at */
    const char *exe = res->merged && res->pid <= 0 ? NULL : res->exe;
    if (res->where || exe) {
        bc_out_puts(out, ",\n       \"locations\": [");
        if (res->where) {
            const char *module = res->where->module;
            write_location(out, res->where, module && module[0] ? module : exe);
        } else {
            bc_frame_info_t nowhere;
            memset(&nowhere, 0, sizeof nowhere);
            nowhere.module = "";
            write_location(out, &nowhere, exe);
        }
        bc_out_puts(out, "]");
    }
    bc_out_puts(out, ",\n       \"partialFingerprints\": {\"bstrcheckFingerprint/v1\": ");
    string(out, res->fingerprint ? res->fingerprint : "");
    bc_out_puts(out, "}");
    if (res->baseline_state)
        bc_out_printf(out, ", \"baselineState\": \"%s\"", res->baseline_state);
    write_stacks(out, res);
    write_code_flows(out, res);
    write_properties(out, res);
}

static void write_invocation(bc_out_t *out, const bc_sarif_run_t *run)
{
    bc_out_puts(out, "  \"invocations\": [{\"executionSuccessful\": true");
    if (run->arguments) {
        bc_out_puts(out, ", \"arguments\": [");
        for (size_t i = 0; run->arguments[i]; i++) {
            if (i)
                bc_out_puts(out, ", ");
            string(out, run->arguments[i]);
        }
        bc_out_puts(out, "]");
    }
    if (run->pid > 0)
        bc_out_printf(out, ", \"processId\": %d", run->pid);
    if (run->exe && run->exe[0]) {
        bc_out_puts(out, ", \"executableLocation\": {\"uri\": \"");
        bc_out_file_uri(out, run->exe);
        bc_out_puts(out, "\"}");
    }
    char cwd[PATH_MAX];
    if (run->working_directory && getcwd(cwd, sizeof cwd) && cwd[0] == '/') {
        /* code scanning makes absolute file URIs relative to this */
        bc_out_puts(out, ", \"workingDirectory\": {\"uri\": \"");
        bc_out_file_uri(out, cwd);
        bc_out_puts(out, cwd[1] ? "/\"}" : "\"}");
    }
    if (run->has_exit_code)
        bc_out_printf(out, ", \"exitCode\": %d", run->exit_code);
    bc_out_puts(out, "}],\n");
}

void bc_sarif_begin(bc_sarif_writer_t *w, bc_out_t *out, const bc_sarif_run_t *run)
{
    w->out = out;
    w->run = run;
    w->nresults = 0;
    bc_out_puts(out, "{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
                     " \"version\": \"2.1.0\",\n"
                     " \"runs\": [{\n");
    bc_out_printf(out, "  \"tool\": {\"driver\": {\"name\": \"bstrcheck\", \"version\": \"%s\", "
                       "\"semanticVersion\": \"%s\",\n      \"rules\": [",
                  BC_VERSION, BC_VERSION);
    write_rules(out);
    bc_out_puts(out, "]}},\n");
    write_invocation(out, run);
    bc_out_puts(out, "  \"results\": [");
}

void bc_sarif_end(bc_sarif_writer_t *w)
{
    bc_out_t *out = w->out;
    const bc_sarif_counts_t *c = w->run->counts;
    bc_out_puts(out, w->nresults ? "\n  ]" : "]");
    if (c)
        bc_out_printf(out, ",\n  \"properties\": {\"reason\": \"%s\", \"allocations\": %llu, "
                           "\"frees\": %llu, \"leaked\": %llu, \"leakedBytes\": %llu, "
                           "\"suppressed\": %llu}",
                      c->reason, (unsigned long long)c->allocations,
                      (unsigned long long)c->frees, (unsigned long long)c->leaked,
                      (unsigned long long)c->leaked_bytes, (unsigned long long)c->suppressed);
    bc_out_puts(out, "\n }]}\n");
}
