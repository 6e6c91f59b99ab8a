/* limits.h - the pair limit a join runs under, and its message (limits.c). */
#ifndef SIMJOIN_JOIN_LIMITS_H
#define SIMJOIN_JOIN_LIMITS_H

#include "core/internal.h"

/* The pair limit in force (from --max-pairs, --max-memory or the machine). */
typedef struct sj_pair_limit {
    int64_t max_pairs; /* the pair limit in force; 0: none */
    char why[512];     /* which limit it is and its value, for the message */
} sj_pair_limit;
/* The default limits (sj_default_limits) for an output at out_path: the machine
 * as detected, or as SIMJOIN_MEMORY_AVAILABLE / SIMJOIN_DISK_FREE (sizes) say. */
sj_status sj_pair_limit_default(const char *out_path, int64_t input_bytes, int64_t memory_per_pair,
                             int64_t disk_per_pair, sj_pair_limit *l);
/* SJ_ERR_LIMIT: "CMD: more than N pairs, WHY; nothing was written. HOW" (how
 * to raise the limit). */
sj_status sj_pair_limit_exceeded(const char *cmd, const sj_pair_limit *l, const char *how);

/* Memory a join's pairs take at their peak, per pair: the pair (sj_pair,
 * 32 bytes) and its copy in the radix sort's scratch (sj_pairs_sort); the
 * writer streams the columns out in pieces. (The scheduler's hits, 24 bytes,
 * are freed before the sort: 24 + 32 while they become pairs.) */
#define SJ_PAIR_PEAK_BYTES (2 * (int64_t)sizeof(sj_pair))
/* Disk a spilled join's pairs take at their peak, per pair: the sorted runs
 * (32 bytes) and the journal (32 bytes and its records' headers) are still
 * there when the output (a, b, distance and transform: up to 25 bytes) is
 * complete; rounded up for the merge passes' extra run. */
#define SJ_SPILL_DISK_PER_PAIR 112

/* How a join under --max-memory shares it, after the inputs (input_bytes):
 * a quarter for the backend's corpus chunks, the rest for the pairs held
 * before a sorted run is written (with the sort's scratch: SJ_PAIR_PEAK_BYTES
 * each); the merge's read buffers take half of it once the join is done.
 * pairs_in_memory: the pairs that fit when they are not spilled (the whole
 * rest is theirs once the backend has closed). */
typedef struct sj_memory_plan {
    int64_t backend_bytes;   /* sj_join_config.max_memory */
    int64_t run_pairs;       /* sj_pair_spill_options.run_pairs */
    int64_t merge_bytes;     /* sj_pair_spill_options.merge_bytes */
    int64_t pairs_in_memory; /* the pair cap without spilling */
} sj_memory_plan;
sj_status sj_memory_plan_make(int64_t max_memory, int64_t input_bytes, sj_memory_plan *p);

/* The memory a join may use when no limit is given: 3/4 of the memory
 * available (as sj_default_limits; SIMJOIN_MEMORY_AVAILABLE overrides what is
 * detected), -1 when unknown. */
sj_status sj_memory_budget_default(const char *out_path, int64_t *budget);

/* The pair limit of a join whose pairs are spilled to disk beside out_path:
 * those that fit in 9/10 of the free disk there (SIMJOIN_DISK_FREE overrides
 * it), SJ_SPILL_DISK_PER_PAIR bytes each; max_pairs 0 when unknown. */
sj_status sj_pair_limit_spill(const char *out_path, sj_pair_limit *l);

#endif
