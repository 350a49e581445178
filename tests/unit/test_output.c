/* bc_out_open / bc_out_close: regular files through a temporary name and a
 * rename, symlinks refused, devices written directly, bad paths fail. */
#include "report.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static bc_out_t out; /* large: keep it off the stack */

static size_t read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return (size_t)-1;
    size_t total = 0;
    ssize_t n;
    while (total < size && (n = read(fd, buf + total, size - total)) > 0)
        total += (size_t)n;
    close(fd);
    return total;
}

static void write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        abort();
    close(fd);
}

/* Entries of DIR whose name contains ".tmp." */
static int count_tmp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static bool is_symlink(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX + 256];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    tap_plan(34);
    const char *tmpdir = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bc-unit-output-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP cannot create a temporary directory\n");
        return 77;
    }
    atexit(cleanup);

    static char content[30000], back[40000];
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (char)('a' + i % 26);
    char path[PATH_MAX + 64], other[PATH_MAX + 64];

    /* A regular file: temporary name, then rename (8). */
    snprintf(path, sizeof path, "%s/report.json", dir);
    bool opened = bc_out_open(&out, path);
    tap_ok(opened, "open a new regular file path");
    if (!opened)
        return tap_done();
    tap_ok(out.tmp_path[0] && strstr(out.tmp_path, ".tmp.") != NULL,
           "written under a temporary name (%s)", out.tmp_path);
    bc_out_write(&out, content, sizeof content); /* more than one buffer */
    bc_out_flush(&out);
    tap_ok(access(path, F_OK) != 0, "final path does not exist before close");
    tap_is_int(count_tmp_files(), 1, "one temporary file while writing");
    tap_ok(bc_out_close(&out), "close succeeds");
    size_t n = read_file(path, back, sizeof back);
    tap_is_mem(back, n, content, sizeof content, "file holds the full content after close");
    tap_is_int(count_tmp_files(), 0, "no *.tmp.* file remains");
    tap_is_int(out.fd, -1, "fd reset after close");

    /* An existing regular file is replaced whole (3). */
    write_file(path, "old content that is longer than the new one, to catch truncation");
    tap_ok(bc_out_open(&out, path), "open over an existing regular file");
    bc_out_puts(&out, "new");
    tap_ok(bc_out_close(&out), "close succeeds");
    n = read_file(path, back, sizeof back);
    tap_is_mem(back, n, "new", 3, "existing file replaced by exactly the new content");

    /* %p in the path (3). */
    char tmpl[PATH_MAX + 64];
    snprintf(tmpl, sizeof tmpl, "%s/r.%%p.txt", dir);
    snprintf(other, sizeof other, "%s/r.%d.txt", dir, (int)getpid());
    tap_ok(bc_out_open(&out, tmpl), "open a path with %%p");
    bc_out_printf(&out, "pid %d\n", 42);
    tap_ok(bc_out_close(&out), "close succeeds");
    n = read_file(other, back, sizeof back);
    tap_is_mem(back, n, "pid 42\n", 7, "%%p expanded to the pid in the file name");

    /* A symlink at the path is refused, its target untouched (6). */
    char target[PATH_MAX + 64];
    snprintf(target, sizeof target, "%s/target.txt", dir);
    snprintf(path, sizeof path, "%s/link.json", dir);
    write_file(target, "precious");
    if (symlink(target, path) != 0)
        abort();
    tap_ok(!bc_out_open(&out, path), "symlink to a regular file: open refused");
    n = read_file(target, back, sizeof back);
    tap_is_mem(back, n, "precious", 8, "symlink target untouched");
    tap_ok(is_symlink(path), "symlink itself left in place");
    tap_is_int(count_tmp_files(), 0, "no temporary file created for a refused symlink");

    snprintf(path, sizeof path, "%s/dangling.json", dir);
    snprintf(other, sizeof other, "%s/nowhere.txt", dir);
    if (symlink(other, path) != 0)
        abort();
    tap_ok(!bc_out_open(&out, path), "dangling symlink: open refused");
    tap_ok(access(other, F_OK) != 0, "dangling symlink's target not created");

    /* /dev/null: written directly (5). */
    tap_ok(bc_out_open(&out, "/dev/null"), "open /dev/null");
    tap_ok(out.tmp_path[0] == '\0', "/dev/null is written directly, no temporary name");
    bc_out_write(&out, content, sizeof content);
    tap_ok(bc_out_close(&out), "close /dev/null succeeds");
    struct stat st;
    tap_ok(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null still a char device");
    /* A symlink to a device is fine too (/dev/stderr-style). */
    snprintf(path, sizeof path, "%s/null-link", dir);
    if (symlink("/dev/null", path) != 0)
        abort();
    tap_ok(bc_out_open(&out, path) && bc_out_close(&out), "symlink to /dev/null is written");

    /* Paths that cannot be written (4). */
    tap_ok(!bc_out_open(&out, "/nonexistent-dir/x.json"), "/nonexistent-dir/x.json: false");
    tap_ok(!bc_out_open(&out, dir), "a directory: false");
    char huge[PATH_MAX + 100];
    memset(huge, 'a', sizeof huge - 1);
    huge[0] = '/';
    huge[sizeof huge - 1] = '\0';
    tap_ok(!bc_out_open(&out, huge), "a path longer than PATH_MAX: false");
    tap_is_int(count_tmp_files(), 0, "no temporary files left behind");

    /* An empty destination (log_path= with no value) cannot be opened: the
     * caller then falls back to stderr (report.c). bc_out_open("")
     * must refuse, so the caller falls back to stderr instead of writing
     * ".tmp.<pid>" in the current directory and losing the report. */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0)
        abort();
    bool empty_opened = bc_out_open(&out, "");
    if (empty_opened)
        bc_out_close(&out);
    tap_ok(!empty_opened, "empty destination: open returns false");
    tap_is_int(count_tmp_files(), 0, "empty destination leaves no *.tmp.* file");
    if (chdir(cwd) != 0)
        abort();

    /* stdout / stderr: the program's descriptors, never closed (3). */
    tap_ok(bc_out_open(&out, "stderr") && out.fd == 2, "\"stderr\" -> fd 2");
    tap_ok(bc_out_close(&out) && fcntl(2, F_GETFD) != -1, "closing \"stderr\" keeps fd 2 open");
    tap_ok(bc_out_open(&out, "stdout") && out.fd == 1 && bc_out_close(&out) &&
               fcntl(1, F_GETFD) != -1,
           "\"stdout\" -> fd 1, left open");

    return tap_done();
}
