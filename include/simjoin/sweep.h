/* sweep.h - one join, every threshold: cluster figures and, given ground
 * truth, clustering quality, for each threshold at or below the join's. */
#ifndef SIMJOIN_SWEEP_H
#define SIMJOIN_SWEEP_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* Cluster-size classes reported per threshold (singletons counted apart). */
#define SJ_SWEEP_SIZE_CLASSES 6
extern const char *const sj_sweep_size_class_names[SJ_SWEEP_SIZE_CLASSES];
/* "2", "3-5", "6-10", "11-100", "101-1000", ">1000" */

typedef struct sj_sweep_row {
    double threshold;
    int64_t pairs;        /* pairs with distance <= threshold (before guards) */
    int64_t clusters;     /* including singletons */
    int64_t singletons;
    int64_t largest;
    int64_t quarantined;  /* hashes held out by the match-cap guards */
    int64_t size_classes[SJ_SWEEP_SIZE_CLASSES]; /* clusters per size class */
    /* Against ground truth (NaN without labels). Pairwise: over all pairs
     * of hashes placed in one cluster. B-cubed: averaged over hashes. */
    double precision, recall, f1;
    double b3_precision, b3_recall;
    double ari;           /* adjusted Rand index */
    /* Recall over the hashes that were compared (the sweep's ids). The CLI
     * scores the others over every labelled hash of the join, excluded
     * ones as missed; here it equals recall. */
    double recall_compared;
} sj_sweep_row;

typedef struct sj_sweep {
    int n_rows;
    sj_sweep_row *rows;      /* [n_rows], thresholds ascending; owned */
    double max_distance;
    /* Distance histogram: bin k counts pairs with hist_lo + k*hist_width <= d
     * < hist_lo + (k+1)*hist_width (the last bin includes its top). Integral
     * metrics: one bin per distance 0..max_distance. */
    int n_hist;
    double hist_lo, hist_width;
    int64_t *histogram;      /* [n_hist]; owned */
    int has_labels;
    int incremental;         /* 1: one Kruskal pass; 0: clustered per threshold */
} sj_sweep;

/* ids[n]: every node (any order, unique); labels[n]: ground-truth series
 * aligned with ids, -1 for none (each such hash is its own class), or NULL.
 * thresholds[n_thr]: any order, each <= the join's threshold. With the
 * default options the sweep is one pass over the pairs sorted by distance
 * with incremental union-find (and incremental label counts); linkage other
 * than components, or a match cap, clusters anew at each threshold. */
sj_status sj_sweep_run(const int64_t *ids, int64_t n, const int64_t *labels, const sj_pairs *pairs,
                       const double *thresholds, int n_thr, const sj_cluster_options *o,
                       sj_sweep **out);
void sj_sweep_free(sj_sweep *s);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
