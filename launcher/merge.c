/* The merged JSON report: the command, its exit status, the sum of every
 * process's summary (every numeric member, so counters added to the
 * one-process report are summed without a change here), and each
 * process's report verbatim. */
#include "launcher.h"

#include <stdlib.h>
#include <string.h>

typedef struct sum {
    const char *name; /* points into a report's tree */
    uint64_t value;
} sum_t;

typedef struct sums {
    sum_t *items;
    size_t len, cap;
} sums_t;

static void add(sums_t *s, const char *name, uint64_t value)
{
    for (size_t i = 0; i < s->len; i++) {
        if (strcmp(s->items[i].name, name) == 0) {
            s->items[i].value += value;
            return;
        }
    }
    if (s->len == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        sum_t *grown = realloc(s->items, ncap * sizeof *grown);
        if (!grown)
            return; /* the member is left out of the sums */
        s->items = grown;
        s->cap = ncap;
    }
    s->items[s->len].name = name;
    s->items[s->len].value = value;
    s->len++;
}

static void write_summary(bc_out_t *out, const bc_collection_t *c)
{
    sums_t sums = {0};
    for (size_t i = 0; i < c->count; i++) {
        const bc_json_t *summary = bc_json_get(c->reports[i].json, "summary");
        for (size_t k = 0; summary && k < summary->len; k++)
            if (summary->items[k].type == BC_JSON_NUMBER && summary->items[k].is_uint)
                add(&sums, summary->keys[k], summary->items[k].uint);
    }
    bc_out_puts(out, "{");
    for (size_t i = 0; i < sums.len; i++) {
        if (i)
            bc_out_puts(out, ", ");
        bc_out_json_string(out, sums.items[i].name, strlen(sums.items[i].name));
        bc_out_printf(out, ": %llu", (unsigned long long)sums.items[i].value);
    }
    bc_out_puts(out, "}");
    free(sums.items);
}

static const char *state_name(unsigned char state)
{
    return state == BC_BASELINE_UNCHANGED ? "unchanged" : "new";
}

/* Process P's report, re-written with each finding's "baseline" state. */
static void write_process(bc_out_t *out, const bc_json_t *report, const bc_baseline_t *b,
                          size_t p)
{
    bc_out_puts(out, "{");
    for (size_t i = 0; i < report->len; i++) {
        const bc_json_t *value = &report->items[i];
        if (i)
            bc_out_puts(out, ", ");
        bc_out_json_string(out, report->keys[i], strlen(report->keys[i]));
        bc_out_puts(out, ": ");
        if (strcmp(report->keys[i], "findings") != 0 || value->type != BC_JSON_ARRAY) {
            bc_json_value_write(out, value);
            continue;
        }
        bc_out_puts(out, "[");
        for (size_t k = 0; k < value->len; k++) {
            const bc_json_t *finding = &value->items[k];
            bc_out_puts(out, k ? ",\n    {" : "\n    {");
            for (size_t m = 0; m < finding->len; m++) {
                if (strcmp(finding->keys[m], "baseline") == 0)
                    continue; /* a report merged with a baseline before */
                bc_out_json_string(out, finding->keys[m], strlen(finding->keys[m]));
                bc_out_puts(out, ": ");
                bc_json_value_write(out, &finding->items[m]);
                bc_out_puts(out, ", ");
            }
            bc_out_printf(out, "\"baseline\": \"%s\"}", state_name(b->state[p][k]));
        }
        bc_out_puts(out, value->len ? "\n   ]" : "]");
    }
    bc_out_puts(out, "}");
}

/* "baseline": the counts, and "fixed": the baseline's findings this run
 * no longer has, each with the pid and exe of the process it was in. */
static void write_baseline(bc_out_t *out, const bc_baseline_t *b)
{
    bc_out_puts(out, " \"baseline\": {\"file\": ");
    bc_out_json_string(out, b->path, strlen(b->path));
    bc_out_printf(out, ", \"new\": %zu, \"unchanged\": %zu, \"fixed\": %zu},\n",
                  b->new_count, b->unchanged_count, b->fixed_count);
    bc_out_puts(out, " \"fixed\": [");
    bool first = true;
    for (size_t k = 0; k < b->nold; k++) {
        const bc_baseline_entry_t *e = &b->old[k];
        if (e->matched)
            continue;
        bc_out_puts(out, first ? "\n    {" : ",\n    {");
        first = false;
        for (size_t m = 0; m < e->finding->len; m++) {
            if (strcmp(e->finding->keys[m], "baseline") == 0)
                continue;
            bc_out_json_string(out, e->finding->keys[m], strlen(e->finding->keys[m]));
            bc_out_puts(out, ": ");
            bc_json_value_write(out, &e->finding->items[m]);
            bc_out_puts(out, ", ");
        }
        bc_out_printf(out, "\"baseline\": \"fixed\"}");
    }
    bc_out_puts(out, first ? "],\n" : "\n ],\n");
}

bool bc_merge_write_json(const char *path, const bc_collection_t *c, const bc_run_result_t *run,
                         const bc_baseline_t *baseline)
{
    bc_out_t out;
    if (!bc_out_open(&out, path))
        return false;
    bc_out_puts(&out, "{\"tool\": \"bstrcheck\", \"version\": \"" BC_VERSION "\",\n \"command\": [");
    for (size_t i = 0; run->command[i]; i++) {
        if (i)
            bc_out_puts(&out, ", ");
        bc_out_json_string(&out, run->command[i], strlen(run->command[i]));
    }
    bc_out_printf(&out, "],\n \"exit_status\": %d, \"launcher_exit_status\": %d,\n",
                  run->command_status, run->exit_status);
    if (baseline)
        write_baseline(&out, baseline);
    bc_out_puts(&out, " \"summary\": ");
    write_summary(&out, c);
    bc_out_puts(&out, ",\n \"processes\": [");
    for (size_t i = 0; i < c->count; i++) {
        bc_out_puts(&out, i ? ",\n" : "\n");
        if (baseline)
            write_process(&out, c->reports[i].json, baseline, i);
        else
            bc_out_write(&out, c->reports[i].text, c->reports[i].len);
    }
    bc_out_puts(&out, c->count ? "\n ]}\n" : "]}\n");
    return bc_out_close(&out);
}
