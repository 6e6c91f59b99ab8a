/* test_nightly_lib.c - sj_nightly_run called directly, on two nights made by
 * sj_gen (plus hand-made rows at distance 31 and 32 and an all-zero one),
 * checked against naive oracles over the hashes as generated: every pair at
 * Hamming distance <= 31 (the report's matches), union-find components over
 * all pairs so far (the cluster state's partition), the stable-id rules (a
 * component keeps its smallest old id, the others are listed as merges; an
 * all-new component gets the next id in order of smallest member), and the
 * counts of the result. The same batch run again is recognised and changes
 * nothing. The library prints nothing while it runs. */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/gen.h"
#include "simjoin/nightly.h"
#include "simjoin/simjoin.h"
#include "state/state.h" /* white-box: an empty state (what `simjoin state init` makes) */
#include "test_util.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ROWS = 32, MAX_ID = 7000, N_GEN = 1000, SPLIT = 600, THRESHOLD = 31 };

/* Every hash of both nights, as generated: id, bytes, night (1 or 2). */
static int64_t n_all;
static int64_t all_id[N_GEN + 16];
static uint8_t all_hash[N_GEN + 16][ROWS];
static int all_night[N_GEN + 16];

static int popcount_row(const uint8_t *h)
{
    int c = 0;
    for (int k = 0; k < ROWS; k++)
        for (int b = 0; b < 8; b++)
            c += (h[k] >> b) & 1;
    return c;
}

static int hamming(const uint8_t *a, const uint8_t *b)
{
    int c = 0;
    for (int k = 0; k < ROWS; k++)
        for (int bit = 0; bit < 8; bit++)
            c += ((a[k] ^ b[k]) >> bit) & 1;
    return c;
}

/* PDQ's degenerate rule as documented (README "Degenerate hashes"): a
 * one-bit count outside 32..224 (all zero included); no qualities here. */
static int degenerate(const uint8_t *h)
{
    int c = popcount_row(h);
    return c < 32 || c > 224;
}

static void add_row(sj_hashes *set, int64_t id, const uint8_t *row, int night)
{
    CHECK(sj_hashes_append(set, id, row, -1) == SJ_OK, "append: %s", sj_last_error());
    all_id[n_all] = id;
    memcpy(all_hash[n_all], row, ROWS);
    all_night[n_all++] = night;
}

/* row = base with bits [from, to) inverted. */
static void flip_range(const uint8_t *base, int from, int to, uint8_t *row)
{
    memcpy(row, base, ROWS);
    for (int b = from; b < to; b++)
        row[b / 8] ^= (uint8_t)(1u << (b % 8));
}
#define flip_bits(base, n, row) flip_range(base, 0, n, row)

static int night_of(int64_t id)
{
    for (int64_t i = 0; i < n_all; i++)
        if (all_id[i] == id)
            return all_night[i];
    return 0;
}

/* ---- oracle: pairs and components ---- */

typedef struct opair {
    int64_t a, b;
    int d;
} opair;

static int cmp_opair(const void *x, const void *y)
{
    const opair *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

/* Pairs of tonight's (night) non-degenerate rows against earlier and
 * tonight's ones, a < b, distance <= T: the naive double loop. */
static opair *oracle_pairs(int night, int64_t *n_out)
{
    opair *v = malloc(sizeof *v * (size_t)(n_all * n_all / 2 + 1));
    int64_t n = 0;
    for (int64_t i = 0; i < n_all; i++)
        for (int64_t j = i + 1; j < n_all; j++) {
            if (all_night[i] > night || all_night[j] > night || (all_night[i] != night && all_night[j] != night))
                continue;
            if (degenerate(all_hash[i]) || degenerate(all_hash[j]))
                continue;
            int d = hamming(all_hash[i], all_hash[j]);
            if (d <= THRESHOLD) {
                int64_t a = all_id[i], b = all_id[j];
                v[n++] = (opair){a < b ? a : b, a < b ? b : a, d};
            }
        }
    qsort(v, (size_t)n, sizeof *v, cmp_opair);
    *n_out = n;
    return v;
}

static int64_t uf[MAX_ID];
static int64_t uf_find(int64_t x)
{
    while (uf[x] != x)
        x = uf[x] = uf[uf[x]];
    return x;
}

/* ---- what the run wrote ---- */

/* The matches and merges of a CSV report. */
static opair *report_matches(const char *path, int64_t *n_out, int64_t merges[][2], int64_t *n_merges)
{
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "%s: cannot open", path);
    opair *v = malloc(sizeof *v * 200000);
    int64_t n = 0;
    *n_merges = 0;
    char line[1024];
    while (fp && fgets(line, sizeof line, fp)) {
        long long a, b, c, o;
        double d;
        if (n < 200000 && sscanf(line, "match,%lld,%lld,%lf,", &a, &b, &d) == 3) {
            v[n++] = (opair){a, b, (int)d};
            CHECK(d == (int)d, "distance %g is not an integer", d);
        } else if (*n_merges < MAX_ID && sscanf(line, "merge,,,,,,,%lld,merged %lld", &c, &o) == 2) {
            merges[*n_merges][0] = c;
            merges[(*n_merges)++][1] = o;
        }
    }
    if (fp)
        fclose(fp);
    qsort(v, (size_t)n, sizeof *v, cmp_opair);
    *n_out = n;
    return v;
}

/* The cluster state's /state/id and /state/cluster: cluster_of[id] (-1
 * excluded, -2 absent). */
static void read_state(const char *path, int64_t *cluster_of)
{
    for (int i = 0; i < MAX_ID; i++)
        cluster_of[i] = -2;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "%s: cannot open", path);
    if (f < 0)
        return;
    hid_t di = H5Dopen2(f, "state/id", H5P_DEFAULT), dc = H5Dopen2(f, "state/cluster", H5P_DEFAULT);
    hid_t sp = H5Dget_space(di);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int64_t *ids = malloc(sizeof *ids * (size_t)(n + 1)), *cl = malloc(sizeof *cl * (size_t)(n + 1));
    CHECK(H5Dread(di, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) >= 0, "read id");
    CHECK(H5Dread(dc, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, cl) >= 0, "read cluster");
    for (hssize_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < MAX_ID)
            cluster_of[ids[i]] = cl[i];
    free(ids);
    free(cl);
    H5Sclose(sp);
    H5Dclose(di);
    H5Dclose(dc);
    H5Fclose(f);
}

/* ---- the runs ---- */

static int n_info, n_warning, n_progress, n_created;
static int64_t last_done, last_total;

static void on_notice(void *user, sj_nightly_notice_level level, const char *message)
{
    CHECK(user == &n_info, "user pointer not passed");
    CHECK(strchr(message, '\n') == NULL, "a notice of more than one line: %s", message);
    n_created += strncmp(message, "state: created ", 15) == 0;
    if (level == SJ_NIGHTLY_WARNING)
        n_warning++;
    else
        n_info++;
}

static void on_progress(void *user, int64_t done, int64_t total, int64_t pairs)
{
    CHECK(user == &n_info, "user pointer not passed");
    n_progress++;
    last_done = done;
    last_total = total;
}

/* stdout and stderr sent to a file while the library runs: quiet_begin,
 * the call, quiet_end (the bytes printed). */
typedef struct quiet {
    char path[32];
    int fd, out, err;
} quiet;

static void quiet_begin(quiet *q)
{
    snprintf(q->path, sizeof q->path, "/tmp/sj_nightly_out_XXXXXX");
    q->fd = mkstemp(q->path);
    CHECK(q->fd >= 0, "mkstemp");
    fflush(stdout);
    fflush(stderr);
    q->out = dup(1);
    q->err = dup(2);
    dup2(q->fd, 1);
    dup2(q->fd, 2);
}

static long quiet_end(quiet *q)
{
    fflush(stdout);
    fflush(stderr);
    dup2(q->out, 1);
    dup2(q->err, 2);
    close(q->out);
    close(q->err);
    struct stat sb;
    fstat(q->fd, &sb);
    close(q->fd);
    unlink(q->path);
    return (long)sb.st_size;
}

static sj_status run_quietly(const sj_nightly_options *o, sj_nightly_result *r, long *printed)
{
    quiet q;
    quiet_begin(&q);
    sj_status st = sj_nightly_run(o, r);
    *printed = quiet_end(&q);
    return st;
}

static sj_status night(const char *state, const char *upload, sj_nightly_result *r)
{
    sj_nightly_options o;
    sj_nightly_options_init(&o);
    const char *uploads[1] = {upload};
    o.state_dir = state;
    o.uploads = uploads;
    o.n_uploads = 1;
    o.max_pairs = 0; /* no limit: the result must not depend on this machine */
    o.notice = on_notice;
    o.progress = on_progress;
    o.user = &n_info;
    sj_nightly_result_init(r);
    long printed = 0;
    sj_status st = run_quietly(&o, r, &printed);
    CHECK(printed == 0, "sj_nightly_run printed %ld bytes", printed);
    return st;
}

/* sj_state_init on dir with the kind given (NULL: the corpus's), nothing
 * printed. */
static sj_status init_state(const char *dir, const char *kind, int64_t threshold, const char *const *corpus,
                            int n_corpus, sj_state_init_result *r)
{
    sj_state_init_options o;
    sj_state_init_options_init(&o);
    o.state_dir = dir;
    if (kind)
        CHECK(sj_hash_type_parse(kind, &o.type) == SJ_OK, "parse %s", kind);
    o.threshold = threshold;
    o.corpus = corpus;
    o.n_corpus = n_corpus;
    o.notice = on_notice;
    o.progress = on_progress;
    o.user = &n_info;
    sj_state_init_result_init(r);
    quiet q;
    quiet_begin(&q);
    sj_status st = sj_state_init(&o, r);
    long printed = quiet_end(&q);
    CHECK(printed == 0, "sj_state_init printed %ld bytes", printed);
    return st;
}

static int64_t manifest_generation(const char *dir, int64_t *corpus_hashes)
{
    sj_manifest m;
    memset(&m, 0, sizeof m);
    CHECK(sj_manifest_read(dir, &m) == SJ_OK, "manifest of %s: %s", dir, sj_last_error());
    int64_t g = m.generation;
    if (corpus_hashes)
        *corpus_hashes = sj_manifest_corpus_hashes(dir, &m);
    sj_manifest_free(&m);
    return g;
}

/* sj_state_init: a state seeded with night 1's shard (its kind read from
 * it), against the rows this test wrote; an existing state, a vector kind
 * and bits:N without a threshold refused with nothing made; a failed import
 * leaves generation 0. */
static void test_state_init(const char *tmp, const char *pa)
{
    char dir[256], path[512];
    int64_t rows_a = 0, hashes = -1;
    for (int64_t i = 0; i < n_all; i++)
        rows_a += all_night[i] == 1;
    const char *corpus[1] = {pa};
    sj_state_init_result r;
    umask(022);
    snprintf(dir, sizeof dir, "%s/seeded", tmp);
    n_created = 0;
    CHECK(init_state(dir, NULL, -1, corpus, 1, &r) == SJ_OK, "state init --corpus: %s", sj_last_error());
    CHECK(r.created == 1 && r.type.kind == SJ_KIND_PDQ && r.threshold == 31 && n_created == 1,
          "state init: created %d, kind %d, threshold %d, %d created notices", r.created, (int)r.type.kind,
          r.threshold, n_created);
    CHECK(r.import.generation == 1 && r.import.uploads == rows_a && r.import.already_committed == 0,
          "the import: generation %lld, %lld hashes, the test wrote %lld", (long long)r.import.generation,
          (long long)r.import.uploads, (long long)rows_a);
    CHECK(manifest_generation(dir, &hashes) == 1 && hashes == rows_a,
          "the seeded manifest: corpus of %lld hashes, the test wrote %lld", (long long)hashes, (long long)rows_a);
    const char *sub[] = {"", "/shards", "/clusters", "/reports"};
    for (int i = 0; i < 4; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s%s", dir, sub[i]);
        CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0750,
              "%s: not a directory of mode 0750 (%o)", path, (unsigned)(sb.st_mode & 0777));
    }
    CHECK(init_state(dir, "pdq", -1, NULL, 0, &r) == SJ_ERR_ARG && r.created == 0 &&
          strstr(sj_last_error(), "already exists"), "an existing state: %s", sj_last_error());
    CHECK(manifest_generation(dir, NULL) == 1, "the refused init changed the state");

    snprintf(dir, sizeof dir, "%s/vectors", tmp);
    CHECK(init_state(dir, "u8:16", -1, NULL, 0, &r) == SJ_ERR_UNSUPPORTED && r.created == 0,
          "a u8:16 state: %s", sj_last_error());
    CHECK(access(dir, F_OK) != 0, "the refused u8:16 init made %s", dir);
    CHECK(init_state(dir, "bits:64", -1, NULL, 0, &r) == SJ_ERR_ARG && r.type.kind == SJ_KIND_BITS &&
          r.created == 0, "bits:64 without a threshold: %s", sj_last_error());
    CHECK(access(dir, F_OK) != 0, "the refused bits:64 init made %s", dir);

    snprintf(dir, sizeof dir, "%s/empty", tmp);
    CHECK(init_state(dir, "bits:64", 9, NULL, 0, &r) == SJ_OK && r.created == 1 && r.threshold == 9 &&
          r.import.generation == 0 && manifest_generation(dir, NULL) == 0, "an empty bits:64 state: %s",
          sj_last_error());
    snprintf(dir, sizeof dir, "%s/unimported", tmp);
    snprintf(path, sizeof path, "%s/missing.h5", tmp);
    corpus[0] = path;
    CHECK(init_state(dir, "pdq", -1, corpus, 1, &r) != SJ_OK && r.created == 1 &&
          strstr(sj_last_error(), "missing.h5"), "a missing corpus shard: %s", sj_last_error());
    CHECK(manifest_generation(dir, NULL) == 0, "the failed import left no generation 0");
}

static int64_t cluster1[MAX_ID], cluster2[MAX_ID];
static int64_t merges[MAX_ID][2];

int main(void)
{
    t_init_seed();
    char tmp[] = "/tmp/sj_nightly_lib_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char state[256], pa[256], pb[256], path[512];
    snprintf(state, sizeof state, "%s/st", tmp);
    snprintf(pa, sizeof pa, "%s/a.h5", tmp);
    snprintf(pb, sizeof pb, "%s/b.h5", tmp);

    /* Two nights: a sj_gen set split in two (series cross the nights), and
     * hand-made rows: x (night 1) and x at distance 31 (night 2, a match),
     * z and z at distance 32 (not), an all-zero hash (excluded). */
    sj_hash_type pdq;
    CHECK(sj_hash_type_parse("pdq", &pdq) == SJ_OK, "parse");
    sj_gen_options g;
    sj_gen_defaults(pdq, N_GEN, t_seed, &g);
    g.first_id = 1;
    g.degenerate_fraction = 0.01;
    sj_hashes *gen = NULL, *a = NULL, *b = NULL;
    CHECK(sj_gen(&g, &gen) == SJ_OK, "gen: %s", sj_last_error());
    CHECK(sj_hashes_create(pdq, 16, &a) == SJ_OK && sj_hashes_create(pdq, 16, &b) == SJ_OK, "create");
    for (int64_t i = 0; i < gen->n; i++)
        add_row(i < SPLIT ? a : b, gen->ids[i], gen->hashes + i * ROWS, i < SPLIT ? 1 : 2);
    uint8_t x[ROWS], z[ROWS], row[ROWS];
    for (int k = 0; k < ROWS; k++) {
        x[k] = (uint8_t)t_rand();
        z[k] = (uint8_t)t_rand();
    }
    add_row(a, 5000, x, 1);
    add_row(a, 5001, z, 1);
    flip_bits(x, 31, row);
    add_row(b, 6000, row, 2);
    flip_bits(z, 32, row);
    add_row(b, 6001, row, 2);
    memset(row, 0, ROWS);
    add_row(b, 6002, row, 2);
    /* Three clusters of night 1, 40 bits apart (p, q = p ^ bits 0..39, r = p ^
     * bits 40..79), merged on night 2 by bridges 20 bits from both ends. */
    uint8_t p[ROWS];
    for (int k = 0; k < ROWS; k++)
        p[k] = (uint8_t)t_rand();
    add_row(a, 5002, p, 1);
    flip_range(p, 0, 40, row);
    add_row(a, 5003, row, 1);
    flip_range(p, 40, 80, row);
    add_row(a, 5004, row, 1);
    flip_range(p, 0, 20, row);
    add_row(b, 6003, row, 2);
    flip_range(p, 40, 60, row);
    add_row(b, 6004, row, 2);
    CHECK(sj_hashes_set_source(a, "nl") == SJ_OK && sj_hashes_set_source(b, "de") == SJ_OK, "source");
    CHECK(sj_shard_write(pa, a, 0, a->n) == SJ_OK, "write a: %s", sj_last_error());
    CHECK(sj_shard_write(pb, b, 0, b->n) == SJ_OK, "write b: %s", sj_last_error());

    /* An empty state, generation 0. */
    const char *sub[] = {"", "/shards", "/clusters", "/reports"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", state, sub[i]);
        CHECK(mkdir(path, 0750) == 0, "mkdir %s", path);
    }
    sj_manifest m;
    memset(&m, 0, sizeof m);
    m.type = pdq;
    m.threshold = THRESHOLD;
    CHECK(sj_manifest_commit(state, &m) == SJ_OK, "manifest: %s", sj_last_error());

    /* The structs' size fields: a struct of no known version is refused. */
    {
        sj_nightly_options o;
        sj_nightly_result r;
        sj_nightly_options_init(&o);
        sj_nightly_result_init(&r);
        const char *up[1] = {pa};
        o.state_dir = state, o.uploads = up, o.n_uploads = 1;
        o.struct_size = 8;
        CHECK(sj_nightly_run(&o, &r) == SJ_ERR_ARG, "options without a size accepted");
        o.struct_size = sizeof o + 8;
        CHECK(sj_nightly_run(&o, &r) == SJ_ERR_UNSUPPORTED, "options of a newer version accepted");
        o.struct_size = sizeof o;
        r.struct_size = 0;
        CHECK(sj_nightly_run(&o, &r) == SJ_ERR_ARG, "a result without a size accepted");
        o.n_uploads = 0;
        r.struct_size = sizeof r;
        CHECK(sj_nightly_run(&o, &r) == SJ_ERR_ARG, "a run with no uploads accepted");
    }

    /* Night 1. */
    sj_nightly_result r1, r2, r3;
    CHECK(night(state, pa, &r1) == SJ_OK, "night 1: %s", sj_last_error());
    int64_t n_o1, n_r1, n_m1;
    opair *o1 = oracle_pairs(1, &n_o1);
    opair *p1 = report_matches(r1.report_csv, &n_r1, merges, &n_m1);
    CHECK(r1.generation == 1 && !r1.already_committed, "night 1: generation %lld", (long long)r1.generation);
    CHECK(n_r1 == n_o1 && r1.new_matches == n_o1, "night 1: %lld pairs reported, %lld in the result, %lld by the oracle",
          (long long)n_r1, (long long)r1.new_matches, (long long)n_o1);
    for (int64_t i = 0; i < n_o1 && i < n_r1; i++)
        CHECK(!cmp_opair(&o1[i], &p1[i]) && o1[i].d == p1[i].d, "night 1: pair %lld differs", (long long)i);
    CHECK(n_m1 == 0 && r1.merges == 0 && r1.cross_database_matches == 0, "night 1: merges or cross matches");
    CHECK(n_o1 > 0, "night 1: the generated set has no pairs (the test checks nothing)");

    /* Night 2. */
    n_progress = 0;
    CHECK(night(state, pb, &r2) == SJ_OK, "night 2: %s", sj_last_error());
    int64_t n_o2, n_r2, n_m2;
    opair *o2 = oracle_pairs(2, &n_o2);
    opair *p2 = report_matches(r2.report_csv, &n_r2, merges, &n_m2);
    CHECK(r2.generation == 2, "night 2: generation %lld", (long long)r2.generation);
    CHECK(n_r2 == n_o2 && r2.new_matches == n_o2, "night 2: %lld pairs reported, %lld in the result, %lld by the oracle",
          (long long)n_r2, (long long)r2.new_matches, (long long)n_o2);
    int64_t cross = 0, seen31 = 0, seen32 = 0;
    for (int64_t i = 0; i < n_o2; i++) {
        cross += night_of(o2[i].a) != night_of(o2[i].b); /* night 1 is "nl", night 2 "de" */
        seen31 += o2[i].a == 5000 && o2[i].b == 6000 && o2[i].d == 31;
        seen32 += o2[i].a == 5001 && o2[i].b == 6001;
    }
    CHECK(seen31 == 1 && seen32 == 0, "the oracle's edges: distance 31 a match, 32 not");
    for (int64_t i = 0; i < n_o2 && i < n_r2; i++)
        CHECK(!cmp_opair(&o2[i], &p2[i]) && o2[i].d == p2[i].d, "night 2: pair %lld differs: (%lld, %lld, %d) vs (%lld, %lld, %d)",
              (long long)i, (long long)o2[i].a, (long long)o2[i].b, o2[i].d, (long long)p2[i].a,
              (long long)p2[i].b, p2[i].d);
    CHECK(r2.cross_database_matches == cross, "night 2: %lld cross-database matches, the oracle %lld",
          (long long)r2.cross_database_matches, (long long)cross);
    CHECK(r2.uploads == b->n, "night 2: %lld uploads, not %lld", (long long)r2.uploads, (long long)b->n);
    int64_t deg_b = 0, zero_b = 0;
    for (int64_t i = 0; i < n_all; i++)
        if (all_night[i] == 2 && degenerate(all_hash[i])) {
            deg_b++;
            zero_b += popcount_row(all_hash[i]) == 0;
        }
    CHECK(r2.excluded == deg_b && r2.excluded_by_rule[SJ_DEGEN_ALL_ZERO] == zero_b && r2.quarantined == 0,
          "night 2: %lld excluded (%lld all zero), the oracle %lld (%lld)", (long long)r2.excluded,
          (long long)r2.excluded_by_rule[SJ_DEGEN_ALL_ZERO], (long long)deg_b, (long long)zero_b);
    CHECK(n_warning == 0, "%d warnings on a normal batch", n_warning);
    CHECK(n_progress > 0 && last_done == last_total, "night 2: progress %d calls, last %lld of %lld", n_progress,
          (long long)last_done, (long long)last_total);

    /* Clusters: the partition of all pairs so far, with stable ids. */
    snprintf(path, sizeof path, "%s/clusters/g000001.h5", state);
    read_state(path, cluster1);
    snprintf(path, sizeof path, "%s/clusters/g000002.h5", state);
    read_state(path, cluster2);
    for (int64_t i = 0; i < MAX_ID; i++)
        uf[i] = i;
    for (int64_t i = 0; i < n_o1; i++)
        uf[uf_find(o1[i].a)] = uf_find(o1[i].b);
    for (int64_t i = 0; i < n_o2; i++)
        uf[uf_find(o2[i].a)] = uf_find(o2[i].b);
    /* per oracle component (by root): smallest old id, smallest member, new id */
    static int64_t min_old[MAX_ID], min_member[MAX_ID], comp_id[MAX_ID];
    for (int64_t i = 0; i < MAX_ID; i++)
        min_old[i] = min_member[i] = comp_id[i] = -1;
    int64_t next1 = 0, expect_merges = 0, expect_new = 0, expect_joined = 0;
    for (int64_t i = 0; i < n_all; i++) {
        int64_t id = all_id[i], c1 = cluster1[id];
        if (all_night[i] == 1) {
            CHECK(degenerate(all_hash[i]) ? c1 == -1 : c1 >= 0, "night 1: id %lld cluster %lld", (long long)id,
                  (long long)c1);
            next1 = c1 + 1 > next1 ? c1 + 1 : next1;
        } else {
            CHECK(c1 == -2, "night 1's state holds a night-2 id %lld", (long long)id);
        }
        if (degenerate(all_hash[i]))
            continue;
        int64_t r = uf_find(id);
        if (min_member[r] < 0 || id < min_member[r])
            min_member[r] = id;
        if (c1 >= 0 && (min_old[r] < 0 || c1 < min_old[r]))
            min_old[r] = c1;
    }
    /* the ids night 2 should give: all-new components in order of smallest member */
    int64_t next = next1;
    for (int64_t id = 1; id < MAX_ID; id++) {
        int64_t r = uf_find(id);
        if (min_member[r] == id && min_old[r] < 0) {
            comp_id[r] = next++;
            expect_new++;
        } else if (min_member[r] == id) {
            comp_id[r] = min_old[r];
        }
    }
    static uint8_t old_seen[MAX_ID];
    for (int64_t i = 0; i < n_all; i++) {
        int64_t id = all_id[i], c2 = cluster2[id];
        if (degenerate(all_hash[i])) {
            CHECK(c2 == -1, "id %lld is degenerate but in cluster %lld", (long long)id, (long long)c2);
            continue;
        }
        int64_t r = uf_find(id);
        CHECK(c2 == comp_id[r], "id %lld: cluster %lld, the oracle %lld", (long long)id, (long long)c2,
              (long long)comp_id[r]);
        int64_t c1 = cluster1[id];
        if (c1 >= 0 && c1 != min_old[r] && !old_seen[c1]) { /* an old id retired into another */
            old_seen[c1] = 1;
            expect_merges++;
            int listed = 0;
            for (int64_t k = 0; k < n_m2; k++)
                listed += merges[k][0] == min_old[r] && merges[k][1] == c1;
            CHECK(listed == 1, "the merge of cluster %lld into %lld is listed %d times", (long long)c1,
                  (long long)min_old[r], listed);
        }
        expect_joined += all_night[i] == 2 && min_old[r] >= 0;
    }
    CHECK(n_m2 == expect_merges && r2.merges == expect_merges, "night 2: %lld merges listed, %lld in the result, "
          "the oracle %lld", (long long)n_m2, (long long)r2.merges, (long long)expect_merges);
    CHECK(r2.new_clusters == expect_new, "night 2: %lld new clusters, the oracle %lld", (long long)r2.new_clusters,
          (long long)expect_new);
    CHECK(r2.new_hashes_in_existing_clusters == expect_joined, "night 2: %lld joined existing, the oracle %lld",
          (long long)r2.new_hashes_in_existing_clusters, (long long)expect_joined);

    printf("night 1: %lld pairs; night 2: %lld pairs (%lld across), %lld merges, %lld new clusters, "
           "%lld joined existing, %lld excluded\n", (long long)n_o1, (long long)n_o2, (long long)cross,
           (long long)expect_merges, (long long)expect_new, (long long)expect_joined, (long long)deg_b);
    CHECK(expect_merges >= 2 && expect_joined > 0, "the nights have no merges or no growth: the checks above are vacuous");

    test_state_init(tmp, pa);

    /* The same batch again: recognised, nothing done. */
    CHECK(night(state, pb, &r3) == SJ_OK, "night 2 again: %s", sj_last_error());
    CHECK(r3.already_committed == 1 && r3.generation == 2 && r3.new_matches == 0,
          "the batch run again: already_committed %d, generation %lld", r3.already_committed,
          (long long)r3.generation);
    CHECK(!strcmp(r3.batch, r2.batch), "the batch digest changed");
    sj_manifest after;
    memset(&after, 0, sizeof after);
    CHECK(sj_manifest_read(state, &after) == SJ_OK && after.generation == 2 && after.n_batches == 2,
          "the state after the rerun: generation %lld, %lld batches", (long long)after.generation,
          (long long)after.n_batches);
    sj_manifest_free(&after);
    snprintf(path, sizeof path, "%s/reports/g000003.json", state);
    CHECK(access(path, F_OK) != 0, "the rerun wrote a report");

    free(o1);
    free(p1);
    free(o2);
    free(p2);
    sj_hashes_free(gen);
    sj_hashes_free(a);
    sj_hashes_free(b);
    snprintf(path, sizeof path, "rm -rf '%s'", tmp);
    if (!t_failed && system(path) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    return t_finish("test_nightly_lib");
}
