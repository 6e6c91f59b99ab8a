/* test_cuda_mock_vec.c - host/join/backend_cuda_vec.c itself on the host, like
 * test_cuda_mock.c for the Hamming backend: the CUDA runtime is mocked
 * (tests/mock_cuda/), cuBLAS is a mocked library behind dlopen/dlsym whose
 * GemmEx computes the column-major dot tile the backend asks for, and the
 * epilogue, l1 and int8 l2sq kernels are loops with the kernels' rules
 * (sj_vt_candidate, sj_vt_sad4; for int8 the v3 epilogue's sj_v3_within on
 * rows packed by sj_vt_s8_pack_row) and append contract. host/join/gpu_plan.h's
 * limits are tiny, so calls split into corpus and query pieces (hits
 * relative to a piece) and overflowing pieces are redone in halves. Pairs
 * and distances are checked against exact integer loops (u8 kinds) and
 * double loops (f32 kinds: the TF32 kernel is a loop with its rule,
 * sj_vt_tf32_within on rows packed by sj_vt_tf32_pack_row, float sums in
 * order; rows near 2^64; --kernel v1 takes the cuBLAS GEMM). Also:
 * without cuBLAS, open fails with a clear error (auto avoids it:
 * sj_backend_resolve_for). */
#define SJ_GPU_MAX_LAUNCH_ROWS ((int64_t)1500)
#define SJ_GPU_STAGE_BYTES ((int64_t)4096)
#define SJ_GPU_MAX_HITS ((uint64_t)3000)
#define SJ_GPU_S8_MAX_DIM 16 /* u8:16 l2sq takes the int8 kernel, u8:24 the fp16 GEMM */
#define SJ_GPU_VEC_TILE_Q 384  /* several tiles a piece, ragged */
#define SJ_GPU_VEC_TILE_C 640

#include <dlfcn.h> /* the real declarations first; the file under test gets the mocks */
#define dlopen mock_dlopen
#define dlsym mock_dlsym
#define dlclose mock_dlclose
#define dlerror mock_dlerror
#define sj_backend_cuda_vec mock_backend_cuda_vec
#define sj_cuda_device_count mock_cuda_device_count
#define sj_cuda_blas_loadable mock_cuda_blas_loadable
#define sj_cuda_vec_needs_blas mock_cuda_vec_needs_blas
#define sj_gpu_vec_epilogue mock_gpu_vec_epilogue
#define sj_gpu_vec_l1 mock_gpu_vec_l1
#define sj_gpu_launch_l2sq_s8 mock_gpu_launch_l2sq_s8
#define sj_gpu_vec_tf32 mock_gpu_vec_tf32
static void *mock_dlopen(const char *name, int flags);
static void *mock_dlsym(void *lib, const char *name);
static int mock_dlclose(void *lib);
static char *mock_dlerror(void);
#include "../host/join/backend_cuda_vec.c"

#include "test_util.h"

#include <math.h>

static int g_blas_present = 1, g_lib;
static int64_t g_launches, g_s8_launches, g_s8_norm_bad, g_tf32_launches, g_tf32_raw;
static uint32_t g_max_nc, g_max_nq;
static unsigned long long g_max_capacity;

int mock_cuda_device_count(const char **reason) { (void)reason; return 1; }

static cublasStatus_t m_create(cublasHandle_t *h) { *h = (cublasHandle_t)&g_lib; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t m_destroy(cublasHandle_t h) { (void)h; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t m_set_stream(cublasHandle_t h, cudaStream_t s) { (void)h, (void)s; return CUBLAS_STATUS_SUCCESS; }
static const char *m_status_string(cublasStatus_t s) { return s ? "mock cublas error" : "ok"; }

static float half_to_float(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    return e == 0 ? (float)ldexp(m, -24) : (float)ldexp(1.0 + m / 1024.0, e - 15);
}

static float elem(const void *p, cudaDataType t, size_t i)
{
    return t == CUDA_R_16F ? half_to_float(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* C (m x n, column-major, ldc) = op(A) B with op(A) = A^T: A is k x m
 * column-major (lda), B is k x n (ldb); what the backend's call means. */
static cublasStatus_t m_gemm_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const void *alpha, const void *A, cudaDataType at,
                                int lda, const void *B, cudaDataType bt, int ldb, const void *beta,
                                void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                                cublasGemmAlgo_t algo)
{
    if (ta != CUBLAS_OP_T || tb != CUBLAS_OP_N || ct != CUDA_R_32F || *(const float *)alpha != 1.0f ||
        *(const float *)beta != 0.0f || ldc < m)
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)elem(A, at, (size_t)i * lda + p) * elem(B, bt, (size_t)j * ldb + p);
            ((float *)C)[(size_t)i + (size_t)ldc * j] = (float)s;
        }
    return CUBLAS_STATUS_SUCCESS;
}

static void *mock_dlopen(const char *name, int flags) { (void)name, (void)flags; return g_blas_present ? &g_lib : NULL; }
static int mock_dlclose(void *lib) { (void)lib; return 0; }
static char *mock_dlerror(void) { return (char *)"libcublas.so: cannot open shared object file (mock)"; }
static void *mock_dlsym(void *lib, const char *name)
{
    (void)lib;
    if (!strcmp(name, "cublasCreate_v2")) return (void *)m_create;
    if (!strcmp(name, "cublasDestroy_v2")) return (void *)m_destroy;
    if (!strcmp(name, "cublasSetStream_v2")) return (void *)m_set_stream;
    if (!strcmp(name, "cublasGemmEx")) return (void *)m_gemm_ex;
    if (!strcmp(name, "cublasGetStatusString")) return (void *)m_status_string;
    return NULL;
}

static void launch_seen(const sj_gpu_vec_tile *t)
{
    g_launches++;
    g_max_nc = SJ_MAX(g_max_nc, t->nc), g_max_nq = SJ_MAX(g_max_nq, t->nq);
    g_max_capacity = SJ_MAX(g_max_capacity, t->capacity);
}

static void append(const sj_gpu_vec_tile *t, uint32_t q, uint32_t c, int d)
{
    const unsigned long long slot = (*t->count)++;
    if (sj_slot_fits(slot, t->capacity))
        t->hits[slot] = (sj_gpu_hit){t->hit_q + q, t->hit_c + c, d};
}

int mock_gpu_vec_epilogue(const sj_gpu_vec_tile *t, void *stream)
{
    launch_seen(t);
    for (uint32_t q = 0; q < t->nq; q++)
        for (uint32_t c = 0; c < t->nc; c++) {
            const double na = t->query_norm[q], nb = t->corpus_norm[c];
            const double approx = sj_vt_approx(t->metric, (double)t->dots[(size_t)c + (size_t)t->ldd * q], na, nb);
            if (sj_vt_candidate(t->q0, q, t->nq, t->c0, c, t->nc, t->self, approx, t->threshold,
                                sj_vt_margin(t->metric, t->gamma, na, nb)))
                append(t, q, c, 0);
        }
    return 0;
}

int mock_gpu_vec_l1(const uint32_t *queries, const uint32_t *corpus, int words,
                    const sj_gpu_vec_tile *t, void *stream)
{
    launch_seen(t);
    for (uint32_t q = 0; q < t->nq; q++)
        for (uint32_t c = 0; c < t->nc; c++) {
            int d = 0;
            for (int w = 0; w < words; w++)
                d += sj_vt_sad4(queries[(size_t)q * words + w], corpus[(size_t)c * words + w]);
            if (d <= (int)t->threshold && (!t->self || t->c0 + (int64_t)c > t->q0 + (int64_t)q))
                append(t, q, c, d);
        }
    return 0;
}

/* The int8 l2sq kernel: every pair of the tile, the dot product of the
 * packed int8 rows, the v3 epilogue's first test and exact distance, the
 * keep rule; squared norms must match their rows (offset with the tiles). */
int mock_gpu_launch_l2sq_s8(const sj_gpu_tile *t, void *stream)
{
    g_launches++, g_s8_launches++;
    g_max_nc = SJ_MAX(g_max_nc, t->nc), g_max_nq = SJ_MAX(g_max_nq, t->nq);
    g_max_capacity = SJ_MAX(g_max_capacity, t->capacity);
    for (uint32_t q = 0; q < t->nq; q++) {
        const uint32_t *qr = t->queries + (size_t)q * t->words;
        int32_t qn = 0;
        for (int b = 0; b < 4 * t->words; b++)
            qn += (int8_t)(qr[b / 4] >> (8 * (b % 4))) * (int8_t)(qr[b / 4] >> (8 * (b % 4)));
        g_s8_norm_bad += qn != t->query_popc[q];
        for (uint32_t c = 0; c < t->nc; c++) {
            const uint32_t *cr = t->corpus + (size_t)c * t->words;
            int32_t dot = 0, cn = 0;
            for (int b = 0; b < 4 * t->words; b++) {
                const int x = (int8_t)(qr[b / 4] >> (8 * (b % 4))), y = (int8_t)(cr[b / 4] >> (8 * (b % 4)));
                dot += x * y, cn += y * y;
            }
            g_s8_norm_bad += cn != t->corpus_popc[c];
            if (!sj_v3_within(dot, t->query_popc[q] - t->threshold, t->corpus_popc[c]))
                continue;
            const int d = sj_hamming_from_and(t->query_popc[q], t->corpus_popc[c], dot);
            if (!sj_tile_keep(t->q0, q, t->nq, t->c0, c, t->nc, t->self, d, t->threshold))
                continue;
            const unsigned long long slot = (*t->count)++;
            if (sj_slot_fits(slot, t->capacity))
                t->hits[slot] = (sj_gpu_hit){t->hit_q + q, t->hit_c + c, d};
        }
    }
    return 0;
}

/* The TF32 kernel: every pair of the tile, the float dot product of the
 * packed rows (in order), the first test against the rows' terms, the keep
 * rule; every operand must be a TF32 value (low 13 bits clear). */
int mock_gpu_vec_tf32(const float *queries, const float *corpus, int ld,
                      const sj_vt_tf32_term *qterm, const sj_vt_tf32_term *cterm,
                      const sj_gpu_vec_tile *t, void *stream)
{
    launch_seen(t);
    g_tf32_launches++;
    for (uint32_t q = 0; q < t->nq; q++)
        for (uint32_t c = 0; c < t->nc; c++) {
            const float *x = queries + (size_t)q * ld, *y = corpus + (size_t)c * ld;
            float dot = 0;
            for (int k = 0; k < ld; k++) {
                uint32_t bx, by;
                memcpy(&bx, &x[k], 4), memcpy(&by, &y[k], 4);
                g_tf32_raw += (bx & 0x1fffu) != 0 || (by & 0x1fffu) != 0;
                dot += (float)((double)x[k] * y[k]);
            }
            if (sj_vt_tf32_within(dot, qterm[q], cterm[c]) &&
                sj_tile_keep(t->q0, q, t->nq, t->c0, c, t->nc, t->self, 0, 0))
                append(t, q, c, 0);
        }
    return 0;
}

/* Exact distance of u8 rows (l2sq or l1), or of f32 rows from the README's
 * definitions in double, summed in order (dim: D; f32: 4-byte aligned). */
static double exact(sj_hash_type t, sj_metric m, const uint8_t *a, const uint8_t *b)
{
    const uint32_t dim = t.dim;
    if (t.kind == SJ_KIND_F32) {
        const float *x = (const float *)a, *y = (const float *)b;
        double dot = 0, nx = 0, ny = 0, l2 = 0;
        for (uint32_t i = 0; i < dim; i++) {
            dot += (double)x[i] * y[i], nx += (double)x[i] * x[i], ny += (double)y[i] * y[i];
            l2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        }
        return m == SJ_METRIC_L2SQ ? l2 : m == SJ_METRIC_IP ? 1.0 - dot : 1.0 - dot / sqrt(nx * ny);
    }
    int64_t s = 0;
    for (uint32_t i = 0; i < dim; i++) {
        const int64_t x = (int64_t)a[i] - (int64_t)b[i];
        s += m == SJ_METRIC_L1 ? (x < 0 ? -x : x) : x * x;
    }
    return (double)s;
}

/* rows of `kind` (u8:D or f32:D); kernel: cfg.gpu_kernel (0: the fused kernels) */
static void check_kind(const char *what, const char *kind, int kernel, sj_metric metric, double T,
                       const uint8_t *qrows, int64_t q0, int64_t nq, const uint8_t *corpus, int64_t n,
                       int64_t c0, int64_t c1, int self, int64_t hit_capacity)
{
    sj_hash_type t;
    sj_hash_type_parse(kind, &t);
    const uint32_t D = t.dim, rb = t.bits / 8;
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.metric = metric, cfg.threshold = T, cfg.gpu_hit_capacity = hit_capacity;
    cfg.gpu_kernel = kernel;
    void *state = NULL;
    sj_hits out = {0};
    g_launches = g_s8_launches = g_s8_norm_bad = 0, g_max_nc = g_max_nq = 0, g_max_capacity = 0;
    g_tf32_launches = g_tf32_raw = 0;
    sj_status st = mock_backend_cuda_vec.open(&cfg, t, &state);
    if (!st)
        st = mock_backend_cuda_vec.load_corpus(state, corpus, n);
    if (!st)
        st = mock_backend_cuda_vec.compare(state, qrows + (size_t)q0 * rb, q0, nq, c0, c1, self, &out);
    mock_backend_cuda_vec.close(state);
    double *want = malloc((size_t)nq * (size_t)n * sizeof *want);
    int64_t n_want = 0;
    for (int64_t q = 0; q < nq; q++)
        for (int64_t c = 0; c < n; c++) {
            const double d = exact(t, metric, qrows + (size_t)(q0 + q) * rb, corpus + (size_t)c * rb);
            const int in = c >= c0 && c < c1 && d <= T && (!self || c > q0 + q);
            want[q * n + c] = in ? d : -1;
            n_want += in;
        }
    int ok = st == SJ_OK && out.n == n_want;
    for (int64_t i = 0; i < out.n && ok; i++) {
        const int64_t q = out.v[i].q - q0, c = out.v[i].c;
        ok = q >= 0 && q < nq && c >= 0 && c < n && want[q * n + c] == out.v[i].d;
        if (ok)
            want[q * n + c] = -2;
    }
    const uint64_t first_cap = hit_capacity > 0 ? (uint64_t)hit_capacity : DEFAULT_HITS;
    const int fused = kernel == 0 || kernel == 3, f32 = t.kind == SJ_KIND_F32;
    const int want_s8 = fused && !f32 && metric == SJ_METRIC_L2SQ && D <= SJ_GPU_S8_MAX_DIM;
    const int want_tf32 = fused && f32 && metric != SJ_METRIC_L1;
    CHECK(ok && g_s8_norm_bad == 0 && g_tf32_raw == 0 && (g_s8_launches > 0) == want_s8 &&
              (g_tf32_launches > 0) == want_tf32,
          "%s (%s, kernel %d): %lld pairs, exact %lld (%s), %lld int8 and %lld tf32 launches, "
          "%lld operands not TF32",
          what, kind, kernel, (long long)out.n, (long long)n_want, st ? sj_last_error() : "ok",
          (long long)g_s8_launches, (long long)g_tf32_launches, (long long)g_tf32_raw);
    CHECK(g_max_nc <= SJ_GPU_MAX_LAUNCH_ROWS && g_max_capacity <= SJ_MAX(SJ_GPU_MAX_HITS, first_cap),
          "%s: tiles of at most %u corpus rows, candidate buffers of at most %llu (%lld launches)",
          what, g_max_nc, g_max_capacity, (long long)g_launches);
    free(want);
    free(out.v);
}

static void check(const char *what, uint32_t D, sj_metric metric, double T, const uint8_t *qrows,
                  int64_t q0, int64_t nq, const uint8_t *corpus, int64_t n, int64_t c0, int64_t c1,
                  int self, int64_t hit_capacity)
{
    char kind[32];
    snprintf(kind, sizeof kind, "u8:%u", D);
    check_kind(what, kind, 0, metric, T, qrows, q0, nq, corpus, n, c0, c1, self, hit_capacity);
}

/* f32 rows [n][D] around 8 centres in [-1, 1], spread by `spread`. */
static float *clustered_f32(int64_t n, uint32_t D, const float *centre /* [8][D] */, float spread)
{
    float *rows = malloc((size_t)n * D * sizeof *rows);
    for (int64_t i = 0; i < n; i++) {
        const int k = (int)(t_rand() % 8);
        for (uint32_t j = 0; j < D; j++)
            rows[(size_t)i * D + j] = centre[k * D + j] + spread * (float)((double)(t_rand() % 2001) / 1000.0 - 1.0);
    }
    return rows;
}

/* f32 kinds: every float metric through the TF32 kernel (D 61, not a
 * multiple of the k-step of 8; D 8) and through the cuBLAS GEMM (--kernel
 * v1), pieces, ragged tiles and overflowing buffers; T the distance of an
 * actual pair (d == T must match); rows near 2^64 whose squares overflow
 * float (ip and l2sq: sent whole to the reference). */
static void test_f32(void)
{
    enum { N = 1700, NQ = 400, D = 61 };
    float centre[8 * D];
    for (int k = 0; k < 8 * D; k++)
        centre[k] = (float)((double)(t_rand() % 2001) / 1000.0 - 1.0);
    float *corpus = clustered_f32(N, D, centre, 0.05f), *queries = clustered_f32(NQ, D, centre, 0.05f);
    static const sj_metric metrics[] = {SJ_METRIC_COSINE, SJ_METRIC_IP, SJ_METRIC_L2SQ};
    sj_hash_type t;
    sj_hash_type_parse("f32:61", &t);
    for (int mi = 0; mi < 3; mi++) {
        const sj_metric m = metrics[mi];
        /* T: the distance of query 3 and corpus row 0 (if it is close), else a quantile */
        double T = exact(t, m, (const uint8_t *)(queries + 3 * D), (const uint8_t *)corpus);
        if (m == SJ_METRIC_COSINE && T > 0.01) T = 0.004;
        if (m == SJ_METRIC_L2SQ && T > 0.3) T = 0.15;
        if (m == SJ_METRIC_IP && T > -5) T = -10;
        char what[64];
        snprintf(what, sizeof what, "f32 %s cross", sj_metric_name(m));
        check_kind(what, "f32:61", 0, m, T, (const uint8_t *)queries, 0, NQ, (const uint8_t *)corpus, N,
                   0, N, 0, 64);
        snprintf(what, sizeof what, "f32 %s self rows 1200..1599", sj_metric_name(m));
        check_kind(what, "f32:61", 0, m, T, (const uint8_t *)corpus, 1200, 400, (const uint8_t *)corpus, N,
                   0, N, 1, 0);
        snprintf(what, sizeof what, "f32 %s cross, cuBLAS GEMM", sj_metric_name(m));
        check_kind(what, "f32:61", 1, m, T, (const uint8_t *)queries, 0, 300, (const uint8_t *)corpus, N,
                   100, 1600, 0, 64);
    }
    free(corpus), free(queries);
    /* f32:8 (one k-step) and rows near 2^64 */
    enum { H = 40, HD = 8 };
    static float huge[H][HD];
    for (int i = 0; i < H; i++)
        for (int j = 0; j < HD; j++)
            huge[i][j] = i % 4 == 3 ? ldexpf((float)(1 + (i * 5 + j * 3) % 8), 62) * (j == 0 && i % 8 == 3 ? -1.0f : 1.0f)
                                    : (float)((double)(t_rand() % 2001) / 1000.0 - 1.0);
    sj_hash_type_parse("f32:8", &t);
    for (int mi = 1; mi < 3; mi++) {
        const sj_metric m = metrics[mi];
        const double T = exact(t, m, (const uint8_t *)huge[3], (const uint8_t *)huge[7]);
        check_kind("f32:8 rows near 2^64, self", "f32:8", 0, m, T, (const uint8_t *)huge, 0, H,
                   (const uint8_t *)huge, H, 0, H, 1, 0);
    }
}

/* Rows [n][D] around 8 centres (pairs at all distances). */
static uint8_t *clustered_rows(int64_t n, uint32_t D, const uint8_t *centre /* [8][D] */)
{
    uint8_t *rows = malloc((size_t)n * D);
    for (int64_t i = 0; i < n; i++) {
        const int k = (int)(t_rand() % 8);
        for (uint32_t j = 0; j < D; j++)
            rows[(size_t)i * D + j] = (uint8_t)(centre[k * D + j] + (int)(t_rand() % 21) - 10);
    }
    return rows;
}

int main(void)
{
    t_init_seed();
    enum { N = 3500, NQ = 1700, D = 16, D2 = 24 };
    uint8_t centre[8 * D2];
    for (int k = 0; k < 8 * D2; k++)
        centre[k] = (uint8_t)(t_rand() % 200 + 20);
    uint8_t *corpus = clustered_rows(N, D, centre), *queries = clustered_rows(NQ, D, centre);
    /* corpus 3500 rows = 3 pieces of <= 1500; queries 1700 = 2 pieces; u8:16
     * l2sq runs the int8 kernel */
    check("l2sq cross 1700 x 3500", D, SJ_METRIC_L2SQ, 16 * 40.0, queries, 0, NQ, corpus, N, 0, N, 0, 64);
    check("l2sq cross corpus rows 700..3199", D, SJ_METRIC_L2SQ, 16 * 30.0, queries, 0, 600, corpus, N,
          700, 3200, 0, 64);
    check("l2sq self rows 1000..2699", D, SJ_METRIC_L2SQ, 16 * 40.0, corpus, 1000, 1700, corpus, N, 0, N, 1, 0);
    check("l2sq at a fractional T", D, SJ_METRIC_L2SQ, 16 * 40.0 + 0.5, queries, 0, 500, corpus, N, 0, N, 0, 64);
    check("l1 cross 1700 x 3500", D, SJ_METRIC_L1, 16 * 5.0, queries, 0, NQ, corpus, N, 0, N, 0, 64);
    check("l1 self all rows", D, SJ_METRIC_L1, 16 * 4.0, corpus, 0, N, corpus, N, 0, N, 1, 64);
    /* u8:24 l2sq (above the int8 limit set here): the fp16 GEMM and epilogue */
    uint8_t *corpus2 = clustered_rows(N, D2, centre), *queries2 = clustered_rows(700, D2, centre);
    check("l2sq cross 700 x 3500 (fp16 GEMM)", D2, SJ_METRIC_L2SQ, 24 * 40.0, queries2, 0, 700,
          corpus2, N, 0, N, 0, 64);
    check("l2sq self rows 1000..2199 (fp16 GEMM)", D2, SJ_METRIC_L2SQ, 24 * 40.0, corpus2, 1000, 1200,
          corpus2, N, 0, N, 1, 0);
    free(corpus2);
    free(queries2);
    test_f32();
    /* cuBLAS missing: a clear error from open where a GEMM path needs it
     * (auto does not pick cuda then); the fused kernels do not need it */
    g_blas_present = 0;
    sj_hash_type t;
    sj_hash_type_parse("u8:16", &t);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.metric = SJ_METRIC_IP;
    void *state = NULL;
    sj_status st = mock_backend_cuda_vec.open(&cfg, t, &state);
    CHECK(st == SJ_ERR_NO_DEVICE && strstr(sj_last_error(), "cuBLAS") && !mock_cuda_blas_loadable(),
          "without cuBLAS: open says so (%s)", sj_last_error());
    static const char *const fused_kinds[] = {"u8:16", "f32:16", "f32:16"};
    static const sj_metric fused_metrics[] = {SJ_METRIC_L2SQ, SJ_METRIC_COSINE, SJ_METRIC_L2SQ};
    for (int k = 0; k < 3; k++) {
        sj_hash_type_parse(fused_kinds[k], &t);
        cfg.metric = fused_metrics[k];
        state = NULL;
        st = mock_backend_cuda_vec.open(&cfg, t, &state);
        CHECK(st == SJ_OK, "without cuBLAS: %s %s runs on the fused kernel (%s)", fused_kinds[k],
              sj_metric_name(fused_metrics[k]), st ? sj_last_error() : "ok");
        mock_backend_cuda_vec.close(state);
    }
    /* What --backend auto asks of cuBLAS (scheduler.c): exactly the kinds
     * whose open needed it above, and every float metric under --kernel v1. */
    static const struct {
        const char *kind;
        sj_metric metric;
        int kernel, needs;
    } blas_cases[] = {
        {"f32:16", SJ_METRIC_COSINE, 0, 0}, {"f32:16", SJ_METRIC_IP, 3, 0},
        {"f32:16", SJ_METRIC_DEFAULT, 0, 0}, {"f32:16", SJ_METRIC_L2SQ, 1, 1},
        {"u8:16", SJ_METRIC_L2SQ, 0, 0},    {"u8:16", SJ_METRIC_DEFAULT, 3, 0},
        {"u8:24", SJ_METRIC_L2SQ, 0, 1}, /* past this test's int8 limit: the fp16 GEMM */
        {"u8:16", SJ_METRIC_L1, 1, 0},      {"u8:16", SJ_METRIC_L2SQ, 2, 1},
    };
    for (size_t k = 0; k < sizeof blas_cases / sizeof *blas_cases; k++) {
        sj_hash_type_parse(blas_cases[k].kind, &t);
        sj_join_config_init(&cfg);
        cfg.metric = blas_cases[k].metric;
        cfg.gpu_kernel = blas_cases[k].kernel;
        CHECK(mock_cuda_vec_needs_blas(&cfg, t) == blas_cases[k].needs,
              "%s %s --kernel %d: needs cuBLAS %d", blas_cases[k].kind,
              sj_metric_name(blas_cases[k].metric), blas_cases[k].kernel, blas_cases[k].needs);
    }
    free(corpus);
    free(queries);
    return t_finish("test_cuda_mock_vec");
}
