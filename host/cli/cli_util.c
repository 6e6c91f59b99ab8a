/* cli_util.c - errors, progress, JSON stats and text outputs for the CLI. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli/cli.h"
#include "simjoin/meta.h"
#include "io/text_out.h"

#include <errno.h>
#include <getopt.h>
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

int cli_parse_f64(const char *s, double *out) { return sj_parse_f64(s, out); }

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

void cli_json_bool(cli_json *j, const char *key, int value)
{
    if (json_key(j, key))
        fputs(value ? "true" : "false", j->fp);
}

int cli_json_write(cli_json *j, const char *path)
{
    if (!j->fp)
        return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
    fputs("\n}\n", j->fp);
    int bad = fclose(j->fp) != 0;
    j->fp = NULL;
    sj_text_file t;
    sj_status st = bad ? sj_fail(SJ_ERR_NOMEM, "out of memory") : sj_text_open(&t, path);
    if (!st) {
        fwrite(j->mem, 1, j->len, t.fp);
        st = sj_text_close(&t, 1);
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

void cli_take_list(int argc, char **argv, const char **list, int *n)
{
    list[(*n)++] = optarg;
    while (optind < argc && argv[optind][0] != '-')
        list[(*n)++] = argv[optind++];
}

int cli_refuse_stdout(const char *cmd, const char *option, const char *path)
{
    if (path && !strcmp(path, "-"))
        return cli_usage(cmd, "%s -: this output is an HDF5 file, which cannot be streamed to "
                              "stdout; give a file name", option);
    return EXIT_OK;
}
