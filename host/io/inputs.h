/* inputs.h - a join's input shards read, with their rows' sources (inputs.c). */
#ifndef SIMJOIN_IO_INPUTS_H
#define SIMJOIN_IO_INPUTS_H

#include "core/internal.h"
#include "simjoin/formats.h"

/* The database of origin of every row read: each shard's `source`
 * attribute, looked up by id (after sj_sources_finish). */
typedef struct sj_sources {
    int n;                                 /* distinct names */
    char **names;                          /* [n] whole names; owned */
    int64_t n_ids, cap;
    int64_t *ids;                          /* sorted by sj_sources_finish */
    int32_t *src;                          /* aligned with ids */
} sj_sources;
/* Record every row of h as coming from h->source. */
sj_status sj_sources_add(sj_sources *s, const sj_hashes *h, const char *path);
void sj_sources_finish(sj_sources *s);
int32_t sj_sources_of(const sj_sources *s, int64_t id); /* -1 if unknown */
/* out[i] = sj_sources_of(s, ids[i]) for ids[n]; one merge walk when the ids
 * ascend (a join's nodes, excluded ids, metadata index), else a search each. */
void sj_sources_of_each(const sj_sources *s, const int64_t *ids, int64_t n, int32_t *out);
void sj_sources_free(sj_sources *s);
/* Rows of t with no source of their own get their shard's (by id). */
struct sj_meta_table;
sj_status sj_meta_fill_sources(struct sj_meta_table *t, const sj_sources *s);
/* Names joined by newlines, for the `sources` attribute: a new string
 * (caller frees), NULL when out of memory. */
char *sj_sources_names(const sj_sources *s);

/* Read and concatenate shards (all of one kind). *out owned by caller.
 * src (optional) records each row's source. */
sj_status sj_read_shards(char **paths, int n, sj_hashes **out, sj_sources *src);
/* The same, and when r is not NULL each shard recorded in r as an input of
 * the given role (size, mtime and sj_hashes_checksum). */
sj_status sj_read_shards_as(char **paths, int n, sj_hashes **out, sj_sources *src,
                             sj_join_result *r, const char *role);

/* The inputs' checksums being computed on a second thread while the caller
 * goes on (sj_read_shards_summed); they land in the result at
 * sj_input_sums_finish. */
typedef struct sj_input_sums sj_input_sums;
/* As sj_read_shards_as (r is required), with each shard's checksum taken on
 * another thread: until sj_input_sums_finish, *out's hashes and ids must
 * neither change nor be freed (reading them is fine). *sums: NULL before the
 * first call, then shared by later ones. */
sj_status sj_read_shards_summed(char **paths, int n, sj_hashes **out, sj_sources *src,
                                sj_join_result *r, const char *role, sj_input_sums **sums);
/* Wait for the checksums and put them into r (r NULL: only wait, as on a
 * failure), then free *sums and set it NULL. Nothing when *sums is NULL. */
sj_status sj_input_sums_finish(sj_input_sums **sums, sj_join_result *r);

/* The shards of a join's inputs (r->inputs), read and concatenated, each
 * checked against the checksum the join recorded: a changed or replaced
 * shard is refused, naming it. *out NULL (and SJ_OK) when some input is not
 * readable here or the join had none; *out owned by the caller. */
sj_status sj_read_join_inputs(const sj_join_result *r, sj_hashes **out);

/* Ids unique within and across the two sets (q may be NULL). */
sj_status sj_check_ids_across(const sj_hashes *c, const sj_hashes *q);
#endif
