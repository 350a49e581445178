/* The debug checks of the lock rule (BC_DCHECK, built in with
 * -Ddchecks=true): foreign code (bc_event's formatting, a real runtime)
 * under a shard lock stops the process at once with its file and line, and
 * a notice taken outside a lock does too. Each breach runs in a child
 * process; the parent checks that the child aborted and what it said. A
 * build without the checks skips them (release builds only warn once). */
#include "hooks.h"
#include "tap.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*breach_fn)(void);

static void event_under_lock(void)
{
    bc_shard_t *shard = bc_table_lock_home(0x1000);
    bc_stacks_t stacks = {0};
    bc_event(BC_KIND_DOUBLE_FREE, stacks, NULL, 0, "formatted under a lock");
    bc_table_unlock(shard);
}

static void runtime_under_lock(void)
{
    bc_shard_t *shard = bc_table_lock_home(0x2000);
    bc_no_lock_held("a real runtime");
    bc_table_unlock(shard);
}

static void notice_without_lock(void)
{
    BC_NOTICES(notices);
    bc_record_t rec = {0};
    bc_notice(&notices, BC_SAY_PREFIX, &rec, 0);
}

static void event_without_lock(void)
{
    bc_stacks_t stacks = {0};
    bc_event(BC_KIND_DOUBLE_FREE, stacks, NULL, 0, "formatted with no lock held");
}

/* Run FN in a child; its status in *STATUS and the start of its stderr in ERR. */
static void run_child(breach_fn fn, int *status, char *err, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fds[0], err + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = '\0';
    close(fds[0]);
    waitpid(pid, status, 0);
}

static void expect_abort(breach_fn fn, const char *what)
{
    int status;
    char err[1024];
    run_child(fn, &status, err, sizeof err);
    tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the process stops", what);
    if (!tap_ok(strstr(err, "debug check failed") && strstr(err, ".c:"),
                "%s: it says which check, with file:line", what))
        tap_diag("stderr: %s", err);
}

int main(void)
{
    bc_options_parse(NULL);
    bc_table_init();
#if BC_DCHECKS
    tap_plan(8);
    expect_abort(event_under_lock, "bc_event under a shard lock");
    expect_abort(runtime_under_lock, "a real runtime under a shard lock");
    expect_abort(notice_without_lock, "a notice outside a shard lock");
    int status;
    char err[1024];
    run_child(event_without_lock, &status, err, sizeof err);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bc_event with no lock held runs on");
    if (!tap_ok(strstr(err, "debug check failed") == NULL, "and breaks no check"))
        tap_diag("stderr: %s", err);
#else
    tap_plan(1);
    tap_skip("the lock rule's debug checks", "built with -Ddchecks=false");
#endif
    return tap_done();
}
