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

/* ---- the table of `simjoin sweep`: a pairs file, several linkages ------ */

#define SJ_SWEEP_MAX_LINKAGES 8

/* One linkage's sweep and its marked thresholds (row index, -1 none). */
typedef struct sj_sweep_linkage {
    char linkage[64];     /* the linkage as text ("components", "core:3") */
    sj_cluster_options o; /* the linkage and guards */
    sj_sweep *sw;         /* owned by the table */
    int best_f1;          /* highest F1 over all labelled hashes; ties: the lower threshold */
    int largest_jump;     /* where the largest cluster grows by the most hashes over the
                           * previous threshold while at least doubling; ties: the lower */
} sj_sweep_linkage;

typedef struct sj_sweep_table {
    int n_runs;
    sj_sweep_linkage runs[SJ_SWEEP_MAX_LINKAGES];
    double join_threshold;
    int64_t n_pairs, n_hashes;          /* of the join */
    int has_labels;
    int64_t labelled;                   /* labelled hashes of the join (compared and excluded) */
    int64_t excluded_labelled;          /* of them, excluded as degenerate (scored as missed) */
} sj_sweep_table;

/* Set up with sj_sweep_table_options_init (README "C library": struct_size). */
typedef struct sj_sweep_table_options {
    uint32_t struct_size;
    const char *pairs_path;                 /* the join's pairs file */
    const double *thresholds;               /* [n_thr], each <= the join's threshold */
    int n_thr;
    const sj_cluster_options *linkages;     /* [n_linkages], 1..SJ_SWEEP_MAX_LINKAGES */
    int n_linkages;
    const char *const *label_paths;         /* shards with /labels; 0: the join's inputs' */
    int n_label;
    const char *const *hash_paths;          /* complete linkage: the hashes; 0: the inputs */
    int n_hash;
    const char *const *outputs;             /* files the caller will write: refused when
                                             * one is an input shard of the join */
    int n_outputs;
} sj_sweep_table_options;

void sj_sweep_table_options_init(sj_sweep_table_options *o);
/* Every linkage swept over the join of o->pairs_path; with labels (at least
 * half of the join's hashes labelled, else SJ_ERR_MISMATCH) the quality
 * columns count every labelled hash, excluded ones as missed (recall_compared:
 * the compared ones only). *out owned by the caller: sj_sweep_table_free. */
sj_status sj_sweep_table_run(const sj_sweep_table_options *o, sj_sweep_table **out);
void sj_sweep_table_free(sj_sweep_table *t);
/* Write t as JSON (json = 1: one object, README "simjoin sweep") or CSV, with
 * the histogram in sj_sweep_histogram_path(path) beside a CSV file ("-":
 * stdout, no histogram). Temp file + rename. */
sj_status sj_sweep_table_write(const sj_sweep_table *t, const char *path, int json);
/* F.csv -> F.histogram.csv */
void sj_sweep_histogram_path(const char *out, char *buf, size_t size);
/* A metric as the tables print it: "%.6f", or "" for NaN (no value). */
void sj_sweep_metric_text(double v, char *buf, size_t size);
/* "best_f1", "largest_jump", both joined by '|', or "" for row i of run. */
const char *sj_sweep_row_mark(const sj_sweep_linkage *run, int i);
/* "LO:HI:STEP" (inclusive, thresholds rounded to 12 significant digits) or
 * "T,T,...": *out (caller frees) gets *n thresholds; SJ_ERR_ARG when bad. */
sj_status sj_sweep_thresholds_parse(const char *text, double **out, int *n);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
