/* backend_cuda.c - the CUDA backend: a host scheduler that feeds the GPU
 * Hamming kernels (kernels/hamming_join.cu).
 *
 * Several devices (--gpus) split each compare() call by work, not by rows.
 * Every device may hold any corpus row: the whole corpus, resident, when it
 * fits the per-device budget and a launch's 2^31 rows (an H200's budget
 * holds ~2.7e9 PDQ rows), else a window of as many rows as fit, streamed.
 * Each call's corpus range goes to the devices in pieces of equal launched
 * pairs (gpu_plan.h, sj_gpu_split_work), so the devices finish a call
 * together although the call waits for all of them. Why not the alternatives:
 *   - rows split evenly once (as before): a self-join walks the triangle, so
 *     the device with the last rows did ~3x the pairs of the first (two
 *     devices), and a query block deep in the triangle left the first idle;
 *   - fixed ranges of equal triangle share (~n sqrt(i/k)): equal over the
 *     whole join, but each call still waits for its busiest device (~74% of
 *     ideal on two devices), and it needs self/cross before the first call;
 *   - whole query blocks from a free list of devices: balanced only with
 *     many blocks, while the scheduler sends few large ones (65536 queries).
 * The cost: a corpus larger than one device's budget but within k budgets
 * is streamed (each device uploads about its share per call, as a chunked
 * corpus did before) where an even split kept it resident. Pairs do not
 * depend on the split: the scheduler sorts them at the end.
 *
 * Per device: two streams, each with its own pinned query buffer, hit
 * buffer and counter, so that the H2D copy of one query sub-tile, the kernel
 * of the other and the D2H copy of hits overlap. A sub-tile whose hits
 * overflow its buffer is redone with a buffer large enough: no pair is ever
 * dropped. Every CUDA call is checked; a failure becomes SJ_ERR_BACKEND
 * naming the call, file and line. */
#include "join/backend.h"
#include "join/cuda_util.h"
#include "join/gpu_plan.h"

#include "hamming_join.h"

#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef SUB_QUERIES /* (tests/test_cuda_mock.c sets a small one) */
#define SUB_QUERIES 8192       /* queries per sub-tile (one kernel launch) */
#endif
#define DEFAULT_HITS (1 << 20) /* initial hit buffer per stream */
#define MAX_DEVICES 16

int sj_cuda_compiled(void) { return 1; }
int sj_cuda_compiled_in(void) { return 1; }

int sj_cuda_device_count(const char **reason)
{
    static _Thread_local char why[256];
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, sizeof why, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        if (reason)
            *reason = why;
        return 0;
    }
    /* Compute capability from the device attributes: no context is created
     * (cudaSetDevice + a probe would make one on every GPU, inside --gpus or
     * not). The devices a join uses are probed when it opens. */
    int usable = 0;
    for (int d = 0; d < n; d++) {
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) == cudaSuccess &&
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) == cudaSuccess &&
            major * 100 + minor * 10 >= sj_gpu_min_arch())
            usable++;
    }
    if (!usable && reason) {
        if (n)
            snprintf(why, sizeof why, "no device this build has code for (built for sm_%d)",
                     sj_gpu_min_arch() / 10);
        else
            snprintf(why, sizeof why, "no CUDA device");
        *reason = why;
    }
    return usable;
}

/* One stream's buffers and the sub-tile it is working on. */
typedef struct lane_buf {
    cudaStream_t stream;
    uint32_t *h_queries;          /* pinned [SUB_QUERIES][words] */
    uint32_t *d_queries;          /* [SUB_QUERIES][words] */
    int32_t *d_qpopc;             /* [SUB_QUERIES] */
    sj_gpu_hit *d_hits, *h_hits;  /* [cap], device and pinned host */
    unsigned long long *d_count, *h_count;
    unsigned long long cap;
    sj_gpu_tile tile;             /* the launch in flight, for a redo */
    int busy;
} lane_buf;

typedef struct cuda_device {
    int id;
    int64_t chunk_rows;           /* corpus rows the device holds at once */
    int64_t win_first, win_end;   /* corpus rows [win_first, win_end) resident; -1: none */
    uint32_t *d_corpus;           /* [chunk_rows][words]: rows win_first.. */
    int32_t *d_cpopc;             /* [chunk_rows] */
    uint32_t *h_stage[2];         /* pinned [stage_rows][words] x 2: chunk uploads */
    cudaEvent_t stage_done[2];    /* the upload from h_stage[i] has finished */
    int64_t stage_rows;
    lane_buf lane[2];
    sj_hits hits;                 /* this device's hits for the current compare */
} cuda_device;

typedef struct cuda_state {
    sj_join_config cfg;
    sj_hash_type type;
    sj_gpu_kernel kernel;
    int words;                    /* padded row words for this kernel */
    const uint8_t *corpus;        /* host rows [nc, bytes], borrowed */
    int64_t nc;
    int n_dev;
    cuda_device dev[MAX_DEVICES];
} cuda_state;

/* rows [n, bytes] -> out [n][words] uint32, zero padded. */
static void pack_rows32(const uint8_t *rows, int64_t n, uint32_t bytes, int words, uint32_t *out)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t *dst = out + i * words;
        memset(dst, 0, (size_t)words * 4);
        memcpy(dst, rows + (size_t)i * bytes, bytes);
    }
}

static sj_status lane_alloc(lane_buf *l, int words, unsigned long long cap)
{
    sj_status st = SJ_OK;
    CU(cudaStreamCreateWithFlags(&l->stream, cudaStreamNonBlocking));
    CU(cudaMallocHost((void **)&l->h_queries, (size_t)SUB_QUERIES * words * 4));
    CU(cudaMalloc((void **)&l->d_queries, (size_t)SUB_QUERIES * words * 4));
    CU(cudaMalloc((void **)&l->d_qpopc, (size_t)SUB_QUERIES * 4));
    CU(cudaMalloc((void **)&l->d_count, sizeof *l->d_count));
    CU(cudaMallocHost((void **)&l->h_count, sizeof *l->h_count));
    CU(cudaMalloc((void **)&l->d_hits, cap * sizeof(sj_gpu_hit)));
    CU(cudaMallocHost((void **)&l->h_hits, cap * sizeof(sj_gpu_hit)));
    l->cap = cap;
done:
    return st;
}

static void lane_free(lane_buf *l)
{
    if (l->stream)
        cudaStreamSynchronize(l->stream);
    cudaFreeHost(l->h_queries);
    cudaFree(l->d_queries);
    cudaFree(l->d_qpopc);
    cudaFree(l->d_count);
    cudaFreeHost(l->h_count);
    cudaFree(l->d_hits);
    cudaFreeHost(l->h_hits);
    if (l->stream)
        cudaStreamDestroy(l->stream);
    memset(l, 0, sizeof *l);
}

static void cuda_close(void *state)
{
    cuda_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->n_dev; i++) {
        cuda_device *d = &s->dev[i];
        if (cudaSetDevice(d->id) != cudaSuccess)
            continue;
        lane_free(&d->lane[0]);
        lane_free(&d->lane[1]);
        cudaFree(d->d_corpus);
        cudaFree(d->d_cpopc);
        for (int k = 0; k < 2; k++) {
            cudaFreeHost(d->h_stage[k]);
            if (d->stage_done[k])
                cudaEventDestroy(d->stage_done[k]);
        }
        free(d->hits.v);
    }
    free(s);
}

static sj_status cuda_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    const char *why = NULL;
    if (sj_cuda_device_count(&why) == 0)
        return sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: no usable GPU (%s)", why);
    if (type.bits > 6144)
        return sj_fail(SJ_ERR_UNSUPPORTED, "the cuda backend takes hashes up to 6144 bits");
    if (cfg->gpu_kernel < 0 || cfg->gpu_kernel > 3)
        return sj_fail(SJ_ERR_ARG, "--kernel must be v1, v2 or v3");
    cuda_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->type = type;
    s->kernel = cfg->gpu_kernel ? (sj_gpu_kernel)cfg->gpu_kernel : SJ_GPU_V3;
    s->words = sj_gpu_row_words(s->kernel, type.bits);
    int count = 0;
    cudaGetDeviceCount(&count);
    if (cfg->n_gpus > 0) {
        for (int i = 0; i < cfg->n_gpus && i < MAX_DEVICES; i++) {
            if (cfg->gpus[i] < 0 || cfg->gpus[i] >= count) {
                free(s);
                return sj_fail(SJ_ERR_ARG, "--gpus: device %d does not exist (%d found)",
                               cfg->gpus[i], count);
            }
            if (cudaSetDevice(cfg->gpus[i]) != cudaSuccess || sj_gpu_probe() != cudaSuccess) {
                free(s);
                return sj_fail(SJ_ERR_NO_DEVICE, "--gpus: device %d cannot run this build's kernels",
                               cfg->gpus[i]);
            }
            s->dev[s->n_dev++].id = cfg->gpus[i];
        }
    } else {
        for (int i = 0; i < count && s->n_dev < MAX_DEVICES; i++)
            if (cudaSetDevice(i) == cudaSuccess && sj_gpu_probe() == cudaSuccess)
                s->dev[s->n_dev++].id = i;
    }
    if (s->n_dev == 0) { /* every device failed its probe: a join would find nothing */
        free(s);
        return sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: no device can run this build's kernels");
    }
    unsigned long long cap = cfg->gpu_hit_capacity > 0 ? (unsigned long long)cfg->gpu_hit_capacity
                                                       : DEFAULT_HITS;
    sj_status st = SJ_OK;
    for (int i = 0; i < s->n_dev && !st; i++) {
        s->dev[i].win_first = s->dev[i].win_end = -1;
        if ((st = sj_cuda_check(cudaSetDevice(s->dev[i].id), "cudaSetDevice", __FILE__, __LINE__)))
            break;
        if (!(st = lane_alloc(&s->dev[i].lane[0], s->words, cap)))
            st = lane_alloc(&s->dev[i].lane[1], s->words, cap);
    }
    if (st) {
        cuda_close(s);
        return st;
    }
    *state = s;
    return SJ_OK;
}

/* Size each device's corpus window: all n rows when they fit its budget.
 * Rows are uploaded by compare(), as the devices' shares need them. */
static sj_status cuda_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    cuda_state *s = state;
    s->corpus = rows;
    s->nc = n;
    const int64_t row_bytes = (int64_t)s->words * 4 + 4;
    sj_status st = SJ_OK;
    for (int i = 0; i < s->n_dev; i++) {
        cuda_device *d = &s->dev[i];
        CU(cudaSetDevice(d->id));
        size_t free_b = 0, total_b = 0;
        CU(cudaMemGetInfo(&free_b, &total_b));
        int64_t budget = s->cfg.gpu_memory_limit > 0 ? s->cfg.gpu_memory_limit
                                                      : (int64_t)(free_b / 10 * 7);
        d->chunk_rows = sj_gpu_chunk_rows(n, budget, row_bytes);
        d->stage_rows = sj_gpu_stage_rows(d->chunk_rows, (int64_t)s->words * 4);
        d->win_first = d->win_end = -1;
        cudaFree(d->d_corpus);
        cudaFree(d->d_cpopc);
        d->d_corpus = NULL, d->d_cpopc = NULL;
        CU(cudaMalloc((void **)&d->d_corpus, (size_t)d->chunk_rows * s->words * 4));
        CU(cudaMalloc((void **)&d->d_cpopc, (size_t)d->chunk_rows * 4));
        for (int k = 0; k < 2; k++) {
            cudaFreeHost(d->h_stage[k]);
            d->h_stage[k] = NULL;
            CU(cudaMallocHost((void **)&d->h_stage[k], (size_t)d->stage_rows * s->words * 4));
            if (!d->stage_done[k])
                CU(cudaEventCreateWithFlags(&d->stage_done[k], cudaEventDisableTiming));
        }
    }
done:
    return st;
}

/* Make corpus row `row` resident on device d, with as many rows after it as
 * fit: the window starts at `row`, or earlier so that it ends at the last
 * row (then a corpus that fits is loaded once, whole, and kept). */
static sj_status load_window(cuda_state *s, cuda_device *d, int64_t row)
{
    if (row >= d->win_first && row < d->win_end)
        return SJ_OK;
    sj_status st = SJ_OK;
    const int64_t first = SJ_MIN(row, SJ_MAX(s->nc - d->chunk_rows, 0));
    const int64_t n = SJ_MIN(d->chunk_rows, s->nc - first);
    const uint32_t bytes = sj_hash_type_bytes(s->type);
    d->win_first = d->win_end = -1; /* until the upload below is complete */
    /* Both streams must be done with the previous chunk. */
    CU(cudaStreamSynchronize(d->lane[0].stream));
    CU(cudaStreamSynchronize(d->lane[1].stream));
    /* Pack piece i into h_stage[i % 2] while piece i - 1 uploads. */
    for (int64_t off = 0, i = 0; off < n; off += d->stage_rows, i++) {
        const int64_t rows = SJ_MIN(d->stage_rows, n - off);
        uint32_t *stage = d->h_stage[i % 2];
        CU(cudaEventSynchronize(d->stage_done[i % 2]));
        pack_rows32(s->corpus + (size_t)(first + off) * bytes, rows, bytes, s->words, stage);
        CU(cudaMemcpyAsync(d->d_corpus + (size_t)off * s->words, stage,
                           (size_t)rows * s->words * 4, cudaMemcpyHostToDevice, d->lane[0].stream));
        CU(cudaEventRecord(d->stage_done[i % 2], d->lane[0].stream));
    }
    CU(sj_gpu_row_popc(d->d_corpus, (uint32_t)n, s->words, d->d_cpopc, d->lane[0].stream));
    CU(cudaStreamSynchronize(d->lane[0].stream));
    d->win_first = first, d->win_end = first + n;
done:
    return st;
}

/* Launch the lane's tile: reset the counter, run, fetch the count. */
static sj_status lane_launch(cuda_state *s, lane_buf *l)
{
    sj_status st = SJ_OK;
    l->tile.hits = l->d_hits;
    l->tile.count = l->d_count;
    l->tile.capacity = l->cap;
    CU(cudaMemsetAsync(l->d_count, 0, sizeof *l->d_count, l->stream));
    CU(sj_gpu_launch(s->kernel, &l->tile, l->stream));
    CU(cudaMemcpyAsync(l->h_count, l->d_count, sizeof *l->h_count, cudaMemcpyDeviceToHost,
                       l->stream));
    l->busy = 1;
done:
    return st;
}

/* Copy the lane's `count` hits (count <= cap) back and append them, as
 * global rows, to d->hits. */
static sj_status lane_push_hits(cuda_device *d, lane_buf *l, unsigned long long count)
{
    sj_status st = SJ_OK;
    if (count) {
        CU(cudaMemcpyAsync(l->h_hits, l->d_hits, count * sizeof(sj_gpu_hit),
                           cudaMemcpyDeviceToHost, l->stream));
        CU(cudaStreamSynchronize(l->stream));
    }
    for (unsigned long long k = 0; k < count && !st; k++)
        st = sj_hits_push(&d->hits, l->tile.q0 + l->h_hits[k].q, l->tile.c0 + l->h_hits[k].c,
                          l->h_hits[k].d);
done:
    return st;
}

/* An overflowed tile being redone in pieces (sj_gpu_redo_bounded). */
typedef struct lane_redo {
    cuda_state *s;
    cuda_device *d;
    lane_buf *l;
    sj_gpu_tile whole; /* the tile as first launched */
} lane_redo;

static int lane_run_piece(void *ctx, sj_gpu_piece p, uint64_t *count)
{
    lane_redo *r = ctx;
    lane_buf *l = r->l;
    const size_t w = (size_t)r->whole.words;
    sj_status st = SJ_OK;
    l->tile = r->whole;
    l->tile.queries += (size_t)p.q * w, l->tile.query_popc += p.q;
    l->tile.nq = (uint32_t)p.nq, l->tile.q0 += p.q;
    l->tile.corpus += (size_t)p.c * w, l->tile.corpus_popc += p.c;
    l->tile.nc = (uint32_t)p.nc, l->tile.c0 += p.c;
    if ((st = lane_launch(r->s, l)))
        goto done;
    l->busy = 0;
    CU(cudaStreamSynchronize(l->stream));
    *count = *l->h_count;
    if (*count <= l->cap)
        st = lane_push_hits(r->d, l, *count);
done:
    return st;
}

static int lane_grow(void *ctx, uint64_t capacity)
{
    lane_buf *l = ((lane_redo *)ctx)->l;
    sj_status st = sj_cuda_realloc_mirrored((void **)&l->d_hits, (void **)&l->h_hits,
                                            capacity * sizeof(sj_gpu_hit));
    l->cap = st ? 0 : capacity;
    return st;
}

/* Wait for the lane's tile and append its hits (as global rows) to d->hits.
 * A tile that overflowed its buffer is redone with a larger one, never above
 * SJ_GPU_MAX_HITS (or the configured capacity): beyond that, in pieces. */
static sj_status lane_collect(cuda_state *s, cuda_device *d, lane_buf *l)
{
    sj_status st = SJ_OK;
    if (!l->busy)
        return SJ_OK;
    l->busy = 0;
    CU(cudaStreamSynchronize(l->stream));
    const unsigned long long count = *l->h_count;
    if (count <= l->cap)
        return lane_push_hits(d, l, count);
    lane_redo redo = {s, d, l, l->tile};
    const sj_gpu_piece whole = {0, l->tile.nq, 0, l->tile.nc};
    uint64_t cap = l->cap;
    const uint64_t max_hits = SJ_MAX(SJ_GPU_MAX_HITS, (uint64_t)l->cap);
    int rc = sj_gpu_redo_bounded(&redo, whole, count, &cap, max_hits, lane_run_piece, lane_grow);
    l->tile = redo.whole;
    if (rc == -1)
        st = sj_fail(SJ_ERR_INTERNAL, "cuda: hit count changed on redo");
    else
        st = (sj_status)rc;
done:
    return st;
}

/* All queries of the block against corpus rows [lo, hi), this device's share
 * of the call, window by window. */
static sj_status device_compare(cuda_state *s, cuda_device *d, const uint8_t *queries,
                                int64_t q0, int64_t nq, int64_t lo, int64_t hi, int self)
{
    sj_status st = SJ_OK;
    const uint32_t bytes = sj_hash_type_bytes(s->type);
    d->hits.n = 0;
    if (sj_gpu_work_before(lo, hi, q0, nq, SUB_QUERIES, self, hi) == 0)
        return SJ_OK; /* no share: the device is left alone */
    CU(cudaSetDevice(d->id));
    int next = 0;
    for (int64_t piece = lo, piece_end; piece < hi; piece = piece_end) {
        if ((st = lane_collect(s, d, &d->lane[0])) || (st = lane_collect(s, d, &d->lane[1])) ||
            (st = load_window(s, d, piece)))
            goto done;
        piece_end = SJ_MIN(d->win_end, hi);
        for (int64_t sq = 0; sq < nq; sq += SUB_QUERIES) {
            const int64_t n = SJ_MIN(SUB_QUERIES, nq - sq);
            int64_t c_first, c_end; /* the corpus rows this launch needs */
            if (!sj_gpu_launch_rows(piece, piece_end, lo, hi, self, q0 + sq, &c_first, &c_end))
                continue; /* e.g. every corpus row here precedes every query */
            lane_buf *l = &d->lane[next];
            next ^= 1;
            if ((st = lane_collect(s, d, l)))
                goto done;
            pack_rows32(queries + (size_t)sq * bytes, n, bytes, s->words, l->h_queries);
            CU(cudaMemcpyAsync(l->d_queries, l->h_queries, (size_t)n * s->words * 4,
                               cudaMemcpyHostToDevice, l->stream));
            if (s->kernel == SJ_GPU_V3)
                CU(sj_gpu_row_popc(l->d_queries, (uint32_t)n, s->words, l->d_qpopc, l->stream));
            const int64_t off = c_first - d->win_first; /* row in the window */
            l->tile = (sj_gpu_tile){
                .queries = l->d_queries, .query_popc = l->d_qpopc, .nq = (uint32_t)n,
                .q0 = q0 + sq, .corpus = d->d_corpus + (size_t)off * s->words,
                .corpus_popc = d->d_cpopc + off, .nc = (uint32_t)(c_end - c_first),
                .c0 = c_first, .words = s->words, .threshold = s->cfg.threshold, .self = self};
            if ((st = lane_launch(s, l)))
                goto done;
        }
    }
    if (!(st = lane_collect(s, d, &d->lane[0])))
        st = lane_collect(s, d, &d->lane[1]);
done:
    return st;
}

static sj_status cuda_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                              int64_t c0, int64_t c1, int self, sj_hits *out)
{
    cuda_state *s = state;
    sj_status st = SJ_OK, dev_st[MAX_DEVICES] = {SJ_OK};
    char msg[MAX_DEVICES][512];
    int64_t bound[MAX_DEVICES + 1]; /* device i: corpus rows [bound[i], bound[i + 1]) */
    sj_gpu_split_work(SJ_MAX(c0, 0), SJ_MIN(c1, s->nc), q0, nq, SUB_QUERIES, self, s->n_dev, bound);
    /* One host thread per device: their transfers and kernels overlap. */
#pragma omp parallel for num_threads(s->n_dev) schedule(static, 1)
    for (int i = 0; i < s->n_dev; i++) {
        dev_st[i] = device_compare(s, &s->dev[i], queries, q0, nq, bound[i], bound[i + 1], self);
        if (dev_st[i])
            snprintf(msg[i], sizeof msg[i], "%s", sj_last_error());
    }
    for (int i = 0; i < s->n_dev && !st; i++) {
        if (dev_st[i])
            return sj_fail(dev_st[i], "%s", msg[i]);
        for (int64_t k = 0; k < s->dev[i].hits.n && !st; k++)
            st = sj_hits_push(out, s->dev[i].hits.v[k].q, s->dev[i].hits.v[k].c,
                              s->dev[i].hits.v[k].d);
    }
    return st;
}

const sj_backend_ops sj_backend_cuda = {
    /* .name           = */ "cuda",
    /* .parallel_calls = */ 0,
    /* .open           = */ cuda_open,
    /* .load_corpus    = */ cuda_load_corpus,
    /* .compare        = */ cuda_compare,
    /* .close          = */ cuda_close,
};
