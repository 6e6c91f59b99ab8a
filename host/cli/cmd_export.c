/* cmd_export.c - `simjoin export`: shard, pairs or clusters file -> CSV / JSON Lines. */
#include "cli/cli.h"
#include "analysis/case.h"
#include "io/h5util.h"
#include "io/text_out.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin export FILE.h5 --format csv|jsonl|icse [--out F] [--summary]\n"
           "                      [--stats-json F]\n"
           "\n"
           "Writes a simjoin HDF5 file as text (stdout unless --out; --out files are\n"
           "written under a temporary name, renamed when complete, mode 0640):\n"
           "  shard     id,hash[,quality][,label]      (hex hashes; f32:D: id,v0,...)\n"
           "  pairs     a,b,distance (join --dihedral: a,b,distance,transform)\n"
           "  clusters  id,cluster   (cluster -1: excluded as degenerate)\n"
           "            --summary: cluster,size,edges,min_distance,max_edge,diameter,diameter_checked\n"
           "Shards with case metadata add series,case_id,category,source,path,md5,sha1,\n"
           "victim_identified,offender_identified.\n"
           "--format icse (clusters files): an ICSE-style semicolon-separated CSV, one\n"
           "row per hash in a cluster (Image ID;Cluster ID;Cluster size;Triage rank;\n"
           "Triage;New upload;Series name;Victim identified;Offender identified;Case ID;\n"
           "Category;Source;Cluster flags;...), clusters of the triage list first (see\n"
           "`simjoin report --help`). It is a plain layout investigators' tools import,\n"
           "not a VICS-compliant file.\n");
}

/* A column of the file; its label is the dataset's name ("pairs/a": a). */
typedef struct column {
    const char *name; /* dataset path */
    int real;         /* 1: a distance, read as double into f; 0: int64 into v */
    int64_t *v;
    double *f;
} column;

static const char *column_label(const column *c) { return strrchr(c->name, '/') + 1; }

static void write_row(FILE *fp, int jsonl, column *cols, int nc, int64_t r)
{
    if (jsonl)
        fputc('{', fp);
    for (int i = 0; i < nc; i++) {
        if (jsonl)
            fprintf(fp, "%s\"%s\":", i ? "," : "", column_label(&cols[i]));
        else if (i)
            fputc(',', fp);
        if (cols[i].real) /* integral distances print as integers; others round-trip */
            fprintf(fp, "%.17g", cols[i].f[r]);
        else
            fprintf(fp, "%lld", (long long)cols[i].v[r]);
    }
    fputs(jsonl ? "}\n" : "\n", fp);
}

static sj_status export_columns(hid_t file, const char *path, column *cols, int nc, sj_text_file *t,
                                int jsonl)
{
    int64_t n = -1;
    sj_status st = SJ_OK;
    for (int i = 0; i < nc && !st; i++)
        st = cols[i].real ? sj_h5_read_f64(file, cols[i].name, n, &cols[i].f, &n, path)
                          : sj_h5_read_i64(file, cols[i].name, n, &cols[i].v, &n, path);
    for (int i = 0; !st && !jsonl && i < nc; i++) /* the CSV header */
        fprintf(t->fp, "%s%s", column_label(&cols[i]), i + 1 < nc ? "," : "\n");
    for (int64_t r = 0; !st && r < n; r++)
        write_row(t->fp, jsonl, cols, nc, r);
    for (int i = 0; i < nc; i++)
        free(cols[i].v), free(cols[i].f);
    return st;
}

/* A row's case metadata as CSV fields or JSON members (after others). */
static void write_meta(FILE *fp, const sj_meta *m, int64_t i, int jsonl)
{
    for (int f = 0; f < SJ_META_N_TEXT; f++) {
        const char *v = sj_meta_text_get(m, i, (sj_meta_text)f);
        if (jsonl)
            fprintf(fp, ",\"%s\":", sj_meta_text_name((sj_meta_text)f)), sj_json_put_string(fp, v);
        else
            fputc(',', fp), sj_csv_put_text(fp, v, ',');
    }
    const char *vi = sj_meta_flag_name(sj_meta_victim(m, i)), *of = sj_meta_flag_name(sj_meta_offender(m, i));
    if (jsonl)
        fprintf(fp, ",\"victim_identified\":\"%s\",\"offender_identified\":\"%s\"", vi, of);
    else
        fprintf(fp, ",%s,%s", vi, of);
}

static sj_status export_shard(const char *path, sj_text_file *t, int jsonl)
{
    sj_hashes *h;
    sj_status st = sj_shard_read(path, &h);
    if (st)
        return st;
    uint32_t rb = sj_hash_type_bytes(h->type);
    char *hex = malloc(2 * rb + 1);
    if (!hex) {
        sj_hashes_free(h);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    const int f32 = h->type.kind == SJ_KIND_F32;
    if (!jsonl) {
        fputs("id", t->fp);
        for (uint32_t k = 0; f32 && k < h->type.dim; k++)
            fprintf(t->fp, ",v%u", k);
        fprintf(t->fp, "%s%s%s%s\n", f32 ? "" : ",hash", h->quality ? ",quality" : "",
                h->labels ? ",label" : "",
                h->meta ? ",series,case_id,category,source,path,md5,sha1,victim_identified,offender_identified" : "");
    }
    for (int64_t i = 0; i < h->n; i++) {
        if (f32) { /* float32 values, printed so that they read back exactly */
            fprintf(t->fp, jsonl ? "{\"id\":%lld,\"vector\":[" : "%lld", (long long)h->ids[i]);
            for (uint32_t k = 0; k < h->type.dim; k++) {
                float x;
                memcpy(&x, h->hashes + (size_t)i * rb + 4 * k, 4);
                fprintf(t->fp, jsonl && !k ? "%.9g" : ",%.9g", (double)x);
            }
            fputs(jsonl ? "]" : "", t->fp);
        } else {
            sj_hex_encode(h->hashes + (size_t)i * rb, rb, hex);
            fprintf(t->fp, jsonl ? "{\"id\":%lld,\"hash\":\"%s\"" : "%lld,%s", (long long)h->ids[i],
                    hex);
        }
        if (jsonl) {
            if (h->quality)
                fprintf(t->fp, ",\"quality\":%d", h->quality[i]);
            if (h->labels)
                fprintf(t->fp, ",\"label\":%lld", (long long)h->labels[i]);
            if (h->meta)
                write_meta(t->fp, h->meta, i, 1);
            fputs("}\n", t->fp);
        } else {
            if (h->quality)
                fprintf(t->fp, ",%d", h->quality[i]);
            if (h->labels)
                fprintf(t->fp, ",%lld", (long long)h->labels[i]);
            if (h->meta)
                write_meta(t->fp, h->meta, i, 0);
            fputc('\n', t->fp);
        }
    }
    free(hex);
    sj_hashes_free(h);
    return SJ_OK;
}

/* --stats-json: what was exported and how long it took (EXIT_OK without it). */
static int write_stats(const char *stats, const char *format, const char *content, double t0)
{
    if (!stats)
        return EXIT_OK;
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "export");
    cli_json_str(&j, "format", format);
    cli_json_str(&j, "content", content);
    cli_json_num(&j, "seconds", sj_now() - t0);
    return cli_json_write(&j, stats);
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"out", required_argument, 0, 'o'},
                                         {"summary", no_argument, 0, 's'},
                                         {"stats-json", required_argument, 0, 'J'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *format = NULL, *out = NULL, *in = NULL, *stats = NULL;
    const double t0 = sj_now();
    int summary = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 's': summary = 1; break;
        case 'J': stats = optarg; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("export", "bad option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("export", "give exactly one input file");
    in = argv[optind];
    const char *outputs[] = {out, stats};
    char *inputs[] = {(char *)in};
    sj_status out_st = sj_check_outputs(outputs, 2, inputs, 1);
    if (out_st)
        return cli_fail(out_st);
    if (!format || (strcmp(format, "csv") && strcmp(format, "jsonl") && strcmp(format, "icse")))
        return cli_usage("export", "--format csv, jsonl or icse is required");
    int jsonl = !strcmp(format, "jsonl");
    if (!strcmp(format, "icse")) { /* clusters files only */
        sj_case_view v;
        sj_status st = sj_case_view_load(&v, in, NULL);
        sj_text_file t;
        if (!st && !(st = sj_text_open(&t, out))) {
            sj_case_write_icse(t.fp, &v, 1);
            st = sj_text_close(&t, 1);
        }
        sj_case_view_free(&v);
        return st ? cli_fail(st) : write_stats(stats, format, "clusters", t0);
    }
    hid_t file;
    sj_status st = sj_h5_open(in, &file);
    if (st)
        return cli_fail(st);
    char content[32];
    st = sj_h5_read_attr_str(file, "content", content, sizeof content, 0, in);
    sj_text_file t;
    if (!st)
        st = sj_text_open(&t, out);
    if (st) {
        H5Fclose(file);
        return cli_fail(st);
    }
    if (!strcmp(content, "pairs")) {
        column cols[] = {{.name = "pairs/a"}, {.name = "pairs/b"},
                         {.name = "pairs/distance", .real = 1}, {.name = "pairs/transform"}};
        sj_h5_info ti; /* join --dihedral: the transform of a nearest to b */
        if (!(st = sj_h5_inspect(file, "pairs/transform", &ti, in)))
            st = export_columns(file, in, cols, ti.exists ? 4 : 3, &t, jsonl);
    } else if (!strcmp(content, "clusters") && !summary) {
        column cols[] = {{.name = "clusters/id"}, {.name = "clusters/cluster"}};
        st = export_columns(file, in, cols, 2, &t, jsonl);
    } else if (!strcmp(content, "clusters")) {
        column cols[] = {{.name = "summary/cluster"}, {.name = "summary/size"},
                         {.name = "summary/edges"}, {.name = "summary/min_distance", .real = 1},
                         {.name = "summary/max_edge", .real = 1}, {.name = "summary/diameter", .real = 1},
                         {.name = "summary/diameter_checked"}};
        st = export_columns(file, in, cols, 7, &t, jsonl);
    } else if (!content[0]) {
        H5Fclose(file);
        file = H5I_INVALID_HID;
        st = export_shard(in, &t, jsonl);
    } else {
        st = sj_fail(SJ_ERR_FORMAT, "%s: unknown content '%s'", in, content);
    }
    if (file >= 0)
        H5Fclose(file);
    sj_status st2 = sj_text_close(&t, st == SJ_OK);
    if (st || st2)
        return cli_fail(st ? st : st2);
    return write_stats(stats, format, content[0] ? content : "shard", t0);
}
