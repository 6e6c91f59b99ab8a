/* cmd_info.c - `simjoin info`: what an HDF5 file holds (never ids or hashes). */
#include "cli.h"
#include "h5util.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

static void help(void)
{
    printf("usage: simjoin info FILE.h5...\n"
           "\n"
           "Prints each file's content (shard, pairs, clusters), hash kind, counts,\n"
           "attributes, datasets with their shapes and types, and sizes. Never prints\n"
           "ids or hashes.\n");
}

static herr_t print_attr(hid_t loc, const char *h5name, const H5A_info_t *info, void *path)
{
    (void)info;
    char s[512], safe_name[1024], safe[2048];
    const char *name = cli_safe(h5name, safe_name, sizeof safe_name);
    int64_t v;
    int has;
    hid_t a = H5Aopen(loc, h5name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (cls == H5T_STRING && !sj_h5_read_attr_str(loc, h5name, s, sizeof s, 0, path)) {
        for (char *c = s; *c; c++)
            if (*c == '\n')
                *c = ' ';
        printf("  attribute %-16s %s\n", name, cli_safe(s, safe, sizeof safe));
    } else if (cls == H5T_INTEGER && !sj_h5_read_attr_i64(loc, h5name, &v, &has, path)) {
        printf("  attribute %-16s %lld\n", name, (long long)v);
    } else if (cls == H5T_FLOAT) {
        double x = 0;
        if (!sj_h5_read_attr_f64(loc, h5name, &x, &has, path) && has)
            printf("  attribute %-16s %.15g\n", name, x);
        else
            printf("  attribute %-16s (unreadable)\n", name);
    } else {
        printf("  attribute %-16s (not shown)\n", name);
    }
    return 0;
}

static herr_t print_object(hid_t loc, const char *h5name, const H5O_info_t *info, void *path)
{
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    sj_h5_info di;
    char safe[1024];
    const char *name = cli_safe(h5name, safe, sizeof safe);
    if (sj_h5_inspect(loc, h5name, &di, path) || !di.exists) {
        printf("  dataset   /%s (unreadable)\n", name);
        return 0;
    }
    const char *cls = di.cls == H5T_INTEGER ? (di.sign == H5T_SGN_NONE ? "uint" : "int")
                      : di.cls == H5T_FLOAT ? "float" : di.cls == H5T_STRING ? "string" : "other";
    if (di.rank == 2)
        printf("  dataset   /%-16s %s%zu [%llu, %llu]\n", name, cls, 8 * di.size,
               (unsigned long long)di.dims[0], (unsigned long long)di.dims[1]);
    else
        printf("  dataset   /%-16s %s%zu [%llu]\n", name, cls, 8 * di.size,
               (unsigned long long)(di.rank ? di.dims[0] : 1));
    return 0;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c, rc = EXIT_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            help();
            return EXIT_OK;
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
        char safe_path[4 * 4096], safe_content[128];
        printf("%s: %s, %lld bytes\n", cli_safe(path, safe_path, sizeof safe_path),
               content[0] ? cli_safe(content, safe_content, sizeof safe_content) : "shard", size);
        H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, (void *)path);
        H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, print_object, (void *)path);
        if (!content[0]) { /* a shard: validate it fully, as join would */
            sj_hashes *h;
            if ((st = sj_shard_read(path, &h)))
                rc = cli_fail(st);
            else
                printf("  valid shard: %lld hashes%s%s\n", (long long)h->n,
                       h->quality ? ", with quality" : "", h->labels ? ", with labels" : "");
            sj_hashes_free(h);
        }
        H5Fclose(file);
    }
    return rc;
}
