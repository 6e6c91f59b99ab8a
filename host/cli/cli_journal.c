/* cli_journal.c - progress journal for `simjoin join --resume`.
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
 * Format: a text line "simjoin-journal 1 SIGNATURE\n", then records
 *   int64 unit, int64 n, n x sj_pair, uint64 (unit ^ n ^ JOURNAL_MAGIC)
 * in this machine's byte order; a torn last record is dropped. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_MAGIC 0x53494d4a4f494eULL

static int cmp_unit(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

sj_status cli_journal_open(cli_journal *j, const char *out, const char *signature, int resume)
{
    memset(j, 0, sizeof *j);
    char d[4096], b[4096];
    snprintf(d, sizeof d, "%s", out);
    snprintf(b, sizeof b, "%s", out);
    snprintf(j->path, sizeof j->path, "%s/.%s.journal", dirname(d), basename(b));
    char header[256];
    snprintf(header, sizeof header, "simjoin-journal 1 %s\n", signature);
    FILE *fp = resume ? fopen(j->path, "r+b") : NULL;
    if (resume && !fp)
        cli_notice("join: no journal to resume from (%s); starting from the beginning", j->path);
    if (fp) {
        char line[256];
        if (!fgets(line, sizeof line, fp) || strcmp(line, header) != 0) {
            fclose(fp);
            return sj_fail(SJ_ERR_ARG, "%s: the journal belongs to another join (inputs or options "
                                       "differ); run without --resume to start again", j->path);
        }
        long good = ftell(fp);
        for (;;) {
            int64_t unit, n;
            uint64_t check;
            if (fread(&unit, sizeof unit, 1, fp) != 1 || fread(&n, sizeof n, 1, fp) != 1 || n < 0)
                break;
            sj_status st = sj_grow((void **)&j->saved.v, &j->saved.capacity, j->saved.n + SJ_MAX(n, 1),
                                   sizeof *j->saved.v);
            if (st) {
                fclose(fp);
                return st;
            }
            if ((int64_t)fread(j->saved.v + j->saved.n, sizeof(sj_pair), (size_t)n, fp) != n ||
                fread(&check, sizeof check, 1, fp) != 1 ||
                check != ((uint64_t)unit ^ (uint64_t)n ^ JOURNAL_MAGIC))
                break; /* a torn record: the run died while writing it */
            j->saved.n += n;
            if ((st = sj_grow((void **)&j->units, &j->cap_units, j->n_units + 1, sizeof *j->units))) {
                fclose(fp);
                return st;
            }
            j->units[j->n_units++] = unit;
            good = ftell(fp);
        }
        if (ftruncate(fileno(fp), good) != 0 || fseek(fp, good, SEEK_SET) != 0) {
            fclose(fp);
            return sj_fail(SJ_ERR_IO, "%s: cannot trim the journal: %s", j->path, strerror(errno));
        }
        if (j->n_units)
            qsort(j->units, (size_t)j->n_units, sizeof *j->units, cmp_unit);
        j->fp = fp;
    } else {
        int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0 || !(j->fp = fdopen(fd, "wb"))) {
            if (fd >= 0)
                close(fd);
            return sj_fail(SJ_ERR_IO, "%s: cannot create the journal: %s", j->path, strerror(errno));
        }
        fputs(header, j->fp);
        fflush(j->fp);
    }
    j->last_sync = sj_now();
    return SJ_OK;
}

int cli_journal_skip(void *user, int64_t unit)
{
    const cli_journal *j = user;
    return j->n_units > 0 &&
           bsearch(&unit, j->units, (size_t)j->n_units, sizeof *j->units, cmp_unit) != NULL;
}

sj_status cli_journal_done(void *user, int64_t unit, const sj_pair *pairs, int64_t n)
{
    cli_journal *j = user;
    uint64_t check = (uint64_t)unit ^ (uint64_t)n ^ JOURNAL_MAGIC;
    if (fwrite(&unit, sizeof unit, 1, j->fp) != 1 || fwrite(&n, sizeof n, 1, j->fp) != 1 ||
        (int64_t)fwrite(pairs, sizeof *pairs, (size_t)n, j->fp) != n ||
        fwrite(&check, sizeof check, 1, j->fp) != 1 || fflush(j->fp) != 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot write the journal (disk full?)", j->path);
    if (sj_now() - j->last_sync > 5) { /* survive power loss too, every few seconds */
        (void)fsync(fileno(j->fp));
        j->last_sync = sj_now();
    }
    return SJ_OK;
}

void cli_journal_close(cli_journal *j, int remove_it)
{
    if (j->fp)
        fclose(j->fp);
    j->fp = NULL;
    if (remove_it && j->path[0])
        unlink(j->path);
    free(j->units);
    sj_pairs_free(&j->saved);
    j->units = NULL;
    j->n_units = j->cap_units = 0;
}
