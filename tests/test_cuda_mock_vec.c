/* test_cuda_mock_vec.c - host/join/backend_cuda_vec.c itself on the host, like
 * test_cuda_mock.c for the Hamming backend: the CUDA runtime is mocked
 * (tests/mock_cuda/), cuBLAS is a mocked library behind dlopen/dlsym whose
 * GemmEx computes the column-major dot tile the backend asks for, and the
 * epilogue and l1 kernels are loops with the kernels' rules
 * (sj_vt_candidate, sj_vt_sad4) and append contract. host/join/gpu_plan.h's
 * limits are tiny, so calls split into corpus and query pieces (hits
 * relative to a piece) and overflowing pieces are redone in halves. Pairs
 * and distances are checked against exact integer loops (u8 kinds). Also:
 * without cuBLAS, open fails with a clear error (auto avoids it:
 * sj_backend_resolve_for). */
#define SJ_GPU_MAX_LAUNCH_ROWS ((int64_t)1500)
#define SJ_GPU_STAGE_BYTES ((int64_t)4096)
#define SJ_GPU_MAX_HITS ((uint64_t)3000)

#include <dlfcn.h> /* the real declarations first; the file under test gets the mocks */
#define dlopen mock_dlopen
#define dlsym mock_dlsym
#define dlclose mock_dlclose
#define dlerror mock_dlerror
#define sj_backend_cuda_vec mock_backend_cuda_vec
#define sj_cuda_device_count mock_cuda_device_count
#define sj_cuda_blas_loadable mock_cuda_blas_loadable
#define sj_gpu_vec_epilogue mock_gpu_vec_epilogue
#define sj_gpu_vec_l1 mock_gpu_vec_l1
static void *mock_dlopen(const char *name, int flags);
static void *mock_dlsym(void *lib, const char *name);
static int mock_dlclose(void *lib);
static char *mock_dlerror(void);
#include "../host/join/backend_cuda_vec.c"

#include "test_util.h"

#include <math.h>

static int g_blas_present = 1, g_lib;
static int64_t g_launches;
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

/* Exact distance of u8 rows: l2sq or l1. */
static double exact(sj_metric m, const uint8_t *a, const uint8_t *b, uint32_t dim)
{
    int64_t s = 0;
    for (uint32_t i = 0; i < dim; i++) {
        const int64_t x = (int64_t)a[i] - (int64_t)b[i];
        s += m == SJ_METRIC_L1 ? (x < 0 ? -x : x) : x * x;
    }
    return (double)s;
}

static void check(const char *what, sj_metric metric, double T, const uint8_t *qrows, int64_t q0,
                  int64_t nq, const uint8_t *corpus, int64_t n, int64_t c0, int64_t c1, int self,
                  int64_t hit_capacity)
{
    enum { D = 16 };
    sj_hash_type t;
    sj_hash_type_parse("u8:16", &t);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.metric = metric, cfg.threshold = T, cfg.gpu_hit_capacity = hit_capacity;
    void *state = NULL;
    sj_hits out = {0};
    g_launches = 0, g_max_nc = g_max_nq = 0, g_max_capacity = 0;
    sj_status st = mock_backend_cuda_vec.open(&cfg, t, &state);
    if (!st)
        st = mock_backend_cuda_vec.load_corpus(state, corpus, n);
    if (!st)
        st = mock_backend_cuda_vec.compare(state, qrows + (size_t)q0 * D, q0, nq, c0, c1, self, &out);
    mock_backend_cuda_vec.close(state);
    double *want = malloc((size_t)nq * (size_t)n * sizeof *want);
    int64_t n_want = 0;
    for (int64_t q = 0; q < nq; q++)
        for (int64_t c = 0; c < n; c++) {
            const double d = exact(metric, qrows + (size_t)(q0 + q) * D, corpus + (size_t)c * D, D);
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
    CHECK(ok, "%s: %lld pairs, exact %lld (%s)", what, (long long)out.n, (long long)n_want,
          st ? sj_last_error() : "ok");
    CHECK(g_max_nc <= SJ_GPU_MAX_LAUNCH_ROWS && g_max_capacity <= SJ_MAX(SJ_GPU_MAX_HITS, first_cap),
          "%s: tiles of at most %u corpus rows, candidate buffers of at most %llu (%lld launches)",
          what, g_max_nc, g_max_capacity, (long long)g_launches);
    free(want);
    free(out.v);
}

int main(void)
{
    t_init_seed();
    enum { N = 3500, NQ = 1700, D = 16 };
    uint8_t *corpus = malloc((size_t)N * D), *queries = malloc((size_t)NQ * D);
    uint8_t centre[8][D];
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < D; j++)
            centre[k][j] = (uint8_t)(t_rand() % 200 + 20);
    for (int64_t i = 0; i < N + NQ; i++) {
        uint8_t *r = i < N ? corpus + (size_t)i * D : queries + (size_t)(i - N) * D;
        const int k = (int)(t_rand() % 8);
        for (int j = 0; j < D; j++)
            r[j] = (uint8_t)(centre[k][j] + (int)(t_rand() % 21) - 10);
    }
    /* corpus 3500 rows = 3 pieces of <= 1500; queries 1700 = 2 pieces */
    check("l2sq cross 1700 x 3500", SJ_METRIC_L2SQ, 16 * 40.0, queries, 0, NQ, corpus, N, 0, N, 0, 64);
    check("l2sq cross corpus rows 700..3199", SJ_METRIC_L2SQ, 16 * 30.0, queries, 0, 600, corpus, N,
          700, 3200, 0, 64);
    check("l2sq self rows 1000..2699", SJ_METRIC_L2SQ, 16 * 40.0, corpus, 1000, 1700, corpus, N, 0, N, 1, 0);
    check("l1 cross 1700 x 3500", SJ_METRIC_L1, 16 * 5.0, queries, 0, NQ, corpus, N, 0, N, 0, 64);
    check("l1 self all rows", SJ_METRIC_L1, 16 * 4.0, corpus, 0, N, corpus, N, 0, N, 1, 64);
    /* cuBLAS missing: a clear error from open (auto does not pick cuda then) */
    g_blas_present = 0;
    sj_hash_type t;
    sj_hash_type_parse("u8:16", &t);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.metric = SJ_METRIC_L2SQ;
    void *state = NULL;
    sj_status st = mock_backend_cuda_vec.open(&cfg, t, &state);
    CHECK(st == SJ_ERR_NO_DEVICE && strstr(sj_last_error(), "cuBLAS") && !mock_cuda_blas_loadable(),
          "without cuBLAS: open says so (%s)", sj_last_error());
    free(corpus);
    free(queries);
    return t_finish("test_cuda_mock_vec");
}
