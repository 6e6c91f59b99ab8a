/* nightly.c - sj_nightly_run (simjoin/nightly.h): one night's uploads against
 * the state.
 *
 * new x corpus and new x new are joined; clusters are updated with stable
 * ids; the uploads become corpus shards; a report is written; and the whole
 * is committed by replacing the manifest (see state/state.h). A run killed at
 * any point leaves the previous generation or the new one; rerunning a
 * committed batch does nothing.
 *
 * Stable cluster ids: a cluster keeps its id as it grows. When new matches
 * merge clusters, the result takes the smallest of their ids (the others are
 * retired and listed in the report). A cluster of new hashes only gets the
 * next unused id, in the order of the clusters' smallest member ids. Ids are
 * never reused. */
#define _POSIX_C_SOURCE 200809L
#include "state/state.h"
#include "core/sha256.h"
#include "io/h5util.h"
#include "io/inputs.h"
#include "io/outputs.h"
#include "io/text_out.h"
#include "join/limits.h"
#include "simjoin/meta.h"
#include "simjoin/nightly.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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


void sj_nightly_options_init(sj_nightly_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->threshold = -1;
    o->backend = SJ_BACKEND_AUTO;
    o->max_pairs = -1;
    o->max_memory = -1;
    o->max_matches = -1;
}

void sj_nightly_result_init(sj_nightly_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

/* The sizes of the first version of the two structs: a caller built against
 * it passes these (fields added later start past them). */
#define OPTIONS_V1_SIZE (offsetof(sj_nightly_options, user) + sizeof(void *))
#define RESULT_V1_SIZE (offsetof(sj_nightly_result, report_csv) + sizeof(((sj_nightly_result *)0)->report_csv))

/* One run: what it read, found and wrote; freed by night_free. */
typedef struct night {
    sj_nightly_options o; /* the caller's, with defaults for what it did not set */
    int lock_fd;          /* DIR/lock, held for the run; -1 */
    sj_manifest m;        /* the committed generation */
    sj_manifest next;     /* the one this run commits */
    char batch[65];       /* SHA-256 of the batch */
    sj_sources srcs;      /* every row's source */
    old_state old;        /* the committed cluster state */
    sj_meta_table *meta;  /* case metadata of every hash */
    sj_hashes *corpus;    /* every committed shard */
    sj_hashes *active;    /* the corpus rows that are clustered (not excluded) */
    sj_hashes *uploads;   /* tonight's rows that are joined */
    sj_hashes **each;     /* [o.n_uploads] the uploads as read, one per file */
    sj_degenerate_options dopt;
    sj_join_config cfg;
    sj_pairs pairs;       /* tonight's pairs */
    int64_t *ex_id;       /* excluded uploads (degenerate, then quarantined) */
    uint8_t *ex_rule;     /* and their sj_degenerate_rule */
    int64_t n_ex;
    int64_t *q_id, *q_matches, n_q; /* quarantined uploads and their matches */
    node *nodes;          /* [n_nodes] every hash of the new generation, in id order */
    int64_t n_nodes;
    int64_t *cluster;     /* [n_nodes] stable cluster id, -1: excluded */
    int64_t *rule;        /* [n_nodes] sj_degenerate_rule of an excluded hash, else 0 */
    int64_t new_clusters, joined_existing;
} night;

static void night_free(night *nt)
{
    if (nt->lock_fd >= 0)
        close(nt->lock_fd);
    for (int i = 0; nt->each && i < nt->o.n_uploads; i++)
        sj_hashes_free(nt->each[i]);
    free(nt->each);
    sj_meta_table_free(nt->meta);
    sj_hashes_free(nt->corpus);
    sj_hashes_free(nt->active);
    sj_hashes_free(nt->uploads);
    sj_pairs_free(&nt->pairs);
    old_state_free(&nt->old);
    sj_sources_free(&nt->srcs);
    sj_manifest_free(&nt->m);
    sj_manifest_free(&nt->next);
    free(nt->nodes);
    free(nt->cluster);
    free(nt->rule);
    free(nt->q_id);
    free(nt->q_matches);
    free(nt->ex_id);
    free(nt->ex_rule);
}

/* A notice for the caller, if it asked for them. */
static void notify(const sj_nightly_options *o, sj_nightly_notice_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notify(const sj_nightly_options *o, sj_nightly_notice_level level, const char *fmt, ...)
{
    if (!o->notice)
        return;
    char msg[8800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->notice(o->user, level, msg);
}

/* The uploads are never files the run writes, removes or commits, nor the
 * caller's outputs; then DIR is locked (one run at a time), its manifest
 * read and verified, and the left-overs of an interrupted run removed. */
static sj_status night_open(night *nt)
{
    const sj_nightly_options *o = &nt->o;
    const char *dir = o->state_dir;
    char *const *uploads = (char *const *)o->uploads;
    sj_status st = SJ_OK;
    {
        const char *subs[] = {"shards", "clusters", "reports"};
        char sub[4200], manifest_path[4200], lock[4200];
        for (int s = 0; s < 3 && !st; s++) {
            snprintf(sub, sizeof sub, "%s/%s", dir, subs[s]);
            st = sj_check_not_inside(sub, uploads, o->n_uploads, "nightly writes and cleans up");
        }
        snprintf(manifest_path, sizeof manifest_path, "%s/manifest", dir);
        snprintf(lock, sizeof lock, "%s/lock", dir);
        const char **outputs = calloc((size_t)o->n_outputs + 2, sizeof *outputs);
        if (!st && !outputs)
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        if (!st) {
            outputs[0] = manifest_path;
            outputs[1] = lock;
            for (int i = 0; i < o->n_outputs; i++)
                outputs[2 + i] = o->outputs[i];
            st = sj_check_outputs(outputs, o->n_outputs + 2, uploads, o->n_uploads);
        }
        free(outputs);
        if (st)
            return st;
    }
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
    struct stat dir_sb;
    errno = 0;
    if (stat(dir, &dir_sb) != 0 || !S_ISDIR(dir_sb.st_mode))
        return sj_fail(SJ_ERR_IO, "%s: %s (create a state with `simjoin state init`)", dir,
                       errno == ENOENT ? "no such directory" : errno ? strerror(errno) : "not a directory");
    /* O_NOFOLLOW: a symlink planted at DIR/lock is refused, not followed. */
    nt->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (nt->lock_fd < 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot open the lock file: %s", lock_path,
                       errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    if (flock(nt->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot lock the state (another nightly run?)", dir);
    if ((st = sj_manifest_read(dir, &nt->m)) || (st = sj_manifest_verify(dir, &nt->m)))
        return st;
    if (o->threshold >= 0 && o->threshold != nt->m.threshold)
        return sj_fail(SJ_ERR_ARG, "--threshold %lld differs from the state's threshold %d",
                       (long long)o->threshold, nt->m.threshold);
    remove_orphans(dir, &nt->m);
    return SJ_OK;
}

/* The batch: the uploads' contents and the options that shape the result. */
static sj_status night_batch(night *nt)
{
    const sj_nightly_options *o = &nt->o;
    sj_sha256 bh;
    sj_sha256_init(&bh);
    for (int i = 0; i < o->n_uploads; i++) {
        char sha[65];
        if (sj_sha256_file(o->uploads[i], sha)) {
            int e = errno;
            sj_sha256_hex(&bh, sha); /* frees the digest's context */
            return sj_fail(SJ_ERR_IO, "%s: cannot read: %s", o->uploads[i], strerror(e));
        }
        sj_sha256_update(&bh, sha, 64);
    }
    const char *source = o->source ? o->source : "";
    sj_sha256_update(&bh, source, strlen(source) + 1);
    if (o->dihedral)
        sj_sha256_update(&bh, "dihedral", 8);
    sj_sha256_hex(&bh, nt->batch);
    return SJ_OK;
}

/* The corpus (every committed shard), the old cluster state, the uploads
 * (their sources kept, or o.source), the case metadata, the exclusions (new
 * degenerate hashes now; old ones as recorded) and the active corpus. */
static sj_status night_read(night *nt)
{
    const sj_nightly_options *o = &nt->o;
    const sj_manifest *m = &nt->m;
    const char *dir = o->state_dir;
    /* Every shard, however many (a fixed array once dropped those past 4,096). */
    char **shard_paths = calloc((size_t)SJ_MAX(m->n_files, 1), sizeof *shard_paths);
    int n_shards = 0, oom = !shard_paths;
    char full[4096 * 2];
    const char *state_file = NULL;
    for (int64_t i = 0; !oom && i < m->n_files; i++) {
        snprintf(full, sizeof full, "%s/%s", dir, m->files[i].path);
        if (!strncmp(m->files[i].path, "shards/", 7))
            oom = !(shard_paths[n_shards++] = strdup(full));
        else if (!strncmp(m->files[i].path, "clusters/", 9))
            state_file = m->files[i].path;
    }
    sj_status st = oom ? sj_fail(SJ_ERR_NOMEM, "out of memory")
                   : n_shards ? sj_read_shards(shard_paths, n_shards, &nt->corpus, &nt->srcs) : SJ_OK;
    for (int i = 0; i < n_shards; i++)
        free(shard_paths[i]);
    free(shard_paths);
    if (st)
        return st;
    if (!nt->corpus && (st = sj_hashes_create(m->type, 0, &nt->corpus)))
        return st;
    free(nt->corpus->dihedral); /* the corpus side is compared by its canonical hashes only */
    nt->corpus->dihedral = NULL;
    if (state_file) {
        snprintf(full, sizeof full, "%s/%s", dir, state_file);
        if ((st = read_old_state(full, &nt->old)))
            return st;
    }
    /* The uploads, one shard each. */
    if (!(nt->each = calloc((size_t)o->n_uploads, sizeof *nt->each)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = sj_hashes_create(m->type, 0, &nt->uploads)))
        return st;
    for (int i = 0; i < o->n_uploads; i++) {
        const char *path = o->uploads[i];
        sj_hashes *h;
        if ((st = sj_shard_read(path, &nt->each[i])))
            return st;
        h = nt->each[i];
        if (h->type.kind != m->type.kind || h->type.bits != m->type.bits) {
            char a[24], b[24];
            sj_hash_type_format(h->type, a, sizeof a);
            sj_hash_type_format(m->type, b, sizeof b);
            return sj_fail(SJ_ERR_MISMATCH, "%s: %s hashes, but the state holds %s", path, a, b);
        }
        if (o->dihedral && !h->dihedral && h->n)
            return sj_fail(SJ_ERR_FORMAT, "--dihedral: %s has no dihedral hashes (/dihedral); hash its "
                                          "images with `simjoin hash --dihedral`", path);
        if (o->source && (st = sj_hashes_set_source(h, o->source)))
            return st;
        if ((st = sj_sources_add(&nt->srcs, h, path)) || (st = sj_hashes_concat(nt->uploads, h)))
            return st;
    }
    sj_sources_finish(&nt->srcs);
    if (!o->dihedral) { /* kept in each upload's shard, not needed for the join */
        free(nt->uploads->dihedral);
        nt->uploads->dihedral = NULL;
    }
    if ((st = sj_check_ids_across(nt->corpus, nt->uploads)))
        return st;

    /* Case metadata of every hash, tonight's uploads marked new (before the
     * degenerate ones are taken out): kept in the cluster state for `report`. */
    const sj_hashes *sets[2] = {nt->corpus, nt->uploads};
    const uint8_t side[2] = {0, !o->as_corpus};
    if ((st = sj_meta_table_build(sets, side, 2, &nt->meta)) || (st = sj_meta_fill_sources(nt->meta, &nt->srcs)))
        return st;
    /* Exclusions: new degenerate hashes now; old ones as recorded. */
    sj_degenerate_defaults(m->type, &nt->dopt);
    nt->ex_id = malloc((size_t)SJ_MAX(nt->uploads->n, 1) * sizeof *nt->ex_id);
    nt->ex_rule = malloc((size_t)SJ_MAX(nt->uploads->n, 1));
    if (!nt->ex_id || !nt->ex_rule)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = sj_hashes_remove_degenerate(nt->uploads, &nt->dopt, nt->ex_id, nt->ex_rule, &nt->n_ex)))
        return st;
    if ((st = sj_hashes_create(m->type, SJ_MAX(nt->corpus->n, 1), &nt->active)))
        return st;
    const sj_hashes *c = nt->corpus;
    for (int64_t i = 0; i < c->n; i++) {
        int64_t k = sj_search_i64(nt->old.ids, nt->old.n, c->ids[i]);
        if (k >= 0 && nt->old.cluster[k] >= 0 &&
            (st = sj_hashes_append(nt->active, c->ids[i], c->hashes + (size_t)i * sj_hash_type_bytes(m->type), -1)))
            return st;
    }
    return SJ_OK;
}

/* The join: new x corpus and new x new, within the limits; the uploads of
 * an abnormal match count quarantined (excluded, with their rule). */
static sj_status night_join(night *nt)
{
    const sj_nightly_options *o = &nt->o;
    sj_join_config *cfg = &nt->cfg;
    sj_status st;
    sj_join_config_defaults(cfg);
    cfg->threshold = nt->m.threshold;
    cfg->threads = o->threads;
    cfg->dihedral = o->dihedral;
    cfg->backend = o->backend;
    cfg->progress = o->progress;
    cfg->progress_user = o->user;
    const char *notice = NULL;
    cfg->backend = sj_backend_resolve_for(cfg, nt->m.type, &notice);
    if (notice)
        notify(o, SJ_NIGHTLY_INFO, "%s", notice);
    /* Limits: explicit, or from the machine (a pair in memory as a hit, a
     * pair and a cluster edge: 72 bytes; on disk, in the two reports: 256). */
    sj_pair_limit lim = {0, ""};
    const int64_t max_pairs = o->max_pairs, max_memory = o->max_memory;
    int64_t input_bytes = (nt->corpus->n + nt->uploads->n) * ((int64_t)sj_hash_type_bytes(nt->m.type) + 40);
    if (max_pairs > 0) {
        lim.max_pairs = max_pairs;
        snprintf(lim.why, sizeof lim.why, "the limit set by --max-pairs %lld", (long long)max_pairs);
    } else if (max_memory > 0) {
        if (input_bytes > max_memory / 2)
            return sj_fail(SJ_ERR_LIMIT, "nightly: the corpus and the uploads need about %.1f MB in "
                                         "memory, more than half of --max-memory (%.1f MB); raise it",
                           (double)input_bytes / 1048576.0, (double)max_memory / 1048576.0);
        lim.max_pairs = (max_memory - input_bytes) / 72;
        snprintf(lim.why, sizeof lim.why, "the limit set by --max-memory %.1f MB", (double)max_memory / 1048576.0);
    } else if (max_pairs < 0 && max_memory < 0) {
        char full[4200];
        snprintf(full, sizeof full, "%s/reports/report", o->state_dir);
        if ((st = sj_pair_limit_default(full, input_bytes, 72, 256, &lim)))
            return st;
    }
    const int64_t n_up = SJ_MAX(nt->uploads->n, 1);
    nt->q_id = malloc((size_t)n_up * sizeof *nt->q_id);
    nt->q_matches = malloc((size_t)n_up * sizeof *nt->q_matches);
    if (!nt->q_id || !nt->q_matches)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int over_limit = 0;
    if ((st = join_night(cfg, &nt->uploads, nt->active, &lim, max_pairs > 0 || max_memory > 0, o->max_matches,
                         &nt->pairs, nt->q_id, nt->q_matches, &nt->n_q, &over_limit)) ||
        (st = cfg->dihedral ? sj_pairs_canonicalize_min(&nt->pairs) : sj_pairs_canonicalize(&nt->pairs)))
        return st;
    for (int64_t i = 0; i < nt->n_q; i++) { /* quarantined: kept out like the excluded */
        nt->ex_id[nt->n_ex] = nt->q_id[i];
        nt->ex_rule[nt->n_ex++] = SJ_DEGEN_QUARANTINED;
    }
    if (nt->n_q && over_limit && (max_pairs > 0 || max_memory > 0))
        notify(o, SJ_NIGHTLY_WARNING,
               "nightly: an abnormal batch: more than %lld pairs, %s; %lld uploads with the most matches "
               "are quarantined (kept out of the clusters, listed in the report)",
               (long long)lim.max_pairs, lim.why, (long long)nt->n_q);
    else if (nt->n_q)
        notify(o, SJ_NIGHTLY_WARNING,
               "nightly: %lld uploads with more than %lld matches (--max-matches) are quarantined "
               "(kept out of the clusters, listed in the report)",
               (long long)nt->n_q, (long long)o->max_matches);
    return SJ_OK;
}

static node *find_node(const night *nt, int64_t id)
{
    node key = {id, 0};
    return bsearch(&key, nt->nodes, (size_t)nt->n_nodes, sizeof *nt->nodes, cmp_node);
}

/* Clusters: the old clusters as sets, plus the night's pairs; stable ids. */
static sj_status night_cluster(night *nt)
{
    const old_state *old = &nt->old;
    const int64_t n_nodes = old->n + nt->uploads->n + nt->n_ex;
    sj_status st = SJ_OK;
    nt->n_nodes = n_nodes;
    nt->nodes = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *nt->nodes);
    nt->cluster = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *nt->cluster);
    nt->rule = calloc((size_t)SJ_MAX(n_nodes, 1), sizeof *nt->rule);
    int64_t *parent = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *parent);
    int64_t *root_id = malloc((size_t)SJ_MAX(n_nodes, 1) * sizeof *root_id);
    /* Old clusters: link each member to the first member seen of its id
     * (nodes are in id order, so sort (cluster, node) pairs). */
    int64_t *cp = malloc((size_t)SJ_MAX(n_nodes, 1) * 2 * sizeof *cp);
    node *nodes = nt->nodes;
    int64_t *cluster = nt->cluster, *rule = nt->rule;
    if (!nodes || !cluster || !rule || !parent || !root_id || !cp) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < old->n; i++)
        nodes[k++] = (node){old->ids[i], old->cluster[i] >= 0 ? old->cluster[i] : -2};
    for (int64_t i = 0; i < nt->uploads->n; i++)
        nodes[k++] = (node){nt->uploads->ids[i], -1};
    for (int64_t i = 0; i < nt->n_ex; i++)
        nodes[k++] = (node){nt->ex_id[i], -2};
    qsort(nodes, (size_t)n_nodes, sizeof *nodes, cmp_node);
    for (int64_t i = 0; i < n_nodes; i++) {
        parent[i] = i;
        rule[i] = 0;
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
    for (int64_t p = 0; p < nt->pairs.n; p++) {
        int64_t a = sj_uf_find(parent, find_node(nt, nt->pairs.v[p].a) - nodes);
        int64_t b = sj_uf_find(parent, find_node(nt, nt->pairs.v[p].b) - nodes);
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
    nt->next.next_cluster = nt->m.next_cluster;
    for (int64_t i = 0; i < n_nodes; i++) {
        if (nodes[i].old_cluster == -2) { /* excluded */
            cluster[i] = -1;
            continue;
        }
        int64_t r = sj_uf_find(parent, i);
        if (root_id[r] < 0) { /* first (smallest) member of an all-new component */
            root_id[r] = nt->next.next_cluster++;
            nt->new_clusters++;
        }
        cluster[i] = root_id[r];
    }
    /* New hashes that joined an existing cluster. */
    for (int64_t i = 0; i < n_nodes; i++)
        if (nodes[i].old_cluster == -1 && cluster[i] < nt->m.next_cluster)
            nt->joined_existing++;
    /* Rules of excluded hashes: new ones from tonight, old ones as recorded. */
    for (int64_t i = 0; i < nt->n_ex; i++)
        rule[find_node(nt, nt->ex_id[i]) - nodes] = nt->ex_rule[i];
    for (int64_t i = 0; i < old->n; i++)
        if (old->cluster[i] < 0)
            rule[find_node(nt, old->ids[i]) - nodes] = old->rule[i];
done:
    free(parent);
    free(root_id);
    free(cp);
    return st;
}

/* The report at DIR/rel, JSON (kind 0) or CSV (kind 1): the quarantined
 * (JSON only), the new matches, the merges (old ids retired into another,
 * retired[n_nodes] from mark_retired) and the excluded. */
static sj_status write_report(night *nt, int kind, const char *path, const uint8_t *retired, int64_t cross,
                              int64_t *n_merges)
{
    const sj_pairs *pairs = &nt->pairs;
    const node *nodes = nt->nodes;
    const int64_t *cluster = nt->cluster;
    const sj_sources *srcs = &nt->srcs;
    sj_text_file t;
    sj_status st = sj_text_open(&t, path);
    if (st)
        return st;
    FILE *fp = t.fp;
    if (!kind)
        fprintf(fp, "{\n  \"generation\": %lld,\n  \"batch\": \"%s\",\n  \"threshold\": %d,\n"
                    "  \"new_hashes\": %lld,\n  \"new_matches\": %lld,\n  \"cross_database_matches\": %lld,\n"
                    "  \"new_clusters\": %lld,\n  \"new_hashes_in_existing_clusters\": %lld,\n"
                    "  \"quarantined\": [",
                (long long)nt->next.generation, nt->batch, nt->m.threshold, (long long)(nt->uploads->n + nt->n_ex),
                (long long)pairs->n, (long long)cross, (long long)nt->new_clusters, (long long)nt->joined_existing);
    else
        fprintf(fp, "record,a,b,distance,source_a,source_b,cross_database,cluster,detail\n");
    for (int64_t i = 0; !kind && i < nt->n_q; i++)
        fprintf(fp, "%s\n    {\"id\": %lld, \"matches\": %lld}", i ? "," : "", (long long)nt->q_id[i],
                (long long)nt->q_matches[i]);
    if (!kind)
        fprintf(fp, "%s],\n  \"matches\": [", nt->n_q ? "\n  " : "");
    for (int64_t p = 0; p < pairs->n; p++) {
        const sj_pair *v = &pairs->v[p];
        const node *na = find_node(nt, v->a);
        const char *sa = src_name(srcs, v->a), *sb = src_name(srcs, v->b);
        int x = strcmp(sa, sb) != 0;
        if (!kind) {
            fprintf(fp, "%s\n    {\"a\": %lld, \"b\": %lld, \"distance\": %.17g, \"source_a\": ", p ? "," : "",
                    (long long)v->a, (long long)v->b, v->distance);
            sj_json_put_string(fp, sa);
            fprintf(fp, ", \"source_b\": ");
            sj_json_put_string(fp, sb);
            fprintf(fp, ", \"cross_database\": %s, \"cluster\": %lld", x ? "true" : "false",
                    (long long)cluster[na - nodes]);
            if (nt->cfg.dihedral)
                fprintf(fp, ", \"transform\": %d", (int)v->transform);
            fputc('}', fp);
        } else {
            fprintf(fp, "match,%lld,%lld,%.17g,", (long long)v->a, (long long)v->b, v->distance);
            sj_csv_put_text(fp, sa, ',');
            fputc(',', fp);
            sj_csv_put_text(fp, sb, ',');
            fprintf(fp, ",%d,%lld,", x, (long long)cluster[na - nodes]);
            if (nt->cfg.dihedral) /* the detail column */
                fprintf(fp, "transform %d", (int)v->transform);
            fputc('\n', fp);
        }
    }
    if (!kind)
        fprintf(fp, "\n  ],\n  \"merges\": [");
    /* an old id whose members now carry another id was merged into it */
    int first = 1;
    *n_merges = 0;
    for (int64_t i = 0; i < nt->n_nodes; i++) {
        if (!retired[i]) /* each retired id once: at its smallest member */
            continue;
        ++*n_merges;
        if (!kind)
            fprintf(fp, "%s\n    {\"cluster\": %lld, \"merged\": %lld}", first ? "" : ",", (long long)cluster[i],
                    (long long)nodes[i].old_cluster);
        else
            fprintf(fp, "merge,,,,,,,%lld,merged %lld\n", (long long)cluster[i], (long long)nodes[i].old_cluster);
        first = 0;
    }
    if (!kind)
        fprintf(fp, "\n  ],\n  \"excluded\": [");
    for (int64_t i = 0; i < nt->n_ex; i++) {
        const char *why = sj_degenerate_rule_name((sj_degenerate_rule)nt->ex_rule[i]);
        if (!kind) {
            fprintf(fp, "%s\n    {\"id\": %lld, \"rule\": \"%s\"}", i ? "," : "", (long long)nt->ex_id[i], why);
        } else {
            fprintf(fp, "excluded,%lld,,,", (long long)nt->ex_id[i]);
            sj_csv_put_text(fp, src_name(srcs, nt->ex_id[i]), ',');
            fprintf(fp, ",,,,%s\n", why);
        }
    }
    if (!kind)
        fprintf(fp, "\n  ]\n}\n");
    return sj_text_close(&t, 1);
}

/* Generation g+1: the uploads as shards, the cluster state, the reports;
 * then the manifest. The cross-database matches and merges go to *r. */
static sj_status night_commit(night *nt, sj_nightly_result *r)
{
    const char *dir = nt->o.state_dir;
    const sj_manifest *m = &nt->m;
    sj_manifest *next = &nt->next;
    const int64_t gen = m->generation + 1;
    char rel[256], full[4096 * 2];
    sj_status st;
    next->generation = gen;
    next->type = m->type;
    next->threshold = m->threshold;
    for (int64_t i = 0; i < m->n_files; i++) /* committed files keep their verified digests */
        if (strncmp(m->files[i].path, "clusters/", 9) && (st = sj_manifest_add_entry(next, m->files[i].path, m->files[i].sha)))
            return st;
    for (int64_t i = 0; i < m->n_batches; i++)
        if ((st = sj_manifest_add_batch(next, m->batches[i].sha, m->batches[i].generation)))
            return st;
    for (int i = 0; i < nt->o.n_uploads; i++) {
        snprintf(rel, sizeof rel, "shards/g%06lld-%d.h5", (long long)gen, i);
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        sj_fault_step("write shard");
        if ((st = sj_shard_write(full, nt->each[i], 0, nt->each[i]->n)))
            return st;
        sj_fault_step("shard written");
        if ((st = sj_manifest_add_file(next, dir, rel)))
            return st;
    }
    snprintf(rel, sizeof rel, "clusters/g%06lld.h5", (long long)gen);
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    sj_fault_step("write cluster state");
    if ((st = write_state_file(full, nt->nodes, nt->n_nodes, nt->cluster, nt->rule, &nt->srcs, gen, nt->meta)))
        return st;
    sj_fault_step("cluster state written");
    if ((st = sj_manifest_add_file(next, dir, rel)))
        return st;

    /* The report: JSON and CSV. Merges: old ids retired into another. */
    uint8_t *retired = malloc((size_t)SJ_MAX(nt->n_nodes, 1));
    if (!retired)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = mark_retired(nt->nodes, nt->n_nodes, nt->cluster, retired))) {
        free(retired);
        return st;
    }
    r->cross_database_matches = 0;
    for (int64_t p = 0; p < nt->pairs.n; p++)
        r->cross_database_matches += strcmp(src_name(&nt->srcs, nt->pairs.v[p].a), src_name(&nt->srcs, nt->pairs.v[p].b)) != 0;
    for (int kind = 0; kind < 2 && !st; kind++) {
        snprintf(rel, sizeof rel, "reports/g%06lld.%s", (long long)gen, kind ? "csv" : "json");
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        char *shown = kind ? r->report_csv : r->report_json; /* DIR < PATH_MAX: it fits */
        size_t len = SJ_MIN(strlen(full), sizeof r->report_json - 1);
        memcpy(shown, full, len);
        shown[len] = 0;
        sj_fault_step(kind ? "write csv report" : "write json report");
        if (!(st = write_report(nt, kind, full, retired, r->cross_database_matches, &r->merges)))
            st = sj_manifest_add_file(next, dir, rel);
    }
    free(retired);
    if (st || (st = sj_manifest_add_batch(next, nt->batch, gen)) || (st = sj_manifest_commit(dir, next)))
        return st;
    /* The cluster state of two generations back is no longer needed (and
     * no committed manifest lists it). */
    snprintf(rel, sizeof rel, "clusters/g%06lld.h5", (long long)(gen - 2));
    if (gen >= 3 && !manifest_lists(next, rel) && !manifest_lists(m, rel)) {
        snprintf(full, sizeof full, "%s/%s", dir, rel);
        unlink(full);
    }
    return SJ_OK;
}

sj_status sj_nightly_run(const sj_nightly_options *o, sj_nightly_result *out)
{
    const double t0 = sj_now();
    if (!o || !out)
        return sj_fail(SJ_ERR_ARG, "nightly: no options or no result");
    if (o->struct_size < OPTIONS_V1_SIZE || out->struct_size < RESULT_V1_SIZE)
        return sj_fail(SJ_ERR_ARG, "nightly: the options or the result have no size (call "
                                   "sj_nightly_options_init and sj_nightly_result_init)");
    if (o->struct_size > sizeof(sj_nightly_options))
        return sj_fail(SJ_ERR_UNSUPPORTED, "nightly: the options are of a newer simjoin than this library (%s)",
                       sj_version());
    night nt;
    memset(&nt, 0, sizeof nt);
    nt.lock_fd = -1;
    sj_nightly_options_init(&nt.o);
    memcpy(&nt.o, o, o->struct_size);
    nt.o.struct_size = sizeof nt.o;
    sj_nightly_result r;
    sj_nightly_result_init(&r);
    sj_status st = SJ_OK;
    if (!nt.o.state_dir || !nt.o.uploads || nt.o.n_uploads < 1 || nt.o.n_outputs < 0 ||
        (nt.o.n_outputs && !nt.o.outputs)) {
        st = sj_fail(SJ_ERR_ARG, "nightly: a state directory and at least one upload are required");
        goto done;
    }
    for (int i = 0; i < nt.o.n_uploads; i++)
        if (!nt.o.uploads[i]) {
            st = sj_fail(SJ_ERR_ARG, "nightly: upload %d has no path", i);
            goto done;
        }
    if (nt.o.source && sj_utf8_check(nt.o.source, strlen(nt.o.source)) < strlen(nt.o.source)) {
        st = sj_fail(SJ_ERR_ARG, "nightly: the source name is not valid UTF-8");
        goto done;
    }
    if (nt.o.max_matches < 0) /* seeding a state from a known corpus quarantines nothing */
        nt.o.max_matches = nt.o.as_corpus ? 0 : 1000;
    if ((st = night_open(&nt)) || (st = night_batch(&nt)))
        goto done;
    memcpy(r.batch, nt.batch, sizeof r.batch);
    r.type = nt.m.type;
    r.threshold = nt.m.threshold;
    int64_t done_gen = sj_manifest_find_batch(&nt.m, nt.batch);
    if (done_gen >= 0) {
        r.already_committed = 1;
        r.generation = done_gen;
        goto done;
    }
    if ((st = night_read(&nt)) || (st = night_join(&nt)) || (st = night_cluster(&nt)) ||
        (st = night_commit(&nt, &r)))
        goto done;
    r.generation = nt.next.generation;
    r.uploads = nt.uploads->n + nt.n_ex;
    r.excluded = nt.n_ex;
    for (int64_t i = 0; i < nt.n_ex; i++)
        r.excluded_by_rule[nt.ex_rule[i] < SJ_NIGHTLY_RULES ? nt.ex_rule[i] : 0]++;
    r.quarantined = nt.n_q;
    r.new_matches = nt.pairs.n;
    r.new_clusters = nt.new_clusters;
    r.new_hashes_in_existing_clusters = nt.joined_existing;
    sj_excluded_text(nt.ex_rule, nt.n_ex, &nt.dopt, r.excluded_text, sizeof r.excluded_text);
done:
    night_free(&nt);
    r.seconds = sj_now() - t0;
    if (!st) { /* the caller's struct, as far as it goes */
        size_t size = SJ_MIN((size_t)out->struct_size, sizeof r);
        r.struct_size = out->struct_size;
        memcpy(out, &r, size);
    }
    return st;
}

void sj_state_init_options_init(sj_state_init_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->threshold = -1;
}

void sj_state_init_result_init(sj_state_init_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    sj_nightly_result_init(&r->import);
}

/* The kind of an init: the one given, or corpus[0]'s. */
static sj_status init_type(const sj_state_init_options *o, sj_hash_type *type)
{
    if (o->type.kind) {
        *type = o->type;
        return SJ_OK;
    }
    if (o->n_corpus < 1)
        return sj_fail(SJ_ERR_ARG, "state init needs a kind or a corpus");
    hid_t f;
    sj_status st = sj_h5_open(o->corpus[0], &f);
    if (st)
        return st;
    st = sj_h5_read_type(f, o->corpus[0], type);
    H5Fclose(f);
    return st;
}

sj_status sj_state_init(const sj_state_init_options *opts, sj_state_init_result *out)
{
    if (!opts || !out || opts->struct_size != sizeof *opts || out->struct_size != sizeof *out)
        return sj_fail(SJ_ERR_ARG, "state init: no options or result, or not of this library's size (call "
                                   "sj_state_init_options_init and sj_state_init_result_init)");
    const sj_state_init_options *o = opts;
    if (!o->state_dir || o->n_corpus < 0 || (o->n_corpus && !o->corpus))
        return sj_fail(SJ_ERR_ARG, "state init: no state directory, or no corpus paths");
    sj_nightly_options no; /* the import's, and where the notices go */
    sj_nightly_options_init(&no);
    no.state_dir = o->state_dir;
    no.uploads = o->corpus;
    no.n_uploads = o->n_corpus;
    no.as_corpus = 1;
    no.notice = o->notice;
    no.progress = o->progress;
    no.user = o->user;
    sj_manifest m;
    memset(&m, 0, sizeof m);
    sj_status st = init_type(o, &m.type);
    if (st)
        return st;
    out->type = m.type;
    char kind[24];
    sj_hash_type_format(m.type, kind, sizeof kind);
    if (!sj_hash_type_binary(m.type))
        return sj_fail(SJ_ERR_UNSUPPORTED, "nightly states hold pdq or bits:N hashes; for %s "
                                           "use join, cluster and report", kind);
    if (o->threshold < 0 && m.type.kind != SJ_KIND_PDQ)
        return sj_fail(SJ_ERR_ARG, "state init needs a threshold for bits:N hashes");
    if (o->threshold > INT32_MAX)
        return sj_fail(SJ_ERR_ARG, "state init: threshold %lld is too large", (long long)o->threshold);
    m.threshold = o->threshold < 0 ? 31 : (int32_t)o->threshold;
    out->threshold = m.threshold;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest", o->state_dir);
    struct stat sb;
    if (stat(path, &sb) == 0)
        return sj_fail(SJ_ERR_ARG, "%s: a state already exists here", o->state_dir);
    const char *sub[] = {"", "/shards", "/clusters", "/reports"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", o->state_dir, sub[i]);
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return sj_fail(SJ_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    if ((st = sj_manifest_commit(o->state_dir, &m)))
        return st;
    out->created = 1;
    notify(&no, SJ_NIGHTLY_INFO, "state: created %s (generation 0, %s, threshold %d)", o->state_dir, kind,
           m.threshold);
    return o->n_corpus ? sj_nightly_run(&no, &out->import) : SJ_OK;
}
