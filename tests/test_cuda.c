/* test_cuda.c - the cuda backend against the cpu backend: the same pairs for
 * every kernel (v1, v2, v3), widths 64, 96, 256 and 1024 bits, ragged sizes
 * around the block and sub-tile sizes, self and cross joins, the
 * ThreatExchange data, a pair buffer that overflows, a corpus streamed in
 * chunks, and two devices when there are two; and the vector kinds (cuBLAS
 * GEMM + epilogue, the l1 kernel) for photodna, u8:D and f32:D with every
 * metric, across the 2048 x 4096 GEMM tile edges, with a candidate buffer
 * that overflows; f32 on the fused TF32 kernel and the cuBLAS GEMM, and
 * rows near 2^64. Exits 77 (skipped) without a usable GPU. argv[1]: the
 * ThreatExchange data directory. */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

static sj_hashes *random_set(sj_hash_type t, int64_t n, int64_t first_id, const sj_hashes *near)
{
    sj_hashes *h;
    sj_hashes_create(t, n, &h);
    uint32_t rb = t.bits / 8;
    uint8_t row[128];
    for (int64_t i = 0; i < n; i++) {
        for (uint32_t b = 0; b < rb; b++)
            row[b] = (uint8_t)t_rand();
        if (near && near->n && i % 5 == 0) { /* near-duplicates of the other set */
            memcpy(row, near->hashes + (size_t)(t_rand() % (uint64_t)near->n) * rb, rb);
            for (int k = 0; k < (int)(t_rand() % (t.bits / 6)); k++) {
                uint32_t bit = (uint32_t)(t_rand() % t.bits);
                row[bit / 8] ^= (uint8_t)(1u << bit % 8);
            }
        }
        sj_hashes_append(h, first_id + i, row, -1);
    }
    return h;
}

/* SIMJOIN_TEST_STANDIN=naive: run the vector and dihedral cases with the
 * naive backend in the GPU's place, to check this test's own data and
 * plumbing where no GPU exists; =dihedral: the dihedral cases alone. */
static int standin;

/* The backend the GPU is compared with: cpu, or naive for f32 rows near 2^64
 * mixed with small rows (the plainest oracle for the rows that overflow
 * float; the cpu GEMM path dropped some of their pairs before 50e285a). */
static sj_backend_kind reference = SJ_BACKEND_CPU;

static int same(const sj_pairs *a, const sj_pairs *b)
{
    if (a->n != b->n)
        return 0;
    for (int64_t i = 0; i < a->n; i++)
        if (a->v[i].a != b->v[i].a || a->v[i].b != b->v[i].b ||
            a->v[i].distance != b->v[i].distance || a->v[i].transform != b->v[i].transform)
            return 0;
    return 1;
}

/* Join on cpu and cuda (queries NULL: self-join of corpus); compare. */
static void compare(const char *what, sj_join_config cuda_cfg, const sj_hashes *q, const sj_hashes *c)
{
    sj_join_config cpu = cuda_cfg;
    cpu.backend = reference;
    cuda_cfg.backend = standin ? SJ_BACKEND_NAIVE : SJ_BACKEND_CUDA;
    sj_pairs want = {0}, got = {0};
    sj_status s1 = q ? sj_join_cross(&cpu, q, c, &want) : sj_join_self(&cpu, c, &want);
    if (!s1)
        s1 = sj_pairs_canonicalize(&want);
    sj_status s2 = q ? sj_join_cross(&cuda_cfg, q, c, &got) : sj_join_self(&cuda_cfg, c, &got);
    const char *err = s2 ? sj_last_error() : "";
    if (!s2)
        s2 = sj_pairs_canonicalize(&got);
    CHECK(s1 == SJ_OK && s2 == SJ_OK && same(&want, &got),
          "%s: kernel v%d T=%g: cuda %lld pairs, cpu %lld (%s)", what, cuda_cfg.gpu_kernel,
          cuda_cfg.threshold, (long long)got.n, (long long)want.n, err);
    sj_pairs_free(&want);
    sj_pairs_free(&got);
}

static sj_hashes *ingest(const char *dir, const char *file, int64_t first_id)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    sj_ingest_options o = {.first_id = first_id};
    sj_hash_type_parse("pdq", &o.type);
    sj_ingest *ing;
    sj_hashes *h = NULL;
    sj_ingest_create(&o, &ing);
    if (sj_ingest_file(ing, path) || sj_ingest_finish(ing, &h))
        fprintf(stderr, "ingest %s: %s\n", path, sj_last_error());
    sj_ingest_free(ing);
    return h;
}

/* Vectors around a few centres, so that pairs fall on both sides of T. */
static sj_hashes *vector_set(const char *kind, int64_t n, int64_t first_id, uint64_t centre_seed)
{
    sj_hash_type t;
    sj_hash_type_parse(kind, &t);
    sj_hashes *h;
    sj_hashes_create(t, n, &h);
    uint32_t rb = t.bits / 8;
    uint8_t *row = malloc(rb);
    for (int64_t i = 0; i < n; i++) {
        uint64_t centre = centre_seed + t_rand() % 16; /* 16 centres, the same for both sets */
        for (uint32_t j = 0; j < t.dim; j++) {
            uint64_t z = (centre * 0x9e3779b97f4a7c15ULL) ^ (j * 0xbf58476d1ce4e5b9ULL);
            z ^= z >> 31;
            if (t.kind == SJ_KIND_F32) {
                float x = (float)((double)(z % 2001) / 1000.0 - 1.0 +
                                  ((double)(t_rand() % 2001) / 1000.0 - 1.0) * 0.2);
                memcpy(row + 4 * j, &x, 4);
            } else {
                int x = (int)(z % 256) + (int)(t_rand() % 21) - 10;
                row[j] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
            }
        }
        sj_hashes_append(h, first_id + i, row, -1);
    }
    free(row);
    return h;
}

static void test_vectors(sj_join_config cfg)
{
    static const struct {
        const char *kind;
        sj_metric m;
        double T;
    } cases[] = {
        {"photodna", SJ_METRIC_L2SQ, 144 * 60.0}, {"photodna", SJ_METRIC_L1, 144 * 7.0},
        {"u8:100", SJ_METRIC_L1, 100 * 7.0},      {"u8:33", SJ_METRIC_L2SQ, 33 * 60.0},
        {"f32:512", SJ_METRIC_COSINE, 0.042},      {"f32:64", SJ_METRIC_IP, -20.0},
        {"f32:61", SJ_METRIC_L2SQ, 61 * 0.02},
    };
    static const int64_t sizes[][2] = {{1, 1}, {2049, 4097}, {300, 8193}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            sj_hashes *q = vector_set(cases[k].kind, sizes[z][0], 1, 7);
            sj_hashes *c = vector_set(cases[k].kind, sizes[z][1], 10000001, 7);
            sj_join_config v = cfg;
            v.metric = cases[k].m;
            v.threshold = cases[k].T;
            char what[96];
            snprintf(what, sizeof what, "%s/%s %lldx%lld", cases[k].kind, sj_metric_name(cases[k].m),
                     (long long)sizes[z][0], (long long)sizes[z][1]);
            compare(what, v, q, c);
            compare(what, v, NULL, c);
            if (standin && z == 1) { /* the data has pairs on both sides of T */
                sj_join_config n = v;
                n.backend = SJ_BACKEND_CPU;
                sj_pairs p = {0};
                sj_join_cross(&n, q, c, &p);
                printf("%s: %lld of %lld pairs match\n", what, (long long)p.n,
                       (long long)(q->n * c->n));
                sj_pairs_free(&p);
            }
            if (z == 1) { /* a candidate buffer far too small: every tile is redone */
                v.gpu_hit_capacity = 64;
                compare(what, v, q, c);
            }
            sj_hashes_free(q);
            sj_hashes_free(c);
        }
}

/* f32 on both GPU paths, the fused TF32 kernel (kernel 0 / v3) and the
 * cuBLAS GEMM + epilogue (v1), against the cpu backend: D 61 and 512
 * across the 64 x 64 block and 2048 x 4096 tile edges; and rows near 2^64
 * whose squares overflow float (f32:16, l2sq and ip, self and cross), which
 * the TF32 path sends whole to the reference. */
static void test_f32_paths(sj_join_config cfg)
{
    static const struct {
        const char *kind;
        sj_metric m;
        double T;
    } cases[] = {{"f32:61", SJ_METRIC_L2SQ, 61 * 0.02}, {"f32:512", SJ_METRIC_COSINE, 0.042}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int kernel = 1; kernel <= 3; kernel += 2) {
            sj_hashes *q = vector_set(cases[k].kind, 2049, 1, 7);
            sj_hashes *c = vector_set(cases[k].kind, 4161, 10000001, 7);
            sj_join_config v = cfg;
            v.metric = cases[k].m, v.threshold = cases[k].T, v.gpu_kernel = kernel;
            char what[96];
            snprintf(what, sizeof what, "%s/%s (%s)", cases[k].kind, sj_metric_name(cases[k].m),
                     kernel == 1 ? "cuBLAS GEMM" : "TF32 kernel");
            compare(what, v, q, c);
            compare(what, v, NULL, c);
            sj_hashes_free(q);
            sj_hashes_free(c);
        }
    sj_hash_type t;
    sj_hash_type_parse("f32:16", &t);
    sj_hashes *h, *q;
    sj_hashes_create(t, 100, &h);
    sj_hashes_create(t, 100, &q);
    float row[16];
    for (int i = 0; i < 100; i++) {
        for (int j = 0; j < 16; j++)
            row[j] = i % 3 ? ldexpf((float)(1 + (i * 5 + j * 3) % 8), 62) : (float)(j % 5) - 2.0f;
        if (i % 7 == 5)
            row[0] = -row[0];
        sj_hashes_append(h, 10 + i, (uint8_t *)row, -1);
        row[i % 16] = ldexpf(3.0f, 62);
        sj_hashes_append(q, 1000 + i, (uint8_t *)row, -1);
    }
    reference = SJ_BACKEND_NAIVE; /* rows that overflow float: the plainest oracle */
    for (int m = 0; m < 2; m++) {
        sj_join_config v = cfg;
        v.metric = m ? SJ_METRIC_IP : SJ_METRIC_L2SQ;
        v.threshold = m ? -ldexp(1.0, 130) : ldexp(1.0, 130);
        compare("f32:16 rows near 2^64, self", v, NULL, h);
        compare("f32:16 rows near 2^64, cross", v, q, h);
    }
    reference = SJ_BACKEND_CPU;
    sj_hashes_free(h);
    sj_hashes_free(q);
}

/* Dihedral sets: image i's 8 transforms are rows 8i..8i+7 of a random set
 * (a fifth of them near rows of `near`). */
static sj_hashes *dihedral_set(sj_hash_type t, int64_t n, int64_t first_id, const sj_hashes *near)
{
    sj_hashes *rows = random_set(t, n * SJ_DIHEDRAL, 0, near), *h;
    sj_hashes_create(t, 0, &h);
    for (int64_t i = 0; i < n; i++)
        sj_hashes_append_dihedral(h, first_id + i, rows->hashes + (size_t)i * SJ_DIHEDRAL * (t.bits / 8), -1);
    sj_hashes_free(rows);
    return h;
}

/* join --dihedral: 8 query rows per image, reduced to the nearest on the
 * host; the same pairs, distances and transforms as the cpu backend. 8193
 * images make 65544 rows, one block of 65536 rows and a ragged second. */
static void test_dihedral(sj_join_config cfg)
{
    const int64_t sizes[][2] = {{1, 1}, {33, 300}, {8193, 257}};
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0}, b64 = {SJ_KIND_BITS, 64, 0};
    for (int w = 0; w < 2; w++)
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            sj_join_config d = cfg;
            d.dihedral = 1;
            d.threshold = w ? 8 : 31;
            sj_hashes *c = dihedral_set(w ? b64 : pdq, sizes[z][1], 0, NULL);
            sj_hashes *q = dihedral_set(w ? b64 : pdq, sizes[z][0], 10000000, c);
            compare(w ? "dihedral bits:64 cross" : "dihedral pdq cross", d, q, c);
            if (standin) {
                sj_pairs p = {0};
                sj_join_cross(&d, q, c, &p);
                printf("dihedral %s %lldx%lld: %lld pairs\n", w ? "bits:64" : "pdq", (long long)q->n,
                       (long long)c->n, (long long)p.n);
                sj_pairs_free(&p);
            }
            if (q->n < 1000) { /* both together: pairs in both directions */
                sj_hashes *both;
                sj_hashes_create(q->type, 0, &both);
                sj_hashes_concat(both, c);
                sj_hashes_concat(both, q);
                compare(w ? "dihedral bits:64 self" : "dihedral pdq self", d, NULL, both);
                sj_hashes_free(both);
            }
            sj_hashes_free(q);
            sj_hashes_free(c);
        }
}

int main(int argc, char **argv)
{
    const char *why = "";
    if (getenv("SIMJOIN_TEST_STANDIN")) {
        t_init_seed();
        standin = 1;
        sj_join_config cfg;
        sj_join_config_init(&cfg);
        test_dihedral(cfg);
        if (!strcmp(getenv("SIMJOIN_TEST_STANDIN"), "dihedral")) /* the dihedral cases alone */
            return t_finish("test_cuda (dihedral cases, naive standing in for cuda)");
        test_vectors(cfg);
        test_f32_paths(cfg);
        return t_finish("test_cuda (vector and dihedral cases, naive standing in for cuda)");
    }
    if (sj_cuda_device_count(&why) == 0) {
        printf("skipped: no usable GPU (%s)\n", why);
        return 77;
    }
    t_init_seed();
    const struct { uint32_t bits; int T; } widths[] = {{64, 8}, {96, 14}, {256, 31}, {1024, 120}};
    const int64_t sizes[][2] = {{1, 1}, {7, 255}, {64, 257}, {8191, 1000}, {8193, 513}, {300, 70000}};
    for (int kernel = 1; kernel <= 3; kernel++) {
        sj_join_config cfg;
        sj_join_config_init(&cfg);
        cfg.gpu_kernel = kernel;
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            sj_hash_type t = {widths[w].bits == 256 ? SJ_KIND_PDQ : SJ_KIND_BITS, widths[w].bits};
            cfg.threshold = widths[w].T;
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                if (widths[w].bits == 1024 && sizes[s][0] * sizes[s][1] > 10000000)
                    continue;
                sj_hashes *c = random_set(t, sizes[s][1], 0, NULL);
                sj_hashes *q = random_set(t, sizes[s][0], 10000000, c);
                compare("random cross", cfg, q, c);
                compare("random self", cfg, NULL, q);
                sj_hashes_free(q);
                sj_hashes_free(c);
            }
        }
        /* the ThreatExchange data */
        if (argc > 1) {
            sj_hashes *hay = ingest(argv[1], "haystack.txt", 0);
            sj_hashes *nee = ingest(argv[1], "needles.txt", 100000);
            if (hay && nee) {
                cfg.threshold = 31;
                compare("threatexchange haystack self", cfg, NULL, hay);
                compare("threatexchange needles x haystack", cfg, nee, hay);
                cfg.threshold = 52;
                compare("threatexchange haystack self T=52", cfg, NULL, hay);
                sj_join_config ov = cfg; /* a pair buffer of 4 hits overflows at once */
                ov.gpu_hit_capacity = 4;
                compare("threatexchange overflow redo", ov, NULL, hay);
            }
            sj_hashes_free(hay);
            sj_hashes_free(nee);
        }
        /* Overflow on a big result: half of all pairs match at T = 128. */
        sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
        sj_hashes *c = random_set(pdq, 3000, 0, NULL), *q = random_set(pdq, 2000, 1000000, c);
        sj_join_config big = cfg;
        big.threshold = 128;
        big.gpu_hit_capacity = 1000;
        compare("overflow at T=128", big, q, c);
        /* A corpus streamed in chunks of about 500 rows. */
        sj_join_config stream = cfg;
        stream.threshold = 31;
        stream.gpu_memory_limit = 500 * 40;
        compare("streamed corpus cross", stream, q, c);
        compare("streamed corpus self", stream, NULL, c);
        /* Two devices, when present. */
        if (sj_cuda_device_count(NULL) >= 2) {
            sj_join_config two = cfg;
            two.threshold = 31;
            sj_gpu_list_parse("0,1", &two);
            compare("two devices", two, q, c);
            compare("two devices self", two, NULL, c); /* split by work along the triangle */
            two.gpu_memory_limit = 500 * 40;            /* each device streams windows */
            compare("two devices streamed cross", two, q, c);
            compare("two devices streamed self", two, NULL, c);
        } else {
            printf("note: one device; the two-device case is not run\n");
        }
        sj_hashes_free(q);
        sj_hashes_free(c);
        test_dihedral(cfg); /* per kernel: the dihedral rows go through it */
    }
    /* the vector path does not depend on the Hamming kernel: once */
    sj_join_config vcfg;
    sj_join_config_init(&vcfg);
    test_vectors(vcfg);
    test_f32_paths(vcfg);
    return t_finish("test_cuda");
}
