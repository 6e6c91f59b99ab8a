/* test_pair_spill.c - the external sort of a join's pairs (host/io/pair_spill.c)
 * against an oracle written here (qsort by (a, b), then the nearest copy of
 * each (a, b) for dihedral joins), never against sj_pairs_canonicalize.
 *   edges: no pairs; exactly one buffer (kept in memory, no run); one pair
 *   more (two runs); buffers exactly filled (k runs, the last written at
 *   finish); run_pairs 1; merge passes (fan-in 2 and 3); the smallest read
 *   buffers; reads of 1, 7 and many pairs at a time.
 *   dihedral copies of one pair in several runs keep the nearest; a plain
 *   pair in two runs is SJ_ERR_INTERNAL; the keep filter; the unit_done
 *   chain of sj_pair_spill_attach.
 *   run files have no name while the sink lives (the directory stays
 *   empty) and no descriptor is left after sj_pair_spill_free.
 *   with HDF5: sj_pairs_file_write_stream refuses a source that gives fewer
 *   or more pairs than announced and leaves nothing behind. */
#define _GNU_SOURCE
#include "../host/io/pair_spill.h"
#ifdef SIMJOIN_HAVE_HDF5
#include "../host/io/pairs_io.h"
#endif
#include "test_util.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int entries(const char *path) /* names in a directory, . and .. aside */
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static int cmp_ab(const void *x, const void *y)
{
    const sj_pair *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

/* The oracle: sorted by (a, b); dihedral: one pair per (a, b), the smallest
 * distance then the lowest transform. Returns the new count. */
static int64_t oracle(sj_pair *v, int64_t n, int dihedral)
{
    if (n > 0) /* qsort of a NULL array is undefined even for 0 rows */
        qsort(v, (size_t)n, sizeof *v, cmp_ab);
    if (!dihedral)
        return n;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (k && v[k - 1].a == v[i].a && v[k - 1].b == v[i].b) {
            if (v[i].distance < v[k - 1].distance ||
                (v[i].distance == v[k - 1].distance && v[i].transform < v[k - 1].transform))
                v[k - 1] = v[i];
        } else {
            v[k++] = v[i];
        }
    }
    return k;
}

/* n pairs a < b in random order: distinct (a, b) unless dihedral, which
 * gives every (a, b) up to four copies with random distances and transforms. */
static sj_pair *random_pairs(int64_t n, int dihedral)
{
    sj_pair *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        int64_t key = dihedral ? i / (1 + (int64_t)(t_rand() % 4)) : i;
        int64_t a = key / 1000 - 40, b = a + 1 + key % 1000; /* negative ids too */
        v[i] = (sj_pair){a, b, (double)(t_rand() % 32), dihedral ? (int32_t)(t_rand() % 8) : 0};
    }
    for (int64_t i = n - 1; i > 0; i--) { /* shuffle */
        int64_t j = (int64_t)(t_rand() % (uint64_t)(i + 1));
        sj_pair t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    return v;
}

static int same_pairs(const sj_pair *x, const sj_pair *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i].a != y[i].a || x[i].b != y[i].b || x[i].distance != y[i].distance ||
            x[i].transform != y[i].transform)
            return 0;
    return 1;
}

static int keep_even_a(void *user, const sj_pair *p)
{
    (void)user;
    return (p->a & 1) == 0;
}

typedef struct spill_case {
    const char *name;
    int64_t n, run_pairs, merge_bytes;
    int fan_in, dihedral, filter;
    int64_t expect_runs; /* runs written; 0: kept in memory */
} spill_case;

static void run_case(const spill_case *c)
{
    sj_pair *input = random_pairs(c->n, c->dihedral);
    sj_pair *want = malloc((size_t)(c->n ? c->n : 1) * sizeof *want);
    int64_t n_want = 0;
    for (int64_t i = 0; i < c->n; i++)
        if (!c->filter || keep_even_a(NULL, &input[i]))
            want[n_want++] = input[i];
    int64_t n_added = n_want;
    n_want = oracle(want, n_want, c->dihedral);

    sj_pair_spill_options o = {.dir = dir, .run_pairs = c->run_pairs, .merge_bytes = c->merge_bytes,
                               .fan_in = c->fan_in, .dihedral = c->dihedral,
                               .keep = c->filter ? keep_even_a : NULL};
    sj_pair_spill *s = NULL;
    CHECK(sj_pair_spill_create(&o, &s) == SJ_OK, "%s: create: %s\n", c->name, sj_last_error());
    if (!s)
        return;
    for (int64_t i = 0; i < c->n;) { /* in uneven units, as a join adds them */
        int64_t unit = 1 + (int64_t)(t_rand() % 50);
        int64_t m = SJ_MIN(c->n - i, unit);
        CHECK(sj_pair_spill_add(s, input + i, m) == SJ_OK, "%s: add: %s\n", c->name, sj_last_error());
        i += m;
    }
    CHECK(sj_pair_spill_added(s) == n_added, "%s: %lld added, %lld expected\n", c->name,
          (long long)sj_pair_spill_added(s), (long long)n_added);
    CHECK(entries(dir) == 0, "%s: run files have names in %s\n", c->name, dir);
    sj_pairs mem = {0};
    int spilled = -1;
    int64_t n_out = -1;
    CHECK(sj_pair_spill_finish(s, &mem, &spilled, &n_out) == SJ_OK, "%s: finish: %s\n", c->name,
          sj_last_error());
    CHECK(sj_pair_spill_runs(s) == c->expect_runs, "%s: %lld runs, %lld expected\n", c->name,
          (long long)sj_pair_spill_runs(s), (long long)c->expect_runs);
    CHECK(spilled == (c->expect_runs > 0), "%s: spilled = %d\n", c->name, spilled);
    if (!spilled) { /* handed back as they came: the caller canonicalizes */
        int64_t k = oracle(mem.v, mem.n, c->dihedral);
        CHECK(mem.n == n_added && n_out == n_added && k == n_want && same_pairs(mem.v, want, n_want),
              "%s: the pairs kept in memory differ\n", c->name);
    } else {
        CHECK(n_out == n_want, "%s: merge announces %lld pairs, the oracle has %lld\n", c->name,
              (long long)n_out, (long long)n_want);
        sj_pair *got = malloc((size_t)(n_want + 8) * sizeof *got);
        int64_t total = 0, step = 0;
        static const int64_t caps[] = {1, 7, 100000};
        for (int k = 0;; k++) { /* vary the read size */
            int64_t cap = caps[k % 3];
            if (total + cap > n_want + 8)
                cap = n_want + 8 - total;
            CHECK(sj_pair_spill_read(s, got + total, cap, &step) == SJ_OK, "%s: read: %s\n", c->name,
                  sj_last_error());
            total += step;
            if (step < cap || step == 0)
                break;
        }
        CHECK(total == n_want && same_pairs(got, want, n_want), "%s: merged %lld pairs, oracle %lld%s\n",
              c->name, (long long)total, (long long)n_want,
              total == n_want ? " (contents differ)" : "");
        free(got);
    }
    CHECK(entries(dir) == 0, "%s: run files have names in %s\n", c->name, dir);
    sj_pair_spill_free(s);
    sj_pairs_free(&mem);
    free(input);
    free(want);
}

/* Two runs that hold one plain pair each: SJ_ERR_INTERNAL, as in memory. */
static void duplicate_across_runs(void)
{
    sj_pair p[3] = {{1, 2, 3, 0}, {5, 9, 1, 0}, {1, 2, 3, 0}};
    sj_pair_spill_options o = {.dir = dir, .run_pairs = 2};
    sj_pair_spill *s = NULL;
    sj_pairs mem = {0};
    int spilled = 0;
    int64_t n_out = 0, got = 0;
    sj_pair out[4];
    sj_status st = sj_pair_spill_create(&o, &s);
    if (!st)
        st = sj_pair_spill_add(s, p, 3);
    if (!st)
        st = sj_pair_spill_finish(s, &mem, &spilled, &n_out);
    if (!st)
        st = sj_pair_spill_read(s, out, 4, &got);
    CHECK(st == SJ_ERR_INTERNAL && strstr(sj_last_error(), "twice"),
          "a plain pair in two runs: status %d (%s)\n", st, sj_last_error());
    sj_pair_spill_free(s);
}

/* Nothing spilled: the pairs are appended to what the caller already holds. */
static void appended_in_memory(void)
{
    sj_pair_spill_options o = {.dir = dir, .run_pairs = 10};
    sj_pair_spill *s = NULL;
    sj_pair p[3] = {{1, 2, 0, 0}, {1, 3, 0, 0}, {2, 3, 0, 0}};
    sj_pairs mem = {0};
    mem.v = malloc(4 * sizeof *mem.v);
    mem.capacity = 4;
    mem.v[mem.n++] = (sj_pair){7, 8, 1, 0};
    int spilled = -1;
    int64_t n_out = 0;
    CHECK(sj_pair_spill_create(&o, &s) == SJ_OK && sj_pair_spill_add(s, p, 3) == SJ_OK &&
              sj_pair_spill_finish(s, &mem, &spilled, &n_out) == SJ_OK,
          "finish: %s\n", sj_last_error());
    CHECK(!spilled && mem.n == 4 && n_out == 4 && mem.v[0].a == 7 && same_pairs(mem.v + 1, p, 3),
          "appended after the caller's pair: %lld pairs\n", (long long)mem.n);
    sj_pair_spill_free(s);
    sj_pairs_free(&mem);
}

/* sj_pair_spill_attach: the journal's unit_done still runs, first, and its
 * unit_skip still answers, with its own user. */
static int64_t chained_pairs;
static int skip_odd(void *user, int64_t unit)
{
    CHECK(user == &chained_pairs, "chained skip user\n");
    return (int)(unit & 1);
}

static sj_status count_pairs(void *user, int64_t unit, const sj_pair *pairs, int64_t n)
{
    (void)unit;
    (void)pairs;
    CHECK(user == &chained_pairs, "chained user\n");
    chained_pairs += n;
    return SJ_OK;
}

static void attach_chain(void)
{
    sj_join_config cfg;
    sj_join_config_defaults(&cfg);
    cfg.unit_done = count_pairs;
    cfg.unit_user = &chained_pairs;
    cfg.unit_skip = skip_odd;
    sj_pair_spill_options o = {.dir = dir, .run_pairs = 10};
    sj_pair_spill *s = NULL;
    CHECK(sj_pair_spill_create(&o, &s) == SJ_OK, "create\n");
    sj_pair_spill_attach(s, &cfg);
    sj_pair p[3] = {{1, 2, 0, 0}, {1, 3, 0, 0}, {2, 3, 0, 0}};
    CHECK(cfg.unit_only == 1 && cfg.unit_user == s, "attach sets unit_only and the sink\n");
    CHECK(cfg.unit_done(cfg.unit_user, 0, p, 3) == SJ_OK && chained_pairs == 3 &&
              sj_pair_spill_added(s) == 3,
          "a unit reaches the journal (%lld) and the sink (%lld)\n", (long long)chained_pairs,
          (long long)sj_pair_spill_added(s));
    CHECK(cfg.unit_skip(cfg.unit_user, 3) == 1 && cfg.unit_skip(cfg.unit_user, 4) == 0,
          "the journal's unit_skip still decides\n");
    cfg.unit_skip = NULL; /* none before: nothing is skipped */
    sj_pair_spill *s2 = NULL;
    CHECK(sj_pair_spill_create(&o, &s2) == SJ_OK, "create\n");
    sj_pair_spill_attach(s2, &cfg);
    CHECK(cfg.unit_skip && cfg.unit_skip(cfg.unit_user, 3) == 0, "no unit_skip before: none skipped\n");
    sj_pair_spill_free(s2);
    sj_pair_spill_free(s);
}

static int open_fds(void)
{
    return entries("/proc/self/fd");
}

#ifdef SIMJOIN_HAVE_HDF5
typedef struct lying_source {
    int64_t have; /* pairs it really gives */
    int64_t at;
} lying_source;

static sj_status lying_read(void *user, sj_pair *buf, int64_t cap, int64_t *got)
{
    lying_source *l = user;
    *got = SJ_MIN(cap, l->have - l->at);
    for (int64_t i = 0; i < *got; i++)
        buf[i] = (sj_pair){l->at + i, l->at + i + 1, 1, 0};
    l->at += *got;
    return SJ_OK;
}

static void stream_count_checked(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/out.h5", dir);
    for (int k = 0; k < 2; k++) {
        sj_join_result r;
        sj_join_result_init(&r);
        r.type.kind = SJ_KIND_PDQ;
        r.type.bits = 256;
        lying_source l = {k ? 40000 : 10, 0}; /* fewer, then more, than announced */
        sj_pair_source src = {k ? 39999 : 11, lying_read, &l};
        sj_status st = sj_pairs_file_write_stream(path, &r, &src);
        CHECK(st == SJ_ERR_INTERNAL && entries(dir) == 0,
              "a source with %lld pairs announced as %lld: status %d, %d files left (%s)\n",
              (long long)l.have, (long long)src.n, st, entries(dir), sj_last_error());
    }
}
#endif

int main(void)
{
    t_init_seed();
    snprintf(dir, sizeof dir, "/tmp/test_pair_spill.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const int fds = open_fds();
    const spill_case cases[] = {
        {"no pairs", 0, 100, 0, 0, 0, 0, 0},
        {"no pairs, dihedral", 0, 100, 0, 0, 1, 0, 0},
        {"exactly one buffer: kept in memory", 100, 100, 0, 0, 0, 0, 0},
        {"one pair fewer than a buffer", 99, 100, 0, 0, 0, 0, 0},
        {"one pair more than a buffer: two runs", 101, 100, 0, 0, 0, 0, 2},
        {"buffers exactly filled: three runs", 300, 100, 0, 0, 0, 0, 3},
        {"run_pairs 1", 50, 1, 0, 0, 0, 0, 50},
        {"many runs, fan-in 2 (merge passes)", 5000, 97, 0, 2, 0, 0, 52},
        {"many runs, fan-in 3, smallest read buffers", 5000, 97, 1, 3, 0, 0, 52},
        {"radix-sized runs", 60000, 9000, 0, 0, 0, 0, 7},
        {"dihedral copies across runs", 4000, 150, 0, 0, 1, 0, 27},
        {"dihedral copies, merge passes", 4000, 150, 0, 2, 1, 0, 27},
        {"dihedral copies, in memory", 4000, 4000, 0, 0, 1, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_case(&cases[k]);
    /* the filter: about half the pairs of 3000 (runs counted after it) */
    const spill_case filtered = {"keep filter", 3000, 3000, 0, 0, 0, 1, 0};
    run_case(&filtered);
    duplicate_across_runs();
    appended_in_memory();
    attach_chain();
    CHECK(sj_pair_spill_create(&(sj_pair_spill_options){.dir = dir, .run_pairs = 0}, &(sj_pair_spill *){0}) ==
              SJ_ERR_ARG,
          "run_pairs 0 is refused\n");
#ifdef SIMJOIN_HAVE_HDF5
    stream_count_checked();
#endif
    CHECK(open_fds() == fds, "descriptors left open: %d before, %d after\n", fds, open_fds());
    CHECK(entries(dir) == 0, "files left in %s\n", dir);
    rmdir(dir);
    return t_finish("test_pair_spill");
}
