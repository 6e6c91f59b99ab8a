/* outputs.h - text outputs, directory outputs, and outputs never over inputs
 * (outputs.c, outdir.c). */
#ifndef SIMJOIN_IO_OUTPUTS_H
#define SIMJOIN_IO_OUTPUTS_H

#include "core/internal.h"
#include "simjoin/formats.h"

#include <stdio.h>

/* Write a text output to path (temp + rename, 0640) or stdout when path is
 * NULL or "-". sj_text_open returns the stream; sj_text_close commits. */
typedef struct sj_text_file {
    FILE *fp;
    sj_atomic_file af;
    int to_stdout;
} sj_text_file;
sj_status sj_text_open(sj_text_file *t, const char *path);
sj_status sj_text_close(sj_text_file *t, int ok);

/* Outputs never overwrite inputs: SJ_ERR_IO (exit 1) naming both paths when
 * one of outputs[n_out] is the same file as one of inputs[n_in], or as
 * another output, compared by device and inode (symlinks, hard links and
 * ./ spellings alike; an output not yet there by its directory and name).
 * NULL and "-" (stdout, stdin) entries are skipped. Call before writing. */
sj_status sj_check_outputs(const char *const *outputs, int n_out, char *const *inputs, int n_in);
/* The same against the input shards a pairs file records (the join's). */
sj_status sj_check_outputs_vs_join(const char *const *outputs, int n_out, const sj_join_result *r);
/* SJ_ERR_IO naming both when one of paths[n] lies inside directory dir
 * (symlinks resolved), which the command replaces or cleans up (why). */
sj_status sj_check_not_inside(const char *dir, char *const *paths, int n, const char *why);

/* A directory output committed as a whole (sj_outdir.c): files are written
 * into temp (beside DIR), then swapped in for DIR; the previous one is kept
 * as DIR.prev. begin refuses a DIR that holds anything but a report. */
typedef struct sj_outdir {
    char final[4000]; /* DIR (a symlink: the directory it names) */
    char prev[4096];  /* DIR.prev */
    char temp[4096];  /* write the files here; "" once committed or aborted */
    int exists;       /* DIR was there with a report: it becomes DIR.prev */
    char notice[8400]; /* after commit: what the caller should tell ("" if nothing) */
} sj_outdir;
sj_status sj_outdir_begin(sj_outdir *d, const char *dir);
sj_status sj_outdir_commit(sj_outdir *d); /* aborts on failure */
void sj_outdir_abort(sj_outdir *d);
#endif
