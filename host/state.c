/* state.c - the state manifest (see state.h). */
#define _POSIX_C_SOURCE 200809L
#include "state.h"

#include "sha256.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SIMJOIN_FAULT_INJECTION
void sj_fault_step(const char *what)
{
    (void)what; /* the step's name, for a debugger */
    static _Atomic long at = -2, count;
    if (at == -2) {
        const char *e = getenv("SIMJOIN_FAULT_AT");
        at = e ? atol(e) : -1;
    }
    if (at > 0 && ++count == at)
        raise(SIGKILL); /* as kill -9 would: no cleanup, nothing printed */
}
#endif

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
    int lineno = 0, version = 0;
    sj_status st = SJ_OK;
    long long n;
    while (!st && fgets(line, sizeof line, fp)) {
        lineno++;
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
    if (!st && version != 1)
        st = sj_fail(SJ_ERR_FORMAT, "%s: not a simjoin state manifest (version 1)", path);
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
    FILE *fp = fopen(af.temp_path, "w");
    if (!fp) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    char kind[24];
    sj_hash_type_format(m->type, kind, sizeof kind);
    fprintf(fp, "simjoin-state 1\ngeneration %lld\nkind %s\nthreshold %d\nnext_cluster %lld\n",
            (long long)m->generation, kind, m->threshold, (long long)m->next_cluster);
    for (int64_t i = 0; i < m->n_files; i++)
        fprintf(fp, "file %s %s\n", m->files[i].path, m->files[i].sha);
    for (int64_t i = 0; i < m->n_batches; i++)
        fprintf(fp, "batch %s %lld\n", m->batches[i].sha, (long long)m->batches[i].generation);
    int bad = ferror(fp);
    bad |= fflush(fp) != 0;
    bad |= fsync(fileno(fp)) != 0;
    bad |= fclose(fp) != 0;
    if (bad) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "%s: write failed (disk full?)", path);
    }
    sj_fault_step("manifest written, not renamed");
    if ((st = sj_atomic_commit(&af)))
        return st;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
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
