/* pair_spill.h - a join's pairs under a memory budget: an external sort
 * (pair_spill.c).
 *
 * Pairs are added unit by unit as the join finds them. They are held in a
 * buffer of run_pairs pairs; when it is full it is put in canonical order
 * (sj_pairs_canonicalize, or sj_pairs_canonicalize_min for dihedral joins)
 * and written to a run file in the output's directory. At the end the runs
 * are merged (k-way) into one stream in the order the in-memory path gives,
 * which pairs_io.c writes into the pairs file piece by piece. When nothing
 * had to be written to disk the buffer is handed back as plain sj_pairs and
 * the join goes on as without a budget.
 *
 * Run files: created with O_EXCL | O_NOFOLLOW, mode 0600, and unlinked at
 * once, so they have no name while the join runs and vanish with the last
 * descriptor: on success, on failure and on any signal, SIGKILL included.
 * Format: raw sj_pair records in this machine's byte order (never kept).
 *
 * Memory: the buffer (run_pairs x 32 bytes) and the sort's scratch copy of
 * the same size while a run is written; the merge reads every run through a
 * buffer of its own, merge_bytes in all. One sink per join; not thread-safe
 * (the scheduler calls unit_done under a lock). */
#ifndef SIMJOIN_IO_PAIR_SPILL_H
#define SIMJOIN_IO_PAIR_SPILL_H

#include "core/internal.h"

typedef struct sj_pair_spill sj_pair_spill;

/* Whether a pair is kept (join --cross-only); NULL keeps all. */
typedef int (*sj_pair_keep_fn)(void *user, const sj_pair *p);

typedef struct sj_pair_spill_options {
    const char *dir;       /* where run files are made (the output's directory); borrowed */
    int64_t run_pairs;     /* pairs held before a run is written, >= 1 */
    int64_t merge_bytes;   /* read buffers of the merge, in all (0: as much as the buffer) */
    int fan_in;            /* most runs merged at once; more are merged in passes (0: 64) */
    int dihedral;          /* repeats keep the nearest copy (1) or are SJ_ERR_INTERNAL (0) */
    sj_pair_keep_fn keep;  /* optional filter, applied as pairs are added */
    void *keep_user;
} sj_pair_spill_options;

sj_status sj_pair_spill_create(const sj_pair_spill_options *o, sj_pair_spill **out);
/* Remove every run (closing its descriptor) and free; NULL is fine. */
void sj_pair_spill_free(sj_pair_spill *s);

/* Add n pairs (canonical: a < b, any order); writes a run whenever the
 * buffer fills. */
sj_status sj_pair_spill_add(sj_pair_spill *s, const sj_pair *p, int64_t n);

/* sj_pair_spill_add as an sj_unit_done_fn (spill: the sink; unit unused),
 * for the journal's restore (journal.h): a resumed join's pairs go straight
 * to the sink as the journal is read. */
sj_status sj_pair_spill_add_unit(void *spill, int64_t unit, const sj_pair *p, int64_t n);

/* Chain the sink into a join: cfg->unit_done becomes a call of the one set
 * before (the journal's, if any) and then sj_pair_spill_add; cfg->unit_skip
 * still asks the one set before (both get the old unit_user); cfg->unit_only
 * is set, so the scheduler keeps no pairs of its own. */
void sj_pair_spill_attach(sj_pair_spill *s, sj_join_config *cfg);

/* Pairs added (after the keep filter), and runs written so far. */
int64_t sj_pair_spill_added(const sj_pair_spill *s);
int64_t sj_pair_spill_runs(const sj_pair_spill *s);

/* End of input. With no run written, the buffered pairs are moved to the
 * end of *in_memory (owned by the caller; still to be canonicalized) and
 * *spilled = 0. Otherwise the last buffer becomes a run, runs beyond the
 * fan-in are merged in passes, *n_out gets the number of pairs the merge
 * yields (repeats of dihedral joins removed) and *spilled = 1: read them
 * with sj_pair_spill_read. */
sj_status sj_pair_spill_finish(sj_pair_spill *s, sj_pairs *in_memory, int *spilled, int64_t *n_out);

/* The next merged pairs, in canonical order, into buf[cap]: *got < cap only
 * at the end (0 once all were read). Matches sj_pair_read_fn (pairs_io.c). */
sj_status sj_pair_spill_read(void *spill, sj_pair *buf, int64_t cap, int64_t *got);

#endif
