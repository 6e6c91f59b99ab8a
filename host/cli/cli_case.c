/* cli_case.c - a clusters file seen as case data, and its writers (triage
 * CSV/JSONL, members CSV/JSONL, ICSE-style CSV, static HTML). */
#define _POSIX_C_SOURCE 200809L
#include "cli_case.h"
#include "h5util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void case_view_free(case_view *v)
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
static sj_status load_nearest(case_view *v, const char *pairs_path)
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
static sj_status dense_clusters(case_view *v, const char *path)
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

sj_status case_view_load(case_view *v, const char *path, const char *pairs_path)
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
            (st = sj_h5_read_f64(file, "summary/diameter", v->n_clusters, &v->diameter, NULL, path)))
            goto done;
    } else if (!strcmp(content, "nightly-state")) {
        if ((st = sj_h5_read_i64(file, "state/id", -1, &v->ids, &v->n, path)) ||
            (st = sj_h5_read_i64(file, "state/cluster", v->n, &v->cluster, NULL, path)) ||
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
    if ((st = sj_case_summarize(v->ids, v->cluster, v->n, v->n_clusters, v->meta, &v->sum)))
        goto done;
    if (pairs_path)
        st = load_nearest(v, pairs_path);
done:
    H5Fclose(file);
    if (st)
        case_view_free(v);
    return st;
}

/* ---- text escaping ---- */

void cli_put_csv(FILE *fp, const char *s, char delim)
{
    if (!strchr(s, delim) && !strchr(s, '"') && !strchr(s, '\n') && !strchr(s, '\r')) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

void cli_put_json(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c < 0x20)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

static void put_html(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

/* A cluster's distinct values as "a|b|c" into buf. */
static void join_codes(const case_view *v, const int32_t *codes, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (const int32_t *c = codes; *c >= 0 && used < size; c++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", c == codes ? "" : "|",
                                 sj_meta_code_text(v->meta->meta, *c));
}

static void json_codes(FILE *fp, const case_view *v, const char *key, const int32_t *codes)
{
    fprintf(fp, ",\"%s\":[", key);
    for (const int32_t *c = codes; *c >= 0; c++) {
        if (c != codes)
            fputc(',', fp);
        cli_put_json(fp, sj_meta_code_text(v->meta->meta, *c));
    }
    fputc(']', fp);
}

static const char *text_of(const case_view *v, int64_t i, sj_meta_text f)
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

void case_write_triage_csv(FILE *fp, const case_view *v)
{
    const sj_case_summary *s = v->sum;
    char buf[LIST_MAX], flags[128];
    fputs("rank,cluster,triage,size,n_new,n_known,n_series,series,series_unidentified,"
          "victim_identified,offender_identified,n_cases,cases,n_sources,sources,flags,"
          "min_distance,diameter\n", fp);
    for (int64_t r = 0; r < s->n_ranked; r++) {
        int64_t k = s->ranked[r];
        fprintf(fp, "%lld,%lld,%s,%lld,%lld,%lld,%d,", (long long)r + 1, (long long)v->label[k],
                sj_triage_name((sj_triage)s->triage[k]), (long long)v->size[k],
                (long long)s->n_new[k], (long long)s->n_known[k], s->n_series[k]);
        join_codes(v, s->series[k], buf, sizeof buf);
        cli_put_csv(fp, buf, ',');
        fprintf(fp, ",%d,%s,%s,%d,", s->n_series_unidentified[k],
                sj_meta_flag_name(s->victim_identified[k]),
                sj_meta_flag_name(s->offender_identified[k]), s->n_cases[k]);
        join_codes(v, s->cases[k], buf, sizeof buf);
        cli_put_csv(fp, buf, ',');
        fprintf(fp, ",%d,", s->n_sources[k]);
        join_codes(v, s->sources[k], buf, sizeof buf);
        cli_put_csv(fp, buf, ',');
        sj_case_flags_format(s->flags[k], flags, sizeof flags);
        fputc(',', fp);
        cli_put_csv(fp, flags, ',');
        put_distance(fp, ",", v->min_distance[k], v->size[k]);
        put_distance(fp, ",", v->diameter[k], v->size[k]);
        fputc('\n', fp);
    }
}

void case_write_triage_jsonl(FILE *fp, const case_view *v)
{
    const sj_case_summary *s = v->sum;
    char flags[128];
    for (int64_t r = 0; r < s->n_ranked; r++) {
        int64_t k = s->ranked[r];
        fprintf(fp, "{\"rank\":%lld,\"cluster\":%lld,\"triage\":\"%s\",\"size\":%lld,\"n_new\":%lld,"
                    "\"n_known\":%lld",
                (long long)r + 1, (long long)v->label[k], sj_triage_name((sj_triage)s->triage[k]),
                (long long)v->size[k], (long long)s->n_new[k], (long long)s->n_known[k]);
        json_codes(fp, v, "series", s->series[k]);
        fprintf(fp, ",\"series_unidentified\":%d,\"victim_identified\":\"%s\","
                    "\"offender_identified\":\"%s\"",
                s->n_series_unidentified[k], sj_meta_flag_name(s->victim_identified[k]),
                sj_meta_flag_name(s->offender_identified[k]));
        json_codes(fp, v, "cases", s->cases[k]);
        json_codes(fp, v, "sources", s->sources[k]);
        sj_case_flags_format(s->flags[k], flags, sizeof flags);
        fputs(",\"flags\":[", fp);
        for (char *p = flags, *tok; (tok = strtok_r(p, ",", &p));)
            fprintf(fp, "%s\"%s\"", tok == flags ? "" : ",", tok);
        fputs("],\"min_distance\":", fp);
        put_json_distance(fp, v->min_distance[k], v->size[k]);
        fputs(",\"diameter\":", fp);
        put_json_distance(fp, v->diameter[k], v->size[k]);
        fputs("}\n", fp);
    }
}

/* ---- members of the listed clusters ---- */

static const char *const member_text_cols = "series,case_id,category,source,path,md5,sha1";

void case_write_members_csv(FILE *fp, const case_view *v)
{
    const sj_case_summary *s = v->sum;
    fprintf(fp, "rank,cluster,triage,id,new,%s,victim_identified,offender_identified,nearest_id,"
                "nearest_distance,nearest_known_id,nearest_known_distance\n", member_text_cols);
    for (int64_t r = 0; r < s->n_ranked; r++) {
        int64_t k = s->ranked[r];
        for (int64_t j = v->first[k]; j < v->first[k + 1]; j++) {
            int64_t i = v->by_cluster[j];
            fprintf(fp, "%lld,%lld,%s,%lld,%d", (long long)r + 1, (long long)v->label[k],
                    sj_triage_name((sj_triage)s->triage[k]), (long long)v->ids[i],
                    v->row[i] >= 0 && v->meta->is_new[v->row[i]]);
            for (int f = 0; f < SJ_META_N_TEXT; f++) {
                fputc(',', fp);
                cli_put_csv(fp, text_of(v, i, (sj_meta_text)f), ',');
            }
            fprintf(fp, ",%s,%s,", sj_meta_flag_name(sj_meta_victim(v->meta->meta, v->row[i])),
                    sj_meta_flag_name(sj_meta_offender(v->meta->meta, v->row[i])));
            put_match(fp, ',', v->nearest_id[i], v->nearest_d[i]);
            fputc(',', fp);
            put_match(fp, ',', v->known_id[i], v->known_d[i]);
            fputc('\n', fp);
        }
    }
}

void case_write_members_jsonl(FILE *fp, const case_view *v)
{
    const sj_case_summary *s = v->sum;
    for (int64_t r = 0; r < s->n_ranked; r++) {
        int64_t k = s->ranked[r];
        for (int64_t j = v->first[k]; j < v->first[k + 1]; j++) {
            int64_t i = v->by_cluster[j];
            fprintf(fp, "{\"rank\":%lld,\"cluster\":%lld,\"triage\":\"%s\",\"id\":%lld,\"new\":%s",
                    (long long)r + 1, (long long)v->label[k], sj_triage_name((sj_triage)s->triage[k]),
                    (long long)v->ids[i],
                    v->row[i] >= 0 && v->meta->is_new[v->row[i]] ? "true" : "false");
            for (int f = 0; f < SJ_META_N_TEXT; f++) {
                fprintf(fp, ",\"%s\":", sj_meta_text_name((sj_meta_text)f));
                cli_put_json(fp, text_of(v, i, (sj_meta_text)f));
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

void case_write_icse(FILE *fp, const case_view *v, int all)
{
    const sj_case_summary *s = v->sum;
    char flags[128];
    fputs("Image ID;Cluster ID;Cluster size;Triage rank;Triage;New upload;Series name;"
          "Victim identified;Offender identified;Case ID;Category;Source;Cluster flags;"
          "Nearest match;Distance;Nearest known match;Known distance;File path;MD5;SHA1\r\n", fp);
    int64_t *rank = calloc((size_t)SJ_MAX(v->n_clusters, 1), sizeof *rank);
    if (!rank)
        return;
    for (int64_t r = 0; r < s->n_ranked; r++)
        rank[s->ranked[r]] = r + 1;
    /* Listed clusters in triage order, then (all) the others by number. */
    for (int pass = 0; pass < 2; pass++) {
        int64_t count = pass == 0 ? s->n_ranked : (all ? v->n_clusters : 0);
        for (int64_t t = 0; t < count; t++) {
            int64_t k = pass == 0 ? s->ranked[t] : t;
            if (pass == 1 && rank[k])
                continue;
            sj_case_flags_format(s->flags[k], flags, sizeof flags);
            for (int64_t j = v->first[k]; j < v->first[k + 1]; j++) {
                int64_t i = v->by_cluster[j];
                fprintf(fp, "%lld;%lld;%lld;", (long long)v->ids[i], (long long)v->label[k],
                        (long long)v->size[k]);
                if (rank[k])
                    fprintf(fp, "%lld", (long long)rank[k]);
                fprintf(fp, ";%s;%s;", rank[k] ? sj_triage_name((sj_triage)s->triage[k]) : "",
                        v->row[i] >= 0 && v->meta->is_new[v->row[i]] ? "Yes" : "No");
                cli_put_csv(fp, text_of(v, i, SJ_META_SERIES), ';');
                fprintf(fp, ";%s;%s;", icse_flag(sj_meta_victim(v->meta->meta, v->row[i])),
                        icse_flag(sj_meta_offender(v->meta->meta, v->row[i])));
                cli_put_csv(fp, text_of(v, i, SJ_META_CASE_ID), ';');
                fputc(';', fp);
                cli_put_csv(fp, text_of(v, i, SJ_META_CATEGORY), ';');
                fputc(';', fp);
                cli_put_csv(fp, text_of(v, i, SJ_META_SOURCE), ';');
                fprintf(fp, ";%s;", flags);
                put_match(fp, ';', v->nearest_id[i], v->nearest_d[i]);
                fputc(';', fp);
                put_match(fp, ';', v->known_id[i], v->known_d[i]);
                for (int f = SJ_META_PATH; f <= SJ_META_SHA1; f++) {
                    fputc(';', fp);
                    cli_put_csv(fp, text_of(v, i, (sj_meta_text)f), ';');
                }
                fputs("\r\n", fp);
            }
        }
    }
    free(rank);
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
    "table{border-collapse:collapse;margin:.4em 0 1em}\n"
    "th,td{border:1px solid #bbb;padding:3px 7px;text-align:left;vertical-align:top;white-space:nowrap}\n"
    "th{background:#e8ecf2;cursor:pointer;user-select:none;white-space:nowrap}\n"
    "th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\n"
    "tr.t1 td:first-child{border-left:6px solid #c0392b}tr.t2 td:first-child{border-left:6px solid #e67e22}\n"
    "tr.t3 td:first-child{border-left:6px solid #2874a6}tr.t4 td:first-child{border-left:6px solid #7f8c8d}\n"
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

static void html_codes(FILE *fp, const case_view *v, const int32_t *codes)
{
    for (const int32_t *c = codes; *c >= 0; c++) {
        if (c != codes)
            fputs("<br>", fp);
        put_html(fp, sj_meta_code_text(v->meta->meta, *c));
    }
}

void case_write_html(FILE *fp, const case_view *v, const char *title, int64_t max_clusters,
                     int64_t max_members)
{
    const sj_case_summary *s = v->sum;
    int64_t per_class[5] = {0};
    for (int64_t r = 0; r < s->n_ranked; r++)
        per_class[s->triage[s->ranked[r]]]++;
    fputs(html_head, fp);
    put_html(fp, title);
    fputs(html_style, fp);
    fputs("<h1>simjoin triage report</h1>\n<p class=\"note\">", fp);
    put_html(fp, title);
    fprintf(fp, ": %lld hashes in %lld clusters; %lld clusters listed. These are candidates for "
                "review, not findings.%s</p>\n",
            (long long)v->n, (long long)v->n_clusters, (long long)s->n_ranked,
            v->has_meta ? "" : " The clusters file carries no case metadata (a self-join): every "
                               "hash counts as a new upload.");
    fputs("<h2>Priority</h2>\n<table><thead><tr><th>Order</th><th>Class</th><th>Rule</th>"
          "<th>Clusters</th></tr></thead><tbody>\n", fp);
    static const char *rules[5] = {
        "", "new uploads in a cluster that touches no known series",
        "new uploads in a cluster touching a series whose victim is not identified",
        "the cluster links two or more cases, sources or series",
        "new uploads of series whose victims are identified"};
    for (int c = 1; c <= 4; c++)
        fprintf(fp, "<tr class=\"t%d\"><td>%d</td><td>%s</td><td>%s</td><td>%lld</td></tr>\n", c, c,
                sj_triage_name((sj_triage)c), rules[c], (long long)per_class[c]);
    fputs("</tbody></table>\n<p class=\"note\">Within a class: more new uploads first, then larger "
          "clusters, then lower cluster number. Click a column header to sort.</p>\n", fp);
    fputs("<h2>Triage list</h2>\n<table class=\"sortable\" id=\"triage\"><thead><tr>"
          "<th>Rank</th><th>Cluster</th><th>Class</th><th>Size</th><th>New</th><th>Known</th>"
          "<th>Series</th><th>Victim identified</th><th>Offender identified</th><th>Cases</th>"
          "<th>Sources</th><th>Flags</th><th>Min distance</th><th>Diameter</th>"
          "</tr></thead><tbody>\n", fp);
    int64_t shown = SJ_MIN(s->n_ranked, max_clusters);
    char flags[128];
    for (int64_t r = 0; r < shown; r++) {
        int64_t k = s->ranked[r];
        fprintf(fp, "<tr class=\"t%d\"><td>%lld</td><td><a href=\"#c%lld\">%lld</a></td>"
                    "<td data-n=\"%d\">%s</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
                s->triage[k], (long long)r + 1, (long long)k, (long long)v->label[k], s->triage[k],
                sj_triage_name((sj_triage)s->triage[k]), (long long)v->size[k],
                (long long)s->n_new[k], (long long)s->n_known[k]);
        html_codes(fp, v, s->series[k]);
        fprintf(fp, "</td><td>%s</td><td>%s</td><td>", sj_meta_flag_name(s->victim_identified[k]),
                sj_meta_flag_name(s->offender_identified[k]));
        html_codes(fp, v, s->cases[k]);
        fputs("</td><td>", fp);
        html_codes(fp, v, s->sources[k]);
        fputs("</td><td>", fp);
        sj_case_flags_format(s->flags[k], flags, sizeof flags);
        for (char *p = flags, *tok; (tok = strtok_r(p, ",", &p));)
            fprintf(fp, "<span class=\"flag\">%s</span>", tok);
        if (v->size[k] > 1 && !isnan(v->min_distance[k]))
            fprintf(fp, "</td><td>%.6g</td><td>%.6g</td></tr>\n", v->min_distance[k], v->diameter[k]);
        else /* a singleton has no internal distance */
            fputs("</td><td data-n=\"-1\"></td><td data-n=\"-1\"></td></tr>\n", fp);
    }
    fputs("</tbody></table>\n", fp);
    if (shown < s->n_ranked)
        fprintf(fp, "<p class=\"note\">%lld more clusters are in triage.csv.</p>\n",
                (long long)(s->n_ranked - shown));
    fputs("<h2>Members</h2>\n", fp);
    for (int64_t r = 0; r < shown; r++) {
        int64_t k = s->ranked[r];
        fprintf(fp, "<details id=\"c%lld\"><summary>Rank %lld &middot; cluster %lld &middot; %s "
                    "&middot; %lld members</summary>\n<table class=\"sortable\"><thead><tr>"
                    "<th>Id</th><th>New</th><th>Series</th><th>Victim identified</th>"
                    "<th>Offender identified</th><th>Case</th><th>Category</th><th>Source</th>"
                    "<th>Nearest match</th><th>Distance</th><th>Nearest known</th><th>Distance</th>"
                    "<th>File</th><th>SHA-1</th></tr></thead><tbody>\n",
                (long long)k, (long long)r + 1, (long long)v->label[k], sj_triage_name((sj_triage)s->triage[k]),
                (long long)v->size[k]);
        int64_t end = SJ_MIN(v->first[k + 1], v->first[k] + max_members);
        for (int64_t j = v->first[k]; j < end; j++) {
            int64_t i = v->by_cluster[j];
            int is_new = v->row[i] >= 0 && v->meta->is_new[v->row[i]];
            fprintf(fp, "<tr><td>%lld</td><td%s>%s</td><td>", (long long)v->ids[i],
                    is_new ? " class=\"new\"" : "", is_new ? "new" : "known");
            put_html(fp, text_of(v, i, SJ_META_SERIES));
            fprintf(fp, "</td><td>%s</td><td>%s</td><td>",
                    sj_meta_flag_name(sj_meta_victim(v->meta->meta, v->row[i])),
                    sj_meta_flag_name(sj_meta_offender(v->meta->meta, v->row[i])));
            put_html(fp, text_of(v, i, SJ_META_CASE_ID));
            fputs("</td><td>", fp);
            put_html(fp, text_of(v, i, SJ_META_CATEGORY));
            fputs("</td><td>", fp);
            put_html(fp, text_of(v, i, SJ_META_SOURCE));
            for (int m = 0; m < 2; m++) {
                int64_t id = m ? v->known_id[i] : v->nearest_id[i];
                double d = m ? v->known_d[i] : v->nearest_d[i];
                if (!isnan(d))
                    fprintf(fp, "</td><td>%lld</td><td>%.6g", (long long)id, d);
                else
                    fputs("</td><td></td><td>", fp);
            }
            fputs("</td><td>", fp);
            put_html(fp, text_of(v, i, SJ_META_PATH));
            fputs("</td><td>", fp);
            put_html(fp, text_of(v, i, SJ_META_SHA1));
            fputs("</td></tr>\n", fp);
        }
        fputs("</tbody></table>\n", fp);
        if (end < v->first[k + 1])
            fprintf(fp, "<p class=\"note\">%lld more members are in members.csv.</p>\n",
                    (long long)(v->first[k + 1] - end));
        fputs("</details>\n", fp);
    }
    fputs(html_script, fp);
    fputs("</body>\n</html>\n", fp);
}
