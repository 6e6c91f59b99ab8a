/* cli_util.c - errors, progress, JSON stats and text outputs for the CLI. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli/cli.h"
#include "simjoin/meta.h"
#include "io/text_out.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_quiet, cli_verbose, cli_rank;

/* A message formatted and made safe for the terminal (user strings and
 * paths in it may hold escape sequences), then written to stderr. */
static void put_escaped(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    char msg[8192], safe[4 * sizeof msg]; /* paths up to PATH_MAX, each byte up to 4 */
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "%s%s%s", prefix, sj_term_escape(safe, sizeof safe, msg), suffix);
}

static void put_escaped_args(const char *prefix, const char *suffix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_escaped(prefix, fmt, ap, suffix);
    va_end(ap);
}

int cli_fail(sj_status st)
{
    if (cli_rank == 0)
        put_escaped_args("simjoin: error: ", "\n", "%s",
                         sj_last_error()[0] ? sj_last_error() : sj_status_str(st));
    return st == SJ_ERR_ARG ? EXIT_USAGE : EXIT_RUNTIME;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "simjoin %s: ", cmd);
    put_escaped("", fmt, ap, "");
    fprintf(stderr, "\nTry 'simjoin %s --help'.\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

void cli_notice(const char *fmt, ...)
{
    if (cli_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    put_escaped("simjoin: ", fmt, ap, "\n");
    va_end(ap);
}

const char *cli_safe(const char *s, char *buf, size_t size) { return sj_term_escape(buf, size, s); }

int cli_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mul > 9.0e18)
        return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

int cli_parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return 1;
    *out = v;
    return 0;
}

int cli_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

void cli_progress_init(cli_progress *p, const char *what)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->start = p->last = sj_now();
}

int cli_progress_due(cli_progress *p, int64_t done, int64_t total, double *rate, double *eta)
{
    if (cli_quiet || !isatty(STDERR_FILENO))
        return 0;
    double now = sj_now();
    if (now - p->last < 0.25 && done < total)
        return 0;
    p->last = now;
    double el = now - p->start;
    *rate = el > 0 ? (double)done / el : 0;
    *eta = *rate > 0 ? (double)(total - done) / *rate : 0;
    p->shown = 1;
    return 1;
}

void cli_progress_cb(void *user, int64_t done, int64_t total, int64_t pairs)
{
    cli_progress *p = user;
    double rate, eta;
    if (!cli_progress_due(p, done, total, &rate, &eta))
        return;
    fprintf(stderr, "\r%s: %5.1f%%  %.3g/%.3g comparisons  %.3g pairs/s  %lld hits  ETA %.0fs   ",
            p->what, total ? 100.0 * (double)done / (double)total : 100.0, (double)done,
            (double)total, rate, (long long)pairs, eta);
}

void cli_progress_end(cli_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
    p->shown = 0;
}

void cli_json_begin(cli_json *j)
{
    j->mem = NULL;
    j->len = 0;
    j->fp = open_memstream(&j->mem, &j->len);
    if (j->fp)
        fputc('{', j->fp);
    j->first = 1;
}

static int json_key(cli_json *j, const char *key)
{
    if (!j->fp)
        return 0;
    fprintf(j->fp, "%s\n  ", j->first ? "" : ",");
    sj_json_put_string(j->fp, key);
    fputs(": ", j->fp);
    j->first = 0;
    return 1;
}

void cli_json_str(cli_json *j, const char *key, const char *value)
{
    if (json_key(j, key))
        sj_json_put_string(j->fp, value);
}

void cli_json_num(cli_json *j, const char *key, double value)
{
    if (!json_key(j, key))
        return;
    if (isfinite(value))
        fprintf(j->fp, "%.6g", value);
    else
        fputs("null", j->fp);
}

void cli_json_int(cli_json *j, const char *key, int64_t value)
{
    if (json_key(j, key))
        fprintf(j->fp, "%lld", (long long)value);
}

int cli_json_write(cli_json *j, const char *path)
{
    if (!j->fp)
        return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
    fputs("\n}\n", j->fp);
    int bad = fclose(j->fp) != 0;
    j->fp = NULL;
    cli_text t;
    sj_status st = bad ? sj_fail(SJ_ERR_NOMEM, "out of memory") : cli_text_open(&t, path);
    if (!st) {
        fwrite(j->mem, 1, j->len, t.fp);
        st = cli_text_close(&t, 1);
    }
    free(j->mem);
    j->mem = NULL;
    return st ? cli_fail(st) : EXIT_OK;
}

int cli_guard_option(int opt, const char *arg, sj_cluster_options *o, const char *cmd)
{
    char *end;
    switch (opt) {
    case 'L': {
        sj_status st = sj_linkage_parse(arg, o);
        return st ? cli_fail(st) : EXIT_OK;
    }
    case 'M':
        if (cli_parse_i64(arg, &o->max_matches) || o->max_matches < 1)
            return cli_usage(cmd, "--max-matches needs a positive count");
        return EXIT_OK;
    case 'R':
        o->degree_ratio = strtod(arg, &end);
        if (end == arg || *end || !(o->degree_ratio > 1))
            return cli_usage(cmd, "--degree-ratio needs a number > 1");
        return EXIT_OK;
    default:
        return -1;
    }
}

sj_status cli_sources_add(cli_sources *s, const sj_hashes *h, const char *path)
{
    const char *source = h->source ? h->source : "";
    int k = 0;
    while (k < s->n && strcmp(s->names[k], source) != 0)
        k++;
    if (k == s->n) {
        if (s->n == INT32_MAX)
            return sj_fail(SJ_ERR_LIMIT, "%s: more than 2^31-1 distinct sources in one join", path);
        char **names = realloc(s->names, (size_t)(s->n + 1) * sizeof *names);
        if (!names)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        s->names = names;
        if (!(s->names[s->n] = strdup(source)))
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        s->n++;
    }
    sj_status st = sj_grow((void **)&s->ids, &s->cap, s->n_ids + h->n, sizeof *s->ids);
    if (st)
        return st;
    int32_t *src = realloc(s->src, (size_t)s->cap * sizeof *src);
    if (!src)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->src = src;
    for (int64_t i = 0; i < h->n; i++) {
        s->ids[s->n_ids] = h->ids[i];
        s->src[s->n_ids++] = k;
    }
    return SJ_OK;
}

static int cmp_id_src(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

void cli_sources_finish(cli_sources *s)
{
    int64_t *tmp = malloc((size_t)SJ_MAX(s->n_ids, 1) * 2 * sizeof *tmp);
    if (!tmp)
        return;
    for (int64_t i = 0; i < s->n_ids; i++)
        tmp[2 * i] = s->ids[i], tmp[2 * i + 1] = s->src[i];
    qsort(tmp, (size_t)s->n_ids, 2 * sizeof *tmp, cmp_id_src);
    for (int64_t i = 0; i < s->n_ids; i++)
        s->ids[i] = tmp[2 * i], s->src[i] = (int32_t)tmp[2 * i + 1];
    free(tmp);
}

int32_t cli_sources_of(const cli_sources *s, int64_t id)
{
    int64_t k = sj_search_i64(s->ids, s->n_ids, id);
    return k >= 0 ? s->src[k] : -1;
}

sj_status cli_meta_fill_sources(sj_meta_table *t, const cli_sources *s)
{
    sj_status st = SJ_OK;
    for (int64_t i = 0; i < t->n && !st; i++) {
        int32_t k = cli_sources_of(s, t->ids[i]);
        if (k >= 0 && s->names[k][0] && !*sj_meta_text_get(t->meta, i, SJ_META_SOURCE))
            st = sj_meta_set_text(t->meta, i, SJ_META_SOURCE, s->names[k]);
    }
    return st;
}

void cli_sources_free(cli_sources *s)
{
    for (int k = 0; k < s->n; k++)
        free(s->names[k]);
    free(s->names);
    free(s->ids);
    free(s->src);
    s->names = NULL;
    s->n = 0;
    s->ids = NULL;
    s->src = NULL;
}

char *cli_sources_names(const cli_sources *s)
{
    size_t len = 1;
    for (int k = 0; k < s->n; k++)
        len += strlen(s->names[k]) + 1;
    char *buf = malloc(len), *p = buf;
    for (int k = 0; buf && k < s->n; k++)
        p += sprintf(p, "%s%s", k ? "\n" : "", s->names[k]);
    if (buf)
        *p = 0;
    return buf;
}

/* ---- ids across inputs ---- */

typedef struct id_in_set {
    int64_t id;
    int set;
} id_in_set;

static int cmp_id_in_set(const void *x, const void *y)
{
    const id_in_set *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Ids must be unique across corpus and queries (each already unique alone). */
sj_status cli_check_ids_across(const sj_hashes *c, const sj_hashes *q)
{
    if (!q)
        return sj_hashes_check_unique_ids(c, "corpus");
    sj_status st = sj_hashes_check_unique_ids(c, "corpus");
    if (st || (st = sj_hashes_check_unique_ids(q, "queries")))
        return st;
    int64_t n = c->n + q->n;
    id_in_set *v = malloc((size_t)SJ_MAX(n, 1) * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < c->n; i++)
        v[i] = (id_in_set){c->ids[i], 0};
    for (int64_t i = 0; i < q->n; i++)
        v[c->n + i] = (id_in_set){q->ids[i], 1};
    qsort(v, (size_t)n, sizeof *v, cmp_id_in_set);
    int64_t clashes = 0;
    for (int64_t i = 1; i < n; i++)
        clashes += v[i].id == v[i - 1].id;
    free(v);
    if (clashes)
        return sj_fail(SJ_ERR_DUPLICATE_ID,
                       "%lld id(s) appear in both the corpus and the queries; ids must be unique "
                       "across all inputs of a join", (long long)clashes);
    return SJ_OK;
}

#ifdef SIMJOIN_HAVE_HDF5
/* Record the shard just read as an input of r. */
static sj_status record_input(sj_join_result *r, const char *role, const char *path,
                              const sj_hashes *h)
{
    struct stat sb;
    int known = stat(path, &sb) == 0;
    char sum[65];
    sj_hashes_checksum(h, sum);
    return sj_join_result_add_input(r, role, path, known ? (int64_t)sb.st_size : -1,
                                     known ? (int64_t)sb.st_mtime : -1, sum);
}

/* Read and concatenate shards; optionally record each as an input of `record`
 * (with role), or check each against expect[i]'s checksum. */
static sj_status read_shards(char **paths, int n, sj_hashes **out, cli_sources *sources,
                             sj_join_result *record, const char *role, const sj_join_input *expect)
{
    *out = NULL;
    sj_hashes *all = NULL;
    for (int i = 0; i < n; i++) {
        sj_hashes *h;
        char sum[65] = "";
        sj_status st = sj_shard_read(paths[i], &h);
        if (!st && sources)
            st = cli_sources_add(sources, h, paths[i]);
        if (!st && record)
            st = record_input(record, role, paths[i], h);
        if (!st && expect && expect[i].checksum[0]) {
            sj_hashes_checksum(h, sum);
            if (strcmp(sum, expect[i].checksum) != 0)
                st = sj_fail(SJ_ERR_MISMATCH, "%s: its hashes or ids are not those the join read "
                                              "(checksum differs): the shard was changed or "
                                              "replaced after the join; join again, or give the "
                                              "right shard", paths[i]);
        }
        if (st) {
            sj_hashes_free(h); /* NULL when the read failed */
            sj_hashes_free(all);
            return st;
        }
        if (!all) {
            all = h;
            continue;
        }
        if (all->type.kind != h->type.kind || all->type.bits != h->type.bits) {
            char a[24], b[24];
            sj_hash_type_format(all->type, a, sizeof a);
            sj_hash_type_format(h->type, b, sizeof b);
            sj_hashes_free(all);
            sj_hashes_free(h);
            return sj_fail(SJ_ERR_MISMATCH, "%s: hash kind %s differs from %s in %s", paths[i], b,
                           a, paths[0]);
        }
        st = sj_hashes_concat(all, h);
        sj_hashes_free(h);
        if (st) {
            sj_hashes_free(all);
            return st;
        }
    }
    *out = all;
    return SJ_OK;
}

sj_status cli_read_shards(char **paths, int n, sj_hashes **out, cli_sources *sources)
{
    return read_shards(paths, n, out, sources, NULL, NULL, NULL);
}

sj_status cli_read_shards_as(char **paths, int n, sj_hashes **out, cli_sources *sources,
                             sj_join_result *r, const char *role)
{
    return read_shards(paths, n, out, sources, r, role, NULL);
}

sj_status cli_read_join_inputs(const sj_join_result *r, sj_hashes **out)
{
    *out = NULL;
    if (r->n_inputs > INT32_MAX)
        return sj_fail(SJ_ERR_LIMIT, "more than 2^31-1 inputs");
    char **paths = malloc((size_t)SJ_MAX(r->n_inputs, 1) * sizeof *paths);
    if (!paths)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int readable = 1;
    for (int64_t i = 0; i < r->n_inputs; i++) {
        paths[i] = r->inputs[i].path;
        readable &= access(paths[i], R_OK) == 0;
    }
    sj_status st = readable ? read_shards(paths, (int)r->n_inputs, out, NULL, NULL, NULL, r->inputs)
                            : SJ_OK;
    free(paths);
    return st;
}
#endif

sj_status cli_text_open(cli_text *t, const char *path)
{
    memset(t, 0, sizeof *t);
    if (!path || strcmp(path, "-") == 0) {
        t->fp = stdout;
        t->to_stdout = 1;
        return SJ_OK;
    }
    sj_status st = sj_atomic_begin(&t->af, path);
    if (st)
        return st;
    t->fp = sj_atomic_stream(&t->af);
    if (!t->fp) {
        sj_atomic_abort(&t->af);
        return SJ_ERR_IO;
    }
    return SJ_OK;
}

sj_status cli_text_close(cli_text *t, int ok)
{
    if (t->to_stdout)
        return fflush(stdout) == 0 ? SJ_OK : sj_fail(SJ_ERR_IO, "stdout: write error");
    int bad = ferror(t->fp);
    bad |= fclose(t->fp) != 0;
    if (!ok || bad) {
        sj_atomic_abort(&t->af);
        return ok ? sj_fail(SJ_ERR_IO, "%s: write error (disk full?)", t->af.final_path) : SJ_OK;
    }
    return sj_atomic_commit(&t->af);
}

void cli_excluded_text(const uint8_t *rule, int64_t n, const sj_degenerate_options *o, char *buf,
                       size_t size)
{
    int64_t per[SJ_DEGEN_LOW_QUALITY + 1] = {0};
    for (int64_t i = 0; i < n; i++)
        per[rule[i] <= SJ_DEGEN_LOW_QUALITY ? rule[i] : 0]++;
    size_t used = (size_t)snprintf(buf, size, "%lld excluded", (long long)n);
    static const int order[3] = {SJ_DEGEN_LOW_QUALITY, SJ_DEGEN_BIT_BAND, SJ_DEGEN_ALL_ZERO};
    int first = 1;
    for (int k = 0; k < 3 && used < size; k++) {
        int r = order[k];
        if (!per[r])
            continue;
        char why[64];
        if (r == SJ_DEGEN_LOW_QUALITY)
            o ? snprintf(why, sizeof why, "quality < %d", (int)o->min_quality)
              : snprintf(why, sizeof why, "low quality");
        else if (r == SJ_DEGEN_BIT_BAND)
            o ? snprintf(why, sizeof why, "one-bit count outside %d..%d", (int)o->min_ones,
                         (int)o->max_ones)
              : snprintf(why, sizeof why, "one-bit band");
        else
            snprintf(why, sizeof why, "all zero");
        used += (size_t)snprintf(buf + used, size - used, "%s%lld %s", first ? ": " : ", ",
                                 (long long)per[r], why);
        first = 0;
    }
}

/* ---- outputs over inputs ---- */

/* What a path names: an existing file's device and inode (name empty), or,
 * for a file not there yet, its directory's device and inode and its name. */
typedef struct file_identity {
    dev_t dev;
    ino_t ino;
    char name[256];
} file_identity;

/* 0, or -1 when path is NULL, "-" or in no existing directory. */
static int identify(const char *path, file_identity *id)
{
    struct stat sb;
    memset(id, 0, sizeof *id);
    if (!path || !strcmp(path, "-"))
        return -1;
    if (stat(path, &sb) != 0) {
        char dir_buf[4096], base_buf[4096];
        snprintf(dir_buf, sizeof dir_buf, "%s", path);
        snprintf(base_buf, sizeof base_buf, "%s", path);
        if (stat(dirname(dir_buf), &sb) != 0)
            return -1;
        snprintf(id->name, sizeof id->name, "%s", basename(base_buf));
    }
    id->dev = sb.st_dev;
    id->ino = sb.st_ino;
    return 0;
}

static int same_identity(const file_identity *a, const file_identity *b)
{
    return a->dev == b->dev && a->ino == b->ino && !strcmp(a->name, b->name);
}

sj_status cli_check_outputs(const char *const *outputs, int n_out, char *const *inputs, int n_in)
{
    for (int o = 0; o < n_out; o++) {
        file_identity out, other;
        if (identify(outputs[o], &out))
            continue;
        for (int i = 0; i < n_in; i++)
            if (!identify(inputs[i], &other) && same_identity(&out, &other))
                return sj_fail(SJ_ERR_IO, "output %s is the input %s (the same file); refusing to "
                                          "overwrite an input: write the output elsewhere",
                               outputs[o], inputs[i]);
        for (int k = 0; k < o; k++)
            if (!identify(outputs[k], &other) && same_identity(&out, &other))
                return sj_fail(SJ_ERR_IO, "outputs %s and %s are the same file; give each "
                                          "output its own name", outputs[k], outputs[o]);
    }
    return SJ_OK;
}

sj_status cli_check_not_inside(const char *dir, char *const *paths, int n, const char *why)
{
    char real_dir[PATH_MAX], real[PATH_MAX];
    if (!realpath(dir, real_dir))
        return SJ_OK; /* not there yet: nothing is inside it */
    size_t len = strlen(real_dir);
    for (int i = 0; i < n; i++)
        if (paths[i] && realpath(paths[i], real) && !strncmp(real, real_dir, len) &&
            (real[len] == '/' || (len == 1 && real_dir[0] == '/')))
            return sj_fail(SJ_ERR_IO, "%s lies inside %s, which %s; keep inputs elsewhere",
                           paths[i], dir, why);
    return SJ_OK;
}

sj_status cli_check_outputs_vs_join(const char *const *outputs, int n_out, const sj_join_result *r)
{
    char **paths = calloc((size_t)SJ_MAX(r->n_inputs, 1), sizeof *paths);
    if (!paths)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < r->n_inputs; i++)
        paths[i] = r->inputs[i].path;
    sj_status st = cli_check_outputs(outputs, n_out, paths, (int)r->n_inputs);
    free(paths);
    return st;
}

int cli_refuse_stdout(const char *cmd, const char *option, const char *path)
{
    if (path && !strcmp(path, "-"))
        return cli_usage(cmd, "%s -: this output is an HDF5 file, which cannot be streamed to "
                              "stdout; give a file name", option);
    return EXIT_OK;
}
