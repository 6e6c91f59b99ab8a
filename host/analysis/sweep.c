/* sweep.c - every threshold from one join (see sweep.h).
 *
 * The incremental path sorts the pairs by distance (counting sort when the
 * distances are small integers, else a stable comparison sort) and runs Kruskal-order union-find once; at each
 * threshold it reads off counters that every union updates in O(1), and,
 * with labels, pairwise and B-cubed counts kept per cluster in label-count
 * maps merged small into large (O(n log n) over the whole sweep):
 *   P  = sum over clusters C(|c|, 2)          predicted pairs
 *   A  = sum over classes  C(|l|, 2)          true pairs (constant)
 *   TP = sum over (c, l)   C(n_cl, 2)         pairs right
 *   S2(c) = sum_l n_cl^2,  B3P = (1/N) sum_c S2(c)/|c|
 *   B3R = (1/N) sum_c sum_l n_cl^2/|l|
 * Merging clusters X and Y with cross = sum_l n_Xl n_Yl adds |X||Y| to P,
 * cross to TP and 2 cross to S2. */
#include "simjoin/sweep.h"

#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sj_sweep_size_class_names[SJ_SWEEP_SIZE_CLASSES] = {
    "2", "3-5", "6-10", "11-100", "101-1000", ">1000"};

static int size_class(int64_t size) /* -1 for singletons */
{
    return size <= 1 ? -1 : size == 2 ? 0 : size <= 5 ? 1 : size <= 10 ? 2 : size <= 100 ? 3
                                                                         : size <= 1000 ? 4 : 5;
}

void sj_sweep_free(sj_sweep *s)
{
    if (!s)
        return;
    free(s->rows);
    free(s->histogram);
    free(s);
}

/* ---- quality from the counters ---- */

typedef struct quality {
    double n, p, a, tp, b3p_sum, b3r_sum;
} quality;

static void finish_quality(sj_sweep_row *r, const quality *q)
{
    r->precision = q->p > 0 ? q->tp / q->p : 1.0;
    r->recall = q->a > 0 ? q->tp / q->a : 1.0;
    r->f1 = r->precision + r->recall > 0
                ? 2 * r->precision * r->recall / (r->precision + r->recall) : 0.0;
    r->b3_precision = q->n > 0 ? q->b3p_sum / q->n : 1.0;
    r->b3_recall = q->n > 0 ? q->b3r_sum / q->n : 1.0;
    double pairs = q->n * (q->n - 1) / 2;
    double expected = pairs > 0 ? q->p * q->a / pairs : 0;
    double max = (q->p + q->a) / 2;
    r->ari = max - expected != 0 ? (q->tp - expected) / (max - expected) : 1.0;
    r->recall_compared = r->recall;
}

static void no_quality(sj_sweep_row *r)
{
    r->precision = r->recall = r->f1 = r->b3_precision = r->b3_recall = r->ari = NAN;
    r->recall_compared = NAN;
}

/* ---- label-count maps (class -> count), open addressing ---- */

typedef struct lmap {
    int64_t *key; /* -1: empty */
    int64_t *val;
    int64_t cap, n;
} lmap;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

static int64_t *lmap_slot(lmap *m, int64_t key)
{
    uint64_t i = mix((uint64_t)key) & (uint64_t)(m->cap - 1);
    while (m->key[i] != -1 && m->key[i] != key)
        i = (i + 1) & (uint64_t)(m->cap - 1);
    return &m->key[i];
}

static int64_t lmap_get(const lmap *m, int64_t key)
{
    int64_t *k = lmap_slot((lmap *)m, key);
    return *k == key ? m->val[k - m->key] : 0;
}

static sj_status lmap_add(lmap *m, int64_t key, int64_t count)
{
    if (2 * (m->n + 1) > m->cap) {
        lmap bigger = {NULL, NULL, m->cap ? 2 * m->cap : 8, 0};
        bigger.key = malloc((size_t)bigger.cap * sizeof *bigger.key);
        bigger.val = malloc((size_t)bigger.cap * sizeof *bigger.val);
        if (!bigger.key || !bigger.val) {
            free(bigger.key);
            free(bigger.val);
            return sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
        }
        for (int64_t i = 0; i < bigger.cap; i++)
            bigger.key[i] = -1;
        for (int64_t i = 0; i < m->cap; i++)
            if (m->key[i] != -1) {
                int64_t *k = lmap_slot(&bigger, m->key[i]);
                *k = m->key[i];
                bigger.val[k - bigger.key] = m->val[i];
                bigger.n++;
            }
        free(m->key);
        free(m->val);
        *m = bigger;
    }
    int64_t *k = lmap_slot(m, key);
    if (*k != key) {
        *k = key;
        m->val[k - m->key] = 0;
        m->n++;
    }
    m->val[k - m->key] += count;
    return SJ_OK;
}

/* ---- shared preparation ---- */

typedef struct prep {
    int64_t n;
    int64_t *ids;      /* sorted */
    int64_t *cls;      /* [n] dense class of each node (label -1: a class of its own) */
    int64_t *cls_size; /* [n_cls] */
    int64_t n_cls;
    int64_t *ea, *eb;  /* edges as node indices, sorted by distance */
    double *ed;
    int64_t m;
} prep;

static void prep_free(prep *p)
{
    free(p->ids);
    free(p->cls);
    free(p->cls_size);
    free(p->ea);
    free(p->eb);
    free(p->ed);
}

typedef struct id_label {
    int64_t id, label;
} id_label;

static int cmp_id_label(const void *x, const void *y)
{
    const id_label *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_label(const void *x, const void *y)
{
    const id_label *a = x, *b = y;
    if (a->label != b->label)
        return a->label < b->label ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

typedef struct dist_key {
    double d;
    int64_t k;
} dist_key;

static int cmp_dist_key(const void *x, const void *y) /* stable: the index breaks ties */
{
    const dist_key *a = x, *b = y;
    if (a->d != b->d)
        return a->d < b->d ? -1 : 1;
    return a->k < b->k ? -1 : a->k > b->k;
}

/* Pair numbers in (distance, input order) order; *order owned by the caller.
 * int_max >= 0: every distance is an integer in 0..int_max (counting sort). */
static sj_status distance_order(const sj_pairs *pairs, int64_t int_max, int64_t **order)
{
    size_t m1 = (size_t)SJ_MAX(pairs->n, 1);
    int64_t *o = malloc(m1 * sizeof *o);
    if (!o)
        return sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
    if (int_max < 0) { /* keys beside their index: no globals, cache-friendly compares */
        dist_key *keys = malloc(m1 * sizeof *keys);
        if (!keys) {
            free(o);
            return sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
        }
        for (int64_t k = 0; k < pairs->n; k++)
            keys[k] = (dist_key){pairs->v[k].distance, k};
        qsort(keys, (size_t)pairs->n, sizeof *keys, cmp_dist_key);
        for (int64_t k = 0; k < pairs->n; k++)
            o[k] = keys[k].k;
        free(keys);
    } else {
        int64_t *start = calloc((size_t)int_max + 2, sizeof *start);
        if (!start) {
            free(o);
            return sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
        }
        for (int64_t k = 0; k < pairs->n; k++)
            start[(int64_t)pairs->v[k].distance + 1]++;
        for (int64_t d = 0; d <= int_max; d++)
            start[d + 1] += start[d];
        for (int64_t k = 0; k < pairs->n; k++)
            o[start[(int64_t)pairs->v[k].distance]++] = k;
        free(start);
    }
    *order = o;
    return SJ_OK;
}

static sj_status prepare(prep *p, const int64_t *ids, int64_t n, const int64_t *labels,
                         const sj_pairs *pairs, int64_t int_max)
{
    memset(p, 0, sizeof *p);
    size_t n1 = (size_t)SJ_MAX(n, 1), m1 = (size_t)SJ_MAX(pairs->n, 1);
    id_label *v = malloc(n1 * sizeof *v);
    p->n = n;
    p->ids = malloc(n1 * sizeof *p->ids);
    p->cls = malloc(n1 * sizeof *p->cls);
    p->cls_size = calloc(n1, sizeof *p->cls_size);
    p->ea = malloc(m1 * sizeof *p->ea);
    p->eb = malloc(m1 * sizeof *p->eb);
    p->ed = malloc(m1 * sizeof *p->ed);
    int64_t *order = NULL;
    sj_status st = SJ_OK;
    sj_id_index ix = {0};
    if (!v || !p->ids || !p->cls || !p->cls_size || !p->ea || !p->eb || !p->ed) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = (id_label){ids[i], labels ? labels[i] : -1};
    qsort(v, (size_t)n, sizeof *v, cmp_id_label);
    for (int64_t i = 0; i < n; i++) {
        if (i && v[i].id == v[i - 1].id) {
            st = sj_fail(SJ_ERR_DUPLICATE_ID, "sweep: an id appears twice among the nodes");
            goto done;
        }
        p->ids[i] = v[i].id;
    }
    /* Dense classes: equal labels share one; label -1 is a class per hash. */
    qsort(v, (size_t)n, sizeof *v, cmp_label);
    if ((st = sj_id_index_build(&ix, p->ids, n)))
        goto done;
    for (int64_t i = 0; i < n; i++) {
        int64_t node = sj_id_index_find(&ix, v[i].id);
        if (v[i].label < 0 || i == 0 || v[i].label != v[i - 1].label)
            p->n_cls++;
        p->cls[node] = p->n_cls - 1;
        p->cls_size[p->n_cls - 1]++;
    }
    /* Edges in distance order (stable: keeps (a, b) order). */
    if ((st = distance_order(pairs, int_max, &order)))
        goto done;
    for (int64_t at = 0; at < pairs->n; at++) {
        const sj_pair *q = &pairs->v[order[at]];
        int64_t a = sj_id_index_find(&ix, q->a), b = sj_id_index_find(&ix, q->b);
        if (a < 0 || b < 0) {
            st = sj_fail(SJ_ERR_FORMAT, "sweep: pair %lld names an id that is not a node",
                         (long long)order[at]);
            goto done;
        }
        p->ea[at] = a;
        p->eb[at] = b;
        p->ed[at] = q->distance;
    }
    p->m = pairs->n;
done:
    sj_id_index_free(&ix);
    free(v);
    free(order);
    return st;
}

static quality base_quality(const prep *p)
{
    quality q = {(double)p->n, 0, 0, 0, (double)p->n, 0};
    for (int64_t l = 0; l < p->n_cls; l++) {
        double s = (double)p->cls_size[l];
        q.a += s * (s - 1) / 2;
        q.b3r_sum += s * (1.0 / s); /* each singleton cluster: n_cl^2/|l| = 1/|l|, summed */
    }
    return q;
}

/* ---- incremental path ---- */

static sj_status sweep_incremental(const prep *p, int with_labels, const double *thr, int n_thr,
                                   sj_sweep_row *rows)
{
    const int64_t n = p->n;
    size_t n1 = (size_t)SJ_MAX(n, 1);
    int64_t *parent = malloc(n1 * sizeof *parent), *size = malloc(n1 * sizeof *size);
    int64_t *s2 = malloc(n1 * sizeof *s2);
    lmap *maps = with_labels ? calloc(n1, sizeof *maps) : NULL;
    sj_status st = SJ_OK;
    if (!parent || !size || !s2 || (with_labels && !maps)) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        parent[i] = i, size[i] = 1, s2[i] = 1;
    quality q = base_quality(p);
    int64_t clusters = n, singletons = n, largest = n ? 1 : 0;
    int64_t classes[SJ_SWEEP_SIZE_CLASSES] = {0};
    int64_t e = 0;
    for (int t = 0; t < n_thr; t++) {
        for (; e < p->m && p->ed[e] <= thr[t]; e++) {
            int64_t x = sj_uf_find(parent, p->ea[e]), y = sj_uf_find(parent, p->eb[e]);
            if (x == y)
                continue;
            if (size[x] < size[y]) { /* y becomes the smaller side, merged into x */
                int64_t tmp = x;
                x = y;
                y = tmp;
            }
            double cross = 0, crossw = 0;
            if (with_labels) {
                /* Singletons have no map: their one entry is (cls, 1). */
                if (!maps[x].cap && (st = lmap_add(&maps[x], p->cls[x], 1)))
                    goto done;
                if (maps[y].cap) {
                    for (int64_t k = 0; k < maps[y].cap; k++) {
                        if (maps[y].key[k] == -1)
                            continue;
                        int64_t l = maps[y].key[k], ny = maps[y].val[k];
                        double nx = (double)lmap_get(&maps[x], l);
                        cross += nx * (double)ny;
                        crossw += nx * (double)ny / (double)p->cls_size[l];
                        if ((st = lmap_add(&maps[x], l, ny)))
                            goto done;
                    }
                    free(maps[y].key);
                    free(maps[y].val);
                    memset(&maps[y], 0, sizeof maps[y]);
                } else {
                    int64_t l = p->cls[y];
                    double nx = (double)lmap_get(&maps[x], l);
                    cross = nx;
                    crossw = nx / (double)p->cls_size[l];
                    if ((st = lmap_add(&maps[x], l, 1)))
                        goto done;
                }
                double sx = (double)size[x], sy = (double)size[y];
                q.tp += cross;
                q.b3p_sum += ((double)(s2[x] + s2[y]) + 2 * cross) / (sx + sy) -
                             (double)s2[x] / sx - (double)s2[y] / sy;
                q.b3r_sum += 2 * crossw;
                s2[x] += s2[y] + 2 * (int64_t)cross;
            }
            q.p += (double)size[x] * (double)size[y];
            int cx = size_class(size[x]), cy = size_class(size[y]);
            if (cx >= 0)
                classes[cx]--;
            if (cy >= 0)
                classes[cy]--;
            singletons -= (size[x] == 1) + (size[y] == 1);
            parent[y] = x;
            size[x] += size[y];
            classes[size_class(size[x])]++;
            largest = SJ_MAX(largest, size[x]);
            clusters--;
        }
        sj_sweep_row *r = &rows[t];
        r->pairs = e;
        r->clusters = clusters;
        r->singletons = singletons;
        r->largest = largest;
        memcpy(r->size_classes, classes, sizeof classes);
        if (with_labels)
            finish_quality(r, &q);
        else
            no_quality(r);
    }
done:
    if (maps)
        for (int64_t i = 0; i < n; i++) {
            free(maps[i].key);
            free(maps[i].val);
        }
    free(maps);
    free(parent);
    free(size);
    free(s2);
    return st;
}

/* ---- per-threshold path (linkage or match caps) ---- */

typedef struct cell {
    int64_t cluster, cls;
} cell;

static int cmp_cell(const void *x, const void *y)
{
    const cell *a = x, *b = y;
    if (a->cluster != b->cluster)
        return a->cluster < b->cluster ? -1 : 1;
    return a->cls < b->cls ? -1 : a->cls > b->cls;
}

/* Quality of one clustering by counting its contingency table. Quarantined
 * hashes count as singletons. */
static sj_status contingency_quality(const prep *p, const sj_clusters *c, sj_sweep_row *r)
{
    const int64_t n = p->n;
    cell *v = malloc((size_t)SJ_MAX(n, 1) * sizeof *v);
    int64_t *csize = calloc((size_t)SJ_MAX(c->n_clusters + n, 1), sizeof *csize);
    if (!v || !csize) {
        free(v);
        free(csize);
        return sj_fail(SJ_ERR_NOMEM, "out of memory in sweep");
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t cl = c->cluster[i] >= 0 ? c->cluster[i] : c->n_clusters + i;
        v[i] = (cell){cl, p->cls[i]};
        csize[cl]++;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_cell);
    quality q = base_quality(p);
    q.b3p_sum = q.b3r_sum = 0;
    for (int64_t i = 0; i < c->n_clusters + n; i++)
        q.p += (double)csize[i] * (double)(csize[i] - 1) / 2;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].cluster == v[i].cluster && v[j].cls == v[i].cls)
            j++;
        double ncl = (double)(j - i);
        q.tp += ncl * (ncl - 1) / 2;
        q.b3p_sum += ncl * ncl / (double)csize[v[i].cluster];
        q.b3r_sum += ncl * ncl / (double)p->cls_size[v[i].cls];
        i = j;
    }
    finish_quality(r, &q);
    free(v);
    free(csize);
    return SJ_OK;
}

static sj_status sweep_recluster(const prep *p, int with_labels, const double *thr, int n_thr,
                                 const sj_cluster_options *o, sj_sweep_row *rows)
{
    sj_pairs sub = {0};
    sj_status st = sj_grow((void **)&sub.v, &sub.capacity, SJ_MAX(p->m, 1), sizeof *sub.v);
    for (int t = 0; t < n_thr && !st; t++) {
        sub.n = 0;
        for (int64_t e = 0; e < p->m && p->ed[e] <= thr[t]; e++)
            sub.v[sub.n++] = (sj_pair){p->ids[p->ea[e]], p->ids[p->eb[e]], p->ed[e], 0};
        sj_clusters *c;
        if ((st = sj_cluster(p->ids, p->n, &sub, o, &c)))
            break;
        sj_sweep_row *r = &rows[t];
        r->pairs = sub.n;
        r->clusters = c->n_clusters;
        r->quarantined = c->n_quarantined;
        for (int64_t k = 0; k < c->n_clusters; k++) {
            int sc = size_class(c->size[k]);
            if (sc < 0)
                r->singletons++;
            else
                r->size_classes[sc]++;
            r->largest = SJ_MAX(r->largest, c->size[k]);
        }
        if (with_labels)
            st = contingency_quality(p, c, r);
        else
            no_quality(r);
        sj_clusters_free(c);
    }
    sj_pairs_free(&sub);
    return st;
}

static int cmp_f64(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The distance histogram (sweep.h). Returns the largest distance for the
 * counting sort when every distance is an integer in 0..2^24, else -1. */
static sj_status histogram(sj_sweep *s, const sj_pairs *pairs, double top, int64_t *int_max)
{
    double lo = 0, hi = top;
    int integral = 1;
    for (int64_t k = 0; k < pairs->n; k++) {
        double d = pairs->v[k].distance;
        if (!isfinite(d))
            return sj_fail(SJ_ERR_FORMAT, "sweep: pair %lld has a distance that is not finite",
                           (long long)k);
        integral &= d == floor(d) && d >= 0 && d <= (1 << 24);
        lo = SJ_MIN(lo, d);
        hi = SJ_MAX(hi, d);
    }
    integral &= top == floor(top) && top <= (1 << 24);
    s->max_distance = hi;
    if (integral) {
        s->n_hist = (int)hi + 1;
        s->hist_lo = 0;
        s->hist_width = 1;
    } else {
        s->n_hist = 64;
        s->hist_lo = lo;
        s->hist_width = hi > lo ? (hi - lo) / 64 : 1;
    }
    *int_max = integral ? (int64_t)hi : -1;
    if (!(s->histogram = calloc((size_t)s->n_hist, sizeof *s->histogram)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < pairs->n; k++) {
        int64_t bin = (int64_t)((pairs->v[k].distance - s->hist_lo) / s->hist_width);
        s->histogram[SJ_MAX(0, SJ_MIN(bin, s->n_hist - 1))]++;
    }
    return SJ_OK;
}

sj_status sj_sweep_run(const int64_t *ids, int64_t n, const int64_t *labels, const sj_pairs *pairs,
                       const double *thresholds, int n_thr, const sj_cluster_options *o,
                       sj_sweep **out)
{
    *out = NULL;
    if (n_thr <= 0)
        return sj_fail(SJ_ERR_ARG, "sweep: no thresholds");
    sj_sweep *s = calloc(1, sizeof *s);
    double *thr = malloc((size_t)n_thr * sizeof *thr);
    if (!s || !thr) {
        free(s);
        free(thr);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    memcpy(thr, thresholds, (size_t)n_thr * sizeof *thr);
    qsort(thr, (size_t)n_thr, sizeof *thr, cmp_f64);
    s->has_labels = labels != NULL;
    s->n_rows = n_thr;
    s->rows = calloc((size_t)n_thr, sizeof *s->rows);
    int64_t int_max = -1;
    prep p;
    sj_status st = !s->rows ? sj_fail(SJ_ERR_NOMEM, "out of memory")
                            : histogram(s, pairs, SJ_MAX(thr[n_thr - 1], 0), &int_max);
    if (!st)
        st = prepare(&p, ids, n, labels, pairs, int_max);
    if (!st) {
        for (int t = 0; t < n_thr; t++)
            s->rows[t].threshold = thr[t];
        s->incremental = !o || (o->linkage == SJ_LINK_COMPONENTS && o->max_matches <= 0 &&
                                o->degree_ratio <= 0);
        st = s->incremental ? sweep_incremental(&p, s->has_labels, thr, n_thr, s->rows)
                            : sweep_recluster(&p, s->has_labels, thr, n_thr, o, s->rows);
        prep_free(&p);
    }
    free(thr);
    if (st) {
        sj_sweep_free(s);
        return st;
    }
    *out = s;
    return SJ_OK;
}
