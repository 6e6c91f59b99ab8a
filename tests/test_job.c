/* test_job.c - sj_join_job_run (simjoin/job.h), the whole join job of
 * `simjoin join` as a library call: shards in, a pairs file out, checked
 * against a naive double loop; degenerate hashes excluded; the journal gone
 * after the run; options misused after reading flagged as usage errors; and
 * the ABI guard: structs not set up by their _init are refused with
 * SJ_ERR_ARG. The library prints nothing: its messages go to the callback.
 * Also sj_bench_run_all (simjoin/bench.h): paths that agree, reported one by
 * one. */
#include "simjoin/bench.h"
#include "simjoin/formats.h"
#include "simjoin/job.h"
#include "simjoin/sweep.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_CORPUS 300
#define N_QUERIES 80
#define BYTES 8 /* bits:64 */
#define T 12

static char dir[] = "/tmp/sj_test_job_XXXXXX";

/* Rows near a few centres, so that pairs exist at and around T; row 0 of
 * the corpus is all zero (a degenerate hash). */
static sj_hashes *make_set(int64_t first_id, int n, uint8_t (*rows)[BYTES])
{
    sj_hash_type t;
    sj_hashes *h = NULL;
    CHECK(sj_hash_type_parse("bits:64", &t) == SJ_OK, "parse");
    CHECK(sj_hashes_create(t, n, &h) == SJ_OK, "create");
    for (int i = 0; i < n; i++) {
        uint64_t centre = 0x5a5a5a5a5a5a5a5aULL * (uint64_t)(1 + t_rand() % 4);
        uint64_t x = centre;
        for (int f = (int)(t_rand() % 20); f > 0; f--)
            x ^= 1ULL << (t_rand() % 64);
        if (first_id == 0 && i == 0)
            x = 0;
        memcpy(rows[i], &x, BYTES);
        CHECK(sj_hashes_append(h, first_id + i, rows[i], -1) == SJ_OK, "append");
    }
    return h;
}

static int hamming(const uint8_t *a, const uint8_t *b)
{
    int d = 0;
    for (int k = 0; k < BYTES; k++)
        d += __builtin_popcount((unsigned)(a[k] ^ b[k]));
    return d;
}

static int ones(const uint8_t *a) { return hamming(a, (const uint8_t[BYTES]){0}); }

static int bench_runs;
static void count_run(void *user, const sj_bench_run *r)
{
    (void)user;
    bench_runs += !r->skipped[0];
}

/* sj_bench_run_all: two paths timed, agreeing with each other and the naive loop. */
static void check_bench(void)
{
    sj_bench_options o;
    sj_bench_options_init(&o);
    o.corpus = 500, o.queries = 20, o.naive_queries = 5;
    o.backends = "cpu,naive", o.isas = "portable";
    o.on_run = count_run;
    sj_bench_result *res = malloc(sizeof *res);
    CHECK(sj_bench_run_all(&o, res) == SJ_OK, "bench: %s", sj_last_error());
    CHECK(res->n_runs == 2 && bench_runs == 2, "bench: %d runs, %d reported", res->n_runs, bench_runs);
    CHECK(!res->disagree && res->naive_ok && res->naive_rate > 0, "bench: paths disagree");
    CHECK(res->runs[0].pairs == res->runs[1].pairs && res->runs[0].pairs > 0, "bench: pairs %lld, %lld",
          (long long)res->runs[0].pairs, (long long)res->runs[1].pairs);
    o.struct_size = 0;
    CHECK(sj_bench_run_all(&o, res) == SJ_ERR_ARG, "bench: options without struct_size were used");
    free(res);
    sj_sweep_table_options so;
    memset(&so, 0, sizeof so);
    sj_sweep_table *t = NULL;
    CHECK(sj_sweep_table_run(&so, &t) == SJ_ERR_ARG && !t, "sweep table: options without struct_size");
}

static int messages;
static void count_message(void *user, sj_job_message_level level, const char *text)
{
    (void)user, (void)level, (void)text;
    messages++;
}

/* Pairs of the file at path equal the naive loop's: corpus rows c[nc]
 * (ids 0..), query rows q[nq] (ids 100000..) or none; rows with a one-bit
 * count outside [lo, hi] left out. */
static void check_pairs(const char *what, const char *path, uint8_t (*c)[BYTES], int nc,
                        uint8_t (*q)[BYTES], int nq, int lo, int hi)
{
    sj_join_result r;
    sj_join_result_init(&r);
    CHECK(sj_pairs_file_read(path, &r) == SJ_OK, "%s: read: %s", what, sj_last_error());
    int64_t expect = 0, found = 0, n_c = 0;
    for (int i = 0; i < (q ? nq : nc); i++) {
        const uint8_t *a = q ? q[i] : c[i];
        if (ones(a) < lo || ones(a) > hi)
            continue;
        for (int j = q ? 0 : i + 1; j < nc; j++) {
            if (ones(c[j]) < lo || ones(c[j]) > hi)
                continue;
            int d = hamming(a, c[j]);
            if (d > T)
                continue;
            expect++;
            int64_t ia = q ? 100000 + i : i, ib = j; /* a < b: corpus ids are the smaller */
            int64_t x = ia < ib ? ia : ib, y = ia < ib ? ib : ia;
            for (int64_t k = 0; k < r.pairs.n; k++)
                if (r.pairs.v[k].a == x && r.pairs.v[k].b == y && r.pairs.v[k].distance == d)
                    found++;
        }
    }
    for (int j = 0; j < nc; j++)
        n_c += ones(c[j]) < lo || ones(c[j]) > hi;
    CHECK(expect > 0, "%s: the data has no pairs", what);
    CHECK(r.pairs.n == expect && found == expect, "%s: %lld pairs, %lld of the %lld expected", what,
          (long long)r.pairs.n, (long long)found, (long long)expect);
    CHECK(!q || r.n_excluded >= n_c, "%s: %lld excluded, the corpus alone has %lld", what,
          (long long)r.n_excluded, (long long)n_c);
    sj_join_result_release(&r);
}

int main(void)
{
    t_init_seed();
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    static uint8_t crow[N_CORPUS][BYTES], qrow[N_QUERIES][BYTES];
    sj_hashes *c = make_set(0, N_CORPUS, crow), *q = make_set(100000, N_QUERIES, qrow);
    char cpath[256], qpath[256], out[256], journal[256];
    snprintf(cpath, sizeof cpath, "%s/c.h5", dir);
    snprintf(qpath, sizeof qpath, "%s/q.h5", dir);
    snprintf(out, sizeof out, "%s/pairs.h5", dir);
    snprintf(journal, sizeof journal, "%s/.pairs.h5.journal", dir);
    CHECK(sj_shard_write(cpath, c, 0, c->n) == SJ_OK, "write corpus: %s", sj_last_error());
    CHECK(sj_shard_write(qpath, q, 0, q->n) == SJ_OK, "write queries: %s", sj_last_error());
    const char *corpus[] = {cpath}, *queries[] = {qpath};

    /* A self-join, nothing excluded: every pair within T (distance == T matches). */
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.backend = SJ_BACKEND_CPU;
    sj_join_job job;
    sj_join_job_init(&job);
    job.corpus = corpus, job.n_corpus = 1, job.out = out, job.threshold = T;
    job.config = &cfg, job.keep_degenerate = 1, job.resume = 1;
    job.message = count_message;
    sj_join_job_result res;
    sj_join_job_result_init(&res);
    CHECK(sj_join_job_run(&job, &res) == SJ_OK, "self-join: %s", sj_last_error());
    check_pairs("self-join", out, crow, N_CORPUS, NULL, 0, 0, 64);
    CHECK(res.hashes == N_CORPUS && res.excluded == 0, "self-join: %lld hashes, %lld excluded",
          (long long)res.hashes, (long long)res.excluded);
    CHECK(res.comparisons == (int64_t)N_CORPUS * (N_CORPUS - 1) / 2, "comparisons %lld",
          (long long)res.comparisons);
    CHECK(access(journal, F_OK) != 0, "the journal is left after a finished run");
    CHECK(messages == 1, "--resume without a journal: %d messages, expected its one notice", messages);

    /* Queries x corpus with the default exclusions (bits:64: one-bits 8..56). */
    remove(out);
    sj_join_job_init(&job);
    job.corpus = corpus, job.n_corpus = 1, job.queries = queries, job.n_queries = 1;
    job.out = out, job.threshold = T;
    sj_join_job_result_init(&res);
    CHECK(sj_join_job_run(&job, &res) == SJ_OK, "cross join: %s", sj_last_error());
    check_pairs("cross join", out, crow, N_CORPUS, qrow, N_QUERIES, 8, 56);
    CHECK(res.excluded >= 1 && res.corpus + res.queries + res.excluded == N_CORPUS + N_QUERIES,
          "cross join: %lld + %lld compared, %lld excluded", (long long)res.corpus,
          (long long)res.queries, (long long)res.excluded);

    /* bits:N has no default threshold: a usage error, nothing written. */
    remove(out);
    job.threshold = NAN;
    sj_join_job_result_init(&res);
    CHECK(sj_join_job_run(&job, &res) == SJ_ERR_ARG && res.usage_error, "no threshold: accepted");
    CHECK(access(out, F_OK) != 0 && access(journal, F_OK) != 0, "a failed job wrote a file");
    job.threshold = T;

    /* The ABI guard: structs not set up by their _init. */
    sj_join_job bad = job;
    bad.struct_size = 0;
    CHECK(sj_join_job_run(&bad, NULL) == SJ_ERR_ARG, "a job without struct_size was run");
    sj_join_config old = cfg;
    old.struct_size = sizeof old - 8; /* a client built against another version */
    job.config = &old;
    CHECK(sj_join_job_run(&job, NULL) == SJ_ERR_ARG, "a config of another size was used");
    sj_pairs pairs = {0};
    CHECK(sj_join_self(&old, c, &pairs) == SJ_ERR_ARG, "sj_join_self took a config of another size");
    CHECK(strstr(sj_last_error(), "sj_join_config_init") != NULL, "message: %s", sj_last_error());
    sj_join_result zero;
    memset(&zero, 0, sizeof zero);
    CHECK(sj_pairs_file_read(cpath, &zero) == SJ_ERR_ARG, "an uninitialised sj_join_result was read into");
    CHECK(access(out, F_OK) != 0, "a refused job wrote its output");

    check_bench();
    sj_pairs_free(&pairs);
    sj_hashes_free(c);
    sj_hashes_free(q);
    remove(cpath);
    remove(qpath);
    rmdir(dir);
    return t_finish("test_job");
}
