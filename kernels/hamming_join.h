/* hamming_join.h - C interface of the GPU Hamming join kernels
 * (kernels/hamming_join.cu). The host backend (host/backend_cuda.c) owns the
 * buffers and streams; these functions only launch work on a stream.
 *
 * The ladder, selectable with `simjoin join --kernel`:
 *   v1  tiled popc: one corpus row per thread in registers, a query tile in
 *       shared memory, one popc per 32-bit word
 *   v2  register-blocked: two corpus rows per thread, 5 popc per 256 bits
 *       through carry-save adders (sj_tile_distance8_csa)
 *   v3  binary tensor cores: mma.m16n8k256 .and.popc, then
 *       Hamming = |q| + |c| - 2 |q and c| in the epilogue
 * All three fuse the threshold test and warp-aggregated compaction; only
 * hits leave the chip. Each has a host reference in hamming_tile.h. */
#ifndef SIMJOIN_HAMMING_JOIN_H
#define SIMJOIN_HAMMING_JOIN_H

#include "hamming_tile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sj_gpu_kernel {
    SJ_GPU_V1 = 1,
    SJ_GPU_V2 = 2,
    SJ_GPU_V3 = 3
} sj_gpu_kernel;

/* One launch: every query row against every corpus row of the tile. */
typedef struct sj_gpu_tile {
    const uint32_t *queries;    /* device [nq][words], zero padded */
    const int32_t *query_popc;  /* device [nq], one-bit counts (v3 only) */
    uint32_t nq;
    int64_t q0;                 /* global row of queries[0] (self-join order) */
    const uint32_t *corpus;     /* device [nc][words] */
    const int32_t *corpus_popc; /* device [nc] (v3 only) */
    uint32_t nc;
    int64_t c0;                 /* global row of corpus[0] */
    int words;                  /* row stride in uint32, from sj_gpu_row_words */
    int32_t threshold;          /* hit when distance <= threshold */
    int self;                   /* 1: report only c0+c > q0+q */
    sj_gpu_hit *hits;           /* device [capacity] */
    unsigned long long *count;  /* device counter; may end above capacity */
    unsigned long long capacity;
    uint32_t hit_q, hit_c;      /* added to every hit's q and c, so that tiles can share one
                                 * buffer (vector kinds; 0 in the Hamming backend) */
} sj_gpu_tile;

/* Padded row stride (uint32 words) that kernel k reads for `bits`-bit hashes. */
int sj_gpu_row_words(sj_gpu_kernel k, uint32_t bits);

/* Launch kernel k for tile t on `stream` (a cudaStream_t). Returns a
 * cudaError_t (0 on success) from the launch itself. */
int sj_gpu_launch(sj_gpu_kernel k, const sj_gpu_tile *t, void *stream);

/* l2sq of uint8 rows on int8 tensor cores (mma.m16n8k32 .s8), with v3's
 * tiling, loaders and epilogue: queries and corpus are rows shifted to int8
 * (sj_vt_s8_pack_row: [n][words], words a multiple of 8), query_popc and
 * corpus_popc their squared norms, threshold an int32 (sj_vt_s8_threshold);
 * hits carry the exact l2sq. host/join/backend_cuda_vec.c runs uint8 l2sq
 * through it (other metrics of uint8 kinds through the fp16 GEMM). */
int sj_gpu_launch_l2sq_s8(const sj_gpu_tile *t, void *stream);

/* out[i] = one-bit count of rows[i] ([n][words]), on `stream`. */
int sj_gpu_row_popc(const uint32_t *rows, uint32_t n, int words, int32_t *out, void *stream);

/* 0 if the current device can run these kernels (this build has code for
 * it), else the cudaError_t that says why not. */
int sj_gpu_probe(void);

/* The lowest architecture this build has code for, as __CUDA_ARCH__ (900:
 * sm_90); its PTX also runs on later devices. */
int sj_gpu_min_arch(void);

/* Human-readable name of a cudaError_t. */
const char *sj_gpu_error_string(int err);

#ifdef __cplusplus
}
#endif
#endif
