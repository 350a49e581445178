/* The command's environment. The shim goes first in the preload variable,
 * ahead of any allocator or other tool already there (kept after it, in
 * their order): then every module's free() and realloc() calls reach the
 * shim's catch_free wrappers by ordinary binding, modules dlopen()ed later
 * included, and an allocator after the shim still serves every allocation
 * (the shim defines no malloc). Only sanitizer runtimes that refuse to start
 * unless they come first (AddressSanitizer's, HWASan's) stay ahead of it.
 * A preload list that already names the shim is left as the user wrote it
 * (the shim works in either order). BSTRCHECK_OPTIONS keeps the user's items
 * and gets the launcher's after them: the shim applies items in order, so
 * the launcher's flags win. */
#include "launcher.h"

#include <stdlib.h>
#include <string.h>

static const char options_var[] = "BSTRCHECK_OPTIONS";

/* A growing string; false once out of memory. */
typedef struct text {
    char *s;
    size_t len, cap;
    bool failed;
} text_t;

static void append(text_t *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *grown = realloc(t->s, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->s = grown;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void append_item(text_t *t, const char *item)
{
    if (t->len > 0)
        append(t, ":", 1);
    append(t, item, strlen(item));
}

char *bc_env_options(const char *existing, const bc_launch_args_t *args,
                     const char *report_template)
{
    text_t t = {0};
    append_item(&t, "report_empty=0");
    if (existing && existing[strspn(existing, ": \t\n")])
        append_item(&t, existing);
    for (size_t i = 0; i < args->noptions; i++)
        append_item(&t, args->options[i]);
    append_item(&t, "json_path=");
    append(&t, report_template, strlen(report_template));
    if (t.failed) {
        free(t.s);
        bc_launcher_error("out of memory");
        return NULL;
    }
    if (t.len >= BC_OPTIONS_TEXT_MAX) {
        bc_launcher_error("BSTRCHECK_OPTIONS would be %zu bytes, more than the shim reads (%d)",
                          t.len, BC_OPTIONS_TEXT_MAX - 1);
        free(t.s);
        return NULL;
    }
    return t.s;
}

int bc_env_exitcode(const char *options)
{
    bc_options_parse(NULL); /* the defaults */
    int exitcode = bc_opt.exitcode;
    const char *p = options;
    while (p && *p) {
        size_t len = strcspn(p, ": \t\n");
        if (len > 9 && strncmp(p, "exitcode=", 9) == 0 && len - 9 < 16) {
            char value[16];
            memcpy(value, p + 9, len - 9);
            value[len - 9] = '\0';
            if (bc_option_check("exitcode", value, NULL) == 0)
                exitcode = atoi(value); /* the shim keeps the last valid one too */
        }
        p += len;
        p += strspn(p, ": \t\n");
    }
    return exitcode;
}

/* Is SHIM one of the entries of the preload list VALUE? */
static bool already_preloaded(const char *value, const char *shim)
{
    size_t shim_len = strlen(shim);
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ": ");
        if (len == shim_len && strncmp(p, shim, len) == 0)
            return true;
        p += len;
        p += strspn(p, ": ");
    }
    return false;
}

/* Must the preload entry ENTRY (LEN bytes) come first in the list? The
 * runtimes of AddressSanitizer and HWASan check that they come first in the
 * initial library list and end the program otherwise. */
bool bc_env_must_come_first(const char *entry, size_t len)
{
    static const char *const runtimes[] = {"libasan.so", "libhwasan.so", "libclang_rt.asan",
                                           "libclang_rt.hwasan"};
    const char *base = entry;
    for (size_t i = 0; i < len; i++)
        if (entry[i] == '/')
            base = entry + i + 1;
    size_t base_len = len - (size_t)(base - entry);
    for (size_t i = 0; i < BC_ARRAY_LEN(runtimes); i++) {
        size_t n = strlen(runtimes[i]);
        if (base_len >= n && strncmp(base, runtimes[i], n) == 0)
            return true;
    }
    return false;
}

/* Where the shim goes in the preload list VALUE: the offset just past its
 * leading entries that must come first (0: at the very front). */
static size_t shim_position(const char *value)
{
    size_t end = 0;
    const char *p = value + strspn(value, ": ");
    while (*p) {
        size_t len = strcspn(p, ": ");
        if (!bc_env_must_come_first(p, len))
            break;
        end = (size_t)(p + len - value);
        p += len;
        p += strspn(p, ": ");
    }
    return end;
}

/* "NAME=VALUE" in a new string. */
static char *make_entry(const char *name, const char *value, const char *tail)
{
    text_t t = {0};
    append(&t, name, strlen(name));
    append(&t, "=", 1);
    append(&t, value, strlen(value));
    if (tail && *tail) {
        append(&t, ":", 1);
        append(&t, tail, strlen(tail));
    }
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

/* VAR's value in the entry ENTRY, or NULL when ENTRY is not VAR's. */
static const char *value_of(const char *entry, const char *var)
{
    size_t n = strlen(var);
    return strncmp(entry, var, n) == 0 && entry[n] == '=' ? entry + n + 1 : NULL;
}

char **bc_env_build(char **environ_in, const char *shim, const char *options)
{
    return bc_env_build_first(environ_in, NULL, shim, options);
}

char **bc_env_build_first(char **environ_in, const char *first, const char *shim,
                          const char *options)
{
    if (strpbrk(shim, ": \t\n")) {
        bc_launcher_error("the shim's path '%s' holds ':' or white space, which %s cannot carry",
                          shim, bc_platform_preload_var());
        return NULL;
    }
    const char *preload_var = bc_platform_preload_var();
    size_t n = 0;
    while (environ_in && environ_in[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env) {
        bc_launcher_error("out of memory");
        return NULL;
    }
    const char *old_preload = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = value_of(environ_in[i], preload_var);
        if (v) {
            old_preload = v;
            continue;
        }
        if (value_of(environ_in[i], options_var))
            continue; /* OPTIONS already holds its items */
        env[k++] = environ_in[i];
    }
    /* The two entries we own come last; bc_env_free frees exactly those. */
    char *preload;
    /* the command's own sanitizer runtime, unless the list starts with one */
    text_t with_first = {0};
    if (first && !(old_preload && shim_position(old_preload) > 0)) {
        append(&with_first, first, strlen(first));
        if (!old_preload || !already_preloaded(old_preload, shim)) {
            append(&with_first, ":", 1);
            append(&with_first, shim, strlen(shim));
        }
        if (old_preload && old_preload[strspn(old_preload, ": ")]) {
            append(&with_first, ":", 1);
            append(&with_first, old_preload, strlen(old_preload));
        }
        preload = with_first.failed ? NULL : make_entry(preload_var, with_first.s, NULL);
        free(with_first.s);
    } else if (old_preload && already_preloaded(old_preload, shim)) {
        preload = make_entry(preload_var, old_preload, NULL);
    } else if (old_preload && shim_position(old_preload) > 0) {
        /* sanitizer runtimes, the shim, then the rest */
        size_t at = shim_position(old_preload);
        const char *rest = old_preload + at + strspn(old_preload + at, ": ");
        text_t head = {0};
        append(&head, old_preload, at);
        append(&head, ":", 1);
        append(&head, shim, strlen(shim));
        preload = head.failed ? NULL : make_entry(preload_var, head.s, rest);
        free(head.s);
    } else {
        preload = make_entry(preload_var, shim, old_preload);
    }
    char *opts = make_entry(options_var, options, NULL);
    if (!preload || !opts) {
        free(preload);
        free(opts);
        free(env);
        bc_launcher_error("out of memory");
        return NULL;
    }
    env[k++] = preload;
    env[k++] = opts;
    env[k] = NULL;
    return env;
}

void bc_env_free(char **env)
{
    if (!env)
        return;
    size_t n = 0;
    while (env[n])
        n++;
    if (n >= 2) {
        free(env[n - 1]);
        free(env[n - 2]);
    }
    free(env);
}
