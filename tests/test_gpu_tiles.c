/* test_gpu_tiles.c - the GPU kernels' tile logic (kernels/hamming_tile.h),
 * compiled for the host and checked against oracles written here: the v1 and
 * v2 distance functions, the v3 mma.m16n8k256 fragment layout (an emulated
 * warp must reproduce every pair's distance), the epilogue's keep rule at
 * the boundaries, and warp-aggregated compaction with overflow; and the vector
 * kernels' arithmetic (kernels/vector_tile.h): uint8 -> fp16 bits, the
 * packed-byte L1 step, the candidate rule, and the error margin against an
 * emulated GPU dot product (TF32-rounded inputs, fp32 sums in a random order,
 * rounded toward zero). Runs on any machine; no GPU needed. */
#include "hamming_tile.h"
#include "vector_tile.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

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

/* Emulate one warp's mma.m16n8k256.and.popc from its fragments: gather A and
 * B back from the lanes' registers using the layout functions, check every
 * element is held exactly once, multiply, then scatter C to the lanes. */
static void test_mma_layout(void)
{
    for (int round = 0; round < 50; round++) {
        uint32_t A[16][8], B[8][8]; /* 16 query rows, 8 corpus rows, 256 bits each */
        for (int i = 0; i < 16; i++)
            random_words(A[i], 8, round % 4);
        for (int j = 0; j < 8; j++)
            random_words(B[j], 8, (round + 1) % 4);
        if (round % 5 == 0) /* plant a near duplicate */
            memcpy(B[3], A[round % 16], sizeof B[3]), B[3][2] ^= 0x5u;
        /* fragments, as the kernel loads them */
        uint32_t a[32][4], b[32][2];
        int seen_a[16][8] = {{0}}, seen_b[8][8] = {{0}}, seen_c[16][8] = {{0}};
        for (int lane = 0; lane < 32; lane++) {
            for (int r = 0; r < 4; r++) {
                int row = sj_mma_a_row(lane, r), word = sj_mma_a_word(lane, r);
                a[lane][r] = A[row][word];
                seen_a[row][word]++;
            }
            for (int r = 0; r < 2; r++) {
                int col = sj_mma_b_col(lane, r), word = sj_mma_b_word(lane, r);
                b[lane][r] = B[col][word];
                seen_b[col][word]++;
            }
        }
        int once = 1;
        for (int i = 0; i < 16; i++)
            for (int w = 0; w < 8; w++)
                once &= seen_a[i][w] == 1;
        for (int j = 0; j < 8; j++)
            for (int w = 0; w < 8; w++)
                once &= seen_b[j][w] == 1;
        CHECK(once, "every A and B word is held by exactly one lane register");
        /* The hardware: C[i][j] = sum over k of popc(A[i][k] & B[j][k]), from
         * whatever lane holds each word. Rebuild A and B from the fragments. */
        uint32_t RA[16][8], RB[8][8];
        for (int lane = 0; lane < 32; lane++) {
            for (int r = 0; r < 4; r++)
                RA[sj_mma_a_row(lane, r)][sj_mma_a_word(lane, r)] = a[lane][r];
            for (int r = 0; r < 2; r++)
                RB[sj_mma_b_col(lane, r)][sj_mma_b_word(lane, r)] = b[lane][r];
        }
        int ok = 1;
        for (int lane = 0; lane < 32; lane++)
            for (int r = 0; r < 4; r++) {
                int i = sj_mma_c_row(lane, r), j = sj_mma_c_col(lane, r);
                seen_c[i][j]++;
                int and_popc = 0;
                for (int w = 0; w < 8; w++)
                    and_popc += __builtin_popcount(RA[i][w] & RB[j][w]);
                int pa = 0, pb = 0;
                for (int w = 0; w < 8; w++)
                    pa += __builtin_popcount(A[i][w]), pb += __builtin_popcount(B[j][w]);
                ok &= sj_hamming_from_and(pa, pb, and_popc) == oracle(A[i], B[j], 8);
            }
        CHECK(ok, "v3 epilogue distances equal the oracle (round %d)", round);
        int c_once = 1;
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 8; j++)
                c_once &= seen_c[i][j] == 1;
        CHECK(c_once, "every C element is held by exactly one lane register");
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

int main(void)
{
    t_init_seed();
    test_distances();
    test_mma_layout();
    test_keep();
    test_compaction();
    test_vt_half();
    test_vt_sad4();
    test_vt_margin();
    test_vt_candidate();
    return t_finish("test_gpu_tiles");
}
