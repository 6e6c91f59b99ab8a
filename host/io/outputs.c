/* outputs.c - text outputs written atomically (or to stdout), and the check
 * that no output is one of the inputs. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "io/outputs.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sj_status sj_text_open(sj_text_file *t, const char *path)
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

sj_status sj_text_close(sj_text_file *t, int ok)
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

sj_status sj_check_outputs(const char *const *outputs, int n_out, char *const *inputs, int n_in)
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

sj_status sj_check_not_inside(const char *dir, char *const *paths, int n, const char *why)
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

sj_status sj_check_outputs_vs_join(const char *const *outputs, int n_out, const sj_join_result *r)
{
    char **paths = calloc((size_t)SJ_MAX(r->n_inputs, 1), sizeof *paths);
    if (!paths)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < r->n_inputs; i++)
        paths[i] = r->inputs[i].path;
    sj_status st = sj_check_outputs(outputs, n_out, paths, (int)r->n_inputs);
    free(paths);
    return st;
}
