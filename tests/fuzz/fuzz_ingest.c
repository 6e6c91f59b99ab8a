/* fuzz_ingest.c - libFuzzer harness for the ingest parsers (sj_ingest_file):
 * any bytes, read as a text file as pdq, bits:64, bits:96, photodna (hex and
 * base64), u8:5 and f32:3 (numbers), and as a .npy file as f32:3 and u8:5.
 * It must never crash, leak or read out of bounds; it either returns rows or
 * an error naming the file; f32 rows are always finite; metadata accepted
 * (read as UTF-8, cp1252 or latin1 by the input's size) is always UTF-8. */
#include "simjoin/meta.h"
#include "simjoin/simjoin.h"
#include "../../host/io/text_out.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[64], npy[64];
    if (!text[0]) {
        snprintf(text, sizeof text, "/tmp/simjoin-fuzz-ingest-%d.txt", (int)getpid());
        snprintf(npy, sizeof npy, "/tmp/simjoin-fuzz-ingest-%d.npy", (int)getpid());
    }
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(f ? npy : text, "wb");
        if (!fp)
            return 0;
        fwrite(data, 1, size, fp);
        fclose(fp);
    }
    static const char *kinds[] = {"pdq", "bits:64", "bits:96", "photodna", "u8:5", "f32:3", "f32:3", "u8:5"};
    for (int k = 0; k < 8; k++) {
        const char *path = k >= 6 ? npy : text;
        sj_ingest_options o = {.first_id = (int64_t)(size % 3 == 0 ? INT64_MAX - 2 : 0),
                               .encoding = (sj_text_encoding)(size / 3 % 3)};
        sj_hash_type_parse(kinds[k], &o.type);
        sj_ingest *ing;
        if (sj_ingest_create(&o, &ing))
            continue;
        sj_hashes *h = NULL;
        sj_status st = sj_ingest_file(ing, path);
        if (!st)
            st = sj_ingest_finish(ing, &h);
        if (st && !strchr(sj_last_error(), ':'))
            __builtin_trap(); /* every error names a file (and line) */
        if (h) { /* the rows are consistent */
            for (int64_t i = 0; i < h->n; i++)
                if (h->quality && (h->quality[i] < -1 || h->quality[i] > 100))
                    __builtin_trap();
            for (int64_t i = 0; h->type.kind == SJ_KIND_F32 && i < h->n * (int64_t)h->type.dim; i++) {
                float x;
                memcpy(&x, h->hashes + 4 * i, 4);
                if (!(x - x == 0)) /* NaN or Inf got through */
                    __builtin_trap();
            }
            for (int64_t i = 0; h->meta && i < h->n; i++)
                for (int f = 0; f < SJ_META_N_TEXT; f++) {
                    const char *v = sj_meta_text_get(h->meta, i, (sj_meta_text)f);
                    if (sj_utf8_check(v, strlen(v)) != strlen(v))
                        __builtin_trap(); /* text that is not UTF-8 got through */
                }
        }
        sj_hashes_free(h);
        sj_ingest_free(ing);
    }
    return 0;
}
