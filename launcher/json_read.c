/* A small JSON reader (RFC 8259) for the per-process reports: recursive
 * descent into a tree of bc_json_t, with a depth limit, strict grammar,
 * \u escapes with surrogate pairs (a lone surrogate becomes U+FFFD), and
 * no input that can make it read out of bounds. Written for bstrcheck. */
#include "launcher.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *p, *end, *start;
    char *err;
    size_t errsz;
    bool failed;
} parser_t;

__attribute__((format(printf, 2, 3))) static bool fail(parser_t *ps, const char *fmt, ...)
{
    if (ps->failed)
        return false;
    ps->failed = true;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (ps->err && ps->errsz)
        snprintf(ps->err, ps->errsz, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
    return false;
}

static void skip_space(parser_t *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool literal(parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->p += n;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u"; -1 when they are not. */
static long hex4(parser_t *ps)
{
    if (ps->end - ps->p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    ps->p += 4;
    return v;
}

/* The code point of the escape after '\' (p is past the 'u'). */
static long unicode_escape(parser_t *ps)
{
    long cp = hex4(ps);
    if (cp < 0)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* a high surrogate: the pair's low half must follow */
        if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
            const char *save = ps->p;
            ps->p += 2;
            long lo = hex4(ps);
            if (lo >= 0xDC00 && lo <= 0xDFFF)
                return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            ps->p = save;
        }
        return 0xFFFD;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0xFFFD;
    return cp;
}

/* Length of the well-formed UTF-8 sequence at P (0 if it is not one). */
static size_t utf8_length(const unsigned char *p, size_t avail)
{
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        need = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        need = 3;
        if (p[0] == 0xE0)
            lo = 0xA0;
        else if (p[0] == 0xED)
            hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        need = 4;
        if (p[0] == 0xF0)
            lo = 0x90;
        else if (p[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* A string (p at the opening quote) into a new NUL-terminated buffer. */
static bool parse_string(parser_t *ps, char **out, size_t *out_len)
{
    ps->p++; /* the quote */
    /* The decoded string is never longer than the source. */
    size_t cap = (size_t)(ps->end - ps->p) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return fail(ps, "out of memory");
    size_t len = 0;
    for (;;) {
        if (ps->p >= ps->end) {
            free(buf);
            return fail(ps, "unterminated string");
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            free(buf);
            return fail(ps, "control character in a string");
        }
        if (c != '\\') {
            size_t n = utf8_length((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
            if (n == 0) {
                free(buf);
                return fail(ps, "invalid UTF-8 in a string");
            }
            memcpy(buf + len, ps->p, n);
            len += n;
            ps->p += n;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            free(buf);
            return fail(ps, "unterminated string");
        }
        char e = *ps->p++;
        long cp;
        switch (e) {
        case '"': buf[len++] = '"'; continue;
        case '\\': buf[len++] = '\\'; continue;
        case '/': buf[len++] = '/'; continue;
        case 'b': buf[len++] = '\b'; continue;
        case 'f': buf[len++] = '\f'; continue;
        case 'n': buf[len++] = '\n'; continue;
        case 'r': buf[len++] = '\r'; continue;
        case 't': buf[len++] = '\t'; continue;
        case 'u':
            cp = unicode_escape(ps);
            if (cp < 0) {
                free(buf);
                return fail(ps, "bad \\u escape");
            }
            /* at most 4 bytes out for 6 (or 12) in */
            len += bc_utf8_put((uint32_t)cp, buf + len, 4);
            continue;
        default:
            free(buf);
            return fail(ps, "bad escape '\\%c'", e);
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return true;
}

static bool parse_number(parser_t *ps, bc_json_t *v)
{
    const char *s = ps->p;
    const char *q = s;
    bool integer = true;
    if (q < ps->end && *q == '-') {
        q++;
        integer = false;
    }
    if (q >= ps->end || *q < '0' || *q > '9')
        return fail(ps, "bad number");
    if (*q == '0')
        q++;
    else
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    if (q < ps->end && *q == '.') {
        integer = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    char digits[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof digits)
        return fail(ps, "number too long");
    memcpy(digits, s, n);
    digits[n] = '\0';
    v->type = BC_JSON_NUMBER;
    v->number = strtod(digits, NULL);
    if (integer) {
        uint64_t u = 0;
        bool fits = true;
        for (size_t i = 0; i < n && fits; i++) {
            unsigned d = (unsigned)(digits[i] - '0');
            if (u > (UINT64_MAX - d) / 10)
                fits = false;
            else
                u = u * 10 + d;
        }
        v->is_uint = fits;
        v->uint = fits ? u : 0;
    }
    ps->p = q;
    return true;
}

static bool parse_value(parser_t *ps, bc_json_t *v, int depth);

/* Append a zeroed slot to V's items (and keys, for an object). */
static bc_json_t *grow(parser_t *ps, bc_json_t *v, size_t *cap)
{
    if (v->len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        bc_json_t *items = realloc(v->items, ncap * sizeof *items);
        if (!items) {
            fail(ps, "out of memory");
            return NULL;
        }
        v->items = items;
        if (v->type == BC_JSON_OBJECT) {
            char **keys = realloc(v->keys, ncap * sizeof *keys);
            if (!keys) {
                fail(ps, "out of memory");
                return NULL;
            }
            v->keys = keys;
        }
        *cap = ncap;
    }
    bc_json_t *slot = &v->items[v->len];
    memset(slot, 0, sizeof *slot);
    if (v->type == BC_JSON_OBJECT)
        v->keys[v->len] = NULL;
    v->len++;
    return slot;
}

/* An array or object (p at '[' or '{'). */
static bool parse_container(parser_t *ps, bc_json_t *v, int depth)
{
    bool object = *ps->p == '{';
    char closer = object ? '}' : ']';
    v->type = object ? BC_JSON_OBJECT : BC_JSON_ARRAY;
    ps->p++;
    size_t cap = 0;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == closer) {
        ps->p++;
        return true;
    }
    for (;;) {
        skip_space(ps);
        bc_json_t *slot = grow(ps, v, &cap);
        if (!slot)
            return false;
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, "expected a member name");
            size_t klen;
            if (!parse_string(ps, &v->keys[v->len - 1], &klen))
                return false;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, "expected ':'");
            ps->p++;
        }
        if (!parse_value(ps, slot, depth + 1))
            return false;
        skip_space(ps);
        if (ps->p >= ps->end)
            return fail(ps, "unterminated %s", object ? "object" : "array");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == closer) {
            ps->p++;
            return true;
        }
        return fail(ps, "expected ',' or '%c'", closer);
    }
}

static bool parse_value(parser_t *ps, bc_json_t *v, int depth)
{
    if (depth > BC_JSON_MAX_DEPTH)
        return fail(ps, "nested deeper than %d", BC_JSON_MAX_DEPTH);
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end");
    switch (*ps->p) {
    case '{':
    case '[':
        return parse_container(ps, v, depth);
    case '"':
        v->type = BC_JSON_STRING;
        return parse_string(ps, &v->string, &v->len);
    case 't':
        v->type = BC_JSON_BOOL;
        v->boolean = true;
        return literal(ps, "true");
    case 'f':
        v->type = BC_JSON_BOOL;
        return literal(ps, "false");
    case 'n':
        v->type = BC_JSON_NULL;
        return literal(ps, "null");
    default:
        return parse_number(ps, v);
    }
}

static void free_children(bc_json_t *v)
{
    if (v->type == BC_JSON_STRING)
        free(v->string);
    if (v->type == BC_JSON_ARRAY || v->type == BC_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            free_children(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

bc_json_t *bc_json_parse(const char *text, size_t len, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    parser_t ps = {text, text + len, text, err, errsz, false};
    bc_json_t *v = calloc(1, sizeof *v);
    if (!v) {
        fail(&ps, "out of memory");
        return NULL;
    }
    if (parse_value(&ps, v, 0)) {
        skip_space(&ps);
        if (ps.p != ps.end)
            fail(&ps, "trailing characters after the value");
    }
    if (ps.failed) {
        bc_json_free(v);
        return NULL;
    }
    return v;
}

void bc_json_free(bc_json_t *value)
{
    if (!value)
        return;
    free_children(value);
    free(value);
}

const bc_json_t *bc_json_get(const bc_json_t *obj, const char *key)
{
    if (!obj || obj->type != BC_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

uint64_t bc_json_uint(const bc_json_t *value, uint64_t deflt)
{
    return value && value->type == BC_JSON_NUMBER && value->is_uint ? value->uint : deflt;
}

const char *bc_json_str(const bc_json_t *value)
{
    return value && value->type == BC_JSON_STRING ? value->string : NULL;
}

size_t bc_json_count(const bc_json_t *array)
{
    return array && array->type == BC_JSON_ARRAY ? array->len : 0;
}
