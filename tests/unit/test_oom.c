/* Out of memory inside the shim's hash tables never ends the program
 * (uthash's default is exit(-1)): an insert that cannot grow its table
 * fails cleanly, and everything already in it stays findable.
 *
 * The table's memory comes from mmap (its shards' arenas), so this program
 * replaces mmap. First it refuses only mappings under 64 KiB: the arena's
 * chunks (64 KiB and up) still come, so records do, but uthash's bucket
 * arrays of 4 KiB and more (256 buckets) do not. Then it refuses every
 * mapping to a shard that has none yet: no record at all. */
#include "hooks.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { REFUSE_NONE, REFUSE_SMALL, REFUSE_ALL };
static volatile int refuse_maps;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (refuse_maps == REFUSE_ALL || (refuse_maps == REFUSE_SMALL && len < (64u << 10))) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

#define TRIES 4000

static bc_record_t *find(uintptr_t p)
{
    bc_record_t *rec;
    bc_shard_t *shard = bc_table_lock_find(p, &rec);
    bc_table_unlock(shard);
    return rec;
}

/* The next fake BSTR address (never read) from *CANDIDATE on that goes to
 * TARGET (NULL: any other shard than AVOID), with that shard locked. */
static bc_shard_t *lock_next(bc_shard_t *target, bc_shard_t *avoid, uintptr_t *candidate)
{
    for (;; *candidate += 16) {
        bc_shard_t *shard = bc_table_lock_home(*candidate);
        if (target ? shard == target : shard != avoid)
            return shard;
        bc_table_unlock(shard);
    }
}

static bool insert_refusing(bc_shard_t *shard, uintptr_t bstr, int refuse)
{
    refuse_maps = refuse;
    bool ok = bc_shard_insert(shard, bstr, 8, 0, BC_RUNTIME_OWN) != NULL;
    refuse_maps = REFUSE_NONE;
    bc_table_unlock(shard);
    return ok;
}

int main(void)
{
    tap_plan(8);
    bc_options_parse("quarantine_kb=0");
    bc_table_init();

    /* All in one shard, so that its table must grow; the first insert
     * maps its first chunk. */
    static uintptr_t addr[TRIES];
    static bool inserted[TRIES];
    uintptr_t candidate = 0x100000000ull;
    bc_shard_t *target = bc_table_lock_home(candidate);
    bc_table_unlock(target);
    unsigned ok = 0, refused = 0;
    for (unsigned i = 0; i < TRIES; i++) {
        bc_shard_t *shard = lock_next(target, NULL, &candidate);
        addr[i] = candidate;
        candidate += 16;
        inserted[i] = insert_refusing(shard, addr[i], i > 0 ? REFUSE_SMALL : REFUSE_NONE);
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

    /* A shard that cannot map its first chunk has no record to give. */
    unsigned refused_all = 0;
    uintptr_t elsewhere = candidate;
    bc_shard_t *other = lock_next(NULL, target, &elsewhere);
    bc_table_unlock(other);
    for (unsigned i = 0; i < 100; i++, elsewhere += 16)
        refused_all += !insert_refusing(lock_next(other, NULL, &elsewhere), elsewhere,
                                        REFUSE_ALL);
    tap_is_uint(refused_all, 100, "a shard with no memory refuses every insert");

    /* With memory back, inserts work again. */
    uintptr_t later = candidate + 16;
    bool again = insert_refusing(lock_next(target, NULL, &later), later, REFUSE_NONE);
    bool again_other = insert_refusing(lock_next(other, NULL, &elsewhere), elsewhere,
                                       REFUSE_NONE);
    tap_ok(again && find(later) && again_other && find(elsewhere),
           "inserts succeed once memory is back");

    return tap_done();
}
