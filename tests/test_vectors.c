/* test_vectors.c - vector kinds (photodna, u8:D, f32:D) x metrics x backends
 * against an oracle written here from the documented definitions (README
 * "Metrics": sums over dimensions in order, in double precision; integers
 * for uint8), on fresh random clustered data: widths that are not multiples
 * of the register block (1, 7, 9, 17, 33, 100, 144, 300, 512), sizes 0, 1,
 * around the blocks of every path (the GEMM path's strips, groups, panels and
 * query chunks; the 512-row corpus block); self and cross joins; 1 and 2 threads;
 * a pair at exactly the threshold (must match) and one just below it (must
 * not); the zero vector under cosine; rows whose squares overflow float;
 * rows whose bf16 rounding moves a pair at T out of it (the bf16 pass). */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

static double oracle(sj_hash_type t, sj_metric m, const uint8_t *a, const uint8_t *b)
{
    if (t.kind != SJ_KIND_F32) {
        long long s = 0;
        for (uint32_t i = 0; i < t.dim; i++) {
            long long x = (long long)a[i] - b[i];
            s += m == SJ_METRIC_L1 ? llabs(x) : x * x;
        }
        return (double)s;
    }
    const float *x = (const float *)a, *y = (const float *)b; /* rows are 4-aligned here */
    double dot = 0, nx = 0, ny = 0, l2 = 0;
    for (uint32_t i = 0; i < t.dim; i++) {
        dot += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
        l2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    return m == SJ_METRIC_L2SQ ? l2 : m == SJ_METRIC_IP ? 1.0 - dot : 1.0 - dot / sqrt(nx * ny);
}

static int cmp_pair(const void *x, const void *y)
{
    const sj_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

static sj_pair *oracle_join(sj_hash_type t, sj_metric m, const sj_hashes *q, const sj_hashes *c,
                            int self, double T, int64_t *n)
{
    uint32_t rb = t.bits / 8;
    int64_t cap = 1024, k = 0;
    sj_pair *v = malloc((size_t)cap * sizeof *v);
    for (int64_t i = 0; i < q->n; i++)
        for (int64_t j = self ? i + 1 : 0; j < c->n; j++) {
            double d = oracle(t, m, q->hashes + i * rb, c->hashes + j * rb);
            if (!(d <= T))
                continue;
            if (k == cap)
                v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            int64_t a = q->ids[i], b = c->ids[j];
            v[k++] = (sj_pair){a < b ? a : b, a < b ? b : a, d, 0};
        }
    qsort(v, (size_t)k, sizeof *v, cmp_pair);
    *n = k;
    return v;
}

/* n rows around a few centres (so that pairs fall on both sides of T). */
static sj_hashes *clustered(sj_hash_type t, int64_t n, int64_t first_id, const uint8_t *centres,
                            int n_centres)
{
    sj_hashes *h;
    sj_hashes_create(t, n, &h);
    uint32_t rb = t.bits / 8;
    uint8_t *row = malloc(rb);
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *c = centres + (size_t)(t_rand() % (uint64_t)n_centres) * rb;
        for (uint32_t j = 0; j < t.dim; j++) {
            if (t.kind == SJ_KIND_F32) {
                float x;
                memcpy(&x, c + 4 * j, 4);
                x += (float)((double)(t_rand() % 2001) / 1000.0 - 1.0) * 0.15f;
                memcpy(row + 4 * j, &x, 4);
            } else {
                int x = c[j] + (int)(t_rand() % 17) - 8;
                row[j] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
            }
        }
        sj_hashes_append(h, first_id + (int64_t)((i * 7919) % (n ? n : 1)) * 3, row, -1);
    }
    free(row);
    return h;
}

static void make_centres(sj_hash_type t, uint8_t *centres, int n)
{
    uint32_t rb = t.bits / 8;
    for (int k = 0; k < n; k++)
        for (uint32_t j = 0; j < t.dim; j++) {
            if (t.kind == SJ_KIND_F32) {
                float x = (float)((double)(t_rand() % 2001) / 1000.0 - 1.0);
                memcpy(centres + (size_t)k * rb + 4 * j, &x, 4);
            } else
                centres[(size_t)k * rb + j] = (uint8_t)t_rand();
        }
}

static const sj_backend_kind backends[] = {SJ_BACKEND_CPU, SJ_BACKEND_FAISS, SJ_BACKEND_NAIVE};

static void compare_backends(sj_hash_type t, sj_metric m, const sj_hashes *q, const sj_hashes *c,
                             int self, double T, const char *what)
{
    int64_t n_or;
    sj_pair *want = oracle_join(t, m, q, self ? q : c, self, T, &n_or);
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++)
        for (int variant = 0; variant < 5; variant++) {
            /* isa auto, portable, 2 threads, avx2 (float path), avx512 (VNNI for u8 l2sq) */
            static const sj_isa isa[] = {SJ_ISA_AUTO, SJ_ISA_PORTABLE, SJ_ISA_AUTO, SJ_ISA_AVX2,
                                         SJ_ISA_AVX512};
            if (!sj_backend_available(backends[b]) || (variant && backends[b] != SJ_BACKEND_CPU) ||
                !sj_isa_supported(isa[variant]))
                continue;
            sj_join_config cfg;
            sj_join_config_init(&cfg);
            cfg.backend = backends[b];
            cfg.metric = m;
            cfg.threshold = T;
            cfg.isa = isa[variant];
            cfg.threads = variant == 2 ? 2 : 1;
            sj_pairs got = {0};
            sj_status st = self ? sj_join_self(&cfg, q, &got) : sj_join_cross(&cfg, q, c, &got);
            if (backends[b] == SJ_BACKEND_FAISS && m == SJ_METRIC_L1) {
                CHECK(st == SJ_ERR_UNSUPPORTED, "%s: faiss l1 must be unsupported", what);
                sj_pairs_free(&got);
                continue;
            }
            CHECK(st == SJ_OK, "%s %s v%d: %s", what, sj_backend_name(backends[b]), variant,
                  sj_last_error());
            if (!st)
                st = sj_pairs_canonicalize(&got);
            int same = !st && got.n == n_or;
            for (int64_t i = 0; same && i < n_or; i++)
                same = got.v[i].a == want[i].a && got.v[i].b == want[i].b &&
                       got.v[i].distance == want[i].distance;
            CHECK(same, "%s %s v%d: %lld pairs, oracle %lld", what, sj_backend_name(backends[b]),
                  variant, (long long)got.n, (long long)n_or);
            sj_pairs_free(&got);
        }
    free(want);
}

static void run_kind(const char *kind, sj_metric m, int64_t nq, int64_t nc)
{
    sj_hash_type t;
    sj_hash_type_parse(kind, &t);
    uint32_t rb = t.bits / 8;
    uint8_t *centres = malloc((size_t)6 * rb);
    make_centres(t, centres, 6);
    sj_hashes *q = clustered(t, nq, 1, centres, 6), *c = clustered(t, nc, 1000001, centres, 6);
    char what[96];
    snprintf(what, sizeof what, "%s/%s %lldx%lld", kind, sj_metric_name(m), (long long)nq,
             (long long)nc);
    /* T: the distance of a near pair (when there is one), so that a pair sits
     * exactly on it; then just below it. */
    double T = m == SJ_METRIC_COSINE ? 0.01 : m == SJ_METRIC_IP ? -1.0 : 50.0 * t.dim;
    if (nq > 0 && nc > 0) {
        double best = INFINITY;
        for (int64_t j = 0; j < nc; j++) {
            double d = oracle(t, m, q->hashes, c->hashes + j * rb);
            if (d > 0 && d < best)
                best = d;
        }
        if (isfinite(best))
            T = best;
    }
    compare_backends(t, m, q, c, 0, T, what);
    compare_backends(t, m, q, c, 1, T, what);
    double below = t.kind == SJ_KIND_F32 ? nextafter(T, -INFINITY) : T - 1;
    compare_backends(t, m, q, c, 0, below, what);
    free(centres);
    sj_hashes_free(q);
    sj_hashes_free(c);
}

/* Rows whose squares overflow float (components k 2^62, k = 1..8, so that
 * x^2 reaches 2^128 > FLT_MAX; f32 allows up to FLT_MAX): a float dot product
 * or norm term becomes inf or NaN, which must make the pair a candidate for
 * the double-precision reference, never drop it. Every product and sum is
 * exact in double, so the oracle and the reference agree to the bit.
 * mixed: every third row small (components -2..2) among the huge ones, and
 * a negated first component in every seventh, whose first product takes a
 * float dot product to -inf although the exact one is large and positive
 * (the float GEMM and the faiss backend dropped such pairs). T < 0 for ip:
 * T = 0 too, where the GEMM's test terms stay finite for rows near 2^67. */
static void test_huge_values(sj_metric m, int mixed, double T)
{
    sj_hash_type t;
    sj_hash_type_parse("f32:16", &t);
    const int n = mixed ? 60 : 12;
    sj_hashes *h, *q;
    sj_hashes_create(t, n, &h);
    sj_hashes_create(t, n, &q);
    float row[16];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 16; j++)
            row[j] = mixed && i % 3 == 0 ? (float)(j % 5) - 2.0f
                                         : ldexpf((float)(1 + (i * 5 + j * 3) % 8), 62);
        if (mixed ? i % 7 == 5 : i == 5)
            row[0] = -row[0];
        sj_hashes_append(h, 10 + i, (uint8_t *)row, -1);
        row[i % 16] = ldexpf(3.0f, 62); /* the queries: a component changed */
        sj_hashes_append(q, 100 + i, (uint8_t *)row, -1);
    }
    /* T: a pair distance in the middle, so some pairs match and some do not */
    if (isnan(T))
        T = oracle(t, m, h->hashes + 4 * 64, h->hashes + 7 * 64);
    char what[96];
    snprintf(what, sizeof what, "f32:16 %s, rows near 2^64%s, T = %g", sj_metric_name(m),
             mixed ? " among small ones" : "", T);
    compare_backends(t, m, h, h, 1, T, what);
    compare_backends(t, m, q, h, 0, T, what);
    sj_hashes_free(h);
    sj_hashes_free(q);
}

/* x rounded to bf16 as the bf16 pass does (VCVTNEPS2BF16: to nearest even,
 * inputs below 2^-126 to zero), written here from the format's definition. */
static double bf16_round(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7f800000u) == 0)
        return 0.0;
    b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &b, 4);
    return x;
}

/* 2^e (1 + 2^-8 - 2^-20): bf16 rounds it down to 2^e, by almost 2^-8 of it. */
static float bf16_low(int e, int neg)
{
    const float x = ldexpf(1.0f + 0x1p-8f - 0x1p-20f, e);
    return neg ? -x : x;
}

/* Rows of such values (random signs, exponents over 2^-12 .. 2^12 within a
 * row, a float subnormal in some) around one centre (rows 0 are the centre):
 * a bf16 dot product of two near rows falls about 2^-7 |x| |y| short of the
 * exact one, so the pair at T (the nearest to query 0) is one a bf16 first
 * pass with too small a margin drops; checked here with bf16 emulated (at
 * least 0.85 of 2^-7: the pass's margin, twice the bound, must exceed it).
 * Some rows are scaled by 2^40, 2^-40 or 2^-135 (norms outside the pass's
 * bound: every pair a candidate; at 2^-135 the float dot products
 * underflow), some are the zero vector (l2sq and ip). Then T just below that
 * pair's distance (it must not match). */
static void test_bf16_rounding(uint32_t dim, sj_metric m, int64_t nq, int64_t nc)
{
    char kind[32], what[96];
    snprintf(kind, sizeof kind, "f32:%u", dim);
    snprintf(what, sizeof what, "%s/%s %lldx%lld bf16 rounding", kind, sj_metric_name(m),
             (long long)nq, (long long)nc);
    sj_hash_type t;
    sj_hash_type_parse(kind, &t);
    float *centre = malloc((size_t)dim * 4), *row = malloc((size_t)dim * 4);
    for (uint32_t k = 0; k < dim; k++)
        centre[k] = bf16_low((int)(t_rand() % 25) - 12, (int)(t_rand() & 1));
    sj_hashes *set[2];
    for (int side = 0; side < 2; side++) {
        const int64_t n = side ? nc : nq;
        sj_hashes_create(t, n, &set[side]);
        for (int64_t i = 0; i < n; i++) {
            for (uint32_t k = 0; k < dim; k++) { /* row 0: the centre; else 1 in 32 times 2^+-1 */
                const int move = i > 0 && t_rand() % 32 == 0;
                row[k] = move ? ldexpf(centre[k], t_rand() & 1 ? 1 : -1) : centre[k];
            }
            if (i % 5 == 3)
                row[t_rand() % dim] = 1e-40f; /* subnormal: flushed to zero in bf16 */
            if (i % 7 == 5 || i % 11 == 7) /* 2^-135: mostly float subnormals */
                for (uint32_t k = 0; k < dim; k++)
                    row[k] = ldexpf(row[k], i % 11 == 7 ? -135 : i % 2 ? 40 : -40);
            if (i % 13 == 11 && m != SJ_METRIC_COSINE) /* the zero vector (cosine refuses it) */
                memset(row, 0, (size_t)dim * 4);
            sj_hashes_append(set[side], (side ? 1000000 : 1) + i * 3, (uint8_t *)row, -1);
        }
    }
    sj_hashes *q = set[0], *c = set[1];
    const uint32_t rb = t.bits / 8;
    double T = m == SJ_METRIC_COSINE ? 0.01 : m == SJ_METRIC_IP ? -1.0 : 1.0;
    if (nq > 0 && nc > 0) {
        int64_t best_j = -1;
        double best = INFINITY;
        for (int64_t j = 0; j < nc; j++) {
            const double d = oracle(t, m, q->hashes, c->hashes + j * rb);
            if (j % 7 != 5 && j % 11 != 7 && j % 13 != 11 && d < best) /* inside the bound's range */
                best = d, best_j = j;
        }
        if (best_j >= 0) {
            T = best;
            const float *x = (const float *)q->hashes;
            const float *y = (const float *)(c->hashes + best_j * rb);
            double dot = 0, dot_b = 0, nx = 0, ny = 0;
            for (uint32_t k = 0; k < dim; k++) {
                dot += (double)x[k] * y[k];
                dot_b += bf16_round(x[k]) * bf16_round(y[k]);
                nx += (double)x[k] * x[k];
                ny += (double)y[k] * y[k];
            }
            /* what the bf16 pass misses of the exact dot, per unit of |x| |y| */
            const double short_by = (dot - dot_b) / sqrt(nx * ny);
            CHECK(short_by > 0.85 * 0x1p-7, "%s: bf16 dot short by only %g |x||y|", what, short_by);
        }
    }
    compare_backends(t, m, q, c, 0, T, what);
    compare_backends(t, m, q, q, 1, T, what);
    compare_backends(t, m, q, c, 0, nextafter(T, -INFINITY), what);
    free(centre);
    free(row);
    sj_hashes_free(q);
    sj_hashes_free(c);
}

static void test_zero_vector(void)
{
    sj_hash_type t;
    sj_hash_type_parse("f32:3", &t);
    sj_hashes *h;
    sj_hashes_create(t, 2, &h);
    float a[3] = {1, 2, 3}, z[3] = {0, -0.0f, 0};
    sj_hashes_append(h, 1, (uint8_t *)a, -1);
    sj_hashes_append(h, 2, (uint8_t *)z, -1);
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        if (!sj_backend_available(backends[b]))
            continue;
        sj_join_config cfg;
        sj_join_config_init(&cfg);
        cfg.backend = backends[b];
        cfg.metric = SJ_METRIC_COSINE;
        cfg.threshold = 0.5;
        sj_pairs got = {0};
        sj_status st = sj_join_self(&cfg, h, &got);
        CHECK(st == SJ_ERR_ARG && strstr(sj_last_error(), "zero vector") && strstr(sj_last_error(), "row 1"),
              "%s: zero vector under cosine: %s", sj_backend_name(backends[b]), sj_last_error());
        sj_pairs_free(&got);
    }
    /* The degenerate rule takes zero vectors out (and -0.0 is zero). */
    sj_degenerate_options o;
    sj_degenerate_defaults(t, &o);
    CHECK(sj_degenerate_check(&o, t, (uint8_t *)z, -1) == SJ_DEGEN_ALL_ZERO, "zero vector degenerate");
    CHECK(sj_degenerate_check(&o, t, (uint8_t *)a, -1) == SJ_DEGEN_NONE, "vector not degenerate");
    sj_hashes_free(h);
}

int main(void)
{
    t_init_seed();
    static const struct {
        const char *kind;
        sj_metric m;
    } cases[] = {
        {"photodna", SJ_METRIC_L2SQ}, {"photodna", SJ_METRIC_L1}, {"u8:1", SJ_METRIC_L2SQ},
        {"u8:7", SJ_METRIC_L1},       {"u8:9", SJ_METRIC_L2SQ},   {"u8:100", SJ_METRIC_L1},
        {"f32:1", SJ_METRIC_L2SQ},    {"f32:8", SJ_METRIC_COSINE}, {"f32:9", SJ_METRIC_IP},
        {"f32:64", SJ_METRIC_COSINE}, {"f32:64", SJ_METRIC_L2SQ}, {"f32:300", SJ_METRIC_IP},
        {"f32:300", SJ_METRIC_COSINE},
    };
    /* Sizes around the blocks: the 512-row corpus block (portable path);
     * the GEMM path's 6-row strips, 48-row corpus groups, 16-query panels
     * (AVX2), 64-query panels (AVX-512) and prepared query blocks. */
    static const int64_t sizes[][2] = {{0, 5}, {5, 0},   {1, 1},   {3, 5},   {5, 4},
                                       {13, 513}, {40, 511}, {15, 5},  {16, 6},  {17, 7},
                                       {47, 47},  {48, 48},  {49, 49}, {63, 11}, {64, 12},
                                       {65, 13}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            run_kind(cases[k].kind, cases[k].m, sizes[s][0], sizes[s][1]);
    /* More queries than one GEMM chunk (512 KiB of packed queries: 256 at
     * D = 512, 384 at D = 300), D not a multiple of any block. */
    run_kind("f32:512", SJ_METRIC_COSINE, 257, 97);
    run_kind("f32:300", SJ_METRIC_L2SQ, 385, 50);
    run_kind("f32:33", SJ_METRIC_IP, 129, 200);
    run_kind("f32:17", SJ_METRIC_COSINE, 70, 101);
    /* More queries than one prepared batch (4096), more corpus groups than
     * one call hands out (4096 x 48 rows: several groups a unit). */
    run_kind("f32:3", SJ_METRIC_L2SQ, 4097, 70);
    run_kind("f32:2", SJ_METRIC_L2SQ, 2, 4096 * 48 + 100);
    test_huge_values(SJ_METRIC_L2SQ, 0, NAN);
    test_huge_values(SJ_METRIC_IP, 0, NAN);
    test_huge_values(SJ_METRIC_L2SQ, 1, NAN);
    test_huge_values(SJ_METRIC_IP, 1, NAN);
    test_huge_values(SJ_METRIC_L2SQ, 1, ldexp(1.0, 130));
    test_huge_values(SJ_METRIC_IP, 1, -ldexp(1.0, 130));
    test_huge_values(SJ_METRIC_IP, 1, 0.0);
    test_huge_values(SJ_METRIC_COSINE, 1, 0.01);
    /* The bf16 pass: widths around its pairs of components and the 16-lane
     * conversion, sizes at the tile edges (6-row strips, 48-row groups,
     * 64-query panels) and 0 and 1 rows. */
    static const uint32_t bf16_dims[] = {1, 17, 31, 32, 33, 512, 1000};
    static const int64_t bf16_sizes[][2] = {{1, 1},   {0, 3},   {3, 0},  {5, 7},
                                            {63, 47}, {64, 48}, {65, 49}};
    static const sj_metric bf16_metrics[] = {SJ_METRIC_COSINE, SJ_METRIC_L2SQ, SJ_METRIC_IP};
    for (size_t d = 0; d < sizeof bf16_dims / sizeof *bf16_dims; d++)
        for (size_t k = 0; k < sizeof bf16_metrics / sizeof *bf16_metrics; k++)
            for (size_t z = 0; z < sizeof bf16_sizes / sizeof *bf16_sizes; z++)
                if ((z < 4 && (k == 0 || bf16_dims[d] == 1)) || /* small: cosine; D = 1: all */
                    bf16_dims[d] == 33 || bf16_dims[d] == 512)  /* every size and metric */
                    test_bf16_rounding(bf16_dims[d], bf16_metrics[k], bf16_sizes[z][0],
                                       bf16_sizes[z][1]);
    /* This CPU's path for f32: the bf16 pass where it has AVX512_BF16
     * (SIMJOIN_VEC_OUTER=16 keeps the float AVX-512 GEMM). */
    sj_hash_type f512;
    sj_hash_type_parse("f32:512", &f512);
    const char *force = getenv("SIMJOIN_VEC_OUTER");
    __builtin_cpu_init();
    if (!force && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f"))
        CHECK(!strcmp(sj_cpu_path_name(f512, SJ_METRIC_COSINE, SJ_ISA_AUTO), "avx512-bf16"),
              "f32:512 cosine path %s", sj_cpu_path_name(f512, SJ_METRIC_COSINE, SJ_ISA_AUTO));
    if (force && !strcmp(force, "16") && __builtin_cpu_supports("avx512f"))
        CHECK(!strcmp(sj_cpu_path_name(f512, SJ_METRIC_COSINE, SJ_ISA_AUTO), "avx512"),
              "f32:512 cosine path %s under SIMJOIN_VEC_OUTER=16",
              sj_cpu_path_name(f512, SJ_METRIC_COSINE, SJ_ISA_AUTO));
    test_zero_vector();
    return t_finish("test_vectors");
}
