/* backend_cpu.c - our CPU backend: packed corpus + ISA-dispatched kernels.
 * compare() is thread-safe; the scheduler runs it on every OpenMP thread. */
#include "join/hamming_cpu.h"
#include "join/vector.h"

#include <stdlib.h>

typedef struct cpu_state {
    sj_hash_type type;
    int32_t threshold;
    sj_hamming_block_fn block;
    sj_packed_corpus corpus;
} cpu_state;

static sj_status cpu_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    sj_isa isa = cfg->isa == SJ_ISA_AUTO ? sj_isa_best() : cfg->isa;
    if (!sj_isa_supported(isa))
        return sj_fail(SJ_ERR_UNSUPPORTED, "--isa %s is not supported by this CPU or build",
                       sj_isa_name(isa));
    cpu_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->type = type;
    s->threshold = cfg->threshold;
    s->block = sj_hamming_block_for(isa);
    s->corpus.isa = isa;
    *state = s;
    return SJ_OK;
}

static sj_status cpu_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    cpu_state *s = state;
    sj_packed_corpus_release(&s->corpus);
    return sj_packed_corpus_init(&s->corpus, s->corpus.isa, rows, n, sj_hash_type_bytes(s->type),
                                 s->threshold);
}

static sj_status cpu_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                             int64_t c0, int64_t c1, int self, sj_hits *out)
{
    cpu_state *s = state;
    const int W = s->corpus.words;
    uint64_t *q = malloc((size_t)SJ_MAX(nq, 1) * (size_t)W * sizeof *q);
    if (!q)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_pack_rows(queries, nq, sj_hash_type_bytes(s->type), W, q);
    sj_status st = s->block(&s->corpus, q, q0, nq, c0, c1, s->threshold, self, out);
    free(q);
    return st;
}

static void cpu_close(void *state)
{
    cpu_state *s = state;
    if (!s)
        return;
    sj_packed_corpus_release(&s->corpus);
    free(s);
}

const sj_backend_ops sj_backend_cpu = {
    /* .name           = */ "cpu",
    /* .parallel_calls = */ 1,
    /* .open           = */ cpu_open,
    /* .load_corpus    = */ cpu_load_corpus,
    /* .compare        = */ cpu_compare,
    /* .close          = */ cpu_close,
};

const char *sj_cpu_path_name(sj_hash_type t, sj_metric m, sj_isa isa)
{
    if (sj_hash_type_binary(t))
        return sj_isa_name(isa == SJ_ISA_AUTO ? sj_isa_best() : isa);
    return sj_vec_cpu_path_name(t, m == SJ_METRIC_DEFAULT ? sj_metric_default(t) : m, isa);
}
