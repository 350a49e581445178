/* The escapers (bc_out_json_string, bc_out_json_chars, bc_out_text_escaped,
 * bc_text_escape, bc_out_file_uri) through a real descriptor, and
 * bc_path_expand. */
#include "report.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static char got[65536];

/* Run WRITE into a bc_out_t over a pipe; returns the bytes written. */
static size_t capture(void (*escaper)(bc_out_t *, const char *, size_t), const char *s,
                      size_t len)
{
    static bc_out_t out;
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    bc_out_init_fd(&out, fds[1]);
    escaper(&out, s, len);
    bc_out_flush(&out);
    close(fds[1]);
    size_t total = 0;
    ssize_t n;
    while ((n = read(fds[0], got + total, sizeof got - total)) > 0)
        total += (size_t)n;
    close(fds[0]);
    return total;
}

#define JSON(in, expected, ...)                                                     \
    do {                                                                            \
        size_t n_ = capture(bc_out_json_string, in, sizeof(in) - 1);                \
        tap_is_mem(got, n_, expected, sizeof(expected) - 1, __VA_ARGS__);           \
    } while (0)
#define TEXT(in, expected, ...)                                                     \
    do {                                                                            \
        size_t n_ = capture(bc_out_text_escaped, in, sizeof(in) - 1);               \
        tap_is_mem(got, n_, expected, sizeof(expected) - 1, __VA_ARGS__);           \
    } while (0)

static void file_uri(bc_out_t *out, const char *s, size_t len)
{
    (void)len;
    bc_out_file_uri(out, s);
}

#define URI(in, expected, ...)                                                      \
    do {                                                                            \
        size_t n_ = capture(file_uri, in, sizeof(in) - 1);                          \
        tap_is_mem(got, n_, expected, sizeof(expected) - 1, __VA_ARGS__);           \
    } while (0)

/* The SARIF writer's pieces (9). */
static void sarif_pieces(void)
{
    size_t n = capture(bc_out_json_chars, "a\"b\n", 4);
    tap_is_mem(got, n, "a\\\"b\\n", 6, "json_chars: escaped, no quotes");
    URI("/src/a b/x#1.c", "file:///src/a%20b/x%231.c", "uri: absolute path, space and # encoded");
    URI("/p/%q\"\\", "file:///p/%25q%22%5C", "uri: %%, quote, backslash encoded (no JSON escaping needed)");
    URI("/u/\xC3\xA9.c", "file:///u/%C3%A9.c", "uri: UTF-8 bytes percent-encoded");
    URI("rel/x.c", "rel/x.c", "uri: relative path stays a relative reference");
    URI("/a-b_c~d.e+f,g=h@i", "file:///a-b_c~d.e+f,g=h@i", "uri: safe characters kept");

    char buf[16];
    tap_is_uint(bc_text_escape("q\"\0\x01", 4, buf, sizeof buf), 9, "text_escape: length");
    tap_is_str(buf, "q\\\"\\0\\x01", "text_escape: like the text report");
    bc_text_escape("abcdefghijklmnopqrstuvwxyz", 26, buf, 8);
    tap_is_str(buf, "abcdefg", "text_escape: cut to fit, NUL-terminated");
}

int main(void)
{
    tap_plan(39 + 9);
    sarif_pieces();

    /* JSON (13). */
    JSON("", "\"\"", "json: empty string -> \"\"");
    JSON("plain", "\"plain\"", "json: plain ASCII quoted");
    JSON("a\"b", "\"a\\\"b\"", "json: quote escaped");
    JSON("a\\b", "\"a\\\\b\"", "json: backslash escaped");
    JSON("\n\r\t", "\"\\n\\r\\t\"", "json: \\n \\r \\t");
    JSON("\x01\x1f", "\"\\u0001\\u001f\"", "json: other controls as \\u00XX (lower hex)");
    JSON("\b\f", "\"\\u0008\\u000c\"", "json: \\b and \\f as \\u00XX");
    JSON("a\0b", "\"a\\u0000b\"", "json: NUL -> \\u0000, the rest kept");
    JSON("\x7f", "\"\\u007f\"", "json: DEL escaped");
    JSON("/", "\"/\"", "json: slash not escaped");
    JSON("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"",
         "json: UTF-8 passes through unchanged");
    JSON("\xEF\xBF\xBD", "\"\xEF\xBF\xBD\"", "json: U+FFFD passes through");
    JSON("a\xFF" "b", "\"a\\ufffd" "b\"", "json: invalid UTF-8 byte -> \\ufffd");
    JSON("\xC3", "\"\\ufffd\"", "json: truncated UTF-8 sequence -> \\ufffd");
    JSON("\xED\xA0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "json: encoded surrogate rejected byte by byte");

    /* A string longer than the 8 KiB buffer. */
    static char big[20000], big_expected[2 * 20000 + 2];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (i % 100 == 99) ? '\n' : 'x';
    size_t e = 0;
    big_expected[e++] = '"';
    for (size_t i = 0; i < sizeof big; i++) {
        if (big[i] == '\n') {
            big_expected[e++] = '\\';
            big_expected[e++] = 'n';
        } else {
            big_expected[e++] = big[i];
        }
    }
    big_expected[e++] = '"';
    size_t n = capture(bc_out_json_string, big, sizeof big);
    tap_is_mem(got, n, big_expected, e, "json: 20000 bytes across buffer flushes");

    /* Text (11). */
    TEXT("", "", "text: empty -> nothing");
    TEXT("plain", "plain", "text: plain ASCII unchanged, not quoted");
    TEXT("a\"b", "a\\\"b", "text: quote escaped");
    TEXT("a\\b", "a\\\\b", "text: backslash escaped");
    TEXT("\n\r\t", "\\n\\r\\t", "text: \\n \\r \\t");
    TEXT("\x01\x1f", "\\x01\\x1f", "text: other controls as \\xNN");
    TEXT("a\0b", "a\\0b", "text: NUL -> \\0");
    TEXT("\x7f", "\\x7f", "text: DEL as \\x7f");
    TEXT("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80",
         "text: UTF-8 passes through unchanged");
    TEXT("x\0\0y", "x\\0\\0y", "text: two NULs");
    TEXT("\x1b[31m", "\\x1b[31m", "text: ESC escaped (no terminal injection)");

    /* bc_path_expand (12). */
    char pid[32], expect[256], path[256];
    snprintf(pid, sizeof pid, "%d", (int)getpid());

    snprintf(expect, sizeof expect, "/tmp/x%s.log", pid);
    tap_ok(bc_path_expand("/tmp/x%p.log", path, sizeof path), "expand /tmp/x%%p.log succeeds");
    tap_is_str(path, expect, "%%p becomes the pid");

    snprintf(expect, sizeof expect, "%s-%s", pid, pid);
    tap_ok(bc_path_expand("%p-%p", path, sizeof path), "expand %%p-%%p succeeds");
    tap_is_str(path, expect, "every %%p is replaced");

    tap_ok(bc_path_expand("/a/%d%s%%x%", path, sizeof path), "other %% sequences: succeeds");
    tap_is_str(path, "/a/%d%s%%x%", "other %% sequences and a trailing %% are left alone");

    tap_ok(bc_path_expand("", path, sizeof path) && path[0] == '\0', "empty template -> \"\"");

    /* Exact fits: "ab" needs 3 bytes. */
    memset(path, 'Z', sizeof path);
    tap_ok(bc_path_expand("ab", path, 3) && strcmp(path, "ab") == 0,
           "\"ab\" fits in 3 bytes");
    memset(path, 'Z', sizeof path);
    bool fit = bc_path_expand("ab", path, 2);
    tap_ok(!fit && path[2] == 'Z', "\"ab\" does not fit in 2 bytes: false, nothing past 2");

    size_t need = strlen(pid) + 3; /* "x" pid "y" NUL */
    memset(path, 'Z', sizeof path);
    tap_ok(bc_path_expand("x%py", path, need), "x%%py fits in exactly %zu bytes", need);
    memset(path, 'Z', sizeof path);
    fit = bc_path_expand("x%py", path, need - 1);
    tap_ok(!fit && path[need - 1] == 'Z', "x%%py in %zu bytes: false, no overflow", need - 1);
    memset(path, 'Z', sizeof path);
    fit = bc_path_expand("%p", path, strlen(pid));
    tap_ok(!fit && path[strlen(pid)] == 'Z', "pid without room for the NUL: false");

    return tap_done();
}
