/* sj_journal.c - progress journal for `simjoin join --resume`.
 *
 * Beside the output, .NAME.journal records each finished work unit (a query
 * block against a corpus chunk) with its pairs, appended and flushed as the
 * unit ends (fsync at most every few seconds). A killed run leaves the
 * journal (a run that fails with an error removes it: resuming would fail
 * the same way); `--resume` checks that it belongs to the same join (a signature of
 * the inputs and options), keeps its complete records, skips those units
 * and adds their pairs, so no pair is lost or counted twice. The journal is
 * removed when the output is committed.
 *
 * Format: a text line "simjoin-journal 2 SIGNATURE\n", then records
 *   int64 unit, int64 n, n x sj_pair, uint64 check
 * (sj_pair: int64 a, int64 b, float64 distance, int32 transform, 4 zero
 * bytes),
 * in this machine's byte order. check: the first 8 bytes of the SHA-256 of
 * (the previous record's check, or the header line for the first record;
 * unit; n; the pairs), so a record is bound to its place and to this join.
 *
 * The file is opened without following a symbolic link (O_NOFOLLOW; created
 * with O_EXCL) and locked (flock) while the join runs, so a second join on
 * the same output fails instead of sharing it. On --resume, reading stops
 * at the first record that is torn (a kill), has a count larger than the
 * rest of the file, a wrong check (damage, a zero-filled tail after a power
 * loss, an edited file), a unit seen before, or a pair the join cannot have
 * written (not a < b, an id not among the inputs, a distance not finite or
 * over the threshold): that record and every one after it are dropped and
 * their units computed again, so the output is the same as an uninterrupted
 * run's (docs/bad-inputs.md). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "io/journal.h"
#include "core/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_unit(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The first 8 bytes of a finished SHA-256, as a number. */
static uint64_t digest8(sj_sha256 *s)
{
    char hex[65];
    sj_sha256_hex(s, hex);
    hex[16] = 0;
    return strtoull(hex, NULL, 16);
}

/* A record's check: SHA-256(prev, unit, n, pairs), first 8 bytes. */
static uint64_t record_check(uint64_t prev, int64_t unit, int64_t n, const sj_pair *pairs)
{
    sj_sha256 s;
    sj_sha256_init(&s);
    sj_sha256_update(&s, &prev, sizeof prev);
    sj_sha256_update(&s, &unit, sizeof unit);
    sj_sha256_update(&s, &n, sizeof n);
    if (n > 0)
        sj_sha256_update(&s, pairs, (size_t)n * sizeof *pairs);
    return digest8(&s);
}

/* Why the pairs of a record cannot be the join's (NULL: they can). */
static const char *pairs_invalid(const sj_journal_rule *rule, const sj_pair *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(p[i].a < p[i].b))
            return "a pair not in order (a < b)";
        if (sj_search_i64(rule->ids, rule->n_ids, p[i].a) < 0 ||
            sj_search_i64(rule->ids, rule->n_ids, p[i].b) < 0)
            return "an id that is not among the inputs";
        if (!isfinite(p[i].distance) || !(p[i].distance <= rule->threshold))
            return "a distance that is not finite or is over the threshold";
    }
    return NULL;
}

/* Opens (never through a symbolic link) or creates (O_EXCL) the journal and
 * locks it; *existed: it was there before. */
static sj_status open_locked(const char *path, int *fd_out, int *existed)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        *existed = 1;
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            *existed = 0;
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
            if (fd < 0 && errno == EEXIST)
                continue; /* created by another process meanwhile: open that one */
        }
        if (fd < 0 && errno == ELOOP)
            return sj_fail(SJ_ERR_IO, "%s: the journal is a symbolic link; simjoin does not follow "
                                      "it (remove it and run again)", path);
        if (fd < 0)
            return sj_fail(SJ_ERR_IO, "%s: cannot %s the journal: %s", path, *existed ? "open" : "create",
                           strerror(errno));
        struct stat fs, ps;
        if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode)) {
            close(fd);
            return sj_fail(SJ_ERR_IO, "%s: the journal is not a regular file (remove it and run again)",
                           path);
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int busy = errno == EWOULDBLOCK;
            close(fd);
            if (busy)
                return sj_fail(SJ_ERR_IO, "%s: the journal is locked: another join is writing the same "
                                          "output; wait for it or choose another --out", path);
            return sj_fail(SJ_ERR_IO, "%s: cannot lock the journal: %s", path, strerror(errno));
        }
        /* still the file at this name (another join may have removed it meanwhile) */
        if (lstat(path, &ps) == 0 && ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino) {
            *fd_out = fd;
            return SJ_OK;
        }
        close(fd);
    }
    return sj_fail(SJ_ERR_IO, "%s: the journal keeps changing while it is opened (another join on the "
                              "same output?)", path);
}

/* Reads the records after the header, keeping the valid ones (see the top). */
static sj_status read_records(sj_journal *j, FILE *fp, off_t size, const sj_journal_rule *rule)
{
    off_t good = ftello(fp);
    int64_t record = 0;
    const char *why = NULL;
    for (;; record++) {
        int64_t unit, n;
        uint64_t check;
        if (fread(&unit, sizeof unit, 1, fp) != 1 || fread(&n, sizeof n, 1, fp) != 1)
            break; /* the end, or a torn record */
        off_t left = size - ftello(fp);
        if (n < 0 || (uint64_t)n > (uint64_t)left / sizeof(sj_pair)) {
            if (n < 0 || (uint64_t)n > (uint64_t)INT64_MAX / sizeof(sj_pair))
                why = "an impossible pair count";
            break; /* more pairs than the file holds: torn, or damaged */
        }
        sj_status st = sj_grow((void **)&j->saved.v, &j->saved.capacity, j->saved.n + SJ_MAX(n, 1),
                               sizeof *j->saved.v);
        if (st)
            return st;
        sj_pair *pairs = j->saved.v + j->saved.n;
        if ((int64_t)fread(pairs, sizeof *pairs, (size_t)n, fp) != n || fread(&check, sizeof check, 1, fp) != 1)
            break; /* a torn record: the run died while writing it */
        if (check != record_check(j->chain, unit, n, pairs)) {
            why = "a wrong checksum";
            break;
        }
        int64_t *seen = j->n_units ? bsearch(&unit, j->units, (size_t)j->n_units, sizeof *j->units, cmp_unit)
                                   : NULL;
        if (seen) {
            why = "a work unit recorded twice";
            break;
        }
        if ((why = pairs_invalid(rule, pairs, n)))
            break;
        if ((st = sj_grow((void **)&j->units, &j->cap_units, j->n_units + 1, sizeof *j->units)))
            return st;
        int64_t k = j->n_units++; /* insert in order */
        while (k > 0 && j->units[k - 1] > unit) {
            j->units[k] = j->units[k - 1];
            k--;
        }
        j->units[k] = unit;
        if (rule->restore) { /* handed on: the buffer is reused for the next record */
            if ((st = rule->restore(rule->restore_user, unit, pairs, n)))
                return st;
            j->restored += n;
        } else {
            j->saved.n += n;
        }
        j->chain = check;
        good = ftello(fp);
    }
    if (why) /* damage or tampering: said even under --quiet */
        snprintf(j->warning, sizeof j->warning, "join: %s: record %lld has %s; it and the records "
                 "after it are ignored and their work is done again", j->path, (long long)record + 1, why);
    if (fflush(fp) != 0 || ftruncate(fileno(fp), good) != 0 || fseeko(fp, good, SEEK_SET) != 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot trim the journal: %s", j->path, strerror(errno));
    return SJ_OK;
}

sj_status sj_journal_open(sj_journal *j, const char *out, const char *signature, int resume,
                           const sj_journal_rule *rule)
{
    memset(j, 0, sizeof *j);
    char d[4096], b[4096];
    snprintf(d, sizeof d, "%s", out);
    snprintf(b, sizeof b, "%s", out);
    snprintf(j->path, sizeof j->path, "%s/.%s.journal", dirname(d), basename(b));
    char header[256];
    snprintf(header, sizeof header, "simjoin-journal 2 %s\n", signature);
    sj_sha256 hs;
    sj_sha256_init(&hs);
    sj_sha256_update(&hs, header, strlen(header));
    j->chain = digest8(&hs);
    int fd = -1, existed = 0;
    sj_status st = open_locked(j->path, &fd, &existed);
    if (st)
        return st;
    FILE *fp = fdopen(fd, "r+b");
    if (!fp) {
        close(fd);
        return sj_fail(SJ_ERR_IO, "%s: cannot open the journal: %s", j->path, strerror(errno));
    }
    struct stat fs;
    if (existed && fstat(fd, &fs) == 0 && fs.st_size == 0)
        existed = 0; /* killed before its header was written: nothing done yet */
    if (resume && !existed)
        snprintf(j->notice, sizeof j->notice,
                 "join: no journal to resume from (%s); starting from the beginning", j->path);
    if (resume && existed) {
        char line[256];
        if (!fgets(line, sizeof line, fp) || strcmp(line, header) != 0) {
            fclose(fp); /* kept: it may be another join's progress */
            return sj_fail(SJ_ERR_ARG, "%s: the journal belongs to another join (inputs or options "
                                       "differ, or an older simjoin); run without --resume to start again",
                           j->path);
        }
        if (fstat(fd, &fs) != 0 || (st = read_records(j, fp, fs.st_size, rule))) {
            fclose(fp);
            free(j->units);
            sj_pairs_free(&j->saved);
            memset(j, 0, sizeof *j);
            return st ? st : sj_fail(SJ_ERR_IO, "%s: cannot read the journal", out);
        }
    } else if (ftruncate(fd, 0) != 0 || fputs(header, fp) == EOF || fflush(fp) != 0) {
        fclose(fp);
        unlink(j->path);
        return sj_fail(SJ_ERR_IO, "%s: cannot write the journal: %s", j->path, strerror(errno));
    }
    j->fp = fp;
    j->last_sync = sj_now();
    return SJ_OK;
}

int sj_journal_skip(void *user, int64_t unit)
{
    const sj_journal *j = user;
    return j->n_units > 0 &&
           bsearch(&unit, j->units, (size_t)j->n_units, sizeof *j->units, cmp_unit) != NULL;
}

sj_status sj_journal_done(void *user, int64_t unit, const sj_pair *given, int64_t n)
{
    sj_journal *j = user;
    /* Copied field by field into zeroed memory: sj_pair's padding is not
     * the caller's to fill, and the bytes written and checked must be ours. */
    sj_pair *pairs = calloc((size_t)SJ_MAX(n, 1), sizeof *pairs);
    if (!pairs)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        pairs[i].a = given[i].a;
        pairs[i].b = given[i].b;
        pairs[i].distance = given[i].distance;
        pairs[i].transform = given[i].transform;
    }
    uint64_t check = record_check(j->chain, unit, n, pairs);
    if (fwrite(&unit, sizeof unit, 1, j->fp) != 1 || fwrite(&n, sizeof n, 1, j->fp) != 1 ||
        (int64_t)fwrite(pairs, sizeof *pairs, (size_t)n, j->fp) != n ||
        fwrite(&check, sizeof check, 1, j->fp) != 1 || fflush(j->fp) != 0) {
        free(pairs);
        return sj_fail(SJ_ERR_IO, "%s: cannot write the journal (disk full?)", j->path);
    }
    free(pairs);
    j->chain = check;
    if (sj_now() - j->last_sync > 5) { /* survive power loss too, every few seconds */
        (void)fsync(fileno(j->fp));
        j->last_sync = sj_now();
    }
    return SJ_OK;
}

void sj_journal_close(sj_journal *j, int remove_it)
{
    if (j->fp && remove_it)
        unlink(j->path); /* while still locked: no other join can have taken it over */
    if (j->fp)
        fclose(j->fp); /* releases the lock */
    j->fp = NULL;
    free(j->units);
    sj_pairs_free(&j->saved);
    j->units = NULL;
    j->n_units = j->cap_units = 0;
}
