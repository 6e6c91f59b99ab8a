/* backend_naive.c - the reference: every pair, sj_distance (a plain loop in
 * double precision, exact for the integral metrics), d <= T. Slow on purpose
 * and shares no code with the fast paths; tests and `simjoin bench` compare
 * every other backend with it. */
#include "join/backend.h"

#include <stdlib.h>

typedef struct naive_state {
    sj_hash_type type;
    sj_metric metric;
    uint32_t bytes;
    double threshold;
    const uint8_t *corpus; /* [n, bytes], borrowed */
    int64_t n;
} naive_state;

static sj_status naive_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    naive_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->type = type;
    s->metric = cfg->metric == SJ_METRIC_DEFAULT ? sj_metric_default(type) : cfg->metric;
    s->bytes = sj_hash_type_bytes(type);
    s->threshold = cfg->threshold;
    *state = s;
    return SJ_OK;
}

static sj_status naive_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    naive_state *s = state;
    s->corpus = rows;
    s->n = n;
    return SJ_OK;
}

static sj_status naive_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                               int64_t c0, int64_t c1, int self, sj_hits *out)
{
    const naive_state *s = state;
    for (int64_t i = 0; i < nq; i++) {
        const uint8_t *a = queries + (size_t)i * s->bytes;
        for (int64_t j = c0; j < c1; j++) {
            if (self && j <= q0 + i)
                continue;
            double d = sj_distance(s->type, s->metric, a, s->corpus + (size_t)j * s->bytes);
            if (d <= s->threshold) {
                sj_status st = sj_hits_push(out, q0 + i, j, d);
                if (st)
                    return st;
            }
        }
    }
    return SJ_OK;
}

static void naive_close(void *state) { free(state); }

const sj_backend_ops sj_backend_naive = {
    /* .name           = */ "naive",
    /* .parallel_calls = */ 1,
    /* .open           = */ naive_open,
    /* .load_corpus    = */ naive_load_corpus,
    /* .compare        = */ naive_compare,
    /* .close          = */ naive_close,
};
