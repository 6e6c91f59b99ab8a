/* cli_limits.c - --max-pairs and --max-memory of `join` and `nightly`: their
 * parsing, the machine-derived default, and the message that says which
 * limit stopped a run and how to raise it. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_limit(const char *s, int is_size, int64_t *out)
{
    if (!strcmp(s, "none") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    int64_t v;
    if (is_size ? sj_parse_size(s, &v) || v < 1024 * 1024 : cli_parse_i64(s, &v) || v < 1)
        return -1;
    *out = v;
    return 0;
}
