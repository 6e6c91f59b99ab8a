/* image_hash.c - files -> hashes: input expansion (files, directories,
 * @LIST), reading with MD5/SHA-1 (libcrypto), decoding, hashing, on every
 * core with results in input order. */
#define _GNU_SOURCE
#include "image/image_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

sj_status sj_image_hash_parse(const char *text, sj_image_hash *out)
{
    if (!strcmp(text, "pdq"))
        *out = SJ_IMAGE_PDQ;
    else if (!strcmp(text, "phash"))
        *out = SJ_IMAGE_PHASH;
    else if (!strcmp(text, "dhash"))
        *out = SJ_IMAGE_DHASH;
    else
        return sj_fail(SJ_ERR_ARG, "unknown image hash '%s' (pdq, phash or dhash)", text);
    return SJ_OK;
}

const char *sj_image_hash_name(sj_image_hash h)
{
    return h == SJ_IMAGE_PDQ ? "pdq" : h == SJ_IMAGE_PHASH ? "phash" : h == SJ_IMAGE_DHASH ? "dhash" : "?";
}

uint32_t sj_image_hash_bytes(sj_image_hash h) { return h == SJ_IMAGE_PDQ ? 32 : 8; }

void sj_image_options_defaults(sj_image_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = SJ_IMAGE_PDQ;
}

/* ---- inputs ---------------------------------------------------------------- */

typedef struct path_list {
    char **v;
    int64_t n, cap;
} path_list;

static sj_status push(path_list *l, const char *p)
{
    sj_status st = sj_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v);
    if (st)
        return st;
    if (!(l->v[l->n] = strdup(p)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    l->n++;
    return SJ_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static sj_status walk(path_list *l, const char *dir, int depth)
{
    if (depth > 64)
        return sj_fail(SJ_ERR_LIMIT, "%s: directories nested deeper than 64", dir);
    DIR *d = opendir(dir);
    if (!d)
        return sj_fail(SJ_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    path_list names = {0};
    sj_status st = SJ_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            st = push(&names, e->d_name);
    closedir(d);
    if (!st)
        qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_name);
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    for (int64_t i = 0; i < names.n && !st; i++) {
        char *full = NULL;
        if (asprintf(&full, "%s%s%s", dir, slash ? "" : "/", names.v[i]) < 0) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat ls, ts;
        if (lstat(full, &ls) == 0) {
            if (S_ISDIR(ls.st_mode))
                st = walk(l, full, depth + 1);
            else if (S_ISREG(ls.st_mode) || (S_ISLNK(ls.st_mode) && stat(full, &ts) == 0 &&
                                             S_ISREG(ts.st_mode)))
                st = push(l, full);
            /* other kinds (sockets, fifos, links to directories) are skipped */
        }
        free(full);
    }
    sj_image_paths_free(names.v, names.n);
    return st;
}

static sj_status add_input(path_list *l, const char *in, int depth)
{
    if (in[0] == '@') {
        if (depth > 0)
            return sj_fail(SJ_ERR_ARG, "%s: a list may not name another @list", in + 1);
        FILE *fp = fopen(in + 1, "r");
        if (!fp)
            return sj_fail(SJ_ERR_IO, "%s: cannot open list: %s", in + 1, strerror(errno));
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        sj_status st = SJ_OK;
        while (!st && (len = getline(&line, &cap, fp)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len > 0)
                st = add_input(l, line, depth + 1);
        }
        free(line);
        fclose(fp);
        return st;
    }
    struct stat s;
    if (stat(in, &s) == 0 && S_ISDIR(s.st_mode))
        return walk(l, in, 0);
    return push(l, in); /* a missing file is reported per file, not here */
}

sj_status sj_image_expand_inputs(const char *const *inputs, int n_inputs, char ***paths,
                                 int64_t *n_paths)
{
    path_list l = {0};
    sj_status st = SJ_OK;
    for (int i = 0; i < n_inputs && !st; i++)
        st = add_input(&l, inputs[i], 0);
    if (st) {
        sj_image_paths_free(l.v, l.n);
        return st;
    }
    *paths = l.v;
    *n_paths = l.n;
    return SJ_OK;
}

void sj_image_paths_free(char **paths, int64_t n)
{
    for (int64_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

/* ---- one file ------------------------------------------------------------------ */

static void set_reason(sj_image_result *r, const char *why)
{
    r->ok = 0;
    snprintf(r->reason, sizeof r->reason, "%s", why);
}

/* Read a whole regular file. */
static int read_file(const char *path, int64_t max_bytes, uint8_t **data, size_t *size,
                     sj_image_result *r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        set_reason(r, errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied"
                                                                         : "cannot open");
        return -1;
    }
    struct stat s;
    if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode)) {
        close(fd);
        set_reason(r, "not a regular file");
        return -1;
    }
    r->bytes = s.st_size;
    if (s.st_size > max_bytes) {
        close(fd);
        set_reason(r, "file too large");
        return -1;
    }
    uint8_t *buf = malloc((size_t)s.st_size + 1);
    if (!buf) {
        close(fd);
        set_reason(r, "out of memory");
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)s.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)s.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != (size_t)s.st_size) {
        free(buf);
        set_reason(r, "read error");
        return -1;
    }
    *data = buf;
    *size = got;
    return 0;
}

static void digests(const uint8_t *data, size_t size, sj_image_result *r)
{
    unsigned len = 0;
    r->digests = EVP_Digest(data, size, r->md5, &len, EVP_md5(), NULL) == 1 && len == 16 &&
                 EVP_Digest(data, size, r->sha1, &len, EVP_sha1(), NULL) == 1 && len == 20;
}

/* What one thread keeps from file to file: buffers whose fresh pages would
 * cost more than the work on them. */
typedef struct hash_worker {
    sj_image im;
    sj_pdq_scratch pdq;
} hash_worker;

static void worker_free(hash_worker *w)
{
    sj_image_release(&w->im);
    sj_pdq_scratch_free(&w->pdq);
}

static sj_status hash_file_timed(const char *path, const sj_image_options *o, sj_image_result *r,
                                 uint8_t (*dihedral)[32], hash_worker *w, double times[3])
{
    memset(r, 0, sizeof *r);
    r->quality = -1;
    uint8_t *data = NULL;
    size_t size = 0;
    if (read_file(path, o->max_file_bytes > 0 ? o->max_file_bytes : (int64_t)1 << 30, &data, &size, r))
        return SJ_OK;
    digests(data, size, r);
    double t0 = omp_get_wtime();
    sj_image *im = &w->im;
    /* pHash/dHash follow PIL's full-size pixels exactly: never reduced */
    int min_side = o->kind == SJ_IMAGE_PDQ ? o->reduced_min_side : 0;
    sj_status st = sj_image_decode(data, size, min_side, o->max_pixels, im);
    free(data);
    if (times)
        times[0] += omp_get_wtime() - t0;
    if (st) {
        set_reason(r, sj_last_error());
        return SJ_OK;
    }
    r->width = im->width;
    r->height = im->height;
    if (o->kind == SJ_IMAGE_PDQ) {
        st = sj_pdq_hash_timed(im, r->hash, &r->quality, o->dihedral ? dihedral : NULL, &w->pdq,
                               times ? times + 1 : NULL);
    } else {
        double t1 = omp_get_wtime();
        st = o->kind == SJ_IMAGE_PHASH ? sj_phash_hash(im, r->hash) : sj_dhash_hash(im, r->hash);
        if (times)
            times[1] += omp_get_wtime() - t1;
    }
    if (st) {
        set_reason(r, sj_last_error());
        return SJ_OK;
    }
    r->ok = 1;
    return SJ_OK;
}

sj_status sj_image_hash_file(const char *path, const sj_image_options *o, sj_image_result *r,
                             uint8_t (*dihedral)[32])
{
    hash_worker w = {0};
    sj_status st = hash_file_timed(path, o, r, dihedral, &w, NULL);
    worker_free(&w);
    return st;
}

sj_status sj_hash_images(const char *const *paths, int64_t n, const sj_image_options *o,
                         sj_image_result *results, uint8_t (*dihedral)[8][32], double times[3])
{
    if (o->kind != SJ_IMAGE_PDQ && o->kind != SJ_IMAGE_PHASH && o->kind != SJ_IMAGE_DHASH)
        return sj_fail(SJ_ERR_ARG, "sj_hash_images: unknown hash kind");
    if (o->dihedral && (o->kind != SJ_IMAGE_PDQ || !dihedral))
        return sj_fail(SJ_ERR_ARG, "dihedral hashes are for pdq (and need an output array)");
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    int64_t done = 0;
    double t_all[3] = {0, 0, 0};
#pragma omp parallel num_threads(threads)
    {
        double t_mine[3] = {0, 0, 0};
        hash_worker worker = {0}; /* this thread's buffers, reused for every file */
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) {
            /* a file's failure (even out of memory) is its result's reason */
            (void)hash_file_timed(paths[i], o, &results[i], o->dihedral ? dihedral[i] : NULL,
                                  &worker, t_mine);
            int64_t d = __atomic_add_fetch(&done, 1, __ATOMIC_RELAXED);
            if (o->progress && omp_get_thread_num() == 0)
                o->progress(o->progress_user, d, n);
        }
        worker_free(&worker);
#pragma omp critical(sj_image_times)
        for (int k = 0; k < 3; k++)
            t_all[k] += t_mine[k];
    }
    if (o->progress)
        o->progress(o->progress_user, n, n);
    if (times)
        for (int k = 0; k < 3; k++)
            times[k] = t_all[k];
    return SJ_OK;
}
