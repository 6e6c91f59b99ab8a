/* journal.h - the progress journal of a resumable join (journal.c). */
#ifndef SIMJOIN_IO_JOURNAL_H
#define SIMJOIN_IO_JOURNAL_H

#include "core/internal.h"

#include <stdio.h>

/* Progress journal for `join --resume` (sj_journal.c). */
typedef struct sj_journal {
    FILE *fp;
    char path[4200];
    int64_t *units; /* units found done in the journal, sorted */
    int64_t n_units, cap_units;
    sj_pairs saved; /* their pairs (none when the rule has restore) */
    int64_t restored; /* pairs handed to the rule's restore */
    double last_sync;
    uint64_t chain; /* the last record's check (the header's before the first) */
    char warning[4608]; /* after open: damage found and cut off ("" if none); say it even when quiet */
    char notice[4400];  /* after open: --resume found no journal ("" if not) */
} sj_journal;
/* What a resumed pair must satisfy: both ids among the join's (sorted,
 * borrowed), a < b, a finite distance <= threshold. */
typedef struct sj_journal_rule {
    const int64_t *ids;
    int64_t n_ids;
    double threshold;
    /* optional: each valid record's pairs go to restore as they are read (a
     * sink that spills them: pair_spill.c) instead of being kept in saved */
    sj_unit_done_fn restore;
    void *restore_user;
} sj_journal_rule;
sj_status sj_journal_open(sj_journal *j, const char *out, const char *signature, int resume,
                           const sj_journal_rule *rule);
int sj_journal_skip(void *user, int64_t unit);
sj_status sj_journal_done(void *user, int64_t unit, const sj_pair *pairs, int64_t n);
void sj_journal_close(sj_journal *j, int remove_it);

#endif
