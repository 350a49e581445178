/* The launcher's JSON reader: what it accepts, what it decodes, and that
 * bad input of every sort gives NULL and a reason, never a crash. */
#include "launcher.h"
#include "tap.h"

#include <stdlib.h>

static bc_json_t *parse(const char *text)
{
    char err[200];
    return bc_json_parse(text, strlen(text), err, sizeof err);
}

static void rejects(const char *text, const char *why)
{
    char err[200] = "";
    bc_json_t *v = bc_json_parse(text, strlen(text), err, sizeof err);
    tap_ok(v == NULL && err[0] != '\0', "rejects %s (%s)", why, err);
    bc_json_free(v);
}

int main(void)
{
    tap_plan(44);

    bc_json_t *v = parse(" {\"tool\": \"bstrcheck\", \"pid\": 1234, \"big\": 18446744073709551615,"
                         " \"neg\": -5, \"frac\": 2.5e1, \"ok\": true, \"no\": false, \"nil\": null,"
                         " \"list\": [1, [2], {}], \"empty\": []}\n");
    tap_ok(v && v->type == BC_JSON_OBJECT, "an object");
    tap_is_str(bc_json_str(bc_json_get(v, "tool")), "bstrcheck", "string member");
    tap_is_uint(bc_json_uint(bc_json_get(v, "pid"), 0), 1234, "integer member");
    tap_is_uint(bc_json_uint(bc_json_get(v, "big"), 0), UINT64_MAX, "UINT64_MAX exactly");
    tap_is_uint(bc_json_uint(bc_json_get(v, "neg"), 7), 7, "a negative number is not a uint");
    tap_ok(bc_json_get(v, "frac") && bc_json_get(v, "frac")->number == 25.0, "2.5e1 is 25");
    tap_is_uint(bc_json_uint(bc_json_get(v, "frac"), 9), 9, "a fraction is not a uint");
    tap_ok(bc_json_get(v, "ok")->boolean && !bc_json_get(v, "no")->boolean, "booleans");
    tap_ok(bc_json_get(v, "nil")->type == BC_JSON_NULL, "null");
    tap_is_uint(bc_json_count(bc_json_get(v, "list")), 3, "array of 3");
    tap_is_uint(bc_json_count(bc_json_get(v, "empty")), 0, "empty array");
    tap_ok(bc_json_get(v, "missing") == NULL, "missing member is NULL");
    tap_ok(bc_json_str(bc_json_get(v, "pid")) == NULL, "typed read of another type is NULL");
    tap_ok(bc_json_get(bc_json_get(v, "tool"), "x") == NULL, "get on a non-object is NULL");
    bc_json_free(v);

    v = parse("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u4e2d\\ud83d\\ude00\\u0000z\"");
    static const char decoded[] = "a\"b\\c/d\n\t\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\0z";
    tap_ok(v && v->type == BC_JSON_STRING, "a string");
    if (v)
        tap_is_mem(v->string, v->len, decoded, sizeof decoded - 1,
                   "escapes, BMP and a surrogate pair decoded, NUL kept");
    else
        tap_ok(false, "escapes decoded");
    bc_json_free(v);

    v = parse("\"\\ud800x\\udc00\"");
    tap_ok(v && v->len == 7 && memcmp(v->string, "\xef\xbf\xbdx\xef\xbf\xbd", 7) == 0,
           "lone surrogates become U+FFFD");
    bc_json_free(v);
    v = parse("\"caf\xc3\xa9\"");
    tap_ok(v && strcmp(v->string, "caf\xc3\xa9") == 0, "raw UTF-8 kept");
    bc_json_free(v);

    rejects("", "empty input");
    rejects("{", "an unterminated object");
    rejects("[1, 2", "an unterminated array");
    rejects("{\"a\" 1}", "a missing ':'");
    rejects("{\"a\": 1,}", "a trailing comma");
    rejects("[1 2]", "a missing ','");
    rejects("{1: 2}", "a non-string key");
    rejects("\"abc", "an unterminated string");
    rejects("\"a\nb\"", "a raw control character");
    rejects("\"\\x\"", "a bad escape");
    rejects("\"\\u12g4\"", "a bad \\u escape");
    rejects("\"\xff\"", "invalid UTF-8");
    rejects("\"\xed\xa0\x80\"", "an encoded surrogate");
    rejects("01", "a leading zero");
    rejects("-", "a lone minus");
    rejects("1.", "a bare decimal point");
    rejects("1e", "an empty exponent");
    rejects("tru", "a truncated literal");
    rejects("nul", "a truncated null");
    rejects("{} x", "trailing characters");
    rejects("+1", "a plus sign");

    /* Nesting: the limit holds, and just under it parses. */
    char deep[2 * (BC_JSON_MAX_DEPTH + 2) + 1];
    size_t n = 0;
    for (int i = 0; i < BC_JSON_MAX_DEPTH + 2; i++)
        deep[n++] = '[';
    for (int i = 0; i < BC_JSON_MAX_DEPTH + 2; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    rejects(deep, "nesting deeper than the limit");
    n = 0;
    for (int i = 0; i < BC_JSON_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < BC_JSON_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    v = parse(deep);
    tap_ok(v != NULL, "nesting up to the limit parses");
    bc_json_free(v);

    /* Every prefix of a valid document fails cleanly (no read past LEN). */
    static const char doc[] = "{\"k\": [1, -2.5e3, \"s\\u00e9\", true, null, {\"x\": false}]}";
    int prefix_failures = 0;
    for (size_t len = 0; len < sizeof doc - 1; len++) {
        char *copy = malloc(len ? len : 1); /* exactly LEN bytes: no NUL to lean on */
        memcpy(copy, doc, len);
        bc_json_t *p = bc_json_parse(copy, len, NULL, 0);
        prefix_failures += p == NULL;
        bc_json_free(p);
        free(copy);
    }
    tap_is_int(prefix_failures, (int)sizeof doc - 1, "every proper prefix is rejected");
    v = bc_json_parse(doc, sizeof doc - 1, NULL, 0);
    tap_ok(v != NULL, "the whole document parses");
    bc_json_free(v);
    bc_json_free(NULL);
    tap_ok(true, "bc_json_free(NULL) is harmless");
    return tap_done();
}
