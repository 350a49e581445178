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
#include "bc.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

enum { CACHE_ENTRIES = 4, SELF_CHECK_EVERY = 512 };

typedef struct cache_entry {
    bc_stack_id_t id;   /* 0: empty */
    uint32_t nwords, nframes;
    uintptr_t start;    /* bc_entry_frame at the capture */
    uintptr_t code_version;
    unsigned generation;
    bc_stack_word_t *words; /* into the thread's mapping */
    uintptr_t *frames;
} cache_entry_t;

typedef struct thread_cache {
    size_t size; /* of the mapping that holds it */
    unsigned next, hits_until_check;
    uint64_t hits, misses;
    cache_entry_t entries[CACHE_ENTRIES];
} thread_cache_t;

static __thread thread_cache_t *cache __attribute__((tls_model("initial-exec")));
static __thread bool cache_failed __attribute__((tls_model("initial-exec")));

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
    size_t per_entry = words * sizeof(bc_stack_word_t) + frames * sizeof(uintptr_t);
    size_t size = sizeof(thread_cache_t) + CACHE_ENTRIES * per_entry;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        cache_failed = true;
        return NULL;
    }
    thread_cache_t *c = map;
    c->size = size;
    c->hits_until_check = SELF_CHECK_EVERY;
    char *space = (char *)(c + 1);
    for (int i = 0; i < CACHE_ENTRIES; i++, space += per_entry) {
        c->entries[i].words = (bc_stack_word_t *)space;
        c->entries[i].frames = (uintptr_t *)(space + words * sizeof(bc_stack_word_t));
    }
    pthread_once(&exit_key_once, create_exit_key);
    if (exit_key != (pthread_key_t)-1)
        pthread_setspecific(exit_key, c);
    cache = c;
    return c;
}

/* Every word, without an early exit: a hit is the common case, and the
 * loop then has no branch to mispredict. */
BC_RAW_STACK_READ static bool still_holds(const cache_entry_t *e)
{
    uintptr_t differ = 0;
#pragma GCC unroll 4
    for (uint32_t i = 0; i < e->nwords; i++)
        differ |= *(const uintptr_t *)e->words[i].addr ^ e->words[i].value;
    return differ == 0;
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
    bc_stack_words_t words = {0, max_words(), e->words};
    e->id = 0; /* its words are being overwritten */
    bool known = bc_stack_capture_at_entry(frames, (uint32_t)bc_opt.max_frames, &n, &words);
    bc_stack_id_t id = bc_depot_put(frames, n);
    c->misses++;
    if (!known || !id)
        return id;
    e->nwords = words.count;
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
