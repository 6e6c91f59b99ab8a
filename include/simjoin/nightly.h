/* nightly.h - one night's uploads against a state directory (what `simjoin
 * nightly` runs): new x corpus and new x new are joined, the clusters are
 * updated with stable ids, the uploads become corpus shards, a report is
 * written, and the whole is committed by replacing DIR/manifest atomically.
 * A run stopped at any point leaves the previous generation or the new one;
 * a batch already committed is recognised and nothing is done.
 *
 * The state directory (README "Nightly state"; `simjoin state init` makes an
 * empty one):
 *   DIR/manifest                 the committed generation (replaced atomically)
 *   DIR/shards/gNNNNNN-K.h5      corpus shards added by generation N
 *   DIR/clusters/gNNNNNN.h5      cluster state after generation N
 *   DIR/reports/gNNNNNN.json|csv the report of the run that made generation N
 *
 * Stable cluster ids: a cluster keeps its id as it grows. When new matches
 * merge clusters, the result takes the smallest of their ids (the others are
 * retired and listed in the report as merges). A cluster of new hashes only
 * gets the next unused id, in the order of the clusters' smallest member
 * ids. Ids are never reused.
 *
 * The library never prints: what a person should be told comes back through
 * the notice callback (while running) and in the result (at the end). */
#ifndef SIMJOIN_NIGHTLY_H
#define SIMJOIN_NIGHTLY_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* How much a notice matters: an informational line (the CLI's --quiet drops
 * it), or a warning (always shown: the batch was committed, but not all of
 * it is in the clusters). */
typedef enum sj_nightly_notice_level {
    SJ_NIGHTLY_INFO = 0,
    SJ_NIGHTLY_WARNING = 1
} sj_nightly_notice_level;

/* message: one line, no newline, valid during the call only; it may hold
 * the state directory's path as given (the caller escapes it for a
 * terminal), never a hash or an id. */
typedef void (*sj_nightly_notice_fn)(void *user, sj_nightly_notice_level level, const char *message);

/* The options of one run. ABI: call sj_nightly_options_init first (it sets
 * struct_size and every default); fields added later go at the end, and a caller
 * built against an older header (a smaller struct_size) gets their defaults. */
typedef struct sj_nightly_options {
    uint32_t struct_size;      /* sizeof(sj_nightly_options), set by sj_nightly_options_init */
    const char *state_dir;     /* the state directory; required */
    const char *const *uploads; /* [n_uploads] upload shard paths (one batch); required.
                                * Borrowed for the call */
    int n_uploads;
    const char *source;        /* the database the uploads come from (UTF-8); NULL: each
                                * file's `source` attribute */
    int64_t threshold;         /* -1 (default): the state's; else must equal it (SJ_ERR_ARG) */
    sj_backend_kind backend;   /* SJ_BACKEND_AUTO by default */
    int threads;               /* 0 (default): the OpenMP default */
    int as_corpus;             /* 1: the shards are known corpus, nothing is marked new
                                * (what `state init --corpus` runs) */
    int dihedral;              /* 1: each upload's 8 dihedral hashes against the corpus's
                                * canonical ones (as sj_join_config.dihedral); the report
                                * gives each match's transform */
    /* Limits. max_pairs, max_memory: -1 (default) the machine's (what fits in 3/4
     * of the memory available and 9/10 of the free disk; past it the run stops
     * with SJ_ERR_LIMIT and nothing changed); 0 none; > 0 a limit chosen by the
     * caller, past which the uploads with the most matches are quarantined until
     * the rest fit and the batch is committed with a warning. max_memory is in
     * bytes (>= 1 MiB). */
    int64_t max_pairs;
    int64_t max_memory;
    int64_t max_matches;       /* quarantine an upload with more than this many matches
                                * tonight; -1 (default): 1000, or none with as_corpus;
                                * 0: no cap */
    const char *const *outputs; /* [n_outputs] files the caller will write after the run
                                * (a --stats-json): refused (SJ_ERR_IO, before anything
                                * is written) when one is an upload. May be NULL */
    int n_outputs;
    sj_nightly_notice_fn notice; /* optional; called from the calling thread */
    sj_progress_fn progress;   /* optional: the joins' progress (sj_join_config.progress);
                                * the count restarts for each of the night's joins */
    void *user;                /* passed to notice and progress */
} sj_nightly_options;

void sj_nightly_options_init(sj_nightly_options *o);

/* Excluded hashes are counted per sj_degenerate_rule (quarantined ones under
 * SJ_DEGEN_QUARANTINED). */
#define SJ_NIGHTLY_RULES 5

/* What a run did. ABI: set struct_size (sj_nightly_result_init does) before
 * the call; the library fills only the first struct_size bytes. All counts are of
 * hashes or pairs, for this night. */
typedef struct sj_nightly_result {
    uint32_t struct_size;          /* sizeof(sj_nightly_result), set by the caller */
    int already_committed;         /* 1: this batch (the same upload contents, source and
                                    * dihedral option) was committed before, in
                                    * `generation`; nothing was done and the counts are 0 */
    int64_t generation;            /* the generation committed (or found, above) */
    char batch[65];                /* SHA-256 (hex) of the batch: the uploads' contents and
                                    * the options that shape the result */
    sj_hash_type type;             /* the state's hash kind */
    int threshold;                 /* the state's threshold */
    int64_t uploads;               /* hashes in the uploads (with excluded and quarantined) */
    int64_t excluded;              /* kept out of the clusters: degenerate or quarantined */
    int64_t excluded_by_rule[SJ_NIGHTLY_RULES]; /* excluded per sj_degenerate_rule */
    int64_t quarantined;           /* uploads with an abnormal number of matches (also in
                                    * excluded): listed in the report, not clustered */
    int64_t new_matches;           /* pairs found tonight (new x corpus, new x new) */
    int64_t cross_database_matches; /* those whose two hashes have different sources */
    int64_t new_clusters;          /* clusters of new hashes only, given new ids */
    int64_t new_hashes_in_existing_clusters;
    int64_t merges;                /* old cluster ids retired into another one */
    double seconds;                /* wall time of the run */
    char excluded_text[256];       /* the exclusions for people: "3 excluded: 2 quality < 50,
                                    * 1 all zero" */
    char report_json[4200];        /* DIR/reports/gNNNNNN.json (DIR as given) */
    char report_csv[4200];         /* DIR/reports/gNNNNNN.csv */
} sj_nightly_result;

void sj_nightly_result_init(sj_nightly_result *r);

/* Run one night on o->state_dir (locked for the run: a second run at the
 * same time fails with SJ_ERR_IO). Returns SJ_OK with r->already_committed
 * set when the batch was committed before. On failure the state is the
 * committed generation it was (left-overs of the run are removed by the next
 * one), sj_last_error() names the file and the cause, and *r is left as it
 * was. o and r: the caller's; nothing of them is kept after the call. */
sj_status sj_nightly_run(const sj_nightly_options *o, sj_nightly_result *r);

/* Creating a state directory (what `simjoin state init` runs). ABI as
 * sj_nightly_options: call sj_state_init_options_init first. */
typedef struct sj_state_init_options {
    uint32_t struct_size;      /* sizeof(sj_state_init_options), set by the init function */
    const char *state_dir;     /* the directory to create (or an existing one without a
                                * manifest); required */
    sj_hash_type type;         /* pdq or bits:N; kind 0 (default): the type of corpus[0] */
    int64_t threshold;         /* -1 (default): 31 for pdq; required (>= 0) for bits:N */
    const char *const *corpus; /* [n_corpus] shard paths imported as generation 1; may be
                                * NULL with n_corpus 0 (an empty state). Borrowed */
    int n_corpus;
    sj_nightly_notice_fn notice; /* optional: "state: created ..." and the import's notices */
    sj_progress_fn progress;   /* optional: the import's progress (sj_nightly_options) */
    void *user;                /* passed to notice and progress */
} sj_state_init_options;

void sj_state_init_options_init(sj_state_init_options *o);

/* What sj_state_init did. ABI: sj_state_init_result_init first. */
typedef struct sj_state_init_result {
    uint32_t struct_size;      /* sizeof(sj_state_init_result), set by the init function */
    sj_hash_type type;         /* the kind, set as soon as known (also on failure: a
                                * SJ_ERR_ARG with type bits:N is a missing threshold) */
    int threshold;             /* the state's threshold */
    int created;               /* 1: DIR/manifest (generation 0) was committed, also when
                                * the import failed after it */
    sj_nightly_result import;  /* with a corpus: the import (generation 1, nothing new) */
} sj_state_init_result;

void sj_state_init_result_init(sj_state_init_result *r);

/* Create a state: checks the kind (pdq or bits:N; others SJ_ERR_UNSUPPORTED)
 * and threshold, refuses a directory that holds a manifest (SJ_ERR_ARG),
 * makes DIR, DIR/shards, DIR/clusters and DIR/reports (mode 0750; existing
 * ones are kept), commits an empty manifest (generation 0) and notices
 * "state: created DIR (generation 0, KIND, threshold T)". With a corpus it
 * then runs sj_nightly_run with as_corpus on it (generation 1: the shards'
 * self-join clustered, nothing marked new). On failure before the manifest
 * nothing is committed (r->created 0); when the import fails the state stays
 * at generation 0 (r->created 1) and a nightly run with as_corpus on the same
 * shards retries it. sj_last_error() names the file and the cause. */
sj_status sj_state_init(const sj_state_init_options *o, sj_state_init_result *r);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
