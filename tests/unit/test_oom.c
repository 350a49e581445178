/* Out of memory inside the shim's hash tables never ends the program
 * (uthash's default is exit(-1)): an insert that cannot grow its table
 * fails cleanly, and everything already in it stays findable.
 *
 * This program replaces malloc and calloc: while `refuse_from` is set,
 * every request of that many bytes or more gets NULL. uthash's bucket
 * arrays are such requests (512 bytes and up); records are not. Under
 * AddressSanitizer, whose own malloc cannot be replaced, it is skipped. */
#include "bc.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
int main(void)
{
    printf("1..0 # SKIP AddressSanitizer owns malloc: it cannot be made to fail here\n");
    return 0;
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);

static volatile size_t refuse_from;

void *malloc(size_t size)
{
    if (refuse_from && size >= refuse_from)
        return NULL;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    if (refuse_from && n * size >= refuse_from)
        return NULL;
    return __libc_calloc(n, size);
}

#define TRIES 4000

static bc_record_t *find(uintptr_t p)
{
    bc_shard_t *shard = bc_table_lock(p);
    bc_record_t *rec = bc_shard_find(shard, p);
    bc_table_unlock(shard);
    return rec;
}

int main(void)
{
    tap_plan(11);
    bc_options_parse("quarantine_kb=0");
    bc_table_init();

    /* Fake BSTR addresses (never read), all in one shard so that its table
     * must grow; the first ones go in with memory to spare. */
    static uintptr_t addr[TRIES];
    static bool inserted[TRIES];
    uintptr_t candidate = 0x100000000ull;
    bc_shard_t *target = bc_table_lock(candidate);
    bc_table_unlock(target);
    unsigned ok = 0, refused = 0;
    for (unsigned i = 0; i < TRIES; i++) {
        bc_shard_t *shard;
        for (;; candidate += 16) {
            shard = bc_table_lock(candidate);
            if (shard == target)
                break;
            bc_table_unlock(shard);
        }
        addr[i] = candidate;
        candidate += 16;
        refuse_from = i < 100 ? 0 : 512;
        inserted[i] = bc_shard_insert(shard, addr[i], 8, 0, BC_RUNTIME_OWN);
        refuse_from = 0;
        bc_table_unlock(shard);
        ok += inserted[i];
        refused += !inserted[i];
    }
    refuse_from = 0;
    tap_ok(true, "still running: no exit() when a table cannot grow");
    tap_ok(refused > 0, "some inserts were refused (%u of %d)", refused, TRIES);
    tap_ok(ok > 0, "the others went in (%u)", ok);

    unsigned found = 0, phantom = 0;
    for (unsigned i = 0; i < TRIES; i++) {
        bool there = find(addr[i]) != NULL;
        found += inserted[i] && there;
        phantom += !inserted[i] && there;
    }
    tap_is_uint(found, ok, "every accepted record is findable");
    tap_is_uint(phantom, 0, "no refused record is in the table");
    tap_is_uint(bc_table_counts().allocations, ok, "only accepted records are counted");

    /* With memory back, inserts work again. */
    uintptr_t later = candidate + 16;
    bc_shard_t *shard = bc_table_lock(later);
    bool again = bc_shard_insert(shard, later, 8, 0, BC_RUNTIME_OWN);
    bc_table_unlock(shard);
    tap_ok(again && find(later), "inserts succeed once memory is back");

    /* The depot: a stack that cannot be stored gets id 0 (unknown). */
    uintptr_t frame = 0x1000;
    tap_ok(bc_depot_put(&frame, 1) != 0, "the depot stores a stack");
    unsigned zero = 0, intact = 0, wrong = 0;
    refuse_from = 512;
    for (unsigned i = 1; i < TRIES; i++) {
        frame = 0x1000 + 16u * i;
        bc_stack_id_t id = bc_depot_put(&frame, 1);
        bc_stack_t st = bc_depot_get(id);
        zero += id == 0;
        intact += id != 0 && st.nframes == 1 && st.frames[0] == frame;
        wrong += id != 0 && !(st.nframes == 1 && st.frames[0] == frame);
    }
    refuse_from = 0;
    tap_ok(zero > 0, "stacks the depot could not store got id 0 (%u)", zero);
    tap_ok(intact > 0, "the others were stored (%u)", intact);
    tap_is_uint(wrong, 0, "every id reads back its own frames");
    return tap_done();
}
#endif
