/* Error events (everything but leaks), grouped as they happen: identical
 * events (same kind and stacks) become one finding with a count. Only the
 * slow path comes here, under one mutex. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct event_key {
    uint32_t kind;
    bc_stack_id_t stacks[BC_ROLE_COUNT];
} event_key_t;

typedef struct event_group {
    UT_hash_handle hh;
    event_key_t key;
    uint64_t order; /* first seen; findings keep that order */
    bc_finding_t finding;
} event_group_t;

static pthread_mutex_t events_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static event_group_t *groups;
static uint64_t group_count;
static uint64_t kind_counts[BC_KIND_COUNT];
static uint64_t lost_events;

static uint64_t info_counts[BC_COUNT_KINDS];
static void (*abort_hook)(const bc_finding_t *finding);

void bc_events_set_abort_hook(void (*hook)(const bc_finding_t *finding))
{
    __atomic_store_n(&abort_hook, hook, __ATOMIC_RELEASE);
}

void bc_count(bc_count_t which)
{
    __atomic_fetch_add(&info_counts[which], 1, __ATOMIC_RELAXED);
}

uint64_t bc_count_get(bc_count_t which)
{
    return __atomic_load_n(&info_counts[which], __ATOMIC_RELAXED);
}

/* Count an event of KEY into its group, if it has one (events lock held). */
static bool count_into_group(const event_key_t *key, uint64_t bytes)
{
    event_group_t *g = NULL;
    HASH_FIND(hh, groups, key, sizeof *key, g);
    if (g) {
        g->finding.count++;
        g->finding.bytes += bytes;
    }
    return g != NULL;
}

void bc_event(bc_kind_t kind, bc_stacks_t by_role, const bc_sample_t *sample, uint64_t bytes,
              const char *fmt, ...)
{
    const bc_stack_id_t stacks[BC_ROLE_COUNT] = {
        [BC_ROLE_ALLOC] = by_role.alloc,
        [BC_ROLE_FREE] = by_role.free,
        [BC_ROLE_PREVIOUS_FREE] = by_role.previous_free,
        [BC_ROLE_ACCESS] = by_role.access,
    };
    BC_DCHECK(bc_shard_locks_held == 0 || bc_passing, "bc_event under a shard lock");
    bc_no_lock_held("bc_event");
    event_key_t key;
    memset(&key, 0, sizeof key);
    key.kind = kind;
    memcpy(key.stacks, stacks, sizeof key.stacks);

    pthread_mutex_lock(&events_lock);
    bool counted = count_into_group(&key, bytes);
    if (counted)
        kind_counts[kind]++;
    pthread_mutex_unlock(&events_lock);
    if (counted)
        return;
    /* A new group, made and formatted with no lock held. */
    event_group_t *g = calloc(1, sizeof *g);
    if (g) {
        g->key = key;
        g->finding.kind = kind;
        g->finding.count = 1;
        g->finding.bytes = bytes;
        memcpy(g->finding.stacks, stacks, sizeof g->finding.stacks);
        if (sample && sample->bytes)
            g->finding.sample_len = bc_sample_utf8(sample->raw, sample->bytes, sample->width,
                                                   g->finding.sample, sizeof g->finding.sample);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->finding.detail, sizeof g->finding.detail, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&events_lock);
    /* counted with its group in one step, so a report never sees a count
     * without its finding; another thread may have made the group meanwhile */
    kind_counts[kind]++;
    bool added = false;
    if (!count_into_group(&key, bytes)) {
        if (g) {
            g->order = group_count++;
            HASH_ADD(hh, groups, key, sizeof key, g);
            added = BC_HASH_ADDED(g);
        }
        if (!added)
            lost_events++;
    }
    bc_finding_t first;
    if (added)
        first = g->finding;
    pthread_mutex_unlock(&events_lock);
    if (!added) {
        free(g);
        return;
    }
    void (*hook)(const bc_finding_t *) = __atomic_load_n(&abort_hook, __ATOMIC_ACQUIRE);
    if (BC_UNLIKELY(bc_opt.abort_on_error) && hook)
        hook(&first); /* the report: does not return unless SIGABRT is handled */
}

void bc_events_foreach(void (*fn)(const bc_finding_t *, void *), void *arg)
{
    pthread_mutex_lock(&events_lock);
    for (event_group_t *g = groups; g; g = g->hh.next)
        fn(&g->finding, arg);
    pthread_mutex_unlock(&events_lock);
}

uint64_t bc_events_count(bc_kind_t kind)
{
    pthread_mutex_lock(&events_lock);
    uint64_t n = kind_counts[kind];
    pthread_mutex_unlock(&events_lock);
    return n;
}

void bc_events_lock(void)
{
    pthread_mutex_lock(&events_lock);
}

void bc_events_unlock(void)
{
    pthread_mutex_unlock(&events_lock);
}

void bc_events_child_after_fork(void)
{
    event_group_t *g, *tmp;
    HASH_ITER(hh, groups, g, tmp) {
        HASH_DELETE(hh, groups, g);
        free(g);
    }
    group_count = 0;
    lost_events = 0;
    memset(kind_counts, 0, sizeof kind_counts);
    events_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}
