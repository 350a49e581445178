/* Options: one table (options.inc), read once from BSTRCHECK_OPTIONS.
 * A bad name or value prints one line naming it and keeps the default; it
 * never stops the program. */
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bc_options_t bc_opt;

typedef enum { KIND_BOOL, KIND_INT, KIND_STR, KIND_ENUM, KIND_REAL } option_kind_t;

typedef struct option_def {
    option_kind_t kind;
    const char *name;
    const char *deflt;
    const char *range;
    const char *desc;
    size_t offset;
} option_def_t;

static const option_def_t option_table[] = {
#define BC_OPTION(kind, name, deflt, range, desc) \
    {KIND_##kind, #name, deflt, range, desc, offsetof(bc_options_t, name)},
#include "options.inc"
#undef BC_OPTION
};

/* Values of STR options point into this copy of the user's text. */
static char option_text[BC_OPTIONS_TEXT_MAX];

static bool parse_long(const char *s, long *out)
{
    char *end;
    if (*s == '\0')
        return false;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

/* A plain decimal: digits with at most one '.' ("0", "0.25", ".5", "1.").
 * No sign, exponent, hex, inf or nan, and no locale: strtod would read
 * "0,5" in some locales and "0x1p-2", "nan" and "inf" in all. */
static bool parse_decimal(const char *s, size_t len, double *out)
{
    double v = 0, scale = 1;
    bool digits = false, dot = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.' && !dot) {
            dot = true;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        digits = true;
        if (dot) {
            scale /= 10;
            v += (c - '0') * scale;
        } else {
            v = v * 10 + (c - '0');
        }
    }
    if (!digits)
        return false;
    *out = v;
    return true;
}

/* Is V inside RANGE, "lo..hi" in decimals? */
static bool in_real_range(const char *range, double v)
{
    const char *dots = strstr(range, "..");
    double lo, hi;
    if (!dots || !parse_decimal(range, (size_t)(dots - range), &lo) ||
        !parse_decimal(dots + 2, strlen(dots + 2), &hi))
        return false;
    return v >= lo && v <= hi;
}

/* Is VALUE one of the '|'-separated words of CHOICES? Returns its index or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0)
            return index;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

static bool in_range(const char *range, long v)
{
    long lo, hi;
    if (strstr(range, "..")) {
        if (sscanf(range, "%ld..%ld", &lo, &hi) != 2)
            return false;
        return v >= lo && v <= hi;
    }
    char word[24];
    snprintf(word, sizeof word, "%ld", v);
    return choice_index(range, word) >= 0;
}

/* Store VALUE into OPT's field; false when it is not a valid value. */
static bool set_option(const option_def_t *opt, const char *value)
{
    void *field = (char *)&bc_opt + opt->offset;
    long v;
    int index;
    switch (opt->kind) {
    case KIND_BOOL:
    case KIND_INT:
        if (!parse_long(value, &v) || !in_range(opt->range, v))
            return false;
        *(int *)field = (int)v;
        return true;
    case KIND_ENUM:
        index = choice_index(opt->range, value);
        if (index < 0)
            return false;
        *(int *)field = index;
        return true;
    case KIND_STR:
        *(const char **)field = value;
        return true;
    case KIND_REAL: {
        double d;
        if (!parse_decimal(value, strlen(value), &d) || !in_real_range(opt->range, d))
            return false;
        *(double *)field = d;
        return true;
    }
    }
    return false;
}

static const option_def_t *find_option(const char *name)
{
    for (size_t i = 0; i < BC_ARRAY_LEN(option_table); i++)
        if (strcmp(option_table[i].name, name) == 0)
            return &option_table[i];
    return NULL;
}

static void reset_defaults(void)
{
    for (size_t i = 0; i < BC_ARRAY_LEN(option_table); i++)
        if (!set_option(&option_table[i], option_table[i].deflt))
            bc_warn("internal: default of option '%s' is invalid", option_table[i].name);
}

static bool is_separator(char c)
{
    return c == ':' || c == ' ' || c == '\t' || c == '\n';
}

int bc_options_parse(const char *text)
{
    int warnings = 0;
    reset_defaults();
    if (!text)
        return 0;
    size_t len = strlen(text);
    if (len >= sizeof option_text) {
        bc_warn("BSTRCHECK_OPTIONS is longer than %zu bytes; the rest is ignored",
                sizeof option_text - 1);
        len = sizeof option_text - 1;
        warnings++;
    }
    memcpy(option_text, text, len);
    option_text[len] = '\0';

    char *p = option_text;
    while (*p) {
        while (is_separator(*p))
            p++;
        if (!*p)
            break;
        char *item = p;
        while (*p && !is_separator(*p))
            p++;
        if (*p)
            *p++ = '\0';

        char *eq = strchr(item, '=');
        if (!eq) {
            bc_warn("option '%s' has no value (use name=value); ignored", item);
            warnings++;
            continue;
        }
        *eq = '\0';
        const char *value = eq + 1;
        const option_def_t *opt = find_option(item);
        if (!opt) {
            bc_warn("unknown option '%s' ignored (help=1 lists the options)", item);
            warnings++;
        } else if (!set_option(opt, value)) {
            bc_warn("bad value '%s' for option '%s' (valid: %s); keeping the default %s",
                    value, item, opt->kind == KIND_STR ? "any text" : opt->range,
                    opt->deflt);
            set_option(opt, opt->deflt);
            warnings++;
        }
    }
    return warnings;
}

void bc_options_print_help(int fd)
{
    /* Columns as wide as their longest entry plus two spaces, so no name or
     * default ever runs into the next column. */
    int name_w = 0, deflt_w = 0;
    for (size_t i = 0; i < BC_ARRAY_LEN(option_table); i++) {
        const option_def_t *opt = &option_table[i];
        int n = (int)strlen(opt->name), d = *opt->deflt ? (int)strlen(opt->deflt) : 6;
        name_w = n > name_w ? n : name_w;
        deflt_w = d > deflt_w ? d : deflt_w;
    }
    char line[512];
    int n = snprintf(line, sizeof line,
                     "bstrcheck options (BSTRCHECK_OPTIONS=\"name=value:name=value\"):\n");
    bc_log_write(fd, line, (size_t)n);
    for (size_t i = 0; i < BC_ARRAY_LEN(option_table); i++) {
        const option_def_t *opt = &option_table[i];
        n = snprintf(line, sizeof line, "  %-*s  default %-*s  %s%s%s%s\n", name_w, opt->name,
                     deflt_w, *opt->deflt ? opt->deflt : "(none)", opt->desc,
                     opt->kind == KIND_STR ? "" : " [",
                     opt->kind == KIND_STR ? "" : opt->range,
                     opt->kind == KIND_STR ? "" : "]");
        if (n > 0)
            bc_log_write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
}

int bc_option_check(const char *name, const char *value, const char **valid)
{
    const option_def_t *opt = find_option(name);
    if (!opt)
        return ENOENT;
    if (valid)
        *valid = opt->kind == KIND_STR ? "any text" : opt->range;
    bc_options_t saved = bc_opt;
    bool ok = set_option(opt, value);
    bc_opt = saved;
    return ok ? 0 : EINVAL;
}
