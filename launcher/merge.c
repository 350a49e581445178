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

bool bc_merge_write_json(const char *path, const bc_collection_t *c, const bc_run_result_t *run)
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
    bc_out_puts(&out, " \"summary\": ");
    write_summary(&out, c);
    bc_out_puts(&out, ",\n \"processes\": [");
    for (size_t i = 0; i < c->count; i++) {
        bc_out_puts(&out, i ? ",\n" : "\n");
        bc_out_write(&out, c->reports[i].text, c->reports[i].len);
    }
    bc_out_puts(&out, c->count ? "\n ]}\n" : "]}\n");
    return bc_out_close(&out);
}
