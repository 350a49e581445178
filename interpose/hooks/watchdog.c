/* The exit report's watchdog. exit() may be called from a signal handler
 * that interrupted a Sys* call on the same thread (a SIGTERM handler that
 * calls exit() is common). The interrupted call never resumes, and it may
 * hold a lock the report needs: a table shard, or malloc's own lock. The
 * report is still tried, since most of the time nothing is held, but
 * under a watchdog: if it has not finished within BC_WATCHDOG_SECONDS, a
 * SIGALRM (taken by whichever thread has it unblocked) prints one warning
 * and ends the process with exitcode (1 when exitcode=0, since the
 * program's own status is not known here). No report file is left half
 * written: files are renamed into place only when complete. */
#include "hooks.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define BC_WATCHDOG_SECONDS 3

static void fired(int sig)
{
    (void)sig;
    static const char msg[] =
        "bstrcheck: warning: the exit report did not finish: exit() was called inside a "
        "Sys* call (from a signal handler), which holds a lock the report needs; exiting "
        "without it\n";
    bc_log_write(2, msg, sizeof msg - 1);
    _exit(bc_opt.exitcode ? bc_opt.exitcode : 1);
}

void bc_watchdog_arm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fired;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    alarm(BC_WATCHDOG_SECONDS);
}
