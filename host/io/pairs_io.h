/* pairs_io.h - writing a pairs file from a stream of pairs (pairs_io.c),
 * for joins whose pairs are merged from disk (pair_spill.c). */
#ifndef SIMJOIN_IO_PAIRS_IO_H
#define SIMJOIN_IO_PAIRS_IO_H

#include "core/internal.h"
#include "simjoin/formats.h"

/* The next pairs of a stream, canonical and in order, into buf[cap]: *got <
 * cap only at the end (0 once all were given). */
typedef sj_status (*sj_pair_read_fn)(void *user, sj_pair *buf, int64_t cap, int64_t *got);

typedef struct sj_pair_source {
    int64_t n;            /* pairs the stream gives, exactly */
    sj_pair_read_fn read;
    void *user;
} sj_pair_source;

/* sj_pairs_file_write with the pairs read from src instead of r->pairs
 * (ignored); the file is the same as sj_pairs_file_write makes of the same
 * pairs, byte for byte (sj_pairs_file_write is this with r->pairs as src). */
sj_status sj_pairs_file_write_stream(const char *path, const sj_join_result *r,
                                     const sj_pair_source *src);

/* The ids' part of sj_hashes_checksum (after the hash bytes): ids[n] in
 * little-endian, for a checksum computed piece by piece (a streamed corpus). */
struct sj_sha256;
void sj_checksum_add_ids(struct sj_sha256 *s, const int64_t *ids, int64_t n);

#endif
