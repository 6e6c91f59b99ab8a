/* backend_cuda_vec.c - vector kinds on the GPU (photodna, u8:D, f32:D).
 *
 * l2sq, cosine, ip: the corpus and each block of queries live on the device
 * as rows of ld = D rounded up to 8 components: fp16 for uint8 kinds (0..255
 * is exact in fp16; products are exact, sums in fp32), fp32 for f32 (the
 * GEMM may round inputs to TF32: the margin says so). Per tile of
 * TILE_Q queries x TILE_C corpus rows, cuBLAS writes the dot products
 *   dots[c + TILE_C q] = <corpus[c0 + c], query[q0 + q]>
 * (column-major TILE_C x TILE_Q: op(A) = corpus tile^T, k = ld; both row-major
 * row sets are column-major ld x n matrices, so A is transposed, B is not),
 * 32 MiB that stay in the H200's 50 MiB L2; the epilogue kernel
 * (kernels/vector_join.cu) appends the candidates within the margin of T.
 * l2sq of uint8 kinds (photodna, u8:D up to SJ_GPU_S8_MAX_DIM): no GEMM and
 * no dot tile: rows shifted to int8 (x - 128) go through one fused kernel on
 * int8 tensor cores (sj_gpu_launch_l2sq_s8, mma.m16n8k32 .s8) whose
 * epilogue thresholds the exact integer l2sq and appends the pairs.
 * f32 kinds with l2sq, cosine, ip: no GEMM and no dot tile either: rows
 * rounded to TF32 on the host (sj_vt_tf32_pack_row; wide rows as zeros) go
 * through one fused kernel on TF32 tensor cores (sj_gpu_vec_tf32,
 * mma.m16n8k8 .tf32) whose epilogue tests each float dot product against
 * per-row terms that carry T and the proven TF32 error bound
 * (vector_tile.h) and appends the candidates.
 * cuBLAS serves the rest (uint8 kinds with cosine or ip, u8:D l2sq above
 * SJ_GPU_S8_MAX_DIM) and, with --kernel v1 or v2, every float metric (the
 * GEMM + epilogue path, kept to time and check the fused kernels against).
 * l1: the packed-byte kernel, exact. All tiles of one compare() call go into
 * the stream back to back (GEMM k+1 waits for epilogue k in stream order, so
 * one dots buffer serves) and share one candidate buffer; the host waits
 * once. Every candidate is decided on the host by the reference (vector.h);
 * when the candidates overflow the buffer, the call's tiles are run again
 * with a buffer that large, so nothing is dropped.
 *
 * cuBLAS is loaded when this backend opens and a GEMM path needs it
 * (dlopen), so that simjoin starts on machines without it; vector kinds use
 * one device (the first of --gpus). */
#define _GNU_SOURCE
#include "join/vector.h"
#include "join/cuda_util.h"
#include "join/gpu_plan.h"

#include "hamming_join.h" /* sj_gpu_launch_l2sq_s8 */
#include "vector_join.h"

#include <cublas_v2.h> /* defines CUBLASAPI (CUDA 11 needs it) before cublas_api.h */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* Queries x corpus rows of one GEMM tile or int8 launch (tests set them small). */
#ifndef SJ_GPU_VEC_TILE_Q
#define SJ_GPU_VEC_TILE_Q 2048
#endif
#ifndef SJ_GPU_VEC_TILE_C
#define SJ_GPU_VEC_TILE_C 4096
#endif
enum { TILE_Q = SJ_GPU_VEC_TILE_Q, TILE_C = SJ_GPU_VEC_TILE_C, DEFAULT_HITS = 1 << 20 };

/* uint8 l2sq of at most this many components runs on int8 tensor cores. */
#ifndef SJ_GPU_S8_MAX_DIM
#define SJ_GPU_S8_MAX_DIM SJ_VT_S8_MAX_DIM
#endif

/* The cuBLAS entry points we use, resolved at run time. */
typedef struct blas_api {
    void *lib;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
    const char *(*status_string)(cublasStatus_t);
} blas_api;

static const char *const blas_names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so",
                                         "/usr/local/cuda/lib64/libcublas.so.13",
                                         "/usr/local/cuda/lib64/libcublas.so"};

static void *blas_open(void)
{
    void *lib = NULL;
    for (size_t i = 0; i < sizeof blas_names / sizeof *blas_names && !lib; i++)
        lib = dlopen(blas_names[i], RTLD_NOW | RTLD_LOCAL);
    return lib;
}

/* Which fused kernel serves these vectors (s8, tf32: 1 or 0 each). --kernel
 * v1, v2: the GEMM path for every float metric; 0 or v3: the fused kernels
 * where they apply (the int8 one: u8 l2sq up to SJ_GPU_S8_MAX_DIM). */
static void fused_paths(int gpu_kernel, sj_hash_type type, sj_metric metric, int *s8, int *tf32)
{
    const int fused = gpu_kernel == 0 || gpu_kernel == 3, half = type.kind != SJ_KIND_F32;
    *s8 = fused && half && metric == SJ_METRIC_L2SQ && type.dim <= SJ_GPU_S8_MAX_DIM;
    *tf32 = fused && !half && metric != SJ_METRIC_L1;
}

int sj_cuda_vec_needs_blas(const sj_join_config *cfg, sj_hash_type type)
{
    sj_metric m = cfg->metric;
    if (sj_metric_check(type, &m))
        return 1;
    int s8, tf32;
    fused_paths(cfg->gpu_kernel, type, m, &s8, &tf32);
    return m != SJ_METRIC_L1 && !s8 && !tf32; /* a GEMM path */
}

int sj_cuda_blas_loadable(void)
{
    void *lib = blas_open();
    if (lib)
        dlclose(lib);
    return lib != NULL;
}

static sj_status blas_load(blas_api *b)
{
    b->lib = blas_open();
    if (!b->lib)
        return sj_fail(SJ_ERR_NO_DEVICE, "cuda: cuBLAS (libcublas.so) cannot be loaded: %s", dlerror());
    *(void **)&b->create = dlsym(b->lib, "cublasCreate_v2");
    *(void **)&b->destroy = dlsym(b->lib, "cublasDestroy_v2");
    *(void **)&b->set_stream = dlsym(b->lib, "cublasSetStream_v2");
    *(void **)&b->gemm_ex = dlsym(b->lib, "cublasGemmEx");
    *(void **)&b->status_string = dlsym(b->lib, "cublasGetStatusString");
    if (!b->create || !b->destroy || !b->set_stream || !b->gemm_ex || !b->status_string)
        return sj_fail(SJ_ERR_BACKEND, "cuda: libcublas lacks cublasGemmEx or friends (too old?)");
    return SJ_OK;
}

static sj_status blas_check(const blas_api *b, cublasStatus_t e, const char *call, int line)
{
    if (e == CUBLAS_STATUS_SUCCESS)
        return SJ_OK;
    return sj_fail(SJ_ERR_BACKEND, "cuda: %s failed at %s:%d: %s", call, __FILE__, line,
                   b->status_string(e));
}
#define BLAS(call)                                                                                \
    do {                                                                                          \
        if ((st = blas_check(&s->blas, (call), #call, __LINE__)))                                 \
            goto done;                                                                            \
    } while (0)

typedef struct cuda_vec_state {
    sj_vec_join v;
    double gamma;          /* the device GEMM's margin factor */
    int ld;                /* components per device row (GEMM kinds) */
    int half;              /* 1: fp16 rows (uint8 kinds), 0: fp32 */
    int words;             /* l1, s8: uint32 words per packed row */
    int s8;                /* 1: uint8 l2sq on int8 tensor cores (rows x - 128) */
    int tf32;              /* 1: f32 l2sq, cosine, ip on TF32 tensor cores (fused) */
    int32_t s8_threshold;  /* s8: T as an integer (sj_vt_s8_threshold) */
    size_t row_bytes;      /* device bytes per row */
    blas_api blas;
    cublasHandle_t handle;
    cudaStream_t stream;
    const uint8_t *rows;   /* host corpus rows, borrowed until close */
    int64_t n;
    void *d_corpus;        /* [n][row] */
    double *d_cnorm;       /* [n] */
    void *d_queries;       /* [q_cap][row] */
    double *d_qnorm;       /* [q_cap] */
    int32_t *d_cnorm2, *d_qnorm2; /* s8: |row - 128|^2 of corpus [n], queries [q_cap] */
    sj_vt_tf32_term *d_cterm, *d_qterm; /* tf32: the rows' test terms, corpus [n], queries [q_cap] */
    int64_t q_cap;
    float *d_dots;         /* [TILE_Q][TILE_C] */
    sj_gpu_hit *d_hits, *h_hits;
    unsigned long long *d_count, cap;
} cuda_vec_state;

/* Bytes per row of the per-row extra that a kernel reads beside the rows:
 * s8 squared norms, tf32 terms; 0 for the others. */
static size_t aux_bytes(const cuda_vec_state *s)
{
    return s->s8 ? sizeof(int32_t) : s->tf32 ? sizeof(sj_vt_tf32_term) : 0;
}

/* Host rows -> device layout in out[n][row_bytes] (packed bytes for l1,
 * int8 x - 128 for s8, TF32 values for tf32, fp16 or fp32 components
 * otherwise), norms in norm[n], the per-row extra in aux[n] (aux_bytes: s8
 * squared norms of the int8 rows; tf32 the test terms, which differ for
 * query rows, `query` 1, and corpus rows). */
static sj_status to_device_rows(const cuda_vec_state *s, const uint8_t *rows, int64_t n, void *out,
                                double *norm, void *aux, int query)
{
    if (s->s8) {
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)aux)[i] = sj_vt_s8_pack_row(rows + (size_t)i * s->v.bytes, s->v.bytes,
                                                    (uint32_t *)out + (size_t)i * s->words, s->words);
        return SJ_OK;
    }
    if (s->tf32) { /* converted in place: each component only reads itself */
        float *f = out;
        sj_vec_to_float(&s->v, rows, n, s->ld, f, norm);
        for (int64_t i = 0; i < n; i++) {
            float *row = f + (size_t)i * (size_t)s->ld;
            ((sj_vt_tf32_term *)aux)[i] =
                sj_vt_tf32_pack_row(row, s->v.dim, (uint32_t)s->ld, norm[i], (int)s->v.metric,
                                    query, s->v.threshold, row);
        }
        return SJ_OK;
    }
    if (s->v.metric == SJ_METRIC_L1) {
        uint32_t *w = out;
        memset(w, 0, (size_t)n * s->row_bytes);
        for (int64_t i = 0; i < n; i++)
            memcpy(w + (size_t)i * s->words, rows + (size_t)i * s->v.bytes, s->v.bytes);
        return SJ_OK;
    }
    float *f = malloc((size_t)SJ_MAX(n, 1) * (size_t)s->ld * sizeof *f);
    if (!f)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_vec_to_float(&s->v, rows, n, s->ld, f, norm);
    if (!s->half)
        memcpy(out, f, (size_t)n * (size_t)s->ld * sizeof *f);
    else /* uint8 values: exact in fp16 */
        for (size_t i = 0; i < (size_t)n * (size_t)s->ld; i++)
            ((uint16_t *)out)[i] = sj_vt_half_of_u8((uint32_t)f[i]);
    free(f);
    return SJ_OK;
}

/* Copy rows to a device buffer (and their norms, when dst_norm, and their
 * extra, when dst_aux: aux_bytes); dst must hold n rows. The host side goes
 * through one staging piece of at most SJ_GPU_STAGE_BYTES, not a converted
 * copy of all n rows. query: 1 for query rows (to_device_rows). */
static sj_status to_device(cuda_vec_state *s, const uint8_t *rows, int64_t n, void *dst,
                           double *dst_norm, void *dst_aux, int query)
{
    sj_status st = SJ_OK;
    const int64_t piece = sj_gpu_stage_rows(SJ_MAX(n, 1), (int64_t)s->row_bytes);
    const size_t ab = aux_bytes(s);
    void *h = malloc((size_t)piece * s->row_bytes);
    double *norm = calloc((size_t)piece, sizeof *norm);
    void *aux = calloc((size_t)piece, SJ_MAX(ab, 1));
    if (!h || !norm || !aux) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t off = 0; off < n; off += piece) {
        const int64_t k = SJ_MIN(piece, n - off);
        if ((st = to_device_rows(s, rows + (size_t)off * s->v.bytes, k, h, norm, aux, query)))
            goto done;
        CU(cudaMemcpyAsync((char *)dst + (size_t)off * s->row_bytes, h, (size_t)k * s->row_bytes,
                           cudaMemcpyHostToDevice, s->stream));
        if (dst_norm)
            CU(cudaMemcpyAsync(dst_norm + off, norm, (size_t)k * sizeof *norm,
                               cudaMemcpyHostToDevice, s->stream));
        if (dst_aux && ab)
            CU(cudaMemcpyAsync((char *)dst_aux + (size_t)off * ab, aux, (size_t)k * ab,
                               cudaMemcpyHostToDevice, s->stream));
        CU(cudaStreamSynchronize(s->stream)); /* h and norm are pageable and reused */
    }
done:
    free(h);
    free(norm);
    free(aux);
    return st;
}

static void cuda_vec_close(void *state)
{
    cuda_vec_state *s = state;
    if (!s)
        return;
    cudaFree(s->d_corpus);
    cudaFree(s->d_cnorm);
    cudaFree(s->d_queries);
    cudaFree(s->d_qnorm);
    cudaFree(s->d_cnorm2);
    cudaFree(s->d_qnorm2);
    cudaFree(s->d_cterm);
    cudaFree(s->d_qterm);
    cudaFree(s->d_dots);
    cudaFree(s->d_hits);
    cudaFree(s->d_count);
    cudaFreeHost(s->h_hits);
    if (s->handle)
        s->blas.destroy(s->handle);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    if (s->blas.lib)
        dlclose(s->blas.lib);
    free(s);
}

static sj_status cuda_vec_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    const char *why = "";
    if (sj_cuda_device_count(&why) <= 0)
        return sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: no usable GPU (%s)", why);
    cuda_vec_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_status st = SJ_OK;
    sj_vec_join_init(&s->v, cfg, type);
    s->half = type.kind != SJ_KIND_F32;
    s->ld = (int)((type.dim + 7) / 8 * 8);
    fused_paths(cfg->gpu_kernel, type, s->v.metric, &s->s8, &s->tf32);
    s->s8_threshold = sj_vt_s8_threshold(s->v.threshold, type.dim);
    s->words = s->s8 ? sj_vt_s8_row_words(type.dim) : (int)((type.dim + 3) / 4);
    s->row_bytes = s->v.metric == SJ_METRIC_L1 || s->s8 ? (size_t)s->words * 4
                                                        : (size_t)s->ld * (s->half ? 2 : 4);
    /* fp16 inputs are exact; f32 may go through TF32 (10-bit fractions), and
     * tensor cores may truncate rather than round: a unit of 2^-10. */
    s->gamma = sj_vt_gamma(type.dim, s->half ? 0.0 : 1.0 / 1024.0);
    s->cap = cfg->gpu_hit_capacity > 0 ? (unsigned long long)cfg->gpu_hit_capacity : DEFAULT_HITS;
    CU(cudaSetDevice(cfg->n_gpus > 0 ? cfg->gpus[0] : 0));
    CU(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    if (s->v.metric != SJ_METRIC_L1 && !s->s8 && !s->tf32) { /* a GEMM path */
        if ((st = blas_load(&s->blas)))
            goto done;
        BLAS(s->blas.create(&s->handle));
        BLAS(s->blas.set_stream(s->handle, s->stream));
        CU(cudaMalloc((void **)&s->d_dots, (size_t)TILE_Q * TILE_C * sizeof(float)));
    }
    CU(cudaMalloc((void **)&s->d_hits, s->cap * sizeof(sj_gpu_hit)));
    CU(cudaMallocHost((void **)&s->h_hits, s->cap * sizeof(sj_gpu_hit)));
    CU(cudaMalloc((void **)&s->d_count, sizeof(unsigned long long)));
done:
    if (st) {
        cuda_vec_close(s);
        return st;
    }
    *state = s;
    return SJ_OK;
}

static sj_status cuda_vec_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    cuda_vec_state *s = state;
    sj_status st = SJ_OK;
    cudaFree(s->d_corpus);
    cudaFree(s->d_cnorm);
    cudaFree(s->d_cnorm2);
    cudaFree(s->d_cterm);
    s->d_corpus = NULL, s->d_cnorm = NULL, s->d_cnorm2 = NULL, s->d_cterm = NULL;
    s->rows = rows;
    s->n = n;
    CU(cudaMalloc(&s->d_corpus, (size_t)SJ_MAX(n, 1) * s->row_bytes));
    CU(cudaMalloc((void **)&s->d_cnorm, (size_t)SJ_MAX(n, 1) * sizeof(double)));
    if (s->s8)
        CU(cudaMalloc((void **)&s->d_cnorm2, (size_t)SJ_MAX(n, 1) * sizeof(int32_t)));
    if (s->tf32)
        CU(cudaMalloc((void **)&s->d_cterm, (size_t)SJ_MAX(n, 1) * sizeof(sj_vt_tf32_term)));
    st = to_device(s, rows, n, s->d_corpus, s->d_cnorm, s->s8 ? (void *)s->d_cnorm2 : s->d_cterm, 0);
done:
    return st;
}

/* Enqueue every tile of the call's device queries [qoff, qoff + nq) (global
 * rows from q0) against corpus rows [c0, c1): GEMM + epilogue, or the l1
 * kernel. Hits land in s->d_hits with q relative to qoff and c relative to
 * c0 (both below SJ_GPU_MAX_LAUNCH_ROWS: the caller splits larger calls). */
static sj_status enqueue_tiles(cuda_vec_state *s, int64_t qoff, int64_t q0, int64_t nq,
                               int64_t c0, int64_t c1, int self)
{
    sj_status st = SJ_OK;
    const float one = 1.0f, zero = 0.0f;
    CU(cudaMemsetAsync(s->d_count, 0, sizeof *s->d_count, s->stream));
    for (int64_t qt = 0; qt < nq; qt += TILE_Q) {
        const uint32_t nqt = (uint32_t)SJ_MIN(TILE_Q, nq - qt);
        const char *qdev = (const char *)s->d_queries + (size_t)(qoff + qt) * s->row_bytes;
        for (int64_t ct = c0; ct < c1; ct += TILE_C) {
            const uint32_t nct = (uint32_t)SJ_MIN(TILE_C, c1 - ct);
            if (self && ct + nct - 1 <= q0 + qt) /* every corpus row precedes every query */
                continue;
            const char *cdev = (const char *)s->d_corpus + (size_t)ct * s->row_bytes;
            sj_gpu_vec_tile t = {s->d_dots, TILE_C, s->d_qnorm + qoff + qt, s->d_cnorm + ct, nqt,
                                 nct, q0 + qt, ct, (uint32_t)qt, (uint32_t)(ct - c0), self,
                                 (int)s->v.metric, s->v.threshold, s->gamma, s->d_hits,
                                 s->d_count, s->cap};
            if (s->s8) { /* one fused kernel, exact: no dot tile */
                const sj_gpu_tile h = {
                    .queries = (const uint32_t *)qdev, .query_popc = s->d_qnorm2 + qoff + qt,
                    .nq = nqt, .q0 = q0 + qt, .corpus = (const uint32_t *)cdev,
                    .corpus_popc = s->d_cnorm2 + ct, .nc = nct, .c0 = ct, .words = s->words,
                    .threshold = s->s8_threshold, .self = self, .hits = s->d_hits,
                    .count = s->d_count, .capacity = s->cap, .hit_q = (uint32_t)qt,
                    .hit_c = (uint32_t)(ct - c0)};
                CU((cudaError_t)sj_gpu_launch_l2sq_s8(&h, s->stream));
                continue;
            }
            if (s->tf32) { /* one fused kernel on TF32 tensor cores: no dot tile */
                CU((cudaError_t)sj_gpu_vec_tf32((const float *)qdev, (const float *)cdev, s->ld,
                                                s->d_qterm + qoff + qt, s->d_cterm + ct, &t,
                                                s->stream));
                continue;
            }
            if (s->v.metric == SJ_METRIC_L1) {
                CU((cudaError_t)sj_gpu_vec_l1((const uint32_t *)qdev, (const uint32_t *)cdev,
                                              s->words, &t, s->stream));
                continue;
            }
            const cudaDataType in = s->half ? CUDA_R_16F : CUDA_R_32F;
            const cublasComputeType_t mode = s->half ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
            BLAS(s->blas.gemm_ex(s->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)nct, (int)nqt, s->ld, &one,
                                 cdev, in, s->ld, qdev, in, s->ld, &zero, s->d_dots, CUDA_R_32F,
                                 TILE_C, mode, CUBLAS_GEMM_DEFAULT));
            CU((cudaError_t)sj_gpu_vec_epilogue(&t, s->stream));
        }
    }
done:
    return st;
}

/* One compare() call whose queries are on the device, run in pieces
 * (sj_gpu_piece: rows relative to the call's queries and to c0). */
typedef struct vec_call {
    cuda_vec_state *s;
    const uint8_t *queries; /* host rows of the call */
    int64_t q0, c0;
    int self;
    sj_hits *out;
} vec_call;

/* Run piece p; when its candidates fit the buffer, decide them into out. */
static int vec_run_piece(void *ctx, sj_gpu_piece p, uint64_t *count)
{
    vec_call *k = ctx;
    cuda_vec_state *s = k->s;
    sj_status st = SJ_OK;
    const int64_t c_first = k->c0 + p.c;
    unsigned long long n = 0;
    if ((st = enqueue_tiles(s, p.q, k->q0 + p.q, p.nq, c_first, c_first + p.nc, k->self)))
        goto done;
    CU(cudaMemcpyAsync(&n, s->d_count, sizeof n, cudaMemcpyDeviceToHost, s->stream));
    CU(cudaStreamSynchronize(s->stream));
    *count = n;
    if (n > s->cap)
        goto done;
    CU(cudaMemcpyAsync(s->h_hits, s->d_hits, n * sizeof(sj_gpu_hit), cudaMemcpyDeviceToHost,
                       s->stream));
    CU(cudaStreamSynchronize(s->stream));
    for (unsigned long long h = 0; h < n && !st; h++) {
        const int64_t q = p.q + s->h_hits[h].q, c = c_first + s->h_hits[h].c;
        st = sj_vec_decide(&s->v, k->queries + (size_t)q * s->v.bytes,
                           s->rows + (size_t)c * s->v.bytes, k->q0 + q, c, k->out);
    }
done:
    return st;
}

static int vec_grow(void *ctx, uint64_t capacity)
{
    cuda_vec_state *s = ((vec_call *)ctx)->s;
    sj_status st = sj_cuda_realloc_mirrored((void **)&s->d_hits, (void **)&s->h_hits,
                                            capacity * sizeof(sj_gpu_hit));
    s->cap = st ? 0 : capacity;
    return st;
}

static sj_status cuda_vec_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                                  int64_t c0, int64_t c1, int self, sj_hits *out)
{
    cuda_vec_state *s = state;
    if (nq == 0 || c1 <= c0)
        return SJ_OK;
    sj_status st = SJ_OK;
    if (nq > s->q_cap) {
        cudaFree(s->d_queries);
        cudaFree(s->d_qnorm);
        cudaFree(s->d_qnorm2);
        cudaFree(s->d_qterm);
        s->d_queries = NULL, s->d_qnorm = NULL, s->d_qnorm2 = NULL, s->d_qterm = NULL, s->q_cap = 0;
        CU(cudaMalloc(&s->d_queries, (size_t)nq * s->row_bytes));
        CU(cudaMalloc((void **)&s->d_qnorm, (size_t)nq * sizeof(double)));
        if (s->s8)
            CU(cudaMalloc((void **)&s->d_qnorm2, (size_t)nq * sizeof(int32_t)));
        if (s->tf32)
            CU(cudaMalloc((void **)&s->d_qterm, (size_t)nq * sizeof(sj_vt_tf32_term)));
        s->q_cap = nq;
    }
    if ((st = to_device(s, queries, nq, s->d_queries, s->d_qnorm,
                        s->s8 ? (void *)s->d_qnorm2 : s->d_qterm, 1)))
        goto done;
    /* Pieces of at most SJ_GPU_MAX_LAUNCH_ROWS rows, so that the hits' uint32
     * rows hold them; a piece whose candidates overflow the buffer is redone
     * with one at most SJ_GPU_MAX_HITS large, or in halves. */
    vec_call call = {s, queries, q0, c0, self, out};
    for (int64_t q = 0; q < nq && !st; q += SJ_GPU_MAX_LAUNCH_ROWS)
        for (int64_t c = 0; c < c1 - c0 && !st; c += SJ_GPU_MAX_LAUNCH_ROWS) {
            const sj_gpu_piece p = {q, SJ_MIN(SJ_GPU_MAX_LAUNCH_ROWS, nq - q), c,
                                    SJ_MIN(SJ_GPU_MAX_LAUNCH_ROWS, c1 - c0 - c)};
            uint64_t count = 0, cap = s->cap;
            if ((st = (sj_status)vec_run_piece(&call, p, &count)) || count <= s->cap)
                continue;
            int rc = sj_gpu_redo_bounded(&call, p, count, &cap, SJ_MAX(SJ_GPU_MAX_HITS, s->cap),
                                         vec_run_piece, vec_grow);
            st = rc == -1 ? sj_fail(SJ_ERR_INTERNAL, "cuda: candidate count changed on redo")
                          : (sj_status)rc;
        }
done:
    return st;
}

const sj_backend_ops sj_backend_cuda_vec = {
    /* .name           = */ "cuda",
    /* .parallel_calls = */ 0,
    /* .open           = */ cuda_vec_open,
    /* .load_corpus    = */ cuda_vec_load_corpus,
    /* .compare        = */ cuda_vec_compare,
    /* .close          = */ cuda_vec_close,
};
