/* test_report_api.c - sj_report_write (include/simjoin/report.h) called as a
 * library user would: a random join (ids, new/corpus sides, pairs with
 * distances, excluded uploads) is written as a pairs and a clusters file
 * through the public API, and the report's files are checked row by row
 * against what this test works out itself (union-find over the pairs, the
 * listing rule, nearest matches by brute force). Also: the options (filters,
 * struct_size), outputs never over inputs, nothing printed. */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/formats.h"
#include "simjoin/meta.h"
#include "simjoin/report.h"
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_NODES 240    /* hashes that took part in the join */
#define N_EXCLUDED 9   /* hashes kept out of it (degenerate) */
#define N_ALL (N_NODES + N_EXCLUDED)
#define MAX_FIELDS 24

/* ---- the join, and what the report must say about it ---- */

typedef struct fixture {
    int64_t ids[N_ALL];      /* all ids ascending; node or excluded */
    uint8_t is_new[N_ALL];   /* 1: a new upload (queries side) */
    uint8_t excluded[N_ALL]; /* 1: kept out of the join */
    uint8_t rule[N_ALL];     /* sj_degenerate_rule of an excluded hash */
    sj_pairs pairs;
    /* oracle */
    int root[N_ALL];         /* union-find over the pairs */
    int64_t comp[N_ALL];     /* cluster number (components numbered by their
                              * smallest id), -1 excluded */
    int64_t n_clusters;
    int64_t comp_size[N_ALL], comp_new[N_ALL];
    int64_t nearest_id[N_ALL], known_id[N_ALL];
    double nearest_d[N_ALL], known_d[N_ALL];
} fixture;

static int find(int *root, int i)
{
    while (root[i] != i)
        i = root[i] = root[root[i]];
    return i;
}

static int index_of(const fixture *f, int64_t id)
{
    for (int i = 0; i < N_ALL; i++)
        if (f->ids[i] == id)
            return i;
    return -1;
}

static void closer(int64_t *id, double *d, int64_t other, double dist)
{
    if (isnan(*d) || dist < *d || (dist == *d && other < *id))
        *id = other, *d = dist;
}

/* Indices 0..5 have a fixed part, so that every case occurs: 0 and 1 two
 * new uploads matching each other only (candidate new series), 2 a new upload
 * matching nothing (unmatched), 3 corpus and 4 new matching each other
 * (unidentified victim), 5 a new upload kept out of the join (not compared).
 * The rest is random. */
#define N_FIXED 6

static void add_pair(fixture *f, int a, int b, double d)
{
    f->pairs.v[f->pairs.n++] = (sj_pair){f->ids[a], f->ids[b], d, 0};
    f->root[find(f->root, a)] = find(f->root, b);
}

static void make_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    int64_t id = 100;
    for (int i = 0; i < N_ALL; i++) {
        id += 1 + (int64_t)(t_rand() % 5); /* ascending, with gaps */
        f->ids[i] = id;
        f->is_new[i] = i < N_FIXED ? i != 3 : t_rand() % 3 == 0;
        f->root[i] = i;
    }
    f->excluded[5] = 1, f->rule[5] = SJ_DEGEN_ALL_ZERO;
    for (int k = 1; k < N_EXCLUDED; k++) { /* excluded, some of them new uploads */
        int i = N_FIXED + (int)(t_rand() % (N_ALL - N_FIXED));
        while (f->excluded[i])
            i = N_FIXED + (i + 1 - N_FIXED) % (N_ALL - N_FIXED);
        f->excluded[i] = 1;
        f->rule[i] = (uint8_t)(1 + t_rand() % 3);
        f->is_new[i] = k % 3 != 0;
    }
    /* Pairs: mostly near neighbours (chains and clumps), a few far links;
     * integer distances 0..31 with ties. */
    f->pairs.capacity = 400;
    f->pairs.v = calloc((size_t)f->pairs.capacity, sizeof *f->pairs.v);
    add_pair(f, 0, 1, 31);
    add_pair(f, 3, 4, 0);
    static uint8_t seen[N_ALL][N_ALL];
    memset(seen, 0, sizeof seen);
    const int span = N_ALL - N_FIXED;
    for (int tries = 0; tries < 4000 && f->pairs.n < 170; tries++) {
        int a = N_FIXED + (int)(t_rand() % span);
        int b = t_rand() % 4 ? a + 1 + (int)(t_rand() % 6) : N_FIXED + (int)(t_rand() % span);
        if (b >= N_ALL || a == b || f->excluded[a] || f->excluded[b])
            continue;
        if (a > b) {
            int t = a;
            a = b, b = t;
        }
        if (seen[a][b])
            continue;
        seen[a][b] = 1;
        add_pair(f, a, b, (double)(t_rand() % 32));
    }
    CHECK(sj_pairs_canonicalize(&f->pairs) == SJ_OK, "%s", sj_last_error());
    /* Components numbered by their smallest id (ids ascend with i). */
    int64_t number_of_root[N_ALL];
    for (int i = 0; i < N_ALL; i++)
        number_of_root[i] = -1;
    for (int i = 0; i < N_ALL; i++) {
        f->nearest_id[i] = f->known_id[i] = -1;
        f->nearest_d[i] = f->known_d[i] = NAN;
        if (f->excluded[i]) {
            f->comp[i] = -1;
            continue;
        }
        int r = find(f->root, i);
        if (number_of_root[r] < 0)
            number_of_root[r] = f->n_clusters++;
        f->comp[i] = number_of_root[r];
        f->comp_size[f->comp[i]]++;
        f->comp_new[f->comp[i]] += f->is_new[i];
    }
    for (int64_t p = 0; p < f->pairs.n; p++) { /* nearest matches, brute force */
        const sj_pair *q = &f->pairs.v[p];
        int a = index_of(f, q->a), b = index_of(f, q->b);
        closer(&f->nearest_id[a], &f->nearest_d[a], q->b, q->distance);
        closer(&f->nearest_id[b], &f->nearest_d[b], q->a, q->distance);
        if (!f->is_new[b])
            closer(&f->known_id[a], &f->known_d[a], q->b, q->distance);
        if (!f->is_new[a])
            closer(&f->known_id[b], &f->known_d[b], q->a, q->distance);
    }
}

/* The listing rule (README "Triage report"), for metadata with no series,
 * case or victim flag: a cluster of 2+ hashes with a new upload is listed,
 * as unidentified_victim when it holds a corpus image, else as a candidate
 * new series; a new upload kept out of the join is listed as not_compared. */
static int oracle_class(const fixture *f, int64_t k)
{
    if (f->comp_size[k] < 2 || f->comp_new[k] == 0)
        return SJ_TRIAGE_NONE;
    return f->comp_new[k] < f->comp_size[k] ? SJ_TRIAGE_UNIDENTIFIED_VICTIM : SJ_TRIAGE_NEW_SERIES;
}

/* Write the join's pairs file and clusters file through the public API. */
static void write_inputs(const fixture *f, const char *pairs_path, const char *clusters_path)
{
    sj_join_result r;
    sj_join_result_init(&r);
    CHECK(sj_hash_type_parse("pdq", &r.type) == SJ_OK, "pdq");
    r.metric = SJ_METRIC_HAMMING;
    r.threshold = 31;
    snprintf(r.backend, sizeof r.backend, "test");
    r.pairs.v = malloc((size_t)f->pairs.n * sizeof *r.pairs.v);
    memcpy(r.pairs.v, f->pairs.v, (size_t)f->pairs.n * sizeof *r.pairs.v);
    r.pairs.n = r.pairs.capacity = f->pairs.n;
    r.nodes = malloc(N_ALL * sizeof *r.nodes);
    r.excluded_id = malloc(N_ALL * sizeof *r.excluded_id);
    r.excluded_rule = malloc(N_ALL);
    sj_meta_table *t = r.meta = calloc(1, sizeof *t);
    t->ids = malloc(N_ALL * sizeof *t->ids);
    t->is_new = malloc(N_ALL);
    CHECK(sj_meta_create(&t->meta) == SJ_OK && sj_meta_pad(t->meta, N_ALL) == SJ_OK, "meta");
    for (int i = 0; i < N_ALL; i++) {
        t->ids[i] = f->ids[i], t->is_new[i] = f->is_new[i];
        if (f->excluded[i]) {
            r.excluded_id[r.n_excluded] = f->ids[i];
            r.excluded_rule[r.n_excluded++] = f->rule[i];
        } else {
            r.nodes[r.n_nodes++] = f->ids[i];
        }
    }
    t->n = N_ALL;
    sj_clusters *c = NULL;
    CHECK(sj_cluster_components(r.nodes, r.n_nodes, &r.pairs, &c) == SJ_OK, "%s", sj_last_error());
    CHECK(sj_pairs_file_write(pairs_path, &r) == SJ_OK, "%s", sj_last_error());
    CHECK(sj_clusters_file_write(clusters_path, c, &r, NULL) == SJ_OK, "%s", sj_last_error());
    sj_clusters_free(c);
    sj_join_result_release(&r);
}

/* ---- reading the report back ---- */

typedef struct rows {
    int n;                 /* rows, header included */
    char *(*field)[MAX_FIELDS];
    int *n_fields;
    char *text;
} rows;

/* Split a CSV file (RFC 4180, delimiter delim, LF or CRLF) into fields. */
static int read_csv(const char *path, char delim, rows *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    rewind(fp);
    out->text = malloc((size_t)size + 1);
    size_t got = fread(out->text, 1, (size_t)size, fp);
    fclose(fp);
    out->text[got] = 0;
    int lines = 0;
    for (size_t k = 0; k < got; k++)
        lines += out->text[k] == '\n';
    out->field = calloc((size_t)lines + 1, sizeof *out->field);
    out->n_fields = calloc((size_t)lines + 1, sizeof *out->n_fields);
    char *p = out->text, *w = out->text;
    while (*p) {
        int nf = 0, quoted = 0;
        out->field[out->n][nf++] = w;
        for (; *p; p++) {
            if (quoted) {
                if (*p == '"' && p[1] == '"')
                    *w++ = '"', p++;
                else if (*p == '"')
                    quoted = 0;
                else
                    *w++ = *p;
            } else if (*p == '"') {
                quoted = 1;
            } else if (*p == delim) {
                *w++ = 0;
                if (nf < MAX_FIELDS)
                    out->field[out->n][nf++] = w;
            } else if (*p == '\r' && p[1] == '\n') {
                continue;
            } else if (*p == '\n') {
                p++;
                break;
            } else {
                *w++ = *p;
            }
        }
        *w++ = 0;
        out->n_fields[out->n++] = nf;
    }
    return 0;
}

static void rows_free(rows *r)
{
    free(r->field);
    free(r->n_fields);
    free(r->text);
}

static int count_lines(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    int n = 0, ch;
    while ((ch = fgetc(fp)) != EOF)
        n += ch == '\n';
    fclose(fp);
    return n;
}

static int col(const rows *r, const char *name)
{
    for (int k = 0; r->n > 0 && k < r->n_fields[0]; k++)
        if (!strcmp(r->field[0][k], name))
            return k;
    return -1;
}

static double num_or_nan(const char *s) { return *s ? strtod(s, NULL) : NAN; }

static int same_match(const char *id_text, const char *d_text, int64_t id, double d)
{
    if (isnan(d))
        return !*id_text && !*d_text;
    return *id_text && strtoll(id_text, NULL, 10) == id && strtod(d_text, NULL) == d;
}

/* dir/name read as CSV, checked to hold want_rows rows after its header. */
static void read_report_csv(const char *dir, const char *name, char delim, int64_t want_rows,
                            rows *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(read_csv(path, delim, out) == 0, "%s missing", path);
    CHECK(out->n == want_rows + 1, "%s: %d rows, expected %lld + header", name, out->n,
          (long long)want_rows);
}

static const char *class_name(int c) { return sj_triage_name((sj_triage)c); }

/* The whole report of f in dir, written with pairs (nearest matches) and no filters. */
static void check_full_report(const fixture *f, const char *dir, const sj_report_result *res,
                              int with_pairs)
{
    int64_t want_class[SJ_TRIAGE_N_CLASSES] = {0}, want_members = 0, want_unmatched = 0;
    for (int64_t k = 0; k < f->n_clusters; k++) {
        int c = oracle_class(f, k);
        want_class[c]++;
        if (c)
            want_members += f->comp_size[k];
    }
    for (int i = 0; i < N_ALL; i++) {
        if (f->excluded[i] && f->is_new[i])
            want_class[SJ_TRIAGE_NOT_COMPARED]++, want_members++;
        want_unmatched += !f->excluded[i] && f->is_new[i] && f->comp_size[f->comp[i]] == 1;
    }
    int64_t want_listed = 0;
    for (int c = 1; c < SJ_TRIAGE_N_CLASSES; c++) {
        want_listed += want_class[c];
        CHECK(res->per_class[c] == want_class[c], "class %s: %lld listed, expected %lld",
              class_name(c), (long long)res->per_class[c], (long long)want_class[c]);
    }
    CHECK(want_class[1] > 0 && want_class[2] > 0 && want_class[5] > 0 && want_unmatched > 0,
          "the fixture covers classes 1, 2, 5 and unmatched uploads");
    CHECK(res->listed == want_listed, "listed %lld, expected %lld", (long long)res->listed,
          (long long)want_listed);
    CHECK(res->unmatched == want_unmatched, "unmatched %lld, expected %lld",
          (long long)res->unmatched, (long long)want_unmatched);
    CHECK(res->hashes == N_ALL && res->clusters == f->n_clusters && res->has_meta == 1,
          "hashes %lld clusters %lld (expected %d, %lld) has_meta %d", (long long)res->hashes,
          (long long)res->clusters, N_ALL, (long long)f->n_clusters, res->has_meta);

    char path[4200];
    /* triage.csv: one row per listed entry, classes in order, larger first */
    rows t;
    read_report_csv(dir, "triage.csv", ',', want_listed, &t);
    int c_rank = col(&t, "rank"), c_cl = col(&t, "cluster"), c_tr = col(&t, "triage"),
        c_size = col(&t, "size"), c_new = col(&t, "n_new"), c_known = col(&t, "n_known"),
        c_min = col(&t, "min_distance");
    CHECK(c_rank == 0 && c_cl >= 0 && c_tr >= 0 && c_size >= 0 && c_new >= 0 && c_known >= 0 &&
          c_min >= 0, "triage.csv header");
    int prev_class = 1;
    int64_t prev_size = INT64_MAX;
    double prev_min = -1;
    for (int j = 1; j < t.n && c_min >= 0; j++) {
        char **r = t.field[j];
        CHECK(strtoll(r[c_rank], NULL, 10) == j, "triage.csv row %d: rank %s", j, r[c_rank]);
        int cls = 0;
        for (int c = 1; c < SJ_TRIAGE_N_CLASSES; c++)
            if (!strcmp(r[c_tr], class_name(c)))
                cls = c;
        CHECK(cls >= prev_class, "triage.csv row %d: class %s after a later class", j, r[c_tr]);
        if (cls != prev_class)
            prev_size = INT64_MAX, prev_min = -1;
        prev_class = cls;
        int64_t size = strtoll(r[c_size], NULL, 10);
        if (cls == SJ_TRIAGE_NOT_COMPARED) {
            CHECK(!r[c_cl][0] && size == 1, "triage.csv row %d: an excluded upload", j);
            continue;
        }
        int64_t k = strtoll(r[c_cl], NULL, 10);
        CHECK(k >= 0 && k < f->n_clusters && oracle_class(f, k) == cls,
              "triage.csv row %d: cluster %lld class %s, expected %s", j, (long long)k, r[c_tr],
              k >= 0 && k < f->n_clusters ? class_name(oracle_class(f, k)) : "?");
        if (k < 0 || k >= f->n_clusters)
            continue;
        CHECK(size == f->comp_size[k] && strtoll(r[c_new], NULL, 10) == f->comp_new[k] &&
              strtoll(r[c_known], NULL, 10) == f->comp_size[k] - f->comp_new[k],
              "triage.csv row %d: cluster %lld size/new/known", j, (long long)k);
        double min = num_or_nan(r[c_min]), want_min = INFINITY;
        for (int64_t p = 0; p < f->pairs.n; p++)
            if (f->comp[index_of(f, f->pairs.v[p].a)] == k)
                want_min = fmin(want_min, f->pairs.v[p].distance);
        CHECK(min == want_min, "triage.csv row %d: min_distance %s, expected %g", j, r[c_min],
              want_min);
        CHECK(size < prev_size || (size == prev_size && min >= prev_min),
              "triage.csv row %d: not larger first, then closer first", j);
        prev_size = size, prev_min = min;
    }
    rows_free(&t);

    /* members.csv: every member of the listed entries, with nearest matches */
    rows m;
    read_report_csv(dir, "members.csv", ',', want_members, &m);
    int c_id = col(&m, "id"), c_mcl = col(&m, "cluster"), c_nid = col(&m, "nearest_id"),
        c_nd = col(&m, "nearest_distance"), c_kid = col(&m, "nearest_known_id"),
        c_kd = col(&m, "nearest_known_distance"), c_isnew = col(&m, "new");
    CHECK(c_id >= 0 && c_mcl >= 0 && c_nid >= 0 && c_nd >= 0 && c_kid >= 0 && c_kd >= 0 &&
          c_isnew >= 0, "members.csv header");
    uint8_t listed[N_ALL] = {0};
    for (int j = 1; j < m.n && c_kd >= 0; j++) {
        char **r = m.field[j];
        int i = index_of(f, strtoll(r[c_id], NULL, 10));
        CHECK(i >= 0 && !listed[i], "members.csv row %d: id %s unknown or twice", j, r[c_id]);
        if (i < 0 || listed[i])
            continue;
        listed[i] = 1;
        CHECK(atoi(r[c_isnew]) == f->is_new[i], "members.csv row %d: new", j);
        if (f->excluded[i])
            CHECK(!r[c_mcl][0], "members.csv row %d: an excluded upload has no cluster", j);
        else
            CHECK(strtoll(r[c_mcl], NULL, 10) == f->comp[i], "members.csv row %d: cluster %s, "
                  "expected %lld", j, r[c_mcl], (long long)f->comp[i]);
        CHECK(same_match(r[c_nid], r[c_nd], f->nearest_id[i], with_pairs ? f->nearest_d[i] : NAN),
              "members.csv row %d (id %s): nearest %s at %s", j, r[c_id], r[c_nid], r[c_nd]);
        CHECK(same_match(r[c_kid], r[c_kd], f->known_id[i], with_pairs ? f->known_d[i] : NAN),
              "members.csv row %d (id %s): nearest known %s at %s", j, r[c_id], r[c_kid], r[c_kd]);
    }
    for (int i = 0; i < N_ALL; i++) {
        int want = f->excluded[i] ? f->is_new[i] : oracle_class(f, f->comp[i]) != SJ_TRIAGE_NONE;
        CHECK(listed[i] == want, "members.csv: id %lld %s", (long long)f->ids[i],
              want ? "missing" : "listed but its cluster is not");
    }
    rows_free(&m);

    /* unmatched.csv: the new uploads alone in their cluster */
    rows u;
    read_report_csv(dir, "unmatched.csv", ',', want_unmatched, &u);
    for (int j = 1; j < u.n; j++) {
        int i = index_of(f, strtoll(u.field[j][col(&u, "id")], NULL, 10));
        CHECK(i >= 0 && !f->excluded[i] && f->is_new[i] && f->comp_size[f->comp[i]] == 1,
              "unmatched.csv row %d: not a new upload alone in its cluster", j);
    }
    rows_free(&u);

    /* the other files: as many rows */
    snprintf(path, sizeof path, "%s/triage.jsonl", dir);
    CHECK(count_lines(path) == want_listed, "triage.jsonl: %d lines", count_lines(path));
    snprintf(path, sizeof path, "%s/members.jsonl", dir);
    CHECK(count_lines(path) == want_members, "members.jsonl: %d lines", count_lines(path));
    rows ic;
    read_report_csv(dir, "icse.csv", ';', want_members, &ic);
    rows_free(&ic);
    snprintf(path, sizeof path, "%s/report.html", dir);
    CHECK(count_lines(path) > 10, "report.html missing or short");
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0750, "%s: mode %o, expected 0750", dir,
          (unsigned)(sb.st_mode & 0777));
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "report.html: mode %o, expected 0640",
          (unsigned)(sb.st_mode & 0777));
}

/* ---- nothing printed ---- */

static int saved_out = -1, saved_err = -1;
static char quiet_path[] = "/tmp/sj_report_quiet_XXXXXX";

static void quiet_begin(void)
{
    int fd = mkstemp(quiet_path);
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1), saved_err = dup(2);
    dup2(fd, 1), dup2(fd, 2);
    close(fd);
}

static long quiet_end(void)
{
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1), dup2(saved_err, 2);
    close(saved_out), close(saved_err);
    struct stat sb;
    long size = stat(quiet_path, &sb) == 0 ? (long)sb.st_size : -1;
    unlink(quiet_path);
    return size;
}

static int file_equal(const char *a, const char *b)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

int main(void)
{
    t_init_seed();
    char tmp[] = "/tmp/sj_report_api_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char pairs[256], clusters[256], copy[256], dir[256], path[1200];
    snprintf(pairs, sizeof pairs, "%s/pairs.h5", tmp);
    snprintf(clusters, sizeof clusters, "%s/clusters.h5", tmp);
    snprintf(copy, sizeof copy, "%s/clusters.copy", tmp);
    static fixture f;
    make_fixture(&f);
    write_inputs(&f, pairs, clusters);
    snprintf(path, sizeof path, "cp '%s' '%s'", clusters, copy);
    CHECK(system(path) == 0, "cp");

    /* 1. the whole report, with the pairs file: nothing printed */
    sj_report_options o;
    sj_report_options_init(&o);
    o.pairs_path = pairs;
    sj_report_result res = {.struct_size = sizeof res};
    snprintf(dir, sizeof dir, "%s/report", tmp);
    quiet_begin();
    sj_status st = sj_report_write(clusters, dir, &o, &res);
    long printed = quiet_end();
    CHECK(st == SJ_OK, "sj_report_write: %s", sj_last_error());
    CHECK(printed == 0, "sj_report_write printed %ld bytes", printed);
    CHECK(res.notice[0] == 0, "notice: %s", res.notice);
    check_full_report(&f, dir, &res, 1);

    /* 2. again without the pairs file and default options (o NULL): the
     * directory is replaced, the previous report kept as DIR.prev */
    sj_report_result res2 = {.struct_size = sizeof res2};
    CHECK(sj_report_write(clusters, dir, NULL, &res2) == SJ_OK, "%s", sj_last_error());
    check_full_report(&f, dir, &res2, 0);
    snprintf(path, sizeof path, "%s.prev", dir);
    char prev_members[1300], cur_members[1300];
    snprintf(prev_members, sizeof prev_members, "%s/members.csv", path);
    snprintf(cur_members, sizeof cur_members, "%s/members.csv", dir);
    CHECK(count_lines(prev_members) == count_lines(cur_members) &&
          !file_equal(prev_members, cur_members), "DIR.prev holds the report with nearest matches");

    /* 3. filters: entries of 3+ hashes of class candidate_new_series only */
    sj_report_options_init(&o);
    o.min_size = 3;
    o.classes = 1u << SJ_TRIAGE_NEW_SERIES;
    sj_report_result res3 = {.struct_size = sizeof res3};
    snprintf(dir, sizeof dir, "%s/filtered", tmp);
    CHECK(sj_report_write(clusters, dir, &o, &res3) == SJ_OK, "%s", sj_last_error());
    int64_t want = 0;
    for (int64_t k = 0; k < f.n_clusters; k++)
        want += oracle_class(&f, k) == SJ_TRIAGE_NEW_SERIES && f.comp_size[k] >= 3;
    CHECK(res3.listed == want && res3.per_class[SJ_TRIAGE_NEW_SERIES] == want &&
          res3.per_class[SJ_TRIAGE_UNIDENTIFIED_VICTIM] == 0 &&
          res3.per_class[SJ_TRIAGE_NOT_COMPARED] == 0,
          "filtered: %lld listed, expected %lld", (long long)res3.listed, (long long)want);
    snprintf(path, sizeof path, "%s/triage.csv", dir);
    CHECK(count_lines(path) == want + 1, "filtered triage.csv: %d lines", count_lines(path));
    CHECK(res3.unmatched == res.unmatched, "unmatched uploads are counted whatever the filters");

    /* 4. outputs never over inputs: refused before anything is written */
    sj_report_result bad = {.struct_size = sizeof bad};
    CHECK(sj_report_write(clusters, clusters, NULL, &bad) == SJ_ERR_IO &&
          strstr(sj_last_error(), "clusters.h5"), "report over its clusters file: %s",
          sj_last_error());
    CHECK(bad.listed == 0, "a refused call fills no counts");
    sj_report_options_init(&o);
    o.pairs_path = pairs;
    CHECK(sj_report_write(clusters, pairs, &o, NULL) == SJ_ERR_IO, "report over its pairs file");
    CHECK(file_equal(clusters, copy), "the clusters file is untouched");
    /* an input inside the directory the report replaces */
    snprintf(dir, sizeof dir, "%s/holder", tmp);
    mkdir(dir, 0750);
    snprintf(path, sizeof path, "%s/clusters.h5", dir);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", clusters, path);
    CHECK(system(cmd) == 0, "cp");
    CHECK(sj_report_write(path, dir, NULL, NULL) == SJ_ERR_IO && strstr(sj_last_error(), "inside"),
          "an input inside DIR: %s", sj_last_error());
    CHECK(file_equal(path, copy), "the input inside DIR is untouched");
    /* the caller's other outputs: not an input, not inside DIR */
    const char *others[] = {clusters};
    o.other_outputs = others;
    o.n_other_outputs = 1;
    snprintf(dir, sizeof dir, "%s/other", tmp);
    CHECK(sj_report_write(clusters, dir, &o, NULL) == SJ_ERR_IO, "other output over the input");
    struct stat sb;
    CHECK(stat(dir, &sb) != 0, "nothing written when refused");

    /* 5. struct_size guards the ABI */
    sj_report_options_init(&o);
    o.struct_size = sizeof o + 8; /* from a newer header */
    CHECK(sj_report_write(clusters, dir, &o, NULL) == SJ_ERR_ARG, "a larger options struct");
    sj_report_result big = {.struct_size = sizeof big + 8};
    CHECK(sj_report_write(clusters, dir, NULL, &big) == SJ_ERR_ARG, "a larger result struct");
    /* an older caller's smaller options: the rest are defaults */
    sj_report_options_init(&o);
    o.struct_size = offsetof(sj_report_options, pairs_path);
    o.pairs_path = "/nonexistent/ignored.h5";
    CHECK(sj_report_write(clusters, dir, &o, NULL) == SJ_OK, "a smaller options struct: %s",
          sj_last_error());
    CHECK(stat(dir, &sb) == 0 && sj_report_write(clusters, "-", NULL, NULL) == SJ_ERR_ARG,
          "'-' is not a directory");
    CHECK(strlen(sj_triage_rule(SJ_TRIAGE_NEW_SERIES)) > 10, "sj_triage_rule");

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (!t_failed)
        CHECK(system(cmd) == 0, "rm");
    sj_pairs_free(&f.pairs);
    return t_finish("test_report_api");
}
