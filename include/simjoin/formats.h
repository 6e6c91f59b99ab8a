/* formats.h - the pairs and clusters files (HDF5). Layouts in README.md. */
#ifndef SIMJOIN_FORMATS_H
#define SIMJOIN_FORMATS_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* Everything a join produced, as stored in a pairs file. */
typedef struct sj_join_result {
    sj_hash_type type;
    sj_metric metric;
    double threshold;
    char backend[32];     /* backend that ran (attribute only) */
    char inputs[4096];    /* input files, newline-separated (attribute only) */
    char part[32];        /* "i/N" for one part of a split join, "" for a whole one */
    char sources[4096];   /* the inputs' source names, newline-separated */
    int32_t *node_source; /* [n_nodes] index into sources, -1 unknown; owned; may be NULL */
    int32_t *excluded_source; /* [n_excluded], likewise */
    int cross_only;       /* 1: only pairs whose two sides come from different sources */
    sj_pairs pairs;       /* canonical: a < b, sorted by (a, b) */
    int64_t n_nodes;
    int64_t *nodes;       /* [n_nodes] ids that took part, sorted; owned */
    int64_t n_excluded;
    int64_t *excluded_id; /* [n_excluded] degenerate hashes, sorted; owned */
    uint8_t *excluded_rule; /* [n_excluded] sj_degenerate_rule; owned */
    struct sj_meta_table *meta; /* every hash's case metadata and new/corpus side
                                 * (simjoin/meta.h), or NULL; owned */
} sj_join_result;

void sj_join_result_init(sj_join_result *r);
void sj_join_result_release(sj_join_result *r); /* frees arrays, keeps the struct */

/* Write /pairs/{a,b,distance}, /nodes/id, /excluded/{id,rule} (temp + rename). */
sj_status sj_pairs_file_write(const char *path, const sj_join_result *r);
/* Read a pairs file; checks a < b and sorted order. r must be initialized. */
sj_status sj_pairs_file_read(const char *path, sj_join_result *r);

/* Write /clusters/{id,cluster}, /summary/..., /excluded/..., /quarantined/...
 * (temp + rename); with r->meta also /meta, /meta_index and /case_summary. Excluded hashes are listed in /clusters with cluster -1,
 * quarantined ones with -2. o: the linkage and guards used (NULL: none). */
sj_status sj_clusters_file_write(const char *path, const sj_clusters *c, const sj_join_result *r,
                                 const sj_cluster_options *o);

/* Compute true diameters (all pairs inside each cluster, metric m) for
 * clusters of at most max_size members, using the hashes in `set`; sets
 * diameter_checked. */
sj_status sj_clusters_check_diameter(sj_clusters *c, const sj_hashes *set, sj_metric m,
                                     int64_t max_size);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
