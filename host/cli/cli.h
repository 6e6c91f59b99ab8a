/* cli.h - shared pieces of the simjoin command-line tool. Only the CLI prints
 * and exits; the library returns status codes. Exit codes: 0 ok, 1 runtime
 * error, 2 usage error. */
#ifndef SIMJOIN_CLI_H
#define SIMJOIN_CLI_H

#include "internal.h"
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

/* The readable shard paths recorded in a pairs file's inputs attribute
 * ("corpus:PATH\nqueries:PATH..."). inputs is modified; paths point into it. */
int cli_join_inputs(char *inputs, char **paths, int max);

/* The database of origin of every row read: each shard's `source`
 * attribute, looked up by id (after cli_sources_finish). */
typedef struct cli_sources {
    int n;                                 /* distinct names */
    char names[256][SJ_SOURCE_MAX];
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
/* Names joined by newlines, for the `sources` attribute. */
void cli_sources_names(const cli_sources *s, char *buf, size_t size);

/* Read and concatenate shards (all of one kind). *out owned by caller.
 * src (optional) records each row's source. */
sj_status cli_read_shards(char **paths, int n, sj_hashes **out, cli_sources *src);

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

int cmd_ingest(int argc, char **argv);
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
