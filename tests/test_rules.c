/* test_rules.c - the decision rules at their exact edges (issue 18): core:K
 * at exactly K matches, complete:D at exactly D, the upper edge of the
 * degenerate bit band, core linkage choosing the nearest core neighbour by a
 * fractional (cosine) distance, union-find on a deep tree, cluster numbering
 * by smallest id, and the triage tie-break. Each expected
 * answer is worked out by hand from the README; scripts/mutate.sh breaks
 * each rule and checks that this test notices. */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/meta.h"
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

static const sj_hash_type PDQ = {SJ_KIND_PDQ, 256, 0};

/* Cluster number of id in c, or -99 when absent. */
static int64_t cluster_of(const sj_clusters *c, int64_t id)
{
    for (int64_t k = 0; k < c->n_nodes; k++)
        if (c->ids[k] == id)
            return c->cluster[k];
    return -99;
}

/* Every node in a cluster 0..n_clusters-1, numbered by smallest id: in id
 * order, each cluster first appears right after the ones before it. */
static int numbering_ok(const sj_clusters *c)
{
    int64_t next = 0;
    for (int64_t k = 0; k < c->n_nodes; k++) {
        if (c->cluster[k] < 0 || c->cluster[k] > next || c->cluster[k] >= c->n_clusters)
            return 0;
        next += c->cluster[k] == next;
    }
    return next == c->n_clusters;
}

static void add_pair(sj_pairs *p, int64_t a, int64_t b, double d)
{
    p->v[p->n++] = (sj_pair){a < b ? a : b, a < b ? b : a, d, 0};
}

/* core:2 on the chain 1-2-3: node 2 has exactly 2 matches, so it is a core
 * hash; 1 and 3 attach to it: one cluster. With core:3 nothing is core and
 * every hash stays alone. */
static void test_core_exact_k(void)
{
    int64_t ids[3] = {1, 2, 3};
    sj_pair v[2];
    sj_pairs p = {0, 2, v};
    add_pair(&p, 1, 2, 5);
    add_pair(&p, 2, 3, 5);
    sj_cluster_options o;
    sj_cluster_options_defaults(&o);
    CHECK(sj_linkage_parse("core:2", &o) == SJ_OK && o.core_k == 2, "parse core:2");
    sj_clusters *c = NULL;
    CHECK(sj_cluster(ids, 3, &p, &o, &c) == SJ_OK && c, "cluster core:2: %s", sj_last_error());
    if (c)
        CHECK(c->n_clusters == 1 && cluster_of(c, 1) == 0 && cluster_of(c, 3) == 0 && numbering_ok(c),
              "core:2 on the chain 1-2-3: %lld clusters, want 1", (long long)c->n_clusters);
    sj_clusters_free(c);
    o.core_k = 3;
    CHECK(sj_cluster(ids, 3, &p, &o, &c) == SJ_OK && c, "cluster core:3");
    if (c)
        CHECK(c->n_clusters == 3, "core:3 on the chain: %lld clusters, want 3", (long long)c->n_clusters);
    sj_clusters_free(c);
}

/* A hash with `ones` one-bits: the first `ones` bits set. */
static void set_ones(uint8_t *h, int ones)
{
    memset(h, 0, 32);
    for (int i = 0; i < ones; i++)
        h[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* complete:D: a pair at distance exactly D merges, one at D + 1 does not.
 * Hashes 10 and 11 differ in 40 bits; 10 and 12 in 41. */
static void test_complete_exact_d(void)
{
    sj_hashes *h = NULL;
    CHECK(sj_hashes_create(PDQ, 4, &h) == SJ_OK, "hashes");
    uint8_t a[32], b[32], c3[32];
    set_ones(a, 128);
    memcpy(b, a, 32);
    memcpy(c3, a, 32);
    for (int i = 128; i < 168; i++) /* 40 more ones: distance 40 */
        b[i / 8] |= (uint8_t)(1u << (i % 8));
    for (int i = 128; i < 169; i++) /* 41 more ones: distance 41 */
        c3[i / 8] |= (uint8_t)(1u << (i % 8));
    uint8_t alone[32];
    memset(alone, 0x0f, 32); /* 128 ones, far from the others */
    sj_hashes_append(h, 9, alone, -1);
    sj_hashes_append(h, 10, a, -1);
    sj_hashes_append(h, 11, b, -1);
    sj_hashes_append(h, 12, c3, -1);
    int64_t ids[4] = {9, 10, 11, 12};
    sj_pair v[1];
    sj_pairs p = {0, 1, v};
    add_pair(&p, 10, 11, 40);
    sj_cluster_options o;
    sj_cluster_options_defaults(&o);
    CHECK(sj_linkage_parse("complete:40", &o) == SJ_OK, "parse complete:40");
    o.hashes = h;
    sj_clusters *c = NULL;
    CHECK(sj_cluster(ids, 4, &p, &o, &c) == SJ_OK && c, "cluster complete:40: %s", sj_last_error());
    if (c)
        CHECK(c->n_clusters == 3 && cluster_of(c, 10) == 1 && cluster_of(c, 11) == 1 && numbering_ok(c),
              "a pair at exactly D = 40 must merge under complete:40 (%lld clusters)",
              (long long)c->n_clusters);
    sj_clusters_free(c);
    p.n = 0;
    add_pair(&p, 10, 12, 41);
    CHECK(sj_cluster(ids, 4, &p, &o, &c) == SJ_OK && c, "cluster complete:40 (41)");
    if (c)
        CHECK(c->n_clusters == 4 && numbering_ok(c), "a pair at 41 must not merge under complete:40");
    sj_clusters_free(c);
    sj_hashes_free(h);
}

/* The upper edge of the bit band: PDQ's default band is [32, 224] ones,
 * inclusive. 224 ones is kept; 225 is flagged. */
static void test_bit_band_upper_edge(void)
{
    sj_degenerate_options o;
    sj_degenerate_defaults(PDQ, &o);
    CHECK(o.max_ones == 224, "default max_ones %d, README says 224 (bits - bits/8)", o.max_ones);
    uint8_t h[32];
    set_ones(h, 224);
    CHECK(sj_degenerate_check(&o, PDQ, h, -1) == SJ_DEGEN_NONE, "exactly max_ones = 224 ones is kept");
    set_ones(h, 225);
    CHECK(sj_degenerate_check(&o, PDQ, h, -1) == SJ_DEGEN_BIT_BAND, "225 ones is flagged");
}

/* Core linkage with cosine distances (in [0, 2]): hash 1 is not core (2
 * matches < K = 3) and has two core neighbours, 2 at 0.7 and 5 at 0.3. The
 * nearest is 5, although 2 is the smaller id: 1 must join 5's cluster. */
static void test_core_fractional_nearest(void)
{
    int64_t ids[7] = {1, 2, 3, 4, 5, 6, 7};
    sj_pair v[6];
    sj_pairs p = {0, 6, v};
    add_pair(&p, 1, 2, 0.7);
    add_pair(&p, 1, 5, 0.3);
    add_pair(&p, 2, 3, 0.1); /* 2 and 5: three matches each, core */
    add_pair(&p, 2, 4, 0.1);
    add_pair(&p, 5, 6, 0.1);
    add_pair(&p, 5, 7, 0.1);
    sj_cluster_options o;
    sj_cluster_options_defaults(&o);
    CHECK(sj_linkage_parse("core:3", &o) == SJ_OK, "parse core:3");
    o.metric = SJ_METRIC_COSINE;
    sj_clusters *c = NULL;
    CHECK(sj_cluster(ids, 7, &p, &o, &c) == SJ_OK && c, "cluster: %s", sj_last_error());
    if (c) {
        CHECK(c->n_clusters == 2 && numbering_ok(c), "clusters %lld, want 2", (long long)c->n_clusters);
        CHECK(cluster_of(c, 1) == cluster_of(c, 5) && cluster_of(c, 1) != cluster_of(c, 2),
              "hash 1 joined the core neighbour at 0.7 (id 2), not the nearest at 0.3 (id 5)");
    }
    sj_clusters_free(c);
    /* and a tie in distance goes to the smaller id */
    p.v[1].distance = 0.7;
    CHECK(sj_cluster(ids, 7, &p, &o, &c) == SJ_OK && c, "cluster (tie)");
    if (c)
        CHECK(cluster_of(c, 1) == cluster_of(c, 2), "a distance tie must go to the smaller id (2)");
    sj_clusters_free(c);
}

/* Triage within one class (candidate_new_series: new uploads only, two or
 * more): larger clusters first, then more distinct sources, then the smaller
 * smallest match distance (unknown last), then the lower cluster number
 * (README "Triage report"). New uploads 6..18, source "a" but 12 ("b"):
 *   cluster 0 {6, 7}:       size 2, 1 source, distance 5
 *   cluster 1 {8, 9, 10}:   size 3                       -> first (larger)
 *   cluster 2 {11, 12}:     size 2, 2 sources, distance 9 -> second (more sources)
 *   cluster 3 {13, 14}:     size 2, 1 source, distance 3 -> before 0 (closer)
 *   cluster 4 {15, 16}:     size 2, 1 source, unknown    -> last (unknown last)
 *   cluster 5 {17, 18}:     size 2, 1 source, distance 5 -> after 0 (higher number)
 * Expected order: 1, 2, 3, 0, 5, 4. */
static void test_triage_ties(void)
{
    sj_hashes *c = NULL, *q = NULL;
    uint8_t zero[32] = {0};
    CHECK(sj_hashes_create(PDQ, 0, &c) == SJ_OK && sj_hashes_create(PDQ, 0, &q) == SJ_OK, "sets");
    CHECK(sj_meta_create(&q->meta) == SJ_OK, "meta");
    for (int i = 6; i <= 18; i++) {
        const char *row[SJ_META_N_TEXT] = {0, 0, 0, i == 12 ? "b" : "a"};
        sj_meta *keep = q->meta; /* rows appended by hand below */
        q->meta = NULL;
        sj_hashes_append(q, i, zero, -1);
        q->meta = keep;
        sj_meta_append(q->meta, row, -1, -1);
    }
    const sj_hashes *sets[2] = {c, q};
    const uint8_t is_new[2] = {0, 1};
    sj_meta_table *t = NULL;
    CHECK(sj_meta_table_build(sets, is_new, 2, &t) == SJ_OK && t, "table: %s", sj_last_error());
    int64_t ids[13] = {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    int64_t cl[13] = {0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
    const double dist[6] = {5, 1, 9, 3, NAN, 5};
    sj_case_summary *s = NULL;
    CHECK(t && sj_case_summarize(ids, cl, 13, 6, t, dist, &s) == SJ_OK && s, "summarize: %s",
          sj_last_error());
    if (s) {
        int64_t want[6] = {1, 2, 3, 0, 5, 4};
        CHECK(s->n_ranked == 6, "listed %lld, want 6", (long long)s->n_ranked);
        for (int k = 0; k < 6; k++)
            CHECK(s->triage[k] == SJ_TRIAGE_NEW_SERIES, "cluster %d: class %d", k, s->triage[k]);
        CHECK(s->n_sources[2] == 2 && s->n_sources[0] == 1, "sources %d, %d", s->n_sources[2],
              s->n_sources[0]);
        for (int r = 0; r < 6 && r < s->n_ranked; r++)
            CHECK(s->ranked[r] == want[r], "rank %d: cluster %lld, want %lld", r + 1,
                  (long long)s->ranked[r], (long long)want[r]);
    }
    sj_case_summary_free(s);
    sj_meta_table_free(t);
    sj_hashes_free(c);
    sj_hashes_free(q);
}

/* Union-find on a deep tree: pairs given from the far end of a chain
 * (5-4, 4-3, 3-2, 2-1) hang 5 four levels below 1; the last pair (0-5) must
 * still join the whole chain. Every linkage and the sweep rely on the find. */
static void test_union_find_deep(void)
{
    int64_t ids[6] = {0, 1, 2, 3, 4, 5};
    sj_pair v[5];
    sj_pairs p = {0, 5, v};
    for (int64_t k = 5; k >= 2; k--)
        add_pair(&p, k - 1, k, 1);
    add_pair(&p, 0, 5, 1);
    sj_clusters *c = NULL;
    CHECK(sj_cluster_components(ids, 6, &p, &c) == SJ_OK && c, "cluster: %s", sj_last_error());
    if (c)
        CHECK(c->n_clusters == 1 && numbering_ok(c), "a chain given from its far end: %lld clusters, want 1",
              (long long)c->n_clusters);
    sj_clusters_free(c);
}

int main(void)
{
    t_init_seed();
    test_core_exact_k();
    test_union_find_deep();
    test_complete_exact_d();
    test_bit_band_upper_edge();
    test_core_fractional_nearest();
    test_triage_ties();
    return t_finish("test_rules");
}
