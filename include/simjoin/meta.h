/* meta.h - case metadata carried with hashes (README "Case metadata"), and
 * the per-cluster case summary and triage order built from it.
 *
 * Metadata is optional and per hash: four text fields (series, case id,
 * category, source) and two yes/no/unknown flags (victim identified,
 * offender identified). Text values are interned: many hashes share one
 * series name, so a row costs 4 indices and 2 bytes. Metadata values are
 * case data: the library never puts them in error messages. */
#ifndef SIMJOIN_META_H
#define SIMJOIN_META_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

typedef enum sj_meta_text {
    SJ_META_SERIES = 0,   /* series name or id */
    SJ_META_CASE_ID = 1,  /* investigation / case reference */
    SJ_META_CATEGORY = 2, /* the database's category label */
    SJ_META_SOURCE = 3,   /* database or agency of origin (per hash) */
    SJ_META_PATH = 4,     /* the image file's path (simjoin hash, or a path/filename column) */
    SJ_META_MD5 = 5,      /* the file's MD5, 32 lower-case hex digits */
    SJ_META_SHA1 = 6,     /* the file's SHA-1, 40 lower-case hex digits */
    SJ_META_N_TEXT = 7
} sj_meta_text;

/* Longest text value in bytes, NUL excluded (paths: SJ_META_PATH_MAX). */
#define SJ_META_TEXT_MAX 255
#define SJ_META_PATH_MAX 4095
/* The longest value field f may hold. */
static inline int sj_meta_text_max(sj_meta_text f)
{
    return f == SJ_META_PATH ? SJ_META_PATH_MAX : SJ_META_TEXT_MAX;
}

/* Tri-state flags. */
#define SJ_META_UNKNOWN (-1)
#define SJ_META_NO 0
#define SJ_META_YES 1

/* Dataset name of a text field ("series", "case_id", "category", "source",
 * "path", "md5", "sha1"). */
const char *sj_meta_text_name(sj_meta_text f);
/* Parse yes/no/unknown ("yes", "y", "true", "1"; "no", "n", "false", "0";
 * "", "unknown", "u", "?"; any case). Returns 0 and sets *out, or -1. */
int sj_meta_parse_flag(const char *text, size_t len, int8_t *out);
const char *sj_meta_flag_name(int8_t v); /* "yes", "no", "unknown" */

/* Rows of metadata, parallel to some array of hashes. Opaque. */
typedef struct sj_meta sj_meta;

sj_status sj_meta_create(sj_meta **out);
void sj_meta_free(sj_meta *m);
int64_t sj_meta_rows(const sj_meta *m);
/* Append one row. text[f] NULL or "" means none; longer than
 * sj_meta_text_max(f) is SJ_ERR_ARG. victim/offender: SJ_META_*. */
sj_status sj_meta_append(sj_meta *m, const char *const text[SJ_META_N_TEXT], int8_t victim,
                         int8_t offender);
/* Append a copy of row `row` of src, or an all-unknown row when src is NULL. */
sj_status sj_meta_append_row(sj_meta *m, const sj_meta *src, int64_t row);
/* Append all-unknown rows until m has n rows. */
sj_status sj_meta_pad(sj_meta *m, int64_t n);
/* Row `row`'s text ("" when none; valid while m lives). */
const char *sj_meta_text_get(const sj_meta *m, int64_t row, sj_meta_text f);
/* Row `row`'s interned text number (equal numbers: equal text), -1 none. */
int32_t sj_meta_text_code(const sj_meta *m, int64_t row, sj_meta_text f);
/* Every row's code of field f ([sj_meta_rows(m)]; NULL when m is NULL). */
const int32_t *sj_meta_text_column(const sj_meta *m, sj_meta_text f);
/* Number of distinct text values held (codes are 0..n-1). */
int32_t sj_meta_text_count(const sj_meta *m);
/* The text of a code. */
const char *sj_meta_code_text(const sj_meta *m, int32_t code);
int8_t sj_meta_victim(const sj_meta *m, int64_t row);
int8_t sj_meta_offender(const sj_meta *m, int64_t row);
/* Set a row's text (used to fill a missing source from the shard). */
sj_status sj_meta_set_text(sj_meta *m, int64_t row, sj_meta_text f, const char *text);
/* Keep the rows with keep[i] != 0, in order. */
void sj_meta_keep(sj_meta *m, const uint8_t *keep);

/* Metadata of every hash of a join, by id: what pairs and clusters files
 * carry in /meta. */
typedef struct sj_meta_table {
    int64_t n;
    int64_t *ids;    /* [n] sorted ascending, unique; owned */
    uint8_t *is_new; /* [n] 1: a new upload (queries side), 0: corpus; owned */
    sj_meta *meta;   /* n rows, or none when no input had metadata (rows past
                      * sj_meta_rows(meta) read as unknown); owned */
} sj_meta_table;

void sj_meta_table_free(sj_meta_table *t);
/* Build the table of n_sets hash sets (before degenerate removal, so that
 * excluded hashes keep theirs); rows of sets[k] get is_new[k]. Sources are
 * the rows' own metadata: a set concatenated from several shards has no one
 * source, so the caller, who knows each row's shard, fills the empty ones
 * (sj_meta_set_text). */
sj_status sj_meta_table_build(const sj_hashes *const *sets, const uint8_t *is_new, int n_sets,
                              sj_meta_table **out);
/* Row of id in t, or -1. */
int64_t sj_meta_table_find(const sj_meta_table *t, int64_t id);

/* ---- per-cluster case summary and the triage order ------------------- */

/* Flags (bit mask). */
#define SJ_CASE_MERGES_SERIES 1u   /* two or more known series: suspicious, may be chaining */
#define SJ_CASE_MULTI_CASE 2u      /* members from two or more cases */
#define SJ_CASE_MULTI_SOURCE 4u    /* members from two or more sources */
#define SJ_CASE_NEW_NO_SERIES 8u   /* new uploads in a cluster with no known series */

/* Triage classes, in priority order (README "Triage report"). The class
 * answers "which new uploads need a human first?" from the case metadata
 * (series, case, victim flag) only; sources are provenance, never a reason.
 * Only clusters of two or more hashes with at least one new upload are
 * listed: a single unmatched upload is counted apart (n_unmatched). */
typedef enum sj_triage {
    SJ_TRIAGE_NONE = 0,                 /* not listed */
    SJ_TRIAGE_UNIDENTIFIED_VICTIM = 1,  /* new uploads matching known material whose victim is not
                                         * identified: a series with no identified victim, or a
                                         * corpus image without series not marked identified */
    SJ_TRIAGE_NEW_SERIES = 2,           /* two or more new uploads matching nothing known */
    SJ_TRIAGE_CROSS_CASE = 3,           /* new uploads linking two cases or two series */
    SJ_TRIAGE_KNOWN_IDENTIFIED = 4,     /* new uploads of material whose victims are identified */
    SJ_TRIAGE_NOT_COMPARED = 5          /* a new upload kept out of the join (degenerate, low
                                         * quality): listed by `report`, never a cluster class */
} sj_triage;
#define SJ_TRIAGE_N_CLASSES 6

const char *sj_triage_name(sj_triage t);
/* Comma-separated names of the flags set in f ("merges_series,multi_case"). */
void sj_case_flags_format(unsigned f, char *buf, size_t size);

typedef struct sj_case_summary {
    int64_t n_clusters;
    /* per cluster: */
    int64_t *n_new, *n_known;          /* members that are new uploads / corpus */
    int32_t *n_series, *n_cases, *n_sources; /* distinct non-empty values */
    int32_t *n_series_unidentified;    /* touched series with no identified victim anywhere */
    int8_t *victim_identified;         /* any member yes: 1; else any no: 0; else -1 */
    int8_t *offender_identified;       /* likewise */
    uint8_t *flags;                    /* SJ_CASE_* */
    uint8_t *triage;                   /* sj_triage */
    int32_t **series, **cases, **sources; /* [cluster] -> sorted distinct codes, terminated by -1 */
    int64_t n_ranked;
    int64_t *ranked;                   /* [n_ranked] listed clusters, highest priority first */
    int64_t n_unmatched;               /* new uploads alone in their cluster (not listed) */
} sj_case_summary;

/* Summarize clusters from membership (ids[n], cluster[n]: cluster number
 * 0..n_clusters-1, or negative for excluded/quarantined, which are left
 * out) and the metadata table t (ids missing from t count as corpus with
 * unknown metadata). min_distance[n_clusters] (NULL, or NaN / negative for
 * unknown) is each cluster's smallest match distance, a tie-break of the
 * order. Codes in series/cases/sources are t->meta's. */
sj_status sj_case_summarize(const int64_t *ids, const int64_t *cluster, int64_t n,
                            int64_t n_clusters, const sj_meta_table *t, const double *min_distance,
                            sj_case_summary **out);
void sj_case_summary_free(sj_case_summary *s);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
