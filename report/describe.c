/* bstrcheck_describe: what the shim knows of an address, as text (the BSTR
 * counterpart of __asan_describe_address). A live BSTR: its allocation
 * number, length, pins, sample and allocation stack; a freed one still in
 * the quarantine: its allocation and free stacks; an address inside or just
 * before a BSTR: the offset, and that BSTR; anything else: unknown.
 *
 * The core's snapshot finds the address (bc_snapshot_find: one shard at a
 * time, copying the record and a live BSTR's sample under its lock);
 * everything here (formatting, symbolizing) runs with no lock held. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static void put_bstr(sink_t *k, const bc_found_t *s)
{
    const bc_record_view_t *rec = &s->rec;
    bool live = rec->state == BC_LIVE;
    put(k, "BSTR {%llu} at %p: %s, %u character(s) (%u bytes)",
        (unsigned long long)rec->seq, (void *)rec->bstr,
        live ? "live" : "freed (held in the quarantine)", rec->bytes / s->width, rec->bytes);
    if (live)
        put(k, ", %u pin(s)", (unsigned)s->pins);
    if (!s->runtime)
        put(k, ", its runtime's module was unloaded");
    else if (s->runtime[0])
        put(k, ", made by %s", s->runtime);
    put(k, "\n");
    if (s->sample_len) {
        put(k, "  sample: \"");
        put_escaped(k, s->sample, s->sample_len);
        put(k, "\"\n");
    }
    if (!live || s->free_pending)
        put_stack(k, live ? "freed (pending: pinned) at:" : "freed at:", rec->free_stack);
    put_stack(k, "allocated at:", rec->alloc_stack);
}

size_t bc_describe(const void *p, char *buf, size_t size)
{
    sink_t k = {buf, size, 0};
    bc_found_t s;
    memset(&s, 0, sizeof s);
    bool complete = true;
    if (p && !bc_addr_impossible(p))
        complete = bc_snapshot_find((uintptr_t)p, &s);
    uint32_t side_bytes = 0;
    if (s.match == 3) {
        put_bstr(&k, &s);
    } else if (s.match) {
        uintptr_t bstr = s.rec.bstr, at = (uintptr_t)p;
        if (at < bstr)
            put(&k, "%p: %llu byte(s) before the BSTR {%llu} at %p (its header or length "
                    "prefix)\n",
                p, (unsigned long long)(bstr - at), (unsigned long long)s.rec.seq,
                (void *)bstr);
        else
            put(&k, "%p: %llu byte(s) inside the BSTR {%llu} at %p\n", p,
                (unsigned long long)(at - bstr), (unsigned long long)s.rec.seq, (void *)bstr);
        put_bstr(&k, &s);
    } else if (p && !bc_addr_impossible(p) && bc_snapshot_side_len((uintptr_t)p, &side_bytes)) {
        put(&k, "BSTR at %p: live, %u bytes, made inside a signal handler (no stack)\n", p,
            side_bytes);
    } else {
        put(&k, "%p: not a BSTR bstrcheck knows (no live or quarantined BSTR holds this "
                "address)%s\n",
            p, complete ? "" : "; some of the table was busy and not searched");
    }
    bc_symbolize_end(); /* the program goes on: modules may come and go */
    if (buf && size)
        buf[k.len < size ? k.len : size - 1] = '\0';
    return k.len;
}
