/* image_internal.h - pieces shared by the image_*.c files. */
#ifndef SIMJOIN_IMAGE_INTERNAL_H
#define SIMJOIN_IMAGE_INTERNAL_H
#include "internal.h"
#include "simjoin/image.h"

/* sj_pdq_hash, adding the seconds spent to times[0] (luma, filter,
 * decimate, quality) and times[1] (DCT and bits); times may be NULL. */
sj_status sj_pdq_hash_timed(const sj_image *im, uint8_t hash[32], int *quality,
                            uint8_t (*dihedral)[32], double times[2]);

/* An RGB image of width x height, refused (SJ_ERR_LIMIT) above max_pixels. */
sj_status sj_image_alloc(sj_image *out, int width, int height, int64_t max_pixels);
#endif
