/* pairs_sort.c - sorting pairs by (a, b): an LSD radix sort over the bytes
 * of the two int64 keys (b's bytes first, then a's; the sign bit flipped so
 * negative ids order first), skipping every byte position in which all keys
 * agree (for ids below 2^24 that leaves 6 of 16 passes). Stable, O(n) per
 * pass, one scratch copy of the pairs. sj_pairs_sort_reference is the plain
 * qsort it must agree with (tests/test_pairs_sort.c). */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

static inline unsigned key_byte(const sj_pair *p, int pos)
{
    /* pos 0..7: bytes of b (least significant first), 8..15: bytes of a */
    uint64_t k = (uint64_t)(pos < 8 ? p->b : p->a) ^ (UINT64_C(1) << 63);
    return (unsigned)(k >> (8 * (pos & 7))) & 0xff;
}

static int cmp_pair(const void *x, const void *y)
{
    const sj_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

void sj_pairs_sort_reference(sj_pair *v, int64_t n)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_pair);
}

enum { RADIX_MIN = 4096 }; /* below this qsort is as fast */

sj_status sj_pairs_sort(sj_pair *v, int64_t n)
{
    if (n < RADIX_MIN) {
        sj_pairs_sort_reference(v, n);
        return SJ_OK;
    }
    int64_t (*count)[256] = calloc(16, sizeof *count);
    sj_pair *tmp = malloc((size_t)n * sizeof *tmp);
    if (!count || !tmp) {
        free(count);
        free(tmp);
        return sj_fail(SJ_ERR_NOMEM, "out of memory sorting %lld pairs", (long long)n);
    }
    sj_prefault *pf = sj_prefault_start(tmp, (size_t)n * sizeof *tmp); /* while counting */
    for (int64_t i = 0; i < n; i++) /* all 16 histograms in one pass */
        for (int pos = 0; pos < 16; pos++)
            count[pos][key_byte(&v[i], pos)]++;
    sj_prefault_wait(pf);
    sj_pair *src = v, *dst = tmp;
    for (int pos = 0; pos < 16; pos++) {
        int64_t *c = count[pos];
        if (c[key_byte(&src[0], pos)] == n)
            continue; /* every key has the same byte here */
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) { /* counts -> first slot of each digit */
            int64_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (int64_t i = 0; i < n; i++)
            dst[c[key_byte(&src[i], pos)]++] = src[i];
        sj_pair *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * sizeof *v);
    free(tmp);
    free(count);
    return SJ_OK;
}
