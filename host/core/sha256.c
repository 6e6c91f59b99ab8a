/* sha256.c - SHA-256 through libcrypto's EVP interface (OpenSSL's
 * assembly runs several times faster than a portable C loop; see
 * BENCHMARKS.md "State checksums"). */
#include "core/sha256.h"

#include <openssl/evp.h>
#include <stdio.h>

void sj_sha256_init(sj_sha256 *s)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    s->ctx = ctx;
}

void sj_sha256_update(sj_sha256 *s, const void *data, size_t n)
{
    if (s->ctx && EVP_DigestUpdate(s->ctx, data, n) != 1) {
        EVP_MD_CTX_free(s->ctx);
        s->ctx = NULL;
    }
}

void sj_sha256_hex(sj_sha256 *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = 0;
    if (s->ctx && EVP_DigestFinal_ex(s->ctx, md, &len) == 1 && len == 32)
        for (unsigned i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

int sj_sha256_file(const char *path, char out[65])
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    sj_sha256 s;
    sj_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0)
        sj_sha256_update(&s, buf, got);
    int err = ferror(fp);
    fclose(fp);
    sj_sha256_hex(&s, out);
    return err || !out[0] ? -1 : 0;
}
