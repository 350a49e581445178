/* Running the command: posix_spawnp, then wait for it as a shell would.
 * While it runs the launcher ignores SIGINT and SIGQUIT (a terminal sends
 * them to the whole process group: the command gets them, the launcher
 * lives on to collect the reports) and forwards SIGTERM and SIGHUP to it.
 * The command starts with the signal dispositions and mask the launcher
 * was started with. */
#include "launcher.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static const int ignored[] = {SIGINT, SIGQUIT};
static const int forwarded[] = {SIGTERM, SIGHUP};

int bc_spawn_wait(char **command, char **env)
{
    sigset_t block, old_mask;
    sigemptyset(&block);
    for (size_t i = 0; i < BC_ARRAY_LEN(forwarded); i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old_mask); /* until child_pid is known */

    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward};
    fwd.sa_flags = SA_RESTART;
    sigemptyset(&fwd.sa_mask);
    struct sigaction old_ignored[BC_ARRAY_LEN(ignored)], old_forwarded[BC_ARRAY_LEN(forwarded)];
    sigset_t defaults; /* signals the command gets back at their default */
    sigemptyset(&defaults);
    for (size_t i = 0; i < BC_ARRAY_LEN(ignored); i++) {
        sigaction(ignored[i], &ign, &old_ignored[i]);
        if (old_ignored[i].sa_handler != SIG_IGN)
            sigaddset(&defaults, ignored[i]);
    }
    for (size_t i = 0; i < BC_ARRAY_LEN(forwarded); i++)
        sigaction(forwarded[i], &fwd, &old_forwarded[i]);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &old_mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid;
    int rc = posix_spawnp(&pid, command[0], NULL, &attr, command, env);
    posix_spawnattr_destroy(&attr);
    int status;
    if (rc != 0) {
        bc_launcher_error("cannot run '%s': %s", command[0], strerror(rc));
        status = rc == ENOENT ? BC_EXIT_NOT_FOUND : BC_EXIT_NOT_EXECUTABLE;
    } else {
        child_pid = pid;
        sigprocmask(SIG_SETMASK, &old_mask, NULL); /* a pending SIGTERM is forwarded now */
        int wstatus = 0;
        pid_t got;
        while ((got = waitpid(pid, &wstatus, 0)) < 0 && errno == EINTR)
            ;
        if (got < 0)
            status = BC_EXIT_NOT_EXECUTABLE; /* cannot happen: it is our child */
        else if (WIFSIGNALED(wstatus))
            status = 128 + WTERMSIG(wstatus);
        else
            status = WEXITSTATUS(wstatus);
        child_pid = 0;
    }

    sigprocmask(SIG_BLOCK, &block, NULL);
    for (size_t i = 0; i < BC_ARRAY_LEN(ignored); i++)
        sigaction(ignored[i], &old_ignored[i], NULL);
    for (size_t i = 0; i < BC_ARRAY_LEN(forwarded); i++)
        sigaction(forwarded[i], &old_forwarded[i], NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return status;
}
