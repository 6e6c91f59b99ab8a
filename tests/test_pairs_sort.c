/* test_pairs_sort.c - the radix sort of pairs (host/join/pairs_sort.c) against
 * qsort: sizes around the radix threshold and 0/1, ids that share high
 * bytes, negative ids, large ids, equal keys (stability is not observable
 * through sj_pairs_canonicalize, but the sorted keys must be identical).
 * Also sj_sort_by_id (core/util.c), the id sort of a join's inputs: records
 * of 8, 16 and 24 bytes against an insertion sort by (id, input position),
 * so stability is checked; sorted, reversed, nearly sorted and random keys;
 * sj_popcount_bytes against a bit loop; sj_sources_of_each (one merge walk
 * over ascending ids) against sj_sources_of, on ascending, unsorted, missing
 * and repeated ids. */
#include "../host/core/internal.h"
#include "../host/io/inputs.h"
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

/* Records: id, then the input position (and a filler word when 24 bytes). */
static void one_by_id(int64_t n, int words, int mode)
{
    size_t size = (size_t)words * 8;
    int64_t *v = malloc((size_t)(n ? n : 1) * size), *w = malloc((size_t)(n ? n : 1) * size);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = t_rand();
        int64_t id;
        switch (mode) {
        case 0: id = i; break;                                  /* ascending: returned at once */
        case 1: id = i - (int64_t)(r % 3 == 0); break;          /* nearly sorted, ties */
        case 2: id = n - i; break;                              /* descending */
        case 3: id = (int64_t)(r % 9) - 4; break;               /* negatives, many equal */
        case 4: id = (int64_t)r; break;                         /* any int64 */
        default: id = ((int64_t)(r % 4) << 48) - ((int64_t)1 << 49); break; /* high bytes only */
        }
        int64_t *rec = v + i * words;
        rec[0] = id;
        for (int k = 1; k < words; k++)
            rec[k] = i * 10 + k;
    }
    memcpy(w, v, (size_t)n * size);
    CHECK(sj_sort_by_id(v, n, size) == SJ_OK, "sort_by_id %lld", (long long)n);
    for (int64_t i = 1; i < n; i++) { /* oracle: stable insertion sort by id */
        int64_t tmp[3];
        memcpy(tmp, w + i * words, size);
        int64_t j = i;
        while (j > 0 && w[(j - 1) * words] > tmp[0]) {
            memcpy(w + j * words, w + (j - 1) * words, size);
            j--;
        }
        memcpy(w + j * words, tmp, size);
    }
    CHECK(memcmp(v, w, (size_t)n * size) == 0,
          "sort_by_id n = %lld, %d-byte records, mode %d: differs from a stable sort", (long long)n,
          (int)size, mode);
    free(v);
    free(w);
}

static void popcount_bytes(void)
{
    uint8_t buf[77];
    for (int trial = 0; trial < 200; trial++) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)(trial == 0 ? 0xff : trial == 1 ? 0 : t_rand());
        size_t n = (size_t)trial % (sizeof buf + 1);
        int bits = 0;
        for (size_t i = 0; i < n; i++)
            for (int b = 0; b < 8; b++)
                bits += buf[i] >> b & 1;
        CHECK(sj_popcount_bytes(buf, n) == bits, "popcount of %zu bytes: %d, not %d", n,
              sj_popcount_bytes(buf, n), bits);
    }
}

static void sources_each(void)
{
    sj_sources s = {0};
    int64_t ids[40];
    int32_t src[40];
    for (int i = 0; i < 40; i++) /* even ids from -20, sources 0..2 */
        ids[i] = 2 * i - 20, src[i] = (int32_t)(t_rand() % 3);
    s.n_ids = s.cap = 40;
    s.ids = ids;
    s.src = src;
    for (int trial = 0; trial < 50; trial++) {
        int64_t look[30];
        int32_t got[30];
        int n = (int)(t_rand() % 31);
        for (int i = 0; i < n; i++)
            look[i] = (int64_t)(t_rand() % 100) - 30; /* in, out, odd: missing */
        if (trial % 2) /* ascending, repeats kept */
            for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && look[j - 1] > look[j]; j--) {
                    int64_t t = look[j];
                    look[j] = look[j - 1], look[j - 1] = t;
                }
        sj_sources_of_each(&s, look, n, got);
        int same = 1;
        for (int i = 0; i < n; i++)
            same &= got[i] == sj_sources_of(&s, look[i]);
        CHECK(same, "sources_of_each, trial %d (%s): differs from sj_sources_of", trial,
              trial % 2 ? "ascending" : "any order");
    }
}

int main(void)
{
    t_init_seed();
    static const int64_t by_id_sizes[] = {0, 1, 2, 3, 100, 3000};
    for (size_t k = 0; k < sizeof by_id_sizes / sizeof *by_id_sizes; k++)
        for (int words = 1; words <= 3; words++)
            for (int mode = 0; mode < 6; mode++)
                one_by_id(by_id_sizes[k], words, mode);
    popcount_bytes();
    sources_each();
    /* 300000: the scratch copy is faulted in by a second thread (sj_prefault) */
    static const int64_t sizes[] = {0, 1, 2, 4095, 4096, 4097, 100000, 300000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int mode = 0; mode < 4; mode++)
            one(sizes[k], mode);
    return t_finish("test_pairs_sort");
}
