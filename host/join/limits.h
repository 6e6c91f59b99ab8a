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

#endif
