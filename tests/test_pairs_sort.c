/* test_pairs_sort.c - the radix sort of pairs (host/join/pairs_sort.c) against
 * qsort: sizes around the radix threshold and 0/1, ids that share high
 * bytes, negative ids, large ids, equal keys (stability is not observable
 * through sj_pairs_canonicalize, but the sorted keys must be identical). */
#include "../host/core/internal.h"
#include "test_util.h"

#include <string.h>

static void one(int64_t n, int mode)
{
    sj_pair *v = malloc((size_t)(n ? n : 1) * sizeof *v), *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = t_rand(), s = t_rand();
        int64_t a, b;
        switch (mode) {
        case 0: a = (int64_t)(r % 100000), b = (int64_t)(s % 100000); break;      /* small ids */
        case 1: a = (int64_t)r, b = (int64_t)s; break;                            /* any int64 */
        case 2: a = (int64_t)(r % 7) - 3, b = (int64_t)(s % 5) - 2; break;        /* negatives, many equal */
        default: a = (int64_t)(r % 3) << 40, b = ((int64_t)1 << 50) + (int64_t)(s % 1000); break;
        }
        v[i] = (sj_pair){a, b, (double)(r % 64), (int32_t)(s % 8)};
    }
    memcpy(w, v, (size_t)n * sizeof *v);
    CHECK(sj_pairs_sort(v, n) == SJ_OK, "sort %lld", (long long)n);
    sj_pairs_sort_reference(w, n);
    int same = 1;
    for (int64_t i = 0; i < n && same; i++)
        same = v[i].a == w[i].a && v[i].b == w[i].b;
    CHECK(same, "n = %lld, mode %d: radix order differs from qsort", (long long)n, mode);
    free(v);
    free(w);
}

int main(void)
{
    t_init_seed();
    static const int64_t sizes[] = {0, 1, 2, 4095, 4096, 4097, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int mode = 0; mode < 4; mode++)
            one(sizes[k], mode);
    return t_finish("test_pairs_sort");
}
