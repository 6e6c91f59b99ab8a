/* gen.h - synthetic hash sets with ground truth, for tests and benchmarks. */
#ifndef SIMJOIN_GEN_H
#define SIMJOIN_GEN_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

typedef struct sj_gen_options {
    sj_hash_type type;
    int64_t n;                  /* hashes to make */
    uint64_t seed;              /* same seed, same options: same bytes */
    int64_t first_id;           /* ids are first_id .. first_id+n-1 in row order */
    double series_fraction;     /* share of rows in near-duplicate series (0.3) */
    double chain_fraction;      /* share of series that are random-walk chains (0.1) */
    double degenerate_fraction; /* share of rows that are degenerate (0.001) */
    double power_alpha;         /* series size ~ size^-alpha, size >= 2 (2.2) */
    int64_t max_series;         /* largest series (1000) */
    double threshold;           /* the match threshold spreads are placed around
                                 * (31 for pdq, 31*bits/256 for bits:N, 100*D for
                                 * photodna and u8:D (l2sq), 0.05 for f32:D (cosine)) */
    double low_quality_fraction; /* 0 (default): no /quality. Else every hash gets a quality:
                                  * this share of series and of background images are smooth,
                                  * base quality 10..49; the others 100 (70%) or 50..99; a
                                  * member is its series' base +-5 (clipped to 0..100). The
                                  * hashes are the same bytes as without qualities. */
} sj_gen_options;

void sj_gen_defaults(sj_hash_type type, int64_t n, uint64_t seed, sj_gen_options *out);

/* Make the set; rows shuffled; /labels = series number, -1 for background
 * and degenerate rows. *out owned by caller. Multi-threaded. */
sj_status sj_gen(const sj_gen_options *opt, sj_hashes **out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
