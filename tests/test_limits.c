/* test_limits.c - the resource-limit functions of the library, against
 * oracles written here: sj_default_limits (arithmetic of the documented
 * rule), sj_match_cap (its definition, by trying every cap), and
 * sj_join_count_matches (a naive double loop over sj_distance). */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <string.h>

static void test_default_limits(void)
{
    const int64_t G = (int64_t)1 << 30;
    sj_resources r = {8 * G, 100 * G};
    sj_limits l;
    CHECK(sj_default_limits(&r, G, 72, 48, &l) == SJ_OK, "8 GB, 1 GB inputs\n");
    CHECK(l.max_memory == 6 * G && l.max_pairs == 5 * G / 72 && !l.by_disk, "memory bound: %lld\n",
          (long long)l.max_pairs);
    r.disk_free = G; /* 9/10 of 1 GB at 48 bytes a pair is below the memory bound */
    CHECK(sj_default_limits(&r, G, 72, 48, &l) == SJ_OK && l.by_disk && l.max_pairs == G / 10 * 9 / 48,
          "disk bound: %lld\n", (long long)l.max_pairs);
    CHECK(sj_default_limits(&r, 6 * G, 72, 48, &l) == SJ_ERR_LIMIT, "inputs of 3/4 of memory refused\n");
    CHECK(strstr(sj_last_error(), "--max-memory") != NULL, "message says how: %s\n", sj_last_error());
    sj_resources unknown = {-1, -1};
    CHECK(sj_default_limits(&unknown, G, 72, 48, &l) == SJ_OK && l.max_pairs == 0, "nothing known: no limit\n");
    sj_resources tiny = {1000, -1}; /* room for no pair at all still allows one */
    CHECK(sj_default_limits(&tiny, 700, 72, 48, &l) == SJ_OK && l.max_pairs == 1, "floor of one pair\n");
    sj_resources here;
    CHECK(sj_resources_detect(".", &here) == SJ_OK && here.memory_available > 0 && here.disk_free > 0,
          "this machine: %lld bytes of memory, %lld of disk\n", (long long)here.memory_available,
          (long long)here.disk_free);
}

/* The definition: the largest c (-1 .. max count) with sum of counts <= c
 * at most max_pairs. */
static int64_t cap_oracle(const int64_t *counts, int64_t n, int64_t max_pairs)
{
    int64_t best = -1, top = 0;
    for (int64_t i = 0; i < n; i++)
        top = counts[i] > top ? counts[i] : top;
    for (int64_t c = 0; c <= top; c++) {
        int64_t sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += counts[i] <= c ? counts[i] : 0;
        if (sum <= max_pairs)
            best = c;
    }
    return best;
}

static void test_match_cap(void)
{
    for (int round = 0; round < 300; round++) {
        int64_t n = (int64_t)(t_rand() % 40), counts[40], cap = -9;
        for (int64_t i = 0; i < n; i++)
            counts[i] = (int64_t)(t_rand() % 12);
        int64_t max_pairs = (int64_t)(t_rand() % 150);
        CHECK(sj_match_cap(counts, n, max_pairs, &cap) == SJ_OK, "sj_match_cap\n");
        int64_t want = cap_oracle(counts, n, max_pairs), differ = 0;
        /* the same rows go (a cap between two counts is the lower one) */
        for (int64_t i = 0; i < n; i++)
            differ += (counts[i] > cap) != (counts[i] > want);
        CHECK(!differ, "n %lld max_pairs %lld: cap %lld, oracle %lld\n", (long long)n, (long long)max_pairs,
              (long long)cap, (long long)want);
        int in_counts = cap == -1;
        for (int64_t i = 0; i < n; i++)
            in_counts |= counts[i] == cap;
        CHECK(in_counts || n == 0, "the cap %lld is -1 or one of the counts\n", (long long)cap);
    }
}

static void test_count_matches(void)
{
    sj_hash_type t = {SJ_KIND_BITS, 64, 0};
    sj_hashes *q = NULL, *c = NULL;
    sj_hashes_create(t, 0, &q);
    sj_hashes_create(t, 0, &c);
    uint8_t base[8], h[8];
    for (int k = 0; k < 8; k++)
        base[k] = (uint8_t)t_rand();
    for (int64_t i = 0; i < 700; i++) { /* near base, or anywhere: a mix of degrees */
        for (int k = 0; k < 8; k++)
            h[k] = i % 3 ? (uint8_t)t_rand() : base[k] ^ (uint8_t)(1u << (t_rand() % 8)) * (t_rand() % 4 == 0);
        sj_hashes_append(i < 300 ? q : c, i < 300 ? i : 1000 + i, h, -1);
    }
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.threshold = 20;
    cfg.backend = SJ_BACKEND_CPU;
    cfg.max_pairs = 1; /* not used by the count */
    int64_t cross[300] = {0}, self[300] = {0};
    CHECK(sj_join_count_matches(&cfg, q, c, cross) == SJ_OK, "cross count: %s\n", sj_last_error());
    CHECK(sj_join_count_matches(&cfg, q, NULL, self) == SJ_OK, "self count: %s\n", sj_last_error());
    int64_t total = 0;
    for (int64_t i = 0; i < q->n; i++) {
        int64_t wc = 0, ws = 0;
        for (int64_t j = 0; j < c->n; j++)
            wc += sj_distance(t, SJ_METRIC_HAMMING, q->hashes + i * 8, c->hashes + j * 8) <= 20;
        for (int64_t j = 0; j < q->n; j++)
            ws += j != i && sj_distance(t, SJ_METRIC_HAMMING, q->hashes + i * 8, q->hashes + j * 8) <= 20;
        CHECK(cross[i] == wc && self[i] == ws, "row %lld: %lld/%lld matches, oracle %lld/%lld\n",
              (long long)i, (long long)cross[i], (long long)self[i], (long long)wc, (long long)ws);
        total += wc + ws;
    }
    CHECK(total > 1000, "the data has matches to count (%lld)\n", (long long)total);
    sj_hashes_free(q);
    sj_hashes_free(c);
}

int main(void)
{
    t_init_seed();
    test_default_limits();
    test_match_cap();
    test_count_matches();
    return t_finish("test_limits");
}
