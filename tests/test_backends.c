/* test_backends.c - every backend and ISA path against an oracle loop written
 * here (it shares no code with the library), on fresh random data: widths 64,
 * 96, 256, 1024; sizes 0, 1 and around the query-block and corpus-tile sizes;
 * planted pairs at exactly T (must match) and T+1 (must not); self and cross
 * joins; 1 and 2 threads. */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <string.h>

/* Oracle: distance by a bit loop. */
static int oracle_distance(const uint8_t *a, const uint8_t *b, uint32_t bytes)
{
    int d = 0;
    for (uint32_t i = 0; i < bytes; i++)
        for (int bit = 0; bit < 8; bit++)
            d += ((a[i] ^ b[i]) >> bit) & 1;
    return d;
}

static int cmp_pair(const void *x, const void *y)
{
    const sj_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

/* Oracle pairs: all (q, c) (self: c after q) with d <= T, canonical, sorted. */
static sj_pair *oracle_join(const sj_hashes *q, const sj_hashes *c, int self, int T, int64_t *n)
{
    uint32_t rb = q->type.bits / 8;
    int64_t cap = 1024, k = 0;
    sj_pair *v = malloc((size_t)cap * sizeof *v);
    for (int64_t i = 0; i < q->n; i++)
        for (int64_t j = self ? i + 1 : 0; j < c->n; j++) {
            int d = oracle_distance(q->hashes + i * rb, c->hashes + j * rb, rb);
            if (d > T)
                continue;
            if (k == cap)
                v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            int64_t a = q->ids[i], b = c->ids[j];
            v[k++] = (sj_pair){a < b ? a : b, a < b ? b : a, d, 0};
        }
    qsort(v, (size_t)k, sizeof *v, cmp_pair);
    *n = k;
    return v;
}

static sj_hashes *random_set(sj_hash_type t, int64_t n, int64_t first_id)
{
    sj_hashes *h;
    sj_hashes_create(t, n, &h);
    uint32_t rb = t.bits / 8;
    uint8_t row[256];
    for (int64_t i = 0; i < n; i++) {
        for (uint32_t b = 0; b < rb; b++)
            row[b] = (uint8_t)t_rand();
        /* ids: shuffled-looking but unique, so canonical order matters */
        sj_hashes_append(h, first_id + (int64_t)((i * 7919) % (n ? n : 1)) * 3, row, -1);
    }
    return h;
}

/* Make corpus row j a copy of query row i with exactly k distinct bits flipped. */
static void plant(sj_hashes *c, int64_t j, const sj_hashes *q, int64_t i, int k)
{
    uint32_t bits = q->type.bits, rb = bits / 8;
    uint8_t *dst = c->hashes + j * rb;
    memcpy(dst, q->hashes + i * rb, rb);
    uint8_t flipped[128] = {0};
    if (k > (int)bits)
        k = (int)bits;
    for (int done = 0; done < k;) {
        uint32_t b = (uint32_t)(t_rand() % bits);
        if (flipped[b / 8] >> (b % 8) & 1)
            continue;
        flipped[b / 8] |= (uint8_t)(1u << (b % 8));
        dst[b / 8] ^= (uint8_t)(1u << (b % 8));
        done++;
    }
}

typedef struct path {
    sj_backend_kind backend;
    sj_isa isa;
    const char *name;
} path;

static int same(const sj_pairs *got, const sj_pair *want, int64_t n)
{
    if (got->n != n)
        return 0;
    for (int64_t i = 0; i < n; i++)
        if (got->v[i].a != want[i].a || got->v[i].b != want[i].b ||
            got->v[i].distance != want[i].distance)
            return 0;
    return 1;
}

static void run_case(const path *paths, int np, sj_hash_type t, int T, int64_t nq, int64_t nc)
{
    sj_hashes *q = random_set(t, nq, 1000000);
    sj_hashes *c = random_set(t, nc, 5000000);
    /* Plant boundary pairs: at T (match), at T+1 (no match), at 0 (duplicate). */
    for (int64_t k = 0; k < 12 && nq > 0 && nc > 0; k++) {
        int64_t i = (int64_t)(t_rand() % (uint64_t)nq), j = (int64_t)(t_rand() % (uint64_t)nc);
        int flips = k % 3 == 0 ? T : k % 3 == 1 ? T + 1 : 0;
        plant(c, j, q, i, flips);
    }
    /* And inside the query set, for the self-join. */
    for (int64_t k = 0; k < 6 && nq > 1; k++) {
        int64_t i = (int64_t)(t_rand() % (uint64_t)nq), j = (int64_t)(t_rand() % (uint64_t)nq);
        if (i != j)
            plant(q, j, q, i, k % 2 ? T : T + 1);
    }
    int64_t n_cross, n_self;
    sj_pair *want_cross = oracle_join(q, c, 0, T, &n_cross);
    sj_pair *want_self = oracle_join(q, q, 1, T, &n_self);
    for (int p = 0; p < np; p++)
        for (int run = 1; run <= 3; run++) {
            /* runs: 1 thread; 2 threads; 2 threads with the corpus in chunks
             * of about 300 rows (--max-memory) */
            const int threads = run == 1 ? 1 : 2;
            sj_join_config cfg;
            sj_join_config_init(&cfg);
            cfg.threshold = T;
            cfg.backend = paths[p].backend;
            cfg.isa = paths[p].isa;
            cfg.threads = threads;
            if (run == 3)
                cfg.max_memory = 300 * (2 * (int64_t)((t.bits / 8 + 7) / 8) * 8 + 64);
            sj_pairs got = {0};
            sj_status st = sj_join_cross(&cfg, q, c, &got);
            if (!st)
                st = sj_pairs_canonicalize(&got);
            CHECK(st == SJ_OK && same(&got, want_cross, n_cross),
                  "cross %s bits=%u T=%d nq=%lld nc=%lld run=%d: got %lld pairs, want %lld (%s)",
                  paths[p].name, t.bits, T, (long long)nq, (long long)nc, run,
                  (long long)got.n, (long long)n_cross, sj_last_error());
            sj_pairs_free(&got);
            st = sj_join_self(&cfg, q, &got);
            if (!st)
                st = sj_pairs_canonicalize(&got);
            CHECK(st == SJ_OK && same(&got, want_self, n_self),
                  "self %s bits=%u T=%d nq=%lld run=%d: got %lld pairs, want %lld (%s)",
                  paths[p].name, t.bits, T, (long long)nq, run, (long long)got.n,
                  (long long)n_self, sj_last_error());
            sj_pairs_free(&got);
        }
    free(want_cross);
    free(want_self);
    sj_hashes_free(q);
    sj_hashes_free(c);
}

int main(void)
{
    t_init_seed();
    path paths[16];
    int np = 0;
    for (int i = SJ_ISA_PORTABLE; i <= SJ_ISA_AVX512; i++) {
        if (sj_isa_supported((sj_isa)i))
            paths[np++] = (path){SJ_BACKEND_CPU, (sj_isa)i, sj_isa_name((sj_isa)i)};
        else
            printf("skipped: isa %s is not supported on this CPU\n", sj_isa_name((sj_isa)i));
    }
    paths[np++] = (path){SJ_BACKEND_NAIVE, SJ_ISA_AUTO, "naive"};
    if (sj_backend_available(SJ_BACKEND_FAISS))
        paths[np++] = (path){SJ_BACKEND_FAISS, SJ_ISA_AUTO, "faiss"};
    else
        printf("skipped: faiss backend not built\n");

    /* Widths with thresholds near where real matches sit. */
    const struct { uint32_t bits; int T; } widths[] = {{64, 10}, {96, 14}, {256, 31}, {1024, 120}, {8, 2}};
    /* Sizes: 0, 1, the query block (256) and corpus tiles (1024 rows for 256
     * bits, 512 for 512..., 4096/W rows) plus and minus one. */
    const int64_t sizes[][2] = {{0, 0}, {0, 7}, {7, 0}, {1, 1}, {1, 300}, {255, 1023},
                                {256, 1024}, {257, 1025}, {300, 4097}};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        sj_hash_type t = {widths[w].bits == 256 ? SJ_KIND_PDQ : SJ_KIND_BITS, widths[w].bits, 0};
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            if (widths[w].bits >= 1024 && sizes[s][0] * sizes[s][1] > 300000)
                continue; /* keep the oracle fast */
            run_case(paths, np, t, widths[w].T, sizes[s][0], sizes[s][1]);
        }
    }
    /* T = 0 (exact duplicates only) and T = bits (everything matches). */
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    run_case(paths, np, pdq, 0, 40, 90);
    run_case(paths, np, pdq, 256, 20, 33);
    return t_finish("test_backends");
}
