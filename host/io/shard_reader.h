/* shard_reader.h - a shard's rows read whole or in pieces (shard_io.c).
 *
 * A streamed join reads its corpus in row ranges (HDF5 hyperslabs of whole
 * rows), so that one shard larger than memory is read piece by piece. Every
 * check of sj_shard_read applies to each piece, naming the shard's row. */
#ifndef SIMJOIN_IO_SHARD_READER_H
#define SIMJOIN_IO_SHARD_READER_H

#include "core/internal.h"

typedef struct sj_shard_reader sj_shard_reader;

/* Open path and check its headers (kind, /hashes, /ids, /quality, /dihedral
 * shapes, `source`); *out owned by the caller: sj_shard_reader_close.
 * in_pieces: its rows will be read in pieces (a row then must fit in memory
 * only as its id), else whole (hash and id). */
sj_status sj_shard_reader_open(const char *path, int in_pieces, sj_shard_reader **out);
void sj_shard_reader_close(sj_shard_reader *r); /* accepts NULL */
int64_t sj_shard_reader_rows(const sj_shard_reader *r);
sj_hash_type sj_shard_reader_type(const sj_shard_reader *r);
int sj_shard_reader_has_dihedral(const sj_shard_reader *r);
const char *sj_shard_reader_source(const sj_shard_reader *r); /* borrowed, "" when none */
/* The shard's case metadata, all rows (*out owned by the caller; NULL when
 * the shard has none). */
sj_status sj_shard_read_meta(const sj_shard_reader *r, sj_meta **out);
/* Rows [first, first+count) as a new set (*out owned by the caller): hashes,
 * ids, quality, source, and /dihedral when `dihedral` and the shard has it;
 * no labels or metadata. Ids are not checked for uniqueness here. */
sj_status sj_shard_reader_read(const sj_shard_reader *r, int64_t first, int64_t count, int dihedral,
                               sj_hashes **out);

#endif
