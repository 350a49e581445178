/* uthash as the shim uses it: its tables' memory is released with
 * bc_internal_free (never through the shim's own free() wrapper), and out
 * of memory inside uthash must not end the program (its default is
 * exit(-1)): the item is not added, and HASH_ADD leaves its hh.tbl NULL,
 * which every caller checks with BC_HASH_ADDED. (table.c redefines
 * uthash_malloc and uthash_free for its own tables: no allocator call under
 * a shard lock.) */
#ifndef BC_HASH_H
#define BC_HASH_H

#include "platform.h"

#define uthash_free(ptr, sz) bc_internal_free(ptr)
#define HASH_NONFATAL_OOM 1
#include <uthash.h>
#define BC_HASH_ADDED(item) ((item)->hh.tbl != NULL)

#endif /* BC_HASH_H */
