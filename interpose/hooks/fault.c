/* The SIGSEGV handler of page-heap mode. A fault inside a BSTR's guard page
 * is an overflow; a fault on a quarantined BSTR's pages is a use after
 * free. Either becomes a finding with the access, allocation and free
 * stacks; then the reports are written and the process dies by SIGSEGV, as
 * it would have without bstrcheck. Any other fault goes, untouched, to the
 * handler that was there before (or the default action). */
#include "hooks.h"
#include "report.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct sigaction previous_segv;
/* The report is written from the handler, symbolization included (libdw
 * needs well over 64 KiB), so the alternate stack is large, with a guard
 * page below it. */
#define ALT_STACK_SIZE (1024 * 1024)

typedef struct fault_match {
    uintptr_t addr;
    bool found;
    bc_record_t rec; /* a copy: no lock is held after the search */
} fault_match_t;

static void match_record(const bc_record_t *rec, void *arg)
{
    fault_match_t *m = arg;
    uintptr_t lo, hi;
    if (!m->found && BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN && (bc_guard_span((bc_bstr_t)bc_record_bstr(rec), rec->bytes, &lo, &hi), true) &&
        m->addr >= lo && m->addr < hi) {
        m->rec = *rec;
        m->found = true;
    }
}

/* The faulting instruction first, then its callers: the unwinder's frames
 * from the interrupted one on. Frames are return addresses (the report
 * subtracts 1), so the exact pc is stored plus one. */
static bc_stack_id_t access_stack(const void *uc)
{
    uintptr_t frames[BC_MAX_FRAMES];
    uintptr_t raw[BC_MAX_FRAMES];
    uint32_t max = (uint32_t)bc_opt.max_frames;
    uint32_t n = bc_stack_capture(raw, BC_MAX_FRAMES);
    uintptr_t pc = bc_platform_signal_pc(uc);
    uint32_t start = n;
    for (uint32_t i = 0; i < n; i++)
        if (raw[i] == pc) {
            start = i + 1;
            break;
        }
    uint32_t count = 0;
    if (pc)
        frames[count++] = pc + 1;
    for (uint32_t i = start; i < n && count < max; i++)
        frames[count++] = raw[i];
    return bc_depot_put(frames, count);
}

static void pass_on(int sig, siginfo_t *info, void *ctx)
{
    if (previous_segv.sa_flags & SA_SIGINFO) {
        if (previous_segv.sa_sigaction) {
            previous_segv.sa_sigaction(sig, info, ctx);
            return;
        }
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
        return;
    }
    /* Default action: returning re-runs the instruction, which faults
     * again without us. */
    signal(sig, SIG_DFL);
}

static void on_segv(int sig, siginfo_t *info, void *ctx)
{
    fault_match_t m = {.addr = (uintptr_t)info->si_addr};
    bc_depth++; /* the search takes shard locks */
    bool ours = bc_ready && bc_table_search(match_record, &m) && m.found;
    bc_depth--;
    if (ours) {
        bc_depth++;
        bc_stacks_t stacks = {.alloc = m.rec.alloc_stack, .access = access_stack(ctx)};
        uintptr_t end = bc_record_bstr(&m.rec) + m.rec.bytes;
        if (m.rec.state == BC_FREED) {
            stacks.previous_free = m.rec.free_stack;
            bc_event(BC_KIND_USE_AFTER_FREE, stacks, NULL, m.rec.bytes,
                     "access to %p, %lld bytes into the freed BSTR %p (guard page fault)",
                     info->si_addr, (long long)(m.addr - bc_record_bstr(&m.rec)),
                     (void *)bc_record_bstr(&m.rec));
        } else {
            bc_event(BC_KIND_OVERFLOW, stacks, NULL, m.rec.bytes,
                     "access to %p, %llu bytes past the end of BSTR %p of %u bytes "
                     "(guard page fault)",
                     info->si_addr, (unsigned long long)(m.addr - end + 1),
                     (void *)bc_record_bstr(&m.rec), m.rec.bytes);
        }
        bc_report_at_exit();
        signal(SIGSEGV, SIG_DFL); /* returning re-faults and dies by SIGSEGV */
        bc_depth--;
        return;
    }
    pass_on(sig, info, ctx);
}

void bc_fault_init(void)
{
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
        /* the program has none: a stack overflow must still reach us */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        char *map = mmap(NULL, ALT_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map != MAP_FAILED) {
            mprotect(map, page, PROT_NONE);
            stack_t ss = {.ss_sp = map + page, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
            sigaltstack(&ss, NULL);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous_segv) != 0)
        bc_warn("guard_pages: cannot install the SIGSEGV handler; faults will not be reported");
}
