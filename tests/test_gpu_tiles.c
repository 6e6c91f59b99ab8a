/* test_gpu_tiles.c - the GPU kernels' tile logic (kernels/hamming_tile.h),
 * compiled for the host and checked against oracles written here: the v1 and
 * v2 distance functions, the v3 mma.m16n8k256 fragment layout (an emulated
 * warp must reproduce every pair's distance), the epilogue's keep rule at
 * the boundaries, and warp-aggregated compaction with overflow. Runs on any
 * machine; no GPU needed. */
#include "hamming_tile.h"
#include "test_util.h"

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

int main(void)
{
    t_init_seed();
    test_distances();
    test_mma_layout();
    test_keep();
    test_compaction();
    return t_finish("test_gpu_tiles");
}
