/* sweep_table.c - the table of `simjoin sweep` (simjoin/sweep.h): one pairs
 * file, every threshold, one or more linkages, scored against ground-truth
 * labels when there are some, with the marked thresholds; written as CSV
 * (with the histogram beside it) or JSON. */
#include "io/inputs.h"
#include "io/outputs.h"
#include "simjoin/formats.h"
#include "simjoin/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sj_status bad_thresholds(const char *text)
{
    return sj_fail(SJ_ERR_ARG, "bad --thresholds '%s' (LO:HI:STEP or a list)", text);
}

/* A threshold as used and shown: rounded to 12 significant digits, so that
 * 0:0.5:0.1 gives 0.3 and not 0.30000000000000004. */
static double tidy(double t)
{
    char b[32];
    snprintf(b, sizeof b, "%.12g", t);
    return strtod(b, NULL);
}

sj_status sj_sweep_thresholds_parse(const char *text, double **out, int *n)
{
    double lo, hi, step = 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    if (strchr(buf, ':')) {
        char *a = strtok(buf, ":"), *b = strtok(NULL, ":"), *c = strtok(NULL, ":");
        if (!a || !b || sj_parse_f64(a, &lo) || sj_parse_f64(b, &hi) ||
            (c && sj_parse_f64(c, &step)) || hi < lo || !(step > 0) || (hi - lo) / step > 100000)
            return bad_thresholds(text);
        int64_t count = (int64_t)floor((hi - lo) / step * (1 + 1e-12)) + 1;
        if (!(*out = malloc((size_t)count * sizeof **out)))
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        for (int64_t k = 0; k < count; k++)
            (*out)[(*n)++] = tidy(lo + (double)k * step);
        return SJ_OK;
    }
    if (!(*out = malloc(sizeof **out * (strlen(buf) / 2 + 2))))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        double v;
        if (sj_parse_f64(t, &v))
            return bad_thresholds(text);
        (*out)[(*n)++] = v;
    }
    return *n ? SJ_OK : bad_thresholds(text);
}

static int cmp_id_pos(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* labels[i] for nodes[i] from the shards' (id, label) rows; -1 where none.
 * *found: how many nodes the shards list. */
static int64_t *align_labels(const sj_hashes *set, const int64_t *nodes, int64_t n, int64_t *found)
{
    int64_t *pairs = malloc((size_t)SJ_MAX(set->n, 1) * 2 * sizeof *pairs);
    int64_t *labels = malloc((size_t)SJ_MAX(n, 1) * sizeof *labels);
    if (!pairs || !labels) {
        free(pairs);
        free(labels);
        return NULL;
    }
    for (int64_t r = 0; r < set->n; r++)
        pairs[2 * r] = set->ids[r], pairs[2 * r + 1] = set->labels[r];
    qsort(pairs, (size_t)set->n, 2 * sizeof *pairs, cmp_id_pos);
    *found = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t key[2] = {nodes[i], 0};
        int64_t *hit = bsearch(key, pairs, (size_t)set->n, 2 * sizeof *pairs, cmp_id_pos);
        labels[i] = hit ? hit[1] : -1;
        *found += hit != NULL;
    }
    free(pairs);
    return labels;
}

/* Labels must describe at least this share of the join's hashes (compared
 * and excluded): fewer means the wrong label file, not ground truth. */
#define LABEL_MIN_COVERAGE 0.5
/* The largest cluster "jumps" where it grows at least this many times over
 * from one swept threshold to the next. */
#define LARGEST_JUMP_RATIO 2.0

static void mark_rows(sj_sweep_linkage *run)
{
    const sj_sweep *s = run->sw;
    double best = -1;
    int64_t grow = 0;
    run->best_f1 = run->largest_jump = -1;
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        if (!isnan(r->f1) && r->f1 > best)
            best = r->f1, run->best_f1 = i;
        int64_t before = i > 0 ? s->rows[i - 1].largest : 0;
        if (i > 0 && before > 0 && (double)r->largest >= LARGEST_JUMP_RATIO * (double)before &&
            r->largest - before > grow)
            grow = r->largest - before, run->largest_jump = i;
    }
}

const char *sj_sweep_row_mark(const sj_sweep_linkage *run, int i)
{
    int f = i == run->best_f1, j = i == run->largest_jump;
    return f && j ? "best_f1|largest_jump" : f ? "best_f1" : j ? "largest_jump" : "";
}

void sj_sweep_metric_text(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "%.6f", v);
}

/* The histogram beside a CSV output: F.csv -> F.histogram.csv */
void sj_sweep_histogram_path(const char *out, char *buf, size_t size)
{
    const char *dot = strrchr(out, '.');
    size_t stem = dot && strcmp(dot, ".csv") == 0 ? (size_t)(dot - out) : strlen(out);
    snprintf(buf, size, "%.*s.histogram.csv", (int)stem, out);
}

#define N_METRICS 7
static void row_metrics(const sj_sweep_row *r, double m[N_METRICS])
{
    m[0] = r->precision, m[1] = r->recall, m[2] = r->f1, m[3] = r->b3_precision;
    m[4] = r->b3_recall, m[5] = r->ari, m[6] = r->recall_compared;
}
static const char *const metric_names[N_METRICS] = {"precision", "recall", "f1", "b3_precision",
                                                    "b3_recall", "ari", "recall_compared"};

static sj_status write_csv(const char *out, const sj_sweep_linkage *runs, int n_runs)
{
    sj_text_file t;
    sj_status st = sj_text_open(&t, out);
    if (st)
        return st;
    fprintf(t.fp, "threshold,pairs,clusters,singletons,largest,quarantined");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, ",size_%s", sj_sweep_size_class_names[k]);
    for (int k = 0; k < N_METRICS; k++)
        fprintf(t.fp, ",%s", metric_names[k]);
    fprintf(t.fp, ",linkage,mark\n");
    for (int u = 0; u < n_runs; u++) {
        const sj_sweep *s = runs[u].sw;
        for (int i = 0; i < s->n_rows; i++) {
            const sj_sweep_row *r = &s->rows[i];
            fprintf(t.fp, "%.12g,%lld,%lld,%lld,%lld,%lld", r->threshold, (long long)r->pairs,
                    (long long)r->clusters, (long long)r->singletons, (long long)r->largest,
                    (long long)r->quarantined);
            for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
                fprintf(t.fp, ",%lld", (long long)r->size_classes[k]);
            double m[N_METRICS];
            row_metrics(r, m);
            for (int k = 0; k < N_METRICS; k++) {
                char b[32];
                sj_sweep_metric_text(m[k], b, sizeof b);
                fprintf(t.fp, ",%s", b);
            }
            fprintf(t.fp, ",%s,%s\n", runs[u].linkage, sj_sweep_row_mark(&runs[u], i));
        }
    }
    st = sj_text_close(&t, 1);
    if (st || !out || !strcmp(out, "-"))
        return st;
    const sj_sweep *s = runs[0].sw; /* the histogram does not depend on the linkage */
    char hpath[4200];
    sj_sweep_histogram_path(out, hpath, sizeof hpath);
    if ((st = sj_text_open(&t, hpath)))
        return st;
    fprintf(t.fp, "distance,pairs\n"); /* the lower edge of each bin */
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%.12g,%lld\n", s->hist_lo + k * s->hist_width, (long long)s->histogram[k]);
    return sj_text_close(&t, 1);
}

static void json_threshold(FILE *fp, const char *key, const sj_sweep_linkage *run, int i)
{
    if (i >= 0)
        fprintf(fp, "\"%s\": %.12g", key, run->sw->rows[i].threshold);
    else
        fprintf(fp, "\"%s\": null", key);
}

static void json_rows(FILE *fp, const sj_sweep_linkage *run)
{
    const sj_sweep *s = run->sw;
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        fprintf(fp, "    {\"threshold\": %.12g, \"pairs\": %lld, \"clusters\": %lld, "
                    "\"singletons\": %lld, \"largest\": %lld, \"quarantined\": %lld, "
                    "\"size_classes\": [",
                r->threshold, (long long)r->pairs, (long long)r->clusters,
                (long long)r->singletons, (long long)r->largest, (long long)r->quarantined);
        for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
            fprintf(fp, "%s%lld", k ? ", " : "", (long long)r->size_classes[k]);
        double m[N_METRICS];
        row_metrics(r, m);
        fprintf(fp, "]");
        for (int k = 0; k < N_METRICS; k++) {
            if (isnan(m[k]))
                fprintf(fp, ", \"%s\": null", metric_names[k]);
            else
                fprintf(fp, ", \"%s\": %.9g", metric_names[k], m[k]);
        }
        fprintf(fp, ", \"mark\": \"%s\"}%s\n", sj_sweep_row_mark(run, i), i + 1 < s->n_rows ? "," : "");
    }
}

/* One object: the first linkage at the top level (rows, marks), every
 * linkage in "runs", the histogram and the options used. */
static sj_status write_json(const char *out, const sj_sweep_linkage *runs, int n_runs, double join_threshold,
                            int64_t labelled, int64_t excluded_labelled)
{
    sj_text_file t;
    sj_status st = sj_text_open(&t, out);
    if (st)
        return st;
    const sj_sweep *s = runs[0].sw;
    fprintf(t.fp, "{\n  \"join_threshold\": %.12g,\n  \"linkage\": \"%s\",\n  \"max_matches\": %lld,\n"
                  "  \"degree_ratio\": %g,\n  \"labels\": %s,\n  \"labelled_hashes\": %lld,\n"
                  "  \"excluded_labelled_hashes\": %lld,\n  \"incremental\": %s,\n  ",
            join_threshold, runs[0].linkage, (long long)runs[0].o.max_matches, runs[0].o.degree_ratio,
            s->has_labels ? "true" : "false", (long long)labelled, (long long)excluded_labelled,
            s->incremental ? "true" : "false");
    json_threshold(t.fp, "best_f1_threshold", &runs[0], runs[0].best_f1);
    fprintf(t.fp, ",\n  ");
    json_threshold(t.fp, "largest_jump_threshold", &runs[0], runs[0].largest_jump);
    fprintf(t.fp, ",\n  \"size_classes\": [");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, "%s\"%s\"", k ? ", " : "", sj_sweep_size_class_names[k]);
    fprintf(t.fp, "],\n  \"rows\": [\n");
    json_rows(t.fp, &runs[0]);
    fprintf(t.fp, "  ],\n  \"runs\": [\n");
    for (int u = 0; u < n_runs; u++) {
        fprintf(t.fp, "   {\"linkage\": \"%s\", ", runs[u].linkage);
        json_threshold(t.fp, "best_f1_threshold", &runs[u], runs[u].best_f1);
        fprintf(t.fp, ", ");
        json_threshold(t.fp, "largest_jump_threshold", &runs[u], runs[u].largest_jump);
        fprintf(t.fp, ", \"rows\": [\n");
        json_rows(t.fp, &runs[u]);
        fprintf(t.fp, "   ]}%s\n", u + 1 < n_runs ? "," : "");
    }
    fprintf(t.fp, "  ],\n  \"histogram_lo\": %.12g,\n  \"histogram_width\": %.12g,\n"
                  "  \"histogram\": [", s->hist_lo, s->hist_width);
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%s%lld", k ? ", " : "", (long long)s->histogram[k]);
    fprintf(t.fp, "]\n}\n");
    return sj_text_close(&t, 1);
}

/* Score the rows of run over every labelled hash of the join: the
 * compared ones (run->sw) and the excluded ones as singletons, never
 * matched (missed). Recall over the compared hashes stays in
 * recall_compared. */
static sj_status score_all(sj_sweep_linkage *run, const int64_t *all_ids, int64_t n_all,
                           const int64_t *all_labels, const sj_pairs *pairs, const double *thr,
                           int n_thr)
{
    sj_sweep *all = NULL;
    sj_status st = sj_sweep_run(all_ids, n_all, all_labels, pairs, thr, n_thr, &run->o, &all);
    if (st)
        return st;
    for (int i = 0; i < run->sw->n_rows; i++) {
        sj_sweep_row *r = &run->sw->rows[i];
        const sj_sweep_row *q = &all->rows[i];
        r->recall_compared = r->recall;
        r->precision = q->precision, r->recall = q->recall, r->f1 = q->f1;
        r->b3_precision = q->b3_precision, r->b3_recall = q->b3_recall, r->ari = q->ari;
    }
    sj_sweep_free(all);
    return SJ_OK;
}


void sj_sweep_table_options_init(sj_sweep_table_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

void sj_sweep_table_free(sj_sweep_table *t)
{
    if (!t)
        return;
    for (int u = 0; u < t->n_runs; u++)
        sj_sweep_free(t->runs[u].sw);
    free(t);
}

/* The labels of every hash of the join (compared, then excluded), and of the
 * compared ones; refused when they cover too few of the join's hashes. */
static sj_status align_all(sj_sweep_table *t, const sj_join_result *res, const sj_hashes *label_set,
                           const char *what, int64_t **all_ids, int64_t **all_labels, int64_t **labels)
{
    int64_t n_all = res->n_nodes + res->n_excluded, found_nodes;
    if (!(*all_ids = malloc((size_t)SJ_MAX(n_all, 1) * sizeof **all_ids)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    memcpy(*all_ids, res->nodes, (size_t)res->n_nodes * sizeof **all_ids);
    memcpy(*all_ids + res->n_nodes, res->excluded_id, (size_t)res->n_excluded * sizeof **all_ids);
    if (!(*all_labels = align_labels(label_set, *all_ids, n_all, &t->labelled)) ||
        !(*labels = align_labels(label_set, res->nodes, res->n_nodes, &found_nodes)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    t->excluded_labelled = t->labelled - found_nodes;
    if ((double)t->labelled < LABEL_MIN_COVERAGE * (double)n_all)
        return sj_fail(SJ_ERR_MISMATCH, "%s: the labels cover %lld of the join's %lld hashes "
                                        "(%.1f%%); at least %.0f%% must be labelled (are these "
                                        "the labels of this join's inputs?)",
                       what, (long long)t->labelled, (long long)n_all,
                       n_all ? 100.0 * (double)t->labelled / (double)n_all : 0.0,
                       100 * LABEL_MIN_COVERAGE);
    return SJ_OK;
}

/* The hashes complete linkage needs: --hashes, else the join's inputs (read
 * once, perhaps as the label set). *owned: what to free. */
static sj_status complete_hashes(const sj_sweep_table_options *o, const sj_join_result *res,
                                 sj_hashes *inputs_set, sj_hashes *label_set, sj_hashes **owned,
                                 sj_hashes **out)
{
    sj_hashes *hashes = inputs_set ? inputs_set : o->n_label ? NULL : label_set;
    sj_status st;
    if (o->n_hash && (st = sj_read_shards((char **)o->hash_paths, o->n_hash, owned, NULL)))
        return st;
    if (*owned)
        hashes = *owned;
    if (!hashes)
        return sj_fail(SJ_ERR_ARG, "--linkage complete:D needs the hashes; the join's input "
                                   "shards are not readable here: give --hashes");
    if (hashes->dihedral && !res->dihedral) { /* a plain join: canonical distances */
        free(hashes->dihedral);
        hashes->dihedral = NULL;
    }
    if (res->dihedral && !hashes->dihedral)
        return sj_fail(SJ_ERR_ARG, "--linkage complete:D on a --dihedral join needs dihedral "
                                   "hashes for every input (give --hashes with /dihedral)");
    *out = hashes;
    return SJ_OK;
}

sj_status sj_sweep_table_run(const sj_sweep_table_options *o, sj_sweep_table **out)
{
    *out = NULL;
    if (o->struct_size != sizeof *o)
        return sj_fail(SJ_ERR_ARG, "sj_sweep_table_run: options not set up by "
                                   "sj_sweep_table_options_init of this library");
    if (o->n_linkages < 1 || o->n_linkages > SJ_SWEEP_MAX_LINKAGES || o->n_thr < 1)
        return sj_fail(SJ_ERR_ARG, "sj_sweep_table_run: 1..%d linkages and some thresholds",
                       SJ_SWEEP_MAX_LINKAGES);
    sj_sweep_table *t = calloc(1, sizeof *t);
    if (!t)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int any_complete = 0;
    for (int u = 0; u < o->n_linkages; u++) {
        t->runs[u].o = o->linkages[u];
        sj_linkage_format(&t->runs[u].o, t->runs[u].linkage, sizeof t->runs[u].linkage);
        any_complete |= t->runs[u].o.linkage == SJ_LINK_COMPLETE;
    }
    t->n_runs = o->n_linkages;
    int64_t *labels = NULL, *all_ids = NULL, *all_labels = NULL;
    sj_hashes *label_set = NULL, *hash_set = NULL, *inputs_set = NULL, *hashes = NULL;
    sj_join_result res;
    sj_join_result_init(&res);
    sj_status st;
    if ((st = sj_pairs_file_read(o->pairs_path, &res)) ||
        (st = sj_check_outputs_vs_join(o->outputs, o->n_outputs, &res)))
        goto done;
    for (int i = 0; i < o->n_thr; i++)
        if (o->thresholds[i] > res.threshold) {
            st = sj_fail(SJ_ERR_ARG, "%s was joined at threshold %.12g; cannot sweep to %.12g (join "
                                     "again at the largest threshold)", o->pairs_path, res.threshold,
                         o->thresholds[i]);
            goto done;
        }
    /* Shards: labels (explicit, or the join's inputs) and, for complete
     * linkage, the hashes. The join's inputs are found from the pairs
     * file's directory and checked against the join's checksums (NULL when
     * not readable here). */
    if ((!o->n_label || (any_complete && !o->n_hash)) && (st = sj_read_join_inputs(&res, &inputs_set)))
        goto done;
    if (!o->n_label && inputs_set && inputs_set->labels) {
        label_set = inputs_set;
        inputs_set = NULL;
    } else if (o->n_label && (st = sj_read_shards((char **)o->label_paths, o->n_label, &label_set, NULL))) {
        goto done;
    }
    if (o->n_label && !label_set->labels) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: no /labels dataset", o->label_paths[0]);
        goto done;
    }
    if (label_set && (st = align_all(t, &res, label_set, o->n_label ? o->label_paths[0] :
                                     "the join's inputs", &all_ids, &all_labels, &labels)))
        goto done;
    if (any_complete && (st = complete_hashes(o, &res, inputs_set, label_set, &hash_set, &hashes)))
        goto done;
    for (int u = 0; u < t->n_runs; u++) {
        sj_sweep_linkage *run = &t->runs[u];
        if (run->o.linkage == SJ_LINK_COMPLETE) {
            run->o.hashes = hashes;
            run->o.metric = res.metric;
        }
        if ((st = sj_sweep_run(res.nodes, res.n_nodes, labels, &res.pairs, o->thresholds, o->n_thr,
                               &run->o, &run->sw)) ||
            (labels && t->excluded_labelled > 0 &&
             (st = score_all(run, all_ids, res.n_nodes + res.n_excluded, all_labels, &res.pairs,
                             o->thresholds, o->n_thr))))
            goto done;
        run->o.hashes = NULL; /* borrowed for the run only */
        mark_rows(run);
    }
    t->join_threshold = res.threshold;
    t->n_pairs = res.pairs.n;
    t->n_hashes = res.n_nodes;
    t->has_labels = labels != NULL;
done:
    sj_hashes_free(label_set);
    sj_hashes_free(hash_set);
    sj_hashes_free(inputs_set);
    sj_join_result_release(&res);
    free(labels);
    free(all_ids);
    free(all_labels);
    if (st)
        sj_sweep_table_free(t);
    else
        *out = t;
    return st;
}

sj_status sj_sweep_table_write(const sj_sweep_table *t, const char *path, int json)
{
    return json ? write_json(path, t->runs, t->n_runs, t->join_threshold, t->labelled, t->excluded_labelled)
                : write_csv(path, t->runs, t->n_runs);
}
