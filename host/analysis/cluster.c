/* cluster.c - connected components by union-find over candidate pairs. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Union by smaller index as root: the root of a set is its smallest node,
 * i.e. its smallest id since nodes are sorted by id. */
static void uf_union(int64_t *parent, int64_t a, int64_t b)
{
    a = sj_uf_find(parent, a);
    b = sj_uf_find(parent, b);
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

void sj_clusters_free(sj_clusters *c)
{
    if (!c)
        return;
    free(c->ids);
    free(c->cluster);
    free(c->matches);
    free(c->size);
    free(c->edges);
    free(c->min_distance);
    free(c->max_edge);
    free(c->diameter);
    free(c->diameter_checked);
    free(c);
}

void sj_cluster_options_defaults(sj_cluster_options *o)
{
    memset(o, 0, sizeof *o);
    o->linkage = SJ_LINK_COMPONENTS;
}

sj_status sj_linkage_parse(const char *text, sj_cluster_options *o)
{
    char *end;
    if (strcmp(text, "components") == 0) {
        o->linkage = SJ_LINK_COMPONENTS;
        return SJ_OK;
    }
    if (strncmp(text, "core:", 5) == 0) {
        long k = strtol(text + 5, &end, 10);
        if (end != text + 5 && !*end && k >= 1 && k <= 1000000) {
            o->linkage = SJ_LINK_CORE;
            o->core_k = (int32_t)k;
            return SJ_OK;
        }
    }
    if (strncmp(text, "complete:", 9) == 0) {
        double d = strtod(text + 9, &end);
        if (end != text + 9 && !*end && isfinite(d)) {
            o->linkage = SJ_LINK_COMPLETE;
            o->complete_d = d;
            return SJ_OK;
        }
    }
    return sj_fail(SJ_ERR_ARG, "bad --linkage '%s' (components, core:K with K >= 1, complete:D)",
                   text);
}

void sj_linkage_format(const sj_cluster_options *o, char *buf, size_t size)
{
    if (o->linkage == SJ_LINK_CORE)
        snprintf(buf, size, "core:%d", o->core_k);
    else if (o->linkage == SJ_LINK_COMPLETE)
        snprintf(buf, size, "complete:%.15g", o->complete_d);
    else
        snprintf(buf, size, "components");
}

/* Edges as node indices, with each node's adjacency (CSR) for the guards. */
typedef struct graph {
    int64_t n, m;
    int64_t *ea, *eb;   /* [m] endpoints (node indices), ea < eb */
    double *ed;         /* [m] distances */
    int64_t *start;     /* [n+1] CSR offsets */
    int64_t *adj_edge;  /* [2m] edge numbers around each node */
} graph;

static void graph_free(graph *g)
{
    free(g->ea);
    free(g->eb);
    free(g->ed);
    free(g->start);
    free(g->adj_edge);
}

static sj_status graph_build(graph *g, const int64_t *sorted_ids, int64_t n, const sj_pairs *p)
{
    sj_id_index ix = {0};
    sj_status st = sj_id_index_build(&ix, sorted_ids, n);
    if (st)
        return st;
    memset(g, 0, sizeof *g);
    g->n = n;
    g->m = p->n;
    size_t m1 = (size_t)SJ_MAX(p->n, 1);
    g->ea = malloc(m1 * sizeof *g->ea);
    g->eb = malloc(m1 * sizeof *g->eb);
    g->ed = malloc(m1 * sizeof *g->ed);
    g->start = calloc((size_t)n + 2, sizeof *g->start);
    g->adj_edge = malloc(2 * m1 * sizeof *g->adj_edge);
    if (!g->ea || !g->eb || !g->ed || !g->start || !g->adj_edge) {
        sj_id_index_free(&ix);
        return sj_fail(SJ_ERR_NOMEM, "out of memory clustering %lld pairs", (long long)p->n);
    }
    for (int64_t k = 0; k < p->n; k++) {
        int64_t a = sj_id_index_find(&ix, p->v[k].a), b = sj_id_index_find(&ix, p->v[k].b);
        if (a < 0 || b < 0) {
            sj_id_index_free(&ix);
            return sj_fail(SJ_ERR_FORMAT, "cluster: pair %lld names an id that is not a node",
                           (long long)k);
        }
        g->ea[k] = a;
        g->eb[k] = b;
        g->ed[k] = p->v[k].distance;
        g->start[a + 2]++;
        g->start[b + 2]++;
    }
    for (int64_t i = 0; i < n; i++)
        g->start[i + 2] += g->start[i + 1];
    for (int64_t k = 0; k < p->n; k++) { /* start[i+1] is the fill cursor of node i */
        g->adj_edge[g->start[g->ea[k] + 1]++] = k;
        g->adj_edge[g->start[g->eb[k] + 1]++] = k;
    }
    sj_id_index_free(&ix);
    return SJ_OK;
}

/* Mark quarantined nodes (q[i] = 1) by the match-cap guards. */
static sj_status quarantine(const graph *g, const sj_cluster_options *o, uint8_t *q)
{
    memset(q, 0, (size_t)SJ_MAX(g->n, 1));
    if (o->max_matches > 0)
        for (int64_t i = 0; i < g->n; i++)
            q[i] = g->start[i + 1] - g->start[i] > o->max_matches;
    if (o->degree_ratio > 0) {
        int64_t *nd = NULL, cap = 0;
        for (int64_t i = 0; i < g->n; i++) {
            int64_t deg = g->start[i + 1] - g->start[i];
            if (deg < 4)
                continue;
            sj_status st = sj_grow((void **)&nd, &cap, deg, sizeof *nd);
            if (st) {
                free(nd);
                return st;
            }
            for (int64_t k = 0; k < deg; k++) {
                int64_t e = g->adj_edge[g->start[i] + k];
                int64_t j = g->ea[e] == i ? g->eb[e] : g->ea[e];
                nd[k] = g->start[j + 1] - g->start[j];
            }
            qsort(nd, (size_t)deg, sizeof *nd, cmp_i64);
            double median = deg % 2 ? (double)nd[deg / 2] : 0.5 * (double)(nd[deg / 2 - 1] + nd[deg / 2]);
            if ((double)deg > o->degree_ratio * SJ_MAX(median, 1.0))
                q[i] = 1;
        }
        free(nd);
    }
    return SJ_OK;
}

/* Distance between rows x and y of the hash set. A set with dihedral hashes
 * (kept only for a dihedral join) gives the self-join's dihedral distance:
 * the smallest over the transforms of either row against the other. */
static double row_distance(const sj_hashes *h, sj_metric m, int64_t x, int64_t y)
{
    const uint32_t rb = sj_hash_type_bytes(h->type);
    const uint8_t *hx = h->hashes + (size_t)x * rb, *hy = h->hashes + (size_t)y * rb;
    double d = sj_distance(h->type, m, hx, hy);
    for (int t = 1; h->dihedral && t < SJ_DIHEDRAL; t++) {
        double dx = sj_distance(h->type, m, h->dihedral + ((size_t)x * SJ_DIHEDRAL + t) * rb, hy);
        double dy = sj_distance(h->type, m, h->dihedral + ((size_t)y * SJ_DIHEDRAL + t) * rb, hx);
        d = SJ_MIN(d, SJ_MIN(dx, dy));
    }
    return d;
}

/* An edge's sort key (distance, a, b) and its number: compared without
 * shared state, so that two clusterings may run at once. */
typedef struct edge_key {
    double d;
    int64_t a, b, edge;
} edge_key;

static int cmp_edge_key(const void *x, const void *y)
{
    const edge_key *p = x, *q = y;
    if (p->d != q->d)
        return p->d < q->d ? -1 : 1;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

/* complete:D: merge along edges in (distance, a, b) order, only when every
 * pair of the merged cluster is within D (checked on the hashes). Clusters
 * that connected components would join are thereby split where the merge
 * would stretch them past D; which side a hash lands on follows edge order. */
static sj_status link_complete(const graph *g, const uint8_t *active_edge, int64_t *parent,
                               const int64_t *row_of_node, const sj_cluster_options *o)
{
    edge_key *order = malloc((size_t)SJ_MAX(g->m, 1) * sizeof *order);
    int64_t *next = malloc((size_t)SJ_MAX(g->n, 1) * sizeof *next); /* member lists */
    int64_t *last = malloc((size_t)SJ_MAX(g->n, 1) * sizeof *last);
    int64_t *size = malloc((size_t)SJ_MAX(g->n, 1) * sizeof *size);
    if (!order || !next || !last || !size) {
        free(order), free(next), free(last), free(size);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    int64_t m = 0;
    for (int64_t k = 0; k < g->m; k++)
        if (active_edge[k])
            order[m++] = (edge_key){g->ed[k], g->ea[k], g->eb[k], k};
    qsort(order, (size_t)m, sizeof *order, cmp_edge_key);
    for (int64_t i = 0; i < g->n; i++)
        next[i] = -1, last[i] = i, size[i] = 1;
    for (int64_t k = 0; k < m; k++) {
        int64_t e = order[k].edge;
        int64_t ra = sj_uf_find(parent, g->ea[e]), rb = sj_uf_find(parent, g->eb[e]);
        if (ra == rb || g->ed[e] > o->complete_d)
            continue;
        int ok = 1;
        for (int64_t x = ra; x >= 0 && ok; x = next[x])
            for (int64_t y = rb; y >= 0 && ok; y = next[y])
                ok = row_distance(o->hashes, o->metric, row_of_node[x], row_of_node[y]) <=
                     o->complete_d;
        if (!ok)
            continue;
        int64_t root = ra < rb ? ra : rb, other = ra < rb ? rb : ra;
        parent[other] = root; /* roots are list heads: append other's list */
        next[last[root]] = other;
        last[root] = last[other];
        size[root] += size[other];
    }
    free(order), free(next), free(last), free(size);
    return SJ_OK;
}

/* node -> row of o->hashes (by id), for complete linkage. */
static sj_status map_rows(const int64_t *sorted_ids, int64_t n, const sj_hashes *h, int64_t *row)
{
    for (int64_t i = 0; i < n; i++)
        row[i] = -1;
    for (int64_t r = 0; r < h->n; r++) {
        int64_t i = sj_search_i64(sorted_ids, n, h->ids[r]);
        if (i >= 0)
            row[i] = r;
    }
    for (int64_t i = 0; i < n; i++)
        if (row[i] < 0)
            return sj_fail(SJ_ERR_MISMATCH,
                           "complete linkage: cluster node %lld has no hash in the inputs",
                           (long long)i);
    return SJ_OK;
}

sj_status sj_cluster(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                     const sj_cluster_options *opt, sj_clusters **out)
{
    *out = NULL;
    sj_cluster_options defaults;
    sj_cluster_options_defaults(&defaults);
    const sj_cluster_options *o = opt ? opt : &defaults;
    if (o->linkage == SJ_LINK_COMPLETE && !o->hashes)
        return sj_fail(SJ_ERR_ARG, "complete linkage needs the hashes (give --hashes or readable join inputs)");
    sj_status st = SJ_OK;
    graph g;
    memset(&g, 0, sizeof g);
    size_t n1 = (size_t)SJ_MAX(n, 1);
    sj_clusters *c = calloc(1, sizeof *c);
    int64_t *parent = malloc(n1 * sizeof *parent), *number = malloc(n1 * sizeof *number);
    int64_t *row = NULL;
    uint8_t *quar = malloc(n1), *active = NULL, *core = NULL;
    if (!c || !parent || !number || !quar)
        goto nomem;
    c->n_nodes = n;
    c->ids = malloc(n1 * sizeof *c->ids);
    c->cluster = malloc(n1 * sizeof *c->cluster);
    c->matches = malloc(n1 * sizeof *c->matches);
    if (!c->ids || !c->cluster || !c->matches)
        goto nomem;
    memcpy(c->ids, ids, (size_t)n * sizeof *ids);
    qsort(c->ids, (size_t)n, sizeof *c->ids, cmp_i64);
    for (int64_t i = 1; i < n; i++)
        if (c->ids[i] == c->ids[i - 1]) {
            st = sj_fail(SJ_ERR_DUPLICATE_ID, "cluster: an id appears twice among the nodes");
            goto fail;
        }
    if ((st = graph_build(&g, c->ids, n, pairs)) || (st = quarantine(&g, o, quar)))
        goto fail;
    active = malloc((size_t)SJ_MAX(g.m, 1));
    core = calloc(n1, 1);
    if (!active || !core)
        goto nomem;
    for (int64_t i = 0; i < n; i++) {
        c->matches[i] = g.start[i + 1] - g.start[i];
        parent[i] = i;
    }
    for (int64_t k = 0; k < g.m; k++)
        active[k] = !quar[g.ea[k]] && !quar[g.eb[k]];
    switch (o->linkage) {
    case SJ_LINK_COMPONENTS:
        for (int64_t k = 0; k < g.m; k++)
            if (active[k])
                uf_union(parent, g.ea[k], g.eb[k]);
        break;
    case SJ_LINK_CORE: {
        /* Core hashes (>= K active matches) link; every other hash attaches
         * to its nearest core neighbour (ties: smaller id) and links nothing. */
        for (int64_t i = 0; i < n; i++) {
            int64_t deg = 0;
            for (int64_t t = g.start[i]; t < g.start[i + 1]; t++)
                deg += active[g.adj_edge[t]];
            core[i] = deg >= o->core_k;
        }
        for (int64_t k = 0; k < g.m; k++)
            if (active[k] && core[g.ea[k]] && core[g.eb[k]])
                uf_union(parent, g.ea[k], g.eb[k]);
        for (int64_t i = 0; i < n; i++) {
            if (core[i] || quar[i])
                continue;
            int64_t best = -1;
            double best_d = 0; /* a distance: fractional for vector kinds */
            for (int64_t t = g.start[i]; t < g.start[i + 1]; t++) {
                int64_t e = g.adj_edge[t];
                int64_t j = g.ea[e] == i ? g.eb[e] : g.ea[e];
                if (!active[e] || !core[j])
                    continue;
                if (best < 0 || g.ed[e] < best_d || (g.ed[e] == best_d && j < best))
                    best = j, best_d = g.ed[e];
            }
            if (best >= 0) /* i's set is {i}: attaching it links no two clusters */
                uf_union(parent, i, best);
        }
        break;
    }
    case SJ_LINK_COMPLETE:
        row = malloc(n1 * sizeof *row);
        if (!row)
            goto nomem;
        if ((st = map_rows(c->ids, n, o->hashes, row)) ||
            (st = link_complete(&g, active, parent, row, o)))
            goto fail;
        break;
    }
    /* Number clusters by their smallest member; quarantined hashes get none. */
    int64_t nc = 0;
    for (int64_t i = 0; i < n; i++) {
        if (quar[i]) {
            c->cluster[i] = SJ_CLUSTER_QUARANTINED;
            c->n_quarantined++;
            continue;
        }
        int64_t r = sj_uf_find(parent, i);
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
        if (c->cluster[i] >= 0)
            c->size[c->cluster[i]]++;
    for (int64_t k = 0; k < g.m; k++) { /* edges inside a cluster */
        int64_t cl = c->cluster[g.ea[k]];
        if (!active[k] || cl < 0 || cl != c->cluster[g.eb[k]])
            continue;
        double d = g.ed[k];
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
    goto done;
nomem:
    st = sj_fail(SJ_ERR_NOMEM, "out of memory clustering %lld nodes", (long long)n);
fail:
    sj_clusters_free(c);
    c = NULL;
done:
    graph_free(&g);
    free(parent);
    free(number);
    free(quar);
    free(active);
    free(core);
    free(row);
    *out = c;
    return st;
}

sj_status sj_cluster_components(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                                sj_clusters **out)
{
    return sj_cluster(ids, n, pairs, NULL, out);
}

/* ---- true diameters ---- */

#include "simjoin/formats.h"

sj_status sj_clusters_check_diameter(sj_clusters *c, const sj_hashes *set, sj_metric metric,
                                     int64_t max_size)
{
    const int64_t n = c->n_nodes;
    sj_id_row *by_id = malloc((size_t)SJ_MAX(set->n, 1) * sizeof *by_id); /* set rows in id order */
    int64_t *row = malloc((size_t)SJ_MAX(n, 1) * sizeof *row);   /* node -> set row */
    int64_t *start = calloc((size_t)c->n_clusters + 1, sizeof *start);
    int64_t *members = malloc((size_t)SJ_MAX(n, 1) * sizeof *members);
    sj_status st = SJ_OK;
    if (!by_id || !row || !start || !members) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory checking diameters");
        goto done;
    }
    for (int64_t i = 0; i < set->n; i++)
        by_id[i] = (sj_id_row){set->ids[i], i};
    qsort(by_id, (size_t)set->n, sizeof *by_id, sj_cmp_id_row);
    /* c->ids and by_id are both in id order: merge. */
    for (int64_t i = 0, j = 0; i < n; i++) {
        while (j < set->n && by_id[j].id < c->ids[i])
            j++;
        if (j == set->n || by_id[j].id != c->ids[i]) {
            st = sj_fail(SJ_ERR_MISMATCH, "diameter check: cluster node %lld has no hash in the inputs",
                         (long long)i);
            goto done;
        }
        row[i] = by_id[j].row;
    }
    /* Members grouped by cluster (counting sort). */
    for (int64_t i = 0; i < n; i++)
        if (c->cluster[i] >= 0) /* quarantined hashes belong to no cluster */
            start[c->cluster[i] + 1]++;
    for (int64_t k = 0; k < c->n_clusters; k++)
        start[k + 1] += start[k];
    for (int64_t i = 0; i < n; i++)
        if (c->cluster[i] >= 0)
            members[start[c->cluster[i]]++] = row[i];
    for (int64_t k = c->n_clusters; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t k = 0; k < c->n_clusters; k++) {
        int64_t size = start[k + 1] - start[k];
        if (size < 2 || size > max_size)
            continue;
        double diam = 0;
        const int64_t *m = members + start[k];
        for (int64_t x = 0; x < size; x++)
            for (int64_t y = x + 1; y < size; y++) {
                double d = row_distance(set, metric, m[x], m[y]);
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
