/* Diagnostics: formatted into a fixed stack buffer and written with write(2),
 * so a warning never allocates and never touches the program's stdio. */
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void bc_log_write(int fd, const char *buf, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf += n;
        len -= (size_t)n;
    }
    errno = saved;
}

void bc_log_line(int fd, const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    int saved = errno;
    int n = snprintf(line, sizeof line, "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    bc_log_write(fd, line, len);
    errno = saved;
}

static void bc_log_line_f(int fd, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void bc_log_line_f(int fd, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bc_log_line(fd, prefix, fmt, ap);
    va_end(ap);
}

void bc_warn(const char *fmt, ...)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "==%d==bstrcheck: warning: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    bc_log_line(2, prefix, fmt, ap);
    va_end(ap);
}

#if BC_DCHECKS
void bc_dcheck_failed(const char *what, const char *file, int line)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "==%d==bstrcheck: ", (int)getpid());
    bc_log_line_f(2, prefix, "internal error: debug check failed: %s (%s:%d)", what, file, line);
    abort();
}
#endif
