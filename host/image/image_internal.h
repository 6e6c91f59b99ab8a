/* image_internal.h - pieces shared by the image_*.c files. */
#ifndef SIMJOIN_IMAGE_INTERNAL_H
#define SIMJOIN_IMAGE_INTERNAL_H
#include "core/internal.h"
#include "simjoin/image.h"

/* Float buffers of the PDQ filter, kept from one image to the next by one
 * thread (large images: fresh pages cost more than the filter). */
typedef struct sj_pdq_scratch {
    float *luma, *tmp, *sum;
    size_t pixels, cols; /* capacities */
} sj_pdq_scratch;
void sj_pdq_scratch_free(sj_pdq_scratch *s);

/* sj_pdq_hash with buffers from scratch (NULL: its own), adding the seconds
 * spent to times[0] (luma, filter, decimate, quality) and times[1] (DCT and
 * bits); times may be NULL. */
sj_status sj_pdq_hash_timed(const sj_image *im, uint8_t hash[32], int *quality,
                            uint8_t (*dihedral)[32], sj_pdq_scratch *scratch, double times[2]);

/* An RGB image of width x height, refused (SJ_ERR_LIMIT) above max_pixels. */
sj_status sj_image_alloc(sj_image *out, int width, int height, int64_t max_pixels);
#endif
