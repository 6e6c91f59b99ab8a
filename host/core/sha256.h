/* sha256.h - SHA-256 of bytes and files (lower-case hex digests), computed
 * by OpenSSL's libcrypto. */
#ifndef SIMJOIN_SHA256_H
#define SIMJOIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sj_sha256 {
    void *ctx; /* EVP_MD_CTX, owned; NULL when it could not be made */
} sj_sha256;

void sj_sha256_init(sj_sha256 *s);
void sj_sha256_update(sj_sha256 *s, const void *data, size_t n);
/* Finish s (and free it); out is "" when the digest could not be made. */
void sj_sha256_hex(sj_sha256 *s, char out[65]);
/* Digest of a file's bytes; -1 if it cannot be read. */
int sj_sha256_file(const char *path, char out[65]);

#endif
