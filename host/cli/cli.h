/* cli.h - shared pieces of the simjoin command-line tool. Only the CLI prints
 * and exits; the library returns status codes. Exit codes: 0 ok, 1 runtime
 * error, 2 usage error. */
#ifndef SIMJOIN_CLI_H
#define SIMJOIN_CLI_H

#include "core/internal.h"
#include "simjoin/formats.h"
#include "simjoin/gen.h"

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

extern int cli_quiet;   /* --quiet: no progress, no notices */
extern int cli_verbose; /* --verbose: more detail (never hashes or ids) */
extern int cli_rank;    /* MPI rank; only rank 0 prints errors */

/* Print "simjoin: error: <last library error>"; return 2 for SJ_ERR_ARG, else 1. */
int cli_fail(sj_status st);
/* Print "simjoin CMD: message" and a --help hint; return EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One informational line on stderr, unless --quiet. */
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s with control characters made visible (sj_term_escape) in buf[size], for
 * user strings and paths printed to stdout. cli_fail, cli_usage and
 * cli_notice escape their messages themselves. */
const char *cli_safe(const char *s, char *buf, size_t size);

/* A size like 512M, 8G, 100k or plain bytes; 0 on success. */
int cli_parse_size(const char *s, int64_t *out);

/* Whole-string finite number; 0 on success. */
int cli_parse_f64(const char *s, double *out);

/* Whole-string integer parse; 0 on success. */
int cli_parse_i64(const char *s, int64_t *out);

/* Progress line on stderr when it is a terminal and not --quiet. */
typedef struct cli_progress {
    const char *what;
    double start, last;
    int shown;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *what);
void cli_progress_cb(void *user, int64_t done, int64_t total, int64_t pairs);
/* For a command's own progress line: 1 when one is due (a terminal, not
 * --quiet, 0.25 s since the last or the end), with the rate (items/s) and
 * the ETA (s); the caller prints it. */
int cli_progress_due(cli_progress *p, int64_t done, int64_t total, double *rate, double *eta);
void cli_progress_end(cli_progress *p);

/* Minimal JSON object writer for --stats-json (written atomically; strings
 * escaped by sj_json_put_string). Held in memory until cli_json_write. */
typedef struct cli_json {
    FILE *fp; /* open_memstream over mem */
    char *mem;
    size_t len;
    int first;
} cli_json;
void cli_json_begin(cli_json *j);
void cli_json_str(cli_json *j, const char *key, const char *value);
void cli_json_num(cli_json *j, const char *key, double value);
void cli_json_int(cli_json *j, const char *key, int64_t value);
int cli_json_write(cli_json *j, const char *path); /* 0 or exit code */

/* The clustering guards shared by `cluster` and `sweep`: --linkage (L),
 * --max-matches (M), --degree-ratio (R). Returns -1 when opt is not one of
 * them, EXIT_OK when parsed into o, else the exit code of the error. */
int cli_guard_option(int opt, const char *arg, sj_cluster_options *o, const char *cmd);

/* The shards of a join's inputs (r->inputs), read and concatenated, each
 * checked against the checksum the join recorded: a changed or replaced
 * shard is refused, naming it. *out NULL (and SJ_OK) when some input is not
 * readable here or the join had none; *out owned by the caller. */
sj_status cli_read_join_inputs(const sj_join_result *r, sj_hashes **out);

/* The database of origin of every row read: each shard's `source`
 * attribute, looked up by id (after cli_sources_finish). */
typedef struct cli_sources {
    int n;                                 /* distinct names */
    char **names;                          /* [n] whole names; owned */
    int64_t n_ids, cap;
    int64_t *ids;                          /* sorted by cli_sources_finish */
    int32_t *src;                          /* aligned with ids */
} cli_sources;
/* Record every row of h as coming from h->source. */
sj_status cli_sources_add(cli_sources *s, const sj_hashes *h, const char *path);
void cli_sources_finish(cli_sources *s);
int32_t cli_sources_of(const cli_sources *s, int64_t id); /* -1 if unknown */
void cli_sources_free(cli_sources *s);
/* Rows of t with no source of their own get their shard's (by id). */
struct sj_meta_table;
sj_status cli_meta_fill_sources(struct sj_meta_table *t, const cli_sources *s);
/* Names joined by newlines, for the `sources` attribute: a new string
 * (caller frees), NULL when out of memory. */
char *cli_sources_names(const cli_sources *s);

/* Read and concatenate shards (all of one kind). *out owned by caller.
 * src (optional) records each row's source. */
sj_status cli_read_shards(char **paths, int n, sj_hashes **out, cli_sources *src);
/* The same, and when r is not NULL each shard recorded in r as an input of
 * the given role (size, mtime and sj_hashes_checksum). */
sj_status cli_read_shards_as(char **paths, int n, sj_hashes **out, cli_sources *src,
                             sj_join_result *r, const char *role);

/* Write a text output to path (temp + rename, 0640) or stdout when path is
 * NULL or "-". cli_text_open returns the stream; cli_text_close commits. */
typedef struct cli_text {
    FILE *fp;
    sj_atomic_file af;
    int to_stdout;
} cli_text;
sj_status cli_text_open(cli_text *t, const char *path);
sj_status cli_text_close(cli_text *t, int ok);

/* MPI (cli_mpi.c): a no-op single process when not built or not launched by
 * mpirun. cli_mpi_agree: every rank learns whether any rank failed, and the
 * first failing rank's message. cli_mpi_gather_pairs: rank 0 receives all
 * pairs (others are left empty); bytes_sent: what this rank sent. */
int cli_mpi_init(int *argc, char ***argv, int *rank, int *size);
void cli_mpi_finalize(void);
sj_status cli_mpi_agree(sj_status st);
sj_status cli_mpi_gather_pairs(sj_pairs *pairs, int64_t *bytes_sent);
int cli_mpi_built(void);
/* After cli_mpi_init: refuse (SJ_ERR_UNSUPPORTED, naming `srun --mpi=pmix`) a join
 * that Slurm started as several tasks which are not MPI ranks. */
sj_status cli_mpi_check_launch(int ranks);

/* Progress journal for `join --resume` (cli_journal.c). */
typedef struct cli_journal {
    FILE *fp;
    char path[4200];
    int64_t *units; /* units found done in the journal, sorted */
    int64_t n_units, cap_units;
    sj_pairs saved; /* their pairs */
    double last_sync;
    uint64_t chain; /* the last record's check (the header's before the first) */
} cli_journal;
/* What a resumed pair must satisfy: both ids among the join's (sorted,
 * borrowed), a < b, a finite distance <= threshold. */
typedef struct cli_journal_rule {
    const int64_t *ids;
    int64_t n_ids;
    double threshold;
} cli_journal_rule;
sj_status cli_journal_open(cli_journal *j, const char *out, const char *signature, int resume,
                           const cli_journal_rule *rule);
int cli_journal_skip(void *user, int64_t unit);
sj_status cli_journal_done(void *user, int64_t unit, const sj_pair *pairs, int64_t n);
void cli_journal_close(cli_journal *j, int remove_it);

/* Outputs never overwrite inputs: SJ_ERR_IO (exit 1) naming both paths when
 * one of outputs[n_out] is the same file as one of inputs[n_in], or as
 * another output, compared by device and inode (symlinks, hard links and
 * ./ spellings alike; an output not yet there by its directory and name).
 * NULL and "-" (stdout, stdin) entries are skipped. Call before writing. */
sj_status cli_check_outputs(const char *const *outputs, int n_out, char *const *inputs, int n_in);
/* The same against the input shards a pairs file records (the join's). */
sj_status cli_check_outputs_vs_join(const char *const *outputs, int n_out, const sj_join_result *r);
/* HDF5 outputs need a file: EXIT_USAGE (message naming option) when path is
 * "-", else EXIT_OK. */
int cli_refuse_stdout(const char *cmd, const char *option, const char *path);
/* SJ_ERR_IO naming both when one of paths[n] lies inside directory dir
 * (symlinks resolved), which the command replaces or cleans up (why). */
sj_status cli_check_not_inside(const char *dir, char *const *paths, int n, const char *why);

/* A directory output committed as a whole (cli_outdir.c): files are written
 * into temp (beside DIR), then swapped in for DIR; the previous one is kept
 * as DIR.prev. begin refuses a DIR that holds anything but a report. */
typedef struct cli_outdir {
    char final[4000]; /* DIR (a symlink: the directory it names) */
    char prev[4096];  /* DIR.prev */
    char temp[4096];  /* write the files here; "" once committed or aborted */
    int exists;       /* DIR was there with a report: it becomes DIR.prev */
} cli_outdir;
sj_status cli_outdir_begin(cli_outdir *d, const char *dir);
sj_status cli_outdir_commit(cli_outdir *d); /* aborts on failure */
void cli_outdir_abort(cli_outdir *d);
/* --max-pairs / --max-memory (cli_limits.c). cli_parse_limit: "0" or "none"
 * give 0 (no limit); else a count >= 1, or (is_size) a size >= 1M; 0 on success. */
int cli_parse_limit(const char *s, int is_size, int64_t *out);
typedef struct cli_limits {
    int64_t max_pairs; /* the pair limit in force; 0: none */
    char why[512];     /* which limit it is and its value, for the message */
} cli_limits;
/* The default limits (sj_default_limits) for an output at out_path: the machine
 * as detected, or as SIMJOIN_MEMORY_AVAILABLE / SIMJOIN_DISK_FREE (sizes) say. */
sj_status cli_limits_default(const char *out_path, int64_t input_bytes, int64_t memory_per_pair,
                             int64_t disk_per_pair, cli_limits *l);
/* SJ_ERR_LIMIT: "CMD: more than N pairs, WHY; nothing was written. HOW" (how
 * to raise the limit). */
sj_status cli_limit_exceeded(const char *cmd, const cli_limits *l, const char *how);

int cmd_ingest(int argc, char **argv);
int cmd_hash(int argc, char **argv); /* cmd_hash.c, when built with image support */
int cmd_merge(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_nightly(int argc, char **argv);

/* Ids unique within and across the two sets (q may be NULL). */
sj_status cli_check_ids_across(const sj_hashes *c, const sj_hashes *q);
int cmd_gen(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "439 excluded: 412 quality < 50, 27 one-bit count outside 32..224" from
 * the rules of n excluded hashes (o NULL: the rules without their limits). */
void cli_excluded_text(const uint8_t *rule, int64_t n, const sj_degenerate_options *o, char *buf,
                       size_t size);

#endif
