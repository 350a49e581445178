/* Suppressions: the `suppressions=FILE` rules, one `KIND:PATTERN` per line,
 * matched against every frame of a finding's stacks at report time. Also
 * the ready-made rule that gen_suppressions=1 prints under each finding.
 * Nothing here runs while the program runs. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool bc_glob_match(const char *pattern, const char *text)
{
    /* Greedy with one backtrack point: the last '*' seen and the text
     * position it was tried at. Linear for patterns with one '*'. */
    const char *star = NULL, *star_text = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = ++pattern;
            star_text = text;
        } else if (*pattern && *pattern == *text) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star;
            text = ++star_text;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

static int kind_from_name(const char *name)
{
    if (strcmp(name, "*") == 0)
        return BC_KIND_ANY;
    for (int k = 0; k < BC_KIND_COUNT; k++)
        if (strcmp(name, bc_kind_names[k]) == 0)
            return k;
    return BC_KIND_COUNT; /* not a kind */
}

static bool add_rule(bc_suppressions_t *s, size_t *cap, int kind, const char *pattern,
                     unsigned line)
{
    if (s->nrules == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        bc_suppress_rule_t *rules = realloc(s->rules, ncap * sizeof *rules);
        if (!rules)
            return false;
        s->rules = rules;
        *cap = ncap;
    }
    s->rules[s->nrules++] = (bc_suppress_rule_t){kind, pattern, line};
    return true;
}

size_t bc_suppressions_parse(bc_suppressions_t *s, const char *name, char *text)
{
    size_t cap = 0, malformed = 0;
    unsigned line_no = 0;
    s->rules = NULL;
    s->nrules = 0;
    s->text = text;
    char *next = text;
    while (next && *next) {
        char *line = next;
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        line_no++;
        line = trim(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char shown[160]; /* the line as written, for a warning */
        snprintf(shown, sizeof shown, "%s", line);
        char *colon = strchr(line, ':');
        const char *why = NULL;
        int kind = BC_KIND_COUNT;
        char *pattern = NULL;
        if (!colon) {
            why = "expected KIND:PATTERN";
        } else {
            *colon = '\0';
            kind = kind_from_name(trim(line));
            pattern = trim(colon + 1);
            if (kind == BC_KIND_COUNT)
                why = "unknown kind: use a finding kind or *";
            else if (pattern[0] == '\0')
                why = "empty pattern";
        }
        if (why) {
            bc_warn("%s:%u: malformed suppression '%s': %s; line skipped", name, line_no,
                    shown, why);
            malformed++;
            continue;
        }
        if (!add_rule(s, &cap, kind, pattern, line_no)) {
            bc_warn("%s: out of memory; rules from line %u on are ignored", name, line_no);
            break;
        }
    }
    return malformed;
}

/* The whole file at FD into a NUL-terminated heap buffer; NULL on error. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    int saved = errno;
    free(buf);
    errno = saved ? saved : ENOMEM;
    return NULL;
}

bool bc_suppressions_load(bc_suppressions_t *s, const char *path)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *text = fd >= 0 ? read_all(fd) : NULL;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (!text) {
        bc_warn("cannot read suppressions file '%s': %s; running without suppressions", path,
                strerror(saved));
        return false;
    }
    bc_suppressions_parse(s, path, text);
    return true;
}

void bc_suppressions_free(bc_suppressions_t *s)
{
    free(s->rules);
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* FUNCTION without its C++ parameter list and qualifiers: the text before
 * the '(' that matches the last ')'. "ns::f(int) const" -> "ns::f",
 * "std::function<void (int)>::operator()(int)" -> "...::operator()". */
static bool function_without_params(const char *function, char *out, size_t outsz)
{
    const char *close = strrchr(function, ')');
    if (!close)
        return false;
    int depth = 0;
    for (const char *p = close; p >= function; p--) {
        if (*p == ')')
            depth++;
        else if (*p == '(' && --depth == 0) {
            size_t len = (size_t)(p - function);
            if (len == 0 || len >= outsz)
                return false;
            memcpy(out, function, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

bool bc_suppress_frame_matches(const char *pattern, const bc_frame_info_t *f)
{
    if (f->function) {
        char bare[1024];
        if (bc_glob_match(pattern, f->function) ||
            (function_without_params(f->function, bare, sizeof bare) &&
             bc_glob_match(pattern, bare)))
            return true;
    }
    if (f->file && (bc_glob_match(pattern, f->file) ||
                    bc_glob_match(pattern, bc_path_basename(f->file))))
        return true;
    if (f->module && f->module[0] &&
        (bc_glob_match(pattern, f->module) || bc_glob_match(pattern, bc_path_basename(f->module))))
        return true;
    return false;
}

typedef struct match_query {
    const bc_suppressions_t *s;
    bc_kind_t kind;
    bool matched;
} match_query_t;

static bool match_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    match_query_t *q = arg;
    for (size_t i = 0; i < q->s->nrules; i++) {
        const bc_suppress_rule_t *r = &q->s->rules[i];
        if ((r->kind == BC_KIND_ANY || r->kind == (int)q->kind) &&
            bc_suppress_frame_matches(r->pattern, f)) {
            q->matched = true;
            return false;
        }
    }
    return true;
}

bool bc_suppressions_match(const bc_suppressions_t *s, const bc_finding_t *f)
{
    bool any_rule = false;
    for (size_t i = 0; i < s->nrules && !any_rule; i++)
        any_rule = s->rules[i].kind == BC_KIND_ANY || s->rules[i].kind == (int)f->kind;
    if (!any_rule)
        return false; /* no symbolizing for kinds without rules */
    match_query_t q = {s, f->kind, false};
    for (int role = 0; role < BC_ROLE_COUNT && !q.matched; role++)
        if (f->stacks[role])
            bc_frames_walk(f->stacks[role], match_frame, &q);
    return q.matched;
}

const bc_suppressions_t *bc_suppressions_active(void)
{
    static bc_suppressions_t active;
    static bool loaded;
    if (!loaded) {
        loaded = true; /* a bad file warns once, not at every report */
        if (bc_opt.suppressions[0])
            bc_suppressions_load(&active, bc_opt.suppressions);
    }
    return &active;
}

size_t bc_suppression_for(const bc_finding_t *f, char *out, size_t outsz)
{
    bc_frame_info_t frame;
    if (outsz == 0 || !bc_finding_primary_frame(f, &frame))
        return 0;
    char bare[1024];
    const char *pattern;
    if (bc_frame_is_user(&frame) && frame.function)
        pattern = function_without_params(frame.function, bare, sizeof bare) ? bare
                                                                              : frame.function;
    else if (frame.module[0])
        pattern = bc_path_basename(frame.module);
    else
        return 0;
    size_t klen = strlen(bc_kind_names[f->kind]), plen = strlen(pattern);
    if (klen + 1 + plen >= outsz)
        return 0;
    memcpy(out, bc_kind_names[f->kind], klen);
    out[klen] = ':';
    memcpy(out + klen + 1, pattern, plen);
    out[klen + 1 + plen] = '\0';
    return klen + 1 + plen;
}
