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
#include "cli.h"
#include "simjoin/meta.h"
#include "h5util.h"
#include "sha256.h"
#include "state.h"
#include "text_out.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin nightly --state DIR --new UPLOADS.h5... [--source NAME]\n"
           "                       [--threshold T] [--backend B] [--threads N] [--quiet]\n"
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
           "  --threshold T   must equal the state's (set by `simjoin state init`)\n");
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

/* Remove files under DIR/sub that the manifest does not list and that are
 * left-overs of an interrupted run: temporaries, or a generation above the
 * committed one. */
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
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            long long g = -1;
            int temp = e->d_name[0] == '.' && strstr(e->d_name, ".tmp.");
            if (!temp && (sscanf(e->d_name, "g%lld", &g) != 1 || g <= m->generation))
                continue;
            char full[4400];
            snprintf(full, sizeof full, "%s/%s", path, e->d_name);
            unlink(full);
        }
        closedir(d);
    }
}

static sj_status write_state_file(const char *path, const node *nodes, int64_t n,
                                  const int64_t *cluster, const int64_t *rule, const cli_sources *srcs,
                                  int64_t generation, const sj_meta_table *meta)
{
    sj_atomic_file af;
    hid_t f, g = H5I_INVALID_HID;
    sj_status st = sj_h5_create(path, &af, &f);
    if (st)
        return st;
    int64_t *ids = malloc((size_t)SJ_MAX(n, 1) * sizeof *ids);
    int32_t *src = malloc((size_t)SJ_MAX(n, 1) * sizeof *src);
    if (!ids || !src) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        ids[i] = nodes[i].id;
        src[i] = cli_sources_of(srcs, nodes[i].id);
    }
    char names[4096];
    cli_sources_names(srcs, names, sizeof names);
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
    return sj_h5_commit(f, &af);
fail:
    if (g >= 0)
        H5Gclose(g);
    free(ids);
    free(src);
    sj_h5_abort(f, &af);
    return st;
}

static const char *src_name(const cli_sources *s, int64_t id)
{
    int32_t k = cli_sources_of(s, id);
    return k >= 0 ? s->names[k] : "";
}

int cmd_nightly(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'},    {"new", required_argument, 0, 'n'},
        {"source", required_argument, 0, 'S'},   {"threshold", required_argument, 0, 't'},
        {"backend", required_argument, 0, 'b'},  {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *source = NULL;
    char **uploads_paths = calloc((size_t)argc + 1, sizeof(char *));
    int n_up = 0, c, rc = EXIT_OK, lock_fd = -1;
    int64_t thr = -1, threads = 0;
    sj_join_config cfg;
    sj_join_config_defaults(&cfg);
    sj_manifest m, next;
    memset(&m, 0, sizeof m);
    memset(&next, 0, sizeof next);
    cli_sources srcs;
    memset(&srcs, 0, sizeof srcs);
    old_state old;
    memset(&old, 0, sizeof old);
    sj_meta_table *meta = NULL;
    sj_hashes *corpus = NULL, *active = NULL, *uploads = NULL, **each = calloc((size_t)argc + 1, sizeof(sj_hashes *));
    sj_pairs pairs = {0};
    node *nodes = NULL;
    int64_t *parent = NULL, *cluster = NULL, *rule = NULL, *ex_id = NULL, *root_id = NULL;
    uint8_t *ex_rule = NULL;
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
        case 'h': help(); goto done;
        default: rc = cli_usage("nightly", "bad option"); goto done;
        }
    }
    if (!dir || !n_up) {
        rc = cli_usage("nightly", "--state and --new are required");
        goto done;
    }
    if (source && strlen(source) >= SJ_SOURCE_MAX) {
        rc = cli_usage("nightly", "--source is too long");
        goto done;
    }
    if (source && sj_utf8_check(source, strlen(source)) < strlen(source)) {
        rc = cli_usage("nightly", "--source is not valid UTF-8");
        goto done;
    }
    /* One run at a time. */
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
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
    char batch[65];
    sj_sha256_hex(&bh, batch);
    int64_t done_gen = sj_manifest_find_batch(&m, batch);
    if (done_gen >= 0) {
        cli_notice("nightly: this batch was committed in generation %lld; nothing to do",
                   (long long)done_gen);
        goto done;
    }

    /* The corpus (every committed shard) and the old cluster state. */
    char *shard_paths[4096];
    int n_shards = 0;
    char full[4096 * 2];
    const char *state_file = NULL;
    for (int64_t i = 0; i < m.n_files; i++) {
        snprintf(full, sizeof full, "%s/%s", dir, m.files[i].path);
        if (!strncmp(m.files[i].path, "shards/", 7) && n_shards < 4096)
            shard_paths[n_shards++] = strdup(full);
        else if (!strncmp(m.files[i].path, "clusters/", 9))
            state_file = m.files[i].path;
    }
    if (n_shards && (st = cli_read_shards(shard_paths, n_shards, &corpus, &srcs)))
        goto fail;
    for (int i = 0; i < n_shards; i++)
        free(shard_paths[i]);
    if (!corpus && (st = sj_hashes_create(m.type, 0, &corpus)))
        goto fail;
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
        if (source)
            snprintf(each[i]->source, sizeof each[i]->source, "%s", source);
        if ((st = cli_sources_add(&srcs, each[i], uploads_paths[i])) ||
            (st = sj_hashes_concat(uploads, each[i])))
            goto fail;
    }
    cli_sources_finish(&srcs);
    if ((st = cli_check_ids_across(corpus, uploads)))
        goto fail;

    /* Case metadata of every hash, tonight's uploads marked new (before the
     * degenerate ones are taken out): kept in the cluster state for `report`. */
    {
        const sj_hashes *sets[2] = {corpus, uploads};
        const uint8_t side[2] = {0, 1};
        if ((st = sj_meta_table_build(sets, side, 2, &meta)))
            goto fail;
        if ((st = cli_meta_fill_sources(meta, &srcs)))
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
    if ((st = sj_join_cross(&cfg, uploads, active, &pairs)) || (st = sj_join_self(&cfg, uploads, &pairs)) ||
        (st = sj_pairs_canonicalize(&pairs)))
        goto fail;

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
    int64_t cross = 0, n_merges = 0;
    for (int64_t p = 0; p < pairs.n; p++)
        cross += strcmp(src_name(&srcs, pairs.v[p].a), src_name(&srcs, pairs.v[p].b)) != 0;
    for (int kind = 0; kind < 2 && !st; kind++) {
        snprintf(rel, sizeof rel, "reports/g%06lld.%s", (long long)gen, kind ? "csv" : "json");
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        sj_fault_step(kind ? "write csv report" : "write json report");
        cli_text t;
        if ((st = cli_text_open(&t, full)))
            goto fail;
        FILE *fp = t.fp;
        if (!kind)
            fprintf(fp, "{\n  \"generation\": %lld,\n  \"batch\": \"%s\",\n  \"threshold\": %d,\n"
                        "  \"new_hashes\": %lld,\n  \"new_matches\": %lld,\n  \"cross_database_matches\": %lld,\n"
                        "  \"new_clusters\": %lld,\n  \"new_hashes_in_existing_clusters\": %lld,\n"
                        "  \"quarantined\": [],\n  \"matches\": [",
                    (long long)gen, batch, m.threshold, (long long)(uploads->n + n_ex), (long long)pairs.n,
                    (long long)cross, (long long)new_clusters, (long long)joined_existing);
        else
            fprintf(fp, "record,a,b,distance,source_a,source_b,cross_database,cluster,detail\n");
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
                fprintf(fp, ", \"cross_database\": %s, \"cluster\": %lld}", x ? "true" : "false",
                        (long long)cluster[na - nodes]);
            } else {
                fprintf(fp, "match,%lld,%lld,%.17g,", (long long)pairs.v[p].a,
                        (long long)pairs.v[p].b, pairs.v[p].distance);
                sj_csv_put_text(fp, sa, ',');
                fputc(',', fp);
                sj_csv_put_text(fp, sb, ',');
                fprintf(fp, ",%d,%lld,\n", x, (long long)cluster[na - nodes]);
            }
        }
        if (!kind)
            fprintf(fp, "\n  ],\n  \"merges\": [");
        /* an old id whose members now carry another id was merged into it */
        int first = 1;
        n_merges = 0;
        for (int64_t i = 0; i < n_nodes; i++) {
            if (nodes[i].old_cluster < 0 || cluster[i] == nodes[i].old_cluster)
                continue;
            /* report each retired id once: at its smallest member */
            int seen = 0;
            for (int64_t j = 0; j < i && !seen; j++)
                seen = nodes[j].old_cluster == nodes[i].old_cluster;
            if (seen)
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
        if ((st = cli_text_close(&t, 1)))
            goto fail;
        if ((st = sj_manifest_add_file(&next, dir, rel)))
            goto fail;
    }
    if ((st = sj_manifest_add_batch(&next, batch, gen)))
        goto fail;
    if ((st = sj_manifest_commit(dir, &next)))
        goto fail;
    /* The cluster state of two generations back is no longer needed. */
    if (gen >= 2) {
        snprintf(full, sizeof full, "%s/clusters/g%06lld.h5", dir, (long long)(gen - 2));
        unlink(full);
    }
    cli_notice("nightly: generation %lld: %lld new hashes (%lld excluded), %lld new matches "
               "(%lld across databases), %lld new clusters, %lld merges -> %s/reports/g%06lld.json",
               (long long)gen, (long long)(uploads->n + n_ex), (long long)n_ex, (long long)pairs.n,
               (long long)cross, (long long)new_clusters, (long long)n_merges, dir, (long long)gen);
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
    cli_sources_free(&srcs);
    sj_manifest_free(&m);
    sj_manifest_free(&next);
    free(nodes);
    free(parent);
    free(cluster);
    free(rule);
    free(root_id);
    free(ex_id);
    free(ex_rule);
    free(uploads_paths);
    return rc;
}
