/* Building a report: leaks are grouped by allocation stack from a snapshot
 * of the table (a 32-byte view per record while the report is built; no
 * shim lock is held while anything here allocates), error findings come
 * from events.c, suppressed findings are taken out; then the writers and
 * the exit status. */
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
    bc_record_view_t oldest;
    bool oldest_on_side; /* made by a signal handler: not in the table */
    bc_sample_t side_sample;
    uint64_t seq_last;   /* its newest */
    uint32_t nbstrs;     /* its first BC_INFO_BSTRS BSTRs (verdict.c) */
    uintptr_t bstrs[BC_INFO_BSTRS];
    bc_finding_t finding;
} leak_group_t;

/* A BSTR an error finding names ("... BSTR 0x... ..."): its record, if the
 * table still has it, gives the finding its allocation number. */
typedef struct named_bstr {
    UT_hash_handle hh;
    uintptr_t bstr; /* key */
    bool found;
    uint64_t seq;
    bc_stack_id_t alloc_stack, free_stack;
} named_bstr_t;

typedef struct leak_scan {
    uint64_t min_seq;
    bool with_leaks;
    leak_group_t *groups;
    leak_group_t **by_stack; /* group of each stack id (ids are dense), or NULL */
    uint32_t nstacks;        /* by_stack covers ids 0..nstacks */
    size_t ngroups;
    uint64_t leaked, leaked_bytes;
    uint64_t freed_records;  /* quarantined records seen */
    bc_history_t *history;   /* for the verdicts, or NULL */
    named_bstr_t *named;     /* BSTRs the error findings name */
    bool out_of_memory;
} leak_scan_t;

static pthread_mutex_t report_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;

static void scan_leak(const bc_record_view_t *rec, leak_scan_t *scan, const bc_sample_t *side);

/* Every record of the snapshot: leaks, history, named BSTRs. */
static void scan_record(const bc_record_view_t *rec, leak_scan_t *scan)
{
    if (rec->state != BC_LIVE)
        scan->freed_records++;
    if (scan->history)
        bc_history_add(scan->history, rec);
    if (scan->named) {
        named_bstr_t *n = NULL;
        HASH_FIND(hh, scan->named, &rec->bstr, sizeof rec->bstr, n);
        if (n) {
            n->found = true;
            n->seq = rec->seq;
            n->alloc_stack = rec->alloc_stack;
            n->free_stack = rec->free_stack;
        }
    }
    if (scan->with_leaks)
        scan_leak(rec, scan, NULL);
}


static leak_group_t *leak_group(const bc_record_view_t *rec, leak_scan_t *scan)
{
    leak_group_t *g = NULL;
    bool indexed = scan->by_stack && rec->alloc_stack <= scan->nstacks;
    if (indexed)
        g = scan->by_stack[rec->alloc_stack];
    else
        HASH_FIND(hh, scan->groups, &rec->alloc_stack, sizeof rec->alloc_stack, g);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g) {
        scan->out_of_memory = true;
        return NULL;
    }
    g->stack = rec->alloc_stack;
    g->sample_seq = UINT64_MAX;
    g->seq_last = 0;
    g->finding.kind = BC_KIND_LEAK;
    g->finding.stacks[BC_ROLE_ALLOC] = rec->alloc_stack;
    HASH_ADD(hh, scan->groups, stack, sizeof g->stack, g);
    if (!BC_HASH_ADDED(g)) {
        free(g);
        scan->out_of_memory = true;
        return NULL;
    }
    if (indexed)
        scan->by_stack[rec->alloc_stack] = g;
    scan->ngroups++;
    return g;
}

/* SIDE: its sample, when it is a BSTR a signal handler made (not in the
 * table). */
static void scan_leak(const bc_record_view_t *rec, leak_scan_t *scan, const bc_sample_t *side)
{
    if (rec->state != BC_LIVE || rec->seq < scan->min_seq)
        return;
    scan->leaked++;
    scan->leaked_bytes += rec->bytes;
    leak_group_t *g = leak_group(rec, scan);
    if (!g)
        return;
    g->finding.count++;
    g->finding.bytes += rec->bytes;
    if (rec->seq > g->seq_last)
        g->seq_last = rec->seq;
    if (g->nbstrs < BC_INFO_BSTRS)
        g->bstrs[g->nbstrs++] = rec->bstr;
    /* the same sample whatever the table's order: the oldest's, read when
     * the scan is over (fill_samples) */
    if (rec->seq < g->sample_seq) {
        g->sample_seq = rec->seq;
        g->oldest = *rec;
        g->oldest_on_side = side != NULL;
        if (side)
            g->side_sample = *side;
    }
}

/* Each group's sample, from its oldest BSTR: under that BSTR's shard lock,
 * if it is still live (never from an orphan, whose memory is gone). */
static void fill_samples(leak_scan_t *scan)
{
    for (leak_group_t *g = scan->groups; g; g = g->hh.next) {
        bc_sample_t raw;
        const bc_sample_t *sample = &g->side_sample;
        if (!g->oldest_on_side) {
            sample = &raw;
            if (BC_VIEW_ORPHAN(&g->oldest) || !bc_snapshot_sample(&g->oldest, &raw))
                continue;
        }
        if (sample->bytes)
            g->finding.sample_len = bc_sample_utf8(sample->raw, sample->bytes, sample->width,
                                                   g->finding.sample, sizeof g->finding.sample);
    }
}

/* The BSTR an error finding's detail names: the first "BSTR 0x..." in it
 * (0 when none). */
static uintptr_t named_in_detail(const bc_finding_t *f)
{
    const char *p = strstr(f->detail, "BSTR 0x");
    if (!p)
        return 0;
    return (uintptr_t)strtoull(p + 5, NULL, 16);
}

static void name_finding(const bc_finding_t *f, void *arg)
{
    leak_scan_t *scan = arg;
    uintptr_t key = named_in_detail(f);
    if (!key)
        return;
    named_bstr_t *n = NULL;
    HASH_FIND(hh, scan->named, &key, sizeof key, n);
    if (n)
        return;
    n = calloc(1, sizeof *n);
    if (!n)
        return;
    n->bstr = key;
    HASH_ADD(hh, scan->named, bstr, sizeof n->bstr, n);
    if (!BC_HASH_ADDED(n))
        free(n);
}

/* The allocation number of the BSTR error finding F names, when the table
 * surely still holds that very BSTR: nothing ever left the quarantine
 * (COMPLETE: so no address was reused), and the record's stacks are the
 * finding's. 0 otherwise. */
static uint64_t error_seq(const bc_finding_t *f, named_bstr_t *named, bool complete)
{
    uintptr_t key = named_in_detail(f);
    named_bstr_t *n = NULL;
    if (!key || !complete)
        return 0;
    HASH_FIND(hh, named, &key, sizeof key, n);
    if (!n || !n->found || n->alloc_stack != f->stacks[BC_ROLE_ALLOC])
        return 0;
    if (f->stacks[BC_ROLE_PREVIOUS_FREE] && n->free_stack != f->stacks[BC_ROLE_PREVIOUS_FREE])
        return 0;
    return n->seq;
}

/* A finding and what the report adds to it, sorted together. */
typedef struct entry {
    bc_finding_t finding;
    bc_finding_info_t info;
} entry_t;

typedef struct finding_list {
    entry_t *items;
    size_t len, cap;
} finding_list_t;

static void push_finding(const bc_finding_t *f, void *arg)
{
    finding_list_t *list = arg;
    if (list->len < list->cap) {
        memset(&list->items[list->len].info, 0, sizeof list->items[list->len].info);
        list->items[list->len++].finding = *f;
    }
}

static int by_size_desc(const void *a, const void *b)
{
    const bc_finding_t *x = &((const entry_t *)a)->finding, *y = &((const entry_t *)b)->finding;
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
        if (kept != i) {
            report->findings[kept] = *f;
            if (report->info)
                report->info[kept] = report->info[i];
        }
        kept++;
    }
    report->nfindings = kept;
    report->leak_groups = leak_groups;
}

/* The error findings so far, in LIST (room for them is made first: the
 * events lock is held only to copy them). */
static void collect_errors(finding_list_t *list)
{
    size_t nerrors = 0;
    bc_events_foreach(count_event_group, &nerrors);
    list->cap = nerrors;
    list->items = nerrors ? calloc(nerrors, sizeof *list->items) : NULL;
    if (nerrors && !list->items) {
        bc_warn("out of memory while building the report");
        list->cap = 0;
    }
    bc_events_foreach(push_finding, list); /* at most cap of them */
}

/* Every record of the table, from one snapshot: leaks grouped, the named
 * BSTRs found, the history filled. True when nothing ever left the
 * quarantine (every freed record is still there, so no address was handed
 * out twice). COUNTS gets the table's counts and side.c's. */
static bool scan_table(leak_scan_t *scan, bc_counts_t *counts)
{
    bc_snapshot_t snap;
    if (!bc_snapshot_take(&snap, scan->with_leaks)) {
        bc_warn("out of memory while copying the table for the report; its leaks are missing");
        *counts = snap.counts;
        return false;
    }
    if (scan->with_leaks) {
        /* Every record's stack id exists by now: one slot per stack (a
         * lookup without hashing; the hash table catches the rest). */
        scan->nstacks = bc_snapshot_stacks();
        scan->by_stack = calloc((size_t)scan->nstacks + 1, sizeof *scan->by_stack);
    }
    for (size_t i = 0; i < snap.count; i++)
        scan_record(&snap.records[i], scan);
    for (size_t i = 0; i < snap.side_count; i++) /* made by signal handlers */
        scan_leak(&snap.side[i].view, scan, &snap.side[i].sample);
    *counts = snap.counts;
    bool complete = scan->freed_records == snap.counts.frees;
    counts->allocations += snap.side_counts.allocations;
    counts->frees += snap.side_counts.frees;
    bc_snapshot_free(&snap);
    if (scan->with_leaks) {
        free(scan->by_stack);
        scan->by_stack = NULL;
        fill_samples(scan);
    }
    return complete;
}

/* The leak groups of SCAN into LIST (which grows), largest first; the
 * groups are freed. */
static void add_leak_groups(finding_list_t *list, leak_scan_t *scan)
{
    size_t first_leak = list->len;
    if (scan->ngroups) {
        entry_t *grown = realloc(list->items, (list->len + scan->ngroups) * sizeof *grown);
        if (grown) {
            list->items = grown;
            list->cap = list->len + scan->ngroups;
        } else {
            bc_warn("out of memory while building the report");
        }
    }
    leak_group_t *g, *tmp;
    HASH_ITER(hh, scan->groups, g, tmp) {
        size_t at = list->len;
        push_finding(&g->finding, list);
        if (at < list->len) {
            bc_finding_info_t *info = &list->items[at].info;
            info->seq_first = g->sample_seq;
            info->seq_last = g->seq_last;
            if (g->finding.count <= BC_INFO_BSTRS) {
                info->nbstrs = g->nbstrs;
                memcpy(info->bstrs, g->bstrs, sizeof info->bstrs);
            }
        }
        HASH_DELETE(hh, scan->groups, g);
        free(g);
    }
    qsort(list->items + first_leak, list->len - first_leak, sizeof *list->items, by_size_desc);
}

/* LIST split into the report's two parallel arrays (LIST is used up). */
static void set_findings(bc_report_t *report, finding_list_t *list)
{
    size_t leak_groups = 0;
    for (size_t i = 0; i < list->len; i++)
        leak_groups += list->items[i].finding.kind == BC_KIND_LEAK;
    report->findings = list->len ? calloc(list->len, sizeof *report->findings) : NULL;
    report->info = list->len ? calloc(list->len, sizeof *report->info) : NULL;
    if (list->len && (!report->findings || !report->info)) {
        bc_warn("out of memory while building the report");
        free(report->findings);
        free(report->info);
        report->findings = NULL;
        report->info = NULL;
        list->len = leak_groups = 0;
    }
    for (size_t i = 0; i < list->len; i++) {
        report->findings[i] = list->items[i].finding;
        report->info[i] = list->items[i].info;
    }
    free(list->items);
    report->nfindings = list->len;
    report->leak_groups = leak_groups;
}

static void free_named(named_bstr_t **named)
{
    named_bstr_t *n, *tmp;
    HASH_ITER(hh, *named, n, tmp) {
        HASH_DELETE(hh, *named, n);
        free(n);
    }
}

/* Fill REPORT with everything found so far; leaks only from ordinal
 * MIN_SEQ on, and none at all when WITH_LEAKS is false. With VERDICTS, each
 * finding also gets its ownership verdict (which symbolizes its stacks:
 * only for a report that is written). */
static void collect(bc_report_t *report, uint64_t min_seq, bool with_leaks, bool with_errors,
                    bool verdicts)
{
    memset(report, 0, sizeof *report);
    report->pid = (int)getpid();
    report->parent_pid = (int)getppid();
    report->exe = bc_exe_path();
    report->mode = bc_snapshot_mode();

    /* A forked child's inherited BSTRs stay its parent's leaks. */
    uint64_t first_own = bc_snapshot_first_own_seq();
    leak_scan_t scan = {.min_seq = min_seq > first_own ? min_seq : first_own,
                        .with_leaks = with_leaks};
    /* the verdicts on leaks consult every record's stacks */
    scan.history = with_leaks && verdicts ? bc_history_new() : NULL;
    bc_core_settle(with_errors); /* deferred frees; overflows, prefixes, writes after free */
    finding_list_t list = {0};
    if (with_errors) {
        collect_errors(&list);
        for (size_t i = 0; i < list.len; i++)
            name_finding(&list.items[i].finding, &scan);
    }
    bc_counts_t counts;
    bool complete = scan_table(&scan, &counts);
    if (scan.out_of_memory)
        bc_warn("out of memory while grouping leaks; some groups are missing");
    if (scan.history)
        bc_history_set_complete(scan.history, complete);

    report->allocations = counts.allocations;
    report->frees = counts.frees;
    report->leaked = scan.leaked;
    report->leaked_bytes = scan.leaked_bytes;
    for (int k = 0; k < BC_KIND_COUNT; k++)
        report->events[k] = k == BC_KIND_LEAK ? 0 : bc_events_count((bc_kind_t)k);
    report->untracked_frees = bc_count_get(BC_COUNT_UNTRACKED_FREES);
    report->released_by_free = bc_count_get(BC_COUNT_RELEASED_BY_FREE);
    report->injected_failures = bc_count_get(BC_COUNT_INJECTED_FAILURES);

    for (size_t i = 0; i < list.len; i++) {
        uint64_t seq = error_seq(&list.items[i].finding, scan.named, complete);
        list.items[i].info.seq_first = list.items[i].info.seq_last = seq;
    }
    free_named(&scan.named);
    add_leak_groups(&list, &scan);
    set_findings(report, &list);
    apply_suppressions(report);
    for (size_t i = 0; verdicts && i < report->nfindings; i++)
        bc_verdict(&report->findings[i], scan.history, &report->info[i]);
    bc_history_free(scan.history);
}

static void free_report(bc_report_t *report)
{
    for (size_t i = 0; report->info && i < report->nfindings; i++)
        free(report->info[i].rule_text);
    free(report->findings);
    free(report->info);
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
    /* No Sys* call was ever made (bc_armed): no record, no finding, so
     * only a file asked for even when empty is worth the work. */
    if (!__atomic_load_n(&bc_armed, __ATOMIC_ACQUIRE) && !bc_opt.sarif_path[0] &&
        !(bc_opt.json_path[0] && bc_opt.report_empty)) {
        pthread_mutex_unlock(&report_lock);
        bc_depth--;
        return 0;
    }
    bc_report_t report;
    collect(&report, 0, bc_opt.detect_leaks != 0, true, true);
    bc_core_warn_at_exit();
    report.reason = "exit";
    write_outputs(&report, true);
    size_t findings = report.nfindings;
    free_report(&report);
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
    /* every live BSTR (seq 0: gdb's bstr-leaks) is no leak yet: no verdict */
    collect(&report, seq, true, false, report_them && seq != 0);
    report.reason = seq ? "checkpoint" : "live_now"; /* 0: every live BSTR (gdb's bstr-leaks) */
    size_t leaked = (size_t)report.leaked;
    if (report_them && leaked > 0)
        write_outputs(&report, false);
    bc_symbolize_end(); /* suppressions may have symbolized; the program goes on */
    free_report(&report);
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
    report.mode = bc_snapshot_mode();
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
    collect(&report, 0, bc_opt.detect_leaks != 0, true, true);
    report.reason = "report_now";
    write_outputs(&report, true);
    free_report(&report);
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
    report_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}
