/* state.c - the state manifest (see state.h). */
#define _POSIX_C_SOURCE 200809L
#include "state/state.h"

#include "core/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sj_manifest_free(sj_manifest *m)
{
    free(m->files);
    free(m->batches);
    memset(m, 0, sizeof *m);
}

sj_status sj_manifest_add_entry(sj_manifest *m, const char *rel, const char *sha)
{
    sj_status st = sj_grow((void **)&m->files, &m->cap_files, m->n_files + 1, sizeof *m->files);
    if (st)
        return st;
    snprintf(m->files[m->n_files].path, sizeof m->files[0].path, "%.255s", rel);
    snprintf(m->files[m->n_files].sha, sizeof m->files[0].sha, "%.64s", sha);
    m->n_files++;
    return SJ_OK;
}

sj_status sj_manifest_add_file(sj_manifest *m, const char *dir, const char *rel)
{
    char full[4096], sha[65];
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    if (sj_sha256_file(full, sha))
        return sj_fail(SJ_ERR_IO, "%s: cannot read to checksum: %s", full, strerror(errno));
    return sj_manifest_add_entry(m, rel, sha);
}

sj_status sj_manifest_add_batch(sj_manifest *m, const char *sha, int64_t generation)
{
    sj_status st = sj_grow((void **)&m->batches, &m->cap_batches, m->n_batches + 1, sizeof *m->batches);
    if (st)
        return st;
    snprintf(m->batches[m->n_batches].sha, 65, "%.64s", sha);
    m->batches[m->n_batches++].generation = generation;
    return SJ_OK;
}

int64_t sj_manifest_find_batch(const sj_manifest *m, const char *sha)
{
    for (int64_t i = 0; i < m->n_batches; i++)
        if (strcmp(m->batches[i].sha, sha) == 0)
            return m->batches[i].generation;
    return -1;
}

/* The generation in a state file's name (shards/gNNNNNN-K.h5,
 * clusters/gNNNNNN.h5, reports/gNNNNNN.json|csv), or -1 when rel is not
 * exactly such a name. */
int64_t sj_state_name_generation(const char *rel)
{
    static const char *const forms[] = {"shards/g%6[0-9]-%9[0-9].h5%n", "clusters/g%6[0-9].h5%n",
                                        "reports/g%6[0-9].json%n", "reports/g%6[0-9].csv%n"};
    for (int f = 0; f < 4; f++) {
        char gen[8], k[12];
        int end = -1;
        int got = f ? sscanf(rel, forms[f], gen, &end) : sscanf(rel, forms[f], gen, k, &end);
        if (got == (f ? 1 : 2) && end >= 0 && !rel[end] && strlen(gen) == 6)
            return strtoll(gen, NULL, 10);
    }
    return -1;
}

/* The manifest agrees with itself: a generation >= 0; every file named by
 * the generation that wrote it, none newer than the manifest's; the
 * cluster state that of this generation; every batch of a generation
 * 1..N, the last one N. */
static sj_status manifest_consistent(const char *path, const sj_manifest *m)
{
    if (m->generation < 0 || m->generation > 999999)
        return sj_fail(SJ_ERR_FORMAT, "%s: generation %lld is out of range (0..999999): the "
                                      "manifest is damaged", path, (long long)m->generation);
    int64_t clusters_gen = -1, last_batch = 0;
    for (int64_t i = 0; i < m->n_files; i++) {
        int64_t g = sj_state_name_generation(m->files[i].path);
        if (g < 1 || g > m->generation)
            return sj_fail(SJ_ERR_FORMAT, "%s: lists %s, %s generation %lld: the manifest is "
                                          "damaged (was its generation edited?)", path, m->files[i].path,
                           g < 1 ? "not a state file of" : "newer than its", (long long)m->generation);
        if (!strncmp(m->files[i].path, "clusters/", 9))
            clusters_gen = SJ_MAX(clusters_gen, g);
    }
    for (int64_t i = 0; i < m->n_batches; i++) {
        if (m->batches[i].generation < 1 || m->batches[i].generation > m->generation)
            return sj_fail(SJ_ERR_FORMAT, "%s: a batch of generation %lld, outside 1..%lld: the "
                                          "manifest is damaged", path, (long long)m->batches[i].generation,
                           (long long)m->generation);
        last_batch = SJ_MAX(last_batch, m->batches[i].generation);
    }
    if (m->generation > 0 && (clusters_gen != m->generation || last_batch != m->generation))
        return sj_fail(SJ_ERR_FORMAT, "%s: generation %lld, but its cluster state and last batch "
                                      "are of generation %lld and %lld: the manifest is damaged",
                       path, (long long)m->generation, (long long)clusters_gen, (long long)last_batch);
    return SJ_OK;
}

sj_status sj_manifest_read(const char *dir, sj_manifest *m)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return sj_fail(SJ_ERR_IO, "%s: no state here (%s); create one with `simjoin state init`",
                       path, strerror(errno));
    char line[1024], a[512], b[512];
    int lineno = 0, version = 0, checked = 0;
    sj_status st = SJ_OK;
    long long n;
    sj_sha256 digest; /* of every line before the checksum line */
    sj_sha256_init(&digest);
    while (!st && fgets(line, sizeof line, fp)) {
        lineno++;
        if (checked) {
            st = sj_fail(SJ_ERR_FORMAT, "%s:%d: a line after the checksum: the manifest is damaged",
                         path, lineno);
            break;
        }
        if (sscanf(line, "checksum %64s", a) == 1) {
            char want[65];
            sj_sha256_hex(&digest, want);
            if (strcmp(a, want) != 0)
                st = sj_fail(SJ_ERR_FORMAT, "%s: the manifest's checksum does not match its "
                                            "contents: it was edited or damaged", path);
            checked = 1;
            continue;
        }
        sj_sha256_update(&digest, line, strlen(line));
        if (sscanf(line, "simjoin-state %d", &version) == 1)
            continue;
        if (sscanf(line, "generation %lld", &n) == 1)
            m->generation = n;
        else if (sscanf(line, "threshold %lld", &n) == 1)
            m->threshold = (int32_t)n;
        else if (sscanf(line, "next_cluster %lld", &n) == 1)
            m->next_cluster = n;
        else if (sscanf(line, "kind %511s", a) == 1)
            st = sj_hash_type_parse(a, &m->type);
        else if (sscanf(line, "file %255s %64s", a, b) == 2) {
            st = sj_manifest_add_entry(m, a, b);
        } else if (sscanf(line, "batch %64s %lld", a, &n) == 2)
            st = sj_manifest_add_batch(m, a, n);
        else if (line[0] != '\n' && line[0] != '#')
            st = sj_fail(SJ_ERR_FORMAT, "%s:%d: not a manifest line", path, lineno);
    }
    fclose(fp);
    /* Version 2 ends with the checksum of the lines above it; version 1
     * (before the checksum) has none. */
    if (!st && version != 1 && version != 2)
        st = sj_fail(SJ_ERR_FORMAT, "%s: not a simjoin state manifest (version 1 or 2)", path);
    if (!st && version == 2 && !checked)
        st = sj_fail(SJ_ERR_FORMAT, "%s: the manifest's checksum line is missing: it was cut "
                                    "short or edited", path);
    if (!st)
        st = manifest_consistent(path, m);
    if (st)
        sj_manifest_free(m);
    return st;
}

sj_status sj_manifest_commit(const char *dir, const sj_manifest *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest", dir);
    sj_atomic_file af;
    sj_status st = sj_atomic_begin(&af, path);
    if (st)
        return st;
    FILE *fp = sj_atomic_stream(&af);
    if (!fp) {
        sj_atomic_abort(&af);
        return SJ_ERR_IO;
    }
    char kind[24], line[1024], sum[65];
    sj_hash_type_format(m->type, kind, sizeof kind);
    sj_sha256 digest; /* every line, then "checksum" and the digest of them */
    sj_sha256_init(&digest);
    int64_t n_lines = 5 + m->n_files + m->n_batches;
    for (int64_t k = 0; k < n_lines; k++) {
        int64_t i = k - 5, j = k - 5 - m->n_files;
        switch (k) {
        case 0: snprintf(line, sizeof line, "simjoin-state 2\n"); break;
        case 1: snprintf(line, sizeof line, "generation %lld\n", (long long)m->generation); break;
        case 2: snprintf(line, sizeof line, "kind %s\n", kind); break;
        case 3: snprintf(line, sizeof line, "threshold %d\n", m->threshold); break;
        case 4: snprintf(line, sizeof line, "next_cluster %lld\n", (long long)m->next_cluster); break;
        default:
            if (i < m->n_files)
                snprintf(line, sizeof line, "file %s %s\n", m->files[i].path, m->files[i].sha);
            else
                snprintf(line, sizeof line, "batch %s %lld\n", m->batches[j].sha,
                         (long long)m->batches[j].generation);
        }
        sj_sha256_update(&digest, line, strlen(line));
        fputs(line, fp);
    }
    sj_sha256_hex(&digest, sum);
    fprintf(fp, "checksum %s\n", sum);
    int bad = ferror(fp);
    bad |= fclose(fp) != 0; /* sj_atomic_commit fsyncs */
    if (bad) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "%s: write failed (disk full?)", path);
    }
    sj_fault_step("manifest written, not renamed");
    if ((st = sj_atomic_commit(&af))) /* fsyncs the file and DIR */
        return st;
    sj_fault_step("manifest renamed");
    return SJ_OK;
}

sj_status sj_manifest_verify(const char *dir, const sj_manifest *m)
{
    for (int64_t i = 0; i < m->n_files; i++) {
        char full[4096], sha[65];
        snprintf(full, sizeof full, "%s/%s", dir, m->files[i].path);
        if (sj_sha256_file(full, sha))
            return sj_fail(SJ_ERR_IO, "%s: unreadable: %s", full, strerror(errno));
        if (strcmp(sha, m->files[i].sha) != 0)
            return sj_fail(SJ_ERR_FORMAT, "%s: checksum mismatch (the state is damaged; the manifest "
                                          "expects %.12s..., the file has %.12s...)",
                           full, m->files[i].sha, sha);
    }
    return SJ_OK;
}

int64_t sj_manifest_corpus_hashes(const char *dir, const sj_manifest *m)
{
    int64_t hashes = 0;
    for (int64_t i = 0; i < m->n_files; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, m->files[i].path);
        int64_t rows = 0;
        uint32_t bytes;
        if (!strncmp(m->files[i].path, "shards/", 7) && !sj_shard_peek(full, &rows, &bytes))
            hashes += rows;
    }
    return hashes;
}
