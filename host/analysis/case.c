/* case.c - a clusters file seen as case data, and its writers (triage
 * CSV/JSONL, members CSV/JSONL, ICSE-style CSV, static HTML). */
#define _POSIX_C_SOURCE 200809L
#include "analysis/case.h"
#include "simjoin/report.h"
#include "io/h5util.h"
#include "io/text_out.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sj_case_view_free(sj_case_view *v)
{
    free(v->ids);
    free(v->cluster);
    free(v->row);
    free(v->label);
    free(v->size);
    free(v->min_distance);
    free(v->diameter);
    free(v->first);
    free(v->by_cluster);
    free(v->nearest_id);
    free(v->nearest_d);
    free(v->known_id);
    free(v->known_d);
    free(v->rule);
    free(v->entries);
    free(v->unmatched);
    sj_meta_table_free(v->meta);
    sj_case_summary_free(v->sum);
    memset(v, 0, sizeof *v);
}

/* Keep (other, d) in *id, *dist when closer (ties: smaller id). */
static void closer(int64_t *id, double *dist, int64_t other, double d)
{
    if (isnan(*dist) || d < *dist || (d == *dist && other < *id))
        *dist = d, *id = other;
}

/* Nearest match of every hash, and nearest known (corpus-side) match, from a
 * pairs file of the same join. */
static sj_status load_nearest(sj_case_view *v, const char *pairs_path)
{
    sj_join_result r;
    sj_join_result_init(&r);
    sj_id_index ix = {0};
    sj_status st = sj_pairs_file_read(pairs_path, &r);
    if (!st)
        st = sj_id_index_build(&ix, v->ids, v->n);
    for (int64_t p = 0; !st && p < r.pairs.n; p++) {
        const sj_pair *q = &r.pairs.v[p];
        int64_t ia = sj_id_index_find(&ix, q->a), ib = sj_id_index_find(&ix, q->b);
        if (ia < 0 || ib < 0) {
            st = sj_fail(SJ_ERR_MISMATCH, "%s: pair %lld names a hash that the clusters file does "
                                          "not list: not the same join", pairs_path, (long long)p);
            break;
        }
        for (int side = 0; side < 2; side++) {
            int64_t i = side ? ib : ia, o = side ? ia : ib, other = side ? q->a : q->b;
            closer(&v->nearest_id[i], &v->nearest_d[i], other, q->distance);
            if (!(v->row[o] >= 0 && v->meta->is_new[v->row[o]]))
                closer(&v->known_id[i], &v->known_d[i], other, q->distance);
        }
    }
    sj_id_index_free(&ix);
    sj_join_result_release(&r);
    return st;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* A nightly state numbers clusters by stable ids: number them 0..n-1 in
 * id order, keep the stable ids as labels, and count sizes (distances are
 * not kept in the state: -1). Excluded hashes have cluster -1 there. */
static sj_status dense_clusters(sj_case_view *v, const char *path)
{
    int64_t *ids = malloc((size_t)SJ_MAX(v->n, 1) * sizeof *ids), n = 0;
    if (!ids)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < v->n; i++)
        if (v->cluster[i] >= 0)
            ids[n++] = v->cluster[i];
        else if (v->cluster[i] != -1) {
            free(ids);
            return sj_fail(SJ_ERR_FORMAT, "%s: /state/cluster row %lld is negative", path, (long long)i);
        }
    qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[u++] = ids[i];
    v->n_clusters = u;
    v->label = ids;
    size_t nc = (size_t)SJ_MAX(u, 1);
    if (!(v->size = calloc(nc, sizeof *v->size)) || !(v->min_distance = malloc(nc * sizeof(double))) ||
        !(v->diameter = malloc(nc * sizeof(double))))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < u; k++)
        v->min_distance[k] = v->diameter[k] = NAN; /* the state keeps no distances */
    for (int64_t i = 0; i < v->n; i++)
        if (v->cluster[i] >= 0) {
            v->cluster[i] = sj_search_i64(ids, u, v->cluster[i]);
            v->size[v->cluster[i]]++;
        }
    return SJ_OK;
}

/* The rule of each excluded hash of a clusters file (/excluded/id, /rule). */
static sj_status read_excluded_rules(sj_case_view *v, hid_t file, const char *path)
{
    int64_t *ex_id = NULL, *ex_rule = NULL, ne = 0;
    sj_status st = SJ_OK;
    if (!(v->rule = calloc((size_t)SJ_MAX(v->n, 1), sizeof *v->rule)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = sj_h5_read_i64(file, "excluded/id", -1, &ex_id, &ne, path)) ||
        (st = sj_h5_read_i64(file, "excluded/rule", ne, &ex_rule, NULL, path)))
        goto done;
    for (int64_t j = 0; j < ne; j++) {
        int64_t i = sj_search_i64(v->ids, v->n, ex_id[j]);
        if (i < 0 || v->cluster[i] != -1) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /excluded/id row %lld is not an excluded hash of "
                                        "/clusters", path, (long long)j);
            goto done;
        }
        v->rule[i] = ex_rule[j];
    }
done:
    free(ex_id);
    free(ex_rule);
    return st;
}

static int is_new_upload(const sj_case_view *v, int64_t i)
{
    return v->row[i] >= 0 && v->meta->is_new[v->row[i]];
}

/* The triage list (ranked clusters, then excluded uploads by rule and id)
 * and the unmatched uploads. */
static sj_status build_entries(sj_case_view *v)
{
    const sj_case_summary *s = v->sum;
    int64_t n_excluded = 0, n_alone = 0;
    for (int64_t i = 0; i < v->n; i++) {
        n_excluded += v->cluster[i] == -1 && is_new_upload(v, i);
        n_alone += v->cluster[i] >= 0 && v->size[v->cluster[i]] == 1 && is_new_upload(v, i);
    }
    v->entries = malloc((size_t)SJ_MAX(s->n_ranked + n_excluded, 1) * sizeof *v->entries);
    v->unmatched = malloc((size_t)SJ_MAX(n_alone, 1) * sizeof *v->unmatched);
    if (!v->entries || !v->unmatched)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int64_t m = 0;
    for (int64_t r = 0; r < s->n_ranked; r++, m++)
        v->entries[m] = (sj_case_entry){m + 1, s->ranked[r], -1, s->triage[s->ranked[r]]};
    for (int64_t rule = 0; rule <= SJ_DEGEN_LOW_QUALITY; rule++)
        for (int64_t i = 0; i < v->n; i++)
            if (v->cluster[i] == -1 && is_new_upload(v, i) && v->rule[i] == rule) {
                v->entries[m] = (sj_case_entry){m + 1, -1, i, SJ_TRIAGE_NOT_COMPARED};
                m++;
            }
    v->n_entries = m;
    for (int64_t i = 0; i < v->n; i++)
        if (v->cluster[i] >= 0 && v->size[v->cluster[i]] == 1 && is_new_upload(v, i))
            v->unmatched[v->n_unmatched++] = i;
    sj_case_view_filter(v, 0, ~0u);
    return SJ_OK;
}

static int64_t entry_size(const sj_case_view *v, const sj_case_entry *e)
{
    return e->cluster >= 0 ? v->size[e->cluster] : 1;
}

/* The members of an entry: *count positions in ids. */
static const int64_t *entry_members(const sj_case_view *v, const sj_case_entry *e, int64_t *count)
{
    if (e->cluster < 0) {
        *count = 1;
        return &e->member;
    }
    *count = v->first[e->cluster + 1] - v->first[e->cluster];
    return v->by_cluster + v->first[e->cluster];
}

void sj_case_view_filter(sj_case_view *v, int64_t min_size, unsigned class_mask)
{
    int64_t m = 0;
    memset(v->per_class, 0, sizeof v->per_class);
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        if (entry_size(v, e) < min_size || !(class_mask & (1u << e->triage)))
            continue;
        v->per_class[e->triage]++;
        v->entries[m++] = *e;
    }
    v->n_entries = m;
}

sj_status sj_case_view_load(sj_case_view *v, const char *path, const char *pairs_path)
{
    memset(v, 0, sizeof *v);
    hid_t file;
    sj_status st = sj_h5_open(path, &file);
    if (st)
        return st;
    char content[32];
    if ((st = sj_h5_read_attr_str(file, "content", content, sizeof content, 0, path)))
        goto done;
    if (!strcmp(content, "clusters")) {
        if ((st = sj_h5_read_i64(file, "clusters/id", -1, &v->ids, &v->n, path)) ||
            (st = sj_h5_read_i64(file, "clusters/cluster", v->n, &v->cluster, NULL, path)) ||
            (st = sj_h5_read_i64(file, "summary/size", -1, &v->size, &v->n_clusters, path)) ||
            (st = sj_h5_read_f64(file, "summary/min_distance", v->n_clusters, &v->min_distance, NULL,
                                 path)) ||
            (st = sj_h5_read_f64(file, "summary/diameter", v->n_clusters, &v->diameter, NULL, path)) ||
            (st = read_excluded_rules(v, file, path)))
            goto done;
    } else if (!strcmp(content, "nightly-state")) {
        if ((st = sj_h5_read_i64(file, "state/id", -1, &v->ids, &v->n, path)) ||
            (st = sj_h5_read_i64(file, "state/cluster", v->n, &v->cluster, NULL, path)) ||
            (st = sj_h5_read_i64(file, "state/rule", v->n, &v->rule, NULL, path)) ||
            (st = dense_clusters(v, path)))
            goto done;
    } else {
        st = sj_fail(SJ_ERR_FORMAT, "%s: not a clusters file (content='%.16s'): run simjoin cluster "
                                    "first", path, content);
        goto done;
    }
    if (!v->label && !(v->label = malloc((size_t)SJ_MAX(v->n_clusters, 1) * sizeof *v->label))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t k = 0; !strcmp(content, "clusters") && k < v->n_clusters; k++)
        v->label[k] = k;
    if ((st = sj_meta_table_h5_read(file, &v->meta, path)))
        goto done;
    v->has_meta = v->meta != NULL;
    if (!v->meta) { /* a self-join without metadata (joins with queries keep a table): all new */
        sj_meta_table *t = v->meta = calloc(1, sizeof *v->meta);
        if (!t || sj_meta_create(&t->meta) || !(t->ids = malloc((size_t)SJ_MAX(v->n, 1) * sizeof *t->ids)) ||
            !(t->is_new = malloc((size_t)SJ_MAX(v->n, 1)))) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(t->ids, v->ids, (size_t)v->n * sizeof *t->ids);
        memset(t->is_new, 1, (size_t)v->n);
        t->n = v->n;
        if ((st = sj_meta_pad(t->meta, v->n)))
            goto done;
    }
    size_t n1 = (size_t)SJ_MAX(v->n, 1);
    v->row = malloc(n1 * sizeof *v->row);
    v->nearest_id = malloc(n1 * sizeof *v->nearest_id);
    v->nearest_d = malloc(n1 * sizeof *v->nearest_d);
    v->known_id = malloc(n1 * sizeof *v->known_id);
    v->known_d = malloc(n1 * sizeof *v->known_d);
    v->by_cluster = malloc(n1 * sizeof *v->by_cluster);
    v->first = calloc((size_t)v->n_clusters + 2, sizeof *v->first);
    if (!v->row || !v->nearest_id || !v->nearest_d || !v->known_id || !v->known_d || !v->by_cluster ||
        !v->first) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < v->n; i++) {
        if ((i > 0 && v->ids[i] <= v->ids[i - 1]) || v->cluster[i] < -2 ||
            v->cluster[i] >= v->n_clusters) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /clusters row %lld: ids must be sorted and unique, "
                                        "clusters in -2..%lld", path, (long long)i,
                         (long long)v->n_clusters - 1);
            goto done;
        }
        v->row[i] = sj_meta_table_find(v->meta, v->ids[i]);
        v->nearest_id[i] = v->known_id[i] = -1;
        v->nearest_d[i] = v->known_d[i] = NAN;
        if (v->cluster[i] >= 0)
            v->first[v->cluster[i] + 1]++;
    }
    for (int64_t k = 0; k < v->n_clusters; k++)
        v->first[k + 1] += v->first[k];
    {
        int64_t *fill = malloc((size_t)(v->n_clusters + 1) * sizeof *fill);
        if (!fill) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(fill, v->first, (size_t)(v->n_clusters + 1) * sizeof *fill);
        for (int64_t i = 0; i < v->n; i++) /* ids ascending within each cluster */
            if (v->cluster[i] >= 0)
                v->by_cluster[fill[v->cluster[i]]++] = i;
        free(fill);
    }
    if ((st = sj_case_summarize(v->ids, v->cluster, v->n, v->n_clusters, v->meta,
                                v->min_distance, &v->sum)) ||
        (st = build_entries(v)))
        goto done;
    if (pairs_path)
        st = load_nearest(v, pairs_path);
done:
    H5Fclose(file);
    if (st)
        sj_case_view_free(v);
    return st;
}

/* A cluster's distinct values as "a|b|c" into buf. */
static void join_codes(const sj_case_view *v, const int32_t *codes, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (const int32_t *c = codes; *c >= 0 && used < size; c++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", c == codes ? "" : "|",
                                 sj_meta_code_text(v->meta->meta, *c));
}

static void json_codes(FILE *fp, const sj_case_view *v, const char *key, const int32_t *codes)
{
    fprintf(fp, ",\"%s\":[", key);
    for (const int32_t *c = codes; *c >= 0; c++) {
        if (c != codes)
            fputc(',', fp);
        sj_json_put_string(fp, sj_meta_code_text(v->meta->meta, *c));
    }
    fputc(']', fp);
}

static const char *text_of(const sj_case_view *v, int64_t i, sj_meta_text f)
{
    return sj_meta_text_get(v->meta->meta, v->row[i], f);
}

/* A cluster distance as a CSV field (after sep): empty for singletons and
 * when unknown (a nightly state keeps no distances). */
static void put_distance(FILE *fp, const char *sep, double d, int64_t size)
{
    fputs(sep, fp);
    if (size > 1 && !isnan(d))
        fprintf(fp, "%.17g", d);
}

static void put_json_distance(FILE *fp, double d, int64_t size)
{
    if (size > 1 && !isnan(d))
        fprintf(fp, "%.17g", d);
    else
        fputs("null", fp);
}

/* A match as two fields "id<sep>distance" (both empty when none). */
static void put_match(FILE *fp, char sep, int64_t id, double d)
{
    if (!isnan(d))
        fprintf(fp, "%lld%c%.17g", (long long)id, sep, d);
    else
        fputc(sep, fp);
}

static void put_json_match(FILE *fp, const char *name, int64_t id, double d)
{
    if (!isnan(d))
        fprintf(fp, ",\"%s_id\":%lld,\"%s_distance\":%.17g", name, (long long)id, name, d);
    else
        fprintf(fp, ",\"%s_id\":null,\"%s_distance\":null", name, name);
}

/* ---- triage list ---- */

#define LIST_MAX 4096

/* One triage row, from a cluster's summary or from an excluded upload's own
 * metadata (then codes point into own[]). */
typedef struct entry_row {
    char cluster[24]; /* the cluster's label; "" for an excluded upload */
    int64_t size, n_new, n_known;
    int32_t n_series, n_unidentified, n_cases, n_sources;
    const int32_t *series, *cases, *sources; /* -1 terminated */
    int32_t own[3][2];
    int8_t victim, offender;
    char flags[128];
    double min_distance, diameter;
} entry_row;

static void entry_row_fill(const sj_case_view *v, const sj_case_entry *e, entry_row *w)
{
    const sj_case_summary *s = v->sum;
    int64_t k = e->cluster;
    if (k >= 0) {
        *w = (entry_row){.size = v->size[k], .n_new = s->n_new[k], .n_known = s->n_known[k],
                         .n_series = s->n_series[k], .n_unidentified = s->n_series_unidentified[k],
                         .n_cases = s->n_cases[k], .n_sources = s->n_sources[k],
                         .series = s->series[k], .cases = s->cases[k], .sources = s->sources[k],
                         .victim = s->victim_identified[k], .offender = s->offender_identified[k],
                         .min_distance = v->min_distance[k], .diameter = v->diameter[k]};
        snprintf(w->cluster, sizeof w->cluster, "%lld", (long long)v->label[k]);
        sj_case_flags_format(s->flags[k], w->flags, sizeof w->flags);
        return;
    }
    int64_t i = e->member, row = v->row[i];
    static const sj_meta_text fields[3] = {SJ_META_SERIES, SJ_META_CASE_ID, SJ_META_SOURCE};
    *w = (entry_row){.size = 1, .n_new = 1, .victim = sj_meta_victim(v->meta->meta, row),
                     .offender = sj_meta_offender(v->meta->meta, row), .min_distance = NAN,
                     .diameter = NAN};
    int32_t *count[3] = {&w->n_series, &w->n_cases, &w->n_sources};
    for (int f = 0; f < 3; f++) {
        w->own[f][0] = sj_meta_text_code(v->meta->meta, row, fields[f]);
        w->own[f][1] = -1;
        *count[f] = w->own[f][0] >= 0;
    }
    w->series = w->own[0], w->cases = w->own[1], w->sources = w->own[2];
    snprintf(w->flags, sizeof w->flags, "excluded_%s",
             sj_degenerate_rule_name((sj_degenerate_rule)v->rule[i]));
}

void sj_case_write_triage_csv(FILE *fp, const sj_case_view *v)
{
    char buf[LIST_MAX];
    entry_row w;
    fputs("rank,cluster,triage,size,n_new,n_known,n_series,series,series_unidentified,"
          "victim_identified,offender_identified,n_cases,cases,n_sources,sources,flags,"
          "min_distance,diameter\n", fp);
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        entry_row_fill(v, e, &w);
        fprintf(fp, "%lld,%s,%s,%lld,%lld,%lld,%d,", (long long)e->rank, w.cluster,
                sj_triage_name((sj_triage)e->triage), (long long)w.size, (long long)w.n_new,
                (long long)w.n_known, w.n_series);
        join_codes(v, w.series, buf, sizeof buf);
        sj_csv_put_text(fp, buf, ',');
        fprintf(fp, ",%d,%s,%s,%d,", w.n_unidentified, sj_meta_flag_name(w.victim),
                sj_meta_flag_name(w.offender), w.n_cases);
        join_codes(v, w.cases, buf, sizeof buf);
        sj_csv_put_text(fp, buf, ',');
        fprintf(fp, ",%d,", w.n_sources);
        join_codes(v, w.sources, buf, sizeof buf);
        sj_csv_put_text(fp, buf, ',');
        fputc(',', fp);
        sj_csv_put_text(fp, w.flags, ',');
        put_distance(fp, ",", w.min_distance, w.size);
        put_distance(fp, ",", w.diameter, w.size);
        fputc('\n', fp);
    }
}

void sj_case_write_triage_jsonl(FILE *fp, const sj_case_view *v)
{
    entry_row w;
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        entry_row_fill(v, e, &w);
        fprintf(fp, "{\"rank\":%lld,\"cluster\":%s,\"triage\":\"%s\",\"size\":%lld,\"n_new\":%lld,"
                    "\"n_known\":%lld",
                (long long)e->rank, w.cluster[0] ? w.cluster : "null",
                sj_triage_name((sj_triage)e->triage), (long long)w.size, (long long)w.n_new,
                (long long)w.n_known);
        json_codes(fp, v, "series", w.series);
        fprintf(fp, ",\"series_unidentified\":%d,\"victim_identified\":\"%s\","
                    "\"offender_identified\":\"%s\"",
                w.n_unidentified, sj_meta_flag_name(w.victim), sj_meta_flag_name(w.offender));
        json_codes(fp, v, "cases", w.cases);
        json_codes(fp, v, "sources", w.sources);
        fputs(",\"flags\":[", fp);
        for (char *p = w.flags, *tok; (tok = strtok_r(p, ",", &p));)
            fprintf(fp, "%s\"%s\"", tok == w.flags ? "" : ",", tok);
        fputs("],\"min_distance\":", fp);
        put_json_distance(fp, w.min_distance, w.size);
        fputs(",\"diameter\":", fp);
        put_json_distance(fp, w.diameter, w.size);
        fputs("}\n", fp);
    }
}

/* ---- members of the listed clusters ---- */

static const char *const member_text_cols = "series,case_id,category,source,path,md5,sha1";

/* One members.csv row; rank 0 is written empty (unmatched.csv). */
static void member_csv_row(FILE *fp, const sj_case_view *v, int64_t rank, const char *cluster,
                           const char *triage, int64_t i)
{
    if (rank > 0)
        fprintf(fp, "%lld", (long long)rank);
    fprintf(fp, ",%s,%s,%lld,%d", cluster, triage, (long long)v->ids[i], is_new_upload(v, i));
    for (int f = 0; f < SJ_META_N_TEXT; f++) {
        fputc(',', fp);
        sj_csv_put_text(fp, text_of(v, i, (sj_meta_text)f), ',');
    }
    fprintf(fp, ",%s,%s,", sj_meta_flag_name(sj_meta_victim(v->meta->meta, v->row[i])),
            sj_meta_flag_name(sj_meta_offender(v->meta->meta, v->row[i])));
    put_match(fp, ',', v->nearest_id[i], v->nearest_d[i]);
    fputc(',', fp);
    put_match(fp, ',', v->known_id[i], v->known_d[i]);
    fputc('\n', fp);
}

static void members_csv_header(FILE *fp)
{
    fprintf(fp, "rank,cluster,triage,id,new,%s,victim_identified,offender_identified,nearest_id,"
                "nearest_distance,nearest_known_id,nearest_known_distance\n", member_text_cols);
}

void sj_case_write_members_csv(FILE *fp, const sj_case_view *v)
{
    entry_row w;
    members_csv_header(fp);
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        int64_t count;
        const int64_t *mem = entry_members(v, e, &count);
        entry_row_fill(v, e, &w);
        for (int64_t m = 0; m < count; m++)
            member_csv_row(fp, v, e->rank, w.cluster, sj_triage_name((sj_triage)e->triage), mem[m]);
    }
}

void sj_case_write_unmatched_csv(FILE *fp, const sj_case_view *v)
{
    char cluster[24];
    members_csv_header(fp);
    for (int64_t j = 0; j < v->n_unmatched; j++) {
        int64_t i = v->unmatched[j];
        snprintf(cluster, sizeof cluster, "%lld", (long long)v->label[v->cluster[i]]);
        member_csv_row(fp, v, 0, cluster, "unmatched", i);
    }
}

void sj_case_write_members_jsonl(FILE *fp, const sj_case_view *v)
{
    entry_row w;
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        int64_t count;
        const int64_t *mem = entry_members(v, e, &count);
        entry_row_fill(v, e, &w);
        for (int64_t m = 0; m < count; m++) {
            int64_t i = mem[m];
            fprintf(fp, "{\"rank\":%lld,\"cluster\":%s,\"triage\":\"%s\",\"id\":%lld,\"new\":%s",
                    (long long)e->rank, w.cluster[0] ? w.cluster : "null",
                    sj_triage_name((sj_triage)e->triage), (long long)v->ids[i],
                    is_new_upload(v, i) ? "true" : "false");
            for (int f = 0; f < SJ_META_N_TEXT; f++) {
                fprintf(fp, ",\"%s\":", sj_meta_text_name((sj_meta_text)f));
                sj_json_put_string(fp, text_of(v, i, (sj_meta_text)f));
            }
            fprintf(fp, ",\"victim_identified\":\"%s\",\"offender_identified\":\"%s\"",
                    sj_meta_flag_name(sj_meta_victim(v->meta->meta, v->row[i])),
                    sj_meta_flag_name(sj_meta_offender(v->meta->meta, v->row[i])));
            put_json_match(fp, "nearest", v->nearest_id[i], v->nearest_d[i]);
            put_json_match(fp, "nearest_known", v->known_id[i], v->known_d[i]);
            fputs("}\n", fp);
        }
    }
}

/* ---- ICSE-style export ---- */

static const char *icse_flag(int8_t v) { return v == SJ_META_YES ? "Yes" : v == SJ_META_NO ? "No" : ""; }

/* One ICSE row of member i; e NULL for a cluster outside the triage list. */
static void icse_row(FILE *fp, const sj_case_view *v, const sj_case_entry *e, const entry_row *w, int64_t i)
{
    fprintf(fp, "%lld;%s;%lld;", (long long)v->ids[i], w->cluster, (long long)w->size);
    if (e)
        fprintf(fp, "%lld", (long long)e->rank);
    fprintf(fp, ";%s;%s;", e ? sj_triage_name((sj_triage)e->triage) : "",
            is_new_upload(v, i) ? "Yes" : "No");
    sj_csv_put_text(fp, text_of(v, i, SJ_META_SERIES), ';');
    fprintf(fp, ";%s;%s;", icse_flag(sj_meta_victim(v->meta->meta, v->row[i])),
            icse_flag(sj_meta_offender(v->meta->meta, v->row[i])));
    sj_csv_put_text(fp, text_of(v, i, SJ_META_CASE_ID), ';');
    fputc(';', fp);
    sj_csv_put_text(fp, text_of(v, i, SJ_META_CATEGORY), ';');
    fputc(';', fp);
    sj_csv_put_text(fp, text_of(v, i, SJ_META_SOURCE), ';');
    fprintf(fp, ";%s;", w->flags);
    put_match(fp, ';', v->nearest_id[i], v->nearest_d[i]);
    fputc(';', fp);
    put_match(fp, ';', v->known_id[i], v->known_d[i]);
    for (int f = SJ_META_PATH; f <= SJ_META_SHA1; f++) {
        fputc(';', fp);
        sj_csv_put_text(fp, text_of(v, i, (sj_meta_text)f), ';');
    }
    fputs("\r\n", fp);
}

void sj_case_write_icse(FILE *fp, const sj_case_view *v, int all)
{
    entry_row w;
    fputs("Image ID;Cluster ID;Cluster size;Triage rank;Triage;New upload;Series name;"
          "Victim identified;Offender identified;Case ID;Category;Source;Cluster flags;"
          "Nearest match;Distance;Nearest known match;Known distance;File path;MD5;SHA1\r\n", fp);
    uint8_t *listed = calloc((size_t)SJ_MAX(v->n_clusters, 1), 1);
    if (!listed)
        return;
    /* The triage list in order, then (all) the other clusters by number. */
    for (int64_t j = 0; j < v->n_entries; j++) {
        const sj_case_entry *e = &v->entries[j];
        int64_t count;
        const int64_t *mem = entry_members(v, e, &count);
        entry_row_fill(v, e, &w);
        if (e->cluster >= 0)
            listed[e->cluster] = 1;
        for (int64_t m = 0; m < count; m++)
            icse_row(fp, v, e, &w, mem[m]);
    }
    for (int64_t k = 0; all && k < v->n_clusters; k++) {
        if (listed[k])
            continue;
        sj_case_entry e = {0, k, -1, SJ_TRIAGE_NONE};
        int64_t count;
        const int64_t *mem = entry_members(v, &e, &count);
        entry_row_fill(v, &e, &w);
        for (int64_t m = 0; m < count; m++)
            icse_row(fp, v, NULL, &w, mem[m]);
    }
    free(listed);
}

/* ---- HTML ---- */

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
    "<meta name=\"referrer\" content=\"no-referrer\">\n<title>";

static const char html_style[] =
    "</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}\n"
    "h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .4em}\n"
    "table{border-collapse:collapse;margin:.4em 0 1em;max-width:100%}\n"
    "th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}\n"
    "th{background:#e8ecf2;cursor:pointer;user-select:none;white-space:nowrap}\n"
    "#classes td:nth-child(2){white-space:nowrap}\n"
    "th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\n"
    "tr.t1 td:first-child{border-left:6px solid #c0392b}tr.t2 td:first-child{border-left:6px solid #e67e22}\n"
    "tr.t3 td:first-child{border-left:6px solid #2874a6}tr.t4 td:first-child{border-left:6px solid #7f8c8d}\n"
    "tr.t5 td:first-child{border-left:6px solid #8e44ad}\n"
    ".flag{display:inline-block;background:#fdebd0;border-radius:3px;padding:0 4px;margin:1px}\n"
    ".new{font-weight:600;color:#a93226}.note{color:#555}details{margin:.3em 0}\n"
    "summary{cursor:pointer}\n</style>\n</head>\n<body>\n";

/* Sort any table with class "sortable" by a clicked header; numbers
 * numerically (data-n on the cell, else its text). No network, no eval. */
static const char html_script[] =
    "<script>\n"
    "document.querySelectorAll('table.sortable').forEach(function(t){\n"
    " t.querySelectorAll('th').forEach(function(th,col){\n"
    "  th.addEventListener('click',function(){\n"
    "   var asc=th.getAttribute('aria-sort')!=='ascending';\n"
    "   t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});\n"
    "   th.setAttribute('aria-sort',asc?'ascending':'descending');\n"
    "   var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);\n"
    "   function key(r){var c=r.cells[col],n=c.getAttribute('data-n');\n"
    "    if(n!==null)return parseFloat(n);var x=c.textContent;return isNaN(x)||x===''?x:parseFloat(x);}\n"
    "   rows.sort(function(a,b){var x=key(a),y=key(b);\n"
    "    var r=(typeof x===typeof y)?(x<y?-1:x>y?1:0):(typeof x==='number'?-1:1);return asc?r:-r;});\n"
    "   rows.forEach(function(r){body.appendChild(r);});\n"
    "  });\n"
    " });\n"
    "});\n"
    "</script>\n";

static void html_codes(FILE *fp, const sj_case_view *v, const int32_t *codes)
{
    for (const int32_t *c = codes; *c >= 0; c++) {
        if (c != codes)
            fputs("<br>", fp);
        sj_html_put_text(fp, sj_meta_code_text(v->meta->meta, *c));
    }
}

const char *sj_triage_rule(sj_triage t)
{
    switch (t) {
    case SJ_TRIAGE_UNIDENTIFIED_VICTIM:
        return "new uploads matching known material whose victim is not identified: a series "
               "none of whose hashes says victim identified, or a corpus image without a series "
               "that does not say so";
    case SJ_TRIAGE_NEW_SERIES:
        return "two or more new uploads matching each other and nothing known (no corpus image, "
               "no series): a candidate new series";
    case SJ_TRIAGE_CROSS_CASE:
        return "new uploads linking two or more cases or series (all victims identified)";
    case SJ_TRIAGE_KNOWN_IDENTIFIED:
        return "new uploads matching material whose victims are identified (new distribution)";
    case SJ_TRIAGE_NOT_COMPARED:
        return "new uploads kept out of the join (degenerate or low quality): not compared, "
               "check by hand";
    case SJ_TRIAGE_NONE: break;
    }
    return "not listed";
}

/* One triage table row of entry e (its class is the section's). */
static void html_entry_row(FILE *fp, const sj_case_view *v, const sj_case_entry *e)
{
    entry_row w;
    entry_row_fill(v, e, &w);
    fprintf(fp, "<tr class=\"t%d\"><td>%lld</td><td><a href=\"#e%lld\">%s</a></td><td>%lld</td>"
                "<td>%lld</td><td>%lld</td><td>",
            e->triage, (long long)e->rank, (long long)e->rank, w.cluster[0] ? w.cluster : "&ndash;",
            (long long)w.size, (long long)w.n_new, (long long)w.n_known);
    html_codes(fp, v, w.sources);
    fputs("</td><td>", fp);
    html_codes(fp, v, w.series);
    fprintf(fp, "</td><td>%s / %s</td><td>", sj_meta_flag_name(w.victim), sj_meta_flag_name(w.offender));
    html_codes(fp, v, w.cases);
    fputs("</td><td>", fp);
    for (char *p = w.flags, *tok; (tok = strtok_r(p, ",", &p));)
        fprintf(fp, "<span class=\"flag\">%s</span> ", tok);
    if (w.size > 1 && !isnan(w.min_distance))
        fprintf(fp, "</td><td>%.6g</td><td>%.6g</td></tr>\n", w.min_distance, w.diameter);
    else /* a singleton has no internal distance */
        fputs("</td><td data-n=\"-1\"></td><td data-n=\"-1\"></td></tr>\n", fp);
}

static void html_member_row(FILE *fp, const sj_case_view *v, int64_t i)
{
    int is_new = is_new_upload(v, i);
    fprintf(fp, "<tr><td>%lld</td><td%s>%s</td><td>", (long long)v->ids[i],
            is_new ? " class=\"new\"" : "", is_new ? "new" : "known");
    sj_html_put_text(fp, text_of(v, i, SJ_META_SOURCE));
    fputs("</td><td>", fp);
    sj_html_put_text(fp, text_of(v, i, SJ_META_SERIES));
    fprintf(fp, "</td><td>%s / %s</td><td>",
            sj_meta_flag_name(sj_meta_victim(v->meta->meta, v->row[i])),
            sj_meta_flag_name(sj_meta_offender(v->meta->meta, v->row[i])));
    sj_html_put_text(fp, text_of(v, i, SJ_META_CASE_ID));
    fputs("</td><td>", fp);
    sj_html_put_text(fp, text_of(v, i, SJ_META_CATEGORY));
    for (int m = 0; m < 2; m++) {
        int64_t id = m ? v->known_id[i] : v->nearest_id[i];
        double d = m ? v->known_d[i] : v->nearest_d[i];
        if (!isnan(d))
            fprintf(fp, "</td><td>%lld</td><td>%.6g", (long long)id, d);
        else
            fputs("</td><td></td><td>", fp);
    }
    fputs("</td><td>", fp);
    sj_html_put_text(fp, text_of(v, i, SJ_META_PATH));
    fputs("</td><td>", fp);
    sj_html_put_text(fp, text_of(v, i, SJ_META_SHA1));
    fputs("</td></tr>\n", fp);
}

void sj_case_write_html(FILE *fp, const sj_case_view *v, const char *title, int64_t max_clusters,
                     int64_t max_members)
{
    fputs(html_head, fp);
    sj_html_put_text(fp, title);
    fputs(html_style, fp);
    fputs("<h1>simjoin triage report</h1>\n<p class=\"note\">", fp);
    sj_html_put_text(fp, title);
    fprintf(fp, ": %lld hashes in %lld clusters; %lld entries listed; %lld single new uploads "
                "matched nothing and are not listed (unmatched.csv). These are candidates for "
                "review, not findings.%s</p>\n",
            (long long)v->n, (long long)v->n_clusters, (long long)v->n_entries,
            (long long)v->n_unmatched,
            v->has_meta ? "" : " The clusters file carries no case metadata (a self-join): every "
                               "hash counts as a new upload.");
    fputs("<h2>Priority: which new uploads need a human first?</h2>\n<table id=\"classes\"><thead>"
          "<tr><th>Order</th><th>Class</th><th>Listed</th><th>Rule</th></tr></thead><tbody>\n", fp);
    for (int c = 1; c < SJ_TRIAGE_N_CLASSES; c++)
        fprintf(fp, "<tr class=\"t%d\"><td>%d</td><td><a href=\"#class-%d\">%s</a></td><td>%lld</td>"
                    "<td>%s</td></tr>\n",
                c, c, c, sj_triage_name((sj_triage)c), (long long)v->per_class[c],
                sj_triage_rule((sj_triage)c));
    fprintf(fp, "<tr><td></td><td>unmatched</td><td>%lld</td><td>single new uploads that matched "
                "nothing: not listed, see unmatched.csv</td></tr>\n",
            (long long)v->n_unmatched);
    fputs("</tbody></table>\n<p class=\"note\">The class follows the case metadata (series, case, "
          "victim flag); sources are provenance, shown beside it. Within a class: larger clusters "
          "first, then more sources, then the closer smallest match, then the lower cluster "
          "number. Click a column header to sort.</p>\n", fp);
    int64_t shown = SJ_MIN(v->n_entries, max_clusters);
    for (int c = 1; c < SJ_TRIAGE_N_CLASSES; c++) {
        fprintf(fp, "<h2 id=\"class-%d\">%d. %s (%lld)</h2>\n", c, c, sj_triage_name((sj_triage)c),
                (long long)v->per_class[c]);
        if (!v->per_class[c]) {
            fputs("<p class=\"note\">None.</p>\n", fp);
            continue;
        }
        fprintf(fp, "<table class=\"sortable\" id=\"triage-%d\"><thead><tr><th>Rank</th>"
                    "<th>Cluster</th><th>Size</th><th>New</th><th>Known</th><th>Sources</th>"
                    "<th>Series</th><th>Victim / offender identified</th><th>Cases</th>"
                    "<th>Flags</th><th>Min distance</th><th>Diameter</th></tr></thead><tbody>\n",
                c);
        for (int64_t j = 0; j < shown; j++)
            if (v->entries[j].triage == c)
                html_entry_row(fp, v, &v->entries[j]);
        fputs("</tbody></table>\n", fp);
    }
    if (shown < v->n_entries)
        fprintf(fp, "<p class=\"note\">%lld more entries are in triage.csv.</p>\n",
                (long long)(v->n_entries - shown));
    fputs("<h2>Members</h2>\n", fp);
    for (int64_t j = 0; j < shown; j++) {
        const sj_case_entry *e = &v->entries[j];
        int64_t count;
        const int64_t *mem = entry_members(v, e, &count);
        entry_row w;
        entry_row_fill(v, e, &w);
        fprintf(fp, "<details id=\"e%lld\"><summary>Rank %lld &middot; cluster %s &middot; %s "
                    "&middot; %lld members</summary>\n<table class=\"sortable\"><thead><tr>"
                    "<th>Id</th><th>New</th><th>Source</th><th>Series</th>"
                    "<th>Victim / offender identified</th><th>Case</th><th>Category</th>"
                    "<th>Nearest match</th><th>Distance</th><th>Nearest known</th><th>Distance</th>"
                    "<th>File</th><th>SHA-1</th></tr></thead><tbody>\n",
                (long long)e->rank, (long long)e->rank, w.cluster[0] ? w.cluster : "&ndash;",
                sj_triage_name((sj_triage)e->triage), (long long)count);
        int64_t end = SJ_MIN(count, max_members);
        for (int64_t m = 0; m < end; m++)
            html_member_row(fp, v, mem[m]);
        fputs("</tbody></table>\n", fp);
        if (end < count)
            fprintf(fp, "<p class=\"note\">%lld more members are in members.csv.</p>\n",
                    (long long)(count - end));
        fputs("</details>\n", fp);
    }
    fputs(html_script, fp);
    fputs("</body>\n</html>\n", fp);
}
