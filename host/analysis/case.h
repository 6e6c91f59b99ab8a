/* case.h - a clusters file seen as case data: membership, metadata, the
 * case summary and triage order, and the writers of the triage report
 * (sj_report_write, report.c) and of `export --format icse`. */
#ifndef SIMJOIN_ANALYSIS_CASE_H
#define SIMJOIN_ANALYSIS_CASE_H

#include "core/internal.h"
#include "simjoin/formats.h"
#include "simjoin/meta.h"

#include <stdio.h>

/* One row of the triage list: a cluster, or an excluded new upload. */
typedef struct sj_case_entry {
    int64_t rank;    /* 1-based position in the full triage list */
    int64_t cluster; /* cluster number, -1 for an excluded upload */
    int64_t member;  /* an excluded upload: its position in ids; else -1 */
    int triage;      /* sj_triage */
} sj_case_entry;

typedef struct sj_case_view {
    int64_t n;            /* hashes listed in /clusters */
    int64_t *ids;         /* [n] sorted; owned */
    int64_t *cluster;     /* [n] cluster number, -1 excluded, -2 quarantined; owned */
    int64_t *row;         /* [n] row in meta (-1 none); owned */
    int64_t n_clusters;
    int64_t *label;       /* [n_clusters] the cluster's id as shown: its number, or the
                           * stable id of a nightly state; owned */
    int64_t *size;        /* [n_clusters]; owned */
    double *min_distance, *diameter; /* [n_clusters] (singletons: -1); NaN unknown; owned */
    int64_t *first;       /* [n_clusters + 1] start of each cluster in by_cluster; owned */
    int64_t *by_cluster;  /* [n] positions in ids, grouped by cluster, ids ascending; owned */
    int64_t *nearest_id;  /* [n] closest match (with --pairs); owned */
    double *nearest_d;    /* [n] its distance, NaN when none; owned */
    int64_t *known_id;    /* [n] closest match on the corpus side (a known image); owned */
    double *known_d;      /* [n] its distance, NaN when none; owned */
    int64_t *rule;        /* [n] sj_degenerate_rule of an excluded hash, else 0; owned */
    sj_meta_table *meta;  /* never NULL after loading (empty when the file has none) */
    sj_case_summary *sum;
    int has_meta;         /* the file carried /meta_index */
    /* The triage list: listed clusters in priority order, then the new
     * uploads kept out of the join (class not_compared), by rule then id.
     * sj_case_view_filter may drop entries; ranks stay those of the full list. */
    sj_case_entry *entries;  /* [n_entries]; owned */
    int64_t n_entries;
    int64_t per_class[SJ_TRIAGE_N_CLASSES]; /* entries per class (after filters) */
    int64_t n_unmatched;  /* new uploads alone in their cluster: unmatched.csv */
    int64_t *unmatched;   /* [n_unmatched] positions in ids, ascending; owned */
} sj_case_view;

/* Load a clusters file (or a nightly state's cluster file) and, when
 * pairs_path is given, each hash's nearest match from that pairs file. */
sj_status sj_case_view_load(sj_case_view *v, const char *clusters_path, const char *pairs_path);
void sj_case_view_free(sj_case_view *v);
/* Keep the entries of at least min_size hashes whose class bit (1 << class)
 * is set in class_mask; recount per_class. */
void sj_case_view_filter(sj_case_view *v, int64_t min_size, unsigned class_mask);

/* Writers: listed clusters in triage order (write errors are caught when the
 * sj_text_file stream is closed). No hash is ever written. */
void sj_case_write_triage_csv(FILE *fp, const sj_case_view *v);
void sj_case_write_triage_jsonl(FILE *fp, const sj_case_view *v);
void sj_case_write_members_csv(FILE *fp, const sj_case_view *v);
void sj_case_write_members_jsonl(FILE *fp, const sj_case_view *v);
/* The new uploads alone in their cluster (members.csv columns, no rank). */
void sj_case_write_unmatched_csv(FILE *fp, const sj_case_view *v);
/* ICSE-style semicolon CSV: one row per hash in a cluster of the triage
 * list (all: every hash in a cluster). */
void sj_case_write_icse(FILE *fp, const sj_case_view *v, int all);
/* One self-contained HTML page: no external resources, a CSP that forbids
 * the network, sortable tables. At most max_clusters clusters and
 * max_members members per cluster are shown (the CSV files hold all). */
void sj_case_write_html(FILE *fp, const sj_case_view *v, const char *title, int64_t max_clusters,
                     int64_t max_members);

#endif
