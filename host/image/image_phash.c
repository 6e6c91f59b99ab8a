/* image_phash.c - pHash and dHash (64 bits) as the PyPI `imagehash` package
 * (4.3) computes them on a PIL image, bit for bit on the same pixels:
 *   gray   PIL convert("L"): (19595 R + 38470 G + 7471 B + 32768) >> 16;
 *   resize PIL Image.resize(size, LANCZOS) on mode L: separable, one pass
 *          per axis rounded to 8 bits (vertical first when the height
 *          shrinks by more than twice the pixels the width does, as Pillow
 *          >= 11 chooses; horizontal first otherwise); per output pixel
 *          the Lanczos-3 weights (widened by the scale when shrinking),
 *          normalised, turned into fixed point with 22 fraction bits, the
 *          sum started at one half and clamped to 0..255;
 *   phash  32x32; the unnormalised DCT-II (scipy.fftpack.dct) along
 *          columns then rows in double, the 8x8 lowest frequencies, bits
 *          above their median (mean of the two middle values);
 *   dhash  9x8 (9 wide); bit = pixel right of it is brighter.
 * Bits are taken row by row, the first as the most significant bit of
 * byte 0, which is imagehash's hex string. The DCT is summed directly, not
 * by FFT: a coefficient within ~1e-12 of the median (an image with exact
 * symmetries, e.g. a pure gradient) may round the other way. */
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIL_FRACTION_BITS 22 /* PIL's PRECISION_BITS for 8-bit images */

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos3(double x)
{
    return (x >= -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

/* Fixed-point weights of a resize from in_size to out_size: per output
 * index, the first input index and the count, then the weights. */
typedef struct resample_plan {
    int ksize;
    int *first, *count; /* [out_size] */
    int32_t *weight;    /* [out_size][ksize] */
} resample_plan;

static void plan_free(resample_plan *p)
{
    free(p->first);
    free(p->count);
    free(p->weight);
}

static sj_status plan_make(int in_size, int out_size, resample_plan *p)
{
    double scale = (double)in_size / out_size, widen = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * widen;
    p->ksize = (int)ceil(support) * 2 + 1;
    p->first = malloc((size_t)out_size * sizeof *p->first);
    p->count = malloc((size_t)out_size * sizeof *p->count);
    p->weight = calloc((size_t)out_size * p->ksize, sizeof *p->weight);
    double *w = malloc((size_t)p->ksize * sizeof *w);
    if (!p->first || !p->count || !p->weight || !w) {
        free(w);
        plan_free(p);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale, total = 0.0, inv = 1.0 / widen;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        int count = hi - lo;
        for (int x = 0; x < count; x++) {
            w[x] = lanczos3((x + lo - center + 0.5) * inv);
            total += w[x];
        }
        for (int x = 0; x < count; x++) {
            double v = total != 0.0 ? w[x] / total : w[x];
            double fixed = v * (1 << PIL_FRACTION_BITS);
            p->weight[(size_t)o * p->ksize + x] = (int32_t)(v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        p->first[o] = lo;
        p->count[o] = count;
    }
    free(w);
    return SJ_OK;
}

static uint8_t clamp_fixed(int32_t acc)
{
    int v = acc >> PIL_FRACTION_BITS; /* arithmetic shift: floor */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass: in[rows][in_w] -> out[rows][p->count outputs]. */
static void resample_cols(const uint8_t *in, int in_w, int rows, const resample_plan *p, int out_w,
                          uint8_t *out)
{
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = p->weight + (size_t)x * p->ksize;
            const uint8_t *src = in + (size_t)y * in_w + p->first[x];
            int32_t acc = 1 << (PIL_FRACTION_BITS - 1);
            for (int i = 0; i < p->count[x]; i++)
                acc += src[i] * k[i];
            out[(size_t)y * out_w + x] = clamp_fixed(acc);
        }
}

/* Vertical pass: in holds source rows from row0 on, width w; out[out_h][w]. */
static void resample_rows(const uint8_t *in, int w, int row0, const resample_plan *p, int out_h,
                          uint8_t *out)
{
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = p->weight + (size_t)y * p->ksize;
        for (int x = 0; x < w; x++) {
            int32_t acc = 1 << (PIL_FRACTION_BITS - 1);
            for (int i = 0; i < p->count[y]; i++)
                acc += in[(size_t)(p->first[y] + i - row0) * w + x] * k[i];
            out[(size_t)y * w + x] = clamp_fixed(acc);
        }
    }
}

/* PIL convert("L") then resize((out_w, out_h), LANCZOS): out[out_h][out_w]. */
static sj_status pil_gray_resize(const sj_image *im, int out_w, int out_h, uint8_t *out)
{
    int w = im->width, h = im->height;
    size_t n = (size_t)w * h;
    uint8_t *gray = malloc(n);
    if (!gray)
        return sj_fail(SJ_ERR_NOMEM, "out of memory (image of %d x %d)", w, h);
    for (size_t p = 0; p < n; p++) {
        const uint8_t *px = im->rgb + 3 * p;
        gray[p] = (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16);
    }
    if (w == out_w && h == out_h) { /* PIL returns a copy */
        memcpy(out, gray, n);
        free(gray);
        return SJ_OK;
    }
    resample_plan ph = {0}, pv = {0};
    sj_status st = plan_make(w, out_w, &ph);
    if (!st && (st = plan_make(h, out_h, &pv)))
        plan_free(&ph);
    if (st) {
        free(gray);
        return st;
    }
    /* Pillow (>= 11) runs the vertical pass first when the height shrinks
     * by more than twice as many pixels as the width; else horizontal first,
     * on the rows the vertical pass reads only. */
    int horiz = out_w != w, vert = out_h != h;
    int vertical_first = (h - out_h) > 0 && (h - out_h) > (w - out_w) * 2;
    uint8_t *mid = gray;
    if (vertical_first) {
        if (!(mid = malloc((size_t)w * out_h))) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        resample_rows(gray, w, 0, &pv, out_h, horiz ? mid : out);
        if (horiz)
            resample_cols(mid, w, out_h, &ph, out_w, out);
    } else {
        int row0 = pv.first[0], row1 = pv.first[out_h - 1] + pv.count[out_h - 1];
        if (horiz) {
            if (!(mid = malloc((size_t)out_w * (row1 - row0)))) {
                st = sj_fail(SJ_ERR_NOMEM, "out of memory");
                goto done;
            }
            resample_cols(gray + (size_t)row0 * w, w, row1 - row0, &ph, out_w, mid);
        } else
            row0 = 0;
        if (vert)
            resample_rows(mid, out_w, row0, &pv, out_h, out);
        else
            memcpy(out, mid, (size_t)out_w * out_h);
    }
done:
    if (mid != gray)
        free(mid);
    free(gray);
    plan_free(&ph);
    plan_free(&pv);
    return st;
}

static void pack_bits_msb_first(const uint8_t *bits, int n, uint8_t *out)
{
    memset(out, 0, (size_t)(n + 7) / 8);
    for (int i = 0; i < n; i++)
        if (bits[i])
            out[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

sj_status sj_phash_hash(const sj_image *im, uint8_t hash[8])
{
    enum { N = 32, K = 8 };
    uint8_t px[N * N];
    memset(hash, 0, 8);
    sj_status st = pil_gray_resize(im, N, N, px);
    if (st)
        return st;
    /* scipy.fftpack.dct type II: y[k] = 2 sum_n x[n] cos(pi k (2n + 1) / 2N). */
    double cosv[K][N];
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
            cosv[k][n] = cos(M_PI * k * (2 * n + 1) / (2.0 * N));
    double cols[K][N]; /* along axis 0 (down each column), first K frequencies */
    for (int k = 0; k < K; k++)
        for (int x = 0; x < N; x++) {
            double s = 0.0;
            for (int y = 0; y < N; y++)
                s += px[y * N + x] * cosv[k][y];
            cols[k][x] = 2.0 * s;
        }
    double low[K * K], sorted[K * K];
    for (int k = 0; k < K; k++)
        for (int l = 0; l < K; l++) {
            double s = 0.0;
            for (int x = 0; x < N; x++)
                s += cols[k][x] * cosv[l][x];
            low[k * K + l] = 2.0 * s;
        }
    memcpy(sorted, low, sizeof low);
    qsort(sorted, K * K, sizeof *sorted, cmp_double);
    double med = (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2;
    uint8_t bits[K * K];
    for (int i = 0; i < K * K; i++)
        bits[i] = low[i] > med;
    pack_bits_msb_first(bits, K * K, hash);
    return SJ_OK;
}

sj_status sj_dhash_hash(const sj_image *im, uint8_t hash[8])
{
    uint8_t px[8 * 9], bits[64];
    memset(hash, 0, 8);
    sj_status st = pil_gray_resize(im, 9, 8, px);
    if (st)
        return st;
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            bits[r * 8 + c] = px[r * 9 + c + 1] > px[r * 9 + c];
    pack_bits_msb_first(bits, 64, hash);
    return SJ_OK;
}
