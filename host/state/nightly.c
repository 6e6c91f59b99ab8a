/* cmd_nightly.c - `simjoin nightly`: one night's uploads against the state.
 *
 * new x corpus and new x new are joined; clusters are updated with stable
 * ids; the uploads become corpus shards; a report is written; and the whole
 * is committed by replacing the manifest (see host/state.h). A run killed at
 * any point leaves the previous generation or the new one; rerunning a
 * committed batch does nothing.
 *
 * Stable cluster ids: a cluster keeps its id as it grows. When new matches
 * merge clusters, the result takes the smallest of their ids (the others are
 * retired and listed in the report). A cluster of new hashes only gets the
 * next unused id, in the order of the clusters' smallest member ids. Ids are
 * never reused. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "simjoin/meta.h"
#include "io/h5util.h"
#include "core/sha256.h"
#include "state/state.h"
#include "io/text_out.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin nightly --state DIR --new UPLOADS.h5... [--source NAME]\n"
           "                       [--threshold T] [--backend B] [--threads N] [--stats-json F]\n"
           "                       [--quiet]\n"
           "\n"
           "Joins the night's uploads against the corpus (new x corpus and new x new),\n"
           "updates the clusters with stable ids, appends the uploads to the corpus and\n"
           "writes DIR/reports/gNNNNNN.json and .csv: the new matches (with both\n"
           "sources), the merges, the cross-database matches and the excluded hashes.\n"
           "Commits by replacing DIR/manifest atomically. A batch already committed is\n"
           "recognised (by the SHA-256 of its files) and nothing is done.\n"
           "\n"
           "Cluster ids: a cluster keeps its id as it grows; merged clusters take the\n"
           "smallest of their ids; a cluster of new hashes gets the next unused id (in\n"
           "order of smallest member id). Ids are never reused.\n"
           "\n"
           "  --source NAME   the database the uploads come from (default: each file's\n"
           "                  source attribute)\n"
           "  --threshold T   must equal the state's (set by `simjoin state init`)\n"
           "  --as-corpus     the shards are known corpus: nothing is marked new (what\n"
           "                  `simjoin state init DIR --corpus SHARDS...` runs)\n"
           "  --max-pairs N   stop past N pairs (0 or none: no limit); --max-memory SIZE:\n"
           "                  the pairs that fit in SIZE beside the inputs. Default: what fits\n"
           "                  in 3/4 of the memory available and 9/10 of the free disk.\n"
           "                  Past --max-pairs or --max-memory a batch is abnormal: the\n"
           "                  uploads with the most matches are quarantined until the rest\n"
           "                  fit (kept out of the clusters, listed in the report as\n"
           "                  \"quarantined\"); the batch is committed with a warning. Past\n"
           "                  the default limit (what this machine has) the run stops\n"
           "                  instead, with nothing changed: the result never depends on\n"
           "                  the machine\n"
           "  --max-matches K quarantine an upload with more than K matches tonight\n"
           "                  (default 1000, none with --as-corpus; 0 or none: no cap)\n"
           "  --dihedral      flip- and rotation-aware: each upload's 8 dihedral hashes\n"
           "                  (shards hashed with --dihedral) against the corpus's canonical\n"
           "                  ones, as `join --dihedral`; the report gives each match's\n"
           "                  transform\n"
           "  --stats-json F  write the night's figures as JSON (not when the batch was\n"
           "                  already committed: nothing ran)\n");
}

/* Old cluster state: ids sorted, stable cluster (-1: excluded), rule. */
typedef struct old_state {
    int64_t n;
    int64_t *ids, *cluster, *rule;
} old_state;

static void old_state_free(old_state *o)
{
    free(o->ids);
    free(o->cluster);
    free(o->rule);
}

static sj_status read_old_state(const char *path, old_state *o)
{
    memset(o, 0, sizeof *o);
    hid_t f;
    sj_status st = sj_h5_open(path, &f);
    if (st)
        return st;
    if (!(st = sj_h5_read_i64(f, "state/id", -1, &o->ids, &o->n, path)) &&
        !(st = sj_h5_read_i64(f, "state/cluster", o->n, &o->cluster, NULL, path)))
        st = sj_h5_read_i64(f, "state/rule", o->n, &o->rule, NULL, path);
    H5Fclose(f);
    return st;
}

typedef struct node {
    int64_t id;
    int64_t old_cluster; /* -1 for new hashes */
} node;

static int cmp_node(const void *x, const void *y)
{
    const node *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_i64p(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Order of (int64, int64) pairs: by the first, then the second. */
static int cmp_i64x2(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* retired[i] = 1 when nodes[i] (in id order) is the smallest member of an old
 * cluster whose id was retired into another one tonight, so that each merge is
 * reported once. Sorts the (old id, node) pairs of the nodes that changed id:
 * O(m log m) in the m nodes of merged clusters, not quadratic. */
static sj_status mark_retired(const node *nodes, int64_t n, const int64_t *cluster, uint8_t *retired)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        retired[i] = 0;
        m += nodes[i].old_cluster >= 0 && cluster[i] != nodes[i].old_cluster;
    }
    int64_t *moved = malloc((size_t)SJ_MAX(m, 1) * 2 * sizeof *moved);
    if (!moved)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if (nodes[i].old_cluster >= 0 && cluster[i] != nodes[i].old_cluster)
            moved[2 * m] = nodes[i].old_cluster, moved[2 * m++ + 1] = i;
    qsort(moved, (size_t)m, 2 * sizeof *moved, cmp_i64x2);
    for (int64_t k = 0; k < m; k++)
        if (k == 0 || moved[2 * k] != moved[2 * (k - 1)])
            retired[moved[2 * k + 1]] = 1;
    free(moved);
    return SJ_OK;
}

/* The uploads of *h whose count is at most cap stay; the others move to
 * q_id/q_matches (appended at *n_q). *h is replaced by the rows kept. */
static sj_status split_quarantined(sj_hashes **h, const int64_t *counts, int64_t cap, int64_t *q_id,
                                   int64_t *q_matches, int64_t *n_q)
{
    sj_hashes *kept = NULL, *all = *h;
    sj_status st = sj_hashes_create(all->type, SJ_MAX(all->n, 1), &kept);
    const uint32_t rb = sj_hash_type_bytes(all->type);
    for (int64_t i = 0; !st && i < all->n; i++) {
        if (counts[i] > cap) {
            q_id[*n_q] = all->ids[i];
            q_matches[(*n_q)++] = counts[i];
        } else {
            st = sj_hashes_append(kept, all->ids[i], all->hashes + (size_t)i * rb,
                                  all->quality ? all->quality[i] : -1);
        }
    }
    if (st) {
        sj_hashes_free(kept);
        return st;
    }
    if ((st = sj_hashes_set_source(kept, all->source))) {
        sj_hashes_free(kept);
        return st;
    }
    sj_hashes_free(all);
    *h = kept;
    return SJ_OK;
}

/* new x corpus, then new x new, within the pair limit: SJ_ERR_LIMIT past it. */
static sj_status join_within(sj_join_config *cfg, const sj_hashes *uploads, const sj_hashes *active,
                             int64_t max_pairs, sj_pairs *pairs)
{
    cfg->max_pairs = max_pairs;
    sj_status st = sj_join_cross(cfg, uploads, active, pairs);
    if (!st && max_pairs > 0) /* what the first join left of the limit */
        cfg->max_pairs = SJ_MAX(max_pairs - pairs->n, 1);
    if (!st)
        st = sj_join_self(cfg, uploads, pairs);
    if (!st && max_pairs > 0 && pairs->n > max_pairs)
        st = SJ_ERR_LIMIT;
    return st;
}

/* How to raise nightly's limit. */
static const char nightly_how[] =
    "Set --max-pairs N to quarantine the uploads with the most matches until the rest fit, "
    "--max-matches K to quarantine those with more than K, or --max-memory SIZE (0 or none: no limit)";

/* The night's pairs, with uploads of an abnormal match count quarantined:
 * more than max_matches matches (0: no cap); and, when the pairs would exceed
 * lim->max_pairs and fit is set (a limit the user chose, so that the result
 * does not depend on the machine), the uploads with the most matches until
 * the rest fit (sj_match_cap; counted without keeping the pairs). Past a
 * default limit the run stops instead. Quarantined uploads leave *uploads for
 * q_id/q_matches (caller arrays of (*uploads)->n). */
static sj_status join_night(sj_join_config *cfg, sj_hashes **uploads, const sj_hashes *active,
                            const sj_pair_limit *lim, int fit, int64_t max_matches, sj_pairs *pairs,
                            int64_t *q_id, int64_t *q_matches, int64_t *n_q, int *over_limit)
{
    const int64_t n = (*uploads)->n;
    sj_status st = join_within(cfg, *uploads, active, lim->max_pairs, pairs);
    *over_limit = st == SJ_ERR_LIMIT && lim->max_pairs > 0;
    if (*over_limit && !fit && max_matches <= 0)
        return sj_pair_limit_exceeded("nightly", lim, nightly_how);
    if ((st && !*over_limit) || (!st && max_matches <= 0))
        return st;
    int64_t *counts = calloc((size_t)SJ_MAX(n, 1), sizeof *counts), cap = max_matches;
    sj_id_index ix = {0};
    if (!counts)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = sj_id_index_build(&ix, (*uploads)->ids, n)))
        goto done;
    if (*over_limit) {
        sj_pairs_free(pairs);
        if ((st = sj_join_count_matches(cfg, *uploads, active, counts)) ||
            (st = sj_join_count_matches(cfg, *uploads, NULL, counts)))
            goto done;
        if (!fit) /* only --max-matches (> 0 here); the join below must fit */
            cap = max_matches;
        else if ((st = sj_match_cap(counts, n, lim->max_pairs, &cap)))
            goto done;
        else if (max_matches > 0)
            cap = SJ_MIN(cap, max_matches);
    } else {
        for (int64_t p = 0; p < pairs->n; p++) {
            int64_t ra = sj_id_index_find(&ix, pairs->v[p].a), rb = sj_id_index_find(&ix, pairs->v[p].b);
            if (ra >= 0)
                counts[ra]++;
            if (rb >= 0)
                counts[rb]++;
        }
    }
    const int64_t before = *n_q;
    int any = 0;
    for (int64_t i = 0; i < n && !any; i++)
        any = counts[i] > cap;
    if (any && (st = split_quarantined(uploads, counts, cap, q_id, q_matches, n_q)))
        goto done;
    if (*over_limit) { /* join again without them: it fits now */
        if ((st = join_within(cfg, *uploads, active, lim->max_pairs, pairs)) == SJ_ERR_LIMIT)
            st = sj_pair_limit_exceeded("nightly", lim, nightly_how);
    } else if (*n_q > before) { /* drop the pairs of the quarantined uploads */
        int64_t k = 0;
        for (int64_t p = 0; p < pairs->n; p++) {
            int64_t ra = sj_id_index_find(&ix, pairs->v[p].a), rb = sj_id_index_find(&ix, pairs->v[p].b);
            if ((ra < 0 || counts[ra] <= cap) && (rb < 0 || counts[rb] <= cap))
                pairs->v[k++] = pairs->v[p];
        }
        pairs->n = k;
    }
done:
    sj_id_index_free(&ix);
    free(counts);
    return st;
}

/* Remove files under DIR/sub that the manifest does not list and that are
 * left-overs of an interrupted run: temporaries, or a generation above the
 * committed one. */

/* 1 if the manifest lists DIR-relative path rel. */
static int manifest_lists(const sj_manifest *m, const char *rel)
{
    for (int64_t i = 0; i < m->n_files; i++)
        if (!strcmp(m->files[i].path, rel))
            return 1;
    return 0;
}

/* Remove the left-overs of an interrupted run, and nothing else: a
 * manifest temporary, and under shards/, clusters/ and reports/ files (or
 * their atomic-write temporaries, .NAME.tmp.PID.N) whose exact name is that
 * of a generation newer than the committed one, and that the manifest does
 * not list. Files of committed generations are never touched. */
static void remove_orphans(const char *dir, const sj_manifest *m)
{
    DIR *top = opendir(dir); /* a manifest written but never renamed */
    if (top) {
        struct dirent *e;
        while ((e = readdir(top)))
            if (!strncmp(e->d_name, ".manifest.tmp.", 14)) {
                char full[4400];
                snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
                unlink(full);
            }
        closedir(top);
    }
    const char *subs[] = {"shards", "clusters", "reports"};
    for (int s = 0; s < 3; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            char rel[600];
            snprintf(rel, sizeof rel, "%s/%s", subs[s], e->d_name);
            const char *temp = e->d_name[0] == '.' ? strstr(e->d_name, ".tmp.") : NULL;
            if (temp) /* .NAME.tmp.PID.N: judged by NAME */
                snprintf(rel, sizeof rel, "%s/%.*s", subs[s], (int)(temp - e->d_name - 1), e->d_name + 1);
            if (sj_state_name_generation(rel) <= m->generation || manifest_lists(m, rel))
                continue;
            char full[4400];
            snprintf(full, sizeof full, "%s/%s", path, e->d_name);
            unlink(full);
        }
        closedir(d);
    }
}

static sj_status write_state_file(const char *path, const node *nodes, int64_t n,
                                  const int64_t *cluster, const int64_t *rule, const sj_sources *srcs,
                                  int64_t generation, const sj_meta_table *meta)
{
    sj_atomic_file af;
    hid_t f, g = H5I_INVALID_HID;
    sj_status st = sj_h5_create(path, &af, &f);
    if (st)
        return st;
    int64_t *ids = malloc((size_t)SJ_MAX(n, 1) * sizeof *ids);
    int32_t *src = malloc((size_t)SJ_MAX(n, 1) * sizeof *src);
    char *names = sj_sources_names(srcs); /* the `sources` attribute, whole */
    if (!ids || !src || !names) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        ids[i] = nodes[i].id;
        src[i] = sj_sources_of(srcs, nodes[i].id);
    }
    hsize_t d[1] = {(hsize_t)n};
    if ((st = sj_h5_attr_i64(f, "format_version", SJ_FORMAT_VERSION, path)) ||
        (st = sj_h5_attr_str(f, "content", "nightly-state", path)) ||
        (st = sj_h5_attr_i64(f, "generation", generation, path)) ||
        (st = sj_h5_attr_str(f, "sources", names, path)) || (st = sj_h5_group(f, "state", path, &g)) ||
        (st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, d, ids, path)) ||
        (st = sj_h5_write(g, "cluster", H5T_NATIVE_INT64, 1, d, cluster, path)) ||
        (st = sj_h5_write(g, "rule", H5T_NATIVE_INT64, 1, d, rule, path)) ||
        (st = sj_h5_write(g, "source", H5T_NATIVE_INT32, 1, d, src, path)) ||
        (st = sj_meta_table_h5_write(f, meta, path)))
        goto fail;
    H5Gclose(g);
    free(ids);
    free(src);
    free(names);
    return sj_h5_commit(f, &af);
fail:
    if (g >= 0)
        H5Gclose(g);
    free(ids);
    free(src);
    free(names);
    sj_h5_abort(f, &af);
    return st;
}

static const char *src_name(const sj_sources *s, int64_t id)
{
    int32_t k = sj_sources_of(s, id);
    return k >= 0 ? s->names[k] : "";
}

int cmd_nightly(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'},    {"new", required_argument, 0, 'n'},
        {"source", required_argument, 0, 'S'},   {"threshold", required_argument, 0, 't'},
        {"backend", required_argument, 0, 'b'},  {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {"as-corpus", no_argument, 0, 'C'},      {"max-pairs", required_argument, 0, 'M'},
        {"max-memory", required_argument, 0, 'X'}, {"max-matches", required_argument, 0, 'K'},
        {"dihedral", no_argument, 0, 'D'},       {"stats-json", required_argument, 0, 'J'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *source = NULL, *stats = NULL;
    const double t0 = sj_now();
    char **uploads_paths = calloc((size_t)argc + 1, sizeof(char *));
    int n_up = 0, c, rc = EXIT_OK, lock_fd = -1, as_corpus = 0;
    int64_t thr = -1, threads = 0, max_pairs = -1, max_memory = -1, max_matches = -1, n_q = 0;
    int64_t *q_id = NULL, *q_matches = NULL; /* quarantined uploads and their matches */
    sj_pair_limit lim = {0, ""};
    sj_join_config cfg;
    sj_join_config_defaults(&cfg);
    sj_manifest m, next;
    memset(&m, 0, sizeof m);
    memset(&next, 0, sizeof next);
    sj_sources srcs;
    memset(&srcs, 0, sizeof srcs);
    old_state old;
    memset(&old, 0, sizeof old);
    sj_meta_table *meta = NULL;
    sj_hashes *corpus = NULL, *active = NULL, *uploads = NULL, **each = calloc((size_t)argc + 1, sizeof(sj_hashes *));
    sj_pairs pairs = {0};
    node *nodes = NULL;
    int64_t *parent = NULL, *cluster = NULL, *rule = NULL, *ex_id = NULL, *root_id = NULL;
    uint8_t *ex_rule = NULL, *retired = NULL;
    sj_status st = SJ_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'n':
            uploads_paths[n_up++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                uploads_paths[n_up++] = argv[optind++];
            break;
        case 'S': source = optarg; break;
        case 't':
            if (cli_parse_i64(optarg, &thr) || thr < 0) {
                rc = cli_usage("nightly", "--threshold needs an integer >= 0");
                goto done;
            }
            break;
        case 'b':
            if ((st = sj_backend_parse(optarg, &cfg.backend)))
                goto fail;
            break;
        case 'j':
            if (cli_parse_i64(optarg, &threads) || threads < 1) {
                rc = cli_usage("nightly", "--threads needs a positive integer");
                goto done;
            }
            break;
        case 'q': cli_quiet = 1; break;
        case 'J': stats = optarg; break;
        case 'C': as_corpus = 1; break;
        case 'M':
            if (cli_parse_limit(optarg, 0, &max_pairs)) {
                rc = cli_usage("nightly", "--max-pairs needs a positive integer, or 0 or none for no limit");
                goto done;
            }
            break;
        case 'X':
            if (cli_parse_limit(optarg, 1, &max_memory)) {
                rc = cli_usage("nightly", "--max-memory needs a size of at least 1M (like 512M, 8G), "
                                          "or 0 or none for no limit");
                goto done;
            }
            break;
        case 'K':
            if (cli_parse_limit(optarg, 0, &max_matches)) {
                rc = cli_usage("nightly", "--max-matches needs a positive integer, or 0 or none for no cap");
                goto done;
            }
            break;
        case 'D': cfg.dihedral = 1; break;
        case 'h': help(); goto done;
        default: rc = cli_usage("nightly", "bad option"); goto done;
        }
    }
    if (max_matches < 0) /* seeding a state from a known corpus quarantines nothing */
        max_matches = as_corpus ? 0 : 1000;
    if (!dir || !n_up) {
        rc = cli_usage("nightly", "--state and --new are required");
        goto done;
    }
    if (source && sj_utf8_check(source, strlen(source)) < strlen(source)) {
        rc = cli_usage("nightly", "--source is not valid UTF-8");
        goto done;
    }
    /* The uploads are never files the run writes, removes or commits. */
    {
        const char *subs[] = {"shards", "clusters", "reports"};
        char sub[4200], manifest_path[4200], lock[4200];
        for (int s = 0; s < 3 && !st; s++) {
            snprintf(sub, sizeof sub, "%s/%s", dir, subs[s]);
            st = sj_check_not_inside(sub, uploads_paths, n_up, "nightly writes and cleans up");
        }
        snprintf(manifest_path, sizeof manifest_path, "%s/manifest", dir);
        snprintf(lock, sizeof lock, "%s/lock", dir);
        const char *outputs[] = {manifest_path, lock, stats};
        if (st || (st = sj_check_outputs(outputs, 3, uploads_paths, n_up)))
            goto fail;
    }
    /* One run at a time. */
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
    struct stat dir_sb;
    errno = 0;
    if (stat(dir, &dir_sb) != 0 || !S_ISDIR(dir_sb.st_mode)) {
        st = sj_fail(SJ_ERR_IO, "%s: %s (create a state with `simjoin state init`)", dir,
                     errno == ENOENT ? "no such directory" : errno ? strerror(errno) : "not a directory");
        goto fail;
    }
    /* O_NOFOLLOW: a symlink planted at DIR/lock is refused, not followed. */
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (lock_fd < 0) {
        st = sj_fail(SJ_ERR_IO, "%s: cannot open the lock file: %s", lock_path,
                     errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        goto fail;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = sj_fail(SJ_ERR_IO, "%s: cannot lock the state (another nightly run?)", dir);
        goto fail;
    }
    if ((st = sj_manifest_read(dir, &m)) || (st = sj_manifest_verify(dir, &m)))
        goto fail;
    if (thr >= 0 && thr != m.threshold) {
        st = sj_fail(SJ_ERR_ARG, "--threshold %lld differs from the state's threshold %d", (long long)thr,
                     m.threshold);
        goto fail;
    }
    remove_orphans(dir, &m);

    /* The batch: the uploads' contents and the options that shape the result. */
    sj_sha256 bh;
    sj_sha256_init(&bh);
    for (int i = 0; i < n_up; i++) {
        char sha[65];
        if (sj_sha256_file(uploads_paths[i], sha)) {
            st = sj_fail(SJ_ERR_IO, "%s: cannot read: %s", uploads_paths[i], strerror(errno));
            goto fail;
        }
        sj_sha256_update(&bh, sha, 64);
    }
    sj_sha256_update(&bh, source ? source : "", strlen(source ? source : "") + 1);
    if (cfg.dihedral)
        sj_sha256_update(&bh, "dihedral", 8);
    char batch[65];
    sj_sha256_hex(&bh, batch);
    int64_t done_gen = sj_manifest_find_batch(&m, batch);
    if (done_gen >= 0) {
        cli_notice("nightly: this batch was committed in generation %lld; nothing to do",
                   (long long)done_gen);
        goto done;
    }

    /* The corpus (every committed shard) and the old cluster state. */
    /* Every shard, however many (a fixed array once dropped those past 4,096). */
    char **shard_paths = calloc((size_t)SJ_MAX(m.n_files, 1), sizeof *shard_paths);
    int n_shards = 0, oom = !shard_paths;
    char full[4096 * 2];
    const char *state_file = NULL;
    for (int64_t i = 0; !oom && i < m.n_files; i++) {
        snprintf(full, sizeof full, "%s/%s", dir, m.files[i].path);
        if (!strncmp(m.files[i].path, "shards/", 7))
            oom = !(shard_paths[n_shards++] = strdup(full));
        else if (!strncmp(m.files[i].path, "clusters/", 9))
            state_file = m.files[i].path;
    }
    st = oom ? sj_fail(SJ_ERR_NOMEM, "out of memory")
         : n_shards ? sj_read_shards(shard_paths, n_shards, &corpus, &srcs) : SJ_OK;
    for (int i = 0; i < n_shards; i++)
        free(shard_paths[i]);
    free(shard_paths);
    if (st)
        goto fail;
    if (!corpus && (st = sj_hashes_create(m.type, 0, &corpus)))
        goto fail;
    free(corpus->dihedral); /* the corpus side is compared by its canonical hashes only */
    corpus->dihedral = NULL;
    if (state_file) {
        snprintf(full, sizeof full, "%s/%s", dir, state_file);
        if ((st = read_old_state(full, &old)))
            goto fail;
    }
    /* The uploads, one shard each (their sources kept, or --source). */
    if ((st = sj_hashes_create(m.type, 0, &uploads)))
        goto fail;
    for (int i = 0; i < n_up; i++) {
        if ((st = sj_shard_read(uploads_paths[i], &each[i])))
            goto fail;
        if (each[i]->type.kind != m.type.kind || each[i]->type.bits != m.type.bits) {
            char a[24], b[24];
            sj_hash_type_format(each[i]->type, a, sizeof a);
            sj_hash_type_format(m.type, b, sizeof b);
            st = sj_fail(SJ_ERR_MISMATCH, "%s: %s hashes, but the state holds %s", uploads_paths[i], a, b);
            goto fail;
        }
        if (cfg.dihedral && !each[i]->dihedral && each[i]->n) {
            st = sj_fail(SJ_ERR_FORMAT, "--dihedral: %s has no dihedral hashes (/dihedral); hash its "
                                     "images with `simjoin hash --dihedral`", uploads_paths[i]);
            goto fail;
        }
        if (source && (st = sj_hashes_set_source(each[i], source)))
            goto fail;
        if ((st = sj_sources_add(&srcs, each[i], uploads_paths[i])) ||
            (st = sj_hashes_concat(uploads, each[i])))
            goto fail;
    }
    sj_sources_finish(&srcs);
    if (!cfg.dihedral) { /* kept in each upload's shard, not needed for the join */
        free(uploads->dihedral);
        uploads->dihedral = NULL;
    }
    if ((st = sj_check_ids_across(corpus, uploads)))
        goto fail;

    /* Case metadata of every hash, tonight's uploads marked new (before the
     * degenerate ones are taken out): kept in the cluster state for `report`. */
    {
        const sj_hashes *sets[2] = {corpus, uploads};
        const uint8_t side[2] = {0, !as_corpus};
        if ((st = sj_meta_table_build(sets, side, 2, &meta)))
            goto fail;
        if ((st = sj_meta_fill_sources(meta, &srcs)))
            goto fail;
    }
    /* Exclusions: new degenerate hashes now; old ones as recorded. */
    sj_degenerate_options dopt;
    sj_degenerate_defaults(m.type, &dopt);
    ex_id = malloc((size_t)SJ_MAX(uploads->n, 1) * sizeof *ex_id);
    ex_rule = malloc((size_t)SJ_MAX(uploads->n, 1));
    int64_t n_ex = 0;
    if (!ex_id || !ex_rule) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = sj_hashes_remove_degenerate(uploads, &dopt, ex_id, ex_rule, &n_ex)))
        goto fail;
    if ((st = sj_hashes_create(m.type, SJ_MAX(corpus->n, 1), &active)))
        goto fail;
    for (int64_t i = 0; i < corpus->n; i++) {
        int64_t k = sj_search_i64(old.ids, old.n, corpus->ids[i]);
        if (k >= 0 && old.cluster[k] >= 0 &&
            (st = sj_hashes_append(active, corpus->ids[i],
                                   corpus->hashes + (size_t)i * sj_hash_type_bytes(m.type), -1)))
            goto fail;
    }

    /* The join: new x corpus and new x new. */
    cfg.threshold = m.threshold;
    cfg.threads = (int)threads;
    const char *notice = NULL;
    cfg.backend = sj_backend_resolve_for(&cfg, m.type, &notice);
    if (notice)
        cli_notice("%s", notice);
    /* Limits: explicit, or from the machine (a pair in memory as a hit, a
     * pair and a cluster edge: 72 bytes; on disk, in the two reports: 256). */
    {
        int64_t input_bytes = (corpus->n + uploads->n) * ((int64_t)sj_hash_type_bytes(m.type) + 40);
        if (max_pairs > 0) {
            lim.max_pairs = max_pairs;
            snprintf(lim.why, sizeof lim.why, "the limit set by --max-pairs %lld", (long long)max_pairs);
        } else if (max_memory > 0) {
            if (input_bytes > max_memory / 2) {
                st = sj_fail(SJ_ERR_LIMIT, "nightly: the corpus and the uploads need about %.1f MB in "
                             "memory, more than half of --max-memory (%.1f MB); raise it",
                             (double)input_bytes / 1048576.0, (double)max_memory / 1048576.0);
                goto fail;
            }
            lim.max_pairs = (max_memory - input_bytes) / 72;
            snprintf(lim.why, sizeof lim.why, "the limit set by --max-memory %.1f MB",
                     (double)max_memory / 1048576.0);
        } else if (max_pairs < 0 && max_memory < 0) {
            snprintf(full, sizeof full, "%s/reports/report", dir);
            if ((st = sj_pair_limit_default(full, input_bytes, 72, 256, &lim)))
                goto fail;
        }
    }
    q_id = malloc((size_t)SJ_MAX(uploads->n, 1) * sizeof *q_id);
    q_matches = malloc((size_t)SJ_MAX(uploads->n, 1) * sizeof *q_matches);
    if (!q_id || !q_matches) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int over_limit = 0;
    if ((st = join_night(&cfg, &uploads, active, &lim, max_pairs > 0 || max_memory > 0, max_matches,
                         &pairs, q_id, q_matches, &n_q, &over_limit)) ||
        (st = cfg.dihedral ? sj_pairs_canonicalize_min(&pairs) : sj_pairs_canonicalize(&pairs)))
        goto fail;
    for (int64_t i = 0; i < n_q; i++) { /* quarantined: kept out like the excluded */
        ex_id[n_ex] = q_id[i];
        ex_rule[n_ex++] = SJ_DEGEN_QUARANTINED;
    }
    if (n_q && over_limit && (max_pairs > 0 || max_memory > 0))
        fprintf(stderr, "simjoin: warning: nightly: an abnormal batch: more than %lld pairs, %s; "
                        "%lld uploads with the most matches are quarantined (kept out of the clusters, "
                        "listed in the report)\n", (long long)lim.max_pairs, lim.why, (long long)n_q);
    else if (n_q)
        fprintf(stderr, "simjoin: warning: nightly: %lld uploads with more than %lld matches "
                        "(--max-matches) are quarantined (kept out of the clusters, listed in the "
                        "report)\n", (long long)n_q, (long long)max_matches);

    /* Clusters: old clusters as sets, plus the night's pairs. */
    const int64_t n_nodes = old.n + uploads->n + n_ex;
    nodes = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *nodes);
    parent = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *parent);
    cluster = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *cluster);
    rule = calloc((size_t)SJ_MAX(n_nodes, 1), sizeof *rule);
    root_id = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *root_id);
    if (!nodes || !parent || !cluster || !rule || !root_id) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < old.n; i++)
        nodes[k++] = (node){old.ids[i], old.cluster[i] >= 0 ? old.cluster[i] : -2};
    for (int64_t i = 0; i < uploads->n; i++)
        nodes[k++] = (node){uploads->ids[i], -1};
    for (int64_t i = 0; i < n_ex; i++)
        nodes[k++] = (node){ex_id[i], -2};
    qsort(nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
    for (int64_t i = 0; i < n_nodes; i++) {
        parent[i] = i;
        rule[i] = 0;
    }
    {
        /* Old clusters: link each member to the first member seen of its id
         * (nodes are in id order, so sort (cluster, node) pairs). */
        int64_t *cp = malloc((size_t)SJ_MAX(n_nodes, 1) * 2 * sizeof *cp);
        if (!cp) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        int64_t nc = 0;
        for (int64_t i = 0; i < n_nodes; i++)
            if (nodes[i].old_cluster >= 0)
                cp[2 * nc] = nodes[i].old_cluster, cp[2 * nc++ + 1] = i;
        qsort(cp, (size_t)nc, 2 * sizeof *cp, cmp_i64p);
        for (int64_t i = 1; i < nc; i++)
            if (cp[2 * i] == cp[2 * (i - 1)]) {
                int64_t a = sj_uf_find(parent, cp[2 * i + 1]), b = sj_uf_find(parent, cp[2 * (i - 1) + 1]);
                if (a != b)
                    parent[SJ_MAX(a, b)] = SJ_MIN(a, b);
            }
        free(cp);
    }
    for (int64_t p = 0; p < pairs.n; p++) {
        node key = {pairs.v[p].a, 0}, key2 = {pairs.v[p].b, 0};
        node *na = bsearch(&key, nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
        node *nb = bsearch(&key2, nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
        int64_t a = sj_uf_find(parent, na - nodes), b = sj_uf_find(parent, nb - nodes);
        if (a != b)
            parent[SJ_MAX(a, b)] = SJ_MIN(a, b);
    }
    /* Component ids: smallest old id among members, else a new id in order
     * of the component's smallest member (roots are smallest members). */
    for (int64_t i = 0; i < n_nodes; i++)
        root_id[i] = -1;
    for (int64_t i = 0; i < n_nodes; i++)
        if (nodes[i].old_cluster >= 0) {
            int64_t r = sj_uf_find(parent, i);
            if (root_id[r] < 0 || nodes[i].old_cluster < root_id[r])
                root_id[r] = nodes[i].old_cluster;
        }
    int64_t new_clusters = 0, joined_existing = 0;
    next.next_cluster = m.next_cluster;
    for (int64_t i = 0; i < n_nodes; i++) {
        if (nodes[i].old_cluster == -2) { /* excluded */
            cluster[i] = -1;
            continue;
        }
        int64_t r = sj_uf_find(parent, i);
        if (root_id[r] < 0) { /* first (smallest) member of an all-new component */
            root_id[r] = next.next_cluster++;
            new_clusters++;
        }
        cluster[i] = root_id[r];
    }
    /* New hashes that joined an existing cluster. */
    for (int64_t i = 0; i < n_nodes; i++)
        if (nodes[i].old_cluster == -1 && cluster[i] < m.next_cluster)
            joined_existing++;
    /* Rules of excluded hashes: new ones from tonight, old ones as recorded. */
    for (int64_t i = 0; i < n_ex; i++) {
        node key = {ex_id[i], 0};
        node *nx = bsearch(&key, nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
        rule[nx - nodes] = ex_rule[i];
    }
    for (int64_t i = 0; i < old.n; i++)
        if (old.cluster[i] < 0) {
            node key = {old.ids[i], 0};
            node *nx = bsearch(&key, nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
            rule[nx - nodes] = old.rule[i];
        }

    /* Generation g+1: shards, cluster state, report; then the manifest. */
    const int64_t gen = m.generation + 1;
    next.generation = gen;
    next.type = m.type;
    next.threshold = m.threshold;
    for (int64_t i = 0; i < m.n_files; i++) /* committed files keep their verified digests */
        if (strncmp(m.files[i].path, "clusters/", 9) &&
            (st = sj_manifest_add_entry(&next, m.files[i].path, m.files[i].sha)))
            goto fail;
    for (int64_t i = 0; i < m.n_batches; i++)
        if ((st = sj_manifest_add_batch(&next, m.batches[i].sha, m.batches[i].generation)))
            goto fail;
    for (int i = 0; i < n_up; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "shards/g%06lld-%d.h5", (long long)gen, i);
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        sj_fault_step("write shard");
        if ((st = sj_shard_write(full, each[i], 0, each[i]->n)))
            goto fail;
        sj_fault_step("shard written");
        if ((st = sj_manifest_add_file(&next, dir, rel)))
            goto fail;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "clusters/g%06lld.h5", (long long)gen);
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    sj_fault_step("write cluster state");
    if ((st = write_state_file(full, nodes, n_nodes, cluster, rule, &srcs, gen, meta)))
        goto fail;
    sj_fault_step("cluster state written");
    if ((st = sj_manifest_add_file(&next, dir, rel)))
        goto fail;

    /* The report: JSON and CSV. Merges: old ids retired into another. */
    if (!(retired = malloc((size_t)SJ_MAX(n_nodes, 1)))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = mark_retired(nodes, n_nodes, cluster, retired)))
        goto fail;
    int64_t cross = 0, n_merges = 0;
    for (int64_t p = 0; p < pairs.n; p++)
        cross += strcmp(src_name(&srcs, pairs.v[p].a), src_name(&srcs, pairs.v[p].b)) != 0;
    for (int kind = 0; kind < 2 && !st; kind++) {
        snprintf(rel, sizeof rel, "reports/g%06lld.%s", (long long)gen, kind ? "csv" : "json");
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        sj_fault_step(kind ? "write csv report" : "write json report");
        sj_text_file t;
        if ((st = sj_text_open(&t, full)))
            goto fail;
        FILE *fp = t.fp;
        if (!kind)
            fprintf(fp, "{\n  \"generation\": %lld,\n  \"batch\": \"%s\",\n  \"threshold\": %d,\n"
                        "  \"new_hashes\": %lld,\n  \"new_matches\": %lld,\n  \"cross_database_matches\": %lld,\n"
                        "  \"new_clusters\": %lld,\n  \"new_hashes_in_existing_clusters\": %lld,\n"
                        "  \"quarantined\": [",
                    (long long)gen, batch, m.threshold, (long long)(uploads->n + n_ex), (long long)pairs.n,
                    (long long)cross, (long long)new_clusters, (long long)joined_existing);
        else
            fprintf(fp, "record,a,b,distance,source_a,source_b,cross_database,cluster,detail\n");
        for (int64_t i = 0; !kind && i < n_q; i++)
            fprintf(fp, "%s\n    {\"id\": %lld, \"matches\": %lld}", i ? "," : "", (long long)q_id[i],
                    (long long)q_matches[i]);
        if (!kind)
            fprintf(fp, "%s],\n  \"matches\": [", n_q ? "\n  " : "");
        for (int64_t p = 0; p < pairs.n; p++) {
            node key = {pairs.v[p].a, 0};
            node *na = bsearch(&key, nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
            const char *sa = src_name(&srcs, pairs.v[p].a), *sb = src_name(&srcs, pairs.v[p].b);
            int x = strcmp(sa, sb) != 0;
            if (!kind) {
                fprintf(fp, "%s\n    {\"a\": %lld, \"b\": %lld, \"distance\": %.17g, \"source_a\": ",
                        p ? "," : "", (long long)pairs.v[p].a, (long long)pairs.v[p].b,
                        pairs.v[p].distance);
                sj_json_put_string(fp, sa);
                fprintf(fp, ", \"source_b\": ");
                sj_json_put_string(fp, sb);
                fprintf(fp, ", \"cross_database\": %s, \"cluster\": %lld", x ? "true" : "false",
                        (long long)cluster[na - nodes]);
                if (cfg.dihedral)
                    fprintf(fp, ", \"transform\": %d", (int)pairs.v[p].transform);
                fputc('}', fp);
            } else {
                fprintf(fp, "match,%lld,%lld,%.17g,", (long long)pairs.v[p].a,
                        (long long)pairs.v[p].b, pairs.v[p].distance);
                sj_csv_put_text(fp, sa, ',');
                fputc(',', fp);
                sj_csv_put_text(fp, sb, ',');
                fprintf(fp, ",%d,%lld,", x, (long long)cluster[na - nodes]);
                if (cfg.dihedral) /* the detail column */
                    fprintf(fp, "transform %d", (int)pairs.v[p].transform);
                fputc('\n', fp);
            }
        }
        if (!kind)
            fprintf(fp, "\n  ],\n  \"merges\": [");
        /* an old id whose members now carry another id was merged into it */
        int first = 1;
        n_merges = 0;
        for (int64_t i = 0; i < n_nodes; i++) {
            if (!retired[i]) /* each retired id once: at its smallest member */
                continue;
            n_merges++;
            if (!kind)
                fprintf(fp, "%s\n    {\"cluster\": %lld, \"merged\": %lld}", first ? "" : ",",
                        (long long)cluster[i], (long long)nodes[i].old_cluster);
            else
                fprintf(fp, "merge,,,,,,,%lld,merged %lld\n", (long long)cluster[i],
                        (long long)nodes[i].old_cluster);
            first = 0;
        }
        if (!kind)
            fprintf(fp, "\n  ],\n  \"excluded\": [");
        for (int64_t i = 0; i < n_ex; i++) {
            if (!kind)
                fprintf(fp, "%s\n    {\"id\": %lld, \"rule\": \"%s\"}", i ? "," : "", (long long)ex_id[i],
                        sj_degenerate_rule_name((sj_degenerate_rule)ex_rule[i]));
            else {
                fprintf(fp, "excluded,%lld,,,", (long long)ex_id[i]);
                sj_csv_put_text(fp, src_name(&srcs, ex_id[i]), ',');
                fprintf(fp, ",,,,%s\n", sj_degenerate_rule_name((sj_degenerate_rule)ex_rule[i]));
            }
        }
        if (!kind)
            fprintf(fp, "\n  ]\n}\n");
        if ((st = sj_text_close(&t, 1)))
            goto fail;
        if ((st = sj_manifest_add_file(&next, dir, rel)))
            goto fail;
    }
    if ((st = sj_manifest_add_batch(&next, batch, gen)))
        goto fail;
    if ((st = sj_manifest_commit(dir, &next)))
        goto fail;
    /* The cluster state of two generations back is no longer needed (and
     * no committed manifest lists it). */
    snprintf(rel, sizeof rel, "clusters/g%06lld.h5", (long long)(gen - 2));
    if (gen >= 3 && !manifest_lists(&next, rel) && !manifest_lists(&m, rel)) {
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        unlink(full);
    }
    char excluded[256];
    sj_excluded_text(ex_rule, n_ex, &dopt, excluded, sizeof excluded);
    cli_notice("nightly: generation %lld: %lld %s (%s), %lld new matches "
               "(%lld across databases), %lld new clusters, %lld merges -> %s/reports/g%06lld.json",
               (long long)gen, (long long)(uploads->n + n_ex),
               as_corpus ? "corpus hashes imported, none marked new" : "new hashes", excluded,
               (long long)pairs.n,
               (long long)cross, (long long)new_clusters, (long long)n_merges, dir, (long long)gen);
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "nightly");
        cli_json_int(&j, "generation", gen);
        cli_json_int(&j, "uploads", uploads->n + n_ex);
        cli_json_int(&j, "excluded", n_ex);
        cli_json_int(&j, "quarantined", n_q);
        cli_json_int(&j, "new_matches", pairs.n);
        cli_json_int(&j, "cross_database_matches", cross);
        cli_json_int(&j, "new_clusters", new_clusters);
        cli_json_int(&j, "merges", n_merges);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
    goto done;
fail:
    rc = cli_fail(st);
done:
    if (lock_fd >= 0)
        close(lock_fd);
    for (int i = 0; i < n_up; i++)
        sj_hashes_free(each[i]);
    free(each);
    sj_meta_table_free(meta);
    sj_hashes_free(corpus);
    sj_hashes_free(active);
    sj_hashes_free(uploads);
    sj_pairs_free(&pairs);
    old_state_free(&old);
    sj_sources_free(&srcs);
    sj_manifest_free(&m);
    sj_manifest_free(&next);
    free(nodes);
    free(parent);
    free(cluster);
    free(rule);
    free(root_id);
    free(retired);
    free(q_id);
    free(q_matches);
    free(ex_id);
    free(ex_rule);
    free(uploads_paths);
    return rc;
}
