/* A signal handler that makes and frees BSTRs through the runtime while the
 * main thread does the same (rt_pool.c's functions are async-signal-safe).
 * Under the shim the handler often interrupts the shim itself, holding a
 * lock of its own: its call must go to the runtime without waiting for
 * one. argv[1]: iterations. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;
BSTR SysAllocString(const OLECHAR *psz);
void SysFreeString(BSTR b);
unsigned SysStringLen(BSTR b);

static const OLECHAR in_main[] = {'m', 'a', 'i', 'n', 0};
static const OLECHAR in_handler[] = {'h', 'a', 'n', 'd', 'l', 'e', 'r', 0};
static volatile sig_atomic_t handled, handler_errors;

static void on_prof(int sig)
{
    (void)sig;
    BSTR b = SysAllocString(in_handler);
    if (!b || SysStringLen(b) != 7)
        handler_errors++;
    SysFreeString(b);
    handled++;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval every = {{0, 100}, {0, 100}};
    setitimer(ITIMER_PROF, &every, NULL);
    long errors = 0;
    for (long i = 0; i < n || handled < 200; i++) {
        BSTR b = SysAllocString(in_main);
        if (!b || SysStringLen(b) != 4)
            errors++;
        SysFreeString(b);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    printf("main errors=%ld handler errors=%d handled=%s\n", errors, (int)handler_errors,
           handled >= 200 ? "many" : "few");
    return 0;
}
