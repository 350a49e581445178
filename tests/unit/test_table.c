/* The sharded allocation table and its quarantine. bc_table_init() reads
 * bc_opt.quarantine_kb and may run only once per process, so the scenario
 * is chosen by argv[1]:
 *   default  quarantine_kb=1024 (the default): insert, find, counts,
 *            retire keeps the record, foreach, sequence numbers
 *   zero     quarantine_kb=0: a retired record is gone at once
 *   small    quarantine_kb=4 (64 bytes per shard): FIFO eviction */
#include "bc.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MANY 1000

static bc_record_t *find(uintptr_t p)
{
    bc_shard_t *shard = bc_table_lock(p);
    bc_record_t *rec = bc_shard_find(shard, p);
    bc_table_unlock(shard);
    return rec;
}

static bool insert(bc_bstr_t p, uint32_t bytes, bc_stack_id_t stack)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)p);
    bool ok = bc_shard_insert(shard, (uintptr_t)p, bytes, stack);
    bc_table_unlock(shard);
    return ok;
}

/* Retire P's record; false when it was not in the table. */
static bool retire(bc_bstr_t p, bc_stack_id_t stack)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)p);
    bc_record_t *rec = bc_shard_find(shard, (uintptr_t)p);
    if (rec)
        bc_shard_retire(shard, rec, stack);
    bc_table_unlock(shard);
    return rec != NULL;
}

static bc_shard_t *shard_of(bc_bstr_t p)
{
    bc_shard_t *shard = bc_table_lock((uintptr_t)p);
    bc_table_unlock(shard);
    return shard;
}

static int cmp_uintptr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

typedef struct visit {
    uintptr_t *live; /* sorted */
    size_t nlive;
    unsigned *seen;  /* per live pointer */
    size_t live_visits, freed_visits, unknown_live, bad_state;
} visit_t;

static void visit_record(const bc_record_t *rec, void *arg)
{
    visit_t *v = arg;
    if (rec->state == BC_FREED) {
        v->freed_visits++;
        return;
    }
    if (rec->state != BC_LIVE) {
        v->bad_state++;
        return;
    }
    v->live_visits++;
    uintptr_t *hit = bsearch(&rec->bstr, v->live, v->nlive, sizeof *v->live, cmp_uintptr);
    if (hit)
        v->seen[hit - v->live]++;
    else
        v->unknown_live++;
}

static int scenario_default(void)
{
    tap_plan(30);
    static const char16_t_dummy_unused = 0;
    (void)0;
    return 0;
}
