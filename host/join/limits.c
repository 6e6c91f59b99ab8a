/* limits.c - default resource limits from the machine, and the match counts
 * that let a caller quarantine the hashes of an abnormal batch.
 *
 * A join's pairs grow with the square of a dense input: 100,000 hashes at
 * T = 256 make 5e9 pairs, far beyond memory. Without a limit the run is
 * killed by the kernel and leaves its journal behind. sj_default_limits caps
 * the pairs at what fits in the memory still available (after the inputs) and
 * on the disk beside the output, so that such a run stops with SJ_ERR_LIMIT
 * before it is killed. */
#define _GNU_SOURCE
#include "join/limits.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* "Key:   123 kB" lines of /proc/meminfo: bytes, or -1. */
static int64_t meminfo_bytes(const char *key)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp)
        return -1;
    char line[256];
    int64_t v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            long long kb;
            if (sscanf(line + kl + 1, "%lld", &kb) == 1 && kb >= 0)
                v = (int64_t)kb * 1024;
            break;
        }
    fclose(fp);
    return v;
}

/* One number from a file (cgroup limits): bytes, or -1 ("max", missing). */
static int64_t file_bytes(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long long v = -1;
    if (fscanf(fp, "%lld", &v) != 1 || v < 0)
        v = -1;
    fclose(fp);
    return v;
}

/* Room left under this process's memory cgroup (a Slurm job, a container):
 * limit - usage, or -1 when there is no limit. v2: memory.max; v1:
 * memory.limit_in_bytes (a huge value means none). */
static int64_t cgroup_room(void)
{
    FILE *fp = fopen("/proc/self/cgroup", "r");
    if (!fp)
        return -1;
    char line[4096], path[4500];
    int64_t room = -1;
    while (room < 0 && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        int64_t limit = -1, used = -1;
        if (!strncmp(line, "0::", 3)) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
            limit = file_bytes(path);
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", line + 3);
            used = file_bytes(path);
        } else {
            char *c = strstr(line, ":memory:");
            if (!c)
                continue;
            snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", c + 8);
            limit = file_bytes(path);
            snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", c + 8);
            used = file_bytes(path);
            if (limit >= ((int64_t)1 << 60))
                limit = -1; /* v1 writes "no limit" as a page-rounded 2^63 */
        }
        if (limit >= 0)
            room = SJ_MAX(limit - SJ_MAX(used, 0), 0);
    }
    fclose(fp);
    return room;
}

sj_status sj_resources_detect(const char *dir, sj_resources *out)
{
    out->memory_available = meminfo_bytes("MemAvailable");
    if (out->memory_available < 0) {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        out->memory_available = pages > 0 && page > 0 ? (int64_t)pages * page : -1;
    }
    int64_t room = cgroup_room();
    if (room >= 0 && (out->memory_available < 0 || room < out->memory_available))
        out->memory_available = room;
    struct statvfs vs;
    out->disk_free = -1;
    if (dir && statvfs(dir, &vs) == 0)
        out->disk_free = (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
    return SJ_OK;
}

sj_status sj_default_limits(const sj_resources *r, int64_t input_bytes, int64_t memory_per_pair,
                            int64_t disk_per_pair, sj_limits *out)
{
    memset(out, 0, sizeof *out);
    if (memory_per_pair < 1 || disk_per_pair < 0 || input_bytes < 0)
        return sj_fail(SJ_ERR_ARG, "sj_default_limits: bad sizes");
    int64_t by_memory = -1, by_disk = -1;
    if (r->memory_available >= 0) {
        out->max_memory = r->memory_available / 4 * 3;
        if (input_bytes >= out->max_memory)
            return sj_fail(SJ_ERR_LIMIT,
                           "the inputs need about %.1f MB in memory, more than 3/4 of the memory "
                           "available (%.1f MB); free memory, split the join with --part, or set "
                           "--max-memory SIZE (0 or none: no limit)",
                           (double)input_bytes / 1048576.0, (double)r->memory_available / 1048576.0);
        by_memory = (out->max_memory - input_bytes) / memory_per_pair;
    }
    if (r->disk_free >= 0 && disk_per_pair > 0)
        by_disk = r->disk_free / 10 * 9 / disk_per_pair;
    if (by_memory < 0 && by_disk < 0)
        return SJ_OK; /* nothing known: no limit */
    out->by_disk = by_disk >= 0 && (by_memory < 0 || by_disk < by_memory);
    out->max_pairs = SJ_MAX(out->by_disk ? by_disk : by_memory, 1);
    return SJ_OK;
}

/* ---- matches per query row, without keeping the pairs ------------------ */

typedef struct match_counter {
    const sj_id_index *queries; /* query id -> row */
    int64_t *counts;            /* [query rows] */
} match_counter;

static sj_status count_unit(void *user, int64_t unit, const sj_pair *pairs, int64_t n)
{
    match_counter *mc = user;
    (void)unit;
    for (int64_t i = 0; i < n; i++) { /* every end that is a query row */
        int64_t ra = sj_id_index_find(mc->queries, pairs[i].a);
        int64_t rb = sj_id_index_find(mc->queries, pairs[i].b);
        if (ra >= 0)
            mc->counts[ra]++;
        if (rb >= 0)
            mc->counts[rb]++;
    }
    return SJ_OK;
}

sj_status sj_join_count_matches(const sj_join_config *cfg, const sj_hashes *queries,
                                const sj_hashes *corpus, int64_t *counts)
{
    sj_id_index ix;
    sj_status st = sj_id_index_build(&ix, queries->ids, queries->n);
    if (st)
        return st;
    match_counter mc = {&ix, counts};
    sj_join_config c = *cfg;
    c.max_pairs = 0;
    c.unit_skip = NULL;
    c.unit_done = count_unit;
    c.unit_user = &mc;
    c.unit_only = 1;
    sj_pairs none = {0};
    st = corpus ? sj_join_cross(&c, queries, corpus, &none) : sj_join_self(&c, queries, &none);
    sj_pairs_free(&none);
    sj_id_index_free(&ix);
    return st;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

sj_status sj_match_cap(const int64_t *counts, int64_t n, int64_t max_pairs, int64_t *cap)
{
    int64_t *s = malloc((size_t)SJ_MAX(n, 1) * sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    memcpy(s, counts, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    /* keep rows in ascending count while the kept counts sum to <= max_pairs;
     * a cut inside a run of equal counts falls back to the run's start */
    int64_t sum = 0, i = 0;
    while (i < n && sum + s[i] <= max_pairs)
        sum += s[i++];
    if (i < n)
        while (i > 0 && s[i - 1] == s[i])
            i--;
    *cap = i == n ? (n ? s[n - 1] : 0) : i > 0 ? s[i - 1] : -1;
    free(s);
    return SJ_OK;
}

/* ---- the pair limit in force, and its message ---- */

/* SIZE in readable units. */
static void format_size(int64_t bytes, char *buf, size_t size)
{
    if (bytes >= ((int64_t)1 << 30))
        snprintf(buf, size, "%.1f GB", (double)bytes / (1 << 30));
    else
        snprintf(buf, size, "%.1f MB", (double)bytes / (1 << 20));
}

/* An override of a detected size for tests and operators (SIMJOIN_MEMORY_AVAILABLE,
 * SIMJOIN_DISK_FREE): the size it gives, or `detected`. */
static int64_t size_override(const char *var, int64_t detected)
{
    const char *e = getenv(var);
    int64_t v;
    return e && *e && !sj_parse_size(e, &v) ? v : detected;
}

/* The machine as seen for an output at out_path (its directory's disk), or
 * as SIMJOIN_MEMORY_AVAILABLE / SIMJOIN_DISK_FREE say. */
static sj_status resources_beside(const char *out_path, sj_resources *r)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", out_path);
    sj_status st = sj_resources_detect(dirname(d), r);
    if (st)
        return st;
    r->memory_available = size_override("SIMJOIN_MEMORY_AVAILABLE", r->memory_available);
    r->disk_free = size_override("SIMJOIN_DISK_FREE", r->disk_free);
    return SJ_OK;
}

sj_status sj_pair_limit_default(const char *out_path, int64_t input_bytes, int64_t memory_per_pair,
                             int64_t disk_per_pair, sj_pair_limit *l)
{
    sj_resources r;
    sj_status st = resources_beside(out_path, &r);
    if (st)
        return st;
    sj_limits lim;
    if ((st = sj_default_limits(&r, input_bytes, memory_per_pair, disk_per_pair, &lim)))
        return st;
    l->max_pairs = lim.max_pairs;
    char have[32], inputs[32];
    if (lim.by_disk) {
        format_size(r.disk_free, have, sizeof have);
        snprintf(l->why, sizeof l->why,
                 "the default limit: the pairs that fit in 9/10 of the %s free beside the output", have);
    } else {
        format_size(r.memory_available, have, sizeof have);
        format_size(input_bytes, inputs, sizeof inputs);
        snprintf(l->why, sizeof l->why,
                 "the default limit: the pairs that fit in 3/4 of the %s of memory available, "
                 "beside the inputs (%s)", have, inputs);
    }
    return SJ_OK;
}

sj_status sj_memory_budget_default(const char *out_path, int64_t *budget)
{
    sj_resources r;
    sj_status st = resources_beside(out_path, &r);
    *budget = !st && r.memory_available >= 0 ? r.memory_available / 4 * 3 : -1;
    return st;
}

sj_status sj_memory_plan_make(int64_t max_memory, int64_t input_bytes, sj_memory_plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t rest = max_memory - input_bytes;
    if (max_memory < 1 || input_bytes < 0 || rest < 1)
        return sj_fail(SJ_ERR_ARG, "sj_memory_plan_make: the inputs leave no memory");
    p->backend_bytes = rest / 4;
    p->run_pairs = SJ_MAX((rest - p->backend_bytes) / SJ_PAIR_PEAK_BYTES, 1);
    p->merge_bytes = rest / 2;
    p->pairs_in_memory = SJ_MAX(rest / SJ_PAIR_PEAK_BYTES, 1);
    return SJ_OK;
}

sj_status sj_pair_limit_spill(const char *out_path, sj_pair_limit *l)
{
    sj_resources r;
    sj_status st = resources_beside(out_path, &r);
    if (st)
        return st;
    l->max_pairs = r.disk_free >= 0 ? SJ_MAX(r.disk_free / 10 * 9 / SJ_SPILL_DISK_PER_PAIR, 1) : 0;
    char have[32];
    format_size(SJ_MAX(r.disk_free, 0), have, sizeof have);
    snprintf(l->why, sizeof l->why,
             "the limit of a join that spills its pairs (--max-memory): those that fit in 9/10 of "
             "the %s free beside the output", have);
    return SJ_OK;
}

sj_status sj_pair_limit_exceeded(const char *cmd, const sj_pair_limit *l, const char *how)
{
    return sj_fail(SJ_ERR_LIMIT, "%s: more than %lld pairs, %s; nothing was written. %s", cmd,
                   (long long)l->max_pairs, l->why, how);
}
