/* bench_vpopcnt.c - what one core of this CPU can do with AVX-512 VPOPCNTDQ,
 * for the op-count bound of the PDQ kernel (BENCHMARKS.md "The AVX-512
 * bound"). Rates are per second of the process's CPU time (clock()), so a
 * machine shared with other jobs still gives the core's own rate:
 *   1. vpopcntq zmm alone (12 independent chains);
 *   2. vpxorq zmm alone (12 independent chains);
 *   3. the cpu/avx512 kernel's inner step on an L1-resident tile: 8 corpus
 *      rows against one query, the first 2 of 4 words (xor with a load,
 *      popcount, add, compare to T, branch), as host/join/hamming_cpu.c
 *      runs it for nearly every group (the early exit);
 *   4. the same for ThreatExchange's flat.h step: all 4 words of 8 needles
 *      against one corpus row (4 xor, 4 popcount, 3 add, compare, branch).
 *   cc -O2 -march=native scripts/bench_vpopcnt.c -o /tmp/bench_vpopcnt && /tmp/bench_vpopcnt */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define CHAINS 12

static double cpu_now(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* 12 independent chains in registers, OP applied to each per iteration. */
#define CHAIN_BENCH(name, OP)                                                              \
    __attribute__((noinline)) static double name(long iters)                               \
    {                                                                                      \
        const __m512i m = _mm512_set1_epi64(0x5555aaaa3333ccccLL);                         \
        __m512i a = _mm512_set1_epi64(1), b = _mm512_set1_epi64(2), c = _mm512_set1_epi64(3), \
                d = _mm512_set1_epi64(4), e = _mm512_set1_epi64(5), f = _mm512_set1_epi64(6), \
                g = _mm512_set1_epi64(7), h = _mm512_set1_epi64(8), i = _mm512_set1_epi64(9), \
                j = _mm512_set1_epi64(10), k = _mm512_set1_epi64(11), l = _mm512_set1_epi64(12); \
        double t0 = cpu_now();                                                             \
        for (long r = 0; r < iters; r++) {                                                 \
            a = OP(a); b = OP(b); c = OP(c); d = OP(d); e = OP(e); f = OP(f);              \
            g = OP(g); h = OP(h); i = OP(i); j = OP(j); k = OP(k); l = OP(l);              \
        }                                                                                  \
        double t = cpu_now() - t0;                                                         \
        __m512i s = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)), \
                    _mm512_add_epi64(_mm512_add_epi64(e, f), _mm512_add_epi64(g, h)));     \
        s = _mm512_add_epi64(s, _mm512_add_epi64(_mm512_add_epi64(i, j), _mm512_add_epi64(k, l))); \
        if (_mm512_reduce_add_epi64(s) == 42)                                              \
            puts("");                                                                      \
        return (double)iters * CHAINS / t;                                                 \
    }
#define POP(x) _mm512_popcnt_epi64(x)
#define XOR(x) _mm512_xor_si512(x, m)
CHAIN_BENCH(popcnt_chains, POP)
CHAIN_BENCH(xor_chains, XOR)

/* The simjoin step: groups of 8 rows x 4 words (64-byte words of 8 lanes). */
__attribute__((noinline)) static double simjoin_step(long reps)
{
    enum { GROUPS = 128 }; /* 128 x 256 B = 32 KiB */
    static uint64_t tile[GROUPS * 4 * 8] __attribute__((aligned(64)));
    for (int i = 0; i < GROUPS * 32; i++)
        tile[i] = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    const __m512i q0 = _mm512_set1_epi64(0x0f0f0f0f0f0f0f0fLL), q1 = _mm512_set1_epi64(0x3c3c3c3c3c3c3c3cLL);
    const __m512i thr = _mm512_set1_epi64(31);
    long hits = 0;
    double t0 = cpu_now();
    for (long r = 0; r < reps; r++)
        for (int g = 0; g < GROUPS; g++) {
            const uint64_t *grp = tile + g * 32;
            __m512i d = _mm512_add_epi64(
                _mm512_popcnt_epi64(_mm512_xor_si512(q0, _mm512_load_si512((const void *)grp))),
                _mm512_popcnt_epi64(_mm512_xor_si512(q1, _mm512_load_si512((const void *)(grp + 8)))));
            if (_mm512_cmple_epu64_mask(d, thr))
                hits++;
        }
    double t = cpu_now() - t0;
    if (hits == 42)
        puts("");
    return (double)reps * GROUPS * 8 / t; /* pairs per CPU second */
}

/* ThreatExchange's step: one corpus row (4 words broadcast) against 8 needles. */
__attribute__((noinline)) static double te_step(long reps)
{
    enum { ROWS = 1024 }; /* 1024 x 32 B = 32 KiB */
    static uint64_t rows[ROWS * 4] __attribute__((aligned(64)));
    for (int i = 0; i < ROWS * 4; i++)
        rows[i] = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    __m512i n[4];
    for (int w = 0; w < 4; w++)
        n[w] = _mm512_set1_epi64(0x0f0f0f0f0f0f0f0fLL << w);
    const __m512i thr = _mm512_set1_epi64(256 - 31);
    long hits = 0;
    double t0 = cpu_now();
    for (long r = 0; r < reps; r++)
        for (int i = 0; i < ROWS; i++) {
            const uint64_t *h = rows + i * 4;
            __m512i p0 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_set1_epi64((long long)h[0]), n[0]));
            __m512i p1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_set1_epi64((long long)h[1]), n[1]));
            __m512i p2 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_set1_epi64((long long)h[2]), n[2]));
            __m512i p3 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_set1_epi64((long long)h[3]), n[3]));
            __m512i s = _mm512_add_epi64(_mm512_add_epi64(p0, p1), _mm512_add_epi64(p2, p3));
            if (_mm512_cmpge_epi64_mask(s, thr))
                hits++;
        }
    double t = cpu_now() - t0;
    if (hits == 42)
        puts("");
    return (double)reps * ROWS * 8 / t;
}

int main(void)
{
    double best[4] = {0};
    for (int r = 0; r < 3; r++) { /* best of 3 */
        double v[4] = {popcnt_chains(20000000), xor_chains(20000000), simjoin_step(200000), te_step(25000)};
        for (int k = 0; k < 4; k++)
            best[k] = v[k] > best[k] ? v[k] : best[k];
    }
    printf("vpopcntq zmm:                    %.3g per CPU second\n", best[0]);
    printf("vpxorq zmm:                      %.3g per CPU second\n", best[1]);
    printf("simjoin avx512 step (2 of 4 words): %.3g pairs per CPU second\n", best[2]);
    printf("ThreatExchange flat step (4 words): %.3g pairs per CPU second\n", best[3]);
    return 0;
}
