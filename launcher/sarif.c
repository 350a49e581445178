/* The merged SARIF 2.1.0 log, made from the per-process JSON reports: one
 * run, a rule per finding kind, a result per finding of every process,
 * located at the first frame with a source file in its most telling stack
 * (access, free, previous free, then allocation: the text report's order). */
#include "launcher.h"

#include <stdio.h>
#include <string.h>

typedef struct rule {
    const char *id;
    const char *text;
} rule_t;

/* The kinds of INTERFACE.md ("Finding kinds"); a kind not listed here still
 * gets its results, with a ruleId and no ruleIndex. */
static const rule_t rules[] = {
    {"leak", "A BSTR still live at exit (or at a checkpoint asked to report)"},
    {"double_free", "SysFreeString or SysReAlloc* on a BSTR already freed"},
    {"invalid_free", "SysFreeString on a pointer that never was a BSTR, or points inside one"},
    {"use_after_free", "A freed BSTR passed to SysStringLen, SysStringByteLen, SysAddRefString "
                       "or SysReleaseString, or written to"},
    {"overflow", "Bytes past a BSTR's terminator changed"},
    {"prefix_corrupt", "A BSTR's length prefix no longer matches what was allocated"},
    {"invalid_bstr", "A pointer that is not a BSTR passed where a BSTR is required"},
    {"mismatched_free", "free() or realloc() on a BSTR or its block"},
};

static const char *const role_order[] = {"access", "free", "previous_free", "alloc"};

static int rule_index(const char *kind)
{
    for (size_t i = 0; i < BC_ARRAY_LEN(rules); i++)
        if (strcmp(rules[i].id, kind) == 0)
            return (int)i;
    return -1;
}

static void string(bc_out_t *out, const char *s)
{
    bc_out_json_string(out, s, strlen(s));
}

/* A file path as a URI reference: file:///abs/path, or a relative
 * reference; bytes other than unreserved ones and '/' are percent-encoded. */
static void uri(bc_out_t *out, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    bc_out_puts(out, "\"");
    if (path[0] == '/')
        bc_out_puts(out, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~/", *p);
        if (plain) {
            bc_out_write(out, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            bc_out_write(out, esc, 3);
        }
    }
    bc_out_puts(out, "\"");
}

static void write_rules(bc_out_t *out)
{
    bc_out_puts(out, "\"rules\": [");
    for (size_t i = 0; i < BC_ARRAY_LEN(rules); i++) {
        bc_out_puts(out, i ? ",\n      " : "\n      ");
        bc_out_printf(out, "{\"id\": \"%s\", \"name\": \"%s\", \"shortDescription\": {\"text\": ",
                      rules[i].id, rules[i].id);
        string(out, rules[i].text);
        bc_out_puts(out, "}, \"defaultConfiguration\": {\"level\": \"error\"}}");
    }
    bc_out_puts(out, "]");
}

/* The first frame with a file, in the finding's most telling stack. */
static const bc_json_t *located_frame(const bc_json_t *finding)
{
    const bc_json_t *stacks = bc_json_get(finding, "stacks");
    for (size_t r = 0; r < BC_ARRAY_LEN(role_order); r++) {
        const bc_json_t *stack = bc_json_get(stacks, role_order[r]);
        for (size_t i = 0; i < bc_json_count(stack); i++)
            if (bc_json_str(bc_json_get(&stack->items[i], "file")))
                return &stack->items[i];
    }
    return NULL;
}

static void write_location(bc_out_t *out, const bc_json_t *frame)
{
    bc_out_puts(out, ",\n       \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ");
    uri(out, bc_json_str(bc_json_get(frame, "file")));
    bc_out_puts(out, "}");
    uint64_t line = bc_json_uint(bc_json_get(frame, "line"), 0);
    if (line > 0 && line <= INT32_MAX)
        bc_out_printf(out, ", \"region\": {\"startLine\": %llu}", (unsigned long long)line);
    bc_out_puts(out, "}");
    const char *function = bc_json_str(bc_json_get(frame, "function"));
    if (function) {
        bc_out_puts(out, ", \"logicalLocations\": [{\"fullyQualifiedName\": ");
        string(out, function);
        bc_out_puts(out, ", \"kind\": \"function\"}]");
    }
    bc_out_puts(out, "}]");
}

static void write_message(bc_out_t *out, const char *kind, const bc_json_t *finding, int pid,
                          const char *exe)
{
    char text[1024];
    const char *detail = bc_json_str(bc_json_get(finding, "detail"));
    const char *sample = bc_json_str(bc_json_get(finding, "sample"));
    int n;
    if (strcmp(kind, "leak") == 0)
        n = snprintf(text, sizeof text, "Leak of %llu BSTR(s), %llu bytes",
                     (unsigned long long)bc_json_uint(bc_json_get(finding, "count"), 0),
                     (unsigned long long)bc_json_uint(bc_json_get(finding, "bytes"), 0));
    else
        n = snprintf(text, sizeof text, "%s: %s", kind, detail ? detail : "");
    if (n < 0)
        n = 0;
    if (sample && (size_t)n < sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, " (sample \"%s\")", sample);
    if ((size_t)n < sizeof text && pid == 0)
        n += snprintf(text + n, sizeof text - (size_t)n, ", fixed since the baseline");
    else if ((size_t)n < sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, ", in process %d (%s)", pid, exe);
    const char *rule = bc_json_str(bc_json_get(bc_json_get(finding, "rule"), "text"));
    if (rule && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ". Ownership: %s.", rule);
    bc_out_puts(out, "\"message\": {\"text\": ");
    string(out, text);
    bc_out_puts(out, "}");
}

/* One result; STATE is its baselineState ("new", "unchanged", "absent"),
 * or NULL without a baseline. */
static void write_result(bc_out_t *out, const bc_json_t *finding, int pid, const char *exe,
                         const char *state)
{
    const char *kind = bc_json_str(bc_json_get(finding, "kind"));
    if (!kind)
        kind = "unknown";
    bc_out_puts(out, "{\"ruleId\": ");
    string(out, kind);
    int index = rule_index(kind);
    if (index >= 0)
        bc_out_printf(out, ", \"ruleIndex\": %d", index);
    bc_out_puts(out, ", \"level\": \"error\",\n       ");
    write_message(out, kind, finding, pid, exe);
    const bc_json_t *frame = located_frame(finding);
    if (frame)
        write_location(out, frame);
    char fingerprint[BC_FINGERPRINT_LEN];
    bc_json_fingerprint(finding, fingerprint);
    bc_out_printf(out, ",\n       \"partialFingerprints\": {\"bstrcheckFingerprint/v1\": \"%s\"}",
                  fingerprint);
    if (state)
        bc_out_printf(out, ", \"baselineState\": \"%s\"", state);
    bc_out_printf(out, ",\n       \"properties\": {\"pid\": %d, \"exe\": ", pid);
    string(out, exe);
    bc_out_printf(out, ", \"count\": %llu, \"bytes\": %llu",
                  (unsigned long long)bc_json_uint(bc_json_get(finding, "count"), 0),
                  (unsigned long long)bc_json_uint(bc_json_get(finding, "bytes"), 0));
    const bc_json_t *rule = bc_json_get(finding, "rule");
    const char *rule_id = bc_json_str(bc_json_get(rule, "id"));
    if (rule_id) {
        bc_out_puts(out, ", \"rule\": ");
        string(out, rule_id);
    }
    bc_out_puts(out, "}}");
}

bool bc_merged_sarif_write(const char *path, const bc_collection_t *c, const bc_run_result_t *run,
                           const bc_baseline_t *baseline)
{
    bc_out_t out;
    if (!bc_out_open(&out, path))
        return false;
    bc_out_puts(&out, "{\"version\": \"2.1.0\",\n \"$schema\": "
                      "\"https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/"
                      "Schemata/sarif-schema-2.1.0.json\",\n \"runs\": [{\n  \"tool\": "
                      "{\"driver\": {\"name\": \"bstrcheck\", \"version\": \"" BC_VERSION "\",\n    ");
    write_rules(&out);
    bc_out_puts(&out, "}},\n  \"invocations\": [{\"executionSuccessful\": true, \"arguments\": [");
    for (size_t i = 0; run->command[i]; i++) {
        if (i)
            bc_out_puts(&out, ", ");
        string(&out, run->command[i]);
    }
    bc_out_printf(&out, "], \"exitCode\": %d}],\n  \"results\": [", run->exit_status);
    bool first = true;
    for (size_t i = 0; i < c->count; i++) {
        const bc_process_report_t *r = &c->reports[i];
        const bc_json_t *findings = bc_json_get(r->json, "findings");
        const char *exe = bc_json_str(bc_json_get(r->json, "exe"));
        for (size_t k = 0; k < bc_json_count(findings); k++) {
            bc_out_puts(&out, first ? "\n      " : ",\n      ");
            const char *state = NULL;
            if (baseline)
                state = baseline->state[i][k] == BC_BASELINE_UNCHANGED ? "unchanged" : "new";
            write_result(&out, &findings->items[k], r->pid, exe ? exe : "", state);
            first = false;
        }
    }
    /* the baseline's findings this run no longer has */
    for (size_t k = 0; baseline && k < baseline->nold; k++) {
        if (baseline->old[k].matched)
            continue;
        bc_out_puts(&out, first ? "\n      " : ",\n      ");
        write_result(&out, baseline->old[k].finding, 0, "baseline", "absent");
        first = false;
    }
    bc_out_puts(&out, first ? "]}]}\n" : "\n  ]}]}\n");
    return bc_out_close(&out);
}
