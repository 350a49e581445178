/* Report files. A regular file is written under a temporary name and
 * renamed into place, so no reader ever sees half a report; devices and
 * FIFOs (/dev/stderr, /dev/null, a pipe) are written directly and never
 * replaced; a symlink planted at a report path is refused. Every open is
 * O_CLOEXEC (a program's children never inherit a report) and none waits:
 * a FIFO nobody reads is reported, not waited for at exit. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool bc_path_expand(const char *template_path, char *out, size_t outsz)
{
    size_t len = 0;
    for (const char *p = template_path; *p; p++) {
        char pid[24];
        const char *piece = p;
        size_t n = 1;
        if (p[0] == '%' && p[1] == 'p') {
            n = (size_t)snprintf(pid, sizeof pid, "%d", (int)getpid());
            piece = pid;
            p++;
        }
        if (len + n >= outsz)
            return false;
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return true;
}

void bc_out_init_fd(bc_out_t *out, int fd)
{
    out->fd = fd;
    out->own_fd = false;
    out->failed = false;
    out->len = 0;
    out->path[0] = '\0';
    out->tmp_path[0] = '\0';
}

/* A device or FIFO, written in place. FOLLOW: the path is a symlink to one
 * (/dev/stderr); otherwise a symlink planted since lstat() is refused. The
 * open does not block (a FIFO without a reader fails with ENXIO rather than
 * hang the exit); writes do, once a reader is there. If a regular file was
 * swapped in since lstat(), it is left alone: regular files are only ever
 * replaced whole, never written through. */
static bool open_direct(bc_out_t *out, bool follow)
{
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW);
    do
        out->fd = open(out->path, flags);
    while (out->fd < 0 && errno == EINTR);
    if (out->fd < 0)
        return false;
    struct stat st;
    if (fstat(out->fd, &st) != 0 || S_ISREG(st.st_mode)) {
        close(out->fd);
        out->fd = -1;
        errno = EEXIST;
        return false;
    }
    int fl = fcntl(out->fd, F_GETFL);
    if (fl >= 0)
        fcntl(out->fd, F_SETFL, fl & ~O_NONBLOCK);
    return true;
}

static bool open_temporary(bc_out_t *out)
{
    int n = snprintf(out->tmp_path, sizeof out->tmp_path, "%s.tmp.%d", out->path,
                     (int)getpid());
    if (n < 0 || (size_t)n >= sizeof out->tmp_path) {
        errno = ENAMETOOLONG;
        return false;
    }
    unlink(out->tmp_path); /* a stale one from a previous process with our pid */
    out->fd = open(out->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return out->fd >= 0;
}

/* Is PATH in a launcher's report directory ("bstrcheck.XXXXXX", made by
 * mkdtemp) that no longer exists? The launcher removes it once its command
 * has exited; a process still running then has nowhere to write. */
static bool launcher_dir_gone(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return false;
    const char *base = slash;
    while (base > path && base[-1] != '/')
        base--;
    static const char prefix[] = "bstrcheck.";
    size_t len = (size_t)(slash - base);
    if (len != sizeof prefix - 1 + 6 || memcmp(base, prefix, sizeof prefix - 1) != 0)
        return false;
    char dir[PATH_MAX];
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    struct stat st;
    return lstat(dir, &st) != 0 && errno == ENOENT;
}

bool bc_out_open(bc_out_t *out, const char *destination)
{
    bc_out_init_fd(out, -1);
    if (strcmp(destination, "stderr") == 0) {
        out->fd = 2;
        return true;
    }
    if (strcmp(destination, "stdout") == 0) {
        out->fd = 1;
        return true;
    }
    if (destination[0] == '\0') {
        bc_warn("empty report path; report not written there");
        return false;
    }
    if (!bc_path_expand(destination, out->path, sizeof out->path)) {
        bc_warn("report path '%s' is too long; report not written", destination);
        return false;
    }
    struct stat link_st, st;
    bool exists = lstat(out->path, &link_st) == 0;
    bool ok;
    if (exists && S_ISLNK(link_st.st_mode) && stat(out->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        ok = open_direct(out, true); /* /dev/stderr and friends: a link to a device */
    } else if (exists && S_ISLNK(link_st.st_mode)) {
        bc_warn("refusing to write report '%s': it is a symbolic link", out->path);
        return false;
    } else if (exists && !S_ISREG(link_st.st_mode)) {
        ok = open_direct(out, false);
    } else {
        ok = open_temporary(out);
    }
    if (!ok && errno == ENXIO) {
        bc_warn("cannot write report '%s': it is a FIFO that no process has open for "
                "reading", out->path);
        out->tmp_path[0] = '\0';
        return false;
    }
    if (!ok && errno == ENOENT && launcher_dir_gone(out->path)) {
        /* a process that outlived the launcher's command: said once */
        static int said;
        if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
            bc_warn("JSON report not written: the bstrcheck launcher has finished (this "
                    "process outlived its command), so nobody would read it");
        out->tmp_path[0] = '\0';
        return false;
    }
    if (!ok) {
        bc_warn("cannot write report '%s': %s", out->path, strerror(errno));
        out->tmp_path[0] = '\0';
        return false;
    }
    out->own_fd = true;
    return true;
}

void bc_out_flush(bc_out_t *out)
{
    size_t done = 0;
    while (done < out->len && !out->failed) {
        ssize_t n = write(out->fd, out->buf + done, out->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            out->failed = true;
            break;
        }
        done += (size_t)n;
    }
    out->len = 0;
}

void bc_out_write(bc_out_t *out, const char *s, size_t len)
{
    while (len > 0) {
        if (out->len == sizeof out->buf)
            bc_out_flush(out);
        size_t n = sizeof out->buf - out->len;
        if (n > len)
            n = len;
        memcpy(out->buf + out->len, s, n);
        out->len += n;
        s += n;
        len -= n;
    }
}

void bc_out_puts(bc_out_t *out, const char *s)
{
    bc_out_write(out, s, strlen(s));
}

void bc_out_printf(bc_out_t *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        bc_out_write(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

bool bc_out_close(bc_out_t *out)
{
    int saved = errno;
    bc_out_flush(out);
    bool ok = !out->failed;
    if (out->own_fd) {
        if (close(out->fd) != 0)
            ok = false;
        if (out->tmp_path[0]) {
            if (ok && rename(out->tmp_path, out->path) != 0)
                ok = false;
            if (!ok)
                unlink(out->tmp_path);
        }
        if (!ok)
            bc_warn("writing report '%s' failed: %s", out->path, strerror(errno));
    }
    out->fd = -1;
    errno = saved;
    return ok;
}

/* Length of the valid UTF-8 sequence at S (at most LEN bytes), 0 if the
 * bytes there are not one. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    size_t need;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    bool overlong = (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

void bc_out_json_chars(bc_out_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        if (c >= 0x80) {
            /* JSON must be UTF-8: a path or name that is not becomes U+FFFD */
            size_t n = utf8_sequence((const unsigned char *)s + i, len - i);
            if (n == 0) {
                bc_out_write(out, "\\ufffd", 6);
            } else {
                bc_out_write(out, s + i, n);
                i += n - 1;
            }
            continue;
        }
        switch (c) {
        case '"': bc_out_write(out, "\\\"", 2); break;
        case '\\': bc_out_write(out, "\\\\", 2); break;
        case '\n': bc_out_write(out, "\\n", 2); break;
        case '\r': bc_out_write(out, "\\r", 2); break;
        case '\t': bc_out_write(out, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                bc_out_write(out, esc, 6);
            } else {
                bc_out_write(out, (const char *)&c, 1);
            }
        }
    }
}

void bc_out_json_string(bc_out_t *out, const char *s, size_t len)
{
    bc_out_write(out, "\"", 1);
    bc_out_json_chars(out, s, len);
    bc_out_write(out, "\"", 1);
}

/* The text report's escape of one byte into ESC (at most 4 bytes); returns
 * its length. Bytes of 0x80 and up pass through (the sample is UTF-8). */
static size_t text_escape_byte(unsigned char c, char esc[4])
{
    static const char hex[] = "0123456789abcdef";
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; return 2;
    case '\\': esc[1] = '\\'; return 2;
    case '\n': esc[1] = 'n'; return 2;
    case '\r': esc[1] = 'r'; return 2;
    case '\t': esc[1] = 't'; return 2;
    case '\0': esc[1] = '0'; return 2;
    default:
        if (c < 0x20 || c == 0x7F) {
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            return 4;
        }
        esc[0] = (char)c;
        return 1;
    }
}

void bc_out_text_escaped(bc_out_t *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char esc[4];
        bc_out_write(out, esc, text_escape_byte((unsigned char)s[i], esc));
    }
}

size_t bc_text_escape(const char *s, size_t len, char *dst, size_t dstsz)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char esc[4];
        size_t k = text_escape_byte((unsigned char)s[i], esc);
        if (n + k >= dstsz)
            break;
        memcpy(dst + n, esc, k);
        n += k;
    }
    if (dstsz > 0)
        dst[n] = '\0';
    return n;
}

void bc_out_file_uri(bc_out_t *out, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    if (path[0] == '/')
        bc_out_puts(out, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' ||
                     c == '_' || c == '~' || c == '+' || c == ',' || c == '=' || c == '@';
        if (plain) {
            bc_out_write(out, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            bc_out_write(out, esc, 3);
        }
    }
}
