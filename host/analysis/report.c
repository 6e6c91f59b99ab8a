/* report.c - sj_report_write: the triage list of a clusters file, written
 * as one directory (CSV, JSON Lines, ICSE-style CSV, one HTML page). */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/report.h"
#include "analysis/case.h"
#include "io/outputs.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void sj_report_options_init(sj_report_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->classes = ~0u;
    o->html_clusters = 2000;
    o->html_members = 500;
}

/* The report directory and the caller's other outputs are never inputs, and
 * no input or other output lies inside the directory the report replaces. */
static sj_status check_outputs(const char *clusters_path, const char *dir, const sj_report_options *o)
{
    int n_out = 1 + o->n_other_outputs;
    const char **outputs = malloc((size_t)n_out * sizeof *outputs);
    char **in_dir = malloc((size_t)(n_out + 1) * sizeof *in_dir);
    if (!outputs || !in_dir) {
        free(outputs);
        free(in_dir);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    char *inputs[] = {(char *)clusters_path, (char *)o->pairs_path};
    outputs[0] = dir;
    in_dir[0] = (char *)clusters_path, in_dir[1] = (char *)o->pairs_path;
    for (int k = 0; k < o->n_other_outputs; k++) {
        outputs[1 + k] = o->other_outputs[k];
        in_dir[2 + k] = (char *)o->other_outputs[k];
    }
    sj_status st = sj_check_outputs(outputs, n_out, inputs, 2);
    if (!st)
        st = sj_check_not_inside(dir, in_dir, n_out + 1, "the report replaces as a whole");
    free(outputs);
    free(in_dir);
    return st;
}

typedef struct report_job {
    const sj_case_view *v;
    const char *title;
    const sj_report_options *o;
} report_job;

static void write_triage_csv(FILE *fp, const report_job *j) { sj_case_write_triage_csv(fp, j->v); }
static void write_triage_jsonl(FILE *fp, const report_job *j) { sj_case_write_triage_jsonl(fp, j->v); }
static void write_members_csv(FILE *fp, const report_job *j) { sj_case_write_members_csv(fp, j->v); }
static void write_members_jsonl(FILE *fp, const report_job *j) { sj_case_write_members_jsonl(fp, j->v); }
static void write_unmatched_csv(FILE *fp, const report_job *j) { sj_case_write_unmatched_csv(fp, j->v); }
static void write_icse_listed(FILE *fp, const report_job *j) { sj_case_write_icse(fp, j->v, 0); }
static void write_html(FILE *fp, const report_job *j)
{
    sj_case_write_html(fp, j->v, j->title, j->o->html_clusters, j->o->html_members);
}

/* The files of a report, in the order they are written (report.html last). */
static const struct {
    const char *name;
    void (*write)(FILE *fp, const report_job *j);
} report_files[] = {
    {"triage.csv", write_triage_csv},       {"triage.jsonl", write_triage_jsonl},
    {"members.csv", write_members_csv},     {"members.jsonl", write_members_jsonl},
    {"unmatched.csv", write_unmatched_csv}, {"icse.csv", write_icse_listed},
    {"report.html", write_html},
};

/* Write every file into dir (the new directory beside the final one). */
static sj_status write_files(const char *dir, const report_job *j)
{
    for (size_t f = 0; f < sizeof report_files / sizeof report_files[0]; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, report_files[f].name);
        sj_text_file t;
        sj_status st = sj_text_open(&t, path);
        if (st)
            return st;
        report_files[f].write(t.fp, j);
        sj_fault_step(report_files[f].name);
        if ((st = sj_text_close(&t, 1))) /* write errors are caught here */
            return st;
    }
    return SJ_OK;
}

sj_status sj_report_write(const char *clusters_path, const char *dir, const sj_report_options *opt,
                          sj_report_result *result)
{
    sj_report_options o;
    sj_report_options_init(&o);
    sj_report_result r;
    memset(&r, 0, sizeof r);
    size_t result_size = 0;
    if (result) {
        if (result->struct_size < sizeof(uint32_t) || result->struct_size > sizeof r)
            return sj_fail(SJ_ERR_ARG, "sj_report_write: result->struct_size is %u, not "
                                       "sizeof(sj_report_result) = %zu of this library",
                           (unsigned)result->struct_size, sizeof r);
        result_size = result->struct_size;
        memset((char *)result + sizeof(uint32_t), 0, result_size - sizeof(uint32_t));
    }
    if (opt) {
        if (opt->struct_size < sizeof(uint32_t) || opt->struct_size > sizeof o)
            return sj_fail(SJ_ERR_ARG, "sj_report_write: options->struct_size is %u, not "
                                       "sizeof(sj_report_options) = %zu of this library (call "
                                       "sj_report_options_init)",
                           (unsigned)opt->struct_size, sizeof o);
        memcpy(&o, opt, opt->struct_size);
        o.struct_size = sizeof o;
    }
    if (!clusters_path || !dir || !dir[0])
        return sj_fail(SJ_ERR_ARG, "sj_report_write: a clusters file and a directory are required");
    if (!strcmp(dir, "-"))
        return sj_fail(SJ_ERR_ARG, "report: '-' is not a directory: the report is a directory of "
                                   "files");
    if (o.min_size < 0 || o.html_clusters < 0 || o.html_members < 0 || o.n_other_outputs < 0 ||
        (o.n_other_outputs > 0 && !o.other_outputs))
        return sj_fail(SJ_ERR_ARG, "sj_report_write: negative min_size, html_clusters, "
                                   "html_members or n_other_outputs");
    sj_status st = check_outputs(clusters_path, dir, &o);
    if (st)
        return st;

    sj_case_view v;
    if ((st = sj_case_view_load(&v, clusters_path, o.pairs_path)))
        return st;
    sj_case_view_filter(&v, o.min_size, o.classes);
    const char *slash = strrchr(clusters_path, '/');
    report_job job = {&v, o.title ? o.title : slash ? slash + 1 : clusters_path, &o};
    /* Written into a new directory beside dir, swapped in when complete. */
    sj_outdir out;
    if (!(st = sj_outdir_begin(&out, dir))) {
        if (!(st = write_files(out.temp, &job)))
            st = sj_outdir_commit(&out); /* aborts on failure */
        else
            sj_outdir_abort(&out);
    }
    if (!st) {
        r.has_meta = v.has_meta;
        r.hashes = v.n;
        r.clusters = v.n_clusters;
        r.listed = v.n_entries;
        memcpy(r.per_class, v.per_class, sizeof r.per_class);
        r.unmatched = v.n_unmatched;
        snprintf(r.notice, sizeof r.notice, "%s", out.notice);
    }
    sj_case_view_free(&v);
    if (result && !st)
        memcpy((char *)result + sizeof(uint32_t), (char *)&r + sizeof(uint32_t),
               result_size - sizeof(uint32_t));
    return st;
}
