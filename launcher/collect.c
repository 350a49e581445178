/* The launcher's private report directory: made before the command runs
 * (every process writes its JSON report there, named by its pid), read
 * after it. Each report is read whole, parsed, and kept verbatim for the merged report.
 * A file that is not a bstrcheck JSON report is skipped with one warning.
 * Half-written files (the shim's "NAME.tmp.PID", left by a process killed
 * while writing) are dropped. The directory is emptied and removed. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool bc_report_dir_create(char *out, size_t outsz)
{
    /* The path goes into BSTRCHECK_OPTIONS, which splits at ':' and white
     * space: a TMPDIR holding one is passed over for /tmp. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || tmp[0] != '/' || strpbrk(tmp, ": \t\n"))
        tmp = "/tmp";
    if (snprintf(out, outsz, "%s/bstrcheck.XXXXXX", tmp) >= (int)outsz) {
        bc_launcher_error("TMPDIR '%s' is too long", tmp);
        return false;
    }
    if (!mkdtemp(out)) {
        bc_launcher_error("cannot create a report directory in '%s': %s", tmp, strerror(errno));
        return false;
    }
    return true;
}

/* The whole of the regular file PATH into a malloc'd buffer. */
char *bc_read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf) {
        buf[len] = '\0';
        *len_out = len;
    }
    return buf;
}

static bool is_report(const bc_json_t *json, const char **why)
{
    const char *tool = bc_json_str(bc_json_get(json, "tool"));
    const bc_json_t *pid = bc_json_get(json, "pid");
    const bc_json_t *summary = bc_json_get(json, "summary");
    if (!tool || strcmp(tool, "bstrcheck") != 0)
        *why = "not a bstrcheck report (no \"tool\": \"bstrcheck\")";
    else if (!pid || !pid->is_uint || pid->uint > INT32_MAX)
        *why = "no valid \"pid\"";
    else if (!summary || summary->type != BC_JSON_OBJECT)
        *why = "no \"summary\" object";
    else
        return true;
    return false;
}

/* Read and check one file; true when it joins the collection. */
static bool load(const char *path, const char *name, bc_process_report_t *r)
{
    size_t len = 0;
    char *text = bc_read_file(path, &len);
    if (!text) {
        bc_launcher_error("warning: skipping report '%s': %s", name, strerror(errno));
        return false;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r' ||
                       text[len - 1] == '\t'))
        text[--len] = '\0';
    char err[200];
    bc_json_t *json = bc_json_parse(text, len, err, sizeof err);
    const char *why = err;
    if (!json || !is_report(json, &why)) {
        bc_launcher_error("warning: skipping report '%s': %s", name, why);
        bc_json_free(json);
        free(text);
        return false;
    }
    r->text = text;
    r->len = len;
    r->json = json;
    r->pid = (int)bc_json_get(json, "pid")->uint;
    return true;
}

static int by_pid(const void *a, const void *b)
{
    const bc_process_report_t *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

void bc_collect(const char *dir, bc_collection_t *out)
{
    out->reports = NULL;
    out->count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        bc_launcher_error("warning: cannot read the report directory '%s': %s", dir,
                          strerror(errno));
        return;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        if (!strstr(e->d_name, ".tmp.")) {
            if (out->count == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                bc_process_report_t *grown = realloc(out->reports, ncap * sizeof *grown);
                if (!grown) {
                    bc_launcher_error("warning: out of memory; some reports are missing");
                    unlink(path);
                    continue;
                }
                out->reports = grown;
                cap = ncap;
            }
            if (load(path, e->d_name, &out->reports[out->count]))
                out->count++;
        }
        unlink(path);
    }
    closedir(d);
    if (rmdir(dir) != 0)
        bc_launcher_error("warning: cannot remove '%s': %s", dir, strerror(errno));
    if (out->count > 1)
        qsort(out->reports, out->count, sizeof *out->reports, by_pid);
}

void bc_collection_free(bc_collection_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        bc_json_free(c->reports[i].json);
        free(c->reports[i].text);
    }
    free(c->reports);
    c->reports = NULL;
    c->count = 0;
}

bool bc_report_has_findings(const bc_process_report_t *r)
{
    return bc_json_count(bc_json_get(r->json, "findings")) > 0;
}
