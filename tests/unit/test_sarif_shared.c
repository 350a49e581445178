/* What the shim and the launcher share for SARIF, linked here through the
 * launcher's library: the kinds table (names and descriptions, one per
 * INTERFACE.md kind), the one URI encoder's edge cases, and the one SARIF
 * writer fed a model the way the launcher fills it. */
#include "launcher.h"
#include "sarif.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static char got[65536];
static size_t got_len;

/* Run FN(OUT, ARG) into a temporary file; the bytes land in GOT. */
static void capture(void (*fn)(bc_out_t *, const void *), const void *arg)
{
    static bc_out_t out;
    FILE *f = tmpfile();
    if (!f)
        abort();
    bc_out_init_fd(&out, fileno(f));
    fn(&out, arg);
    bc_out_flush(&out);
    rewind(f);
    got_len = fread(got, 1, sizeof got - 1, f);
    got[got_len] = '\0';
    fclose(f);
}

static void write_uri(bc_out_t *out, const void *path)
{
    bc_out_file_uri(out, path);
}

#define URI(in, expected, ...)                                                      \
    do {                                                                            \
        capture(write_uri, in);                                                     \
        tap_is_mem(got, got_len, expected, sizeof(expected) - 1, __VA_ARGS__);      \
    } while (0)

/* 11 */
static void uri_edges(void)
{
    URI("/a b/c", "file:///a%20b/c", "uri: a space is %%20");
    URI("/100%/x", "file:///100%25/x", "uri: %% is %%25, never left as an escape");
    URI("/src/x#1.c", "file:///src/x%231.c", "uri: # is encoded (it would start a fragment)");
    URI("/src/x?.c", "file:///src/x%3F.c", "uri: ? is encoded (it would start a query)");
    URI("/u/\xC3\xA9\xFF.c", "file:///u/%C3%A9%FF.c",
        "uri: bytes of 0x80 and up, valid UTF-8 or not, encoded one by one in upper-case hex");
    URI("src/x.c", "src/x.c", "uri: a relative path stays a relative reference (no file://)");
    URI("a:b/c.c", "a%3Ab/c.c", "uri: a relative path's ':' is encoded (no scheme is read)");
    URI("/", "file:///", "uri: the root");
    URI("", "", "uri: empty path, empty reference");
    URI("/t\x01\x7f\"\\", "file:///t%01%7F%22%5C",
        "uri: control bytes, quote and backslash encoded (no JSON escaping needed)");
    URI("/a-b_c~d.e+f,g=h@i", "file:///a-b_c~d.e+f,g=h@i",
        "uri: unreserved characters and the sub-delims a path may hold are kept");
}

/* 5 */
static void kinds_table(void)
{
    static const char *const interface_kinds[] = {
        "leak", "double_free", "invalid_free", "use_after_free",
        "overflow", "prefix_corrupt", "invalid_bstr", "mismatched_free",
    };
    bool names = BC_KIND_COUNT == BC_ARRAY_LEN(interface_kinds), described = true,
         found = true;
    for (int k = 0; names && k < BC_KIND_COUNT; k++) {
        names = names && strcmp(bc_kind_names[k], interface_kinds[k]) == 0;
        described = described && bc_kind_descriptions[k] && bc_kind_descriptions[k][0] &&
                    bc_kind_descriptions[k][strlen(bc_kind_descriptions[k]) - 1] == '.';
        found = found && bc_kind_from_name(interface_kinds[k]) == k;
    }
    tap_ok(names, "the eight kinds of INTERFACE.md, in its order");
    tap_ok(described, "every kind has a one-sentence description");
    tap_ok(found, "bc_kind_from_name finds each");
    tap_ok(bc_kind_from_name("Leak") == -1 && bc_kind_from_name("leak2") == -1,
           "an unknown name is -1");
    tap_ok(bc_kind_from_name(NULL) == -1, "NULL is -1");
}

typedef struct model {
    const bc_sarif_run_t *run;
    const bc_sarif_result_t *results;
    size_t n;
} model_t;

static void write_model(bc_out_t *out, const void *arg)
{
    const model_t *m = arg;
    bc_sarif_writer_t w;
    bc_sarif_begin(&w, out, m->run);
    for (size_t i = 0; i < m->n; i++)
        bc_sarif_result(&w, &m->results[i]);
    bc_sarif_end(&w);
}

static bool contains(const char *needle)
{
    return strstr(got, needle) != NULL;
}

/* 15 */
static void writer(void)
{
    bc_frame_info_t frames[] = {
        {.module = "/lib/libfoo.so", .offset = 0x1234, .function = "inner", .inlined = true},
        {.module = "/bin/prog", .function = "caller", .file = "/src/a b.c", .line = 7},
    };
    char *args[] = {"prog", "x y", NULL};
    bc_sarif_run_t run = {.arguments = args, .has_exit_code = true, .exit_code = 23};
    bc_sarif_result_t results[3] = {
        {.kind = BC_KIND_LEAK, .count = 2, .bytes = 44, .sample = "a\0b", .sample_len = 3,
         .seq_first = 4, .seq_last = 5, .fingerprint = "0123456789abcdef",
         .stacks = {{BC_ROLE_ALLOC, frames, 2}}, .nstacks = 1, .where = &frames[1],
         .exe = "/bin/prog", .merged = true, .pid = 42, .baseline_state = "new"},
        {.kind = -1, .kind_name = "future_kind", .detail = "something", .count = 1,
         .merged = true, .pid = 43},
        {.kind = BC_KIND_DOUBLE_FREE, .detail = "again", .count = 1, .exe = "baseline",
         .merged = true, .pid = 0, .baseline_state = "absent"},
    };
    model_t m = {&run, results, 3};
    capture(write_model, &m);
    char err[128];
    bc_json_t *log = bc_json_parse(got, got_len, err, sizeof err);
    if (!tap_ok(log != NULL, "the log is JSON (%s)", log ? "" : err))
        tap_diag("%s", got);
    const bc_json_t *sarif_run = &bc_json_get(log, "runs")->items[0];
    const bc_json_t *rules = bc_json_get(bc_json_get(bc_json_get(sarif_run, "tool"), "driver"),
                                         "rules");
    bool same = bc_json_count(rules) == BC_KIND_COUNT;
    for (size_t k = 0; same && k < BC_KIND_COUNT; k++) {
        const bc_json_t *desc = bc_json_get(bc_json_get(&rules->items[k], "shortDescription"),
                                            "text");
        same = strcmp(bc_json_str(bc_json_get(&rules->items[k], "id")), bc_kind_names[k]) == 0 &&
               strcmp(bc_json_str(desc), bc_kind_descriptions[k]) == 0;
    }
    tap_ok(same, "one rule per kind, with the table's name and description");
    tap_ok(contains("\"name\": \"DoubleFree\""), "a rule's friendly name");
    tap_ok(contains("\"arguments\": [\"prog\", \"x y\"]") && contains("\"exitCode\": 23"),
           "the invocation's arguments and exit code");
    tap_ok(!contains("processId") && !contains("\"properties\": {\"reason\""),
           "no processId or run counts when the run has none");
    tap_ok(contains("\"uri\": \"file:///src/a%20b.c\"}, \"region\": {\"startLine\": 7}"),
           "located at WHERE, its file a URI");
    tap_ok(contains("Leak of 2 BSTR(s), 44 bytes, allocated in caller. Sample: \\\"a\\\\0b\\\"."
                    " Allocations {4} to {5}. In process 42 (/bin/prog)."),
           "the leak's message: where, sample, allocations, process");
    tap_ok(contains("\"pid\": 42, \"exe\": \"/bin/prog\", \"count\": 2, \"bytes\": 44, "
                    "\"sample\": \"a\\u0000b\", \"seq\": {\"first\": 4, \"last\": 5}"),
           "the leak's properties");
    tap_ok(contains("\"baselineState\": \"new\""), "baselineState");
    tap_ok(contains("inner (inlined) (/lib/libfoo.so+0x1234)"),
           "a frame without a file: function (module+0xoffset)");
    tap_ok(contains("\"nestingLevel\": 1}]}]}]"), "the code flow runs outermost first");
    tap_ok(contains("{\"ruleId\": \"future_kind\", \"level\": \"error\""),
           "an unknown kind: its ruleId, no ruleIndex");
    const bc_json_t *res = bc_json_get(sarif_run, "results");
    tap_ok(bc_json_count(res) == 3 && !bc_json_get(&res->items[1], "locations"),
           "no frame and no executable: no location");
    tap_ok(!bc_json_get(&res->items[2], "locations") &&
               contains("again (1 event(s)). Fixed since the baseline."),
           "a baseline's finding: no location from its exe, 'fixed' in the message");
    tap_ok(contains("\"pid\": 0, \"exe\": \"baseline\""), "and its pid and exe properties");
    bc_json_free(log);
}

int main(void)
{
    tap_plan(11 + 5 + 15);
    uri_edges();
    kinds_table();
    writer();
    return tap_done();
}
