/* fuzz_ingest.c - libFuzzer harness for the text hash-list parser
 * (sj_ingest_file): any bytes, read as a file, as pdq and as bits:64 and
 * bits:96. It must never crash, leak or read out of bounds; it either
 * returns rows or an error naming file:line. */
#include "simjoin/simjoin.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/simjoin-fuzz-ingest-%d.txt", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    static const char *kinds[] = {"pdq", "bits:64", "bits:96"};
    for (int k = 0; k < 3; k++) {
        sj_ingest_options o = {.first_id = (int64_t)(size % 3 == 0 ? INT64_MAX - 2 : 0)};
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
        }
        sj_hashes_free(h);
        sj_ingest_free(ing);
    }
    return 0;
}
