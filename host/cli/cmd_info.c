/* cmd_info.c - `simjoin info`: what an HDF5 file holds (never ids or hashes). */
#include "cli/cli.h"
#include "io/h5util.h"
#include "io/text_out.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void help(void)
{
    printf("usage: simjoin info [--json] FILE.h5...\n"
           "\n"
           "Prints each file's content (shard, pairs, clusters), hash kind, counts,\n"
           "attributes, datasets with their shapes and types, and sizes. Never prints\n"
           "ids or hashes.\n"
           "\n"
           "  --json   one JSON object per file and line (JSON Lines): path, content,\n"
           "           bytes, attributes {name: value}, datasets {name: {type, shape}},\n"
           "           and for a shard valid, hashes, quality, labels (error when invalid)\n");
}

/* What the H5 visitors print into: text lines, or one JSON object's members. */
typedef struct info_out {
    const char *path;
    int json;
    int first; /* no member written yet in the current JSON object */
} info_out;

static void json_key(info_out *o, const char *key)
{
    fputs(o->first ? "" : ",", stdout);
    o->first = 0;
    sj_json_put_string(stdout, key);
    fputc(':', stdout);
}

static herr_t print_attr(hid_t loc, const char *h5name, const H5A_info_t *info, void *user)
{
    (void)info;
    info_out *o = user;
    const char *path = o->path;
    char *s = NULL, safe_name[1024];
    const char *name = o->json ? h5name : cli_safe(h5name, safe_name, sizeof safe_name);
    int64_t v;
    int has;
    hid_t a = H5Aopen(loc, h5name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (o->json)
        json_key(o, name);
    if (cls == H5T_STRING && !sj_h5_read_attr_strdup(loc, h5name, &s, 0, path)) {
        if (o->json) {
            sj_json_put_string(stdout, s);
            free(s);
            return 0;
        }
        for (char *c = s; *c; c++)
            if (*c == '\n')
                *c = ' ';
        size_t cap = 4 * strlen(s) + 1; /* escaped: at most 4 bytes per byte (\xNN), whole */
        char *safe = malloc(cap);
        printf("  attribute %-16s %s\n", name, safe ? cli_safe(s, safe, cap) : "(out of memory)");
        free(safe);
        free(s);
    } else if (cls == H5T_INTEGER && !sj_h5_read_attr_i64(loc, h5name, &v, &has, path)) {
        if (o->json)
            printf("%lld", (long long)v);
        else
            printf("  attribute %-16s %lld\n", name, (long long)v);
    } else if (cls == H5T_FLOAT) {
        double x = 0;
        int ok = !sj_h5_read_attr_f64(loc, h5name, &x, &has, path) && has;
        if (o->json)
            printf(ok && isfinite(x) ? "%.17g" : "null", x); /* JSON has no NaN */
        else if (ok)
            printf("  attribute %-16s %.15g\n", name, x);
        else
            printf("  attribute %-16s (unreadable)\n", name);
    } else if (o->json) {
        printf("null");
    } else {
        printf("  attribute %-16s (not shown)\n", name);
    }
    return 0;
}

static herr_t print_object(hid_t loc, const char *h5name, const H5O_info_t *info, void *user)
{
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    info_out *o = user;
    sj_h5_info di;
    char safe[1024], key[1100];
    const char *name = o->json ? h5name : cli_safe(h5name, safe, sizeof safe);
    int ok = !sj_h5_inspect(loc, h5name, &di, o->path) && di.exists;
    if (o->json) {
        snprintf(key, sizeof key, "/%s", h5name);
        json_key(o, key);
    }
    if (!ok) {
        if (o->json)
            printf("null");
        else
            printf("  dataset   /%s (unreadable)\n", name);
        return 0;
    }
    const char *cls = di.cls == H5T_INTEGER ? (di.sign == H5T_SGN_NONE ? "uint" : "int")
                      : di.cls == H5T_FLOAT ? "float" : di.cls == H5T_STRING ? "string" : "other";
    unsigned long long d0 = di.rank ? di.dims[0] : 1, d1 = di.rank >= 2 ? di.dims[1] : 0,
                       d2 = di.rank == 3 ? di.dims[2] : 0;
    if (o->json && di.rank == 3)
        printf("{\"type\":\"%s%zu\",\"shape\":[%llu,%llu,%llu]}", cls, 8 * di.size, d0, d1, d2);
    else if (o->json)
        printf(di.rank == 2 ? "{\"type\":\"%s%zu\",\"shape\":[%llu,%llu]}" : "{\"type\":\"%s%zu\",\"shape\":[%llu]}",
               cls, 8 * di.size, d0, d1);
    else if (di.rank == 3)
        printf("  dataset   /%-16s %s%zu [%llu, %llu, %llu]\n", name, cls, 8 * di.size, d0, d1, d2);
    else if (di.rank == 2)
        printf("  dataset   /%-16s %s%zu [%llu, %llu]\n", name, cls, 8 * di.size, d0, d1);
    else
        printf("  dataset   /%-16s %s%zu [%llu]\n", name, cls, 8 * di.size, d0);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    int c, rc = EXIT_OK, json = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        if (c == 'h') {
            help();
            return EXIT_OK;
        }
        if (c == 'j') {
            json = 1;
            continue;
        }
        return cli_usage("info", "bad option");
    }
    if (optind >= argc)
        return cli_usage("info", "give one or more files");
    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        hid_t file;
        sj_status st = sj_h5_open(path, &file);
        if (st) {
            rc = cli_fail(st);
            continue;
        }
        char content[32];
        sj_h5_read_attr_str(file, "content", content, sizeof content, 0, path);
        struct stat sb;
        long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
        info_out o = {path, json, 1};
        if (json) {
            fputs("{\"path\":", stdout);
            sj_json_put_string(stdout, path);
            fputs(",\"content\":", stdout);
            sj_json_put_string(stdout, content[0] ? content : "shard");
            printf(",\"bytes\":%lld,\"attributes\":{", size);
        } else {
            char safe_path[4 * 4096], safe_content[128];
            printf("%s: %s, %lld bytes\n", cli_safe(path, safe_path, sizeof safe_path),
                   content[0] ? cli_safe(content, safe_content, sizeof safe_content) : "shard",
                   size);
        }
        H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, &o);
        if (json)
            fputs("},\"datasets\":{", stdout);
        o.first = 1;
        H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, print_object, &o);
        if (json)
            fputs("}", stdout);
        if (!content[0]) { /* a shard: validate it fully, as join would */
            sj_hashes *h = NULL;
            if ((st = sj_shard_read(path, &h))) {
                if (json) {
                    fputs(",\"valid\":false,\"error\":", stdout);
                    sj_json_put_string(stdout, sj_last_error());
                }
                rc = cli_fail(st);
            } else if (json) {
                printf(",\"valid\":true,\"hashes\":%lld,\"quality\":%s,\"labels\":%s,\"dihedral\":%s",
                       (long long)h->n, h->quality ? "true" : "false", h->labels ? "true" : "false",
                       h->dihedral ? "true" : "false");
            } else {
                printf("  valid shard: %lld hashes%s%s%s\n", (long long)h->n,
                       h->quality ? ", with quality" : "", h->labels ? ", with labels" : "",
                       h->dihedral ? ", dihedral (8 hashes per image: join --dihedral)" : "");
            }
            sj_hashes_free(h);
        }
        if (json)
            fputs("}\n", stdout);
        H5Fclose(file);
    }
    return rc;
}
