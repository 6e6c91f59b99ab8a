/* test_cuda_mock.c - host/join/backend_cuda.c itself, the Hamming backend's host
 * scheduler (each call's corpus rows split between devices by work, corpus
 * windows, pinned staging pieces, query sub-tiles on two lanes, the bounded
 * hit-buffer redo, range edges), run on the host with 1 to 4 emulated
 * devices: the CUDA runtime is mocked (tests/mock_cuda/), a launch is a
 * plain loop over its tile with the kernels' keep rule and append
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

/* What the launches saw, per device (each device runs on one host thread at
 * a time, so these need no lock); g_*: summed over devices by tally(). */
enum { MOCK_MAX_DEVICES = 4 };
static int64_t dev_launches[MOCK_MAX_DEVICES], dev_popc_bad[MOCK_MAX_DEVICES];
static int64_t dev_work[MOCK_MAX_DEVICES];       /* pairs launched */
static int64_t dev_query_rows[MOCK_MAX_DEVICES]; /* query rows launched (each uploaded once) */
static uint32_t dev_max_nc[MOCK_MAX_DEVICES], dev_max_nq[MOCK_MAX_DEVICES];
static unsigned long long dev_max_capacity[MOCK_MAX_DEVICES];
static int64_t g_launches, g_popc_bad, g_work;
static int64_t g_critical; /* sum over compare() calls of the busiest device's pairs */
static int64_t g_calls, g_call_rows; /* compare() calls, and corpus rows they asked for */

/* Corpus rows uploaded to device d in the last check_join: its host-to-device
 * bytes less the query rows of its launches, in PDQ rows of 8 words (right
 * when no tile was redone: a redo uploads no queries). */
static int64_t corpus_rows_uploaded(int d)
{
    const int64_t row_bytes = SJ_GPU_ROW_WORDS(256) * 4;
    return ((int64_t)mock_h2d_bytes[d] - dev_query_rows[d] * row_bytes) / row_bytes;
}
static uint32_t g_max_nc, g_max_nq;
static unsigned long long g_max_capacity;

static void tally_reset(void)
{
    memset(dev_launches, 0, sizeof dev_launches), memset(dev_popc_bad, 0, sizeof dev_popc_bad);
    memset(dev_work, 0, sizeof dev_work), memset(dev_max_nc, 0, sizeof dev_max_nc);
    memset(dev_query_rows, 0, sizeof dev_query_rows), memset(mock_h2d_bytes, 0, sizeof mock_h2d_bytes);
    memset(dev_max_nq, 0, sizeof dev_max_nq), memset(dev_max_capacity, 0, sizeof dev_max_capacity);
}

static void tally(void)
{
    g_launches = g_popc_bad = g_work = 0, g_max_nc = g_max_nq = 0, g_max_capacity = 0;
    for (int i = 0; i < MOCK_MAX_DEVICES; i++) {
        g_launches += dev_launches[i], g_popc_bad += dev_popc_bad[i], g_work += dev_work[i];
        g_max_nc = SJ_MAX(g_max_nc, dev_max_nc[i]), g_max_nq = SJ_MAX(g_max_nq, dev_max_nq[i]);
        g_max_capacity = SJ_MAX(g_max_capacity, dev_max_capacity[i]);
    }
}

int mock_gpu_row_words(sj_gpu_kernel k, uint32_t bits) { (void)k; return SJ_GPU_ROW_WORDS(bits); }
static int g_probe_fails; /* 1: every device fails sj_gpu_probe */
int mock_gpu_probe(void) { return g_probe_fails; }
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
    const int dev = mock_current; /* the device the launch went to */
    dev_launches[dev]++;
    dev_work[dev] += (int64_t)t->nq * t->nc;
    dev_query_rows[dev] += t->nq;
    dev_max_nc[dev] = SJ_MAX(dev_max_nc[dev], t->nc), dev_max_nq[dev] = SJ_MAX(dev_max_nq[dev], t->nq);
    dev_max_capacity[dev] = SJ_MAX(dev_max_capacity[dev], t->capacity);
    for (uint32_t q = 0; q < t->nq; q++) {
        const uint32_t *qr = t->queries + (size_t)q * t->words;
        if (k == SJ_GPU_V3)
            dev_popc_bad[dev] += t->query_popc[q] != sj_row_popc(qr, t->words);
        for (uint32_t c = 0; c < t->nc; c++) {
            const uint32_t *cr = t->corpus + (size_t)c * t->words;
            if (k == SJ_GPU_V3 && q == 0)
                dev_popc_bad[dev] += t->corpus_popc[c] != sj_row_popc(cr, t->words);
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

/* Bits set in each byte value, counted bit by bit (a plain build has no
 * popcount instruction: __builtin_popcount per byte was most of the test's
 * time). */
static uint8_t byte_bits[256];

static int naive_distance(const uint8_t *a, const uint8_t *b, uint32_t bytes)
{
    if (!byte_bits[255])
        for (int v = 1; v < 256; v++)
            byte_bits[v] = (uint8_t)((v & 1) + byte_bits[v >> 1]);
    int d = 0;
    for (uint32_t i = 0; i < bytes; i++)
        d += byte_bits[a[i] ^ b[i]];
    return d;
}

/* Pairs launched per device in the last check_join: the largest and
 * smallest share of the devices in use, and their mean. */
static void work_spread(int devices, int64_t *max, int64_t *min, double *mean)
{
    *max = 0, *min = INT64_MAX, *mean = 0;
    for (int i = 0; i < devices; i++) {
        *max = SJ_MAX(*max, dev_work[i]), *min = SJ_MIN(*min, dev_work[i]);
        *mean += (double)dev_work[i] / devices;
    }
}

/* Queries rows [q0, q0 + nq) of qrows (global rows) against corpus rows
 * [c0, c1) through the backend, in compare() calls of `block` queries as the
 * scheduler makes them (0: one call; a self-join block starts its corpus
 * rows at its first query), against the naive loop. When max_work > 0, the
 * launches may cover at most that many pairs (no tile redone): a self-join
 * walks the triangle, a corpus range is not widened to whole chunks. The
 * pairs launched per device are left in dev_work. */
static void check_join(const char *what, sj_join_config cfg, const uint8_t *qrows, int64_t q0,
                       int64_t nq, const uint8_t *corpus, int64_t n, int64_t c0, int64_t c1,
                       int self, int64_t max_work, int64_t block)
{
    const uint32_t bytes = 32;
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    void *state = NULL;
    sj_hits out = {0};
    tally_reset();
    sj_status st = mock_backend_cuda.open(&cfg, pdq, &state);
    if (!st)
        st = mock_backend_cuda.load_corpus(state, corpus, n);
    if (block <= 0)
        block = SJ_MAX(nq, 1);
    g_critical = g_calls = g_call_rows = 0;
    for (int64_t qb = q0; qb < q0 + nq && !st; qb += block) {
        const int64_t c_from = self ? SJ_MAX(c0, qb) : c0;
        int64_t before[MOCK_MAX_DEVICES], busiest = 0;
        memcpy(before, dev_work, sizeof before);
        g_calls += c_from < c1, g_call_rows += SJ_MAX(c1 - c_from, 0);
        if (c_from < c1)
            st = mock_backend_cuda.compare(state, qrows + (size_t)qb * bytes, qb,
                                           SJ_MIN(block, q0 + nq - qb), c_from, c1, self, &out);
        for (int i = 0; i < MOCK_MAX_DEVICES; i++)
            busiest = SJ_MAX(busiest, dev_work[i] - before[i]);
        g_critical += busiest; /* a call waits for its busiest device */
    }
    mock_backend_cuda.close(state);
    tally();
    int *want = malloc((size_t)SJ_MAX(nq * n, 1) * sizeof *want);
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

static void check_compare(const char *what, sj_join_config cfg, const uint8_t *qrows, int64_t q0,
                          int64_t nq, const uint8_t *corpus, int64_t n, int64_t c0, int64_t c1,
                          int self, int64_t max_work)
{
    check_join(what, cfg, qrows, q0, nq, corpus, n, c0, c1, self, max_work, 0);
}

/* --gpus 0,1,..,devices-1 */
static void use_devices(int devices, sj_join_config *cfg)
{
    char list[64] = "";
    for (int i = 0; i < devices; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "", i);
    sj_gpu_list_parse(list, cfg);
}

/* Edge sizes on `devices` devices, self and cross: no rows, one, fewer rows
 * than devices, a query sub-tile (SUB_QUERIES) and a launch's corpus rows
 * (SJ_GPU_MAX_LAUNCH_ROWS) +- 1; resident, and streamed through windows of
 * 37 rows. */
static void check_edges(int devices, sj_join_config cfg, const uint8_t *queries,
                        const uint8_t *corpus)
{
    const int64_t sizes[] = {0, 1, devices - 1, devices + 1, SJ_GPU_MAX_LAUNCH_ROWS - 1,
                             SJ_GPU_MAX_LAUNCH_ROWS + 1, SUB_QUERIES - 1, SUB_QUERIES,
                             SUB_QUERIES + 1, 701};
    const int64_t limits[] = {1 << 30, 37 * 36}; /* device bytes for the corpus */
    use_devices(devices, &cfg);
    cfg.threshold = 128; /* half of all pairs: redone tiles too */
    for (size_t l = 0; l < sizeof limits / sizeof *limits; l++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            const int64_t n = sizes[k];
            char what[160];
            cfg.gpu_memory_limit = limits[l];
            snprintf(what, sizeof what, "%d devices, %lld-byte limit: self %lld rows", devices,
                     (long long)limits[l], (long long)n);
            check_compare(what, cfg, corpus, 0, n, corpus, n, 0, n, 1, 0);
            snprintf(what, sizeof what, "%d devices, %lld-byte limit: cross %lld x %lld", devices,
                     (long long)limits[l], (long long)n, (long long)sizes[(k + 3) % 10]);
            check_compare(what, cfg, queries, 0, n, corpus, sizes[(k + 3) % 10], 0,
                          sizes[(k + 3) % 10], 0, 0);
        }
}

/* Work balance: the pairs launched on each device of a self-join of 2,100
 * rows (one call, and in calls of 256 queries as the scheduler makes them
 * for a large join) and of a 600 x 1,500 cross join differ by at most 10% of
 * their mean, and so do the busiest device's pairs per call, summed over the
 * calls (each call waits for all devices); one call launches no more than
 * the triangle needs. The corpus goes through windows of 300 rows (the
 * mock's launch cap) or 37: each device uploads about its share of a call,
 * not the whole corpus. The old split (rows evenly, once) gave the device
 * with the last rows of a self-join 2.3x (two devices) to 3.9x (four) the
 * pairs of the first, and fails this. */
static void check_balance(int devices, sj_join_config cfg, const uint8_t *queries, int64_t nq,
                          const uint8_t *corpus, int64_t n)
{
    use_devices(devices, &cfg);
    cfg.gpu_kernel = 1; /* the split does not depend on it; v1's mock is the cheapest */
    cfg.threshold = 31;
    cfg.gpu_hit_capacity = 1 << 16; /* no redo: the launched work is the first pass */
    const int64_t windows[] = {SJ_GPU_MAX_LAUNCH_ROWS, 37};
    for (size_t w = 0; w < 2; w++) {
        cfg.gpu_memory_limit = windows[w] * 36; /* bytes per row: 8 words and a popcount */
        for (int kind = 0; kind < (w ? 2 : 3); kind++) {
            char what[160];
            const int self = kind < 2;
            const int64_t block = kind == 1 ? 256 : 0;
            snprintf(what, sizeof what, "%d devices, windows of %lld: %s", devices,
                     (long long)windows[w],
                     kind == 0   ? "self-join, one call"
                     : kind == 1 ? "self-join, calls of 256"
                                 : "cross join");
            int64_t need = 0; /* one call: sub-tile k needs the rows after its first */
            for (int64_t sq = 0; sq < nq && block == 0; sq += SUB_QUERIES)
                need += SJ_MIN(SUB_QUERIES, nq - sq) * (nq - (sq + 1));
            if (self)
                check_join(what, cfg, queries, 0, nq, queries, nq, 0, nq, 1, need, block);
            else
                check_join(what, cfg, queries, 0, 600, corpus, n, 0, n, 0, 0, block);
            int64_t max, min, uploaded = 0;
            double mean;
            work_spread(devices, &max, &min, &mean);
            for (int i = 0; i < devices; i++)
                uploaded += corpus_rows_uploaded(i);
            CHECK(max - min <= mean / 10, "%s: pairs launched per device %lld..%lld (mean %.0f)",
                  what, (long long)min, (long long)max, mean);
            CHECK(g_critical <= mean * 1.1, "%s: the calls' busiest devices launched %lld pairs, "
                  "the mean device %.0f", what, (long long)g_critical, mean);
            CHECK(uploaded <= g_call_rows + g_calls * devices * windows[w],
                  "%s: %lld corpus rows uploaded, more than the %lld the calls asked for plus a "
                  "window per device and call", what, (long long)uploaded, (long long)g_call_rows);
            printf("%s: pairs launched per device %lld..%lld (spread %.2f%% of the mean), "
                   "busiest per call %.3f x the mean; corpus rows uploaded %lld for %lld asked\n",
                   what, (long long)min, (long long)max,
                   100.0 * (double)(max - min) / SJ_MAX(mean, 1),
                   (double)g_critical / SJ_MAX(mean, 1), (long long)uploaded, (long long)g_call_rows);
        }
    }
}

/* A corpus that fits (290 rows, below the mock's launch cap) is uploaded to
 * each device with work once and kept over the calls: a self-join in one
 * call and in calls of 64, a cross join in calls of 100. */
static void check_resident(int devices, sj_join_config cfg, const uint8_t *queries,
                           const uint8_t *corpus)
{
    enum { ROWS = 290 };
    use_devices(devices, &cfg);
    cfg.gpu_kernel = 1, cfg.threshold = 31, cfg.gpu_hit_capacity = 1 << 16;
    cfg.gpu_memory_limit = 1 << 30;
    for (int kind = 0; kind < 3; kind++) {
        char what[160];
        snprintf(what, sizeof what, "%d devices, resident: %s", devices,
                 kind == 0   ? "self-join, one call"
                 : kind == 1 ? "self-join, calls of 64"
                             : "cross join, calls of 100");
        if (kind < 2)
            check_join(what, cfg, corpus, 0, ROWS, corpus, ROWS, 0, ROWS, 1, 0, kind ? 64 : 0);
        else
            check_join(what, cfg, queries, 0, ROWS, corpus, ROWS, 0, ROWS, 0, 0, 100);
        int once = 1, used = 0;
        for (int i = 0; i < devices; i++) {
            once &= corpus_rows_uploaded(i) == (dev_work[i] ? ROWS : 0);
            used += dev_work[i] > 0;
        }
        CHECK(once && used == devices, "%s: each of the %d devices (%d with work) uploads the "
              "corpus once (%d rows)", what, devices, used, ROWS);
    }
}

/* --gpus: the devices outside the list are never made current (no context
 * on them), a device that does not exist is refused. */
static void check_device_list(void)
{
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    void *state = NULL;
    mock_devices = 4;
    mock_devices_set = 0;
    int ok = mock_cuda_device_count(NULL) == 4 && mock_devices_set == 0;
    sj_gpu_list_parse("1,3", &cfg);
    uint8_t rows[64 * 32];
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = (uint8_t)t_rand();
    sj_hits out = {0};
    ok &= mock_backend_cuda.open(&cfg, pdq, &state) == SJ_OK;
    ok &= ok && mock_backend_cuda.load_corpus(state, rows, 64) == SJ_OK;
    ok &= ok && mock_backend_cuda.compare(state, rows, 0, 64, 0, 64, 1, &out) == SJ_OK;
    mock_backend_cuda.close(state);
    free(out.v);
    CHECK(ok && mock_devices_set == (1u << 1 | 1u << 3),
          "--gpus 1,3 of 4: devices made current %#x, want 0xa", mock_devices_set);
    sj_gpu_list_parse("0,4", &cfg);
    state = NULL;
    const sj_status st = mock_backend_cuda.open(&cfg, pdq, &state);
    mock_backend_cuda.close(state);
    CHECK(st == SJ_ERR_ARG && strstr(sj_last_error(), "device 4 does not exist"),
          "--gpus 0,4 of 4 is refused: %s", sj_last_error());
    g_probe_fails = 1; /* no device can run the kernels: refused, not a join with no devices */
    cfg.n_gpus = 0;
    state = NULL;
    const sj_status none = mock_backend_cuda.open(&cfg, pdq, &state);
    mock_backend_cuda.close(state);
    sj_gpu_list_parse("2", &cfg);
    state = NULL;
    const sj_status listed = mock_backend_cuda.open(&cfg, pdq, &state);
    mock_backend_cuda.close(state);
    g_probe_fails = 0;
    CHECK(none == SJ_ERR_NO_DEVICE && listed == SJ_ERR_NO_DEVICE,
          "no device passes the probe: open fails (%d, %d)", none, listed);
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
    for (int devices = 1; devices <= 2; devices++) { /* 2 to 4: check_edges, check_balance */
        mock_devices = devices;
        sj_join_config c = cfg;
        if (devices > 1)
            use_devices(devices, &c);
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
    for (int devices = 2; devices <= MOCK_MAX_DEVICES; devices++) {
        mock_devices = devices;
        check_edges(devices, cfg, queries, corpus);
        check_balance(devices, cfg, queries, NQ, corpus, N);
        check_resident(devices, cfg, queries, corpus);
    }
    check_device_list();
    free(corpus);
    free(queries);
    return t_finish("test_cuda_mock");
}
