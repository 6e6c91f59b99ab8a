/* error.c - status strings and the per-thread failure message. */
#include "core/internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *sj_status_str(sj_status st)
{
    switch (st) {
    case SJ_OK: return "ok";
    case SJ_ERR_NOMEM: return "out of memory";
    case SJ_ERR_IO: return "i/o error";
    case SJ_ERR_FORMAT: return "bad file format";
    case SJ_ERR_PARSE: return "parse error";
    case SJ_ERR_ARG: return "invalid argument";
    case SJ_ERR_DUPLICATE_ID: return "duplicate id";
    case SJ_ERR_MISMATCH: return "mismatched inputs";
    case SJ_ERR_UNSUPPORTED: return "unsupported";
    case SJ_ERR_BACKEND: return "backend failure";
    case SJ_ERR_NO_DEVICE: return "no usable GPU";
    case SJ_ERR_LIMIT: return "limit exceeded";
    case SJ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *sj_last_error(void) { return last_error; }

sj_status sj_fail(sj_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

void sj_error_prefix(const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    snprintf(last_error, sizeof last_error, "%.500s: %.500s", prefix, old);
}

const char *sj_version(void) { return SIMJOIN_VERSION_STRING; }

#ifdef SIMJOIN_FAULT_INJECTION
void sj_fault_step(const char *what)
{
    (void)what; /* the step's name, for a debugger */
    static _Atomic long at = -2, count;
    if (at == -2) {
        const char *e = getenv("SIMJOIN_FAULT_AT");
        at = e ? atol(e) : -1;
    }
    if (at > 0 && ++count == at)
        raise(SIGKILL); /* as kill -9 would: no cleanup, nothing printed */
}
#endif
