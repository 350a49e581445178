/* Out of memory inside the shim's hash tables never ends the program
 * (uthash's default is exit(-1)): an insert that cannot grow its table
 * fails cleanly, and everything already in it stays findable.
 *
 * This program replaces malloc and calloc: while `refuse_buckets` is set,
 * requests of exactly 1024 or 2048 bytes get NULL: the bucket arrays
 * uthash allocates to grow a table from 32 to 64 and from 64 to 128
 * buckets. Records come from slabs of another size. Under
 * AddressSanitizer, whose own malloc cannot be replaced, it is skipped. */
#include "hooks.h"
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

static volatile bool refuse_buckets;

static bool refused(size_t size)
{
    return refuse_buckets && (size == 1024 || size == 2048);
}

void *malloc(size_t size)
{
    return refused(size) ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return refused(n * size) ? NULL : __libc_calloc(n, size);
}

#define TRIES 4000

static bc_record_t *find(uintptr_t p)
{
    bc_record_t *rec;
    bc_shard_t *shard = bc_table_lock_find(p, &rec);
    bc_table_unlock(shard);
    return rec;
}

int main(void)
{
    tap_plan(7);
    bc_options_parse("quarantine_kb=0");
    bc_table_init(&bc_track_table_policy);

    /* Fake BSTR addresses (never read), all in one shard so that its table
     * must grow. */
    static uintptr_t addr[TRIES];
    static bool inserted[TRIES];
    uintptr_t candidate = 0x100000000ull;
    bc_shard_t *target = bc_table_lock_home(candidate);
    bc_table_unlock(target);
    unsigned ok = 0, refused = 0;
    for (unsigned i = 0; i < TRIES; i++) {
        bc_shard_t *shard;
        for (;; candidate += 16) {
            shard = bc_table_lock_home(candidate);
            if (shard == target)
                break;
            bc_table_unlock(shard);
        }
        addr[i] = candidate;
        candidate += 16;
        refuse_buckets = true;
        inserted[i] = bc_shard_insert(shard, addr[i], 8, 0, BC_RUNTIME_OWN);
        refuse_buckets = false;
        bc_table_unlock(shard);
        ok += inserted[i];
        refused += !inserted[i];
    }

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
    bc_shard_t *shard = bc_table_lock_home(later);
    bool again = bc_shard_insert(shard, later, 8, 0, BC_RUNTIME_OWN);
    bc_table_unlock(shard);
    tap_ok(again && find(later), "inserts succeed once memory is back");

    return tap_done();
}
#endif
