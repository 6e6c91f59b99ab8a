/* image_pdq.c - PDQ (Meta's PDQ hashing document, 2017) on decoded pixels,
 * with the 8 dihedral hashes from one DCT.
 *
 * Arithmetic follows the reference (ThreatExchange pdq/cpp) step by step in
 * single precision, in the same order, so that on the same pixels the bits
 * agree except where a DCT coefficient is within rounding of the median:
 *   luma     0.299 R + 0.587 G + 0.114 B, summed in double and rounded to
 *            float (as the PyPI pdqhash binding feeds the reference);
 *   filter   a box filter of window ceil-ish(side/128) along rows then
 *            columns, twice (the Jarosz tent), running sums in float;
 *   decimate the sample at ((k + 0.5) * side / 64) for k = 0..63;
 *   quality  sum of |100 (u - v) / 255| (truncated) over neighbours / 90;
 *   DCT      the 16 lowest non-DC frequencies of a 64-point DCT-II, rows
 *            then columns, from a float matrix;
 *   bits     coefficient > median (Torben's method, the lower median).
 * This file is compiled with -ffp-contract=off (no fused multiply-add),
 * like the reference's default build. */
#include "image/image_internal.h"

#include <omp.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PDQ_MIN_SIDE 5
#define PDQ_PASSES 2

const char *sj_dihedral_name(sj_dihedral d)
{
    static const char *names[SJ_DIHEDRAL_COUNT] = {"original", "rotate90",   "rotate180",
                                                   "rotate270", "flip_x",    "flip_y",
                                                   "flip_plus1", "flip_minus1"};
    return (unsigned)d < SJ_DIHEDRAL_COUNT ? names[d] : "?";
}

/* dct[i][k] = sqrt(2/64) cos(pi/128 (i+1)(2k+1)), i < 16, k < 64; float. */
static float dct_matrix[16][64];
static int dct_ready;

static void dct_init(void)
{
    /* Written once before any thread reads it (sj_pdq_hash calls this
     * under a once-guard below). */
    const float scale = (float)sqrt(2.0 / 64.0);
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 64; k++)
            dct_matrix[i][k] = (float)(scale * cos((M_PI / 2.0 / 64.0) * (i + 1) * (2 * k + 1)));
}

static void dct_once(void)
{
    if (__atomic_load_n(&dct_ready, __ATOMIC_ACQUIRE))
        return;
#pragma omp critical(sj_pdq_dct_init)
    if (!dct_ready) {
        dct_init();
        __atomic_store_n(&dct_ready, 1, __ATOMIC_RELEASE);
    }
}

/* The box filter of window w along a vector of n values (the reference's
 * box1DFloat): output k is the mean of the inputs in the window around k,
 * the window truncated at the ends; running sums in float, with phases
 * lead (sum only), grow (window filling), full, tail (window emptying). */

/* The box filter along each row of in[rows][cols], 8 rows at a time with their
 * running sums side by side (independent chains instead of one serial
 * chain per row; the same operations per row, in the same order). */
static void box_rows(const float *in, float *out, int rows, int cols, int w)
{
    enum { B = 8 };
    int half = (w + 2) / 2;
    int lead = half - 1, grow = w - half + 1, full = cols - w, tail = half - 1;
    for (int r0 = 0; r0 < rows; r0 += B) {
        int nb = rows - r0 < B ? rows - r0 : B;
        const float *src[B];
        float *dst[B], sum[B] = {0};
        for (int k = 0; k < nb; k++) {
            src[k] = in + (size_t)(r0 + k) * cols;
            dst[k] = out + (size_t)(r0 + k) * cols;
        }
        int li = 0, ri = 0, oi = 0, count = 0;
        for (int i = 0; i < lead; i++, ri++, count++)
            for (int k = 0; k < nb; k++)
                sum[k] += src[k][ri];
        for (int i = 0; i < grow; i++, ri++, oi++) {
            count++;
            for (int k = 0; k < nb; k++) {
                sum[k] += src[k][ri];
                dst[k][oi] = sum[k] / count;
            }
        }
        for (int i = 0; i < full; i++, li++, ri++, oi++)
            for (int k = 0; k < nb; k++) {
                sum[k] += src[k][ri];
                sum[k] -= src[k][li];
                dst[k][oi] = sum[k] / count;
            }
        for (int i = 0; i < tail; i++, li++, oi++) {
            count--;
            for (int k = 0; k < nb; k++) {
                sum[k] -= src[k][li];
                dst[k][oi] = sum[k] / count;
            }
        }
    }
}

/* The box filter down every column of in[rows][cols] at once, row by row (the
 * same operations per column, in the same order, so the same floats; but
 * reading memory in order). sum: cols floats of scratch. */
static void box_columns(const float *in, float *out, int rows, int cols, int w, float *sum)
{
    int half = (w + 2) / 2;
    int lead = half - 1, grow = w - half + 1, full = rows - w, tail = half - 1;
    int li = 0, ri = 0, oi = 0, count = 0;
    for (int c = 0; c < cols; c++)
        sum[c] = 0.0f;
    for (int i = 0; i < lead; i++, ri++, count++) {
        const float *r = in + (size_t)ri * cols;
        for (int c = 0; c < cols; c++)
            sum[c] += r[c];
    }
    for (int i = 0; i < grow; i++, ri++, oi++) {
        const float *r = in + (size_t)ri * cols;
        float *o = out + (size_t)oi * cols;
        count++;
        for (int c = 0; c < cols; c++) {
            sum[c] += r[c];
            o[c] = sum[c] / count;
        }
    }
    for (int i = 0; i < full; i++, li++, ri++, oi++) {
        const float *r = in + (size_t)ri * cols, *l = in + (size_t)li * cols;
        float *o = out + (size_t)oi * cols;
        for (int c = 0; c < cols; c++) {
            sum[c] += r[c];
            sum[c] -= l[c];
            o[c] = sum[c] / count;
        }
    }
    for (int i = 0; i < tail; i++, li++, oi++) {
        const float *l = in + (size_t)li * cols;
        float *o = out + (size_t)oi * cols;
        count--;
        for (int c = 0; c < cols; c++) {
            sum[c] -= l[c];
            o[c] = sum[c] / count;
        }
    }
}

static int jarosz_window(int old_side, int new_side)
{
    return (old_side + 2 * new_side - 1) / (2 * new_side);
}

/* luma[rows][cols] -> out64[64][64]; tmp has rows*cols floats, sum cols. */
static void downsample_64(float *luma, float *tmp, float *sum, int rows, int cols,
                          float out64[64][64])
{
    if (rows == 64 && cols == 64) { /* the reference takes a 64x64 input as is */
        memcpy(out64, luma, sizeof(float) * 64 * 64);
        return;
    }
    int wr = jarosz_window(cols, 64), wc = jarosz_window(rows, 64);
    for (int pass = 0; pass < PDQ_PASSES; pass++) {
        box_rows(luma, tmp, rows, cols, wr);
        box_columns(tmp, luma, rows, cols, wc, sum);
    }
    for (int i = 0; i < 64; i++) {
        int si = (int)(((i + 0.5) * rows) / 64);
        for (int j = 0; j < 64; j++) {
            int sj = (int)(((j + 0.5) * cols) / 64);
            out64[i][j] = luma[(size_t)si * cols + sj];
        }
    }
}

static int quality_of(float a[64][64])
{
    int sum = 0;
    for (int i = 0; i < 63; i++)
        for (int j = 0; j < 64; j++) {
            int d = (int)(((a[i][j] - a[i + 1][j]) * 100) / 255);
            sum += abs(d);
        }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 63; j++) {
            int d = (int)(((a[i][j] - a[i][j + 1]) * 100) / 255);
            sum += abs(d);
        }
    int q = sum / 90;
    return q > 100 ? 100 : q;
}

/* out[16][16] = D a D^T, D = dct_matrix (16 x 64). Sums in index order. */
static void dct_64_to_16(float a[64][64], float out[16][16])
{
    float t[16][64];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 64; j++) {
            float s = 0.0f;
            for (int k = 0; k < 64; k++)
                s += dct_matrix[i][k] * a[k][j];
            t[i][j] = s;
        }
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = 0.0f;
            for (int k = 0; k < 64; k++)
                s += t[i][k] * dct_matrix[j][k];
            out[i][j] = s;
        }
}

/* Torben's median (N. Devillard's formulation): the lower median of m[n]
 * without reordering it. */
static float torben_median(const float *m, int n)
{
    float lo = m[0], hi = m[0];
    for (int i = 1; i < n; i++) {
        if (m[i] < lo)
            lo = m[i];
        if (m[i] > hi)
            hi = m[i];
    }
    int less, greater, equal;
    float guess, below, above;
    for (;;) {
        guess = (lo + hi) / 2;
        less = greater = equal = 0;
        below = lo;
        above = hi;
        for (int i = 0; i < n; i++) {
            if (m[i] < guess) {
                less++;
                if (m[i] > below)
                    below = m[i];
            } else if (m[i] > guess) {
                greater++;
                if (m[i] < above)
                    above = m[i];
            } else
                equal++;
        }
        if (less <= (n + 1) / 2 && greater <= (n + 1) / 2)
            break;
        if (less > greater)
            hi = below;
        else
            lo = above;
    }
    if (less >= (n + 1) / 2)
        return below;
    if (less + equal >= (n + 1) / 2)
        return guess;
    return above;
}

/* Bit k = 16 i + j is set when c[i][j] > median; bit k lives in byte
 * 31 - k/8 at value 1 << (k % 8): the reference prints its 16-bit words
 * w[15] .. w[0] as hex, bit k in w[k/16]. */
static void bits_of(const float c[16][16], uint8_t hash[32])
{
    float med = torben_median(&c[0][0], 256);
    memset(hash, 0, 32);
    for (int k = 0; k < 256; k++)
        if (c[k >> 4][k & 15] > med)
            hash[31 - (k >> 3)] |= (uint8_t)(1u << (k & 7));
}

/* The DCT of a transformed image, from the original's: a transpose and/or
 * a sign change of odd-frequency rows/columns (frequency i+1 odd: index i
 * even). Per transform: {transpose, negate even rows, negate even columns};
 * the sign is the product of the two. */
static const uint8_t dihedral_rule[SJ_DIHEDRAL_COUNT][3] = {
    {0, 0, 0}, /* original */
    {1, 0, 1}, /* rotate90 */
    {0, 1, 1}, /* rotate180 */
    {1, 1, 0}, /* rotate270 */
    {0, 1, 0}, /* flip_x: upside down */
    {0, 0, 1}, /* flip_y: left-right */
    {1, 0, 0}, /* flip_plus1: transpose */
    {1, 1, 1}, /* flip_minus1: anti-transpose */
};

static void dct_transform(const float c[16][16], int t, float out[16][16])
{
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            int neg = (dihedral_rule[t][1] && !(i & 1)) ^ (dihedral_rule[t][2] && !(j & 1));
            float v = neg ? -c[i][j] : c[i][j];
            if (dihedral_rule[t][0])
                out[j][i] = v;
            else
                out[i][j] = v;
        }
}

sj_status sj_pdq_hash(const sj_image *im, uint8_t hash[32], int *quality, uint8_t (*dihedral)[32])
{
    sj_pdq_scratch scratch = {0};
    sj_status st = sj_pdq_hash_timed(im, hash, quality, dihedral, &scratch, NULL);
    sj_pdq_scratch_free(&scratch);
    return st;
}

void sj_pdq_scratch_free(sj_pdq_scratch *s)
{
    free(s->luma);
    free(s->tmp);
    free(s->sum);
    memset(s, 0, sizeof *s);
}

static sj_status scratch_reserve(sj_pdq_scratch *s, size_t pixels, size_t cols)
{
    if (pixels > s->pixels) {
        free(s->luma);
        free(s->tmp);
        s->luma = malloc(pixels * sizeof *s->luma);
        s->tmp = malloc(pixels * sizeof *s->tmp);
        s->pixels = s->luma && s->tmp ? pixels : 0;
    }
    if (cols > s->cols) {
        free(s->sum);
        s->sum = malloc(cols * sizeof *s->sum);
        s->cols = s->sum ? cols : 0;
    }
    if (s->pixels < pixels || s->cols < cols) {
        sj_pdq_scratch_free(s);
        return sj_fail(SJ_ERR_NOMEM, "out of memory (image of %zu pixels)", pixels);
    }
    return SJ_OK;
}

sj_status sj_pdq_hash_timed(const sj_image *im, uint8_t hash[32], int *quality,
                            uint8_t (*dihedral)[32], sj_pdq_scratch *scratch, double times[2])
{
    double t0 = times ? omp_get_wtime() : 0;
    memset(hash, 0, 32);
    if (dihedral)
        memset(dihedral, 0, SJ_DIHEDRAL_COUNT * 32);
    *quality = 0;
    if (im->width < PDQ_MIN_SIDE || im->height < PDQ_MIN_SIDE)
        return SJ_OK;
    dct_once();
    size_t n = (size_t)im->width * im->height;
    sj_status st = scratch_reserve(scratch, n, (size_t)im->width);
    if (st)
        return st;
    float *luma = scratch->luma;
    for (size_t p = 0; p < n; p++) {
        const uint8_t *px = im->rgb + 3 * p;
        luma[p] = (float)(px[0] * 0.299 + px[1] * 0.587 + px[2] * 0.114);
    }
    float a[64][64], c[16][16];
    downsample_64(luma, scratch->tmp, scratch->sum, im->height, im->width, a);
    *quality = quality_of(a);
    double t1 = times ? omp_get_wtime() : 0;
    dct_64_to_16(a, c);
    bits_of(c, hash);
    if (dihedral) {
        memcpy(dihedral[0], hash, 32);
        for (int t = 1; t < SJ_DIHEDRAL_COUNT; t++) {
            float ct[16][16];
            dct_transform(c, t, ct);
            bits_of(ct, dihedral[t]);
        }
    }
    if (times) {
        times[0] += t1 - t0;
        times[1] += omp_get_wtime() - t1;
    }
    return SJ_OK;
}
