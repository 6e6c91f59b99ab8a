/* state.h - the nightly state directory and its manifest.
 *
 *   DIR/manifest                 the committed generation (replaced atomically)
 *   DIR/shards/gNNNNNN-K.h5      corpus shards added by generation N
 *   DIR/clusters/gNNNNNN.h5      cluster state after generation N (stable ids)
 *   DIR/reports/gNNNNNN.json|csv the report of the run that made generation N
 *
 * The manifest is text, one record per line:
 *   simjoin-state 2       (1: written before the checksum line existed)
 *   generation N
 *   kind pdq|bits:B
 *   threshold T
 *   next_cluster C
 *   file PATH SHA256      (every file of the committed state, paths relative to DIR)
 *   batch SHA256 N        (an input batch and the generation it made)
 *   checksum SHA256       (of every line above; the last line; version 2)
 * Reading checks the manifest against itself: the checksum, a generation
 * >= 0, every file named by a generation no newer than the manifest's, the
 * cluster state and the last batch of its generation. A hand-edited or
 * damaged manifest is refused by every command, before anything is removed.
 * A run writes every file of generation N+1 first, then commits by writing
 * the manifest to a temporary name, fsync, rename, fsync of the directory.
 * Files of a committed generation are never changed. */
#ifndef SIMJOIN_STATE_H
#define SIMJOIN_STATE_H

#include "core/internal.h"

typedef struct sj_state_file {
    char path[256];
    char sha[65];
} sj_state_file;

typedef struct sj_state_batch {
    char sha[65];
    int64_t generation;
} sj_state_batch;

typedef struct sj_manifest {
    int64_t generation;
    sj_hash_type type;
    int32_t threshold;
    int64_t next_cluster;
    int64_t n_files, cap_files;
    sj_state_file *files;
    int64_t n_batches, cap_batches;
    sj_state_batch *batches;
} sj_manifest;

sj_status sj_manifest_read(const char *dir, sj_manifest *m);
/* Commit m as DIR/manifest: temp file, fsync, rename, fsync DIR. */
sj_status sj_manifest_commit(const char *dir, const sj_manifest *m);
void sj_manifest_free(sj_manifest *m);
/* List DIR/rel_path with its checksum (computed now), or with a known one. */
sj_status sj_manifest_add_file(sj_manifest *m, const char *dir, const char *rel_path);
sj_status sj_manifest_add_entry(sj_manifest *m, const char *rel_path, const char *sha);
sj_status sj_manifest_add_batch(sj_manifest *m, const char *sha, int64_t generation);
/* Check every file's checksum; the first mismatch or unreadable file is an
 * error naming it. */
sj_status sj_manifest_verify(const char *dir, const sj_manifest *m);
/* The generation in a state file's exact name (shards/gNNNNNN-K.h5,
 * clusters/gNNNNNN.h5, reports/gNNNNNN.json|csv), or -1. */
int64_t sj_state_name_generation(const char *rel);
/* The generation that committed batch sha, or -1. */
int64_t sj_manifest_find_batch(const sj_manifest *m, const char *sha);
/* Hashes in the state's corpus shards (shards/, from their headers; a shard
 * that cannot be read counts 0). */
int64_t sj_manifest_corpus_hashes(const char *dir, const sj_manifest *m);


#endif
