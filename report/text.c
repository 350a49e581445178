/* The text report, in LeakSanitizer's shape: one block per finding with
 * its stacks, leaks grouped by allocation stack and largest first, at most
 * max_findings blocks, one SUMMARY line at the end. */
#include "report.h"

#include <string.h>

static const char *const role_headings[BC_ROLE_COUNT] = {
    "allocated at:", "freed at:", "previously freed at:", "accessed at:",
};

static bool write_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    char line[BC_FRAME_TEXT_MAX];
    bc_frame_format(f, number, line, sizeof line);
    bc_out_printf(arg, "    %s\n", line);
    return true;
}

static void write_stack(bc_out_t *out, bc_stack_id_t id)
{
    if (bc_frames_walk(id, write_frame, out) == 0)
        bc_out_puts(out, "    <no stack recorded>\n");
}

/* The sample, the allocation numbers, the ownership verdict, and with
 * gen_suppressions=1 a rule ready to paste into a suppressions file: what
 * ends every block. */
static void write_sample(bc_out_t *out, const bc_finding_t *f, const bc_finding_info_t *info)
{
    if (f->sample_len != 0) {
        bc_out_puts(out, "  sample: \"");
        bc_out_text_escaped(out, f->sample, f->sample_len);
        bc_out_puts(out, "\"\n");
    }
    if (info && info->seq_first) {
        if (f->kind != BC_KIND_LEAK)
            bc_out_printf(out, "  seq: {%llu}%s\n", (unsigned long long)info->seq_first,
                          f->count > 1 ? " (the first time)" : "");
        else if (f->count > 1)
            bc_out_printf(out, "  seq: {%llu} first, {%llu} last\n",
                          (unsigned long long)info->seq_first,
                          (unsigned long long)info->seq_last);
        else
            bc_out_printf(out, "  seq: {%llu}\n", (unsigned long long)info->seq_first);
    }
    if (info && info->rule != BC_RULE_NONE)
        bc_out_printf(out, "  rule: %s\n", info->rule_text);
    char rule[1100];
    if (bc_opt.gen_suppressions && bc_suppression_for(f, rule, sizeof rule) > 0)
        bc_out_printf(out, "  suppression: %s\n", rule);
}

static void write_error(bc_out_t *out, int pid, const bc_finding_t *f,
                        const bc_finding_info_t *info)
{
    bc_out_printf(out, "==%d==ERROR: bstrcheck: %s: %s", pid, bc_kind_names[f->kind],
                  f->detail);
    if (f->count > 1)
        bc_out_printf(out, " (%llu times)", (unsigned long long)f->count);
    bc_out_puts(out, "\n");
    bool first = true;
    for (int i = 0; i < BC_ROLE_COUNT; i++) {
        bc_role_t role = bc_role_display_order[i];
        if (!f->stacks[role])
            continue;
        if (!first)
            bc_out_printf(out, "  %s\n", role_headings[role]);
        first = false;
        write_stack(out, f->stacks[role]);
    }
    if (first)
        write_stack(out, 0);
    write_sample(out, f, info);
    bc_out_puts(out, "\n");
}

static void write_leak(bc_out_t *out, const bc_finding_t *f, const bc_finding_info_t *info)
{
    bc_out_printf(out, "Leak of %llu BSTR(s), %llu bytes, allocated from:\n",
                  (unsigned long long)f->count, (unsigned long long)f->bytes);
    write_stack(out, f->stacks[BC_ROLE_ALLOC]);
    write_sample(out, f, info);
    bc_out_puts(out, "\n");
}

void bc_text_write(bc_out_t *out, const bc_report_t *r)
{
    bool checkpoint = r->reason[0] == 'c';
    size_t cap = bc_opt.max_findings > 0 ? (size_t)bc_opt.max_findings : SIZE_MAX;
    size_t shown = 0;
    bc_out_puts(out, "=================================================================\n");
    for (size_t i = 0; i < r->nfindings && shown < cap; i++)
        if (r->findings[i].kind != BC_KIND_LEAK) {
            write_error(out, r->pid, &r->findings[i], r->info ? &r->info[i] : NULL);
            shown++;
        }
    bool live_now = strcmp(r->reason, "live_now") == 0; /* gdb's bstr-leaks */
    if (r->leak_groups > 0 && shown < cap && live_now)
        bc_out_printf(out, "==%d==bstrcheck: BSTRs live now (leaks if never freed)\n\n",
                      r->pid);
    else if (r->leak_groups > 0 && shown < cap)
        bc_out_printf(out, "==%d==ERROR: bstrcheck: detected BSTR leaks%s\n\n", r->pid,
                      checkpoint ? " since the checkpoint" : "");
    for (size_t i = 0; i < r->nfindings && shown < cap; i++)
        if (r->findings[i].kind == BC_KIND_LEAK) {
            write_leak(out, &r->findings[i], r->info ? &r->info[i] : NULL);
            shown++;
        }
    if (shown < r->nfindings)
        bc_out_printf(out, "==%d==bstrcheck: %zu more finding(s) not shown (max_findings=%d; "
                           "the JSON and SARIF reports have them all)\n\n",
                      r->pid, r->nfindings - shown, bc_opt.max_findings);

    bc_out_printf(out, "SUMMARY: bstrcheck: %llu leaked BSTR(s) (%llu bytes) in %zu group(s)",
                  (unsigned long long)r->leaked, (unsigned long long)r->leaked_bytes,
                  r->leak_groups);
    for (int k = 0; k < BC_KIND_COUNT; k++)
        if (r->events[k])
            bc_out_printf(out, ", %llu %s", (unsigned long long)r->events[k], bc_kind_names[k]);
    if (r->suppressed)
        bc_out_printf(out, ", %llu suppressed", (unsigned long long)r->suppressed);
    bc_out_printf(out, "; %llu allocation(s), %llu free(s).\n",
                  (unsigned long long)r->allocations, (unsigned long long)r->frees);
}
