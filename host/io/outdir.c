/* sj_outdir.c - a directory output committed as a whole (`report --out DIR`).
 *
 * The files are written into a new directory beside DIR (.NAME.tmp.PID.N,
 * 0750), which then takes DIR's place in one atomic step (renameat2 with
 * RENAME_EXCHANGE); the previous report is kept as DIR.prev (one
 * generation: an older DIR.prev is removed first). A crash or a full disk at
 * any point leaves DIR holding the complete old or the complete new report,
 * never a mix. Where the file system cannot exchange two names, DIR is
 * renamed to DIR.prev and the new report to DIR: a crash between the two
 * leaves no DIR, the old report in DIR.prev and the new one beside it.
 *
 * Only a report is ever moved aside or removed: an existing DIR (or DIR.prev)
 * must be empty or hold exactly the files its .simjoin-report lists (or, from
 * before this file existed, only the six report files). Anything else is
 * refused before a file is written, so a mistyped --out never moves someone's
 * directory away. Temporary directories left by a crashed run (their process
 * gone) are removed by the next run. */
#define _GNU_SOURCE /* renameat2 */
#include "io/outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER ".simjoin-report"

/* What `report` wrote before the marker existed. */
static const char *const legacy_files[] = {"triage.csv",    "triage.jsonl", "members.csv",
                                           "members.jsonl", "icse.csv",     "report.html"};

/* 1 if name is a line of the marker text (names, one per line). */
static int listed(const char *marker, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = marker; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, len) && (p[len] == '\n' || !p[len]))
            return 1;
    return 0;
}

/* 0 if dir is empty or holds a report only (see above); else -1 with the
 * first foreign entry's name in foreign. */
static int holds_report_only(const char *dir, char *foreign, size_t size)
{
    char path[PATH_MAX + 64], marker[8192] = "";
    snprintf(path, sizeof path, "%s/%s", dir, MARKER);
    int has_marker = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, marker, sizeof marker - 1);
        marker[got > 0 ? got : 0] = 0;
        has_marker = got > 0 && (size_t)got < sizeof marker - 1;
        close(fd);
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(foreign, size, "(unreadable: %s)", strerror(errno));
        return -1;
    }
    int ok = 1, legacy_triage = 0;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int known = 0;
        if (has_marker)
            known = !strcmp(e->d_name, MARKER) || listed(marker, e->d_name);
        else
            for (size_t k = 0; k < sizeof legacy_files / sizeof *legacy_files; k++)
                known |= !strcmp(e->d_name, legacy_files[k]);
        legacy_triage |= !strcmp(e->d_name, "triage.csv");
        ok = known && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        if (!ok)
            snprintf(foreign, size, "%s", e->d_name);
    }
    closedir(d);
    /* Without a marker only a directory with a triage.csv is a report. */
    if (ok && !has_marker && !legacy_triage) {
        d = opendir(dir);
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(foreign, size, "%s", e->d_name);
                ok = 0;
                break;
            }
        if (d)
            closedir(d);
    }
    return ok ? 0 : -1;
}

/* Remove every regular file in dir, then dir (which holds only files we
 * may remove: checked by the caller). 0 or -1 with errno. */
static int remove_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    char path[PATH_MAX + 64];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    return rmdir(dir);
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = d != NULL;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return empty;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Temporary directories of crashed runs for this DIR: .NAME.tmp.PID.N in
 * parent whose process is gone. Only regular files are removed. */
static void remove_stale_temps(const char *parent, const char *base)
{
    char prefix[NAME_MAX + 16];
    snprintf(prefix, sizeof prefix, ".%s.tmp.", base);
    size_t plen = strlen(prefix);
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        unsigned n;
        char path[PATH_MAX + 64];
        struct stat sb;
        if (strncmp(e->d_name, prefix, plen) || sscanf(e->d_name + plen, "%ld.%u", &pid, &n) != 2 ||
            pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_dir_files(path);
    }
    closedir(d);
}

sj_status sj_outdir_begin(sj_outdir *d, const char *dir)
{
    static unsigned counter;
    memset(d, 0, sizeof *d);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') /* "out/" is "out" */
        len--;
    if (len == 0 || len >= sizeof d->final - 64)
        return sj_fail(SJ_ERR_ARG, "--out '%s': not a usable directory name", dir);
    snprintf(d->final, sizeof d->final, "%.*s", (int)len, dir);
    struct stat sb;
    if (lstat(d->final, &sb) == 0 && S_ISLNK(sb.st_mode)) { /* replace the directory it names */
        char real[PATH_MAX];
        if (!realpath(d->final, real))
            return sj_fail(SJ_ERR_IO, "%s: a symbolic link to nowhere (%s)", d->final, strerror(errno));
        if (snprintf(d->final, sizeof d->final, "%s", real) >= (int)sizeof d->final)
            return sj_fail(SJ_ERR_ARG, "%s: path too long", real);
    }
    char foreign[NAME_MAX + 64];
    if (stat(d->final, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return sj_fail(SJ_ERR_IO, "%s: exists and is not a directory", d->final);
        if (holds_report_only(d->final, foreign, sizeof foreign))
            return sj_fail(SJ_ERR_IO, "%s holds '%s', which is not part of a simjoin report; the "
                                      "report replaces the whole directory: give a new or empty one",
                           d->final, foreign);
        d->exists = !dir_is_empty(d->final); /* an empty DIR is removed at the commit */
    } else if (errno != ENOENT) {
        return sj_fail(SJ_ERR_IO, "%s: %s", d->final, strerror(errno));
    }
    if (snprintf(d->prev, sizeof d->prev, "%s.prev", d->final) >= (int)sizeof d->prev)
        return sj_fail(SJ_ERR_ARG, "%s: path too long", d->final);
    if (lstat(d->prev, &sb) == 0 &&
        (!S_ISDIR(sb.st_mode) || holds_report_only(d->prev, foreign, sizeof foreign)))
        return sj_fail(SJ_ERR_IO, "%s is not a previous simjoin report (it holds '%s'); the "
                                  "previous report is kept there: move it away",
                       d->prev, S_ISDIR(sb.st_mode) ? foreign : "not a directory");
    char dir_buf[sizeof d->final], base_buf[sizeof d->final];
    snprintf(dir_buf, sizeof dir_buf, "%s", d->final);
    snprintf(base_buf, sizeof base_buf, "%s", d->final);
    const char *parent = dirname(dir_buf), *base = basename(base_buf);
    remove_stale_temps(parent, base);
    for (int attempt = 0;; attempt++) {
        int n = snprintf(d->temp, sizeof d->temp, "%s/.%s.tmp.%ld.%u", parent, base, (long)getpid(),
                         counter++);
        if (n < (int)sizeof d->temp && mkdir(d->temp, 0750) == 0) /* never follows a symlink */
            return SJ_OK;
        if (n >= (int)sizeof d->temp)
            errno = ENAMETOOLONG;
        if (errno != EEXIST || attempt == 100) {
            sj_status st = sj_fail(SJ_ERR_IO, "%s: cannot create a directory beside it: %s", d->final,
                                   strerror(errno));
            d->temp[0] = 0;
            return st;
        }
    }
}

/* The marker: the names of the report's files, one per line. */
static sj_status write_marker(sj_outdir *d)
{
    char path[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/%s", d->temp, MARKER) >= (int)sizeof path)
        return sj_fail(SJ_ERR_ARG, "%s: path too long", d->temp);
    DIR *dd = opendir(d->temp);
    if (!dd)
        return sj_fail(SJ_ERR_IO, "%s: %s", d->temp, strerror(errno));
    sj_text_file t;
    sj_status st = sj_text_open(&t, path);
    if (!st) {
        struct dirent *e;
        while ((e = readdir(dd)))
            if (e->d_name[0] != '.')
                fprintf(t.fp, "%s\n", e->d_name);
        st = sj_text_close(&t, 1);
    }
    closedir(dd);
    return st;
}

sj_status sj_outdir_commit(sj_outdir *d)
{
    sj_status st = write_marker(d);
    if (st) {
        sj_outdir_abort(d);
        return st;
    }
    fsync_dir(d->temp);
    sj_fault_step("report written, not in place");
    if (!d->exists) {
        struct stat sb;
        if (stat(d->final, &sb) == 0 && rmdir(d->final) != 0) { /* it was empty at the start */
            st = sj_fail(SJ_ERR_IO, "%s: cannot replace it: %s", d->final, strerror(errno));
            sj_outdir_abort(d);
            return st;
        }
        if (rename(d->temp, d->final) != 0) {
            st = sj_fail(SJ_ERR_IO, "%s: cannot rename the report into place: %s", d->final,
                         strerror(errno));
            sj_outdir_abort(d);
            return st;
        }
    } else {
        struct stat sb;
        char foreign[NAME_MAX + 64];
        if (lstat(d->prev, &sb) == 0 &&
            (holds_report_only(d->prev, foreign, sizeof foreign) || remove_dir_files(d->prev) != 0)) {
            st = sj_fail(SJ_ERR_IO, "%s: cannot remove the report before the previous one: %s",
                         d->prev, strerror(errno));
            sj_outdir_abort(d);
            return st;
        }
        sj_fault_step("older previous report removed");
        if (renameat2(AT_FDCWD, d->temp, AT_FDCWD, d->final, RENAME_EXCHANGE) == 0) {
            sj_fault_step("report exchanged into place");
            if (rename(d->temp, d->prev) != 0) /* the new report is in place all the same */
                snprintf(d->notice, sizeof d->notice,
                         "report: the previous report stays at %s (cannot rename it to %s: %s)",
                         d->temp, d->prev, strerror(errno));
        } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
            if (rename(d->final, d->prev) != 0) {
                st = sj_fail(SJ_ERR_IO, "%s: cannot move the previous report to %s: %s", d->final,
                             d->prev, strerror(errno));
                sj_outdir_abort(d);
                return st;
            }
            sj_fault_step("previous report moved aside");
            if (rename(d->temp, d->final) != 0) {
                st = sj_fail(SJ_ERR_IO, "%s: cannot rename the report into place (the previous "
                                        "one is %s): %s", d->final, d->prev, strerror(errno));
                sj_outdir_abort(d);
                return st;
            }
        } else {
            st = sj_fail(SJ_ERR_IO, "%s: cannot exchange the report into place: %s", d->final,
                         strerror(errno));
            sj_outdir_abort(d);
            return st;
        }
    }
    d->temp[0] = 0;
    char dir_buf[sizeof d->final];
    snprintf(dir_buf, sizeof dir_buf, "%s", d->final);
    fsync_dir(dirname(dir_buf));
    sj_fault_step("report committed");
    return SJ_OK;
}

void sj_outdir_abort(sj_outdir *d)
{
    if (d->temp[0])
        remove_dir_files(d->temp);
    d->temp[0] = 0;
}
