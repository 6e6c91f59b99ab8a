/* util.c - growable arrays, atomic file replacement, small helpers. */
#define _GNU_SOURCE /* sync_file_range */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

sj_status sj_grow(void **buf, int64_t *cap, int64_t need, size_t elem_size)
{
    if (need <= *cap)
        return SJ_OK;
    int64_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*buf, (size_t)ncap * elem_size);
    if (!p)
        return sj_fail(SJ_ERR_NOMEM, "out of memory growing an array to %lld elements",
                       (long long)ncap);
    *buf = p;
    *cap = ncap;
    return SJ_OK;
}

sj_status sj_atomic_begin(sj_atomic_file *f, const char *final_path)
{
    static _Atomic unsigned counter;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (strlen(final_path) >= sizeof f->final_path - 64)
        return sj_fail(SJ_ERR_ARG, "%s: path too long", final_path);
    strcpy(f->final_path, final_path);
    char dir_buf[4096], base_buf[4096];
    strcpy(dir_buf, final_path);
    strcpy(base_buf, final_path);
    const char *dir = dirname(dir_buf);
    const char *base = basename(base_buf);
    /* 0640 & ~umask: the process umask still applies; world bits never set.
     * O_EXCL: a file or symlink already at the temp name is never followed
     * or truncated; the next name is tried. */
    for (int attempt = 0; f->fd < 0 && attempt < 100; attempt++) {
        snprintf(f->temp_path, sizeof f->temp_path, "%s/.%s.tmp.%ld.%u", dir, base, (long)getpid(),
                 counter++);
        f->fd = open(f->temp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (f->fd < 0 && errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        sj_status st = sj_fail(SJ_ERR_IO, "%s: cannot create output: %s", final_path,
                               strerror(errno));
        f->temp_path[0] = 0;
        return st;
    }
    return SJ_OK;
}

FILE *sj_atomic_stream(sj_atomic_file *f)
{
    int fd = dup(f->fd);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!fp) {
        sj_fail(SJ_ERR_IO, "%s: cannot write: %s", f->final_path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return fp;
}

void sj_atomic_fd_path(const sj_atomic_file *f, char *buf, size_t size)
{
    snprintf(buf, size, "/dev/fd/%d", f->fd);
    if (access(buf, F_OK) != 0) /* a system without /dev/fd: Linux's own */
        snprintf(buf, size, "/proc/self/fd/%d", f->fd);
}

void sj_atomic_writeback(const sj_atomic_file *f)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (f->fd >= 0)
        (void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)f;
#endif
}

sj_status sj_atomic_commit(sj_atomic_file *f)
{
    int bad = fsync(f->fd) != 0;
    bad |= close(f->fd) != 0;
    f->fd = -1;
    if (bad) {
        sj_status st = sj_fail(SJ_ERR_IO, "%s: write error (disk full?): %s", f->final_path,
                               strerror(errno));
        sj_atomic_abort(f);
        return st;
    }
    if (rename(f->temp_path, f->final_path) != 0) {
        sj_status st = sj_fail(SJ_ERR_IO, "%s: cannot rename into place: %s", f->final_path,
                               strerror(errno));
        sj_atomic_abort(f);
        return st;
    }
    f->temp_path[0] = 0;
    char dir_buf[4096];
    strcpy(dir_buf, f->final_path);
    int dfd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the rename itself survives a crash */
        (void)fsync(dfd);
        close(dfd);
    }
    return SJ_OK;
}

void sj_atomic_abort(sj_atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->temp_path[0]) {
        unlink(f->temp_path);
        f->temp_path[0] = 0;
    }
}

/* Bits set in a word, without the POPCNT instruction (the library is built
 * for the baseline ISA, where __builtin_popcount is a libgcc call). */
static inline int popcount64(uint64_t x)
{
    x -= (x >> 1) & UINT64_C(0x5555555555555555);
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (int)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* The body of both: one built with the POPCNT instruction, one without. */
#define POPCOUNT_BYTES(count64)                                                                   \
    int c = 0;                                                                                    \
    size_t i = 0;                                                                                 \
    for (; i + 8 <= n; i += 8) {                                                                  \
        uint64_t w;                                                                               \
        memcpy(&w, p + i, 8);                                                                     \
        c += count64(w);                                                                          \
    }                                                                                             \
    for (; i < n; i++)                                                                            \
        c += count64(p[i]);                                                                       \
    return c;

__attribute__((target("popcnt"))) static int popcount_bytes_hw(const uint8_t *p, size_t n)
{
    POPCOUNT_BYTES(__builtin_popcountll)
}

int sj_popcount_bytes(const uint8_t *p, size_t n)
{
    if (__builtin_cpu_supports("popcnt")) /* (a join's degenerate check: 1 in 4 of its time) */
        return popcount_bytes_hw(p, n);
    POPCOUNT_BYTES(popcount64)
}

static inline uint64_t sort_key(const unsigned char *rec)
{
    int64_t id;
    memcpy(&id, rec, sizeof id);
    return (uint64_t)id ^ (UINT64_C(1) << 63); /* negative ids first */
}

sj_status sj_sort_by_id(void *rows, int64_t n, size_t size)
{
    unsigned char *v = rows;
    int64_t i = 1;
    while (i < n && sort_key(v + (size_t)(i - 1) * size) <= sort_key(v + (size_t)i * size))
        i++;
    if (i >= n) /* already in order (or n < 2) */
        return SJ_OK;
    int64_t (*count)[256] = calloc(8, sizeof *count);
    unsigned char *tmp = malloc((size_t)n * size);
    if (!count || !tmp) {
        free(count);
        free(tmp);
        return sj_fail(SJ_ERR_NOMEM, "out of memory sorting %lld ids", (long long)n);
    }
    for (i = 0; i < n; i++) { /* all 8 histograms in one pass */
        uint64_t k = sort_key(v + (size_t)i * size);
        for (int pos = 0; pos < 8; pos++)
            count[pos][(k >> (8 * pos)) & 0xff]++;
    }
    unsigned char *src = v, *dst = tmp;
    for (int pos = 0; pos < 8; pos++) {
        int64_t *c = count[pos];
        if (c[(sort_key(src) >> (8 * pos)) & 0xff] == n)
            continue; /* every key has the same byte here */
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) { /* counts -> first slot of each digit */
            int64_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (i = 0; i < n; i++) {
            const unsigned char *r = src + (size_t)i * size;
            memcpy(dst + (size_t)c[(sort_key(r) >> (8 * pos)) & 0xff]++ * size, r, size);
        }
        unsigned char *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * size);
    free(tmp);
    free(count);
    return SJ_OK;
}

/* ---- page faults of a fresh buffer on a second thread ---- */

struct sj_prefault {
    pthread_t thread;
    char *lo, *hi;    /* whole pages of the buffer */
    atomic_int filled; /* the caller is done: stop */
};

enum { PREFAULT_MIN = 4 << 20, PREFAULT_STEP = 512 << 10 };

static void *prefault_run(void *arg)
{
    sj_prefault *pf = arg;
#ifdef MADV_POPULATE_WRITE
    /* From the end, a step at a time, towards the caller filling it from
     * the start, until it is done. No byte is read or written: the kernel
     * only maps the pages. */
    for (char *end = pf->hi; end > pf->lo && !atomic_load(&pf->filled);) {
        char *start = end - pf->lo > PREFAULT_STEP ? end - PREFAULT_STEP : pf->lo;
        if (madvise(start, (size_t)(end - start), MADV_POPULATE_WRITE) != 0)
            break;
        end = start;
    }
#endif
    return NULL;
}

sj_prefault *sj_prefault_start(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    sj_prefault *pf = n >= PREFAULT_MIN && hi > lo ? malloc(sizeof *pf) : NULL;
    if (!pf)
        return NULL;
    pf->lo = (char *)lo;
    pf->hi = (char *)hi;
    atomic_init(&pf->filled, 0);
    if (pthread_create(&pf->thread, NULL, prefault_run, pf) == 0)
        return pf;
    free(pf);
#else
    (void)p, (void)n;
#endif
    return NULL;
}

void sj_prefault_wait(sj_prefault *pf)
{
    if (!pf)
        return;
    atomic_store(&pf->filled, 1);
    pthread_join(pf->thread, NULL);
    free(pf);
}

double sj_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t id_hash(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

sj_status sj_id_index_build(sj_id_index *ix, const int64_t *ids, int64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n)
        cap *= 2;
    ix->mask = cap - 1;
    ix->keys = malloc(cap * sizeof *ix->keys);
    ix->vals = malloc(cap * sizeof *ix->vals);
    if (!ix->keys || !ix->vals) {
        sj_id_index_free(ix);
        return sj_fail(SJ_ERR_NOMEM, "out of memory indexing %lld ids", (long long)n);
    }
    memset(ix->vals, 0xff, cap * sizeof *ix->vals); /* all -1 */
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = id_hash(ids[i]) & ix->mask;
        while (ix->vals[h] >= 0)
            h = (h + 1) & ix->mask;
        ix->keys[h] = ids[i];
        ix->vals[h] = i;
    }
    return SJ_OK;
}

int64_t sj_id_index_find(const sj_id_index *ix, int64_t id)
{
    for (uint64_t h = id_hash(id) & ix->mask;; h = (h + 1) & ix->mask) {
        if (ix->vals[h] < 0)
            return -1;
        if (ix->keys[h] == id)
            return ix->vals[h];
    }
}

void sj_id_index_free(sj_id_index *ix)
{
    free(ix->keys);
    free(ix->vals);
    ix->keys = ix->vals = NULL;
}

int64_t sj_search_i64(const int64_t *v, int64_t n, int64_t x)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x ? lo : -1;
}

int64_t sj_uf_find(int64_t *parent, int64_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

int sj_parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return 1;
    *out = v;
    return 0;
}

int sj_parse_size(const char *s, int64_t *out)
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
