/* break_on_alloc=N[,N...]: the MSVC debug heap's _CrtSetBreakAlloc for
 * BSTRs. Every tracked allocation has an ordinal (the report's {N}); when
 * one of the listed ordinals is made, bstrcheck_break(seq, bstr) is called
 * (an exported function that does nothing: a place for a breakpoint), then
 * SIGTRAP is raised if a debugger is attached, so the debugger stops with
 * the allocating frame on the stack. Without a debugger one line is printed
 * and the program goes on.
 *
 * track.c calls bc_break_check after every tracked allocation, outside any
 * lock, only while bc_break_armed is set (one load otherwise). */
#define BSTRCHECK_SHIM_BUILD 1
#include "bstrcheck.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BREAK_MAX 64

bool bc_break_armed;
static uint64_t break_seqs[BREAK_MAX];
static unsigned break_count;

void bc_break_init(void);

/* The breakpoint target. noinline and an empty asm that uses both
 * arguments: the call and its arguments survive any optimization, so
 * `break bstrcheck_break` and `print seq` work in every build. */
BC_EXPORT __attribute__((noinline)) void bstrcheck_break(uint64_t seq, const void *bstr)
{
    __asm__ volatile("" : : "r"(seq), "r"(bstr) : "memory");
}

/* Parse "N[,N...]" (each N from 1) into break_seqs. False on anything
 * else, or more than BREAK_MAX numbers. */
static bool parse_list(const char *text)
{
    unsigned count = 0;
    const char *p = text;
    while (*p) {
        if (*p < '0' || *p > '9' || count == BREAK_MAX)
            return false;
        uint64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            unsigned digit = (unsigned)(*p++ - '0');
            if (n > (UINT64_MAX - digit) / 10)
                return false;
            n = n * 10 + digit;
        }
        if (n == 0)
            return false;
        break_seqs[count++] = n;
        if (*p == ',') {
            p++;
            if (!*p)
                return false;
        } else if (*p) {
            return false;
        }
    }
    break_count = count;
    return count > 0;
}

void bc_break_init(void)
{
    const char *text = bc_opt.break_on_alloc;
    if (!text || !*text)
        return;
    if (!parse_list(text)) {
        break_count = 0;
        bc_warn("bad value '%s' for option 'break_on_alloc' (valid: N[,N...], allocation "
                "numbers from 1, at most %d); ignored",
                text, BREAK_MAX);
        return;
    }
    __atomic_store_n(&bc_break_armed, true, __ATOMIC_RELEASE);
}

/* Is a debugger (any tracer) attached? Linux says so in TracerPid. */
static bool debugger_attached(void)
{
#if BC_OS_LINUX
    int saved = errno;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return false;
    }
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    errno = saved;
    buf[len] = '\0';
    const char *line = strstr(buf, "\nTracerPid:");
    if (!line)
        return false;
    line += sizeof "\nTracerPid:" - 1;
    while (*line == ' ' || *line == '\t')
        line++;
    return *line >= '1' && *line <= '9';
#else
    return false;
#endif
}

void bc_break_check(uint64_t seq, bc_bstr_t bstr)
{
    bool hit = false;
    for (unsigned i = 0; i < break_count && !hit; i++)
        hit = break_seqs[i] == seq;
    if (!hit)
        return;
    bstrcheck_break(seq, bstr);
    if (debugger_attached()) {
        raise(SIGTRAP); /* the debugger stops here: `up` leads to the allocating frame */
        return;
    }
    char line[160];
    int n = snprintf(line, sizeof line,
                     "==%d==bstrcheck: break_on_alloc: allocation {%llu} is BSTR %p "
                     "(no debugger attached; going on)\n",
                     (int)getpid(), (unsigned long long)seq, bstr);
    if (n > 0)
        bc_log_write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
