/* backend_faiss.c - the same join through the FAISS C API.
 * Binary kinds: IndexBinaryFlat range search; FAISS keeps d < radius, so we
 * ask for radius = T + 1.
 * Vector kinds: IndexFlatL2 (l2sq) or IndexFlatIP (ip; cosine on unit
 * vectors) range search with the radius widened by the error margin of
 * FAISS's float arithmetic; every result is then decided by the reference
 * (vector.h), so the pairs equal every other backend's. l1 has no FAISS range
 * search: an error. FAISS parallelizes each search with OpenMP itself
 * (parallel_calls = 0). */
#include "join/vector.h"

#include <stdlib.h>
#include <string.h>

#ifdef SIMJOIN_HAVE_FAISS
#include <faiss/c_api/IndexBinary_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>

int sj_faiss_binary_flat_new(FaissIndexBinary **out, int64_t d_bits);

typedef struct faiss_state {
    FaissIndexBinary *index;
    int32_t threshold;
} faiss_state;

static sj_status faiss_err(const char *what)
{
    const char *msg = faiss_get_last_error();
    return sj_fail(SJ_ERR_BACKEND, "faiss: %s failed: %s", what, msg ? msg : "unknown error");
}

static sj_status faiss_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    faiss_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (sj_faiss_binary_flat_new(&s->index, type.bits) != 0) {
        free(s);
        return sj_fail(SJ_ERR_BACKEND, "faiss: cannot create IndexBinaryFlat(%u)", type.bits);
    }
    s->threshold = cfg->threshold;
    *state = s;
    return SJ_OK;
}

static sj_status faiss_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    faiss_state *s = state;
    if (faiss_IndexBinary_reset(s->index) || faiss_IndexBinary_add(s->index, n, rows))
        return faiss_err("IndexBinary add");
    return SJ_OK;
}

static sj_status faiss_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                               int64_t c0, int64_t c1, int self, sj_hits *out)
{
    faiss_state *s = state;
    FaissRangeSearchResult *res = NULL;
    if (faiss_RangeSearchResult_new(&res, nq))
        return faiss_err("RangeSearchResult_new");
    sj_status st = SJ_OK;
    if (faiss_IndexBinary_range_search(s->index, nq, queries, s->threshold + 1, res)) {
        st = faiss_err("range_search");
        goto done;
    }
    size_t *lims;
    idx_t *labels;
    float *dist;
    faiss_RangeSearchResult_lims(res, &lims);
    faiss_RangeSearchResult_labels(res, &labels, &dist);
    for (int64_t i = 0; i < nq && !st; i++)
        for (size_t k = lims[i]; k < lims[i + 1]; k++) {
            int64_t c = labels[k];
            if (c < c0 || c >= c1 || (self && c <= q0 + i))
                continue;
            if ((st = sj_hits_push(out, q0 + i, c, (double)dist[k])))
                break;
        }
done:
    faiss_RangeSearchResult_free(res);
    return st;
}

static void faiss_close(void *state)
{
    faiss_state *s = state;
    if (!s)
        return;
    faiss_IndexBinary_free(s->index);
    free(s);
}

/* ---- vector kinds ---- */

typedef struct faiss_vec_state {
    sj_vec_join v;
    FaissIndex *index;
    const uint8_t *rows; /* corpus rows, borrowed until close */
    int64_t n;
    double max_norm;     /* largest |row| of the corpus rows FAISS holds */
    int64_t *wide;       /* [n_wide] corpus rows past FAISS_WIDE_NORM, ascending; owned */
    int64_t n_wide, wide_cap;
} faiss_vec_state;

/* FAISS computes in float: a row whose converted norm passes 2^60 could
 * overflow its distances to inf although the exact ones are finite. Such
 * "wide" rows go to FAISS as zero rows whose results are dropped, and the
 * reference decides their pairs directly (real data has none; the rule
 * keeps the output exact whatever the input). Within 2^60 every float
 * distance stays below 2^123. */
#define FAISS_WIDE_NORM 0x1p60

static sj_status faiss_vec_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    faiss_vec_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_vec_join_init(&s->v, cfg, type);
    if (s->v.metric == SJ_METRIC_L1) {
        free(s);
        return sj_fail(SJ_ERR_UNSUPPORTED,
                       "the faiss backend has no l1 range search: use --backend cpu, cuda or naive");
    }
    int rc = s->v.metric == SJ_METRIC_L2SQ
                 ? faiss_IndexFlatL2_new_with((FaissIndexFlatL2 **)&s->index, type.dim)
                 : faiss_IndexFlatIP_new_with((FaissIndexFlatIP **)&s->index, type.dim);
    if (rc) {
        free(s);
        return faiss_err("IndexFlat new");
    }
    *state = s;
    return SJ_OK;
}

/* Whether a converted row (f: [D] floats; norm: |row| before conversion) is
 * wide; a wide row's floats are zeroed, so FAISS never sees it. */
static int wide_row(const sj_vec_join *v, float *f, double norm)
{
    const double converted = v->metric == SJ_METRIC_COSINE ? (norm > 0 ? 1.0 : 0.0) : norm;
    if (!(converted > FAISS_WIDE_NORM))
        return 0;
    memset(f, 0, (size_t)v->dim * sizeof *f);
    return 1;
}

static sj_status faiss_vec_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    faiss_vec_state *s = state;
    s->rows = rows;
    s->n = n;
    s->max_norm = 0;
    s->n_wide = 0; /* s->wide grows only when a wide row appears (never in real data) */
    sj_status st = SJ_OK;
    float *f = malloc((size_t)SJ_MAX(n, 1) * s->v.dim * sizeof *f);
    double *norm = malloc((size_t)SJ_MAX(n, 1) * sizeof *norm);
    if (!f || !norm)
        st = sj_fail(SJ_ERR_NOMEM, "out of memory for %lld vectors", (long long)n);
    else {
        sj_vec_to_float(&s->v, rows, n, (int)s->v.dim, f, norm);
        for (int64_t i = 0; i < n && !st; i++) {
            if (!wide_row(&s->v, f + (size_t)i * s->v.dim, norm[i]))
                s->max_norm = SJ_MAX(s->max_norm, norm[i]);
            else if (!(st = sj_grow((void **)&s->wide, &s->wide_cap, s->n_wide + 1, sizeof *s->wide)))
                s->wide[s->n_wide++] = i;
        }
        if (!st && (faiss_Index_reset(s->index) || faiss_Index_add(s->index, n, f)))
            st = faiss_err("IndexFlat add");
    }
    free(f);
    free(norm);
    return st;
}

/* Whether corpus row c is wide (a binary search of s->wide). */
static int is_wide(const faiss_vec_state *s, int64_t c)
{
    int64_t lo = 0, hi = s->n_wide;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (s->wide[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_wide && s->wide[lo] == c;
}

static sj_status faiss_vec_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                                   int64_t c0, int64_t c1, int self, sj_hits *out)
{
    faiss_vec_state *s = state;
    sj_status st = SJ_OK;
    float *f = malloc((size_t)SJ_MAX(nq, 1) * s->v.dim * sizeof *f);
    double *norm = malloc((size_t)SJ_MAX(nq, 1) * sizeof *norm);
    FaissRangeSearchResult *res = NULL;
    if (!f || !norm) {
        free(f), free(norm);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    sj_vec_to_float(&s->v, queries, nq, (int)s->v.dim, f, norm);
    double qmax = 0;
    for (int64_t i = 0; i < nq && !st; i++) {
        if (!wide_row(&s->v, f + (size_t)i * s->v.dim, norm[i])) {
            qmax = SJ_MAX(qmax, norm[i]);
            continue;
        }
        norm[i] = -1; /* wide: the reference decides its pairs with every corpus row */
        for (int64_t c = self ? SJ_MAX(c0, q0 + i + 1) : c0; c < c1 && !st; c++)
            st = sj_vec_decide(&s->v, queries + (size_t)i * s->v.bytes,
                               s->rows + (size_t)c * s->v.bytes, q0 + i, c, out);
    }
    /* the wide corpus rows against the other queries */
    for (int64_t k = 0; k < s->n_wide && !st; k++) {
        const int64_t c = s->wide[k];
        if (c < c0 || c >= c1)
            continue;
        for (int64_t i = 0; i < nq && !st; i++)
            if (norm[i] >= 0 && !(self && c <= q0 + i))
                st = sj_vec_decide(&s->v, queries + (size_t)i * s->v.bytes,
                                   s->rows + (size_t)c * s->v.bytes, q0 + i, c, out);
    }
    if (st)
        goto done;
    /* FAISS computes |x|^2 + |y|^2 - 2 x.y in float: error up to about
     * gamma (|x| + |y|)^2; on unit vectors, gamma. */
    double scale = s->v.metric == SJ_METRIC_COSINE ? 1.0
                   : s->v.metric == SJ_METRIC_IP   ? qmax * s->max_norm
                                                   : (qmax + s->max_norm) * (qmax + s->max_norm);
    double margin = 2.0 * s->v.gamma * scale + 1e-30;
    /* l2sq: FAISS keeps d < radius; ip: keeps <x, y> > radius, and our
     * distance is 1 - <x, y>. */
    float radius = s->v.metric == SJ_METRIC_L2SQ ? (float)(s->v.threshold + margin) * (1 + 1e-6f) + 1e-30f
                                                 : (float)(1.0 - s->v.threshold - margin) - 1e-6f;
    if (faiss_RangeSearchResult_new(&res, nq)) {
        st = faiss_err("RangeSearchResult_new");
        goto done;
    }
    if (faiss_Index_range_search(s->index, nq, f, radius, res)) {
        st = faiss_err("range_search");
        goto done;
    }
    size_t *lims;
    idx_t *labels;
    float *dist;
    faiss_RangeSearchResult_lims(res, &lims);
    faiss_RangeSearchResult_labels(res, &labels, &dist);
    for (int64_t i = 0; i < nq && !st; i++)
        for (size_t k = lims[i]; k < lims[i + 1] && !st; k++) {
            int64_t c = labels[k];
            if (c < c0 || c >= c1 || (self && c <= q0 + i) || norm[i] < 0 || is_wide(s, c))
                continue;
            st = sj_vec_decide(&s->v, queries + (size_t)i * s->v.bytes,
                               s->rows + (size_t)c * s->v.bytes, q0 + i, c, out);
        }
done:
    if (res)
        faiss_RangeSearchResult_free(res);
    free(f);
    free(norm);
    return st;
}

static void faiss_vec_close(void *state)
{
    faiss_vec_state *s = state;
    if (!s)
        return;
    faiss_Index_free(s->index);
    free(s->wide);
    free(s);
}

#else /* !SIMJOIN_HAVE_FAISS */

static sj_status faiss_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    (void)cfg, (void)type, (void)state;
    return sj_fail(SJ_ERR_UNSUPPORTED,
                   "the faiss backend is not built in (run scripts/setup.sh, then rebuild)");
}
#define faiss_load_corpus NULL
#define faiss_compare NULL
#define faiss_close NULL
#define faiss_vec_open faiss_open
#define faiss_vec_load_corpus NULL
#define faiss_vec_compare NULL
#define faiss_vec_close NULL
#endif

const sj_backend_ops sj_backend_faiss = {
    /* .name           = */ "faiss",
    /* .parallel_calls = */ 0,
    /* .open           = */ faiss_open,
    /* .load_corpus    = */ faiss_load_corpus,
    /* .compare        = */ faiss_compare,
    /* .close          = */ faiss_close,
};

const sj_backend_ops sj_backend_faiss_vec = {
    /* .name           = */ "faiss",
    /* .parallel_calls = */ 0,
    /* .open           = */ faiss_vec_open,
    /* .load_corpus    = */ faiss_vec_load_corpus,
    /* .compare        = */ faiss_vec_compare,
    /* .close          = */ faiss_vec_close,
};
