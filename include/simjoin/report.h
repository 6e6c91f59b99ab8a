/* report.h - the triage report: which new uploads need a human first?
 *
 * sj_report_write reads a clusters file (`simjoin cluster`, or a nightly
 * state's clusters/gNNNNNN.h5) and writes its triage list into a directory,
 * as a whole (README "Triage report"):
 *   triage.csv, triage.jsonl    one row per listed entry, in priority order
 *   members.csv, members.jsonl  the members of those entries, with metadata
 *                               and (given the pairs file) nearest matches
 *   unmatched.csv               single new uploads that matched nothing
 *   icse.csv                    the listed members, ICSE-style (semicolons)
 *   report.html                 one self-contained page (no network)
 * The report holds ids, metadata and distances, never hashes. */
#ifndef SIMJOIN_REPORT_H
#define SIMJOIN_REPORT_H

#include "simjoin/meta.h"
#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* Options of sj_report_write. Call sj_report_options_init first, then set
 * fields: struct_size lets later versions add fields at the end (a library
 * given a smaller struct uses defaults for the rest; a larger one than it
 * knows is refused with SJ_ERR_ARG). Strings are borrowed for the call. */
typedef struct sj_report_options {
    uint32_t struct_size;   /* sizeof(sj_report_options), set by sj_report_options_init */
    uint32_t classes;       /* classes listed: bit (1u << sj_triage) each; default all */
    int64_t min_size;       /* list only entries of at least this many hashes (ranks stay
                             * those of the full list); default 0: all */
    int64_t html_clusters;  /* entries shown in report.html, >= 0 (default 2000) */
    int64_t html_members;   /* members shown per entry in report.html, >= 0 (default 500);
                             * the CSV and JSONL files hold all */
    const char *pairs_path; /* the join's pairs file, or NULL: each member's nearest and
                             * nearest known match come from it */
    const char *title;      /* report.html's title; NULL: the clusters file's name */
    /* Files the caller writes besides the report (e.g. a stats file): refused,
     * as the report directory is, when one is an input, and when one lies
     * inside the directory the report replaces. [n_other_outputs]; NULL and
     * "-" entries are skipped. */
    const char *const *other_outputs;
    int n_other_outputs;
} sj_report_options;

/* Default options (all classes, no filters, 2000 clusters and 500 members
 * per cluster in the page, no pairs file, no title). */
void sj_report_options_init(sj_report_options *o);

#define SJ_REPORT_NOTICE_MAX 8448

/* What sj_report_write wrote. The caller sets struct_size = sizeof(sj_report_result)
 * before the call; the library fills that many bytes (all zero on failure,
 * but struct_size). */
typedef struct sj_report_result {
    uint32_t struct_size;
    int has_meta;            /* 0: the clusters file carries no case metadata (a
                              * self-join without it): every hash counted as new */
    int64_t hashes;          /* hashes listed in the clusters file */
    int64_t clusters;        /* its clusters (singletons included) */
    int64_t listed;          /* entries of the triage list written (after the filters) */
    int64_t per_class[SJ_TRIAGE_N_CLASSES]; /* listed entries per sj_triage class; [0] is 0 */
    int64_t unmatched;       /* single new uploads that matched nothing (unmatched.csv) */
    /* Something the caller should tell the user though the report was
     * written (the previous report could not be renamed to DIR.prev); "" if
     * nothing. May hold paths; never hashes or ids. */
    char notice[SJ_REPORT_NOTICE_MAX];
} sj_report_result;

/* Write the triage report of clusters_path into directory dir.
 * dir must be new, empty, or a previous report (its files are listed in
 * dir/.simjoin-report); the report is written into a new directory beside it
 * (mode 0750, files 0640) which then replaces dir in one step, keeping the
 * previous report as dir.prev. On failure dir is left as it was.
 * Refused (SJ_ERR_IO, before anything is read or written) when dir is one of
 * the inputs (clusters_path, o->pairs_path) or an input lies inside dir; the
 * same for o->other_outputs. An input that cannot be read or breaks its
 * layout (SJ_ERR_IO, SJ_ERR_FORMAT), or a pairs file of another join
 * (SJ_ERR_MISMATCH): the message names the file and the row. o: NULL for the
 * defaults. result: may be NULL. Never prints. */
sj_status sj_report_write(const char *clusters_path, const char *dir, const sj_report_options *o,
                          sj_report_result *result);

/* The rule of a triage class in words (README "Triage report"); static storage. */
const char *sj_triage_rule(sj_triage t);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
