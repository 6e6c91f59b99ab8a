/* test_gpu_tiles.c - the GPU kernels' tile logic (kernels/hamming_tile.h),
 * compiled for the host and checked against oracles written here: the v1 and
 * v2 distance functions; the v3 kernel's own tiling, loaders and epilogue run
 * through an mma.m16n8k256 .and.popc emulated from the PTX ISA's fragment
 * tables, against a naive bit loop; the epilogue's keep rule at the
 * boundaries; warp-aggregated compaction with overflow, and on an emulated
 * warp (ballot, shuffle, atomics) with partial active masks; and the vector
 * kernels' arithmetic (kernels/vector_tile.h): uint8 -> fp16 bits, the
 * packed-byte L1 step, the candidate rule, and the error margin against an
 * emulated GPU dot product (TF32-rounded inputs, fp32 sums in a random order,
 * rounded toward zero); and the f32 TF32 kernel's own packing, loaders and
 * epilogue run through an mma.m16n8k8 .tf32 emulated from its PTX tables,
 * against plain double loops, with the bound at its worst case and rows
 * whose squares overflow float. Runs on any machine; no GPU needed. */
#include "hamming_tile.h"
#include "vector_tile.h"
#include "test_util.h"
#include "../host/join/gpu_plan.h"
#include "../host/join/backend.h"

#include <math.h>
#include <string.h>

#ifndef SJ_MIN
#define SJ_MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef SJ_MAX
#define SJ_MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static int oracle(const uint32_t *a, const uint32_t *b, int words)
{
    int d = 0;
    for (int w = 0; w < words; w++)
        for (int i = 0; i < 32; i++)
            d += ((a[w] ^ b[w]) >> i) & 1;
    return d;
}

static void random_words(uint32_t *w, int n, int density)
{
    for (int i = 0; i < n; i++) {
        uint32_t x = (uint32_t)t_rand();
        if (density == 0) x = 0;
        if (density == 2) x = 0xffffffffu;
        if (density == 3) x &= (uint32_t)t_rand(); /* sparse */
        w[i] = x;
    }
}

static void test_distances(void)
{
    const int widths[] = {2, 4, 8, 16, 32, 64};
    for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
        int W = widths[k];
        for (int r = 0; r < 300; r++) {
            uint32_t a[64], b[64];
            random_words(a, W, r % 4);
            random_words(b, W, (r / 4) % 4);
            int want = oracle(a, b, W);
            CHECK(sj_tile_distance(a, b, W) == want, "v1 distance W=%d", W);
            if (W % 8 == 0)
                CHECK(sj_tile_distance_csa(a, b, W) == want, "v2 csa distance W=%d: %d vs %d", W,
                      sj_tile_distance_csa(a, b, W), want);
        }
    }
    /* the extremes: identical rows and complementary rows */
    uint32_t a[8], b[8];
    random_words(a, 8, 1);
    for (int w = 0; w < 8; w++)
        b[w] = ~a[w];
    CHECK(sj_tile_distance8_csa(a, a) == 0, "csa of identical rows");
    CHECK(sj_tile_distance8_csa(a, b) == 256, "csa of complementary rows");
}

/* ---- an emulated mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc ----
 *
 * Written from the PTX ISA's fragment tables (section 9.7.14.5.13 "Matrix
 * Fragments for mma.m16n8k256", Figures 100-103; 9.7.13.4.13 in older
 * releases), not from hamming_tile.h. For lane l, groupID g = l >> 2 and
 * threadID_in_group t = l % 4; fragment element i is bit (i % 32) of the
 * lane's register i / 32 ("elements low to high").
 *   A (16 x 256, row): row = g      for i in [0,32) or [64,96), else g + 8
 *                      col = t*32 + (i & 31), + 128 for i >= 64
 *   B (256 x 8, col):  row = t*32 + (i & 31), + 128 for i >= 32;  col = g
 *   C, D (16 x 8):     row = g for i < 2, else g + 8;  col = 2t + (i & 1)
 * One rendering of the ISA text has "col = t*32 + i" for A's i < 64. Taken
 * literally, a1 of lanes with t = 3 and a3 of lanes with t = 0 (both row
 * g + 8) would hold the same columns 128..159; the (i & 0x1F) reading, which
 * the m16n8k128 table (the same layout for k < 128) has, is the one-to-one
 * map, and test_ptx_tables checks that it is.
 * D[m][n] = C[m][n] + sum over k of (A[m][k] AND B[k][n]). */
static void ptx_a_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = ((i >= 0 && i < 32) || (i >= 64 && i < 96)) ? g : g + 8;
    *col = i < 64 ? t * 32 + (i & 0x1f) : t * 32 + (i & 0x1f) + 128;
}

static void ptx_b_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = i < 32 ? t * 32 + (i & 0x1f) : t * 32 + (i & 0x1f) + 128;
    *col = g;
}

static void ptx_c_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = i < 2 ? g : g + 8;
    *col = t * 2 + (i & 1);
}

/* One warp's instruction: registers a[lane][4], b[lane][2], c[lane][4] in,
 * d[lane][4] out (d may be c). */
static void emulate_mma_b1_and_popc(const uint32_t a[32][4], const uint32_t b[32][2],
                                    const int32_t c[32][4], int32_t d[32][4])
{
    static uint8_t A[16][256], B[256][8];
    int32_t C[16][8];
    for (int lane = 0; lane < 32; lane++) {
        for (int i = 0; i < 128; i++) {
            int row, col;
            ptx_a_elem(lane, i, &row, &col);
            A[row][col] = (a[lane][i / 32] >> (i % 32)) & 1u;
        }
        for (int i = 0; i < 64; i++) {
            int row, col;
            ptx_b_elem(lane, i, &row, &col);
            B[row][col] = (b[lane][i / 32] >> (i % 32)) & 1u;
        }
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col);
            C[row][col] = c[lane][i];
        }
    }
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++)
            for (int k = 0; k < 256; k++)
                C[m][n] += A[m][k] & B[k][n];
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col);
            d[lane][i] = C[row][col];
        }
}

/* Whether a transcribed fragment table (elem: lane, element i -> row, col)
 * maps the 32 lanes' n elements onto a rows x cols operand one-to-one. */
static int covers_once(void (*elem)(int lane, int i, int *row, int *col), int n, int rows,
                       int cols)
{
    int *seen = calloc((size_t)rows * (size_t)cols, sizeof *seen), ok = seen != NULL;
    for (int lane = 0; ok && lane < 32; lane++)
        for (int i = 0; ok && i < n; i++) {
            int row, col;
            elem(lane, i, &row, &col);
            ok = row >= 0 && row < rows && col >= 0 && col < cols;
            if (ok)
                seen[row * cols + col]++;
        }
    for (int k = 0; ok && k < rows * cols; k++)
        ok = seen[k] == 1;
    free(seen);
    return ok;
}

/* The transcription of the tables is itself one-to-one: every element of A,
 * B and C belongs to exactly one (lane, element). */
static void test_ptx_tables(void)
{
    CHECK(covers_once(ptx_a_elem, 128, 16, 256) && covers_once(ptx_b_elem, 64, 256, 8) &&
              covers_once(ptx_c_elem, 4, 16, 8),
          "the PTX fragment tables as transcribed cover A, B, C once each");
}

/* ---- an emulated warp: __ballot_sync / __shfl_sync / atomicAdd ----------
 * The sequence of gpu_append.cuh's sj_warp_append, lane by lane, for the
 * lanes of `active` (the warp's __activemask()), with the primitives
 * emulated and the rest the kernel's own functions: the ballot has the bits
 * of active lanes whose keep is set; the leader (sj_warp_leader) adds the
 * ballot's popcount to the counter (atomicAdd returns the old value); every
 * active lane reads the leader's base (__shfl_sync from the leader, which
 * must be active); each lane writes where sj_warp_append_slot says. */
static int g_shfl_from_inactive;

static void emulate_warp_append(uint32_t active, const int keep[32], const sj_gpu_hit hit[32],
                                sj_gpu_hit *hits, uint64_t *count, uint64_t capacity)
{
    uint32_t ballot = 0;
    for (int lane = 0; lane < 32; lane++)
        if ((active >> lane & 1u) && keep[lane])
            ballot |= 1u << lane;
    if (!ballot)
        return;
    const int leader = sj_warp_leader(ballot);
    if (!(active >> leader & 1u))
        g_shfl_from_inactive++;
    uint64_t leader_base = *count;
    *count += (uint64_t)sj_popc32(ballot);
    for (int lane = 0; lane < 32; lane++) {
        if (!(active >> lane & 1u))
            continue; /* an inactive lane runs nothing */
        const uint64_t base = leader_base; /* __shfl_sync from the leader */
        const uint64_t slot = sj_warp_append_slot(keep[lane], ballot, lane, base, capacity);
        if (slot != SJ_NO_SLOT)
            hits[slot] = hit[lane];
    }
}

/* One emulated v3 launch over queries [nq][words] and corpus [nc][words],
 * block by block and warp by warp, with the kernel's own tiling
 * (sj_v3_warp_*), row pointers and loaders (sj_v3_*_ptr, sj_v3_load_*; B
 * as 64-bit word pairs), popcounts
 * loaded once per lane (sj_v3_load_popc), the warp's one vote over all its
 * candidates (sj_v3_lane_any, then __any_sync emulated as an OR over the 32
 * lanes), and only then the exact rule (sj_v3_pair, sj_tile_keep) and the
 * emulated append. Returns the count; *warps_voted_out (if not NULL) counts
 * the warps whose vote skipped the append. */
typedef void (*emulated_mma)(const uint32_t a[32][4], const uint32_t b[32][2],
                             const int32_t c[32][4], int32_t d[32][4]);

/* The k loop of v3_mainloop.cuh for the warp tile at (q_warp, c_warp), all
 * 32 lanes: the kernel's row pointers and loaders, then the instruction on
 * every m16n8 tile; acc[m][n][lane][r] is register r of lane `lane` (int32,
 * or the bits of a float for .tf32). */
static void emulate_v3_warp_acc(const uint32_t *queries, uint32_t nq, const uint32_t *corpus,
                                uint32_t nc, int words, uint32_t q_warp, uint32_t c_warp,
                                emulated_mma mma, int32_t acc[SJ_V3_M][SJ_V3_N][32][4])
{
    static uint32_t a[SJ_V3_M][32][4], b[SJ_V3_N][32][2];
    memset(acc, 0, sizeof(int32_t) * SJ_V3_M * SJ_V3_N * 32 * 4); /* also +0.0f */
    for (int k = 0; k < words; k += 8) {
        for (int lane = 0; lane < 32; lane++) { /* the kernel advances these by 8 a chunk */
            for (int m = 0; m < SJ_V3_M; m++) {
                const uint32_t *rows[2];
                for (int h = 0; h < 2; h++)
                    rows[h] = sj_v3_a_ptr(queries, q_warp + m * 16, nq, words, lane, h) + k;
                sj_v3_load_a(a[m][lane], rows);
            }
            for (int n = 0; n < SJ_V3_N; n++)
                sj_v3_load_b(b[n][lane], sj_v3_b_ptr(corpus, c_warp + n * 8, nc, words, lane) + k);
        }
        for (int m = 0; m < SJ_V3_M; m++)
            for (int n = 0; n < SJ_V3_N; n++)
                mma((const uint32_t(*)[4])a[m], (const uint32_t(*)[2])b[n],
                    (const int32_t(*)[4])acc[m][n], acc[m][n]);
    }
}

/* The launch with a given instruction and row "norms" (qpopc [nq], cpopc
 * [nc]: one-bit counts for .and.popc, squared norms for .s8). */
static uint64_t emulate_v3_core(const uint32_t *queries, uint32_t nq, int64_t q0,
                                const uint32_t *corpus, uint32_t nc, int64_t c0, int words,
                                int self, int threshold, sj_gpu_hit *hits, uint64_t capacity,
                                uint64_t *warps_voted_out, emulated_mma mma, const int32_t *qpopc,
                                const int32_t *cpopc)
{
    uint64_t count = 0;
    static int32_t acc[SJ_V3_M][SJ_V3_N][32][4];
    static sj_v3_lane_popc popc[32];
    static int lane_acc[32][SJ_V3_M][SJ_V3_N][4]; /* a lane's registers, as the kernel holds them */
    for (uint32_t by = 0; by < sj_div_up_u32(nq, SJ_V3_BLOCK_Q); by++)
        for (uint32_t bx = 0; bx < sj_div_up_u32(nc, SJ_V3_BLOCK_C); bx++)
            for (int warp = 0; warp < SJ_V3_WARPS; warp++) {
                const uint32_t q_warp = sj_v3_warp_q(by, warp), c_warp = sj_v3_warp_c(bx, warp);
                for (int lane = 0; lane < 32; lane++)
                    sj_v3_load_popc(&popc[lane], qpopc, q_warp, nq, cpopc, c_warp, nc, threshold, lane);
                emulate_v3_warp_acc(queries, nq, corpus, nc, words, q_warp, c_warp, mma, acc);
                int any = 0; /* __any_sync(0xffffffff, sj_v3_lane_any(...)) */
                for (int lane = 0; lane < 32; lane++) {
                    for (int m = 0; m < SJ_V3_M; m++)
                        for (int n = 0; n < SJ_V3_N; n++)
                            for (int r = 0; r < 4; r++)
                                lane_acc[lane][m][n][r] = acc[m][n][lane][r];
                    any |= sj_v3_lane_any(lane_acc[lane], &popc[lane]);
                }
                if (!any) {
                    if (warps_voted_out)
                        ++*warps_voted_out;
                    continue;
                }
                for (int m = 0; m < SJ_V3_M; m++)
                    for (int n = 0; n < SJ_V3_N; n++)
                        for (int r = 0; r < 4; r++) {
                            int keep[32];
                            sj_gpu_hit hit[32];
                            for (int lane = 0; lane < 32; lane++) {
                                uint32_t q, c;
                                int d;
                                sj_v3_pair(q_warp, c_warp, lane, m, n, r, lane_acc[lane][m][n][r],
                                           &popc[lane], threshold, &q, &c, &d);
                                keep[lane] = sj_tile_keep(q0, q, nq, c0, c, nc, self, d, threshold);
                                hit[lane] = (sj_gpu_hit){q, c, d};
                            }
                            emulate_warp_append(0xffffffffu, keep, hit, hits, &count, capacity);
                        }
            }
    return count;
}

static uint64_t emulate_v3_launch_votes(const uint32_t *queries, uint32_t nq, int64_t q0,
                                        const uint32_t *corpus, uint32_t nc, int64_t c0, int words,
                                        int self, int threshold, sj_gpu_hit *hits, uint64_t capacity,
                                        uint64_t *warps_voted_out)
{
    int32_t *qpopc = malloc(nq * sizeof *qpopc), *cpopc = malloc(nc * sizeof *cpopc);
    for (uint32_t i = 0; i < nq; i++)
        qpopc[i] = sj_row_popc(queries + (size_t)i * words, words);
    for (uint32_t i = 0; i < nc; i++)
        cpopc[i] = sj_row_popc(corpus + (size_t)i * words, words);
    uint64_t count = emulate_v3_core(queries, nq, q0, corpus, nc, c0, words, self, threshold, hits,
                                     capacity, warps_voted_out, emulate_mma_b1_and_popc, qpopc, cpopc);
    free(qpopc);
    free(cpopc);
    return count;
}

static uint64_t emulate_v3_launch(const uint32_t *queries, uint32_t nq, int64_t q0,
                                  const uint32_t *corpus, uint32_t nc, int64_t c0, int words,
                                  int self, int threshold, sj_gpu_hit *hits, uint64_t capacity)
{
    return emulate_v3_launch_votes(queries, nq, q0, corpus, nc, c0, words, self, threshold, hits,
                                   capacity, NULL);
}

/* One emulated v3 launch against the naive bit loop: every pair with d <= T
 * exactly once with its distance, and with a buffer of 3 the true count and
 * nothing past it. Returns 1 when all holds. */
static int check_v3_launch(const uint32_t *Q, uint32_t nq, const uint32_t *C, uint32_t nc,
                           int words, int self, int T, uint64_t *n_pairs)
{
    const int64_t q0 = self ? 0 : 1000, c0 = self ? 0 : 5000;
    uint64_t want = 0;
    int *expect = malloc((size_t)nq * nc * sizeof *expect);
    for (uint32_t i = 0; i < nq; i++)
        for (uint32_t j = 0; j < nc; j++) {
            int d = oracle(Q + (size_t)i * words, C + (size_t)j * words, words);
            int in = d <= T && (!self || j > i);
            expect[(size_t)i * nc + j] = in ? d : -1;
            want += (uint64_t)in;
        }
    const uint64_t cap = want + 8;
    sj_gpu_hit *hits = malloc((size_t)cap * sizeof *hits);
    uint64_t count = emulate_v3_launch(Q, nq, q0, C, nc, c0, words, self, T, hits, cap);
    int ok = count == want;
    int *seen = calloc((size_t)nq * nc, sizeof *seen);
    for (uint64_t h = 0; h < count && h < cap; h++) {
        const sj_gpu_hit x = hits[h];
        if (x.q >= nq || x.c >= nc) {
            ok = 0;
            continue;
        }
        ok &= expect[(size_t)x.q * nc + x.c] == x.d;
        ok &= seen[(size_t)x.q * nc + x.c]++ == 0;
    }
    if (want > 4) { /* overflow: the true count, nothing past the buffer */
        sj_gpu_hit small[4];
        small[3] = (sj_gpu_hit){0xffffffffu, 0xffffffffu, -1};
        uint64_t c2 = emulate_v3_launch(Q, nq, q0, C, nc, c0, words, self, T, small, 3);
        ok &= c2 == want && small[3].q == 0xffffffffu;
    }
    *n_pairs = want;
    free(seen), free(hits), free(expect);
    return ok;
}

/* The v3 kernel, emulated, against a naive bit loop: every pair with
 * d <= T exactly once with its distance, across ragged tile edges, widths of
 * one to three 256-bit chunks, self and cross joins, and an overflowing hit
 * buffer that still counts every hit. */
static void test_v3_emulated(void)
{
    static const uint32_t sizes[][2] = {{1, 1}, {16, 8}, {17, 9}, {64, 64}, {65, 130}, {100, 37}};
    static const int widths[] = {8, 16, 24};
    int runs = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
            for (int self = 0; self < 2; self++) {
                const int words = widths[wi];
                uint32_t nq = sizes[z][0], nc = self ? nq : sizes[z][1];
                uint32_t *Q = malloc((size_t)nq * words * 4), *C = malloc((size_t)nc * words * 4);
                for (uint32_t i = 0; i < nq; i++)
                    random_words(Q + (size_t)i * words, words, (int)((i + z) % 4));
                for (uint32_t j = 0; j < nc; j++) {
                    random_words(C + (size_t)j * words, words, (int)((j + wi) % 4));
                    if (!self && j % 3 == 0) { /* near duplicates of a query */
                        memcpy(C + (size_t)j * words, Q + (size_t)(j % nq) * words, (size_t)words * 4);
                        C[(size_t)j * words + j % words] ^= (uint32_t)t_rand() & 0x00f0f00fu;
                    }
                }
                if (self)
                    memcpy(C, Q, (size_t)nq * words * 4);
                const int T = (z + wi) % 2 ? 16 * words : 40; /* about half / near duplicates */
                uint64_t want = 0;
                int ok = check_v3_launch(Q, nq, C, nc, words, self, T, &want);
                CHECK(ok, "emulated v3 %ux%u words=%d self=%d T=%d: naive %llu pairs", nq, nc,
                      words, self, T, (unsigned long long)want);
                runs++;
                free(Q), free(C);
            }
    CHECK(runs == 36, "all emulated v3 launches ran");
}

/* Flip exactly `d` distinct bits of a row of `words` words. */
static void flip_bits(uint32_t *row, int words, int d)
{
    const int bits = words * 32;
    uint8_t *taken = calloc((size_t)bits, 1);
    for (int f = 0; f < d; f++) {
        int i;
        do
            i = (int)(t_rand() % (uint64_t)bits);
        while (taken[i]);
        taken[i] = 1;
        row[i / 32] ^= 1u << (i % 32);
    }
    free(taken);
}

/* The v3 epilogue at its boundaries, through the emulated kernel: corpus rows
 * at distance exactly T - 1, T and T + 1 of a query (d == T is a match,
 * T + 1 is not), for T = 0 (only identical rows), 1, 31, 128, 255 and 256
 * (every pair of 256 bits, complementary rows included), with all-zero and
 * all-one rows whose popcounts are the extremes; one and two 256-bit chunks,
 * cross and self. */
static void test_v3_epilogue_boundary(void)
{
    static const int thresholds[] = {0, 1, 31, 128, 255, 256, 511, 512};
    for (int words = 8; words <= 16; words += 8)
        for (size_t ti = 0; ti < sizeof thresholds / sizeof *thresholds; ti++)
            for (int self = 0; self < 2; self++) {
                const int T = thresholds[ti], bits = words * 32;
                if (T > bits)
                    continue;
                enum { NQ = 37, NC = 70 };
                static uint32_t Q[NQ * 16], C[NC * 16];
                for (int i = 0; i < NQ; i++)
                    random_words(Q + i * words, words, i % 7 == 0 ? 0 : i % 7 == 1 ? 2 : 1);
                int at_t = 0;
                for (int j = 0; j < NC; j++) {
                    uint32_t *row = C + j * words;
                    const int d = T - 1 + j % 3; /* T - 1, T, T + 1 */
                    memcpy(row, Q + (j % NQ) * words, (size_t)words * 4);
                    if (d < 0 || d > bits) {
                        random_words(row, words, 1);
                        continue;
                    }
                    if (d == bits)
                        for (int w = 0; w < words; w++)
                            row[w] = ~row[w];
                    else
                        flip_bits(row, words, d);
                    at_t += d == T;
                }
                const uint32_t nq = self ? NC : NQ;
                uint64_t want = 0;
                int ok = check_v3_launch(self ? C : Q, nq, C, NC, words, self, T, &want);
                CHECK(ok && (self || (at_t > 0 && want >= (uint64_t)at_t)),
                      "v3 epilogue boundary words=%d T=%d self=%d: %llu pairs, %d built at d == T",
                      words, T, self, (unsigned long long)want, at_t);
            }
}

/* The first test against its definition, exhaustively over 256-bit rows:
 * for every popcount pair, every possible AND count and the thresholds of
 * the boundary test, sj_v3_within says exactly d <= T. */
static void test_v3_within(void)
{
    static const int thresholds[] = {0, 1, 2, 31, 32, 127, 128, 255, 256};
    int ok = 1;
    long checked = 0;
    for (int pq = 0; pq <= 256; pq++)
        for (int pc = 0; pc <= 256; pc += 1 + (pq % 3))
            for (int acc = SJ_MAX(0, pq + pc - 256); acc <= SJ_MIN(pq, pc); acc++)
                for (size_t ti = 0; ti < sizeof thresholds / sizeof *thresholds; ti++) {
                    const int T = thresholds[ti];
                    const int d = pq + pc - 2 * acc;
                    ok &= sj_v3_within(acc, pq - T, pc) == (d <= T);
                    ok &= sj_hamming_from_and(pq, pc, acc) == d;
                    checked++;
                }
    CHECK(ok, "2 acc - pc >= pq - T is d <= T (%ld cases)", checked);
}

/* The warp's vote: a tile with no pair within T is voted out before any
 * append; a single pair at d == T in any one lane's registers keeps its
 * warp. */
static void test_v3_vote(void)
{
    enum { N = 64, W = 8 };
    static uint32_t Q[N * W], C[N * W];
    random_words(Q, N * W, 1);
    random_words(C, N * W, 1); /* random pairs: d near 128, none within T = 1 */
    sj_gpu_hit hits[8];
    uint64_t voted_out = 0;
    uint64_t n = emulate_v3_launch_votes(Q, N, 0, C, N, 0, W, 0, 1, hits, 8, &voted_out);
    CHECK(n == 0 && voted_out == SJ_V3_WARPS, "no pair within T: all %d warps voted out (%llu)",
          SJ_V3_WARPS, (unsigned long long)voted_out);
    int ok = 1;
    for (int q = 0; q < N; q += 5) { /* one pair (q, c) at d == T = 1 */
        const int c = (q * 7) % N;
        uint32_t saved[W];
        memcpy(saved, C + c * W, W * 4);
        memcpy(C + c * W, Q + q * W, W * 4);
        C[c * W + q % W] ^= 1u << (q % 32);
        voted_out = 0;
        n = emulate_v3_launch_votes(Q, N, 0, C, N, 0, W, 0, 1, hits, 8, &voted_out);
        ok &= n == 1 && hits[0].q == (uint32_t)q && hits[0].c == (uint32_t)c && hits[0].d == 1;
        ok &= voted_out == SJ_V3_WARPS - 1;
        memcpy(C + c * W, saved, W * 4);
    }
    CHECK(ok, "one pair at d == T anywhere in the tile keeps exactly its warp");
}

/* The word order: registers r and r + 2 of A (r and r + 1 of B: one 64-bit
 * load) are adjacent data words, the pair 8-byte aligned, and over a
 * chunk's 8 words the data order is a permutation shared by A and B. */
static void test_v3_word_pairs(void)
{
    int ok = 1, seen[8] = {0};
    for (int w = 0; w < 8; w++)
        seen[sj_v3_data_word(w)]++;
    for (int w = 0; w < 8; w++)
        ok &= seen[w] == 1;
    for (int lane = 0; lane < 32; lane++) {
        for (int r = 0; r < 2; r++) {
            const int lo = sj_v3_data_word(sj_mma_a_word(lane, r));
            ok &= lo % 2 == 0 && sj_v3_data_word(sj_mma_a_word(lane, r + 2)) == lo + 1;
        }
        const int lo = sj_v3_data_word(sj_mma_b_word(lane, 0));
        ok &= lo % 2 == 0 && sj_v3_data_word(sj_mma_b_word(lane, 1)) == lo + 1;
    }
    CHECK(ok, "v3 word pairs: adjacent, aligned, one permutation for A and B");
}

/* ---- an emulated mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 ----
 *
 * From the PTX ISA's fragment tables for mma.m16n8k32 with .s8/.u8
 * (9.7.14.5.10 in PTX ISA 9.x, from Figure 88 on), not from hamming_tile.h.
 * Fragment element i is byte i % 4 of register i / 4, a signed int8.
 *   A (16 x 32, row): row = g for 0 <= i < 4 or 8 <= i < 12, else g + 8
 *                     col = t*4 + (i & 3), + 16 for i >= 8
 *   B (32 x 8, col):  row = t*4 + (i & 3), + 16 for i >= 4;  col = g
 *   C, D (16 x 8):    as m16n8k256 (ptx_c_elem)
 * D[m][n] = C[m][n] + sum over k of A[m][k] * B[k][n]. */
static void ptx_s8_a_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = ((i >= 0 && i < 4) || (i >= 8 && i < 12)) ? g : g + 8;
    *col = t * 4 + (i & 3) + (i >= 8 ? 16 : 0);
}

static void ptx_s8_b_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = t * 4 + (i & 3) + (i >= 4 ? 16 : 0);
    *col = g;
}

static int s8_byte(uint32_t reg, int i) { return (int)(int8_t)(uint8_t)(reg >> (8 * (i % 4))); }

static void emulate_mma_s8(const uint32_t a[32][4], const uint32_t b[32][2], const int32_t c[32][4],
                           int32_t d[32][4])
{
    static int A[16][32], B[32][8];
    int32_t C[16][8];
    for (int lane = 0; lane < 32; lane++) {
        for (int i = 0; i < 16; i++) {
            int row, col;
            ptx_s8_a_elem(lane, i, &row, &col);
            A[row][col] = s8_byte(a[lane][i / 4], i);
        }
        for (int i = 0; i < 8; i++) {
            int row, col;
            ptx_s8_b_elem(lane, i, &row, &col);
            B[row][col] = s8_byte(b[lane][i / 4], i);
        }
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col);
            C[row][col] = c[lane][i];
        }
    }
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++)
            for (int k = 0; k < 32; k++)
                C[m][n] += A[m][k] * B[k][n];
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col);
            d[lane][i] = C[row][col];
        }
}

/* The s8 table as transcribed covers A and B once each. */
static void test_ptx_s8_tables(void)
{
    CHECK(covers_once(ptx_s8_a_elem, 16, 16, 32) && covers_once(ptx_s8_b_elem, 8, 32, 8), "the PTX m16n8k32 .s8 tables as transcribed cover A and B once each");
}

/* uint8 l2sq through the v3 kernel with the .s8 instruction, emulated: rows
 * packed by sj_vt_s8_pack_row (x - 128), their squared norms, the shared
 * loaders and epilogue, against l2sq of the original rows in a plain loop;
 * corpus rows at l2sq T - 1, T, T + 1 of a query (d == T is a match), T of
 * 0 and fractional T, dimensions across the 32-byte k (1, 31, 32, 33, 144
 * photodna, 200), values at 0 and 255, self and cross. */
static void test_s8_l2sq_emulated(void)
{
    static const uint32_t dims[] = {1, 31, 32, 33, 144, 200};
    enum { NQ = 35, NC = 70 };
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (int self = 0; self < 2; self++)
            for (int tk = 0; tk < 3; tk++) {
                const uint32_t D = dims[di];
                const int words = sj_vt_s8_row_words(D);
                static uint8_t X[NQ][200], Y[NC][200];
                for (int i = 0; i < NQ; i++)
                    for (uint32_t k = 0; k < D; k++)
                        X[i][k] = i % 5 == 0 ? 255 : i % 5 == 1 ? 0 : (uint8_t)t_rand();
                /* the corpus: near copies of queries, one component moved */
                for (int j = 0; j < NC; j++) {
                    memcpy(Y[j], X[j % NQ], D);
                    const uint32_t k = (uint32_t)t_rand() % D;
                    const int step = 1 + (int)(t_rand() % 4) + (j % 3 == 0 ? 0 : 30);
                    Y[j][k] = (uint8_t)(Y[j][k] >= 128 ? Y[j][k] - step : Y[j][k] + step);
                }
                const uint8_t (*Qr)[200] = self ? (const uint8_t (*)[200])Y : (const uint8_t (*)[200])X;
                const uint32_t nq = self ? NC : NQ;
                /* T: an l2sq that occurs, exactly (tk 0), plus 0.5 (tk 1), or 0 (tk 2) */
                int64_t some = 0;
                for (uint32_t k = 0; k < D; k++)
                    some += ((int64_t)Qr[1][k] - Y[1 % NC][k]) * ((int64_t)Qr[1][k] - Y[1 % NC][k]);
                if (self)
                    some = 16;
                const double T = tk == 2 ? 0.0 : (double)some + (tk == 1 ? 0.5 : 0.0);
                const int32_t Ti = sj_vt_s8_threshold(T, D);
                uint32_t *Qw = malloc((size_t)nq * words * 4), *Cw = malloc((size_t)NC * words * 4);
                int32_t *qn = malloc(nq * sizeof *qn), *cn = malloc(NC * sizeof *cn);
                for (uint32_t i = 0; i < nq; i++)
                    qn[i] = sj_vt_s8_pack_row(Qr[i], D, Qw + (size_t)i * words, words);
                for (int j = 0; j < NC; j++)
                    cn[j] = sj_vt_s8_pack_row(Y[j], D, Cw + (size_t)j * words, words);
                uint64_t want = 0, at_t = 0;
                static int expect[NC][NC];
                for (uint32_t i = 0; i < nq; i++)
                    for (int j = 0; j < NC; j++) {
                        int64_t d = 0;
                        for (uint32_t k = 0; k < D; k++)
                            d += ((int64_t)Qr[i][k] - Y[j][k]) * ((int64_t)Qr[i][k] - Y[j][k]);
                        const int in = (double)d <= T && (!self || (uint32_t)j > i);
                        expect[i][j] = in ? (int)d : -1;
                        want += (uint64_t)in;
                        at_t += in && (double)d == floor(T);
                    }
                sj_gpu_hit *hits = malloc((size_t)(want + 8) * sizeof *hits);
                const uint64_t count = emulate_v3_core(Qw, nq, 0, Cw, NC, 0, words, self, Ti, hits,
                                                       want + 8, NULL, emulate_mma_s8, qn, cn);
                int ok = count == want;
                for (uint64_t h = 0; h < count && h < want + 8 && ok; h++) {
                    const sj_gpu_hit x = hits[h];
                    ok = x.q < nq && x.c < NC && expect[x.q][x.c] == x.d;
                    if (ok)
                        expect[x.q][x.c] = -2; /* once */
                }
                CHECK(ok && (tk == 2 || self || at_t > 0),
                      "s8 l2sq D=%u self=%d T=%g: %llu hits, plain loop %llu (%llu at d == T)", D, self,
                      T, (unsigned long long)count, (unsigned long long)want, (unsigned long long)at_t);
                free(hits), free(Qw), free(Cw), free(qn), free(cn);
            }
    CHECK(sj_vt_s8_threshold(-1, 144) == -1 && sj_vt_s8_threshold(NAN, 144) == -1 &&
          sj_vt_s8_threshold(10.99, 144) == 10 && sj_vt_s8_threshold(1e300, 144) == 65025 * 144,
          "int32 thresholds: below 0, NaN, fractional, above the largest l2sq");
}

/* The append on partial warps: whatever the active mask (lanes past a tile
 * edge that have exited, one lane, none kept), across warps whose atomics
 * land in a random order, no hit is lost or duplicated, an inactive lane
 * never writes, a warp's hits are consecutive in lane order, and past the
 * capacity nothing is written while the count stays true. */
static void test_warp_append_partial(void)
{
    enum { WARPS = 64 };
    static const uint32_t masks[] = {0xffffffffu, 0x0000ffffu, 0x00000001u, 0x80000000u,
                                     0x7fffffffu, 0xaaaaaaaau, 0x0f0f0f00u};
    for (int round = 0; round < 40; round++) {
        uint32_t active[WARPS];
        int keep[WARPS][32], order[WARPS];
        sj_gpu_hit hit[WARPS][32];
        uint64_t total = 0;
        for (int w = 0; w < WARPS; w++) {
            active[w] = w % 3 ? masks[(size_t)(w + round) % (sizeof masks / sizeof *masks)]
                              : (uint32_t)t_rand();
            for (int lane = 0; lane < 32; lane++) {
                keep[w][lane] = round % 5 == 0 ? 1 : (int)(t_rand() % 3 == 0);
                hit[w][lane] = (sj_gpu_hit){(uint32_t)w, (uint32_t)lane, w * 32 + lane};
                total += (uint64_t)((active[w] >> lane & 1u) && keep[w][lane]);
            }
            order[w] = w;
        }
        for (int w = WARPS; w > 1; w--) { /* the order in which the warps' atomics land */
            int j = (int)(t_rand() % (uint64_t)w), x = order[w - 1];
            order[w - 1] = order[j], order[j] = x;
        }
        const uint64_t cap = round % 2 ? total : total / 2;
        static sj_gpu_hit hits[WARPS * 32];
        for (uint64_t i = 0; i < total; i++)
            hits[i] = (sj_gpu_hit){0xffffffffu, 0xffffffffu, -1};
        uint64_t count = 0;
        g_shfl_from_inactive = 0;
        for (int i = 0; i < WARPS; i++) {
            const int w = order[i];
            emulate_warp_append(active[w], keep[w], hit[w], hits, &count, cap);
        }
        int ok = count == total && g_shfl_from_inactive == 0;
        static int written[WARPS][32];
        memset(written, 0, sizeof written);
        int prev_w = -1, prev_lane = -1;
        for (uint64_t s = 0; s < SJ_MIN(count, cap); s++) {
            const sj_gpu_hit x = hits[s];
            if (x.q >= WARPS || x.c >= 32) {
                ok = 0; /* a slot below the capacity left empty */
                continue;
            }
            ok &= (active[x.q] >> x.c & 1u) && keep[x.q][x.c]; /* only active kept lanes */
            ok &= written[x.q][x.c]++ == 0;                    /* once */
            if ((int)x.q == prev_w)
                ok &= (int)x.c > prev_lane; /* a warp's hits in lane order */
            prev_w = (int)x.q, prev_lane = (int)x.c;
        }
        for (uint64_t s = cap; s < total; s++)
            ok &= hits[s].q == 0xffffffffu; /* nothing past the capacity */
        uint64_t n_written = 0;
        for (int w = 0; w < WARPS; w++)
            for (int lane = 0; lane < 32; lane++)
                n_written += (uint64_t)written[w][lane];
        ok &= n_written == SJ_MIN(total, cap);
        CHECK(ok, "partial-warp append round %d: count %llu of %llu, cap %llu", round,
              (unsigned long long)count, (unsigned long long)total, (unsigned long long)cap);
    }
}

static void test_keep(void)
{
    /* distance == threshold is a match, threshold + 1 is not */
    CHECK(sj_tile_keep(0, 0, 10, 100, 0, 10, 0, 31, 31), "d == T kept");
    CHECK(!sj_tile_keep(0, 0, 10, 100, 0, 10, 0, 32, 31), "d == T+1 dropped");
    CHECK(!sj_tile_keep(0, 10, 10, 100, 0, 10, 0, 0, 31), "q == nq dropped");
    CHECK(!sj_tile_keep(0, 9, 10, 100, 10, 10, 0, 0, 31), "c == nc dropped");
    CHECK(sj_tile_keep(0, 9, 10, 100, 9, 10, 0, 0, 31), "last row kept");
    /* self-join: only corpus rows after the query row */
    CHECK(!sj_tile_keep(5, 3, 10, 5, 3, 10, 1, 0, 31), "self: same row dropped");
    CHECK(!sj_tile_keep(5, 4, 10, 5, 3, 10, 1, 0, 31), "self: earlier corpus row dropped");
    CHECK(sj_tile_keep(5, 3, 10, 5, 4, 10, 1, 0, 31), "self: later corpus row kept");
    CHECK(sj_tile_keep(100, 0, 10, 0, 101, 200, 1, 0, 31), "self across tiles by global rows");
    CHECK(!sj_tile_keep(100, 1, 10, 0, 101, 200, 1, 0, 31), "self across tiles, equal global rows");
}

/* Emulated launches: warps append their hits through sj_warp_slot into a
 * buffer of a given capacity; an overflowing run reports the true count and
 * a redo with that capacity returns every hit. */
static int append_all(const uint32_t *ballots, int n_warps, uint64_t cap, uint64_t *slots_used,
                      int *written)
{
    uint64_t count = 0;
    memset(written, 0, sizeof(int) * 32 * (size_t)n_warps);
    for (int w = 0; w < n_warps; w++) {
        uint64_t base = count;
        count += (uint64_t)__builtin_popcount(ballots[w]);
        for (int lane = 0; lane < 32; lane++)
            if (ballots[w] >> lane & 1) {
                uint64_t slot = base + (uint64_t)sj_warp_slot(ballots[w], lane);
                if (sj_slot_fits(slot, cap)) {
                    slots_used[slot]++;
                    written[w * 32 + lane] = 1;
                }
            }
    }
    return (int)count;
}

static void test_compaction(void)
{
    enum { WARPS = 40 };
    uint32_t ballots[WARPS];
    int total = 0;
    for (int w = 0; w < WARPS; w++) {
        ballots[w] = (uint32_t)t_rand() & (uint32_t)t_rand();
        if (w % 7 == 0) ballots[w] = 0xffffffffu;
        if (w % 11 == 0) ballots[w] = 0;
        total += __builtin_popcount(ballots[w]);
    }
    static uint64_t slots[WARPS * 32];
    static int written[WARPS * 32];
    memset(slots, 0, sizeof slots);
    int count = append_all(ballots, WARPS, 100, slots, written);
    int n_written = 0, dense = 1;
    for (int i = 0; i < WARPS * 32; i++)
        n_written += written[i];
    for (int i = 0; i < 100; i++)
        dense &= slots[i] == 1;
    CHECK(count == total && total > 100, "overflowed run still counts every hit (%d)", count);
    CHECK(n_written == 100 && dense, "only capacity hits written, each slot once");
    memset(slots, 0, sizeof slots);
    count = append_all(ballots, WARPS, (uint64_t)count, slots, written);
    n_written = 0;
    dense = 1;
    for (int i = 0; i < WARPS * 32; i++)
        n_written += written[i];
    for (int i = 0; i < count; i++)
        dense &= slots[i] == 1;
    CHECK(n_written == total && dense, "redo with the reported count keeps every hit");
}

/* ---- the CUDA backends' size arithmetic (host/join/gpu_plan.h) ---- */

/* Corpora beyond 2^32 rows on one device: every chunk fits a launch's uint32
 * row indices, rounded up to the largest block (v2: 512 rows), and the chunks
 * cover the corpus exactly. The old sizing (rows that fit the budget) made a
 * 5e9-row chunk, which (uint32_t) cut to 705,032,704 rows. */
static void test_chunk_rows(void)
{
    static const struct { int64_t rows, budget, row_bytes; } cases[] = {
        {5000000000LL, 1LL << 40, 12}, {SJ_GPU_MAX_LAUNCH_ROWS, 1LL << 40, 36},
        {SJ_GPU_MAX_LAUNCH_ROWS + 1, 1LL << 40, 36}, {(1LL << 32) + 7, 1LL << 44, 8},
        {1000, 500 * 40, 36}, {10, 1, 36}, {1, 1LL << 40, 36}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int64_t chunk = sj_gpu_chunk_rows(cases[k].rows, cases[k].budget, cases[k].row_bytes);
        int ok = chunk >= 1 && chunk <= SJ_GPU_MAX_LAUNCH_ROWS && chunk <= cases[k].rows;
        ok &= chunk == cases[k].rows || chunk == SJ_GPU_MAX_LAUNCH_ROWS ||
              chunk == SJ_MAX(cases[k].budget / cases[k].row_bytes, 1);
        int64_t covered = 0, launches = 0;
        for (int64_t first = 0; first < cases[k].rows; first += chunk, launches++) {
            const int64_t nc = SJ_MIN(chunk, cases[k].rows - first);
            const uint32_t nc32 = (uint32_t)nc;
            ok &= (int64_t)nc32 == nc;
            /* the kernels' largest row index: whole blocks of 512 rows plus a
             * thread's offset, and the grid size, in uint32 */
            ok &= (uint64_t)sj_div_up_u32(nc32, 512) * 512 + 256 < (1ull << 32);
            ok &= (uint64_t)sj_div_up_u32(nc32, SJ_V3_BLOCK_C) == ((uint64_t)nc + SJ_V3_BLOCK_C - 1) / SJ_V3_BLOCK_C;
            covered += nc;
        }
        CHECK(ok && covered == cases[k].rows, "chunking %lld rows (budget %lld B, %lld B/row): %lld-row chunks, %lld launches",
              (long long)cases[k].rows, (long long)cases[k].budget, (long long)cases[k].row_bytes,
              (long long)chunk, (long long)launches);
    }
    CHECK(sj_gpu_chunk_rows(SJ_GPU_MAX_LAUNCH_ROWS + 1, 1LL << 40, 36) == SJ_GPU_MAX_LAUNCH_ROWS &&
          sj_gpu_chunk_rows(SJ_GPU_MAX_LAUNCH_ROWS, 1LL << 40, 36) == SJ_GPU_MAX_LAUNCH_ROWS,
          "the launch cap at its boundary");
}

/* The corpus rows a launch needs: clipped to the call's range, and in a
 * self-join after the sub-tile's first query (every pair c > q of the
 * sub-tile is inside); nothing when no row can pair. */
static void test_launch_rows(void)
{
    int64_t f, e;
    int ok = sj_gpu_launch_rows(0, 1000, 0, 1000, 0, 500, &f, &e) && f == 0 && e == 1000;
    ok &= sj_gpu_launch_rows(0, 1000, 0, 1000, 1, 500, &f, &e) && f == 501 && e == 1000;
    ok &= sj_gpu_launch_rows(0, 1000, 700, 900, 1, 500, &f, &e) && f == 700 && e == 900;
    ok &= sj_gpu_launch_rows(1000, 2000, 0, 5000, 1, 500, &f, &e) && f == 1000 && e == 2000;
    ok &= !sj_gpu_launch_rows(0, 1000, 0, 5000, 1, 999, &f, &e);  /* row 999 is the last: none after */
    ok &= sj_gpu_launch_rows(0, 1000, 0, 5000, 1, 998, &f, &e) && f == 999 && e == 1000;
    ok &= !sj_gpu_launch_rows(0, 1000, 1000, 5000, 0, 0, &f, &e); /* range past the chunk */
    CHECK(ok, "launch corpus rows: clipped, triangle, empty");
    /* exhaustive on small ranges against the pair rule itself */
    int exact = 1;
    for (int64_t chunk = 0; chunk < 6; chunk += 3)
        for (int64_t lo = 0; lo < 8; lo++)
            for (int64_t hi = lo; hi < 9; hi++)
                for (int64_t fq = 0; fq < 9; fq++)
                    for (int self = 0; self < 2; self++) {
                        const int64_t chunk_end = chunk + 3, nq = 2; /* queries fq, fq + 1 */
                        int any = sj_gpu_launch_rows(chunk, chunk_end, lo, hi, self, fq, &f, &e);
                        for (int64_t c = chunk; c < chunk_end; c++)
                            for (int64_t q = fq; q < fq + nq; q++) {
                                const int needed = c >= lo && c < hi && (!self || c > q);
                                exact &= !needed || (any && c >= f && c < e);
                            }
                        exact &= !any || (f >= SJ_MAX(chunk, lo) && e <= SJ_MIN(chunk_end, hi));
                    }
    CHECK(exact, "launch corpus rows cover every pair the rule keeps, within chunk and range");
}

/* Devices' shares of one call (sj_gpu_split_work): on small ranges against
 * per-row pair counts taken from the launch rule itself, the shares cover
 * [lo, hi) in order and each is within one row's pairs (<= nq) of total / k;
 * on a 10^9-row self-join block the first device takes a few more rows (its
 * first 65536 rows pair with fewer of the block's queries). */
static void test_split_work(void)
{
    int ok = 1;
    for (int k = 1; k <= 5; k++)
        for (int64_t lo = 0; lo < 12; lo += 5)
            for (int64_t hi = lo; hi < 40; hi += 7)
                for (int64_t q0 = 0; q0 < 30; q0 += 9)
                    for (int64_t nq = 0; nq < 20; nq += 6)
                        for (int self = 0; self < 2; self++) {
                            const int64_t sub = 4;
                            int64_t bound[6], total = 0, row_work[40] = {0};
                            sj_gpu_split_work(lo, hi, q0, nq, sub, self, k, bound);
                            for (int64_t sq = 0; sq < nq; sq += sub) {
                                int64_t f, e;
                                if (sj_gpu_launch_rows(lo, hi, lo, hi, self, q0 + sq, &f, &e))
                                    for (int64_t c = f; c < e; c++)
                                        row_work[c] += SJ_MIN(sub, nq - sq);
                            }
                            for (int64_t c = lo; c < hi; c++)
                                total += row_work[c];
                            ok &= bound[0] == lo && bound[k] == hi;
                            for (int i = 0; i < k; i++) {
                                int64_t share = 0;
                                for (int64_t c = bound[i]; c < bound[i + 1]; c++)
                                    share += row_work[c];
                                ok &= bound[i] <= bound[i + 1];
                                ok &= share * k <= total + (int64_t)k * nq &&
                                      share * k >= total - (int64_t)k * nq;
                                ok &= sj_gpu_work_before(lo, hi, q0, nq, sub, self, bound[i + 1]) -
                                          sj_gpu_work_before(lo, hi, q0, nq, sub, self, bound[i]) == share;
                            }
                        }
    CHECK(ok, "split by work: shares in order, each within nq pairs of total / k");
    /* 10^9 rows, the first block of 65536 queries, two devices */
    int64_t b[3];
    sj_gpu_split_work(0, 1000000000, 0, 65536, 8192, 1, 2, b);
    const int64_t w0 = sj_gpu_work_before(0, b[2], 0, 65536, 8192, 1, b[1]);
    const int64_t w = sj_gpu_work_before(0, b[2], 0, 65536, 8192, 1, b[2]);
    CHECK(b[1] > 500000000 && b[1] < 500000000 + 65536 && w0 * 2 - w <= 65536 &&
              w - w0 * 2 <= 65536,
          "a 10^9-row block on 2 devices: boundary %lld, shares %lld and %lld", (long long)b[1],
          (long long)w0, (long long)(w - w0));
}

/* Pinned staging: pieces of at most SJ_GPU_STAGE_BYTES cover a chunk as large
 * as an H200's budget (~98 GB) exactly. */
static void test_stage_rows(void)
{
    static const int64_t chunks[][2] = {{2700000000LL, 36}, {1, 36}, {1000, 36}, {5, 1LL << 26}};
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
        const int64_t rows = chunks[k][0], rb = chunks[k][1];
        const int64_t piece = sj_gpu_stage_rows(rows, rb);
        int ok = piece >= 1 && piece <= rows && (piece * rb <= SJ_GPU_STAGE_BYTES || piece == 1);
        ok &= piece == rows || piece * rb > SJ_GPU_STAGE_BYTES - rb; /* no smaller than needed */
        CHECK(ok, "staging %lld rows of %lld B: pieces of %lld rows", (long long)rows, (long long)rb,
              (long long)piece);
    }
}

/* A fake launch for sj_gpu_redo_bounded: hits[q][c] of a piece are counted,
 * and collected only when they fit the current buffer. */
typedef struct fake_launch {
    const uint8_t *hit; /* [nq][nc] */
    int64_t nc;
    uint64_t cap, max_cap_seen;
    int *collected;     /* [nq][nc] */
    int runs, lie;
} fake_launch;

static int fake_run(void *ctx, sj_gpu_piece p, uint64_t *count)
{
    fake_launch *f = ctx;
    uint64_t n = 0;
    f->runs++;
    for (int64_t q = p.q; q < p.q + p.nq; q++)
        for (int64_t c = p.c; c < p.c + p.nc; c++)
            n += f->hit[q * f->nc + c];
    if (f->lie && f->runs == 2)
        n++; /* a device that reports a different count on the rerun */
    *count = n;
    if (n <= f->cap)
        for (int64_t q = p.q; q < p.q + p.nq; q++)
            for (int64_t c = p.c; c < p.c + p.nc; c++)
                f->collected[q * f->nc + c] += f->hit[q * f->nc + c];
    return 0;
}

static int fake_grow(void *ctx, uint64_t capacity)
{
    fake_launch *f = ctx;
    f->cap = capacity;
    f->max_cap_seen = SJ_MAX(f->max_cap_seen, capacity);
    return 0;
}

/* Hit-buffer growth is capped: T = 128 on PDQ (half of all pairs) is split,
 * not given a 5e11-byte buffer; every hit is collected once; one query row
 * with more hits than the cap splits the corpus rows. */
static void test_redo_bounded(void)
{
    CHECK(sj_gpu_grown_capacity(40000000000ull, SJ_GPU_MAX_HITS) == 0,
          "T = 128 on PDQ (4e10 hits of one tile): split, not grown");
    CHECK(sj_gpu_grown_capacity(1000, SJ_GPU_MAX_HITS) == 1250 &&
          sj_gpu_grown_capacity(SJ_GPU_MAX_HITS, SJ_GPU_MAX_HITS) == SJ_GPU_MAX_HITS &&
          sj_gpu_grown_capacity(SJ_GPU_MAX_HITS + 1, SJ_GPU_MAX_HITS) == 0,
          "grown capacity at the cap's boundary");
    enum { NQ = 97, NC = 131 };
    static uint8_t hit[NQ * NC];
    static int collected[NQ * NC];
    for (int round = 0; round < 12; round++) {
        uint64_t total = 0;
        for (int q = 0; q < NQ; q++)
            for (int c = 0; c < NC; c++) {
                int dense = (round % 3 == 0) || (q == 5) || (q > 40 && q < 60 && c < 70);
                hit[q * NC + c] = dense ? (t_rand() % 4 != 0) : (t_rand() % 50 == 0);
                total += hit[q * NC + c];
            }
        memset(collected, 0, sizeof collected);
        const uint64_t max_hits = round % 2 ? 40 : 300;
        fake_launch f = {hit, NC, 8, 8, collected, 0, 0};
        sj_gpu_piece whole = {0, NQ, 0, NC};
        uint64_t count = 0, cap = f.cap;
        fake_run(&f, whole, &count);
        int rc = count > f.cap ? sj_gpu_redo_bounded(&f, whole, count, &cap, max_hits, fake_run, fake_grow)
                               : 0;
        int once = 1;
        for (int i = 0; i < NQ * NC; i++)
            once &= collected[i] == hit[i];
        CHECK(rc == 0 && once && f.max_cap_seen <= max_hits && cap == f.cap,
              "bounded redo round %d: %llu hits, buffer at most %llu of %llu, %d runs", round,
              (unsigned long long)total, (unsigned long long)f.max_cap_seen,
              (unsigned long long)max_hits, f.runs);
    }
    fake_launch liar = {hit, NC, 8, 8, collected, 0, 1};
    sj_gpu_piece whole = {0, NQ, 0, NC};
    uint64_t count = 0, cap = 8;
    fake_run(&liar, whole, &count);
    CHECK(sj_gpu_redo_bounded(&liar, whole, count, &cap, 1u << 20, fake_run, fake_grow) == -1,
          "a rerun with a different count is an error, not a silent loss");
}

/* The l1 kernel's staged queries fit shared memory: 32 rows up to 48 KiB
 * (u8:1536), fewer beyond the device's opt-in limit, none when one row
 * cannot fit. */
static void test_l1_block_queries(void)
{
    const uint64_t optin = 227 * 1024; /* H100/H200 */
    int ok = 1;
    for (int words = 1; words < 70000; words += words < 400 ? 1 : 97) {
        const int n = sj_vt_l1_block_queries(words, optin);
        ok &= n >= 0 && n <= SJ_VT_L1_QUERIES && (uint64_t)n * words * 4 <= optin;
        ok &= n == SJ_VT_L1_QUERIES || (uint64_t)(n + 1) * words * 4 > optin;
    }
    CHECK(ok, "l1 staged queries never exceed shared memory");
    CHECK(sj_vt_l1_block_queries(384, 48 * 1024) == 32 && sj_vt_l1_block_queries(385, 48 * 1024) == 31,
          "u8:1536 fits 48 KiB with 32 queries; u8:1540 does not");
    CHECK(sj_vt_l1_block_queries(385, optin) == 32 && sj_vt_l1_block_queries(59000, optin) == 0,
          "opt-in: u8:1540 keeps 32 queries; a row beyond the limit is refused");
}

/* --backend auto: a GPU without cuBLAS still serves binary kinds; vector
 * kinds go to the cpu with a notice instead of failing at open. */
static void test_auto_choice(void)
{
    const char *why = "x";
    CHECK(sj_backend_auto_choice(1, 0, 0, &why) == SJ_BACKEND_CPU && why && strstr(why, "cuBLAS"),
          "vector kind, GPU, no cuBLAS: cpu with a notice");
    CHECK(sj_backend_auto_choice(1, 1, 0, &why) == SJ_BACKEND_CUDA && !why,
          "binary kind, GPU, no cuBLAS: cuda");
    CHECK(sj_backend_auto_choice(2, 0, 1, &why) == SJ_BACKEND_CUDA && !why,
          "vector kind, GPU, cuBLAS: cuda");
    CHECK(sj_backend_auto_choice(0, 0, 1, &why) == SJ_BACKEND_CPU && !why, "no GPU: cpu");
    /* and through the library: auto on this machine never resolves to a
     * backend that cannot open for a vector kind */
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    sj_hash_type t;
    sj_hash_type_parse("f32:64", &t);
    const char *notice = NULL;
    sj_backend_kind k = sj_backend_resolve_for(&cfg, t, &notice);
    CHECK(k == SJ_BACKEND_CPU || (k == SJ_BACKEND_CUDA && sj_cuda_blas_loadable()),
          "auto for f32:64 resolves to %s", sj_backend_name(k));
}

/* ---- vector kernels (vector_tile.h) ---- */

static void test_vt_half(void)
{
    int ok = 1;
    for (uint32_t v = 0; v < 256; v++) {
        uint16_t h = sj_vt_half_of_u8(v);
        int e = (h >> 10) & 31, m = h & 1023;
        double x = h == 0 ? 0.0 : ldexp(1.0 + m / 1024.0, e - 15);
        ok &= (h >> 15) == 0 && x == (double)v;
    }
    CHECK(ok, "fp16 bits of 0..255 decode to the same integers");
}

static void test_vt_sad4(void)
{
    int ok = 1;
    for (int r = 0; r < 20000; r++) {
        uint32_t a = (uint32_t)t_rand(), b = r % 5 ? (uint32_t)t_rand() : a ^ (uint32_t)(t_rand() & 0x01010101u);
        int want = 0;
        for (int k = 0; k < 4; k++)
            want += abs((int)((a >> (8 * k)) & 255) - (int)((b >> (8 * k)) & 255));
        ok &= sj_vt_sad4(a, b) == want;
    }
    CHECK(ok, "packed-byte |a-b| sums");
    CHECK(sj_vt_sad4(0, 0xffffffffu) == 1020 && sj_vt_sad4(0x01020304u, 0x01020304u) == 0, "sad4 ends");
}

/* A float rounded to TF32 (10 fraction bits), to nearest or toward zero. */
static float tf32(float x, int truncate)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if (!truncate)
        u += 0x1000u; /* half of the dropped 13 bits */
    u &= ~0x1fffu;
    memcpy(&x, &u, 4);
    return x;
}

/* fp32 addition rounded toward zero (the worst case of a tensor-core sum). */
static float add_rz(float a, float b)
{
    double s = (double)a + (double)b;
    float f = (float)s;
    if (fabs((double)f) > fabs(s))
        f = nextafterf(f, 0.0f);
    return f;
}

/* ---- an emulated mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 ----
 *
 * From the PTX ISA's fragment tables for mma.m16n8k8 (section 9.7.14.5.7
 * "Matrix Fragments for mma.m16n8k8" in PTX ISA 9.x, 9.7.13.4.7 in older
 * releases: the .tf32 tables of A (Figure 72) and B (Figure 75) and the .f32
 * table of C/D (Figure 77)), not from hamming_tile.h or vector_tile.h.
 * With g = groupID = lane >> 2 and t = threadID_in_group = lane % 4, the
 * tables' text says, element i being register i (one .tf32 in a .b32):
 *   A (16 x 8, row): row = g for a0 and a2, g + 8 for a1 and a3
 *                    col = t for a0 and a1, t + 4 for a2 and a3
 *   B (8 x 8, col):  row = t for b0, t + 4 for b1;  col = g
 *   C, D (16 x 8):   row = g for c0 and c1, g + 8 for c2 and c3
 *                    col = 2t + (i & 1)
 * D[m][n] = C[m][n] + sum over k of A[m][k] B[k][n]. The instruction reads
 * only the TF32 bits of an operand; the kernel's rows are rounded already,
 * so an operand with any of its low 13 bits set is counted (g_tf32_raw).
 * The products are exact; the sum is formed by g_tf32_sum: 0 rounds the
 * (double) sum to nearest float; 1 adds in float in a random order, each
 * addition rounded toward zero (the worst rounding the measurements saw). */
static int g_tf32_sum;
static long g_tf32_raw;

static void ptx_tf32_a_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = (i == 0 || i == 2) ? g : g + 8;
    *col = (i == 0 || i == 1) ? t : t + 4;
}

static void ptx_tf32_b_elem(int lane, int i, int *row, int *col)
{
    const int g = lane >> 2, t = lane % 4;
    *row = i == 0 ? t : t + 4;
    *col = g;
}

static float bits_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static uint32_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void emulate_mma_tf32(const uint32_t a[32][4], const uint32_t b[32][2], const int32_t c[32][4],
                             int32_t d[32][4])
{
    double A[16][8], B[8][8];
    float C[16][8];
    for (int lane = 0; lane < 32; lane++) {
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_tf32_a_elem(lane, i, &row, &col);
            g_tf32_raw += (a[lane][i] & 0x1fffu) != 0;
            A[row][col] = bits_float(a[lane][i] & ~0x1fffu);
        }
        for (int i = 0; i < 2; i++) {
            int row, col;
            ptx_tf32_b_elem(lane, i, &row, &col);
            g_tf32_raw += (b[lane][i] & 0x1fffu) != 0;
            B[row][col] = bits_float(b[lane][i] & ~0x1fffu);
        }
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col); /* the C/D table is m16n8k256's */
            C[row][col] = bits_float((uint32_t)c[lane][i]);
        }
    }
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            if (g_tf32_sum == 0) {
                double s = C[m][n];
                for (int k = 0; k < 8; k++)
                    s += A[m][k] * B[k][n];
                C[m][n] = (float)s;
            } else {
                int order[9];
                for (int k = 0; k < 9; k++)
                    order[k] = k;
                for (int k = 8; k > 0; k--) {
                    int j = (int)(t_rand() % (uint64_t)(k + 1)), x = order[k];
                    order[k] = order[j], order[j] = x;
                }
                float s = 0.0f;
                for (int k = 0; k < 9; k++)
                    s = add_rz(s, order[k] == 8 ? C[m][n] : (float)(A[m][order[k]] * B[order[k]][n]));
                C[m][n] = s;
            }
        }
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            int row, col;
            ptx_c_elem(lane, i, &row, &col);
            d[lane][i] = (int32_t)float_bits(C[row][col]);
        }
}

/* The .tf32 tables as transcribed cover A and B once each. */
static void test_ptx_tf32_tables(void)
{
    CHECK(covers_once(ptx_tf32_a_elem, 4, 16, 8) && covers_once(ptx_tf32_b_elem, 2, 8, 8), "the PTX m16n8k8 .tf32 tables as transcribed cover A and B once each");
}

/* cvt.rna.tf32.f32 against an oracle written with frexp: round the
 * significand to 11 bits, halves away from zero. */
static float rna_oracle(float x)
{
    int e;
    const double m = frexp((double)x, &e); /* x = m 2^e, 0.5 <= |m| < 1 */
    const double r = trunc(fabs(ldexp(m, 11)) + 0.5);
    return (float)copysign(ldexp(r, e - 11), x);
}

static void test_tf32_rna(void)
{
    int ok = 1;
    for (int r = 0; r < 200000; r++) {
        uint32_t u = (uint32_t)t_rand();
        if (r % 4 == 0)
            u = (u & ~0x1fffu) | 0x1000u; /* a tie */
        if (r % 4 == 1)
            u |= 0x007fe000u; /* a carry into the exponent */
        if ((u & 0x7f800000u) == 0x7f800000u || (u & 0x7f800000u) == 0)
            continue; /* inf, NaN, subnormals: not in this oracle */
        const float x = bits_float(u), got = sj_vt_tf32_rna(x), want = rna_oracle(x);
        ok &= float_bits(got) == float_bits(want) || (isinf(want) && isinf(got));
    }
    CHECK(ok, "TF32 rounding (rna) agrees with the frexp oracle, ties and carries included");
    CHECK(sj_vt_tf32_rna(1.0f + ldexpf(1.0f, -11)) == 1.0f + ldexpf(1.0f, -10) &&
              sj_vt_tf32_rna(-(1.0f + ldexpf(1.0f, -11))) == -(1.0f + ldexpf(1.0f, -10)) &&
              sj_vt_tf32_rna(1.0f + ldexpf(1.0f, -12)) == 1.0f,
          "rna: a tie goes away from zero, below a tie goes down");
}

/* The exact distance of rows x, y [D] of floats, from the definitions
 * (README "Metrics"), in double, summed in order. */
static double f32_distance(int metric, const float *x, const float *y, uint32_t D)
{
    double dot = 0, nx = 0, ny = 0, l2 = 0;
    for (uint32_t i = 0; i < D; i++) {
        dot += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
        l2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    return metric == SJ_VT_L2SQ ? l2 : metric == SJ_VT_IP ? 1.0 - dot : 1.0 - dot / sqrt(nx * ny);
}

/* Rows [n][D] as the TF32 kernel takes them: the converted floats (cosine:
 * unit vectors, scaled in double as sj_vec_to_float does), packed by
 * sj_vt_tf32_pack_row into [n][ld], and their terms. */
static void tf32_pack(int metric, int query, double T, const float *rows, uint32_t n, uint32_t D,
                      float *out, sj_vt_tf32_term *terms)
{
    const uint32_t ld = sj_vt_tf32_ld(D);
    float *x = malloc(D * sizeof *x);
    for (uint32_t i = 0; i < n; i++) {
        const float *r = rows + (size_t)i * D;
        double sq = 0;
        for (uint32_t j = 0; j < D; j++)
            sq += (double)r[j] * r[j];
        const double norm = sqrt(sq), scale = metric == SJ_VT_COSINE && norm > 0 ? 1.0 / norm : 1.0;
        for (uint32_t j = 0; j < D; j++)
            x[j] = (float)(r[j] * scale);
        terms[i] = sj_vt_tf32_pack_row(x, D, ld, norm, metric, query, T, out + (size_t)i * ld);
    }
    free(x);
}

/* One emulated vec_tf32 launch: the kernel's tiling, k loop and loaders
 * (emulate_v3_warp_acc over the packed rows), terms loaded once per lane
 * (sj_vt_tf32_load_terms), one vote per warp (sj_vt_tf32_lane_any, OR over
 * the lanes), then the per-pair test (sj_vt_tf32_pair), the keep rule and
 * the emulated append. Returns the count. */
static uint64_t emulate_tf32_launch(const float *Q, uint32_t nq, int64_t q0, const sj_vt_tf32_term *qt,
                                    const float *C, uint32_t nc, int64_t c0, const sj_vt_tf32_term *ct,
                                    int ld, int self, sj_gpu_hit *hits, uint64_t capacity)
{
    uint64_t count = 0;
    static int32_t acc[SJ_V3_M][SJ_V3_N][32][4];
    static sj_vt_tf32_lane_terms terms[32];
    static float lane_acc[32][SJ_V3_M][SJ_V3_N][4];
    for (uint32_t by = 0; by < sj_div_up_u32(nq, SJ_V3_BLOCK_Q); by++)
        for (uint32_t bx = 0; bx < sj_div_up_u32(nc, SJ_V3_BLOCK_C); bx++)
            for (int warp = 0; warp < SJ_V3_WARPS; warp++) {
                const uint32_t q_warp = sj_v3_warp_q(by, warp), c_warp = sj_v3_warp_c(bx, warp);
                for (int lane = 0; lane < 32; lane++)
                    sj_vt_tf32_load_terms(&terms[lane], qt, q_warp, nq, ct, c_warp, nc, lane);
                emulate_v3_warp_acc((const uint32_t *)Q, nq, (const uint32_t *)C, nc, ld, q_warp,
                                    c_warp, emulate_mma_tf32, acc);
                int any = 0;
                for (int lane = 0; lane < 32; lane++) {
                    for (int m = 0; m < SJ_V3_M; m++)
                        for (int n = 0; n < SJ_V3_N; n++)
                            for (int r = 0; r < 4; r++)
                                lane_acc[lane][m][n][r] = bits_float((uint32_t)acc[m][n][lane][r]);
                    any |= sj_vt_tf32_lane_any(lane_acc[lane], &terms[lane]);
                }
                if (!any)
                    continue;
                for (int m = 0; m < SJ_V3_M; m++)
                    for (int n = 0; n < SJ_V3_N; n++)
                        for (int r = 0; r < 4; r++) {
                            int keep[32];
                            sj_gpu_hit hit[32];
                            for (int lane = 0; lane < 32; lane++) {
                                uint32_t q, c;
                                const int within = sj_vt_tf32_pair(q_warp, c_warp, lane, m, n, r,
                                                                   lane_acc[lane][m][n][r],
                                                                   &terms[lane], &q, &c);
                                keep[lane] = sj_tile_keep(q0, q, nq, c0, c, nc, self, !within, 0);
                                hit[lane] = (sj_gpu_hit){q, c, 0};
                            }
                            emulate_warp_append(0xffffffffu, keep, hit, hits, &count, capacity);
                        }
            }
    return count;
}

/* A join of X [nq][D] x Y [nc][D] through the emulated kernel against the
 * plain double loop: every pair with d <= T is a hit, once; no hit is
 * outside the tile or against the self-join order. *extra gets the hits
 * above T (the reference drops them). Returns 1 when all holds. */
static int check_tf32_join(int metric, const float *X, uint32_t nq, const float *Y, uint32_t nc,
                           uint32_t D, int self, double T, uint64_t *n_match, uint64_t *extra)
{
    const uint32_t ld = sj_vt_tf32_ld(D);
    float *Qp = malloc((size_t)nq * ld * 4), *Cp = malloc((size_t)nc * ld * 4);
    sj_vt_tf32_term *qt = malloc(nq * sizeof *qt), *ct = malloc(nc * sizeof *ct);
    tf32_pack(metric, 1, T, X, nq, D, Qp, qt);
    tf32_pack(metric, 0, T, Y, nc, D, Cp, ct);
    int *want = malloc((size_t)nq * nc * sizeof *want);
    uint64_t n = 0;
    for (uint32_t i = 0; i < nq; i++)
        for (uint32_t j = 0; j < nc; j++) {
            const int in = f32_distance(metric, X + (size_t)i * D, Y + (size_t)j * D, D) <= T &&
                           (!self || j > i);
            want[(size_t)i * nc + j] = in;
            n += (uint64_t)in;
        }
    const uint64_t cap = (uint64_t)nq * nc + 1;
    sj_gpu_hit *hits = malloc((size_t)cap * sizeof *hits);
    const uint64_t count = emulate_tf32_launch(Qp, nq, self ? 0 : 1000, qt, Cp, nc, self ? 0 : 5000, ct,
                                               (int)ld, self, hits, cap);
    int ok = count < cap;
    uint64_t found = 0;
    *extra = 0;
    for (uint64_t h = 0; h < count && ok; h++) {
        const sj_gpu_hit x = hits[h];
        ok = x.q < nq && x.c < nc && (!self || x.c > x.q) && want[(size_t)x.q * nc + x.c] != 2;
        if (!ok)
            break;
        found += want[(size_t)x.q * nc + x.c] == 1;
        *extra += want[(size_t)x.q * nc + x.c] == 0;
        want[(size_t)x.q * nc + x.c] = want[(size_t)x.q * nc + x.c] == 1 ? 2 : 3;
    }
    *n_match = n;
    free(Qp), free(Cp), free(qt), free(ct), free(want), free(hits);
    return ok && found == n;
}

/* f32 joins through the emulated TF32 kernel against plain double loops:
 * cosine, ip and l2sq; D across the 8 of a k-step (1, 7, 8, 9, 33, 64);
 * zero rows (ip, l2sq); ragged tiles (35 x 70, self 70); both sums of the emulated instruction;
 * T the distance of an actual pair (d == T must match); and the margin not
 * so loose that most pairs become candidates. */
static void test_tf32_emulated(void)
{
    static const uint32_t dims[] = {1, 7, 8, 9, 33, 64};
    static const int metrics[] = {SJ_VT_COSINE, SJ_VT_IP, SJ_VT_L2SQ};
    enum { NQ = 35, NC = 70 };
    g_tf32_raw = 0;
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (size_t mi = 0; mi < 3; mi++)
            for (int self = 0; self < 2; self++) {
                const uint32_t D = dims[di];
                const int metric = metrics[mi];
                g_tf32_sum = (int)((di + mi + (size_t)self) % 2);
                float *X = malloc((size_t)NQ * D * 4), *Y = malloc((size_t)NC * D * 4);
                for (uint32_t i = 0; i < NQ * D; i++)
                    X[i] = (float)((double)(t_rand() % 20001) / 10000.0 - 1.0);
                for (uint32_t j = 0; j < NC; j++) /* near copies of queries */
                    for (uint32_t k = 0; k < D; k++)
                        Y[j * D + k] = X[(j % NQ) * D + k] +
                                       (float)((double)(t_rand() % 2001) / 10000.0 - 0.1) * (float)(j % 4);
                if (metric != SJ_VT_COSINE) /* a zero row (cosine rejects them earlier) */
                    for (uint32_t k = 0; k < D; k++)
                        X[k] = Y[5 * D + k] = 0.0f;
                const float *Qr = self ? Y : X;
                const uint32_t nq = self ? NC : NQ;
                /* T: the distance of the pair (2, 2 + NQ) (or (2, 37) in a self-join) */
                const double T = f32_distance(metric, Qr + 2 * D, Y + (2 + NQ) * D, D);
                uint64_t n = 0, extra = 0;
                const int ok = check_tf32_join(metric, Qr, nq, Y, NC, D, self, T, &n, &extra);
                CHECK(ok && n > 0 && extra <= (uint64_t)nq * NC / 4,
                      "tf32 emulated metric %d D=%u self=%d sum %d T=%.17g: %llu pairs, %llu extra candidates",
                      metric, D, self, g_tf32_sum, T, (unsigned long long)n, (unsigned long long)extra);
                free(X), free(Y);
            }
    CHECK(g_tf32_raw == 0, "every operand the kernel loads is a TF32 value (%ld are not)", g_tf32_raw);
}

/* The bound at its worst: components 1 + 2^-11 (a tie, rounded up to
 * 1 + 2^-10) against -(1 + 2^-11), so each product is off by ~2^-10 of
 * itself in the direction that makes the pair look farther (the dot product
 * more negative: larger ip and l2sq distances); ip and l2sq with
 * T the exact distance (a match), D = 1 .. 64; and rows with the same
 * norm near 2^60 and beyond (sent whole to the reference). */
static void test_tf32_bound_worst(void)
{
    static const uint32_t dims[] = {1, 8, 9, 64};
    int ok = 1;
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (int metric = SJ_VT_L2SQ; metric <= SJ_VT_IP; metric += SJ_VT_IP - SJ_VT_L2SQ)
            for (int sum = 0; sum < 2; sum++) {
                const uint32_t D = dims[di];
                float *X = malloc(D * 4), *Y = malloc(D * 4);
                for (uint32_t k = 0; k < D; k++)
                    X[k] = 1.0f + ldexpf(1.0f, -11), Y[k] = -X[k];
                g_tf32_sum = sum;
                const double T = f32_distance(metric, X, Y, D);
                uint64_t n = 0, extra = 0;
                ok &= check_tf32_join(metric, X, 1, Y, 1, D, 0, T, &n, &extra) && n == 1;
                free(X), free(Y);
            }
    CHECK(ok, "the TF32 bound covers operands rounded at their worst (ties away from zero)");
    /* rows of norm ~2^64 whose products overflow float: candidates all */
    enum { N = 12, D = 16 };
    static float H[N][D], Q[N][D];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            H[i][j] = ldexpf((float)(1 + (i * 5 + j * 3) % 8), 62);
        if (i == 5)
            H[i][0] = -H[i][0];
        memcpy(Q[i], H[i], sizeof Q[i]);
        Q[i][i % D] = ldexpf(3.0f, 62);
    }
    for (int metric = SJ_VT_L2SQ; metric <= SJ_VT_IP; metric += SJ_VT_IP - SJ_VT_L2SQ)
        for (int sum = 0; sum < 2; sum++) {
            g_tf32_sum = sum;
            const double T = f32_distance(metric, H[4], H[7], D);
            uint64_t n1 = 0, n2 = 0, extra = 0;
            const int ok1 = check_tf32_join(metric, &H[0][0], N, &H[0][0], N, D, 1, T, &n1, &extra);
            const int ok2 = check_tf32_join(metric, &Q[0][0], N, &H[0][0], N, D, 0, T, &n2, &extra);
            CHECK(ok1 && ok2 && n1 > 0 && n2 > 0, "tf32 metric %d sum %d, rows near 2^64: %llu + %llu pairs",
                  metric, sum, (unsigned long long)n1, (unsigned long long)n2);
        }
    /* one pair whose products overflow float with both signs (a float sum
     * of them is inf - inf = NaN): it matches at T = its distance */
    float x[D], y[D];
    for (int j = 0; j < D; j++)
        x[j] = y[j] = ldexpf(1.0f, 64);
    x[0] = -x[0];
    for (int metric = SJ_VT_L2SQ; metric <= SJ_VT_IP; metric += SJ_VT_IP - SJ_VT_L2SQ)
        for (int sum = 0; sum < 2; sum++) {
            g_tf32_sum = sum;
            uint64_t n = 0, extra = 0;
            const int ok1 = check_tf32_join(metric, x, 1, y, 1, D, 0, f32_distance(metric, x, y, D), &n, &extra);
            CHECK(ok1 && n == 1, "tf32 metric %d sum %d: a pair whose float products overflow with both signs",
                  metric, sum);
        }
    CHECK(sj_vt_tf32_wide(SJ_VT_L2SQ, ldexp(1.0, 60)) == 0 && sj_vt_tf32_wide(SJ_VT_IP, ldexp(1.0, 61)) &&
              !sj_vt_tf32_wide(SJ_VT_COSINE, 1e30),
          "wide rows: above 2^60 for ip and l2sq; never for cosine (unit vectors)");
}

/* The test itself at its boundary: dot == (h_q + h_c) - e_q e_c passes,
 * one float below does not, NaN never does. */
static void test_tf32_within(void)
{
    const sj_vt_tf32_term q = {1.5f, 0.5f}, c = {0.75f, 0.5f}; /* 2.25 - 0.25 = 2 */
    CHECK(sj_vt_tf32_within(2.0f, q, c) && !sj_vt_tf32_within(nextafterf(2.0f, 0.0f), q, c) &&
              !sj_vt_tf32_within(NAN, q, c),
          "tf32 test: at the bound passes, one float below does not, NaN does not");
    const sj_vt_tf32_term wide = {-INFINITY, 0.0f};
    CHECK(sj_vt_tf32_within(0.0f, wide, c) && sj_vt_tf32_within(0.0f, q, (sj_vt_tf32_term){-INFINITY, 0.0f}),
          "a wide row (zeros, h = -inf) makes every pair a candidate");
}

static void test_vt_margin(void)
{
    static const uint32_t dims[] = {1, 7, 144, 512, 2048};
    int ok = 1;
    double worst = 0;
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        const uint32_t D = dims[k];
        float *x = malloc(D * sizeof *x), *y = malloc(D * sizeof *y);
        uint32_t *order = malloc(D * sizeof *order);
        for (int r = 0; r < 60; r++) {
            int tf = r % 2, truncate = (r / 2) % 2, metric = r % 3 == 0 ? SJ_VT_COSINE : r % 3 == 1 ? SJ_VT_IP : SJ_VT_L2SQ;
            double nx = 0, ny = 0;
            for (uint32_t i = 0; i < D; i++) {
                x[i] = (float)((double)(t_rand() % 20001) / 10000.0 - 1.0);
                y[i] = (float)(x[i] + ((double)(t_rand() % 2001) / 10000.0 - 0.1));
                nx += (double)x[i] * x[i], ny += (double)y[i] * y[i];
                order[i] = i;
            }
            for (uint32_t i = D; i > 1; i--) { /* a random summation order */
                uint32_t j = (uint32_t)(t_rand() % i), t = order[i - 1];
                order[i - 1] = order[j], order[j] = t;
            }
            double na = sqrt(nx), nb = sqrt(ny), exact = 0, acc_d = 0;
            float acc = 0;
            for (uint32_t i = 0; i < D; i++) {
                uint32_t j = order[i];
                float a = metric == SJ_VT_COSINE ? (float)(x[j] / na) : x[j];
                float b = metric == SJ_VT_COSINE ? (float)(y[j] / nb) : y[j];
                exact += metric == SJ_VT_COSINE ? (x[j] / na) * (y[j] / nb) : (double)x[j] * y[j];
                if (tf)
                    a = tf32(a, truncate), b = tf32(b, truncate);
                acc = truncate ? add_rz(acc, (float)((double)a * b)) : acc + (float)((double)a * b);
                acc_d += (double)a * b;
            }
            (void)acc_d;
            double gamma = sj_vt_gamma(D, tf ? 1.0 / 1024.0 : 0.0); /* as backend_cuda_vec.c */
            double err = fabs(sj_vt_approx(metric, acc, na, nb) - sj_vt_approx(metric, exact, na, nb));
            double margin = sj_vt_margin(metric, gamma, na, nb);
            worst = fmax(worst, err / margin);
            ok &= err <= margin * 0.5; /* half the margin: twice the bound holds */
        }
        free(x), free(y), free(order);
    }
    CHECK(ok, "emulated GPU dot products stay within the margin (worst %.3f of it)", worst);
}

static void test_vt_candidate(void)
{
    const double T = 0.25, m = 1e-3;
    CHECK(sj_vt_candidate(0, 0, 1, 100, 0, 1, 0, T + m, T, m), "approx == T + margin is a candidate");
    CHECK(!sj_vt_candidate(0, 0, 1, 100, 0, 1, 0, nextafter(T + m, 1), T, m), "just above is not");
    CHECK(!sj_vt_candidate(0, 0, 1, 100, 0, 1, 0, NAN, T, m), "NaN is never a candidate");
    CHECK(!sj_vt_candidate(0, 1, 1, 0, 0, 4, 0, 0, T, m) && !sj_vt_candidate(0, 0, 4, 0, 4, 4, 0, 0, T, m),
          "outside the tile");
    CHECK(!sj_vt_candidate(10, 0, 1, 5, 5, 8, 1, 0, T, m) && sj_vt_candidate(10, 0, 1, 5, 6, 8, 1, 0, T, m),
          "self-join: only corpus rows after the query (c0 + c > q0 + q)");
}

/* ---- the PTX tables as transcribed, against CUTLASS's CuTe layouts ----
 *
 * A second, independent source for every fragment table above: the thread-
 * value layouts of CuTe's MMA_Traits (CUTLASS include/cute/atom/
 * mma_traits_sm80.hpp: SM80_16x8x256_S32U1U1S32_TN_XORPOPC, whose ANDPOPC
 * twin inherits it; SM80_16x8x32_S32S8S8S32_TN; SM80_16x8x8_F32TF32TF32F32_TN;
 * SM80_16x8_Row for C), copied here as shape and stride numbers only. A TV
 * layout maps (thread, value) to an offset in the operand tile, column-major:
 * m + M k for A (M x K), n + N k for B (N x K), m + M n for C. Both modes are
 * split column-major: thread t = t0 + 4 t1, value v = v0 + s0 v1 + s0 s1 v2;
 * value v is the PTX fragment element i (bit, byte or register order). */
typedef struct cute_tv {
    const char *what;
    int rows;              /* M for A and C, N for B */
    int t_stride[2];       /* thread shape (4, 8) */
    int nv, v_shape[3], v_stride[3];
    void (*ptx)(int lane, int i, int *row, int *col);
    int b;                 /* 1: a B operand (ptx gives row = k, col = n) */
} cute_tv;

static int cute_offset(const cute_tv *L, int lane, int v)
{
    int off = (lane % 4) * L->t_stride[0] + (lane / 4) * L->t_stride[1];
    for (int m = 0; m < 3 && L->v_shape[m]; m++) {
        off += (v % L->v_shape[m]) * L->v_stride[m];
        v /= L->v_shape[m];
    }
    return off;
}

static void test_ptx_tables_against_cute(void)
{
    static const cute_tv layouts[] = {
        {"m16n8k256 .b1 A", 16, {512, 1}, 128, {32, 2, 2}, {16, 8, 2048}, ptx_a_elem, 0},
        {"m16n8k256 .b1 B", 8, {256, 1}, 64, {32, 2, 0}, {8, 1024, 0}, ptx_b_elem, 1},
        {"m16n8k32 .s8 A", 16, {64, 1}, 16, {4, 2, 2}, {16, 8, 256}, ptx_s8_a_elem, 0},
        {"m16n8k32 .s8 B", 8, {32, 1}, 8, {4, 2, 0}, {8, 128, 0}, ptx_s8_b_elem, 1},
        {"m16n8k8 .tf32 A", 16, {16, 1}, 4, {2, 2, 0}, {8, 64, 0}, ptx_tf32_a_elem, 0},
        {"m16n8k8 .tf32 B", 8, {8, 1}, 2, {2, 0, 0}, {32, 0, 0}, ptx_tf32_b_elem, 1},
        {"m16n8 C/D (SM80_16x8_Row)", 16, {32, 1}, 4, {2, 2, 0}, {16, 8, 0}, ptx_c_elem, 0},
    };
    for (size_t k = 0; k < sizeof layouts / sizeof *layouts; k++) {
        const cute_tv *L = &layouts[k];
        int differ = 0;
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < L->nv; i++) {
                const int off = cute_offset(L, lane, i), mn = off % L->rows, kk = off / L->rows;
                int row, col;
                L->ptx(lane, i, &row, &col);
                differ += L->b ? (row != kk || col != mn) : (row != mn || col != kk);
            }
        CHECK(!differ, "%s: the PTX table as transcribed and CuTe's layout differ in %d elements",
              L->what, differ);
    }
}

int main(void)
{
    t_init_seed();
    test_distances();
    test_ptx_tables();
    test_v3_emulated();
    test_v3_within();
    test_v3_word_pairs();
    test_v3_epilogue_boundary();
    test_v3_vote();
    test_ptx_s8_tables();
    test_s8_l2sq_emulated();
    test_warp_append_partial();
    test_chunk_rows();
    test_stage_rows();
    test_launch_rows();
    test_split_work();
    test_redo_bounded();
    test_l1_block_queries();
    test_auto_choice();
    test_keep();
    test_compaction();
    test_vt_half();
    test_vt_sad4();
    test_vt_margin();
    test_vt_candidate();
    test_ptx_tf32_tables();
    test_tf32_rna();
    test_tf32_within();
    test_tf32_emulated();
    test_tf32_bound_worst();
    test_ptx_tables_against_cute();
    return t_finish("test_gpu_tiles");
}
