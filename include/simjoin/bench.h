/* bench.h - `simjoin bench` as a library call: every backend and ISA path on
 * one generated join, timed side by side, with agreement checks (each path's
 * pairs equal the first path's; a slice of the queries equals the naive
 * reference loop). The library measures; the caller prints. */
#ifndef SIMJOIN_BENCH_H
#define SIMJOIN_BENCH_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

#define SJ_BENCH_MAX_RUNS 32

/* One path's figures. */
typedef struct sj_bench_run {
    char name[48];           /* "cpu/avx2", "cuda/v3", "faiss" */
    int cpu, cuda;           /* the backend it ran on */
    char skipped[160];       /* non-empty: the path did not run, and why (the rest is unset) */
    char error[512];         /* non-empty: the join failed with this message; not counted */
    double seconds;          /* best of the repeats */
    double rate;             /* comparisons per second */
    int64_t pairs;
    int agrees;              /* 1: the same pairs as the first path that ran */
    double dihedral_seconds; /* with dihedral: the same join over 8 transforms (1e300: none) */
    int64_t dihedral_pairs;
    char dihedral_error[512]; /* non-empty: the dihedral join failed or missed pairs */
} sj_bench_run;

typedef struct sj_bench_result sj_bench_result;

/* Set up with sj_bench_options_init (README "C library": struct_size). */
typedef struct sj_bench_options {
    uint32_t struct_size;
    sj_hash_type type;        /* default pdq */
    sj_metric metric;         /* DEFAULT: the kind's */
    int64_t corpus, queries;  /* default 1000000 and 10000 */
    double threshold;         /* NaN (default): the one the generator places series around */
    int threads;              /* 0: all */
    uint64_t seed;            /* default 7 */
    int64_t naive_queries;    /* queries checked against the naive loop, default 20 */
    int repeat;               /* best of, default 1 */
    double series_fraction;   /* share of the data in near-duplicate series; < 0: gen's */
    const char *backends;     /* "cpu,faiss,cuda"; NULL: cpu and faiss when built */
    const char *isas;         /* cpu paths; NULL: every supported one */
    const char *kernels;      /* cuda kernels; NULL: "v1,v2,v3" */
    const char *gpus;         /* cuda devices ("0,1"); NULL: all */
    int dihedral;             /* binary kinds: also time each path with dihedral queries */
    /* optional, called from the calling thread: on_ready once the data is
     * made (res->threshold and res->metric set), on_run after each path */
    void (*on_ready)(void *user, const sj_bench_result *res);
    void (*on_run)(void *user, const sj_bench_run *run);
    void *user;
} sj_bench_options;

struct sj_bench_result {
    double threshold;         /* as used */
    sj_metric metric;         /* as resolved */
    int n_runs;               /* paths that ran (skipped and failed ones are not kept) */
    sj_bench_run runs[SJ_BENCH_MAX_RUNS];
    double faiss_rate;        /* 0: faiss did not run */
    double naive_rate;        /* comparisons per second of the naive loop; 0: not run */
    double naive_seconds;
    int64_t naive_queries;
    int naive_ok;             /* the naive slice equals the first path's pairs (1 when not run) */
    int disagree;             /* some path's pairs differ from the first's, or a dihedral join failed */
};

void sj_bench_options_init(sj_bench_options *o);
/* Generate the data, run every path, check agreement. SJ_OK also when paths
 * disagree (res->disagree, res->naive_ok say so); a failure of one path is in
 * its run's error and the others still run. */
sj_status sj_bench_run_all(const sj_bench_options *o, sj_bench_result *res);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SIMJOIN_BENCH_H */
