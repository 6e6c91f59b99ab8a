/* gpu_plan.h - the size arithmetic of the CUDA backends (backend_cuda.c,
 * backend_cuda_vec.c), apart from any CUDA call so that tests/test_gpu_tiles.c
 * checks it on any machine:
 *   - a launch covers at most SJ_GPU_MAX_LAUNCH_ROWS corpus (and query) rows,
 *     so that the kernels' uint32 row indices, rounded up to whole blocks,
 *     stay below 2^32;
 *   - corpus chunks are uploaded through two pinned staging pieces of at most
 *     SJ_GPU_STAGE_BYTES, not one pinned buffer as large as the chunk;
 *   - several devices share each call's corpus rows by launched pairs
 *     (sj_gpu_split_work), not by rows;
 *   - a hit buffer grows to at most SJ_GPU_MAX_HITS; a launch with more hits
 *     is redone in halves (queries first, then corpus rows) until each piece
 *     fits (sj_gpu_redo_bounded). */
#ifndef SIMJOIN_GPU_PLAN_H
#define SIMJOIN_GPU_PLAN_H

#include <stdint.h>

/* (tests/test_cuda_mock.c sets small values to reach every split) */
#ifndef SJ_GPU_MAX_LAUNCH_ROWS
#define SJ_GPU_MAX_LAUNCH_ROWS ((int64_t)1 << 31)
#endif
#ifndef SJ_GPU_STAGE_BYTES
#define SJ_GPU_STAGE_BYTES ((int64_t)32 << 20) /* 32 MiB per pinned piece, two pieces */
#endif
#ifndef SJ_GPU_MAX_HITS
#define SJ_GPU_MAX_HITS ((uint64_t)1 << 25)   /* 32 Mi hits = 384 MiB of sj_gpu_hit */
#endif

/* Rows per device chunk: all `rows` if they fit `budget_bytes` at
 * `row_bytes` each, never more than a launch can index, at least 1. */
static inline int64_t sj_gpu_chunk_rows(int64_t rows, int64_t budget_bytes, int64_t row_bytes)
{
    int64_t n = budget_bytes / (row_bytes > 0 ? row_bytes : 1);
    if (n > rows)
        n = rows;
    if (n > SJ_GPU_MAX_LAUNCH_ROWS)
        n = SJ_GPU_MAX_LAUNCH_ROWS;
    return n < 1 ? 1 : n;
}

/* Rows per pinned staging piece for a chunk of chunk_rows rows. */
static inline int64_t sj_gpu_stage_rows(int64_t chunk_rows, int64_t row_bytes)
{
    int64_t n = SJ_GPU_STAGE_BYTES / (row_bytes > 0 ? row_bytes : 1);
    if (n > chunk_rows)
        n = chunk_rows;
    return n < 1 ? 1 : n;
}

/* Corpus rows [*first, *end) that one launch needs out of a chunk [chunk,
 * chunk_end) for queries from global row first_query on, when the call asks
 * for corpus rows [lo, hi): the range clipped to [lo, hi), and in a
 * self-join (pairs c > q only) starting after first_query, so that a
 * self-join walks the triangle instead of the square. 0: nothing to launch. */
static inline int sj_gpu_launch_rows(int64_t chunk, int64_t chunk_end, int64_t lo, int64_t hi,
                                     int self, int64_t first_query, int64_t *first, int64_t *end)
{
    int64_t f = chunk > lo ? chunk : lo;
    if (self && f < first_query + 1)
        f = first_query + 1;
    *first = f;
    *end = chunk_end < hi ? chunk_end : hi;
    return f < *end;
}

/* Pairs launched for corpus rows [lo, x) of one compare() call: queries
 * [q0, q0 + nq) go in sub-tiles of `sub` rows, each against corpus rows
 * [lo, hi), in a self-join only those after its first query
 * (sj_gpu_launch_rows). nq x (hi - lo) stays below 2^63. */
static inline int64_t sj_gpu_work_before(int64_t lo, int64_t hi, int64_t q0, int64_t nq,
                                         int64_t sub, int self, int64_t x)
{
    int64_t work = 0;
    if (x > hi)
        x = hi;
    for (int64_t sq = 0; sq < nq; sq += sub) {
        const int64_t n = nq - sq < sub ? nq - sq : sub;
        const int64_t first = self && lo < q0 + sq + 1 ? q0 + sq + 1 : lo;
        if (x > first)
            work += n * (x - first);
    }
    return work;
}

/* Split one call's corpus rows [lo, hi) between k devices by work, not by
 * rows: device i gets [bound[i], bound[i + 1]) (bound[0] = lo, bound[k] =
 * hi), the first rows whose launched pairs (sj_gpu_work_before) reach i/k of
 * the call's. A corpus row adds at most nq pairs, so every share is within
 * nq pairs of total / k. A self-join's boundaries crowd toward hi, where a
 * row pairs with more of the block's queries. */
static inline void sj_gpu_split_work(int64_t lo, int64_t hi, int64_t q0, int64_t nq, int64_t sub,
                                     int self, int k, int64_t *bound)
{
    if (hi < lo)
        hi = lo;
    const int64_t total = sj_gpu_work_before(lo, hi, q0, nq, sub, self, hi);
    bound[0] = lo;
    bound[k] = hi;
    for (int i = 1; i < k; i++) {
        const int64_t target = total / k * i + total % k * i / k; /* total * i / k, no overflow */
        int64_t a = bound[i - 1], b = hi; /* the first x in [a, b] with work >= target */
        while (a < b) {
            const int64_t mid = a + (b - a) / 2;
            if (sj_gpu_work_before(lo, hi, q0, nq, sub, self, mid) < target)
                a = mid + 1;
            else
                b = mid;
        }
        bound[i] = a;
    }
}

/* Capacity for a launch that reported `count` hits: a quarter of headroom,
 * at most max_hits; 0 when count itself is above max_hits (split instead). */
static inline uint64_t sj_gpu_grown_capacity(uint64_t count, uint64_t max_hits)
{
    if (count > max_hits)
        return 0;
    uint64_t cap = count + count / 4;
    return cap > max_hits ? max_hits : cap;
}

/* A piece of one launch: query rows [q, q + nq), corpus rows [c, c + nc),
 * relative to the launch. */
typedef struct sj_gpu_piece {
    int64_t q, nq, c, nc;
} sj_gpu_piece;

/* run: launch piece p with the current buffer; set *count to its true number
 * of hits and, when that is within the capacity, collect them. grow: make the
 * buffer hold `capacity` hits. Both return 0 or a status. */
typedef int (*sj_gpu_run_fn)(void *ctx, sj_gpu_piece p, uint64_t *count);
typedef int (*sj_gpu_grow_fn)(void *ctx, uint64_t capacity);

/* Piece p has `count` hits, more than *capacity, not collected. Collect them
 * with no buffer above max_hits: grow when count fits, else run each half
 * (queries split first; a single query row splits the corpus rows) and redo
 * a half that overflows in turn. Returns 0, a status, or -1 when a rerun
 * reports a different count. */
static inline int sj_gpu_redo_bounded(void *ctx, sj_gpu_piece p, uint64_t count,
                                      uint64_t *capacity, uint64_t max_hits, sj_gpu_run_fn run,
                                      sj_gpu_grow_fn grow)
{
    int st;
    const uint64_t cap = sj_gpu_grown_capacity(count, max_hits);
    if (cap) {
        uint64_t again = 0;
        if (cap > *capacity) {
            if ((st = grow(ctx, cap)))
                return st;
            *capacity = cap;
        }
        if ((st = run(ctx, p, &again)))
            return st;
        return again == count ? 0 : -1;
    }
    if (p.nq <= 1 && p.nc <= 1)
        return -1; /* one pair cannot overflow a buffer of max_hits >= 1 */
    sj_gpu_piece half[2] = {p, p};
    if (p.nq > 1) {
        half[0].nq = p.nq / 2;
        half[1].q = p.q + half[0].nq, half[1].nq = p.nq - half[0].nq;
    } else {
        half[0].nc = p.nc / 2;
        half[1].c = p.c + half[0].nc, half[1].nc = p.nc - half[0].nc;
    }
    for (int h = 0; h < 2; h++) {
        uint64_t n = 0;
        if ((st = run(ctx, half[h], &n)))
            return st;
        if (n > *capacity &&
            (st = sj_gpu_redo_bounded(ctx, half[h], n, capacity, max_hits, run, grow)))
            return st;
    }
    return 0;
}

#endif
