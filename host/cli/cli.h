/* cli.h - shared pieces of the simjoin command-line tool. Only the CLI prints
 * and exits; the library returns status codes. Exit codes: 0 ok, 1 runtime
 * error, 2 usage error. */
#ifndef SIMJOIN_CLI_H
#define SIMJOIN_CLI_H

#include "core/internal.h"
#include "io/inputs.h"
#include "io/journal.h"
#include "io/outputs.h"
#include "join/limits.h"
#include "simjoin/formats.h"
#include "simjoin/gen.h"
#include "simjoin/job.h"

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
int sj_parse_size(const char *s, int64_t *out);

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
void cli_json_bool(cli_json *j, const char *key, int value);
int cli_json_write(cli_json *j, const char *path); /* 0 or exit code */

/* The clustering guards shared by `cluster` and `sweep`: --linkage (L),
 * --max-matches (M), --degree-ratio (R). Returns -1 when opt is not one of
 * them, EXIT_OK when parsed into o, else the exit code of the error. */
int cli_guard_option(int opt, const char *arg, sj_cluster_options *o, const char *cmd);

/* MPI (cli_mpi.c): a no-op single process when not built or not launched by
 * mpirun. cli_mpi_agree: every rank learns whether any rank failed, and the
 * first failing rank's message. cli_mpi_gather_pairs: rank 0 receives all
 * pairs (others are left empty); bytes_sent: what this rank sent. */
int cli_mpi_init(int *argc, char ***argv, int *rank, int *size);
void cli_mpi_finalize(void);
sj_status cli_mpi_agree(sj_status st);
sj_status cli_mpi_gather_pairs(sj_pairs *pairs, int64_t *bytes_sent);
/* cli_mpi_init, then this rank's cli_rank and quiet, and the Slurm launch
 * check: EXIT_OK, or the exit code after the message. */
int cli_mpi_start(int *argc, char ***argv, int *rank, int *ranks);
/* A join job's hooks (sj_join_job.collective) over the two above, and the
 * rank's part of the join and GPU in cfg. */
void cli_mpi_collective(sj_job_collective *c, sj_join_config *cfg, int rank, int ranks);
int cli_mpi_built(void);
/* After cli_mpi_init: refuse (SJ_ERR_UNSUPPORTED, naming `srun --mpi=pmix`) a join
 * that Slurm started as several tasks which are not MPI ranks. */
sj_status cli_mpi_check_launch(int ranks);

/* sweep --plot (cli_plot.c): draw the sweep JSON at json as the PNG png
 * (temp file + rename), with scripts/plot_sweep.py. */
sj_status cli_plot_sweep(const char *json, const char *png);
/* Scripts (cli_script.c): name (e.g. "plot_sweep.py") installed beside the
 * binary (BINDIR/../DATADIR/simjoin/), else in the source tree's scripts/;
 * the path, in buf[size]. */
const char *cli_find_script(const char *name, char *buf, size_t size);
/* bench --peers: 1 when argv (bench's) asks for it. cli_bench_peers parses
 * argv, checks the Python (--python, else $SIMJOIN_BENCH_PYTHON, else
 * python3) imports what scripts/bench_peers.py needs, and runs it on this
 * binary with the options passed through; help prints bench's --help. An
 * exit code. */
int cli_bench_peers_wanted(int argc, char **argv);
int cli_bench_peers(int argc, char **argv, void (*help)(void));

/* A repeatable input list: "--corpus a b c" appends optarg and the
 * following non-option words of argv to list (sized argc + 1), counted in *n. */
void cli_take_list(int argc, char **argv, const char **list, int *n);

/* HDF5 outputs need a file: EXIT_USAGE (message naming option) when path is
 * "-", else EXIT_OK. */
int cli_refuse_stdout(const char *cmd, const char *option, const char *path);
/* --max-pairs / --max-memory (cli_limits.c). cli_parse_limit: "0" or "none"
 * give 0 (no limit); else a count >= 1, or (is_size) a size >= 1M; 0 on success. */
int cli_parse_limit(const char *s, int is_size, int64_t *out);
int cmd_ingest(int argc, char **argv);
int cmd_hash(int argc, char **argv); /* cmd_hash.c, when built with image support */
int cmd_merge(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_nightly(int argc, char **argv);
/* cmd_nightly.c, shared with `state init --corpus`: the library's notices
 * (sj_nightly_notice_fn: info as cli_notice, warnings always) and the
 * summary line of a run. */
#include "simjoin/nightly.h"
void cli_nightly_notice(void *user, sj_nightly_notice_level level, const char *message);
void cli_nightly_summary(const sj_nightly_result *r, int as_corpus);

int cmd_gen(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
