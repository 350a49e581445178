/* The per-thread stack cache. A program allocates from the same call chains
 * again and again, and walking one costs far more than the rest of the
 * bookkeeping (about 10 ns a frame with libunwind). So each thread keeps its
 * last few stacks captured at an entry point, each with:
 *   - the address of the entry point's frame (how deep the call was), and
 *   - the stack words the walk depended on, and their values: frame
 *     records and return-address slots (stack.c notes them).
 * A call from a frame at the same address, whose words all still hold the
 * same values, would walk to the same frames: it takes the cached depot id
 * after a few loads and compares, without walking.
 *
 * With unwind=fp the words are exactly those the walk read. With libunwind
 * they are found again after the walk (each return address's slot, above
 * the last), so as a safety net every 512th hit of a thread also walks and
 * compares; a disagreement turns the cache off for libunwind, with a
 * warning. stack_cache=0 turns it off altogether. */
#include "stack.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

enum { CACHE_ENTRIES = 4, SELF_CHECK_EVERY = 512 };

/* The words a walk read come in pairs (a frame record is a saved frame
 * pointer and a return address, side by side), so they are kept and
 * compared two at a time: one 16-byte load, xor and mask per pair. A
 * word without its neighbour is paired with the word below it (deeper in
 * the stack, so mapped), which the mask leaves out of the compare. */
typedef uintptr_t word_pair_t
    __attribute__((vector_size(2 * sizeof(uintptr_t)), aligned(sizeof(uintptr_t)), may_alias));

typedef struct stack_pair {
    word_pair_t value, mask;
    uintptr_t addr; /* of the pair's first word */
} stack_pair_t;

typedef struct cache_entry {
    bc_stack_id_t id;   /* 0: empty */
    uint32_t npairs, nframes;
    uintptr_t start;    /* bc_entry_frame at the capture */
    uintptr_t code_version;
    unsigned generation;
    stack_pair_t *pairs; /* into the thread's mapping */
    uintptr_t *frames;
} cache_entry_t;

typedef struct thread_cache {
    size_t size; /* of the mapping that holds it */
    unsigned next, hits_until_check;
    uint64_t hits, misses;
    bc_stack_word_t *scratch; /* the words of the walk being remembered */
    cache_entry_t entries[CACHE_ENTRIES];
} thread_cache_t;

static __thread thread_cache_t *cache BC_TLS;
static __thread bool cache_failed BC_TLS;

static unsigned generation;         /* bumped by dlclose */
static bool libunwind_cache_off;    /* a self-check failed */
static bc_stack_cache_stats_t totals;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static uint32_t max_words(void)
{
    return 2 * (uint32_t)bc_opt.max_frames + 4;
}

static void fold_counts(thread_cache_t *c)
{
    __atomic_fetch_add(&totals.hits, c->hits, __ATOMIC_RELAXED);
    __atomic_fetch_add(&totals.misses, c->misses, __ATOMIC_RELAXED);
    c->hits = c->misses = 0;
}

static void release_at_thread_exit(void *arg)
{
    thread_cache_t *c = arg;
    if (c == cache)
        cache = NULL;
    fold_counts(c);
    munmap(c, c->size);
}

static void create_exit_key(void)
{
    if (pthread_key_create(&exit_key, release_at_thread_exit) != 0)
        exit_key = (pthread_key_t)-1;
}

/* mmap, not malloc: a signal handler's Sys* call may be the first. */
BC_NOINLINE static thread_cache_t *create_cache(void)
{
    if (cache_failed)
        return NULL;
    size_t words = max_words(), frames = (size_t)bc_opt.max_frames;
    size_t per_entry = words * sizeof(stack_pair_t) + frames * sizeof(uintptr_t);
    size_t size = sizeof(thread_cache_t) + words * sizeof(bc_stack_word_t) +
                  CACHE_ENTRIES * per_entry;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        cache_failed = true;
        return NULL;
    }
    thread_cache_t *c = map;
    c->size = size;
    c->hits_until_check = SELF_CHECK_EVERY;
    char *space = (char *)(c + 1); /* each part's size keeps the next aligned */
    for (int i = 0; i < CACHE_ENTRIES; i++, space += per_entry) {
        c->entries[i].pairs = (stack_pair_t *)space;
        c->entries[i].frames = (uintptr_t *)(space + words * sizeof(stack_pair_t));
    }
    c->scratch = (bc_stack_word_t *)space;
    pthread_once(&exit_key_once, create_exit_key);
    if (exit_key != (pthread_key_t)-1)
        pthread_setspecific(exit_key, c);
    cache = c;
    return c;
}

/* Every pair, without an early exit: a hit is the common case, and the
 * loop then has no branch to mispredict. */
BC_RAW_STACK_READ static bool still_holds(const cache_entry_t *e)
{
    word_pair_t differ = {0, 0};
#pragma GCC unroll 4
    for (uint32_t i = 0; i < e->npairs; i++) {
        const stack_pair_t *p = &e->pairs[i];
        differ |= (*(const word_pair_t *)p->addr ^ p->value) & p->mask;
    }
    return (differ[0] | differ[1]) == 0;
}

/* The walk's words as pairs. They are sorted by address first: a libunwind
 * walk notes a frame's return-address slot before its saved frame pointer. */
static uint32_t pair_up(bc_stack_word_t *w, uint32_t n, stack_pair_t *out)
{
    for (uint32_t i = 1; i < n; i++) /* a few dozen words, nearly in order */
        for (uint32_t j = i; j > 0 && w[j - 1].addr > w[j].addr; j--) {
            bc_stack_word_t t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
        }
    const uintptr_t all = ~(uintptr_t)0;
    uint32_t npairs = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && w[i].addr == w[i - 1].addr)
            continue; /* noted twice */
        stack_pair_t *p = &out[npairs++];
        if (i + 1 < n && w[i + 1].addr == w[i].addr + sizeof(uintptr_t)) {
            *p = (stack_pair_t){{w[i].value, w[i + 1].value}, {all, all}, w[i].addr};
            i++;
        } else {
            *p = (stack_pair_t){{0, w[i].value}, {0, all}, w[i].addr - sizeof(uintptr_t)};
        }
    }
    return npairs;
}

static const cache_entry_t *lookup(const thread_cache_t *c, uintptr_t start)
{
    unsigned gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    uintptr_t code = bc_opt.unwind == BC_UNWIND_FP ? bc_stack_code_version() : 0;
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        const cache_entry_t *e = &c->entries[i];
        if (e->id && e->start == start && e->generation == gen && e->code_version == code &&
            still_holds(e))
            return e;
    }
    return NULL;
}

/* Walk anyway, and compare (libunwind only: there the words were found
 * again rather than read by the walk). */
BC_NOINLINE static bool self_check(const cache_entry_t *e)
{
    uintptr_t frames[BC_MAX_FRAMES];
    uint32_t n = bc_stack_capture(frames, (uint32_t)bc_opt.max_frames);
    __atomic_fetch_add(&totals.checks, 1, __ATOMIC_RELAXED);
    if (n == e->nframes && memcmp(frames, e->frames, n * sizeof *frames) == 0)
        return true;
    __atomic_fetch_add(&totals.check_failures, 1, __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&libunwind_cache_off, true, __ATOMIC_RELAXED))
        bc_warn("the stack cache gave a stack a full walk did not (%u frames against %u); "
                "it is off from here on",
                e->nframes, n);
    return false;
}

static bc_stack_id_t capture_and_remember(thread_cache_t *c)
{
    uintptr_t frames[BC_MAX_FRAMES];
    uint32_t n = 0;
    cache_entry_t *e = &c->entries[c->next];
    bc_stack_words_t words = {0, max_words(), c->scratch};
    e->id = 0; /* its words are being overwritten */
    bool known = bc_stack_capture_at_entry(frames, (uint32_t)bc_opt.max_frames, &n, &words);
    bc_stack_id_t id = bc_depot_put(frames, n);
    c->misses++;
    if (!known || !id)
        return id;
    e->npairs = pair_up(c->scratch, words.count, e->pairs);
    e->nframes = n;
    memcpy(e->frames, frames, n * sizeof *frames);
    e->start = bc_entry_frame;
    e->generation = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    e->code_version = bc_opt.unwind == BC_UNWIND_FP ? bc_stack_code_version() : 0;
    e->id = id;
    c->next = (c->next + 1) % CACHE_ENTRIES;
    return id;
}

static bool cache_usable(void)
{
    return bc_opt.stack_cache && bc_depth == 1 && bc_entry_frame &&
           !(bc_opt.unwind == BC_UNWIND_LIBUNWIND &&
             __atomic_load_n(&libunwind_cache_off, __ATOMIC_RELAXED));
}

bc_stack_id_t bc_stack_now(void)
{
    thread_cache_t *c = cache;
    if (cache_usable() && (c || (c = create_cache()))) {
        const cache_entry_t *e = lookup(c, bc_entry_frame);
        if (e) {
            c->hits++;
            if (bc_opt.unwind == BC_UNWIND_FP || --c->hits_until_check)
                return e->id;
            c->hits_until_check = SELF_CHECK_EVERY;
            if (self_check(e))
                return e->id;
        }
        return capture_and_remember(c);
    }
    uintptr_t frames[BC_MAX_FRAMES];
    uint32_t n = bc_stack_capture(frames, (uint32_t)bc_opt.max_frames);
    return bc_depot_put(frames, n);
}

bc_stack_id_t bc_stack_here(void)
{
    if (bc_depth > 1)
        return 0; /* a nested call: the outer one has the stack */
    return bc_stack_now();
}

void bc_stack_cache_invalidate(void)
{
    __atomic_fetch_add(&generation, 1, __ATOMIC_ACQ_REL);
}

bc_stack_cache_stats_t bc_stack_cache_stats(void)
{
    if (cache)
        fold_counts(cache);
    bc_stack_cache_stats_t s;
    s.hits = __atomic_load_n(&totals.hits, __ATOMIC_RELAXED);
    s.misses = __atomic_load_n(&totals.misses, __ATOMIC_RELAXED);
    s.checks = __atomic_load_n(&totals.checks, __ATOMIC_RELAXED);
    s.check_failures = __atomic_load_n(&totals.check_failures, __ATOMIC_RELAXED);
    return s;
}
