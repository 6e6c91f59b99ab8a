/* cli_limits.c - --max-pairs and --max-memory of `join` and `nightly`: their
 * parsing, the machine-derived default, and the message that says which
 * limit stopped a run and how to raise it. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_limit(const char *s, int is_size, int64_t *out)
{
    if (!strcmp(s, "none") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    int64_t v;
    if (is_size ? cli_parse_size(s, &v) || v < 1024 * 1024 : cli_parse_i64(s, &v) || v < 1)
        return -1;
    *out = v;
    return 0;
}

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
    return e && *e && !cli_parse_size(e, &v) ? v : detected;
}

sj_status cli_limits_default(const char *out_path, int64_t input_bytes, int64_t memory_per_pair,
                             int64_t disk_per_pair, cli_limits *l)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", out_path);
    sj_resources r;
    sj_status st = sj_resources_detect(dirname(d), &r);
    if (st)
        return st;
    r.memory_available = size_override("SIMJOIN_MEMORY_AVAILABLE", r.memory_available);
    r.disk_free = size_override("SIMJOIN_DISK_FREE", r.disk_free);
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

sj_status cli_limit_exceeded(const char *cmd, const cli_limits *l, const char *how)
{
    return sj_fail(SJ_ERR_LIMIT, "%s: more than %lld pairs, %s; nothing was written. %s", cmd,
                   (long long)l->max_pairs, l->why, how);
}
