/* fuzz_image.c - libFuzzer harness for the image loaders (sj_image_decode:
 * JPEG, PNG, WebP, GIF, BMP, TIFF, HEIF, by content) and the hashes on
 * what they return. Seized files are hostile: any bytes must give either an
 * image whose every pixel is readable, or an error with a reason; never a
 * crash, leak, hang or out-of-bounds read. Images are capped at 2^22 pixels
 * here (the library's own cap is SJ_IMAGE_MAX_PIXELS) so that a header
 * claiming a huge canvas costs the fuzzer no gigabytes. */
#include "simjoin/image.h"

#include <string.h>

#define FUZZ_MAX_PIXELS (1LL << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int reduced = 0; reduced < 2; reduced++) {
        sj_image im = {0};
        sj_status st = sj_image_decode(data, size, reduced ? 64 : 0, FUZZ_MAX_PIXELS, &im);
        if (st) {
            if (im.rgb || !*sj_last_error())
                __builtin_trap(); /* a failure leaves no image and gives a reason */
            if (!reduced)
                return 0;
            continue;
        }
        if (im.width <= 0 || im.height <= 0 || (int64_t)im.width * im.height > FUZZ_MAX_PIXELS)
            __builtin_trap();
        unsigned sum = 0; /* every pixel is readable (ASan checks the bounds) */
        for (size_t i = 0; i < (size_t)im.width * im.height * 3; i++)
            sum += im.rgb[i];
        uint8_t pdq[32], dih[8][32], ph[8], dh[8];
        int q = -1;
        if (sj_pdq_hash(&im, pdq, &q, dih) || q < 0 || q > 100 || memcmp(pdq, dih[0], 32))
            __builtin_trap();
        if (sj_phash_hash(&im, ph) || sj_dhash_hash(&im, dh))
            __builtin_trap();
        sj_image_release(&im);
        (void)sum;
    }
    return 0;
}
