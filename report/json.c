/* The JSON report of one process, as README.md ("Report files") describes it. */
#include "report.h"

#include <stdio.h>
#include <string.h>

static void key(bc_out_t *out, const char *name)
{
    bc_out_json_string(out, name, strlen(name));
    bc_out_write(out, ": ", 2);
}

static void string_or_null(bc_out_t *out, const char *s)
{
    if (s)
        bc_out_json_string(out, s, strlen(s));
    else
        bc_out_puts(out, "null");
}

static void write_frame(bc_out_t *out, const bc_frame_info_t *fp)
{
    bc_frame_info_t f = *fp;
    bc_out_printf(out, "{\"pc\": \"0x%lx\", ", (unsigned long)f.pc);
    key(out, "module");
    bc_out_json_string(out, f.module, strlen(f.module));
    bc_out_printf(out, ", \"offset\": \"0x%lx\", ", (unsigned long)f.offset);
    key(out, "function");
    string_or_null(out, f.function);
    bc_out_puts(out, ", ");
    key(out, "file");
    string_or_null(out, f.file);
    if (f.line > 0)
        bc_out_printf(out, ", \"line\": %d", f.line);
    else
        bc_out_puts(out, ", \"line\": null");
    bc_out_printf(out, ", \"inlined\": %s}", f.inlined ? "true" : "false");
}

typedef struct frame_list {
    bc_out_t *out;
    bool first;
} frame_list_t;

static bool list_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    frame_list_t *list = arg;
    if (!list->first)
        bc_out_puts(list->out, ",\n          ");
    write_frame(list->out, f);
    list->first = false;
    return true;
}

static void write_stack(bc_out_t *out, bc_stack_id_t id)
{
    frame_list_t list = {out, true};
    bc_out_puts(out, "[");
    bc_frames_walk(id, list_frame, &list);
    bc_out_puts(out, "]");
}

/* "seq" and "rule", when known. */
static void write_info(bc_out_t *out, const bc_finding_t *f, const bc_finding_info_t *info)
{
    if (!info)
        return;
    if (info->seq_first && f->kind == BC_KIND_LEAK)
        bc_out_printf(out, ", \"seq\": {\"first\": %llu, \"last\": %llu}",
                      (unsigned long long)info->seq_first, (unsigned long long)info->seq_last);
    else if (info->seq_first)
        bc_out_printf(out, ", \"seq\": %llu", (unsigned long long)info->seq_first);
    if (info->rule != BC_RULE_NONE) {
        bc_out_printf(out, ",\n     \"rule\": {\"id\": \"%s\", \"text\": ", bc_rule_ids[info->rule]);
        bc_out_json_string(out, info->rule_text, strlen(info->rule_text));
        bc_out_puts(out, "}");
    }
}

static void write_finding(bc_out_t *out, const bc_finding_t *f, const bc_finding_info_t *info)
{
    bc_out_printf(out, "    {\"kind\": \"%s\", \"count\": %llu, \"bytes\": %llu, ",
                  bc_kind_names[f->kind], (unsigned long long)f->count,
                  (unsigned long long)f->bytes);
    key(out, "sample");
    if (f->sample_len)
        bc_out_json_string(out, f->sample, f->sample_len);
    else
        bc_out_puts(out, "null");
    bc_out_puts(out, ", ");
    key(out, "detail");
    if (f->kind == BC_KIND_LEAK) {
        char detail[96];
        int n = snprintf(detail, sizeof detail, "%llu BSTR(s) still live at exit",
                         (unsigned long long)f->count);
        bc_out_json_string(out, detail, n > 0 ? (size_t)n : 0);
    } else {
        bc_out_json_string(out, f->detail, strlen(f->detail));
    }
    write_info(out, f, info);
    char fingerprint[BC_FINGERPRINT_LEN];
    bc_finding_fingerprint(f, fingerprint);
    bc_out_printf(out, ", \"fingerprint\": \"%s\"", fingerprint);
    bc_out_puts(out, ",\n     \"stacks\": {");
    bool first = true;
    for (int role = 0; role < BC_ROLE_COUNT; role++) {
        if (!f->stacks[role])
            continue;
        bc_out_printf(out, "%s\n        \"%s\": ", first ? "" : ",", bc_role_names[role]);
        write_stack(out, f->stacks[role]);
        first = false;
    }
    bc_out_puts(out, "}}");
}

void bc_json_write(bc_out_t *out, const bc_report_t *r)
{
    bc_out_printf(out, "{\"tool\": \"bstrcheck\", \"version\": \"%s\", \"pid\": %d, "
                       "\"parent_pid\": %d,\n ",
                  BC_VERSION, r->pid, r->parent_pid);
    key(out, "exe");
    bc_out_json_string(out, r->exe, strlen(r->exe));
    bc_out_printf(out, ", \"mode\": \"%s\", \"reason\": \"%s\",\n", r->mode, r->reason);
    bc_out_printf(out, " \"summary\": {\"allocations\": %llu, \"frees\": %llu, "
                       "\"leaked\": %llu, \"leaked_bytes\": %llu",
                  (unsigned long long)r->allocations, (unsigned long long)r->frees,
                  (unsigned long long)r->leaked, (unsigned long long)r->leaked_bytes);
    for (int k = 0; k < BC_KIND_COUNT; k++)
        if (k != BC_KIND_LEAK)
            bc_out_printf(out, ", \"%s\": %llu", bc_kind_names[k],
                          (unsigned long long)r->events[k]);
    bc_out_printf(out, ", \"suppressed\": %llu, \"untracked_frees\": %llu, "
                       "\"released_by_free\": %llu, \"injected_failures\": %llu},\n",
                  (unsigned long long)r->suppressed, (unsigned long long)r->untracked_frees,
                  (unsigned long long)r->released_by_free,
                  (unsigned long long)r->injected_failures);
    bc_out_puts(out, " \"findings\": [");
    for (size_t i = 0; i < r->nfindings; i++) {
        bc_out_puts(out, i ? ",\n" : "\n");
        write_finding(out, &r->findings[i], r->info ? &r->info[i] : NULL);
    }
    bc_out_puts(out, r->nfindings ? "\n ]}\n" : "]}\n");
}
