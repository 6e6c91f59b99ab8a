/* job.h - a whole join job, as `simjoin join` runs it: shards in, one pairs
 * file out, resumable after a kill. The library reads the shards, takes out
 * degenerate hashes, applies the memory and pair limits, keeps the resume
 * journal beside the output, joins, and writes the pairs file (README "Pairs
 * file", "Resuming a join"). */
#ifndef SIMJOIN_JOB_H
#define SIMJOIN_JOB_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* What a job tells its caller while it runs (the library never prints). */
typedef enum sj_job_message_level {
    SJ_JOB_NOTICE = 0,  /* informational (resuming, backend fallback) */
    SJ_JOB_WARNING = 1, /* damage found in the journal and cut off: say it even when quiet */
    SJ_JOB_VERBOSE = 2  /* detail (each MPI rank's share) */
} sj_job_message_level;
/* text: one line, no newline; valid for the call. Never hashes or ids. */
typedef void (*sj_job_message_fn)(void *user, sj_job_message_level level, const char *text);

/* A job split across processes (MPI ranks). The library does no communication
 * itself: every rank calls sj_join_job_run with the same job, rank and ranks
 * set, and these hooks; each rank joins part `rank` of `ranks` and rank 0
 * writes the one output. Unset (ranks <= 1): one process. */
typedef struct sj_job_collective {
    int rank;  /* this process, 0..ranks-1 */
    int ranks; /* processes in the job; 0 or 1: one process */
    /* Called on every rank at the same points: returns SJ_OK when every rank
     * passed st == SJ_OK, else a failure (with the first failing rank's
     * message in sj_last_error). */
    sj_status (*agree)(void *user, sj_status st);
    /* Rank 0 receives every rank's pairs appended to its own; the others are
     * left empty. *bytes_sent: what this rank sent. */
    sj_status (*gather_pairs)(void *user, sj_pairs *pairs, int64_t *bytes_sent);
    void *user;
} sj_job_collective;

/* sj_join_job_init fills the defaults; set the inputs, out and what differs.
 * Every pointer is borrowed for the call. */
typedef struct sj_join_job {
    uint32_t struct_size;        /* sizeof(sj_join_job), set by sj_join_job_init */
    const char *const *corpus;   /* [n_corpus] shard paths (>= 1) */
    int n_corpus;
    const char *const *queries;  /* [n_queries] shard paths; 0: a self-join of the corpus */
    int n_queries;
    int self_queries;            /* with queries: also the pairs among the queries */
    int cross_only;              /* keep only pairs whose hashes come from different sources */
    const char *out;             /* the pairs file; the journal is .OUT.journal beside it */
    double threshold;            /* NaN (the default): the kind's default (pdq: 31, the
                                  * others have none: SJ_ERR_ARG) */
    double min_similarity;       /* cosine and ip: threshold = 1 - S; NaN: unset */
    const sj_join_config *config; /* metric, backend, isa, threads, gpus, kernel, part,
                                   * dihedral, progress (NULL: sj_join_config_init's). The
                                   * job sets threshold, limits and unit callbacks itself */
    int64_t max_pairs;           /* stop with SJ_ERR_LIMIT past this many pairs; 0: no
                                  * limit; -1 (default): see max_memory */
    int64_t max_memory;          /* bytes for the whole run: the inputs must fit in half,
                                  * the corpus is compared in chunks that fit, and pairs
                                  * beyond the rest go to sorted runs on disk beside out
                                  * (merged into it; not under MPI); 0: no limit.
                                  * When both are -1 (the default), the pairs are capped
                                  * from the memory and disk available (README "Data
                                  * handling") */
    int keep_degenerate;         /* 1: exclude no hash */
    int min_quality;             /* exclude hashes of known quality below; -1: the kind's */
    int32_t min_ones, max_ones;  /* exclude hashes with one-bits outside; -1: the kind's */
    int resume;                  /* 1: continue from the journal a killed run left */
    sj_job_message_fn message;   /* optional */
    void *message_user;
    sj_job_collective collective; /* optional: MPI */
} sj_join_job;

/* What a job did, for its summary line and --stats-json. */
typedef struct sj_join_job_result {
    uint32_t struct_size;    /* sizeof(sj_join_job_result), set by sj_join_job_result_init */
    int usage_error;         /* on failure, 1 when it is a misuse of the job's options found
                              * once the inputs were read (threshold, min_similarity);
                              * the status is then SJ_ERR_ARG */
    int64_t corpus, queries; /* hashes compared from each side (after exclusion) */
    int64_t hashes;          /* hashes that took part (the pairs file's /nodes) */
    int64_t excluded;        /* degenerate hashes left out */
    char excluded_text[256]; /* "N excluded: ..." for a summary line */
    int64_t comparisons;     /* distances computed (all ranks' under MPI) */
    int64_t pairs;           /* pairs written */
    int64_t resumed_units;   /* work units found done in the journal */
    double threshold;        /* as applied */
    sj_metric metric;        /* as resolved */
    int dihedral;
    char backend[32];        /* the backend that ran ("cpu/avx2", "cuda/v3", ...) */
    char part[32];           /* "i/N" for one part of a split join, else "" */
    double join_seconds;     /* from the start of the comparisons to the output */
    int64_t spilled_runs;    /* max_memory: sorted runs of pairs written to disk and merged */
} sj_join_job_result;

void sj_join_job_init(sj_join_job *job);
void sj_join_job_result_init(sj_join_job_result *res);

/* Run the job: on success the pairs file is written (temp file + rename,
 * mode 0640 & ~umask) and the journal removed; on failure nothing is written
 * and the journal is removed too; only a killed run leaves its journal, for
 * job->resume. res (optional) gets the figures. SJ_ERR_ARG also when a
 * struct_size does not match this library's. */
sj_status sj_join_job_run(const sj_join_job *job, sj_join_job_result *res);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SIMJOIN_JOB_H */
