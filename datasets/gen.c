/* gen.c - synthetic PDQ-like data with ground truth.
 *
 * Background hashes are uniform random (about half the bits set, like PDQ).
 * Series have power-law sizes; a member differs from its series base by k
 * bit flips, k spread so that pairs fall inside, at and just outside the
 * usual threshold T:
 *   70%  k in [0, T/2]       (pairs within T of each other)
 *   20%  k in (T/2, T]       (some pairs inside T, some outside)
 *   10%  k in (T, T+T/4]     (just outside)
 * Chain series are random walks instead: each member is 6..16 bits (scaled
 * to the width) from the previous one, like the ThreatExchange haystack.
 * One series in five is a look-alike: its base lies T..2T bits from the base
 * of the series before it, so different series come within reach of each
 * other as the threshold grows (what makes precision fall in a sweep).
 * Degenerate rows are all-zero or have very few bits set.
 *
 * Vector kinds follow the same plan with "k bit flips" read as "a distance
 * of about k" (gen_moves below): photodna and u8:D add integer noise of
 * squared norm k (l2sq), f32:D turns the vector by the angle whose cosine
 * distance is k. Background vectors are uniform bytes, or Gaussian for f32;
 * degenerate vectors are zero. The default T: 31 bits scaled to the width;
 * 100 D for uint8 vectors (an RMS difference of 10 per component); 0.05 for
 * f32 (cosine). */
#include "simjoin/gen.h"

#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sj_gen_defaults(sj_hash_type type, int64_t n, uint64_t seed, sj_gen_options *o)
{
    memset(o, 0, sizeof *o);
    o->type = type;
    o->n = n;
    o->seed = seed;
    o->series_fraction = 0.3;
    o->chain_fraction = 0.1;
    o->degenerate_fraction = 0.001;
    o->power_alpha = 2.2;
    o->max_series = 1000;
    o->low_quality_fraction = 0;
    o->threshold = type.kind == SJ_KIND_F32  ? 0.05
                   : sj_hash_type_binary(type) ? floor(31.0 * type.bits / 256.0 + 0.5)
                                               : 100.0 * type.dim;
}

/* splitmix64: a small, good, seedable generator; one stream per series. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static int64_t rng_range(uint64_t *s, int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static void random_hash(uint64_t *s, uint8_t *h, uint32_t bytes)
{
    for (uint32_t i = 0; i < bytes; i += 8) {
        uint64_t r = rng_next(s);
        memcpy(h + i, &r, SJ_MIN(8u, bytes - i));
    }
}

/* Flip k distinct bits of h (k <= bits). */
static void flip_bits(uint64_t *s, uint8_t *h, uint32_t bits, int64_t k)
{
    uint8_t mask[8192] = {0}; /* bits <= 65536 */
    for (int64_t done = 0; done < k;) {
        uint32_t b = (uint32_t)(rng_next(s) % bits);
        if (mask[b >> 3] & (1u << (b & 7)))
            continue;
        mask[b >> 3] |= (uint8_t)(1u << (b & 7));
        h[b >> 3] ^= (uint8_t)(1u << (b & 7));
        done++;
    }
}


static double rng_normal(uint64_t *s) /* Box-Muller */
{
    double u = rng_unit(s), v = rng_unit(s);
    return sqrt(-2.0 * log(u > 0 ? u : 0x1.0p-53)) * cos(6.283185307179586 * v);
}

/* How rows are made and moved, per kind. "Moving a row by k" makes a row at
 * distance about k: k bit flips (binary), integer noise of squared norm k
 * (uint8 vectors, clipped to 0..255), or a turn with 1 - cos = k (f32). */
typedef struct gen_moves {
    sj_hash_type t;
    uint32_t bytes;
    int binary;
} gen_moves;

static void make_random(const gen_moves *g, uint64_t *s, uint8_t *row)
{
    if (g->t.kind != SJ_KIND_F32) {
        random_hash(s, row, g->bytes);
        return;
    }
    for (uint32_t j = 0; j < g->t.dim; j++) {
        float x = (float)rng_normal(s);
        memcpy(row + 4 * (size_t)j, &x, 4);
    }
}

static void move_row(const gen_moves *g, uint64_t *s, uint8_t *row, double k)
{
    if (g->binary) {
        flip_bits(s, row, g->t.bits, SJ_MIN((int64_t)k, (int64_t)g->t.bits));
        return;
    }
    const uint32_t D = g->t.dim;
    double noise[D ? D : 1], sq = 0; /* D <= 32768: at most 256 KiB of stack */
    for (uint32_t j = 0; j < D; j++)
        noise[j] = rng_normal(s), sq += noise[j] * noise[j];
    if (g->t.kind != SJ_KIND_F32) {
        double scale = sq > 0 ? sqrt(k / sq) : 0;
        for (uint32_t j = 0; j < D; j++) {
            double x = row[j] + floor(noise[j] * scale + 0.5);
            row[j] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
        return;
    }
    /* f32: v' = v + eps |v| n, n a unit vector orthogonal to v; then
     * cos(v, v') = 1 / sqrt(1 + eps^2), so eps = sqrt(1 / (1 - k)^2 - 1). */
    double v[D ? D : 1], vv = 0, vn = 0;
    for (uint32_t j = 0; j < D; j++) {
        float x;
        memcpy(&x, row + 4 * (size_t)j, 4);
        v[j] = x, vv += x * (double)x, vn += x * noise[j];
    }
    if (vv <= 0)
        return;
    double nn = 0;
    for (uint32_t j = 0; j < D; j++)
        noise[j] -= vn / vv * v[j], nn += noise[j] * noise[j];
    double c = k < 1 ? 1 - k : 1e-3, eps = sqrt(SJ_MAX(1 / (c * c) - 1, 0));
    double scale = nn > 0 ? eps * sqrt(vv / nn) : 0;
    for (uint32_t j = 0; j < D; j++) {
        float x = (float)(v[j] + scale * noise[j]);
        memcpy(row + 4 * (size_t)j, &x, 4);
    }
}

/* A member's offset from its base: 70% in [0, T/2], 20% in (T/2, T], 10% in
 * (T, 5T/4] (integers for binary kinds, as always). */
static double pick_offset(const gen_moves *g, uint64_t *s, double T)
{
    double u = rng_unit(s);
    if (g->binary) {
        int64_t t = (int64_t)T;
        return (double)(u < 0.7   ? rng_range(s, 0, t / 2)
                        : u < 0.9 ? rng_range(s, t / 2 + 1, SJ_MAX(t / 2 + 1, t))
                                  : rng_range(s, t + 1, t + 1 + t / 4));
    }
    double r = rng_unit(s);
    return u < 0.7 ? r * T / 2 : u < 0.9 ? T / 2 + r * T / 2 : T + r * T / 4;
}

/* A base quality (see sj_gen_options.low_quality_fraction) and a member's. */
static int64_t base_quality(uint64_t *s, double low)
{
    if (rng_unit(s) < low)
        return rng_range(s, 10, 49);
    return rng_unit(s) < 0.7 ? 100 : rng_range(s, 50, 99);
}

static int16_t member_quality(uint64_t *s, int64_t base)
{
    int64_t q = base + rng_range(s, -5, 5); /* drawn once: SJ_MIN/SJ_MAX repeat arguments */
    return (int16_t)SJ_MAX(0, SJ_MIN(100, q));
}

sj_status sj_gen(const sj_gen_options *o, sj_hashes **out)
{
    *out = NULL;
    if (o->n < 0 || o->series_fraction < 0 || o->series_fraction > 1 ||
        o->degenerate_fraction < 0 || o->degenerate_fraction > 1 || o->power_alpha <= 1 ||
        o->low_quality_fraction < 0 || o->low_quality_fraction > 1)
        return sj_fail(SJ_ERR_ARG, "gen: options out of range");
    const uint32_t bits = o->type.bits, rb = bits / 8;
    const int64_t n = o->n;
    const gen_moves g = {o->type, rb, sj_hash_type_binary(o->type)};
    sj_hashes *h;
    sj_status st = sj_hashes_create(o->type, SJ_MAX(n, 1), &h);
    if (st)
        return st;
    h->labels = malloc((size_t)SJ_MAX(n, 1) * sizeof *h->labels);
    uint8_t *tmp = malloc((size_t)SJ_MAX(n, 1) * rb);
    int64_t *perm = malloc((size_t)SJ_MAX(n, 1) * sizeof *perm);
    int64_t *series_start = NULL;
    const int with_quality = o->low_quality_fraction > 0;
    int16_t *qual = with_quality ? malloc((size_t)SJ_MAX(n, 1) * sizeof *qual) : NULL;
    if (!h->labels || !tmp || !perm || (with_quality && !qual)) {
        st = sj_fail(SJ_ERR_NOMEM, "gen: out of memory for %lld hashes", (long long)n);
        goto fail;
    }
    uint64_t master = o->seed;
    /* Plan: series sizes until the series share is used up. */
    int64_t n_series_rows = (int64_t)(o->series_fraction * (double)n);
    int64_t n_degen = (int64_t)(o->degenerate_fraction * (double)n);
    if (n_series_rows + n_degen > n)
        n_series_rows = n - n_degen;
    int64_t cap = 0, ns = 0;
    for (int64_t used = 0; used < n_series_rows;) {
        double u = rng_unit(&master);
        int64_t size = (int64_t)(2.0 * pow(1.0 - u, -1.0 / (o->power_alpha - 1.0)));
        size = SJ_MAX(2, SJ_MIN(size, o->max_series));
        size = SJ_MIN(size, n_series_rows - used);
        if ((st = sj_grow((void **)&series_start, &cap, ns + 2, sizeof *series_start)))
            goto fail;
        series_start[ns++] = used;
        used += size;
    }
    if ((st = sj_grow((void **)&series_start, &cap, ns + 1, sizeof *series_start)))
        goto fail;
    series_start[ns] = n_series_rows;
    const double T = o->threshold;
    const uint64_t seed = rng_next(&master);
#define SERIES_STREAM(s) (seed ^ (0x5851f42d4c957f2dULL * (uint64_t)((s) + 1)))
    /* Series rows [0, n_series_rows): one independent stream per series. */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < ns; s++) {
        uint64_t rs = SERIES_STREAM(s);
        uint8_t *base = malloc(rb);
        if (!base)
            continue; /* (a row of zeros: gen's own buffers are tiny next to the output) */
        make_random(&g, &rs, base);
        if (s > 0 && rng_unit(&rs) < 0.2) { /* a look-alike of the previous series */
            uint64_t prev = SERIES_STREAM(s - 1);
            make_random(&g, &prev, base);
            move_row(&g, &rs, base,
                     g.binary ? (double)rng_range(&rs, (int64_t)T, 2 * (int64_t)T) : T * (1 + rng_unit(&rs)));
        }
        int chain = rng_unit(&rs) < o->chain_fraction;
        uint64_t rq = SERIES_STREAM(s) ^ 0x9e3779b97f4a7c15ULL; /* qualities: a stream of their own */
        int64_t q_base = with_quality ? base_quality(&rq, o->low_quality_fraction) : -1;
        int64_t lo_step = SJ_MAX(1, 6 * (int64_t)bits / 256), hi_step = SJ_MAX(1, 16 * (int64_t)bits / 256);
        for (int64_t r = series_start[s]; r < series_start[s + 1]; r++) {
            uint8_t *row = tmp + (size_t)r * rb;
            if (chain) {
                if (r > series_start[s])
                    move_row(&g, &rs, base,
                             g.binary ? (double)rng_range(&rs, lo_step, hi_step)
                                      : T * (6 + 10 * rng_unit(&rs)) / 31);
                memcpy(row, base, rb);
            } else {
                double k = pick_offset(&g, &rs, T);
                memcpy(row, base, rb);
                move_row(&g, &rs, row, k);
            }
            h->labels[r] = s;
            if (with_quality)
                qual[r] = member_quality(&rq, q_base);
        }
        free(base);
    }
    /* Background and degenerate rows. */
#pragma omp parallel for schedule(static, 65536)
    for (int64_t r = n_series_rows; r < n; r++) {
        uint64_t rs = seed ^ (0x2545f4914f6cdd1dULL * (uint64_t)(r + 1)) ^ 0xabcdefULL;
        uint8_t *row = tmp + (size_t)r * rb;
        if (r < n_series_rows + n_degen) {
            memset(row, 0, rb);
            if (r % 2 && g.binary) /* nearly blank: a few bits set */
                flip_bits(&rs, row, bits, rng_range(&rs, 1, SJ_MAX(1, bits / 32)));
        } else {
            make_random(&g, &rs, row);
        }
        h->labels[r] = -1;
        if (with_quality) {
            uint64_t rq = rs ^ 0x9e3779b97f4a7c15ULL;
            qual[r] = r < n_series_rows + n_degen ? (int16_t)rng_range(&rq, 0, 20)
                                                  : member_quality(&rq, base_quality(&rq, o->low_quality_fraction));
        }
    }
    /* Shuffle rows (Fisher-Yates on a permutation), ids in final row order. */
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_next(&master) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t *labels = malloc((size_t)SJ_MAX(n, 1) * sizeof *labels);
    if (with_quality && !(h->quality = malloc((size_t)SJ_MAX(n, 1) * sizeof *h->quality))) {
        free(labels);
        labels = NULL;
    }
    if (!labels) {
        st = sj_fail(SJ_ERR_NOMEM, "gen: out of memory");
        goto fail;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        memcpy(h->hashes + (size_t)i * rb, tmp + (size_t)perm[i] * rb, rb);
        labels[i] = h->labels[perm[i]];
        h->ids[i] = o->first_id + i;
        if (with_quality)
            h->quality[i] = qual[perm[i]];
    }
    free(h->labels);
    h->labels = labels;
    h->n = n;
    free(qual);
    free(tmp);
    free(perm);
    free(series_start);
    *out = h;
    return SJ_OK;
fail:
    free(qual);
    free(tmp);
    free(perm);
    free(series_start);
    sj_hashes_free(h);
    return st;
}
