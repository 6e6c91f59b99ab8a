/* cluster.c - connected components by union-find over candidate pairs. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t uf_find(int64_t *parent, int64_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]]; /* path halving */
        x = parent[x];
    }
    return x;
}

/* Union by smaller index as root: the root of a set is its smallest node,
 * i.e. its smallest id since nodes are sorted by id. */
static void uf_union(int64_t *parent, int64_t a, int64_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Index of id in sorted ids[n], or -1. */
static int64_t find_id(const int64_t *ids, int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : -1;
}

void sj_clusters_free(sj_clusters *c)
{
    if (!c)
        return;
    free(c->ids);
    free(c->cluster);
    free(c->size);
    free(c->edges);
    free(c->min_distance);
    free(c->max_edge);
    free(c->diameter);
    free(c->diameter_checked);
    free(c);
}

sj_status sj_cluster_components(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                                sj_clusters **out)
{
    *out = NULL;
    sj_status st = SJ_OK;
    sj_clusters *c = calloc(1, sizeof *c);
    int64_t *parent = malloc((size_t)SJ_MAX(n, 1) * sizeof *parent);
    int64_t *number = malloc((size_t)SJ_MAX(n, 1) * sizeof *number);
    if (!c || !parent || !number)
        goto nomem;
    c->n_nodes = n;
    c->ids = malloc((size_t)SJ_MAX(n, 1) * sizeof *c->ids);
    c->cluster = malloc((size_t)SJ_MAX(n, 1) * sizeof *c->cluster);
    if (!c->ids || !c->cluster)
        goto nomem;
    memcpy(c->ids, ids, (size_t)n * sizeof *ids);
    qsort(c->ids, (size_t)n, sizeof *c->ids, cmp_i64);
    for (int64_t i = 1; i < n; i++)
        if (c->ids[i] == c->ids[i - 1]) {
            st = sj_fail(SJ_ERR_DUPLICATE_ID, "cluster: an id appears twice among the nodes");
            goto fail;
        }
    for (int64_t i = 0; i < n; i++)
        parent[i] = i;
    for (int64_t k = 0; k < pairs->n; k++) {
        int64_t a = find_id(c->ids, n, pairs->v[k].a), b = find_id(c->ids, n, pairs->v[k].b);
        if (a < 0 || b < 0) {
            st = sj_fail(SJ_ERR_FORMAT, "cluster: pair %lld names an id that is not a node",
                         (long long)k);
            goto fail;
        }
        uf_union(parent, a, b);
    }
    /* Number clusters by their root, i.e. in order of smallest member id. */
    int64_t nc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = uf_find(parent, i);
        number[i] = r == i ? nc++ : number[r];
        c->cluster[i] = number[i];
    }
    c->n_clusters = nc;
    size_t m = (size_t)SJ_MAX(nc, 1);
    c->size = calloc(m, sizeof *c->size);
    c->edges = calloc(m, sizeof *c->edges);
    c->min_distance = malloc(m * sizeof *c->min_distance);
    c->max_edge = malloc(m * sizeof *c->max_edge);
    c->diameter = malloc(m * sizeof *c->diameter);
    c->diameter_checked = calloc(m, sizeof *c->diameter_checked);
    if (!c->size || !c->edges || !c->min_distance || !c->max_edge || !c->diameter ||
        !c->diameter_checked)
        goto nomem;
    for (int64_t k = 0; k < nc; k++)
        c->min_distance[k] = c->max_edge[k] = -1;
    for (int64_t i = 0; i < n; i++)
        c->size[c->cluster[i]]++;
    for (int64_t k = 0; k < pairs->n; k++) {
        int64_t cl = c->cluster[find_id(c->ids, n, pairs->v[k].a)];
        int32_t d = pairs->v[k].distance;
        c->edges[cl]++;
        if (c->min_distance[cl] < 0 || d < c->min_distance[cl])
            c->min_distance[cl] = d;
        if (d > c->max_edge[cl])
            c->max_edge[cl] = d;
    }
    for (int64_t k = 0; k < nc; k++) {
        c->diameter[k] = c->size[k] == 1 ? 0 : c->max_edge[k];
        c->diameter_checked[k] = c->size[k] == 1; /* a singleton's diameter is known */
    }
    free(parent);
    free(number);
    *out = c;
    return SJ_OK;
nomem:
    st = sj_fail(SJ_ERR_NOMEM, "out of memory clustering %lld nodes", (long long)n);
fail:
    free(parent);
    free(number);
    sj_clusters_free(c);
    return st;
}

/* ---- true diameters ---- */

#include "simjoin/formats.h"

static const sj_hashes *diam_set;
static int cmp_row_by_id(const void *x, const void *y)
{
    int64_t a = diam_set->ids[*(const int64_t *)x], b = diam_set->ids[*(const int64_t *)y];
    return a < b ? -1 : a > b;
}

sj_status sj_clusters_check_diameter(sj_clusters *c, const sj_hashes *set, int64_t max_size)
{
    const int64_t n = c->n_nodes;
    const uint32_t rb = sj_hash_type_bytes(set->type);
    int64_t *by_id = malloc((size_t)SJ_MAX(set->n, 1) * sizeof *by_id);
    int64_t *row = malloc((size_t)SJ_MAX(n, 1) * sizeof *row);   /* node -> set row */
    int64_t *start = calloc((size_t)c->n_clusters + 1, sizeof *start);
    int64_t *members = malloc((size_t)SJ_MAX(n, 1) * sizeof *members);
    sj_status st = SJ_OK;
    if (!by_id || !row || !start || !members) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory checking diameters");
        goto done;
    }
    for (int64_t i = 0; i < set->n; i++)
        by_id[i] = i;
    diam_set = set;
    qsort(by_id, (size_t)set->n, sizeof *by_id, cmp_row_by_id);
    diam_set = NULL;
    /* c->ids and by_id are both in id order: merge. */
    for (int64_t i = 0, j = 0; i < n; i++) {
        while (j < set->n && set->ids[by_id[j]] < c->ids[i])
            j++;
        if (j == set->n || set->ids[by_id[j]] != c->ids[i]) {
            st = sj_fail(SJ_ERR_MISMATCH, "diameter check: cluster node %lld has no hash in the inputs",
                         (long long)i);
            goto done;
        }
        row[i] = by_id[j];
    }
    /* Members grouped by cluster (counting sort). */
    for (int64_t i = 0; i < n; i++)
        start[c->cluster[i] + 1]++;
    for (int64_t k = 0; k < c->n_clusters; k++)
        start[k + 1] += start[k];
    for (int64_t i = 0; i < n; i++)
        members[start[c->cluster[i]]++] = row[i];
    for (int64_t k = c->n_clusters; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t k = 0; k < c->n_clusters; k++) {
        int64_t size = start[k + 1] - start[k];
        if (size < 2 || size > max_size)
            continue;
        int32_t diam = 0;
        const int64_t *m = members + start[k];
        for (int64_t x = 0; x < size; x++)
            for (int64_t y = x + 1; y < size; y++) {
                const uint8_t *p = set->hashes + (size_t)m[x] * rb, *q = set->hashes + (size_t)m[y] * rb;
                int32_t d = 0;
                for (uint32_t b = 0; b < rb; b++)
                    d += __builtin_popcount((unsigned)(p[b] ^ q[b]));
                diam = d > diam ? d : diam;
            }
        c->diameter[k] = diam;
        c->diameter_checked[k] = 1;
    }
done:
    free(by_id);
    free(row);
    free(start);
    free(members);
    return st;
}
