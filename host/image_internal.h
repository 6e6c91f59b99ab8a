/* image_internal.h - pieces shared by the image_*.c files. */
#ifndef SIMJOIN_IMAGE_INTERNAL_H
#define SIMJOIN_IMAGE_INTERNAL_H
#include "internal.h"
#include "simjoin/image.h"

/* sj_pdq_hash, adding the seconds spent to times[0] (luma, filter,
 * decimate, quality) and times[1] (DCT and bits); times may be NULL. */
sj_status sj_pdq_hash_timed(const sj_image *im, uint8_t hash[32], int *quality,
                            uint8_t (*dihedral)[32], double times[2]);

/* The decoders by format (image_decode.c); each fills out or fails with a
 * reason. min_side as sj_image_decode. */
sj_status sj_image_alloc(sj_image *out, int width, int height);
#endif
