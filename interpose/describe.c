/* bstrcheck_describe: what the shim knows of an address, as text (the BSTR
 * counterpart of __asan_describe_address). A live BSTR: its allocation
 * number, length, pins, sample and allocation stack; a freed one still in
 * the quarantine: its allocation and free stacks; an address inside or just
 * before a BSTR: the offset, and that BSTR; anything else: unknown.
 *
 * The table is searched one shard at a time (bc_table_search); the
 * callback only copies the record (and a live BSTR's sample, read by the
 * shim's own code while the shard keeps it alive). Everything that calls
 * out of the shim (formatting, symbolizing) comes after the lock. */
#define BSTRCHECK_SHIM_BUILD 1
#include "bstrcheck.h"

#include "bc.h"
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct describe_search {
    uintptr_t p;
    int match;             /* 0 none, 1 inside a freed BSTR, 2 inside a live one, 3 exact */
    bc_record_t rec;       /* copied */
    uintptr_t lo, hi;      /* its block */
    char sample[BC_SAMPLE_MAX];
    uint32_t sample_len;
} describe_search_t;

/* The memory a record's BSTR covers: the shim's own blocks from the
 * header on; a real runtime's from the 4-byte prefix to the terminator. */
static void span_of(const bc_record_t *rec, uintptr_t *lo, uintptr_t *hi)
{
    if (BC_RECORD_RUNTIME(rec) == BC_RUNTIME_OWN) {
        bc_own_span(rec, lo, hi);
    } else {
        *lo = bc_record_bstr(rec) - 4;
        *hi = bc_record_bstr(rec) + rec->bytes + 4;
    }
}

/* With the record's shard locked: copy what a later step needs. */
static void look_at(const bc_record_t *rec, void *arg)
{
    describe_search_t *s = arg;
    int match = 0;
    uintptr_t lo = 0, hi = 0;
    if (bc_record_bstr(rec) == s->p) {
        match = 3;
        span_of(rec, &lo, &hi);
    } else {
        span_of(rec, &lo, &hi);
        if (s->p >= lo && s->p < hi)
            match = rec->state == BC_LIVE ? 2 : 1;
    }
    if (match <= s->match)
        return;
    s->match = match;
    s->rec = *rec;
    s->lo = lo;
    s->hi = hi;
    s->sample_len = 0;
    /* a live BSTR's memory is readable while its shard is locked; a freed
     * one's may be a guard page, an orphan's is gone */
    if (rec->state == BC_LIVE && bc_record_readable(rec))
        s->sample_len = bc_sample_utf8((const void *)bc_record_bstr(rec), rec->bytes,
                                       bc_record_width(rec), s->sample, sizeof s->sample);
}

/* The text, cut to the caller's buffer; LEN counts what it would take. */
typedef struct sink {
    char *buf;
    size_t size, len;
} sink_t;

__attribute__((format(printf, 2, 3))) static void put(sink_t *k, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t add = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
    if (k->buf && k->len + 1 < k->size) {
        size_t room = k->size - 1 - k->len;
        memcpy(k->buf + k->len, tmp, add < room ? add : room);
    }
    k->len += add;
}

static void put_escaped(sink_t *k, const char *s, size_t len)
{
    char tmp[BC_SAMPLE_MAX * 4 + 1];
    bc_text_escape(s, len, tmp, sizeof tmp);
    put(k, "%s", tmp);
}

static bool put_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    char line[BC_FRAME_TEXT_MAX];
    bc_frame_format(f, number, line, sizeof line);
    put(arg, "    %s\n", line);
    return true;
}

static void put_stack(sink_t *k, const char *heading, bc_stack_id_t id)
{
    put(k, "  %s\n", heading);
    if (bc_frames_walk(id, put_frame, k) == 0)
        put(k, "    <no stack recorded>\n");
}

static void put_bstr(sink_t *k, const describe_search_t *s)
{
    const bc_record_t *rec = &s->rec;
    unsigned width = bc_record_width(rec); /* never 0 */
    bool live = rec->state == BC_LIVE;
    put(k, "BSTR {%llu} at %p: %s, %u character(s) (%u bytes)",
        (unsigned long long)rec->seq, (void *)bc_record_bstr(rec),
        live ? "live" : "freed (held in the quarantine)", rec->bytes / width, rec->bytes);
    if (live)
        put(k, ", %u pin(s)", (unsigned)rec->pins);
    if (BC_RECORD_RUNTIME(rec) == BC_RUNTIME_ORPHAN)
        put(k, ", its runtime's module was unloaded");
    else if (BC_RECORD_RUNTIME(rec) != BC_RUNTIME_OWN)
        put(k, ", made by %s", bc_runtimes[BC_RECORD_RUNTIME(rec)].module);
    put(k, "\n");
    if (s->sample_len) {
        put(k, "  sample: \"");
        put_escaped(k, s->sample, s->sample_len);
        put(k, "\"\n");
    }
    if (!live || (rec->flags & BC_FLAG_FREE_PENDING))
        put_stack(k, live ? "freed (pending: pinned) at:" : "freed at:", rec->free_stack);
    put_stack(k, "allocated at:", rec->alloc_stack);
}

BC_EXPORT size_t bstrcheck_describe(const void *p, char *buf, size_t size)
{
    bc_ensure_init();
    bc_depth++; /* the shim's own work: nothing here is the program's */
    sink_t k = {buf, size, 0};
    describe_search_t s;
    memset(&s, 0, sizeof s);
    s.p = (uintptr_t)p;
    bool complete = true;
    if (p && !bc_addr_impossible(p))
        complete = bc_table_search(look_at, &s);
    uint32_t side_bytes = 0;
    if (s.match == 3) {
        put_bstr(&k, &s);
    } else if (s.match) {
        uintptr_t bstr = bc_record_bstr(&s.rec);
        if (s.p < bstr)
            put(&k, "%p: %llu byte(s) before the BSTR {%llu} at %p (its header or length "
                    "prefix)\n",
                p, (unsigned long long)(bstr - s.p), (unsigned long long)s.rec.seq,
                (void *)bstr);
        else
            put(&k, "%p: %llu byte(s) inside the BSTR {%llu} at %p\n", p,
                (unsigned long long)(s.p - bstr), (unsigned long long)s.rec.seq, (void *)bstr);
        put_bstr(&k, &s);
    } else if (p && !bc_addr_impossible(p) && bc_side_len((bc_bstr_t)p, &side_bytes)) {
        put(&k, "BSTR at %p: live, %u bytes, made inside a signal handler (no stack)\n", p,
            side_bytes);
    } else {
        put(&k, "%p: not a BSTR bstrcheck knows (no live or quarantined BSTR holds this "
                "address)%s\n",
            p, complete ? "" : "; some of the table was busy and not searched");
    }
    bc_symbolize_end(); /* the program goes on: modules may come and go */
    bc_depth--;
    if (buf && size)
        buf[k.len < size ? k.len : size - 1] = '\0';
    return k.len;
}
