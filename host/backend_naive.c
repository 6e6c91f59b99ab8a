/* backend_naive.c - the reference: a plain double loop over bytes. Slow on
 * purpose and shares no code with the fast paths; tests and `simjoin bench`
 * compare every other backend with it. */
#include "backend.h"

#include <stdlib.h>

typedef struct naive_state {
    uint32_t bytes;
    int32_t threshold;
    const uint8_t *corpus; /* [n, bytes], borrowed */
    int64_t n;
} naive_state;

static sj_status naive_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    naive_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
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
            const uint8_t *b = s->corpus + (size_t)j * s->bytes;
            int32_t d = 0;
            for (uint32_t k = 0; k < s->bytes; k++) {
                uint8_t x = a[k] ^ b[k];
                for (; x; x &= (uint8_t)(x - 1))
                    d++;
            }
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
