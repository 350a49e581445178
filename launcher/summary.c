/* The merged text summary on stderr: one line per process with findings,
 * then one SUMMARY line for the whole tree. The processes' own text reports
 * (with the stacks) came before it, from the processes themselves. */
#include "launcher.h"

#include <string.h>

#define MAX_KINDS 32

typedef struct kinds {
    const char *names[MAX_KINDS];
    uint64_t counts[MAX_KINDS];
    size_t len;
} kinds_t;

/* Add R's error kinds (the kinds of its non-leak findings, counted by its
 * summary) to K. */
static void add_kinds(kinds_t *k, const bc_process_report_t *r)
{
    const bc_json_t *findings = bc_json_get(r->json, "findings");
    const bc_json_t *summary = bc_json_get(r->json, "summary");
    const char *seen[MAX_KINDS];
    size_t nseen = 0;
    for (size_t i = 0; i < bc_json_count(findings); i++) {
        const char *kind = bc_json_str(bc_json_get(&findings->items[i], "kind"));
        if (!kind || strcmp(kind, "leak") == 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = strcmp(seen[j], kind) == 0;
        if (dup || nseen == MAX_KINDS)
            continue;
        seen[nseen++] = kind;
        uint64_t count = bc_json_uint(bc_json_get(summary, kind), 0);
        size_t slot = 0;
        while (slot < k->len && strcmp(k->names[slot], kind) != 0)
            slot++;
        if (slot == k->len) {
            if (k->len == MAX_KINDS)
                continue;
            k->names[k->len] = kind;
            k->counts[k->len++] = 0;
        }
        k->counts[slot] += count;
    }
}

static void write_counts(bc_out_t *out, uint64_t leaked, uint64_t bytes, const kinds_t *k)
{
    bc_out_printf(out, "%llu leaked BSTR(s) (%llu bytes)", (unsigned long long)leaked,
                  (unsigned long long)bytes);
    for (size_t i = 0; i < k->len; i++)
        bc_out_printf(out, ", %llu %s", (unsigned long long)k->counts[i], k->names[i]);
}

void bc_summary_write(int fd, const bc_collection_t *c)
{
    size_t with_findings = 0;
    uint64_t leaked = 0, bytes = 0, allocations = 0, frees = 0;
    kinds_t total = {.len = 0};
    bc_out_t out;
    bc_out_init_fd(&out, fd);
    for (size_t i = 0; i < c->count; i++) {
        const bc_process_report_t *r = &c->reports[i];
        const bc_json_t *summary = bc_json_get(r->json, "summary");
        uint64_t l = bc_json_uint(bc_json_get(summary, "leaked"), 0);
        uint64_t b = bc_json_uint(bc_json_get(summary, "leaked_bytes"), 0);
        leaked += l;
        bytes += b;
        allocations += bc_json_uint(bc_json_get(summary, "allocations"), 0);
        frees += bc_json_uint(bc_json_get(summary, "frees"), 0);
        if (!bc_report_has_findings(r))
            continue;
        with_findings++;
        kinds_t own = {.len = 0};
        add_kinds(&own, r);
        add_kinds(&total, r);
        const char *exe = bc_json_str(bc_json_get(r->json, "exe"));
        bc_out_printf(&out, "bstrcheck: process %d (", r->pid);
        bc_out_text_escaped(&out, exe ? exe : "?", strlen(exe ? exe : "?"));
        bc_out_puts(&out, "): ");
        write_counts(&out, l, b, &own);
        bc_out_puts(&out, "\n");
    }
    if (with_findings == 0)
        return;
    bc_out_puts(&out, "SUMMARY: bstrcheck (all processes): ");
    write_counts(&out, leaked, bytes, &total);
    bc_out_printf(&out, " in %zu of %zu process(es) reported; %llu allocation(s), %llu free(s).\n",
                  with_findings, c->count, (unsigned long long)allocations,
                  (unsigned long long)frees);
    bc_out_flush(&out);
}
