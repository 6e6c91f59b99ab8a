/* bench_bf16_peak.c - what one core of this CPU can do with 512-bit float
 * multiply-adds, for the peak of the f32 GEMM path (BENCHMARKS.md "f32:512 on
 * the CPU: a bf16 first pass"): VFMADD231PS zmm (16 multiply-adds) against
 * VDPBF16PS zmm (32: two bf16 products per float lane), 24 independent
 * accumulators each (the GEMM tile's), in registers only, best of 5
 * alternating rounds, per second of this thread's CPU time (a machine shared
 * with other jobs still gives the core's own rate).
 *   cc -O2 scripts/bench_bf16_peak.c -o /tmp/bench_bf16_peak && /tmp/bench_bf16_peak */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

__attribute__((target("avx512f,avx512bf16"))) int main(void)
{
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
        printf("bench_bf16_peak: this CPU has no AVX512_BF16\n");
        return 77;
    }
    __m512 acc[24];
    for (int i = 0; i < 24; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const __m512 a = _mm512_set1_ps(1e-20f), b = _mm512_set1_ps(1e-20f);
    const __m512bh ah = (__m512bh)_mm512_castps_si512(a), bh = (__m512bh)_mm512_castps_si512(b);
    const long n = 20000000;
    double fma_s = 1e9, bf16_s = 1e9;
    for (int round = 0; round < 5; round++) {
        const double t0 = cpu_seconds();
        for (long i = 0; i < n; i++) {
            _Pragma("GCC unroll 24") for (int j = 0; j < 24; j++) acc[j] = _mm512_fmadd_ps(a, b, acc[j]);
            __asm__ volatile("" ::"v"(a), "v"(b)); /* keep the loop */
        }
        const double t1 = cpu_seconds();
        for (long i = 0; i < n; i++) {
            _Pragma("GCC unroll 24") for (int j = 0; j < 24; j++) acc[j] = _mm512_dpbf16_ps(acc[j], ah, bh);
            __asm__ volatile("" ::"v"(ah), "v"(bh));
        }
        const double t2 = cpu_seconds();
        fma_s = t1 - t0 < fma_s ? t1 - t0 : fma_s;
        bf16_s = t2 - t1 < bf16_s ? t2 - t1 : bf16_s;
    }
    float sink = 0;
    for (int i = 0; i < 24; i++)
        sink += _mm512_reduce_add_ps(acc[i]);
    const double ops = 24.0 * (double)n;
    printf("vfmadd231ps zmm: %.3g/s, %.3g multiply-adds/s\n", ops / fma_s, 16 * ops / fma_s);
    printf("vdpbf16ps zmm:   %.3g/s, %.3g multiply-adds/s\n", ops / bf16_s, 32 * ops / bf16_s);
    printf("pairs/s per core at D = 512: float %.3g, bf16 %.3g%s\n", 16 * ops / fma_s / 512,
           32 * ops / bf16_s / 512, sink == 0 ? " " : "");
    return 0;
}
