/* test_threads.c - "one object per thread" (simjoin.h): two threads each run
 * their own ingest, self-join and complete-linkage clustering (with the
 * diameter check) at the same time, and each result must equal the same
 * pipeline run alone. Sorting through file-scope comparator state made this
 * crash or give wrong clusters (issue 13, item 19). scripts/tsan.sh runs this
 * test under ThreadSanitizer. */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/formats.h"
#include "simjoin/gen.h"
#include "test_util.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

enum { N_JOBS = 2, ROUNDS = 4 };

typedef struct job {
    const char *csv;      /* ingest input */
    double complete_d;    /* linkage complete:D */
    pthread_barrier_t *start; /* shared by the jobs run together (NULL alone): each
                               * step starts in both threads at once */
    sj_status st;         /* first failure */
    char error[1024];     /* its message (sj_last_error is per thread) */
    sj_hashes *h;         /* results, owned */
    sj_pairs pairs;
    sj_clusters *cl;
} job;

static void job_release(job *j)
{
    sj_hashes_free(j->h);
    sj_pairs_free(&j->pairs);
    sj_clusters_free(j->cl);
    j->h = NULL;
    j->cl = NULL;
    memset(&j->pairs, 0, sizeof j->pairs);
}

static void step(const job *j)
{
    if (j->start)
        pthread_barrier_wait(j->start);
}

/* ingest -> self-join at 31 -> complete:D clusters with true diameters. */
static void *run_job(void *arg)
{
    job *j = arg;
    sj_ingest_options io = {.first_id = 0};
    sj_hash_type_parse("pdq", &io.type);
    sj_ingest *ing = NULL;
    sj_status st = sj_ingest_create(&io, &ing);
    if (!st)
        st = sj_ingest_file(ing, j->csv);
    step(j);
    if (!st)
        st = sj_ingest_finish(ing, &j->h);
    sj_ingest_free(ing);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.threshold = 31;
    cfg.backend = SJ_BACKEND_CPU;
    step(j);
    if (!st)
        st = sj_join_self(&cfg, j->h, &j->pairs);
    if (!st)
        st = sj_pairs_canonicalize(&j->pairs);
    sj_cluster_options o;
    sj_cluster_options_defaults(&o);
    o.linkage = SJ_LINK_COMPLETE;
    o.complete_d = j->complete_d;
    o.hashes = j->h;
    step(j);
    if (!st)
        st = sj_cluster(j->h->ids, j->h->n, &j->pairs, &o, &j->cl);
    step(j);
    if (!st)
        st = sj_clusters_check_diameter(j->cl, j->h, SJ_METRIC_HAMMING, 1000);
    j->st = st;
    if (st)
        snprintf(j->error, sizeof j->error, "%s", sj_last_error());
    return NULL;
}

/* Write n generated pdq hashes as "ID,HEX" lines, ids scrambled so that the
 * ingest's id sort has work to do. */
static void write_csv(const char *path, int64_t n, uint64_t seed)
{
    sj_hash_type t;
    sj_hash_type_parse("pdq", &t);
    sj_gen_options go;
    sj_gen_defaults(t, n, seed, &go);
    go.max_series = 40; /* small clusters: complete linkage stays quick */
    sj_hashes *h = NULL;
    if (sj_gen(&go, &h)) {
        fprintf(stderr, "sj_gen: %s\n", sj_last_error());
        exit(1);
    }
    FILE *fp = fopen(path, "w");
    char hex[65];
    for (int64_t i = 0; i < h->n; i++) {
        sj_hex_encode(h->hashes + (size_t)i * 32, 32, hex);
        fprintf(fp, "%lld,%s\n", (long long)((h->ids[i] * 7919) % (n * 11) + 1), hex);
    }
    fclose(fp);
    sj_hashes_free(h);
}

static int same_result(const job *a, const job *b)
{
    if (a->st || b->st)
        return 0;
    const sj_hashes *x = a->h, *y = b->h;
    if (x->n != y->n || memcmp(x->ids, y->ids, (size_t)x->n * sizeof *x->ids) ||
        memcmp(x->hashes, y->hashes, (size_t)x->n * 32))
        return 0;
    if (a->pairs.n != b->pairs.n)
        return 0;
    for (int64_t i = 0; i < a->pairs.n; i++) { /* field by field: sj_pair has padding */
        const sj_pair *p = &a->pairs.v[i], *q = &b->pairs.v[i];
        if (p->a != q->a || p->b != q->b || p->distance != q->distance || p->transform != q->transform)
            return 0;
    }
    const sj_clusters *c = a->cl, *d = b->cl;
    int64_t k = c->n_clusters;
    return c->n_nodes == d->n_nodes && k == d->n_clusters &&
           !memcmp(c->ids, d->ids, (size_t)c->n_nodes * sizeof *c->ids) &&
           !memcmp(c->cluster, d->cluster, (size_t)c->n_nodes * sizeof *c->cluster) &&
           !memcmp(c->size, d->size, (size_t)k * sizeof *c->size) &&
           !memcmp(c->diameter, d->diameter, (size_t)k * sizeof *c->diameter) &&
           !memcmp(c->diameter_checked, d->diameter_checked, (size_t)k);
}

int main(void)
{
    t_init_seed();
    char dir[] = "/tmp/simjoin-threads-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char csv[N_JOBS][64];
    /* Different sizes: one thread finishes its sorts while the other sorts. */
    const int64_t n[N_JOBS] = {12000, 7000};
    const double d[N_JOBS] = {40, 36};
    job alone[N_JOBS];
    for (int k = 0; k < N_JOBS; k++) {
        snprintf(csv[k], sizeof csv[k], "%s/set%d.csv", dir, k);
        write_csv(csv[k], n[k], t_seed + (uint64_t)k);
        alone[k] = (job){.csv = csv[k], .complete_d = d[k]};
        run_job(&alone[k]);
        CHECK(alone[k].st == SJ_OK, "job %d alone: %s\n", k, alone[k].error);
        CHECK(alone[k].st || (alone[k].pairs.n > 100 && alone[k].cl->n_clusters < n[k]),
              "job %d has pairs and clusters to compare\n", k);
    }
    for (int round = 0; round < ROUNDS; round++) {
        job both[N_JOBS];
        pthread_t tid[N_JOBS];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N_JOBS);
        for (int k = 0; k < N_JOBS; k++) {
            both[k] = (job){.csv = csv[k], .complete_d = d[k], .start = &start};
            pthread_create(&tid[k], NULL, run_job, &both[k]);
        }
        for (int k = 0; k < N_JOBS; k++)
            pthread_join(tid[k], NULL);
        pthread_barrier_destroy(&start);
        for (int k = 0; k < N_JOBS; k++) {
            CHECK(both[k].st == SJ_OK, "round %d job %d: %s\n", round, k, both[k].error);
            CHECK(same_result(&both[k], &alone[k]),
                  "round %d job %d: ingest, join or clusters differ from the run alone\n", round, k);
            job_release(&both[k]);
        }
    }
    for (int k = 0; k < N_JOBS; k++) {
        job_release(&alone[k]);
        unlink(csv[k]);
    }
    rmdir(dir);
    return t_finish("test_threads");
}
