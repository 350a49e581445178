/* libFuzzer target: random sequences of Sys* calls (own mode), checked
 * against a model. The model knows, for 16 slots, the live BSTR, its byte
 * length, its contents and its pins, and which BSTRs this input freed. After
 * every call it checks the return value, the lengths and contents of the
 * BSTR involved, and that the shim counted exactly the findings the call
 * deserves (double_free, invalid_free, use_after_free, invalid_bstr), no
 * more and no fewer. At the end of each input everything is freed, and the
 * table must have counted as many frees as allocations.
 *
 * The quarantine is large (1 MiB per shard) and an input is short, so a
 * BSTR this input freed is still quarantined when it is freed again: a
 * second free is always a double_free, never a use of reused memory.
 *
 * Byte code: each operation takes an opcode byte and a few argument bytes
 * from the input; the text of new strings comes from the input too. */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t olechar_t;
typedef olechar_t *bstr_t;

bstr_t SysAllocString(const olechar_t *psz);
bstr_t SysAllocStringLen(const olechar_t *psz, unsigned len);
bstr_t SysAllocStringByteLen(const char *psz, unsigned len);
int SysReAllocString(bstr_t *pbstr, const olechar_t *psz);
int SysReAllocStringLen(bstr_t *pbstr, const olechar_t *psz, unsigned len);
void SysFreeString(bstr_t bstr);
unsigned SysStringLen(bstr_t bstr);
unsigned SysStringByteLen(bstr_t bstr);
bc_hresult_t SysAddRefString(bstr_t bstr);
void SysReleaseString(bstr_t bstr);

enum { SLOTS = 16, MAX_UNITS = 64, MAX_FREED = 64 };

typedef struct slot {
    bstr_t b;       /* NULL: empty */
    uint32_t bytes; /* byte length */
    unsigned char data[MAX_UNITS * 2 + 1];
    unsigned pins;
    bool free_pending; /* freed while pinned */
} slot_t;

typedef struct model {
    slot_t slot[SLOTS];
    bstr_t freed[MAX_FREED]; /* freed by this input, still quarantined */
    uint32_t freed_bytes[MAX_FREED];
    unsigned nfreed;
    uint64_t events[BC_KIND_COUNT]; /* expected totals */
    uint64_t allocs, frees;
} model_t;

typedef struct input {
    const uint8_t *p;
    size_t left;
} input_t;

static uint8_t next(input_t *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static void fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_sys: model mismatch at line %d: %s\n", line, what);
    abort();
}
#define CHECK(cond)                \
    do {                           \
        if (!(cond))               \
            fail(#cond, __LINE__); \
    } while (0)

/* The shim counted exactly the findings the model expects. */
static void check_events(const model_t *m)
{
    for (int k = 0; k < BC_KIND_COUNT; k++)
        if (k != BC_KIND_LEAK && bc_events_count((bc_kind_t)k) != m->events[k]) {
            fprintf(stderr, "fuzz_sys: %s: shim %llu, model %llu\n", bc_kind_names[k],
                    (unsigned long long)bc_events_count((bc_kind_t)k),
                    (unsigned long long)m->events[k]);
            fail("event counts", __LINE__);
        }
}

static void check_slot(const slot_t *s)
{
    if (!s->b)
        return;
    CHECK(SysStringByteLen(s->b) == s->bytes);
    CHECK(SysStringLen(s->b) == s->bytes / 2);
    CHECK(memcmp(s->b, s->data, s->bytes) == 0);
    const unsigned char *end = (const unsigned char *)s->b + s->bytes;
    CHECK(end[0] == 0 && end[1] == 0); /* terminated */
}

/* N units of text from the input; NULs are replaced when NO_NULS. */
static unsigned take_text(input_t *in, olechar_t *buf, unsigned n, bool no_nuls)
{
    for (unsigned i = 0; i < n; i++) {
        olechar_t c = (olechar_t)(next(in) | (next(in) << 8));
        buf[i] = no_nuls && c == 0 ? 'x' : c;
    }
    buf[n] = 0;
    return n;
}

static void remember_freed(model_t *m, bstr_t b, uint32_t bytes)
{
    if (m->nfreed < MAX_FREED) {
        m->freed[m->nfreed] = b;
        m->freed_bytes[m->nfreed++] = bytes;
    }
}

/* The slot's BSTR leaves the program's hands (SysFreeString). */
static void model_free(model_t *m, slot_t *s)
{
    if (s->pins) {
        s->free_pending = true;
        return;
    }
    remember_freed(m, s->b, s->bytes);
    m->frees++;
    s->b = NULL;
}

static void set_slot(slot_t *s, bstr_t b, const void *data, uint32_t bytes)
{
    s->b = b;
    s->bytes = bytes;
    if (data)
        memmove(s->data, data, bytes);
    else
        memset(s->data, 0, bytes); /* own mode zeroes a string made without a source */
    s->pins = 0;
    s->free_pending = false;
}

/* Empty slot S, freeing what is there (the program's normal clean-up). */
static void clear(model_t *m, slot_t *s)
{
    if (!s->b)
        return;
    while (s->pins) {
        SysReleaseString(s->b);
        s->pins--;
    }
    if (s->free_pending) { /* the last release freed it */
        remember_freed(m, s->b, s->bytes);
        m->frees++;
        s->b = NULL;
        s->free_pending = false;
        return;
    }
    SysFreeString(s->b);
    model_free(m, s);
}

static void op(model_t *m, input_t *in)
{
    uint8_t code = next(in);
    slot_t *s = &m->slot[next(in) % SLOTS];
    olechar_t text[MAX_UNITS + 1];
    unsigned n = next(in) % (MAX_UNITS + 1);
    switch (code % 14) {
    case 0: { /* SysAllocString */
        clear(m, s);
        take_text(in, text, n, true);
        bstr_t b = SysAllocString(text);
        CHECK(b != NULL);
        m->allocs++;
        set_slot(s, b, text, n * 2);
        break;
    }
    case 1: { /* SysAllocStringLen, with or without a source */
        clear(m, s);
        bool with_src = next(in) & 1;
        take_text(in, text, n, false);
        bstr_t b = SysAllocStringLen(with_src ? text : NULL, n);
        CHECK(b != NULL);
        m->allocs++;
        set_slot(s, b, with_src ? text : NULL, n * 2);
        break;
    }
    case 2: { /* SysAllocStringByteLen, odd lengths too */
        clear(m, s);
        bool with_src = next(in) & 1;
        unsigned bytes = n * 2 - (n && (next(in) & 1));
        take_text(in, text, n, false);
        bstr_t b = SysAllocStringByteLen(with_src ? (const char *)text : NULL, bytes);
        CHECK(b != NULL);
        m->allocs++;
        set_slot(s, b, with_src ? text : NULL, bytes);
        CHECK(SysStringByteLen(b) == bytes && SysStringLen(b) == bytes / 2);
        break;
    }
    case 3:   /* SysReAllocString: from new text, or from inside the old string */
    case 4: { /* SysReAllocStringLen: the same, or from NULL */
        bool is_sz = code % 14 == 3;
        uint8_t how = next(in);
        if (s->free_pending || s->pins)
            break; /* keep pinned strings out of it */
        const olechar_t *src = text;
        unsigned len = n;
        unsigned char expect[MAX_UNITS * 2 + 2];
        unsigned expect_bytes, check_bytes;
        if (s->b && s->bytes >= 2 && (how & 1)) {
            unsigned units = s->bytes / 2, off = next(in) % units;
            src = s->b + off;
            unsigned avail = units - off;
            if (is_sz) {
                /* An odd byte length leaves a last unit of one data byte
                 * and one zero: a character like any other for the
                 * terminator search, which stops at the zero unit after. */
                unsigned units_with_odd = (s->bytes + 1) / 2 - off;
                len = 0;
                while (len < units_with_odd && src[len])
                    len++;
            }
            expect_bytes = len * 2;
            check_bytes = (len < avail ? len : avail) * 2;
            memcpy(expect, src, check_bytes);
        } else if (!is_sz && (how & 2)) {
            src = NULL;
            expect_bytes = len * 2;
            check_bytes = 0;
        } else {
            take_text(in, text, n, is_sz);
            expect_bytes = check_bytes = n * 2;
            memcpy(expect, text, check_bytes);
        }
        bstr_t old = s->b;
        uint32_t old_bytes = s->bytes;
        int ok = is_sz ? SysReAllocString(&s->b, src) : SysReAllocStringLen(&s->b, src, len);
        CHECK(ok == 1 && s->b != NULL);
        m->allocs++;
        if (old) {
            m->frees++;
            remember_freed(m, old, old_bytes);
        }
        s->bytes = expect_bytes;
        CHECK(SysStringByteLen(s->b) == expect_bytes);
        CHECK(memcmp(s->b, expect, check_bytes) == 0);
        memcpy(s->data, s->b, expect_bytes); /* unspecified bytes: what is there */
        break;
    }
    case 5: /* SysFreeString */
        if (s->b) {
            SysFreeString(s->b);
            model_free(m, s);
            if (s->b) /* pinned: still live */
                check_slot(s);
        }
        break;
    case 6: /* a second free of a BSTR this input freed */
        if (m->nfreed) {
            SysFreeString(m->freed[next(in) % m->nfreed]);
            m->events[BC_KIND_DOUBLE_FREE]++;
        }
        break;
    case 7: /* readers of a freed BSTR answer its recorded length */
        if (m->nfreed) {
            unsigned i = next(in) % m->nfreed;
            CHECK(SysStringByteLen(m->freed[i]) == m->freed_bytes[i]);
            CHECK(SysStringLen(m->freed[i]) == m->freed_bytes[i] / 2);
            m->events[BC_KIND_USE_AFTER_FREE] += 2;
        }
        break;
    case 8: { /* SysFreeString on what is no BSTR: inside one, the stack, wild */
        static const uintptr_t wild[] = {1, 8, 0x10, 0xdeadbeef000, 0xffff800000000000ull};
        uint8_t which = next(in) % 7;
        olechar_t local[4] = {'s', 't', 0, 0};
        bstr_t p;
        if (which < 5)
            memcpy(&p, &wild[which], sizeof p);
        else if (which == 5 || !s->b || s->bytes < 2)
            p = local + (which & 1);
        else
            p = s->b + 1;
        SysFreeString(p);
        m->events[BC_KIND_INVALID_FREE]++;
        check_slot(s);
        break;
    }
    case 9: { /* readers and pins on what is no BSTR */
        olechar_t local[4] = {'s', 0, 0, 0};
        bstr_t p = s->b && s->bytes >= 2 ? s->b + 1 : local;
        CHECK(SysStringLen(p) == 0 && SysStringByteLen(p) == 0);
        CHECK(SysAddRefString(p) == BC_E_INVALIDARG);
        SysReleaseString(p);
        bstr_t var = p;
        CHECK(SysReAllocString(&var, local) == 0 && var == p);
        m->events[BC_KIND_INVALID_BSTR] += 5;
        check_slot(s);
        break;
    }
    case 10: /* pin */
        if (s->b && !s->free_pending && s->pins < 100) {
            CHECK(SysAddRefString(s->b) == BC_S_OK);
            s->pins++;
        }
        break;
    case 11: /* unpin; the last release of a freed BSTR frees it */
        if (s->b && s->pins) {
            SysReleaseString(s->b);
            if (--s->pins == 0 && s->free_pending) {
                remember_freed(m, s->b, s->bytes);
                m->frees++;
                s->b = NULL;
                s->free_pending = false;
            }
        } else if (s->b && !s->free_pending) {
            SysReleaseString(s->b); /* unbalanced */
            m->events[BC_KIND_INVALID_BSTR]++;
        }
        break;
    case 12: /* SysReAlloc* of a freed BSTR: refused, untouched */
        if (m->nfreed) {
            bstr_t var = m->freed[next(in) % m->nfreed];
            bstr_t before = var;
            CHECK(SysReAllocStringLen(&var, NULL, 3) == 0 && var == before);
            m->events[BC_KIND_DOUBLE_FREE]++;
        }
        break;
    default:
        check_slot(s);
        break;
    }
    check_events(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("BSTRCHECK_OPTIONS", "mode=own:olechar=2:quarantine_kb=65536:max_frames=4:catch_free=0",
           1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* keeps one input's frees inside the quarantine */
    static model_t m;
    bc_ensure_init(); /* reads BSTRCHECK_OPTIONS once */
    bc_counts_t before = bc_table_counts();
    memset(&m.slot, 0, sizeof m.slot);
    m.nfreed = 0;
    m.allocs = m.frees = 0;
    for (int k = 0; k < BC_KIND_COUNT; k++)
        m.events[k] = bc_events_count((bc_kind_t)k);
    input_t in = {data, size};
    while (in.left)
        op(&m, &in);
    for (int i = 0; i < SLOTS; i++)
        clear(&m, &m.slot[i]);
    check_events(&m);
    bc_counts_t after = bc_table_counts();
    CHECK(after.allocations - before.allocations == m.allocs);
    CHECK(after.frees - before.frees == m.frees);
    CHECK(m.allocs == m.frees); /* everything made was freed */
    return 0;
}
