/* Building a report: leaks are grouped by allocation stack straight from
 * the table (memory grows with the number of stacks and groups, not of
 * BSTRs), error findings come from events.c, suppressed findings are taken
 * out; then the writers and the exit status. */
#include "report.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct leak_group {
    UT_hash_handle hh;
    bc_stack_id_t stack; /* key */
    uint64_t sample_seq; /* the sample is the group's oldest BSTR */
    bc_finding_t finding;
} leak_group_t;

typedef struct leak_scan {
    uint64_t min_seq;
    leak_group_t *groups;
    leak_group_t **by_stack; /* group of each stack id (ids are dense), or NULL */
    uint32_t nstacks;        /* by_stack covers ids 0..nstacks */
    size_t ngroups;
    uint64_t leaked, leaked_bytes;
    bool out_of_memory;
} leak_scan_t;

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void scan_record(const bc_record_t *rec, void *arg)
{
    leak_scan_t *scan = arg;
    if (rec->state != BC_LIVE || rec->seq < scan->min_seq)
        return;
    scan->leaked++;
    scan->leaked_bytes += rec->bytes;
    leak_group_t *g = NULL;
    bool indexed = scan->by_stack && rec->alloc_stack <= scan->nstacks;
    if (indexed)
        g = scan->by_stack[rec->alloc_stack];
    else
        HASH_FIND(hh, scan->groups, &rec->alloc_stack, sizeof rec->alloc_stack, g);
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) {
            scan->out_of_memory = true;
            return;
        }
        g->stack = rec->alloc_stack;
        g->sample_seq = UINT64_MAX;
        g->finding.kind = BC_KIND_LEAK;
        g->finding.stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
        HASH_ADD(hh, scan->groups, stack, sizeof g->stack, g);
        if (!BC_HASH_ADDED(g)) {
            free(g);
            scan->out_of_memory = true;
            return;
        }
        if (indexed)
            scan->by_stack[rec->alloc_stack] = g;
        scan->ngroups++;
    }
    g->finding.count++;
    g->finding.bytes += rec->bytes;
    /* the same sample whatever the table's order; none from an orphan,
     * whose runtime (and maybe memory) is gone */
    if (rec->seq < g->sample_seq && bc_record_readable(rec)) {
        g->sample_seq = rec->seq;
        g->finding.sample_len = bc_sample_utf8((const void *)bc_record_bstr(rec), rec->bytes,
                                               bc_record_width(rec), g->finding.sample,
                                               sizeof g->finding.sample);
    }
}

typedef struct finding_list {
    bc_finding_t *items;
    size_t len, cap;
} finding_list_t;

static void push_finding(const bc_finding_t *f, void *arg)
{
    finding_list_t *list = arg;
    if (list->len < list->cap)
        list->items[list->len++] = *f;
}

static int by_size_desc(const void *a, const void *b)
{
    const bc_finding_t *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->stacks[BC_ROLE_ALLOC] < y->stacks[BC_ROLE_ALLOC] ? -1 : 1;
}

static void count_event_group(const bc_finding_t *f, void *arg)
{
    (void)f;
    (*(size_t *)arg)++;
}

/* Take the findings a suppression rule matches out of REPORT: they leave
 * the findings and the counts of their kind, and add their events (leaks:
 * their BSTRs) to `suppressed`. */
static void apply_suppressions(bc_report_t *report)
{
    const bc_suppressions_t *rules = bc_suppressions_active();
    if (rules->nrules == 0)
        return;
    size_t kept = 0, leak_groups = 0;
    for (size_t i = 0; i < report->nfindings; i++) {
        const bc_finding_t *f = &report->findings[i];
        if (bc_suppressions_match(rules, f)) {
            report->suppressed += f->count;
            if (f->kind == BC_KIND_LEAK) {
                report->leaked -= f->count;
                report->leaked_bytes -= f->bytes;
            } else {
                report->events[f->kind] -= f->count;
            }
            continue;
        }
        leak_groups += f->kind == BC_KIND_LEAK;
        if (kept != i)
            report->findings[kept] = *f;
        kept++;
    }
    report->nfindings = kept;
    report->leak_groups = leak_groups;
}

/* Fill REPORT with everything found so far; leaks only from ordinal
 * MIN_SEQ on, and none at all when WITH_LEAKS is false. */
static void collect(bc_report_t *report, uint64_t min_seq, bool with_leaks, bool with_errors)
{
    memset(report, 0, sizeof *report);
    report->pid = (int)getpid();
    report->parent_pid = (int)getppid();
    report->exe = bc_exe_path();
    report->mode = bc_runtimes_mode();

    /* A forked child's inherited BSTRs stay its parent's leaks. */
    uint64_t first_own = bc_table_first_own_seq();
    leak_scan_t scan = {.min_seq = min_seq > first_own ? min_seq : first_own};
    bc_deferred_drain(); /* frees that signal handlers left for later */
    bc_table_lock_all();
    if (with_errors)
        bc_track_audit_all(); /* overflows, prefixes, writes after free */
    if (with_leaks) {
        /* Every record's stack id exists by now: one slot per stack (a
         * lookup without hashing; the hash table catches the rest). */
        scan.nstacks = bc_depot_count();
        scan.by_stack = calloc((size_t)scan.nstacks + 1, sizeof *scan.by_stack);
        bc_table_foreach(scan_record, &scan);
        bc_side_foreach_live(scan_record, &scan); /* made by signal handlers */
        free(scan.by_stack);
    }
    bc_counts_t counts = bc_table_counts();
    bc_counts_t side = bc_side_counts();
    counts.allocations += side.allocations;
    counts.frees += side.frees;
    bc_table_unlock_all();
    if (scan.out_of_memory)
        bc_warn("out of memory while grouping leaks; some groups are missing");

    report->allocations = counts.allocations;
    report->frees = counts.frees;
    report->leaked = scan.leaked;
    report->leaked_bytes = scan.leaked_bytes;
    for (int k = 0; k < BC_KIND_COUNT; k++)
        report->events[k] = k == BC_KIND_LEAK ? 0 : bc_events_count((bc_kind_t)k);
    report->untracked_frees = bc_count_get(BC_COUNT_UNTRACKED_FREES);
    report->released_by_free = bc_count_get(BC_COUNT_RELEASED_BY_FREE);
    report->injected_failures = bc_count_get(BC_COUNT_INJECTED_FAILURES);

    size_t nerrors = 0;
    if (with_errors)
        bc_events_foreach(count_event_group, &nerrors);
    finding_list_t list = {0};
    list.cap = nerrors + scan.ngroups;
    list.items = list.cap ? calloc(list.cap, sizeof *list.items) : NULL;
    if (list.cap && !list.items) {
        bc_warn("out of memory while building the report");
        list.cap = 0;
    }
    if (with_errors)
        bc_events_foreach(push_finding, &list);
    size_t first_leak = list.len;
    leak_group_t *g, *tmp;
    HASH_ITER(hh, scan.groups, g, tmp) {
        push_finding(&g->finding, &list);
        HASH_DELETE(hh, scan.groups, g);
        free(g);
    }
    qsort(list.items + first_leak, list.len - first_leak, sizeof *list.items, by_size_desc);
    report->findings = list.items;
    report->nfindings = list.len;
    report->leak_groups = list.len - first_leak;
    apply_suppressions(report);
}

/* Nothing to say: no BSTR allocated or freed, no event (report_empty=0
 * then skips the JSON file). */
static bool is_empty(const bc_report_t *report)
{
    if (report->allocations || report->frees || report->nfindings)
        return false;
    for (int k = 0; k < BC_KIND_COUNT; k++)
        if (report->events[k])
            return false;
    return true;
}

/* The text report's destination, or stderr when it cannot be opened: a
 * report is never lost. */
static void open_log(bc_out_t *out)
{
    if (!bc_out_open(out, bc_opt.log_path))
        bc_out_open(out, "stderr");
}

static void write_outputs(const bc_report_t *report, bool with_json)
{
    bc_out_t out;
    if (report->nfindings > 0 || strcmp(report->reason, "exit") != 0) {
        open_log(&out);
        bc_text_write(&out, report);
        bc_out_close(&out);
    }
    if (with_json && bc_opt.json_path[0] && (bc_opt.report_empty || !is_empty(report)) &&
        bc_out_open(&out, bc_opt.json_path)) {
        bc_json_write(&out, report);
        bc_out_close(&out);
    }
    if (with_json && bc_opt.sarif_path[0] && bc_out_open(&out, bc_opt.sarif_path)) {
        bc_sarif_write(&out, report);
        bc_out_close(&out);
    }
    bc_symbolize_end();
}

int bc_report_at_exit(void)
{
    /* The depth first: a thread that holds a shim lock is always inside the
     * shim, so a signal handler's Sys* call can tell (nested.c). */
    bc_depth++; /* Sys* calls from here on are not ours to record */
    pthread_mutex_lock(&report_lock);
    if (bc_finished) {
        pthread_mutex_unlock(&report_lock);
        bc_depth--;
        return 0;
    }
    bc_finished = 1;
    bc_report_t report;
    collect(&report, 0, bc_opt.detect_leaks != 0, true);
    bc_nested_warn();
    report.reason = "exit";
    write_outputs(&report, true);
    size_t findings = report.nfindings;
    free(report.findings);
    pthread_mutex_unlock(&report_lock);
    bc_depth--;
    return findings > 0 ? bc_opt.exitcode : 0;
}

void bc_exit_now(int status)
{
    fflush(NULL); /* exit() would have flushed stdio after us */
    _exit(status);
}

size_t bc_report_leaks_since(uint64_t seq, bool report_them)
{
    bc_depth++;
    pthread_mutex_lock(&report_lock);
    bc_report_t report;
    collect(&report, seq, true, false);
    report.reason = "checkpoint";
    size_t leaked = (size_t)report.leaked;
    if (report_them && leaked > 0)
        write_outputs(&report, false);
    bc_symbolize_end(); /* suppressions may have symbolized; the program goes on */
    free(report.findings);
    pthread_mutex_unlock(&report_lock);
    bc_depth--;
    return leaked;
}

void bc_report_abort(const bc_finding_t *finding)
{
    bc_report_t report;
    memset(&report, 0, sizeof report);
    report.reason = "abort_on_error";
    report.pid = (int)getpid();
    report.parent_pid = (int)getppid();
    report.exe = bc_exe_path();
    report.mode = bc_runtimes_mode();
    report.findings = (bc_finding_t *)finding;
    report.nfindings = 1;
    report.events[finding->kind] = 1;
    bc_out_t out;
    open_log(&out);
    bc_text_write(&out, &report);
    bc_out_puts(&out, "bstrcheck: abort_on_error=1: raising SIGABRT\n");
    bc_out_close(&out);
    raise(SIGABRT);
}

void bc_report_now(void)
{
    bc_depth++;
    pthread_mutex_lock(&report_lock);
    bc_report_t report;
    collect(&report, 0, bc_opt.detect_leaks != 0, true);
    report.reason = "report_now";
    write_outputs(&report, true);
    free(report.findings);
    pthread_mutex_unlock(&report_lock);
    bc_depth--;
}

void bc_report_lock(void)
{
    pthread_mutex_lock(&report_lock);
}

void bc_report_unlock(void)
{
    pthread_mutex_unlock(&report_lock);
}

void bc_report_child_after_fork(void)
{
    pthread_mutex_init(&report_lock, NULL);
}
