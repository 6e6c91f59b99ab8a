/* test_cuda_mock.c - host/join/backend_cuda.c itself, the Hamming backend's host
 * scheduler (devices' corpus split, corpus chunks, pinned staging pieces,
 * query sub-tiles on two lanes, the bounded hit-buffer redo, range edges),
 * run on the host: the CUDA runtime is mocked (tests/mock_cuda/), a launch
 * is a plain loop over its tile with the kernels' keep rule and append
 * contract (the counter runs past the capacity), and host/join/gpu_plan.h's
 * limits are set tiny so that every split happens at small sizes. Pairs are
 * checked against a naive loop. No GPU, no CUDA toolkit needed. */
#define SJ_GPU_MAX_LAUNCH_ROWS ((int64_t)300)
#define SJ_GPU_STAGE_BYTES ((int64_t)4096)
#define SJ_GPU_MAX_HITS ((uint64_t)2000)
#define SUB_QUERIES 512

/* The file under test, its external names renamed away from the library's. */
#define sj_backend_cuda mock_backend_cuda
#define sj_cuda_device_count mock_cuda_device_count
#define sj_cuda_compiled mock_cuda_compiled
#define sj_cuda_compiled_in mock_cuda_compiled_in
#define sj_gpu_launch mock_gpu_launch
#define sj_gpu_row_popc mock_gpu_row_popc
#define sj_gpu_row_words mock_gpu_row_words
#define sj_gpu_probe mock_gpu_probe
#define sj_gpu_min_arch mock_gpu_min_arch
#define sj_gpu_error_string mock_gpu_error_string
#include "../host/join/backend_cuda.c"

#include "test_util.h"

/* What the launches saw. */
static int64_t g_launches, g_popc_bad, g_work; /* g_work: pairs launched */
static uint32_t g_max_nc, g_max_nq;
static unsigned long long g_max_capacity;

int mock_gpu_row_words(sj_gpu_kernel k, uint32_t bits) { (void)k; return SJ_GPU_ROW_WORDS(bits); }
int mock_gpu_probe(void) { return 0; }
int mock_gpu_min_arch(void) { return 900; }
const char *mock_gpu_error_string(int err) { return err ? "mock error" : "no error"; }

int mock_gpu_row_popc(const uint32_t *rows, uint32_t n, int words, int32_t *out, void *stream)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = sj_row_popc(rows + (size_t)i * words, words);
    return 0;
}

/* Every pair of the tile; v3's popcount arrays must match its rows (they are
 * offset with the rows when a tile is redone in pieces), and v3 pairs pass
 * through its epilogue's test (hamming_tile.h's sj_v3_within) and distance
 * from the AND count. */
int mock_gpu_launch(sj_gpu_kernel k, const sj_gpu_tile *t, void *stream)
{
    g_launches++;
    g_work += (int64_t)t->nq * t->nc;
    g_max_nc = SJ_MAX(g_max_nc, t->nc), g_max_nq = SJ_MAX(g_max_nq, t->nq);
    g_max_capacity = SJ_MAX(g_max_capacity, t->capacity);
    for (uint32_t q = 0; q < t->nq; q++) {
        const uint32_t *qr = t->queries + (size_t)q * t->words;
        if (k == SJ_GPU_V3)
            g_popc_bad += t->query_popc[q] != sj_row_popc(qr, t->words);
        for (uint32_t c = 0; c < t->nc; c++) {
            const uint32_t *cr = t->corpus + (size_t)c * t->words;
            if (k == SJ_GPU_V3 && q == 0)
                g_popc_bad += t->corpus_popc[c] != sj_row_popc(cr, t->words);
            int d = sj_tile_distance(qr, cr, t->words);
            if (k == SJ_GPU_V3) { /* v3's epilogue: the AND count, its first test, then d */
                int and_count = 0;
                for (int w = 0; w < t->words; w++)
                    and_count += sj_popc32(qr[w] & cr[w]);
                if (!sj_v3_within(and_count, t->query_popc[q] - t->threshold, t->corpus_popc[c]))
                    continue;
                d = sj_hamming_from_and(t->query_popc[q], t->corpus_popc[c], and_count);
            }
            if (!sj_tile_keep(t->q0, q, t->nq, t->c0, c, t->nc, t->self, d, t->threshold))
                continue;
            const unsigned long long slot = (*t->count)++;
            if (sj_slot_fits(slot, t->capacity))
                t->hits[slot] = (sj_gpu_hit){q, c, d};
        }
    }
    return 0;
}

static int naive_distance(const uint8_t *a, const uint8_t *b, uint32_t bytes)
{
    int d = 0;
    for (uint32_t i = 0; i < bytes; i++)
        d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
    return d;
}

/* One compare() call through the backend against the naive loop: queries
 * rows [q0, q0 + nq) of qrows (global rows), corpus rows [c0, c1). When
 * max_work > 0, the launches may cover at most that many pairs (no tile
 * redone): a self-join walks the triangle, a corpus range is not widened to
 * whole chunks. */
static void check_compare(const char *what, sj_join_config cfg, const uint8_t *qrows, int64_t q0,
                          int64_t nq, const uint8_t *corpus, int64_t n, int64_t c0, int64_t c1,
                          int self, int64_t max_work)
{
    const uint32_t bytes = 32;
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    void *state = NULL;
    sj_hits out = {0};
    g_launches = g_popc_bad = g_work = 0, g_max_nc = g_max_nq = 0, g_max_capacity = 0;
    sj_status st = mock_backend_cuda.open(&cfg, pdq, &state);
    if (!st)
        st = mock_backend_cuda.load_corpus(state, corpus, n);
    if (!st)
        st = mock_backend_cuda.compare(state, qrows + (size_t)q0 * bytes, q0, nq, c0, c1, self, &out);
    mock_backend_cuda.close(state);
    int *want = malloc((size_t)nq * (size_t)n * sizeof *want);
    int64_t n_want = 0;
    for (int64_t q = 0; q < nq; q++)
        for (int64_t c = 0; c < n; c++) {
            const int d = naive_distance(qrows + (size_t)(q0 + q) * bytes, corpus + (size_t)c * bytes, bytes);
            const int in = c >= c0 && c < c1 && d <= cfg.threshold && (!self || c > q0 + q);
            want[q * n + c] = in ? d : -1;
            n_want += in;
        }
    int ok = st == SJ_OK && out.n == n_want;
    for (int64_t i = 0; i < out.n && ok; i++) {
        const int64_t q = out.v[i].q - q0, c = out.v[i].c;
        ok = q >= 0 && q < nq && c >= 0 && c < n && want[q * n + c] == (int)out.v[i].d;
        if (ok)
            want[q * n + c] = -2; /* seen: a second report fails */
    }
    CHECK(ok && g_popc_bad == 0, "%s: %lld pairs, naive %lld (%s)", what, (long long)out.n,
          (long long)n_want, st ? sj_last_error() : "ok");
    const uint64_t first_cap = cfg.gpu_hit_capacity > 0 ? (uint64_t)cfg.gpu_hit_capacity : DEFAULT_HITS;
    CHECK(g_max_nc <= SJ_GPU_MAX_LAUNCH_ROWS && g_max_capacity <= SJ_MAX(SJ_GPU_MAX_HITS, first_cap),
          "%s: launches of at most %u corpus rows, hit buffers of at most %llu (%lld launches)", what,
          g_max_nc, g_max_capacity, (long long)g_launches);
    if (max_work > 0)
        CHECK(g_work <= max_work, "%s: %lld pairs launched, at most %lld needed", what,
              (long long)g_work, (long long)max_work);
    free(want);
    free(out.v);
}

int main(void)
{
    t_init_seed();
    enum { N = 1500, NQ = 2100 };
    const uint32_t bytes = 32;
    uint8_t *corpus = malloc((size_t)N * bytes), *queries = malloc((size_t)NQ * bytes);
    for (size_t i = 0; i < (size_t)N * bytes; i++)
        corpus[i] = (uint8_t)t_rand();
    for (int64_t q = 0; q < NQ; q++) {
        uint8_t *r = queries + (size_t)q * bytes;
        for (uint32_t b = 0; b < bytes; b++)
            r[b] = (uint8_t)t_rand();
        if (q % 4 == 0) { /* near duplicates of corpus rows */
            memcpy(r, corpus + (size_t)(t_rand() % N) * bytes, bytes);
            for (int k = 0; k < (int)(t_rand() % 30); k++)
                r[t_rand() % bytes] ^= (uint8_t)(1u << t_rand() % 8);
        }
    }
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.gpu_kernel = 3;
    cfg.gpu_hit_capacity = 64;
    cfg.gpu_memory_limit = 700 * 36; /* chunks of 700 rows, capped to 300 a launch */
    for (int devices = 1; devices <= 2; devices++) {
        mock_devices = devices;
        sj_join_config c = cfg;
        if (devices == 2)
            sj_gpu_list_parse("0,1", &c);
        char what[128];
        c.threshold = 31; /* sparse: several query sub-tiles of 512 */
        snprintf(what, sizeof what, "%d device(s) cross T=31 %d x %d", devices, (int)NQ, (int)N);
        check_compare(what, c, queries, 0, NQ, corpus, N, 0, N, 0, 0);
        c.threshold = 128; /* half of all pairs: every tile overflows 2000 hits */
        snprintf(what, sizeof what, "%d device(s) cross T=128 400 x %d", devices, N);
        check_compare(what, c, queries, 0, 400, corpus, N, 0, N, 0, 0);
        snprintf(what, sizeof what, "%d device(s) self T=128 rows 500..1199", devices);
        check_compare(what, c, corpus, 500, 700, corpus, N, 500, N, 1, 0);
        c.threshold = 40;
        c.gpu_hit_capacity = 1 << 16; /* no redo: the launched work is the first pass */
        snprintf(what, sizeof what, "%d device(s) cross T=40 corpus rows 123..1300", devices);
        check_compare(what, c, queries, 0, 600, corpus, N, 123, 1301, 0, 600 * (1301 - 123));
        c.gpu_hit_capacity = 0; /* the default buffer, above the (tiny) cap */
        c.threshold = 128;
        snprintf(what, sizeof what, "%d device(s) self T=128 default capacity", devices);
        check_compare(what, c, corpus, 0, N, corpus, N, 0, N, 1, 0);
        c.threshold = 31; /* a self-join block as the scheduler passes it (c0 = q0):
                           * sub-tile k of 512 queries needs rows after its first */
        c.gpu_hit_capacity = 1 << 16;
        snprintf(what, sizeof what, "%d device(s) self T=31 rows 300..2099 (triangle)", devices);
        int64_t need = 0;
        for (int64_t sq = 300; sq < NQ; sq += SUB_QUERIES)
            need += SJ_MIN(SUB_QUERIES, NQ - sq) * (NQ - (sq + 1));
        check_compare(what, c, queries, 300, NQ - 300, queries, NQ, 300, NQ, 1, need);
    }
    free(corpus);
    free(queries);
    return t_finish("test_cuda_mock");
}
