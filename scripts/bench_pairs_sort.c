/* bench_pairs_sort.c - the radix sort of pairs against qsort on 1.2e7 random
 * pairs of ids below 10^6 (BENCHMARKS.md "Sorting pairs"). After a build:
 *   cc -O2 -Ihost -Iinclude scripts/bench_pairs_sort.c build/libsimjoin.a -lgomp -lm -lcrypto \
 *      -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -o /tmp/bench_pairs_sort */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void)
{
    const int64_t n = 12000000;
    sj_pair *v = malloc((size_t)n * sizeof *v), *w = malloc((size_t)n * sizeof *w);
    if (!v || !w)
        return 1;
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t a = (int64_t)(x % 1000000), b = (int64_t)((x >> 20) % 1000000);
        v[i] = (sj_pair){a < b ? a : b, a < b ? b : a, 1};
    }
    memcpy(w, v, (size_t)n * sizeof *v);
    double t0 = now();
    sj_pairs_sort_reference(w, n);
    double t1 = now();
    sj_pairs_sort(v, n);
    double t2 = now();
    printf("1.2e7 pairs: qsort %.2f s, radix %.2f s (%.1fx), same order: %s\n", t1 - t0, t2 - t1,
           (t1 - t0) / (t2 - t1), memcmp(v, w, (size_t)n * sizeof *v) ? "NO" : "yes");
    return 0;
}
