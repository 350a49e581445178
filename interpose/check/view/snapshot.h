/* check/snapshot.h: the one read-only view of the core that the cold path
 * (report/) takes. A consistent copy of every record, the findings and
 * counts, the stacks behind the ids: report/ includes this header and
 * base's, never the table, the runtimes or the stack machinery. */
#ifndef BC_SNAPSHOT_H
#define BC_SNAPSHOT_H

#include "state.h"

/* ---- findings ---- */
/* One finding: a group of identical events (same kind and stacks). */
typedef struct bc_finding {
    bc_kind_t kind;
    uint64_t count;
    uint64_t bytes;
    bc_stack_id_t stacks[BC_ROLE_COUNT];
    char sample[BC_SAMPLE_MAX]; /* UTF-8, unescaped, may hold NULs */
    uint32_t sample_len;        /* 0: no sample */
    char detail[BC_DETAIL_MAX];
} bc_finding_t;

/* The first characters of a live string, copied while its record was
 * locked: enough for BC_SAMPLE_CHARS characters and the "..." test. */
typedef struct bc_sample {
    unsigned char raw[(2 * BC_SAMPLE_CHARS + 2) * 4];
    uint32_t bytes; /* 0: no sample */
    unsigned width;
} bc_sample_t;

/* ---- records ---- */
/* A record as the report sees it (32 bytes). */
typedef struct bc_record_view {
    uintptr_t bstr;
    uint64_t seq;
    uint32_t bytes;
    bc_stack_id_t alloc_stack, free_stack;
    uint8_t state, flags; /* BC_LIVE or BC_FREED; flags: runtime index in the high 4 bits */
} bc_record_view_t;
#define BC_VIEW_ORPHAN(v) (((v)->flags >> 4) == 15) /* its runtime was unloaded */
/* A live BSTR a signal handler made (check/side.c): own memory, always
 * readable, so its sample comes with it. */
typedef struct bc_side_view {
    bc_record_view_t view;
    bc_sample_t sample;
} bc_side_view_t;
typedef struct bc_snapshot {
    bc_record_view_t *records;
    size_t count;
    bc_counts_t counts;      /* the table's counts at the same moment */
    bc_side_view_t *side;    /* the side table's live BSTRs (with_side) */
    size_t side_count;
    bc_counts_t side_counts;
} bc_snapshot_t;
/* Copy the table, taken with no allocation under a lock, and WITH_SIDE the
 * side table's live BSTRs. False when out of memory: S then holds only the
 * counts. */
bool bc_snapshot_take(bc_snapshot_t *s, bool with_side);
void bc_snapshot_free(bc_snapshot_t *s);
/* The sample of V's BSTR, read under its shard lock if it is still that
 * very BSTR and live; false otherwise. */
bool bc_snapshot_sample(const bc_record_view_t *v, bc_sample_t *out);
/* The first ordinal this process allocated itself: 1, or in a forked child
 * the ordinal at fork. Older records are the parent's, never our leaks. */
uint64_t bc_snapshot_first_own_seq(void);

/* What the table knows of address P (bstrcheck_describe). */
typedef struct bc_found {
    int match;            /* 0 none, 1 inside a freed BSTR, 2 inside a live one, 3 exact */
    bc_record_view_t rec; /* the BSTR */
    uintptr_t lo, hi;     /* its block */
    uint16_t pins;
    bool free_pending;    /* freed while pinned */
    unsigned width;
    const char *runtime;  /* the module of its runtime; "" own, NULL an orphan's */
    char sample[BC_SAMPLE_MAX];
    uint32_t sample_len;
} bc_found_t;
/* The best match for P (out->match 0: none; false: the table could not be
 * searched). */
bool bc_snapshot_find(uintptr_t p, bc_found_t *out);
/* The byte length of a BSTR a signal handler made (false: not one). */
bool bc_snapshot_side_len(uintptr_t bstr, uint32_t *bytes);

/* ---- stacks ---- */
/* The frames behind ID; nframes == 0 for id 0 or an unknown id. */
bc_stack_t bc_snapshot_stack(bc_stack_id_t id);
/* How many stacks are stored (ids run from 1 to it). */
uint32_t bc_snapshot_stacks(void);

/* ---- findings ---- */
/* Visit every error finding recorded so far. */
void bc_events_foreach(void (*fn)(const bc_finding_t *, void *), void *arg);
uint64_t bc_events_count(bc_kind_t kind);
/* Informational counts, not findings. */
typedef enum {
    BC_COUNT_UNTRACKED_FREES,
    BC_COUNT_RELEASED_BY_FREE,
    BC_COUNT_INJECTED_FAILURES,
    BC_COUNT_KINDS
} bc_count_t;
uint64_t bc_count_get(bc_count_t which);
/* "forward" once any call was forwarded, else "own". */
const char *bc_snapshot_mode(void);

/* ---- before a report ---- */
/* Do the frees that signal handlers left for later; with AUDIT, check
 * every record for damage (overflow, prefix, writes after free), which
 * records findings. */
void bc_core_settle(bool audit);
/* At exit: one warning each for lost deferred frees and unchecked calls. */
void bc_core_warn_at_exit(void);

#endif /* BC_SNAPSHOT_H */
