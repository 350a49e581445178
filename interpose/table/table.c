/* The allocation table: one record per BSTR the shim handed out, keyed by
 * pointer, in shards under separate locks so threads do not serialize on
 * one mutex, and in groups of shards, one per thread slot, so that threads
 * do not even share the shards they write. Each shard also keeps its part of the quarantine: freed
 * records stay findable (double frees, late use) and their memory is not
 * reused until the shard's share of quarantine_kb is exceeded. Records come
 * from per-shard slabs (no allocator header per BSTR); the quarantine is
 * FIFOs of record pointers, so records carry no link. All this memory, and
 * uthash's tables, comes from the shard's arena (arena.h): no malloc or
 * free under a shard lock. */
#include "table.h"
#include "arena.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

/* uthash's macros take no context: they allocate from the arena of the
 * shard named `shard` where they are used (a use without one does not
 * build). Other users of hash.h keep malloc and bc_internal_free. */
#undef uthash_malloc
#undef uthash_free
#define uthash_malloc(sz) bc_arena_alloc(&shard->arena, (sz))
#define uthash_free(ptr, sz) bc_arena_free(&shard->arena, (ptr), (sz))
/* No allocator call is left in this file. */
#pragma GCC poison malloc calloc realloc free bc_internal_free

/* Records are found by the BSTR held in hh.key (table.h): keys compare as
 * pointers, and their hash is computed once per call (bucket_hash(); the
 * same page hash picks the shard). */
#undef HASH_KEYCMP
#define HASH_KEYCMP(a, b, n) ((a) != (b))

/* Shards come in groups, one per thread slot (the quarantine's, below): a
 * thread inserts the BSTRs it makes into its own group, by hash within it,
 * so two threads do not write the same shards, tables and records (one set
 * for all made each line of a shard move between the cores:
 * docs/benchmarks.md, "Why the table is laid out as it is"). Finding a BSTR looks in the caller's group first, then in the others in
 * turn: a BSTR freed by the thread that made it takes one look. A record
 * never moves, so a look that misses it in one group cannot find it moved
 * to a group already passed. */
#define GROUP_BITS 2
#define GROUP_COUNT (1u << GROUP_BITS)
#define GROUP_SHARD_BITS 6
#define GROUP_SHARDS (1u << GROUP_SHARD_BITS)
#define SHARD_COUNT (GROUP_COUNT * GROUP_SHARDS)

#define SLAB_RECORDS 64

/* A free record, linked through its own first bytes. */
typedef struct spare {
    struct spare *next;
} spare_t;

/* The quarantine: per shard, a ring per thread slot, so that a thread
 * releases only what it freed itself (blocks of its own allocator arena;
 * one shared ring made threads fight over each other's arena locks: the
 * same section). Threads take slots in turn, at their first insert
 * or free; a ring's share of quarantine_kb is in ring_budget(). */
#define RINGS_PER_SHARD GROUP_COUNT

/* A ring is a FIFO of 512-byte segments from the shard's arena: a segment
 * its oldest record has left goes back to it for the next push, so a ring
 * holds about what it queues (arrays doubled and copied held up to twice
 * that, and left the smaller ones idle). Each queued record keeps the
 * footprint it was retired with, so evicting it asks nobody: at most a
 * shard's share (see bc_table_init), so 32 bits. */
#define SEGMENT_SLOTS 42
typedef struct ring_segment {
    struct ring_segment *next;
    bc_record_t *rec[SEGMENT_SLOTS]; /* NULL: left early */
    uint32_t footprint[SEGMENT_SLOTS];
} ring_segment_t;
_Static_assert(sizeof(ring_segment_t) == 512, "a segment fills its arena block");

typedef struct quarantine_ring {
    ring_segment_t *head, *tail; /* NULL when empty */
    unsigned first, end;         /* head's oldest slot; tail's slots used */
    size_t len;                  /* slots from the oldest to the newest */
    size_t bytes;
} quarantine_ring_t;

/* The free() filter (catch_free.c): per shard, a counter per hash of a
 * 16-byte granule holding one of its BSTRs. Kept under the shard's lock, so
 * without atomic read-modify-writes; free() reads it without the lock, as a
 * "maybe". The counters of a hash in the groups' shards sit side by side,
 * so free() reads them all with one load. */
#define FILTER_BITS 12
#define FILTER_SLOTS (1u << (GROUP_SHARD_BITS + FILTER_BITS))

struct bc_shard {
    int lock; /* a spinlock: held for a few dozen instructions */
    unsigned group;
    bc_record_t *records;
    spare_t *spares;
    quarantine_ring_t rings[RINGS_PER_SHARD];
    bc_counts_t counts;
    bc_arena_t arena; /* (touched only when something grows) */
} __attribute__((aligned(64)));

static bc_shard_t shards[SHARD_COUNT]; /* group by group */
/* Aligned: free() reads a slot's four counters as one word. */
static uint8_t filters[FILTER_SLOTS][GROUP_COUNT] __attribute__((aligned(64)));
typedef uint32_t group_counters_t __attribute__((may_alias));
_Static_assert(sizeof(group_counters_t) == GROUP_COUNT, "one load reads a hash's counters");
/* A word of counters with one group's byte cleared, for each group. */
static group_counters_t others_mask[GROUP_COUNT];
static size_t quarantine_per_shard; /* the share of one shard of a group */

/* Slots go to threads in turn, at a thread's first insert or lookup: a
 * slot is a group of shards and a ring in every shard. A slot's users are
 * its live threads that have freed (pushed into a ring): a ring without
 * any is drained by the others, and the share of a ring follows the number
 * of live users, so a thread that only makes BSTRs takes no share from
 * those that free them. */
static unsigned next_slot;
static unsigned slot_users[RINGS_PER_SHARD];
static unsigned live_users;
static __thread unsigned my_slot_plus_one BC_TLS;
static __thread bool my_ring_counted BC_TLS;
static pthread_key_t user_key;
static pthread_once_t user_key_once = PTHREAD_ONCE_INIT;

static void give_up_ring(void *arg)
{
    unsigned slot = (unsigned)(uintptr_t)arg - 1;
    __atomic_fetch_sub(&slot_users[slot], 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&live_users, 1, __ATOMIC_RELAXED);
    my_ring_counted = false; /* a later free (another destructor) counts again */
}

static void create_user_key(void)
{
    if (pthread_key_create(&user_key, give_up_ring) != 0)
        user_key = (pthread_key_t)-1;
}

BC_NOINLINE static unsigned take_slot(void)
{
    unsigned slot = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED) % RINGS_PER_SHARD;
    my_slot_plus_one = slot + 1;
    return slot;
}

static unsigned my_slot(void)
{
    return BC_LIKELY(my_slot_plus_one) ? my_slot_plus_one - 1 : take_slot();
}

BC_NOINLINE static void count_ring_user(unsigned slot)
{
    pthread_once(&user_key_once, create_user_key);
    __atomic_fetch_add(&slot_users[slot], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&live_users, 1, __ATOMIC_RELAXED);
    if (user_key != (pthread_key_t)-1)
        pthread_setspecific(user_key, (void *)(uintptr_t)(slot + 1));
    my_ring_counted = true;
}

/* The slot's ring, this thread counted among its users. */
static unsigned my_ring(void)
{
    unsigned slot = my_slot();
    if (BC_UNLIKELY(!my_ring_counted))
        count_ring_user(slot);
    return slot;
}

/* A ring's share of the quarantine: quarantine_kb divided among a group's
 * shards, the live users, and the groups this thread has lately freed
 * into (divided once, at init, into budgets[users][groups]). A thread that
 * frees only what another thread made (a consumer) keeps its whole share
 * in that thread's group; one that frees into every group keeps a quarter
 * in each. The groups are counted over windows of GROUP_WINDOW frees: a
 * group counts at once, and stops counting a window or two after its last
 * free. Rings of a group no longer freed into keep what they hold (at most
 * their share when they were filled) until the thread frees there again or
 * exits. */
#define GROUP_WINDOW 1024
static size_t budgets[RINGS_PER_SHARD + 1][GROUP_COUNT + 1];
static __thread unsigned groups_now BC_TLS, groups_before BC_TLS, window_left BC_TLS;

static size_t ring_budget(const bc_shard_t *shard)
{
    groups_now |= 1u << shard->group;
    if (window_left-- == 0) {
        groups_before = groups_now;
        groups_now = 1u << shard->group;
        window_left = GROUP_WINDOW;
    }
    unsigned groups = (unsigned)__builtin_popcount(groups_now | groups_before);
    unsigned users = __atomic_load_n(&live_users, __ATOMIC_RELAXED);
    return budgets[users < RINGS_PER_SHARD ? users : RINGS_PER_SHARD][groups];
}
/* Allocation ordinals come in blocks per thread, so threads do not fight
 * over one counter. A checkpoint moves the epoch: every thread then takes
 * a fresh block, numbered after the checkpoint's marker. */
#define SEQ_BLOCK 64
static uint64_t next_seq = 1;
static uint64_t seq_epoch;
static __thread uint64_t seq_next BC_TLS;
static __thread uint64_t seq_end BC_TLS;
static __thread uint64_t seq_thread_epoch BC_TLS;

static uint64_t take_seq(void)
{
    uint64_t epoch = __atomic_load_n(&seq_epoch, __ATOMIC_ACQUIRE);
    if (BC_UNLIKELY(seq_next == seq_end || seq_thread_epoch != epoch)) {
        seq_next = __atomic_fetch_add(&next_seq, SEQ_BLOCK, __ATOMIC_RELAXED);
        seq_end = seq_next + SEQ_BLOCK;
        seq_thread_epoch = epoch;
    }
    return seq_next++;
}
static uint64_t first_own_seq = 1;

void bc_table_init(void)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        shards[i].group = i / GROUP_SHARDS;
    for (unsigned g = 0; g < GROUP_COUNT; g++) {
        uint8_t bytes[GROUP_COUNT];
        memset(bytes, 0xFF, sizeof bytes);
        bytes[g] = 0;
        memcpy(&others_mask[g], bytes, sizeof bytes);
    }
    /* (at most 256 MiB: quarantine_kb's range ends at 16 GiB) */
    quarantine_per_shard = (size_t)bc_opt.quarantine_kb * 1024 / GROUP_SHARDS;
    for (unsigned users = 0; users <= RINGS_PER_SHARD; users++)
        for (unsigned groups = 0; groups <= GROUP_COUNT; groups++)
            budgets[users][groups] =
                quarantine_per_shard / (users ? users : 1) / (groups ? groups : 1);
}

#ifndef BC_TABLE_PAGE_HASH
#define BC_TABLE_PAGE_HASH 1
#endif
#define GOLDEN 0x9E3779B97F4A7C15ull
#if BC_TABLE_PAGE_HASH
/* Where a BSTR's record goes is hashed from its 4 KiB page, then its
 * 16-byte granule's place in the page is added to the bucket: BSTRs made
 * one after the other (neighbours in memory) share a shard, and their
 * buckets are neighbours in one bucket array, so walking a live set in
 * address order reads both in order. Pages spread over shards and buckets
 * by a multiplicative hash (the top 6 bits pick the shard in a group, bits
 * 26 to 57 the bucket), granules within a page never share a bucket of a
 * table of 256 or more. The free() filter counters are laid out the same
 * way (the shard's index, then bits 40 to 51 plus the granule's place): a
 * random one per BSTR was a cache miss at every insert and free. */
static uint64_t page_hash(uintptr_t bstr)
{
    return (uint64_t)(bstr >> 12) * GOLDEN;
}

static unsigned shard_index(uintptr_t bstr)
{
    return (unsigned)(page_hash(bstr) >> (64 - GROUP_SHARD_BITS));
}

static unsigned bucket_hash(uintptr_t bstr)
{
    return (unsigned)(page_hash(bstr) >> 26) + (unsigned)((bstr >> 4) & 0xFF);
}

static size_t filter_slot(uintptr_t bstr)
{
    unsigned in_shard = (unsigned)(page_hash(bstr) >> 40) + (unsigned)((bstr >> 4) & 0xFF);
    return (size_t)shard_index(bstr) << FILTER_BITS | (in_shard & ((1u << FILTER_BITS) - 1));
}
#else
/* The hash of BSTR's 16-byte granule (two BSTRs share one only with blocks
 * smaller than any malloc's; then their hashes collide, nothing more). Its
 * top bits pick the shard within a group, and with the next ones the
 * filter counter; bits 26 to 57 are uthash's hash. */
static uint64_t hash_of(uintptr_t bstr)
{
    return (uint64_t)(bstr >> 4) * GOLDEN;
}

static unsigned shard_index(uintptr_t bstr)
{
    return (unsigned)(hash_of(bstr) >> (64 - GROUP_SHARD_BITS));
}

static unsigned bucket_hash(uintptr_t bstr)
{
    return (unsigned)(hash_of(bstr) >> 26);
}

/* The shard's index within its group is the slot's top bits: only the
 * shard's own lock guards a counter. */
static size_t filter_slot(uintptr_t bstr)
{
    return (size_t)(hash_of(bstr) >> (64 - GROUP_SHARD_BITS - FILTER_BITS));
}
#endif

/* Saturated counters stay "maybe" for good. */
static void filter_adjust(bc_shard_t *shard, uintptr_t bstr, int delta)
{
    uint8_t *slot = &filters[filter_slot(bstr)][shard->group];
    uint8_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (old != UINT8_MAX && (delta > 0 || old > 0))
        __atomic_store_n(slot, (uint8_t)(old + delta), __ATOMIC_RELAXED);
}

/* Only a BSTR's own granule is counted. The block start 8 bytes before
 * shares it, or lies in the one before; 4 bytes before lies in one of the
 * two: so P's granule and the next one's tell. */

__attribute__((no_sanitize("address"))) static bool filter_has(uintptr_t p)
{
    const group_counters_t *all = (const group_counters_t *)filters[filter_slot(p)];
    return __atomic_load_n(all, __ATOMIC_RELAXED) != 0;
}

void bc_table_filter_extent(uintptr_t *lo, size_t *size)
{
    *lo = (uintptr_t)filters;
    *size = sizeof filters;
}

__attribute__((no_sanitize("address"))) bool bc_table_may_hold(uintptr_t p)
{
    return filter_has(p) || ((p >> 4) != ((p + 8) >> 4) && filter_has(p + 8));
}

/* BSTR's shard in GROUP. */
static bc_shard_t *shard_in(unsigned group, uintptr_t bstr)
{
    return &shards[group * GROUP_SHARDS + shard_index(bstr)];
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}


static bool spin_trylock(int *lock)
{
    bool taken = __atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE) == 0;
    bc_shard_locks_held += taken;
    return taken;
}

/* Contended: spin briefly, then yield, so a holder that was preempted can
 * run (more threads than cores); then sleep, since under a real-time policy
 * yielding never lets a lower-priority holder run. */
BC_NOINLINE static void spin_lock_slow(int *lock)
{
    for (unsigned spins = 0;; spins++) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
            if (spins++ < 200) {
                cpu_relax();
            } else if (spins < 1200) {
                sched_yield();
            } else {
                struct timespec pause = {0, 50000};
                nanosleep(&pause, NULL);
            }
        }
        if (spin_trylock(lock))
            return;
    }
}

static void spin_lock(int *lock)
{
    if (BC_UNLIKELY(!spin_trylock(lock)))
        spin_lock_slow(lock);
}

static void spin_unlock(int *lock)
{
    bc_shard_locks_held--;
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* Functions "with SHARD locked" check it in debug builds: the lock word
 * is set, and this thread holds a shard lock (it may be another thread's
 * lock word that is set; the count rules out none held at all). */
static void dcheck_locked(const bc_shard_t *shard)
{
    BC_DCHECK(__atomic_load_n(&shard->lock, __ATOMIC_RELAXED) != 0 && bc_shard_locks_held > 0,
              "a table function ran without its shard's lock");
    (void)shard;
}

/* With SHARD locked. */
static bc_record_t *shard_find(bc_shard_t *shard, uintptr_t bstr)
{
    dcheck_locked(shard);
    bc_record_t *rec = NULL;
    HASH_FIND_BYHASHVALUE(hh, shard->records, (void *)bstr, sizeof bstr, bucket_hash(bstr), rec);
    return rec;
}

/* Can GROUP hold a record of BSTR? Read without the group's lock: a record
 * another thread made is counted before that thread's call returned. */
static bool group_may_hold(unsigned group, uintptr_t bstr)
{
    return __atomic_load_n(&filters[filter_slot(bstr)][group], __ATOMIC_RELAXED) != 0;
}

/* A record of BSTR left in another group: its memory was freed where the
 * shim could not see (a runtime's internal free) and is being reused. The
 * new record goes into that record's shard, where uthash finds the newer
 * of the two first, wherever the lookup comes from. */
BC_NOINLINE static bc_shard_t *lock_older_record(unsigned home, uintptr_t bstr)
{
    for (unsigned i = 1; i < GROUP_COUNT; i++) {
        unsigned group = (home + i) % GROUP_COUNT;
        if (!group_may_hold(group, bstr))
            continue;
        bc_shard_t *shard = shard_in(group, bstr);
        spin_lock(&shard->lock);
        if (shard_find(shard, bstr))
            return shard;
        spin_unlock(&shard->lock);
    }
    return NULL;
}

/* Whether a record was ever inserted. Until then a fork needs no shard
 * lock (a process that never makes a BSTR pays nothing per fork, and its
 * child writes none of the shards' pages). The first insert and a fork's
 * look at the flag are serialized by first_use, taken before any shard. */
static bool table_used;
static pthread_mutex_t first_use BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static bool fork_took_shards BC_FORK_STATE;

BC_NOINLINE static void mark_used(void)
{
    pthread_mutex_lock(&first_use);
    __atomic_store_n(&table_used, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&first_use);
}

void bc_table_fork_prepare(void)
{
    pthread_mutex_lock(&first_use);
    fork_took_shards = table_used;
    if (fork_took_shards)
        bc_table_lock_all();
}

void bc_table_fork_parent(void)
{
    if (fork_took_shards)
        bc_table_unlock_all();
    pthread_mutex_unlock(&first_use);
}

bc_shard_t *bc_table_lock_home(uintptr_t bstr)
{
    if (BC_UNLIKELY(!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE)))
        mark_used();
    unsigned home = my_slot();
    const group_counters_t *all = (const group_counters_t *)filters[filter_slot(bstr)];
    group_counters_t elsewhere = __atomic_load_n(all, __ATOMIC_RELAXED) & others_mask[home];
    bc_shard_t *shard = BC_UNLIKELY(elsewhere) ? lock_older_record(home, bstr) : NULL;
    if (!shard) {
        shard = shard_in(home, bstr);
        spin_lock(&shard->lock);
    }
    return shard;
}

/* Not in this thread's group: the other groups that may hold it (by the
 * filter), in turn. */
BC_NOINLINE static bc_shard_t *lock_find_elsewhere(bc_shard_t *shard, unsigned home,
                                                   uintptr_t bstr, bc_record_t **rec)
{
    for (unsigned i = 1; i < GROUP_COUNT; i++) {
        unsigned group = (home + i) % GROUP_COUNT;
        if (!group_may_hold(group, bstr))
            continue;
        spin_unlock(&shard->lock);
        shard = shard_in(group, bstr);
        spin_lock(&shard->lock);
        if ((*rec = shard_find(shard, bstr)) != NULL)
            break;
    }
    return shard;
}

bc_shard_t *bc_table_lock_find(uintptr_t bstr, bc_record_t **rec)
{
    if (BC_UNLIKELY(!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE)))
        mark_used(); /* a shard is about to be locked: forks must see it */
    unsigned home = my_slot();
    bc_shard_t *shard = shard_in(home, bstr);
    spin_lock(&shard->lock);
    if (BC_LIKELY((*rec = shard_find(shard, bstr)) != NULL))
        return shard;
    return lock_find_elsewhere(shard, home, bstr, rec);
}

/* From a signal handler: no slot is taken (that may call into libc). */
bc_shard_t *bc_table_trylock_find(uintptr_t bstr, bc_record_t **rec)
{
    unsigned home = my_slot_plus_one ? my_slot_plus_one - 1 : 0;
    bc_shard_t *shard = NULL;
    for (unsigned i = 0; i < GROUP_COUNT; i++) {
        unsigned group = (home + i) % GROUP_COUNT;
        if (shard && !group_may_hold(group, bstr))
            continue; /* (the home group is looked in regardless) */
        if (shard)
            spin_unlock(&shard->lock);
        shard = shard_in(group, bstr);
        if (!spin_trylock(&shard->lock))
            return NULL;
        if ((*rec = shard_find(shard, bstr)) != NULL)
            break;
    }
    return shard;
}

void bc_table_unlock(bc_shard_t *shard)
{
    spin_unlock(&shard->lock);
}


/* A slab of spare records, or as many as fit in an idle block of the
 * arena (an outgrown bucket array or ring). */
BC_NOINLINE static bool add_records(bc_shard_t *shard)
{
    size_t got;
    bc_record_t *slab = bc_arena_keep(&shard->arena, sizeof *slab, SLAB_RECORDS * sizeof *slab,
                                      &got);
    if (!slab)
        return false;
    for (size_t i = 0; i < got / sizeof *slab; i++) {
        spare_t *sp = (spare_t *)&slab[i];
        sp->next = shard->spares;
        shard->spares = sp;
    }
    return true;
}

static bc_record_t *new_record(bc_shard_t *shard)
{
    if (BC_UNLIKELY(!shard->spares) && !add_records(shard))
        return NULL;
    spare_t *sp = shard->spares;
    shard->spares = sp->next;
    bc_record_t *rec = (bc_record_t *)sp;
    memset(rec, 0, sizeof *rec);
    return rec;
}

static void drop_record(bc_shard_t *shard, bc_record_t *rec)
{
    /* no BSTR's any more: a reader's memo (track.c) that still points here
     * sees that without the lock */
    __atomic_store_n(&rec->hh.key, NULL, __ATOMIC_RELAXED);
    spare_t *sp = (spare_t *)rec;
    sp->next = shard->spares;
    shard->spares = sp;
}

/* uthash doubles a table's buckets only when one chain reaches 10 records
 * (more for a bucket that was long at the last doubling): at 1M live BSTRs
 * chains averaged 3.8 records, each a cache miss. A table is also doubled
 * whenever it holds more than MAX_LOAD records a bucket. A failed doubling
 * (out of memory) leaves it as it was. */
#ifndef MAX_LOAD
#define MAX_LOAD 2
#endif
static void keep_chains_short(bc_shard_t *shard)
{
    UT_hash_table *tbl = shard->records->hh.tbl;
    if (BC_UNLIKELY(tbl->num_items > tbl->num_buckets * MAX_LOAD) && !tbl->noexpand) {
        int oomed = 0;
        HASH_EXPAND_BUCKETS(hh, tbl, oomed);
        (void)oomed;
    }
}

bc_record_t *bc_shard_insert(bc_shard_t *shard, uintptr_t bstr, uint32_t bytes,
                             bc_stack_id_t stack, int runtime)
{
    dcheck_locked(shard);
    bc_record_t *rec = new_record(shard);
    if (!rec)
        return NULL;
    rec->bytes = bytes;
    rec->alloc_stack = stack;
    rec->seq = take_seq();
    rec->state = BC_LIVE;
    rec->flags = (uint8_t)(runtime << 4);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, shard->records, (void *)bstr, sizeof bstr, bucket_hash(bstr),
                                rec);
    if (!BC_HASH_ADDED(rec)) { /* uthash could not grow the table */
        drop_record(shard, rec);
        return NULL;
    }
    keep_chains_short(shard);
    filter_adjust(shard, bstr, 1);
    shard->counts.allocations++;
    return rec;
}

/* The record leaves the table for good. */
static void forget(bc_shard_t *shard, bc_record_t *rec)
{
    HASH_DELETE(hh, shard->records, rec);
    filter_adjust(shard, (uintptr_t)rec->hh.key, -1); /* (the key is the BSTR: table.h) */
    drop_record(shard, rec);
}

/* An empty ring holds no segment and no bytes; one segment holds its
 * slots. */
static void dcheck_ring(const quarantine_ring_t *q)
{
    BC_DCHECK((q->len == 0) == (q->head == NULL) && (q->len > 0 || q->bytes == 0) &&
                  (q->head != q->tail || q->len == q->end - q->first),
              "a quarantine ring's sizes do not add up");
    (void)q;
}

/* FOOTPRINT is at most the shard's share. */
static bool ring_push(bc_shard_t *shard, quarantine_ring_t *q, bc_record_t *rec,
                      size_t footprint)
{
    dcheck_ring(q);
    if (BC_UNLIKELY(!q->tail || q->end == SEGMENT_SLOTS)) {
        ring_segment_t *seg = bc_arena_alloc(&shard->arena, sizeof *seg);
        if (!seg)
            return false;
        seg->next = NULL;
        if (q->tail) {
            q->tail->next = seg;
        } else {
            q->head = seg;
            q->first = 0;
        }
        q->tail = seg;
        q->end = 0;
    }
    q->tail->rec[q->end] = rec;
    q->tail->footprint[q->end++] = (uint32_t)footprint;
    q->len++;
    q->bytes += footprint;
    return true;
}

/* Move past Q's oldest slot, giving back a segment that leaves empty. */
static void ring_advance(bc_shard_t *shard, quarantine_ring_t *q)
{
    ring_segment_t *seg = q->head;
    if (--q->len == 0 || ++q->first == SEGMENT_SLOTS) {
        q->head = seg->next;
        q->first = 0;
        if (!q->head) {
            q->tail = NULL;
            q->end = 0;
        }
        bc_arena_free(&shard->arena, seg, sizeof *seg);
    }
}

/* The oldest record of Q out of it (its bytes taken off); NULL when empty. */
static bc_record_t *ring_pop(bc_shard_t *shard, quarantine_ring_t *q)
{
    dcheck_ring(q);
    while (q->len > 0) {
        bc_record_t *rec = q->head->rec[q->first];
        if (rec)
            q->bytes -= q->head->footprint[q->first];
        ring_advance(shard, q);
        if (rec)
            return rec;
    }
    return NULL;
}

/* Slots left early at the front of SHARD's rings go, with their segments
 * (records that leave early, by drop or detach, would otherwise hold
 * theirs until the next eviction). */
static void trim_rings(bc_shard_t *shard)
{
    for (unsigned r = 0; r < RINGS_PER_SHARD; r++) {
        quarantine_ring_t *q = &shard->rings[r];
        while (q->len > 0 && !q->head->rec[q->first])
            ring_advance(shard, q);
    }
}

/* The one scan of SHARD's rings, oldest first in each, from *AT on ({0}
 * for all): the next record WANTED says so of leaves its ring (its slot
 * emptied, its bytes taken off). NULL when none is left. The rings must
 * not change between calls. */
typedef struct ring_cursor {
    unsigned ring;
    ring_segment_t *seg; /* NULL: the ring's start */
    unsigned slot;
} ring_cursor_t;

static bc_record_t *ring_take(bc_shard_t *shard, bool (*wanted)(const bc_record_t *, const void *),
                              const void *arg, ring_cursor_t *at)
{
    for (; at->ring < RINGS_PER_SHARD; at->ring++, at->seg = NULL) {
        quarantine_ring_t *q = &shard->rings[at->ring];
        dcheck_ring(q);
        if (!at->seg) {
            at->seg = q->head;
            at->slot = q->first;
        }
        for (; at->seg; at->seg = at->seg->next, at->slot = 0) {
            unsigned end = at->seg == q->tail ? q->end : SEGMENT_SLOTS;
            for (; at->slot < end; at->slot++) {
                bc_record_t *rec = at->seg->rec[at->slot];
                if (rec && wanted(rec, arg)) {
                    at->seg->rec[at->slot] = NULL;
                    q->bytes -= at->seg->footprint[at->slot];
                    return rec;
                }
            }
        }
    }
    return NULL;
}

static bool is_record(const bc_record_t *rec, const void *which)
{
    return rec == which;
}

static bool of_runtime(const bc_record_t *rec, const void *runtime)
{
    return BC_RECORD_RUNTIME(rec) == *(const int *)runtime;
}

/* Take REC out of whichever of SHARD's rings holds it. */
static void unqueue(bc_shard_t *shard, bc_record_t *rec)
{
    ring_cursor_t all = {0};
    ring_take(shard, is_record, rec, &all);
    trim_rings(shard);
}

void bc_shard_drop(bc_shard_t *shard, bc_record_t *rec)
{
    dcheck_locked(shard);
    if (rec->state == BC_LIVE)
        shard->counts.frees++;
    if (rec->state == BC_FREED)
        unqueue(shard, rec);
    forget(shard, rec);
}

/* Detach the oldest record of Q into OUT (its memory is released by the
 * caller after the unlock); false when OUT is full or Q empty. */
static bool evict_oldest(bc_shard_t *shard, quarantine_ring_t *q, bc_evicted_t *out,
                         const bc_record_t *keep)
{
    if (out->count == BC_EVICT_MAX)
        return false;
    while (q->len > 0 && !q->head->rec[q->first]) /* slots left early */
        ring_advance(shard, q);
    /* never KEEP, the record being retired: holes counted in len could
     * otherwise leave it the oldest with others still "behind" it */
    if (q->len == 0 || q->head->rec[q->first] == keep)
        return false;
    bc_record_t *old = ring_pop(shard, q);
    if (!old)
        return false;
    out->rec[out->count++] = *old;
    forget(shard, old);
    return true;
}

bool bc_shard_retire(bc_shard_t *shard, bc_record_t *rec, bc_stack_id_t free_stack,
                     size_t footprint, bc_evicted_t *out)
{
    dcheck_locked(shard);
    rec->state = BC_FREED;
    rec->free_stack = free_stack;
    shard->counts.frees++;
    unsigned mine = my_ring();
    size_t budget = ring_budget(shard);
    quarantine_ring_t *q = &shard->rings[mine];
    /* One larger than the shard's whole share would only push everything
     * out, itself included: it skips the quarantine (and the poisoning, which
     * for a huge untouched string would write gigabytes). One larger than
     * the ring's share stays, alone. With OUT full (a quarantine far over
     * its share), the record skips it too, rather than wait under the lock. */
    if (footprint > quarantine_per_shard || out->count == BC_EVICT_MAX ||
        !ring_push(shard, q, rec, footprint)) {
        out->rec[out->count++] = *rec;
        forget(shard, rec);
        return false;
    }
    while (q->bytes > budget && q->len > 1 && evict_oldest(shard, q, out, rec))
        ;
    /* Rings whose threads have all exited are drained a record at a time. */
    for (unsigned r = 0; r < RINGS_PER_SHARD; r++)
        if (r != mine && shard->rings[r].len &&
            __atomic_load_n(&slot_users[r], __ATOMIC_RELAXED) == 0)
            evict_oldest(shard, &shard->rings[r], out, rec);
    return true;
}

/* Detach up to OUT's room of RUNTIME's quarantined records from SHARD;
 * true when some may be left. */
static bool detach_runtime(bc_shard_t *shard, int runtime, bc_evicted_t *out)
{
    bc_record_t *rec;
    ring_cursor_t at = {0};
    while (out->count < BC_EVICT_MAX && (rec = ring_take(shard, of_runtime, &runtime, &at)) != NULL) {
        out->rec[out->count++] = *rec;
        forget(shard, rec);
    }
    trim_rings(shard);
    return out->count == BC_EVICT_MAX;
}

bool bc_table_detach_runtime(int runtime, unsigned *cursor, bc_evicted_t *out)
{
    if (!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE))
        return false; /* nothing tracked: no shard to lock (a fork would not wait for it) */
    for (; *cursor < SHARD_COUNT; ++*cursor) {
        spin_lock(&shards[*cursor].lock);
        bool more = detach_runtime(&shards[*cursor], runtime, out);
        spin_unlock(&shards[*cursor].lock);
        if (more || out->count == BC_EVICT_MAX)
            return true; /* OUT is full: the caller releases it, and calls again */
    }
    return false;
}

void bc_table_retag_runtime(int from, int to)
{
    if (!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE))
        return;
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        spin_lock(&shards[i].lock);
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            if (BC_RECORD_RUNTIME(rec) == from)
                rec->flags = (uint8_t)((rec->flags & 0x0F) | (to << 4));
        spin_unlock(&shards[i].lock);
    }
}

void bc_table_lock_all(void)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        spin_lock(&shards[i].lock);
}

void bc_table_unlock_all(void)
{
    for (unsigned i = SHARD_COUNT; i-- > 0;)
        spin_unlock(&shards[i].lock);
}

void bc_table_foreach(void (*fn)(const bc_record_t *, void *), void *arg)
{
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            fn(rec, arg);
}

/* Lock SHARD, giving up after about a second: the search runs from a
 * signal handler, and a thread that died holding a lock must not hang it. */
static bool lock_patiently(bc_shard_t *shard)
{
    for (int tries = 0; tries < 1000; tries++) {
        if (spin_trylock(&shard->lock))
            return true;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return false;
}

bool bc_table_search(void (*fn)(const bc_record_t *, void *), void *arg)
{
    bool complete = true;
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        if (!lock_patiently(&shards[i])) {
            complete = false;
            continue;
        }
        for (bc_record_t *rec = shards[i].records; rec; rec = rec->hh.next)
            fn(rec, arg);
        spin_unlock(&shards[i].lock);
    }
    return complete;
}

size_t bc_table_records_locked(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < SHARD_COUNT; i++)
        n += HASH_COUNT(shards[i].records);
    return n;
}

bc_counts_t bc_table_counts(void)
{
    bc_counts_t sum = {0, 0};
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        sum.allocations += shards[i].counts.allocations;
        sum.frees += shards[i].counts.frees;
    }
    return sum;
}

uint64_t bc_table_next_seq(void)
{
    /* the epoch first: a block taken from here on starts after the marker */
    __atomic_fetch_add(&seq_epoch, 1, __ATOMIC_ACQ_REL);
    return __atomic_load_n(&next_seq, __ATOMIC_ACQUIRE);
}

uint64_t bc_table_first_own_seq(void)
{
    return first_own_seq;
}

void bc_table_child_after_fork(void)
{
    first_use = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    if (!fork_took_shards)
        return; /* nothing was ever tracked: the shards are as they started */
    /* Re-initialized, not unlocked: the child's only thread is not the one
     * that locked them, and no other thread is left to hold one. */
    bc_shard_locks_held = 0;
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        shards[i].lock = 0;
        shards[i].counts.allocations = 0;
        shards[i].counts.frees = 0;
    }
    /* A new epoch: this thread's block of ordinals was taken before the
     * fork, so its next allocation starts a block at or after the mark. */
    __atomic_fetch_add(&seq_epoch, 1, __ATOMIC_ACQ_REL);
    first_own_seq = next_seq;
    /* Only this thread lives on: the other slots' rings are drained. */
    for (unsigned r = 0; r < RINGS_PER_SHARD; r++)
        slot_users[r] = my_ring_counted && my_slot_plus_one == r + 1;
    live_users = my_ring_counted;
}

void bc_table_shape(bc_table_shape_t *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < SHARD_COUNT; i++) {
        spin_lock(&shards[i].lock);
        out->bytes += shards[i].arena.bytes;
        UT_hash_table *tbl = shards[i].records ? shards[i].records->hh.tbl : NULL;
        if (tbl) {
            out->records += tbl->num_items;
            out->buckets += tbl->num_buckets;
            out->unexpandable += tbl->noexpand != 0;
            for (unsigned b = 0; b < tbl->num_buckets; b++) {
                size_t chain = tbl->buckets[b].count;
                out->compares += chain * (chain + 1) / 2;
                if (chain > out->longest_chain)
                    out->longest_chain = chain;
            }
        }
        spin_unlock(&shards[i].lock);
    }
}
