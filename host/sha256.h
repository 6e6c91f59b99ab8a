/* sha256.h - SHA-256 of bytes and files (lower-case hex digests). */
#ifndef SIMJOIN_SHA256_H
#define SIMJOIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sj_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} sj_sha256;

void sj_sha256_init(sj_sha256 *s);
void sj_sha256_update(sj_sha256 *s, const void *data, size_t n);
void sj_sha256_hex(sj_sha256 *s, char out[65]); /* finishes s */
/* Digest of a file's bytes; -1 if it cannot be read. */
int sj_sha256_file(const char *path, char out[65]);

#endif
