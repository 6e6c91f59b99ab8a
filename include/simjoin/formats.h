/* formats.h - the pairs and clusters files (HDF5). Layouts in README.md. */
#ifndef SIMJOIN_FORMATS_H
#define SIMJOIN_FORMATS_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* One input file of a join (/inputs in pairs files, README "Pairs file"). */
typedef struct sj_join_input {
    char *path;        /* usable from the current directory; owned. On disk it is
                        * stored relative to the pairs file's directory */
    char role[8];      /* "corpus" or "queries" */
    int64_t size;      /* bytes of the file when the join read it; -1 unknown */
    int64_t mtime;     /* its modification time (s since 1970); -1 unknown */
    char checksum[65]; /* sj_hashes_checksum of the shard as read; "" unknown (old files) */
} sj_join_input;

/* SHA-256 (lower-case hex) of a set's /hashes bytes then its /ids (int64,
 * little-endian), rows in order: what a join saw of a shard. */
void sj_hashes_checksum(const sj_hashes *h, char out[65]);

/* Everything a join produced, as stored in a pairs file. Set up with
 * sj_join_result_init: the struct may gain fields (README "C library"). */
typedef struct sj_join_result {
    uint32_t struct_size; /* sizeof(sj_join_result), set by sj_join_result_init; reading or
                           * writing a pairs file with another size fails with SJ_ERR_ARG */
    sj_hash_type type;
    sj_metric metric;
    double threshold;
    char backend[32];     /* backend that ran (attribute only) */
    int64_t n_inputs;
    sj_join_input *inputs; /* [n_inputs] the input files; owned (sj_join_result_add_input).
                            * Old files: from their `inputs` attribute, unchecked */
    char part[32];        /* "i/N" for one part of a split join, "" for a whole one */
    char *sources;        /* the inputs' source names, newline-separated, any length;
                           * owned; NULL: none */
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
    int dihedral;         /* 1: a flip- and rotation-aware join; the file carries
                           * /pairs/transform (pairs.v[].transform) */
} sj_join_result;

void sj_join_result_init(sj_join_result *r); /* empty, with struct_size */
void sj_join_result_release(sj_join_result *r); /* frees arrays, keeps the struct */
/* Append an input (path and role copied; size, mtime -1 and checksum "" when unknown). */
sj_status sj_join_result_add_input(sj_join_result *r, const char *role, const char *path,
                                   int64_t size, int64_t mtime, const char *checksum);

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
 * clusters of at most max_size members, using the hashes in `set` (with
 * dihedral hashes: the dihedral distance, as in sj_cluster_options); sets
 * diameter_checked. */
sj_status sj_clusters_check_diameter(sj_clusters *c, const sj_hashes *set, sj_metric m,
                                     int64_t max_size);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
