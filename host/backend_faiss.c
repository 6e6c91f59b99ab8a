/* backend_faiss.c - the same join through the FAISS C API: IndexBinaryFlat
 * range search. FAISS keeps d < radius, so we ask for radius = T + 1.
 * FAISS parallelizes each search with OpenMP itself (parallel_calls = 0). */
#include "backend.h"

#include <stdlib.h>

#ifdef SIMJOIN_HAVE_FAISS
#include <faiss/c_api/IndexBinary_c.h>
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
            if ((st = sj_hits_push(out, q0 + i, c, (int32_t)dist[k])))
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
#endif

const sj_backend_ops sj_backend_faiss = {
    /* .name           = */ "faiss",
    /* .parallel_calls = */ 0,
    /* .open           = */ faiss_open,
    /* .load_corpus    = */ faiss_load_corpus,
    /* .compare        = */ faiss_compare,
    /* .close          = */ faiss_close,
};
