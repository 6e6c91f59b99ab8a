/* ingest.c - text hash lists (bare hex, id,hex CSV, ThreatExchange) to a hash set. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "simjoin/meta.h"
#include "io/text_out.h"

#include <ctype.h>
#include <math.h>
#include <float.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where a row came from: index into files[] and 1-based line. */
typedef struct row_origin {
    int32_t file;
    int64_t line;
} row_origin;

/* What a column of a table (a CSV with a header naming its columns) holds. */
typedef enum column_role {
    COL_IGNORED = 0,
    COL_ID,
    COL_HASH,
    COL_QUALITY,
    COL_LABEL,
    COL_VICTIM,
    COL_OFFENDER,
    COL_TEXT /* + sj_meta_text */
} column_role;

#define MAX_COLUMNS 256

typedef struct table {
    int active;       /* this file is a table */
    char delim;       /* ',' or ';' */
    int n_cols;
    int role[MAX_COLUMNS];
    char name[MAX_COLUMNS][64]; /* header names, for messages */
    int has_meta;
    int label_col;    /* column whose text gives /labels: label, else series; -1 none */
} table;

struct sj_ingest {
    sj_ingest_options opt;
    table tab;         /* the current file's layout */
    char ignored[1024]; /* names of ignored columns, comma-separated */
    uint8_t *row_buf;  /* one decoded row; owned */
    int64_t next_id;   /* next id for a bare-hash line */
    int ids_exhausted; /* INT64_MAX was assigned: no next id */
    sj_hashes *rows;   /* owned until finish */
    row_origin *origin; /* [rows->n] */
    int64_t origin_cap;
    char **files; /* [n_files] copies of the paths */
    int32_t n_files;
};

/* The next id for a row without one (--first-id, then counting up), or
 * SJ_ERR_PARSE at PATH:LINE (npy: "PATH: row N") past the int64 limit. */
static sj_status assign_id(sj_ingest *ing, const char *path, const char *row_word, int64_t pos,
                           int64_t *id)
{
    *id = 0;
    if (ing->ids_exhausted) {
        char where[4200];
        if (row_word)
            snprintf(where, sizeof where, "%s: %s %lld", path, row_word, (long long)pos);
        else
            snprintf(where, sizeof where, "%s:%lld", path, (long long)pos);
        return sj_fail(SJ_ERR_PARSE, "%s: the assigned id would pass the int64 limit %lld "
                                     "(ids count up from --first-id %lld)",
                       where, (long long)INT64_MAX, (long long)ing->opt.first_id);
    }
    *id = ing->next_id;
    if (ing->next_id == INT64_MAX)
        ing->ids_exhausted = 1;
    else
        ing->next_id++;
    return SJ_OK;
}

sj_status sj_ingest_create(const sj_ingest_options *opt, sj_ingest **out)
{
    *out = NULL;
    sj_ingest *ing = calloc(1, sizeof *ing);
    if (!ing)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    ing->opt = *opt;
    ing->next_id = opt->first_id;
    if (!(ing->row_buf = malloc(SJ_MAX(sj_hash_type_bytes(opt->type), 1)))) {
        free(ing);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    sj_status st = sj_hashes_create(opt->type, 0, &ing->rows);
    if (st) {
        free(ing->row_buf);
        free(ing);
        return st;
    }
    *out = ing;
    return SJ_OK;
}

void sj_ingest_free(sj_ingest *ing)
{
    if (!ing)
        return;
    sj_hashes_free(ing->rows);
    free(ing->row_buf);
    free(ing->origin);
    for (int32_t i = 0; i < ing->n_files; i++)
        free(ing->files[i]);
    free(ing->files);
    free(ing);
}

/* A field of a split line: [begin, begin+len), trimmed of blanks. */
typedef struct field {
    const char *p;
    size_t len;
} field;

static field trim(const char *p, size_t len)
{
    while (len && isspace((unsigned char)*p))
        p++, len--;
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    return (field){p, len};
}

static int split_commas(const char *line, size_t len, field *f, int max)
{
    int n = 0;
    const char *start = line;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (n < max)
                f[n] = trim(start, (size_t)(line + i - start));
            n++;
            start = line + i + 1;
        }
    }
    return n;
}

/* Parse a whole field as int64. Returns 1 on success. */
static int parse_i64(field f, int64_t *v)
{
    char buf[32];
    if (f.len == 0 || f.len >= sizeof buf)
        return 0;
    memcpy(buf, f.p, f.len);
    buf[f.len] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end)
        return 0;
    *v = x;
    return 1;
}

/* uint8 vector kinds (photodna, u8:D) also take base64 (standard alphabet,
 * '=' padding): 192 characters for a 144-byte PhotoDNA hash. */
static int takes_base64(const sj_ingest *ing)
{
    return ing->opt.type.kind == SJ_KIND_PHOTODNA || ing->opt.type.kind == SJ_KIND_U8;
}

static size_t base64_len(size_t nbytes) { return 4 * ((nbytes + 2) / 3); }

/* 1 if the field is a whole hash of this kind: hex, or base64 where taken. */
static int is_hash(const sj_ingest *ing, field f)
{
    size_t nb = sj_hash_type_bytes(ing->opt.type);
    if (f.len == 2 * nb) {
        size_t i = 0;
        while (i < f.len && isxdigit((unsigned char)f.p[i]))
            i++;
        if (i == f.len)
            return 1;
    }
    return takes_base64(ing) && f.len == base64_len(nb) &&
           sj_base64_decode(f.p, f.len, ing->row_buf, nb) == 0;
}

/* Explain why a field is not a hash of this kind, naming positions only. */
static sj_status bad_hash(const sj_ingest *ing, const char *path, int64_t line, int col, field f)
{
    size_t nb = sj_hash_type_bytes(ing->opt.type);
    char kind[24];
    sj_hash_type_format(ing->opt.type, kind, sizeof kind);
    if (takes_base64(ing) && f.len == base64_len(nb)) {
        int bad = sj_base64_decode(f.p, f.len, ing->row_buf, nb);
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d, character %d is not valid base64", path,
                       (long long)line, col, bad > 0 ? bad : (int)f.len);
    }
    if (!takes_base64(ing) || f.len == 2 * nb)
        for (size_t i = 0; i < f.len; i++)
            if (!isxdigit((unsigned char)f.p[i]))
                return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d, character %zu is not a hex digit",
                               path, (long long)line, col, i + 1);
    if (takes_base64(ing))
        return sj_fail(SJ_ERR_PARSE,
                       "%s:%lld: field %d has %zu characters, expected %zu hex digits or %zu base64 "
                       "characters for %s", path, (long long)line, col, f.len, 2 * nb,
                       base64_len(nb), kind);
    return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d has %zu hex digits, expected %zu for %s",
                   path, (long long)line, col, f.len, 2 * nb, kind);
}

/* Append the row now in ing->row_buf. */
static sj_status add_decoded(sj_ingest *ing, int64_t id, int quality, int64_t line)
{
    sj_status st = sj_hashes_append(ing->rows, id, ing->row_buf, quality);
    if (st)
        return st;
    st = sj_grow((void **)&ing->origin, &ing->origin_cap, ing->rows->n, sizeof *ing->origin);
    if (st)
        return st;
    ing->origin[ing->rows->n - 1] = (row_origin){ing->n_files - 1, line};
    return SJ_OK;
}

/* Decode a field that is_hash accepted, and append it. */
static sj_status add_row(sj_ingest *ing, int64_t id, field hash, int quality, int64_t line)
{
    size_t nb = sj_hash_type_bytes(ing->opt.type);
    if (hash.len == 2 * nb)
        sj_hex_decode(hash.p, hash.len, ing->row_buf, nb);
    else
        sj_base64_decode(hash.p, hash.len, ing->row_buf, nb);
    return add_decoded(ing, id, quality, line);
}

/* A ThreatExchange row: the hash, its quality, and the file name: the rest
 * of the line after the second comma (names may hold commas), kept as the
 * row's /meta/path. */
static sj_status add_threatexchange_row(sj_ingest *ing, const char *path, int64_t line,
                                        const char *text, size_t len, int64_t id, field hash,
                                        int quality)
{
    const char *c1 = memchr(text, ',', len), *c2 = c1 ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - text)) : NULL;
    field name = c2 ? trim(c2 + 1, len - (size_t)(c2 + 1 - text)) : (field){text + len, 0};
    if (name.len > SJ_META_PATH_MAX)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field 3 (file name) is longer than %d bytes", path,
                       (long long)line, SJ_META_PATH_MAX);
    sj_status st;
    if (name.len && (st = sj_hashes_ensure_meta(ing->rows)))
        return st;
    if ((st = add_row(ing, id, hash, quality, line)) || !name.len)
        return st;
    char *copy = strndup(name.p, name.len);
    if (!copy)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    st = sj_meta_set_text(ing->rows->meta, ing->rows->n - 1, SJ_META_PATH, copy);
    free(copy);
    return st;
}

static sj_status parse_quality(const char *path, int64_t line, int col, field f, int *q)
{
    int64_t v;
    if (!parse_i64(f, &v) || v < 0 || v > 100)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d: quality must be an integer 0..100",
                       path, (long long)line, col);
    *q = (int)v;
    return SJ_OK;
}


/* Split a line of a table into fields, honouring "double quotes" (with ""
 * for a quote inside). Unquoted values are copied into scratch (len+1
 * bytes). Returns the field count, or -1 for an unterminated quote. */
static int split_table(const char *line, size_t len, char delim, field *f, int max, char *scratch)
{
    int n = 0;
    size_t i = 0;
    char *out = scratch;
    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        char *start = out;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1;
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        *out++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *out++ = line[i++];
            }
            while (i < len && line[i] != delim) /* blanks after the closing quote */
                i++;
        } else {
            while (i < len && line[i] != delim)
                *out++ = line[i++];
        }
        field t = trim(start, (size_t)(out - start));
        if (n < max)
            f[n] = t;
        n++;
        *out++ = 0;
        if (i >= len)
            return n;
        i++; /* the delimiter */
    }
}

/* Lower-case letters and digits of a header name: "Victim identified" ->
 * "victimidentified". */
static void normalize(field f, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < f.len && k + 1 < size; i++)
        if (isalnum((unsigned char)f.p[i]))
            out[k++] = (char)tolower((unsigned char)f.p[i]);
    out[k] = 0;
}

static int role_of(const char *norm, sj_hash_type t)
{
    static const struct {
        const char *name;
        int role;
    } names[] = {
        {"id", COL_ID}, {"imageid", COL_ID}, {"hashid", COL_ID},
        {"hash", COL_HASH},
        {"quality", COL_QUALITY}, {"pdqquality", COL_QUALITY},
        {"label", COL_LABEL}, {"groundtruth", COL_LABEL},
        {"victimidentified", COL_VICTIM}, {"offenderidentified", COL_OFFENDER},
        {"series", COL_TEXT + SJ_META_SERIES}, {"seriesname", COL_TEXT + SJ_META_SERIES},
        {"seriesid", COL_TEXT + SJ_META_SERIES},
        {"caseid", COL_TEXT + SJ_META_CASE_ID}, {"case", COL_TEXT + SJ_META_CASE_ID},
        {"casenumber", COL_TEXT + SJ_META_CASE_ID}, {"casereference", COL_TEXT + SJ_META_CASE_ID},
        {"category", COL_TEXT + SJ_META_CATEGORY},
        {"source", COL_TEXT + SJ_META_SOURCE}, {"database", COL_TEXT + SJ_META_SOURCE},
        {"path", COL_TEXT + SJ_META_PATH}, {"filename", COL_TEXT + SJ_META_PATH},
        {"filepath", COL_TEXT + SJ_META_PATH}, {"file", COL_TEXT + SJ_META_PATH},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(norm, names[i].name) == 0)
            return names[i].role;
    if (t.kind == SJ_KIND_PDQ && (strcmp(norm, "pdq") == 0 || strcmp(norm, "pdqhash") == 0))
        return COL_HASH;
    if (t.kind == SJ_KIND_PHOTODNA && strcmp(norm, "photodna") == 0)
        return COL_HASH;
    return COL_IGNORED;
}

static void note_ignored(sj_ingest *ing, const char *name)
{
    char key[80];
    snprintf(key, sizeof key, "%s,", name);
    char all[1100];
    snprintf(all, sizeof all, "%s,", ing->ignored);
    if (strstr(all, key) == all || (strstr(all, key) && strstr(all, key)[-1] == ','))
        return; /* already listed */
    size_t used = strlen(ing->ignored);
    snprintf(ing->ignored + used, sizeof ing->ignored - used, "%s%s", used ? "," : "", name);
}

/* Is this first line a header that makes the file a table? Legacy headers
 * naming only id, hash and quality (comma-separated) keep the line formats
 * of sj_ingest_file; any other named column, or ';', makes a table. */
static sj_status parse_header(sj_ingest *ing, const char *path, const char *text, size_t len,
                              int *is_table)
{
    *is_table = 0;
    size_t commas = 0, semis = 0;
    for (size_t i = 0; i < len; i++)
        commas += text[i] == ',', semis += text[i] == ';';
    table *tb = &ing->tab;
    memset(tb, 0, sizeof *tb);
    tb->delim = semis > commas ? ';' : ',';
    char *scratch = malloc(len + 1 + MAX_COLUMNS);
    field f[MAX_COLUMNS];
    if (!scratch)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int nf = split_table(text, len, tb->delim, f, MAX_COLUMNS, scratch);
    sj_status st = SJ_OK;
    if (nf < 0 || nf > MAX_COLUMNS) {
        st = sj_fail(SJ_ERR_PARSE, "%s: header: %s", path,
                     nf < 0 ? "unterminated quote" : "more than 256 columns");
        goto done;
    }
    int legacy = tb->delim == ',', seen[COL_TEXT + SJ_META_N_TEXT] = {0};
    for (int i = 0; i < nf; i++) {
        char norm[64];
        normalize(f[i], norm, sizeof norm);
        snprintf(tb->name[i], sizeof tb->name[i], "%.*s", (int)SJ_MIN(f[i].len, 63), f[i].p);
        tb->role[i] = role_of(norm, ing->opt.type);
        if (tb->role[i] != COL_IGNORED && seen[tb->role[i]]++) {
            st = sj_fail(SJ_ERR_PARSE, "%s:1: column '%s' names the same field as an earlier one",
                         path, tb->name[i]);
            goto done;
        }
        int expect = i == 0 ? COL_ID : i == 1 ? COL_HASH : COL_QUALITY;
        legacy &= i < 3 && tb->role[i] == expect;
        tb->has_meta |= tb->role[i] >= COL_VICTIM;
    }
    if (legacy) /* "id,hash[,quality]": the plain CSV form */
        goto done;
    tb->n_cols = nf;
    tb->label_col = -1;
    for (int pass = 0; pass < 2 && tb->label_col < 0; pass++) /* label first, else series */
        for (int i = 0; i < nf; i++)
            if (tb->role[i] == (pass ? COL_TEXT + SJ_META_SERIES : COL_LABEL))
                tb->label_col = i;
    if (!seen[COL_HASH]) {
        char kind[24];
        sj_hash_type_format(ing->opt.type, kind, sizeof kind);
        st = sj_fail(SJ_ERR_PARSE,
                     "%s:1: the header names no column for %s hashes (expected 'hash'%s)", path,
                     kind, ing->opt.type.kind == SJ_KIND_PDQ        ? " or 'PDQ'"
                           : ing->opt.type.kind == SJ_KIND_PHOTODNA ? " or 'PhotoDNA'"
                                                                    : "");
        goto done;
    }
    for (int i = 0; i < nf; i++)
        if (tb->role[i] == COL_IGNORED)
            note_ignored(ing, tb->name[i][0] ? tb->name[i] : "(unnamed)");
    tb->active = *is_table = 1;
done:
    free(scratch);
    return st;
}

/* Label text to a ground-truth code (README "Labels"): "" and "-1" are -1
 * (no series); a decimal integer 0 <= v < 2^62 is kept as it is; any other
 * text is 2^62 + (FNV-1a-64 of its bytes mod 2^62), the same in every file
 * and run, so shards ingested apart agree. */
static sj_status label_code(const char *path, int64_t line, int col, const char *name, field f,
                            int64_t *code)
{
    const int64_t text_base = INT64_C(1) << 62;
    int64_t v;
    *code = -1;
    if (f.len == 0 || (f.len == 2 && f.p[0] == '-' && f.p[1] == '1'))
        return SJ_OK;
    if (f.len > SJ_META_TEXT_MAX)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s) is longer than %d bytes", path,
                       (long long)line, col, name, SJ_META_TEXT_MAX);
    if (parse_i64(f, &v)) {
        if (v < 0 || v >= text_base)
            return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s): a numeric label must be -1 (none) "
                                         "or 0..2^62-1", path, (long long)line, col, name);
        *code = v;
        return SJ_OK;
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < f.len; i++)
        h = (h ^ (unsigned char)f.p[i]) * 1099511628211ull;
    *code = text_base + (int64_t)(h % (uint64_t)text_base);
    return SJ_OK;
}

static sj_status parse_table_row(sj_ingest *ing, const char *path, int64_t line, const char *text,
                                 size_t len)
{
    table *tb = &ing->tab;
    char *scratch = malloc(len + 1 + MAX_COLUMNS);
    field f[MAX_COLUMNS];
    if (!scratch)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int nf = split_table(text, len, tb->delim, f, MAX_COLUMNS, scratch);
    for (int i = 0; i < nf && i < MAX_COLUMNS; i++) /* end each trimmed value (in scratch) */
        ((char *)f[i].p)[f[i].len] = 0;
    sj_status st = SJ_OK;
    field hash = {0};
    int64_t id = 0;
    int has_id = 0, quality = -1;
    int8_t victim = SJ_META_UNKNOWN, offender = SJ_META_UNKNOWN;
    char *values[SJ_META_N_TEXT] = {0};
    if (nf < 0) {
        st = sj_fail(SJ_ERR_PARSE, "%s:%lld: unterminated quote", path, (long long)line);
        goto done;
    }
    if (nf != tb->n_cols) {
        st = sj_fail(SJ_ERR_PARSE, "%s:%lld: %d fields, the header has %d columns", path,
                     (long long)line, nf, tb->n_cols);
        goto done;
    }
    for (int i = 0; i < nf && !st; i++) {
        int col = i + 1;
        switch (tb->role[i]) {
        case COL_ID:
            if (!(has_id = parse_i64(f[i], &id)))
                st = sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s) is not an int64 id", path,
                             (long long)line, col, tb->name[i]);
            break;
        case COL_HASH:
            hash = f[i];
            if (f[i].len == 0)
                st = sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s) is empty", path, (long long)line,
                             col, tb->name[i]);
            else if (!is_hash(ing, f[i]))
                st = bad_hash(ing, path, line, col, f[i]);
            break;
        case COL_QUALITY:
            if (f[i].len)
                st = parse_quality(path, line, col, f[i], &quality);
            break;
        case COL_VICTIM:
        case COL_OFFENDER:
            if (sj_meta_parse_flag(f[i].p, f[i].len, tb->role[i] == COL_VICTIM ? &victim : &offender))
                st = sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s) must be yes, no or unknown",
                             path, (long long)line, col, tb->name[i]);
            break;
        case COL_IGNORED:
        case COL_LABEL: break;
        default:
            if (f[i].len > (size_t)sj_meta_text_max((sj_meta_text)(tb->role[i] - COL_TEXT)))
                st = sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d (%s) is longer than %d bytes", path,
                             (long long)line, col, tb->name[i],
                             sj_meta_text_max((sj_meta_text)(tb->role[i] - COL_TEXT)));
            else
                values[tb->role[i] - COL_TEXT] = (char *)f[i].p; /* NUL-ended in scratch */
            break;
        }
    }
    int64_t label = -1;
    if (!st && tb->label_col >= 0)
        st = label_code(path, line, tb->label_col + 1, tb->name[tb->label_col], f[tb->label_col],
                        &label);
    if (st)
        goto done;
    if (!has_id) {
        if ((st = assign_id(ing, path, NULL, line, &id)))
            goto done;
    }
    sj_hashes *rows = ing->rows;
    if (tb->has_meta && (st = sj_hashes_ensure_meta(rows)))
        goto done;
    sj_meta *meta = rows->meta;
    rows->meta = NULL; /* add_row appends the hash; the metadata row follows */
    st = add_row(ing, id, hash, quality, line);
    rows->meta = meta;
    if (!st && meta)
        st = sj_meta_append(meta, (const char *const *)values, victim, offender);
    if (!st && tb->label_col >= 0 && !(st = sj_hashes_ensure_labels(rows)))
        rows->labels[rows->n - 1] = label;
done:
    free(scratch);
    return st;
}


/* ---- f32 vectors: text rows and .npy ---- */

/* One float component from text: finite and within float range. */
static sj_status parse_component(const char *path, int64_t line, int col, field f, float *out)
{
    char buf[64];
    if (f.len == 0 || f.len >= sizeof buf)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d is not a number", path, (long long)line, col);
    memcpy(buf, f.p, f.len);
    buf[f.len] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end || end == buf)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d is not a number", path, (long long)line, col);
    if (!isfinite(v))
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d is %s: vectors must be finite", path,
                       (long long)line, col, isnan(v) ? "NaN" : "infinite");
    if (fabs(v) > FLT_MAX)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field %d does not fit in float32", path,
                       (long long)line, col);
    *out = (float)v;
    return SJ_OK;
}

/* 1 if strtod reads the whole field ("nan" and "1e99" included: those are
 * errors of a data line, not a header). */
static int looks_numeric(field f)
{
    char buf[64];
    if (f.len == 0 || f.len >= sizeof buf)
        return 0;
    memcpy(buf, f.p, f.len);
    buf[f.len] = 0;
    char *end;
    (void)strtod(buf, &end);
    return end != buf && !*end;
}

/* D numbers, or an int64 id and D numbers, separated by commas or blanks
 * (np.savetxt writes either). A first line that is not numeric is a header. */
static sj_status parse_f32_line(sj_ingest *ing, const char *path, int64_t line, const char *text,
                                size_t len, int first)
{
    const uint32_t D = ing->opt.type.dim;
    const char sep = memchr(text, ',', len) ? ',' : ' ';
    field *f = malloc(((size_t)D + 2) * sizeof *f);
    if (!f)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int nf = 0;
    size_t i = 0;
    while (i <= len) { /* fields; runs of blanks count once when blank-separated */
        size_t j = i;
        while (j < len && text[j] != sep && !(sep == ' ' && text[j] == '\t'))
            j++;
        if (sep == ',' || j > i) {
            if (nf < (int)D + 2)
                f[nf] = trim(text + i, j - i);
            nf++;
        }
        i = j + 1;
    }
    sj_status st = SJ_OK;
    int64_t id = 0;
    if (first && nf > 0 && !looks_numeric(f[0])) {
        free(f);
        return SJ_OK; /* a header line */
    }
    if (nf != (int)D && nf != (int)D + 1) {
        st = sj_fail(SJ_ERR_PARSE, "%s:%lld: %d fields, expected %u numbers or an id and %u numbers",
                     path, (long long)line, nf, D, D);
        goto done;
    }
    int off = nf == (int)D + 1;
    if (off && !parse_i64(f[0], &id)) {
        st = sj_fail(SJ_ERR_PARSE, "%s:%lld: field 1 is not an int64 id", path, (long long)line);
        goto done;
    }
    for (uint32_t k = 0; k < D && !st; k++) {
        float x = 0;
        if (!(st = parse_component(path, line, (int)k + 1 + off, f[k + off], &x)))
            memcpy(ing->row_buf + 4 * (size_t)k, &x, 4);
    }
    if (st)
        goto done;
    if (!off) {
        if ((st = assign_id(ing, path, NULL, line, &id)))
            goto done;
    }
    st = add_decoded(ing, id, -1, line);
done:
    free(f);
    return st;
}

/* A .npy file (NumPy format 1.0-3.0): a C-order [N, D] array of float32,
 * float64 (f32:D; values must be finite and fit float32) or uint8 (photodna,
 * u8:D), little-endian. Ids are assigned from first_id. Errors name the row
 * ("FILE: row R"), and "line" in the origin of a row is its row + 1. */
static sj_status ingest_npy(sj_ingest *ing, FILE *fp, const char *path)
{
    unsigned char magic[10];
    char kind[24];
    sj_hash_type_format(ing->opt.type, kind, sizeof kind);
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] < 1 ||
        magic[6] > 3)
        return sj_fail(SJ_ERR_PARSE, "%s: not a .npy file (bad magic or version)", path);
    uint32_t hlen = 0;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (fread(b, 1, 2, fp) != 2)
            return sj_fail(SJ_ERR_PARSE, "%s: truncated .npy header", path);
        hlen = b[0] | (uint32_t)b[1] << 8;
    } else {
        unsigned char b[4];
        if (fread(b, 1, 4, fp) != 4)
            return sj_fail(SJ_ERR_PARSE, "%s: truncated .npy header", path);
        hlen = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    if (hlen > 65536)
        return sj_fail(SJ_ERR_PARSE, "%s: .npy header of %u bytes is too long", path, hlen);
    char *h = calloc(hlen + 1, 1);
    if (!h)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_status st = SJ_OK;
    if (fread(h, 1, hlen, fp) != hlen) {
        st = sj_fail(SJ_ERR_PARSE, "%s: truncated .npy header", path);
        goto done;
    }
    /* {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } */
    const char *descr = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"),
               *shape = strstr(h, "'shape'");
    char type[8] = "";
    long long n = -1, d = -1;
    if (!descr || !fo || !shape || sscanf(strchr(descr + 7, '\'') ? strchr(descr + 7, '\'') : "",
                                          "'%7[^']'", type) != 1 ||
        !strchr(shape, '(') || sscanf(strchr(shape, '('), "(%lld, %lld)", &n, &d) != 2) {
        st = sj_fail(SJ_ERR_PARSE, "%s: .npy header is not a 2-D array header", path);
        goto done;
    }
    if (strstr(fo, "True") && strstr(fo, "True") < shape) {
        st = sj_fail(SJ_ERR_PARSE, "%s: Fortran-order arrays are not read (np.ascontiguousarray)", path);
        goto done;
    }
    int f32 = ing->opt.type.kind == SJ_KIND_F32;
    size_t item = !strcmp(type, "<f4") ? 4 : !strcmp(type, "<f8") ? 8 : !strcmp(type, "|u1") ? 1 : 0;
    if (!item || f32 != (item != 1)) {
        st = sj_fail(SJ_ERR_MISMATCH, "%s: .npy dtype '%s' does not suit %s (float32/float64 for "
                                      "f32:D, uint8 for photodna and u8:D)", path, type, kind);
        goto done;
    }
    if (d != (long long)ing->opt.type.dim || n < 0) {
        st = sj_fail(SJ_ERR_MISMATCH, "%s: .npy shape (%lld, %lld) has %lld columns, %s has %u", path,
                     n, d, d, kind, ing->opt.type.dim);
        goto done;
    }
    long here = ftell(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, here, SEEK_SET);
    if (size < 0 || here < 0 || (unsigned long long)(size - here) / item / (unsigned long long)SJ_MAX(d, 1) <
                                    (unsigned long long)n) {
        st = sj_fail(SJ_ERR_PARSE, "%s: truncated: the header claims %lld rows, the file holds %lld",
                     path, n, d > 0 ? (long long)((size - here) / (long)item / d) : 0);
        goto done;
    }
    unsigned char *raw = malloc((size_t)d * item);
    if (!raw) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (long long r = 0; r < n && !st; r++) {
        if (fread(raw, item, (size_t)d, fp) != (size_t)d) {
            st = sj_fail(SJ_ERR_IO, "%s: read error at row %lld", path, r);
            break;
        }
        for (long long k = 0; k < d && !st; k++) {
            if (item == 1) {
                ing->row_buf[k] = raw[k];
                continue;
            }
            double v;
            if (item == 4) {
                float x;
                memcpy(&x, raw + 4 * k, 4);
                v = x;
            } else
                memcpy(&v, raw + 8 * k, 8);
            if (!isfinite(v) || fabs(v) > FLT_MAX)
                st = sj_fail(SJ_ERR_PARSE, "%s: row %lld, component %lld is %s", path, r, k + 1,
                             isnan(v) ? "NaN" : isinf(v) ? "infinite" : "beyond float32");
            float x = (float)v;
            memcpy(ing->row_buf + 4 * k, &x, 4);
        }
        int64_t id;
        if (!st)
            st = assign_id(ing, path, "row", r, &id);
        if (!st)
            st = add_decoded(ing, id, -1, r + 1);
    }
    free(raw);
done:
    free(h);
    return st;
}

/* One non-blank, non-comment line. first: 1 if it is the file's first such
 * line (a header is allowed there). */
static sj_status parse_line(sj_ingest *ing, const char *path, int64_t line, const char *text,
                            size_t len, int first)
{
    size_t nb = sj_hash_type_bytes(ing->opt.type);
    char kind[24];
    sj_hash_type_format(ing->opt.type, kind, sizeof kind);
    field f[4];
    int nf = split_commas(text, len, f, 4);
    int64_t id;
    int quality = -1;
    sj_status st;

    if (ing->opt.type.kind == SJ_KIND_F32)
        return parse_f32_line(ing, path, line, text, len, first);
    if (ing->tab.active)
        return parse_table_row(ing, path, line, text, len);
    /* A header: the first line, not data-like: its first field is not a
     * hash, not an id, and not of a hash's length (a damaged hash is an
     * error, not a header); a line of one field must name a known column. */
    size_t nb0 = sj_hash_type_bytes(ing->opt.type);
    int hash_length = f[0].len == 2 * nb0 || (takes_base64(ing) && f[0].len == base64_len(nb0));
    char norm0[64];
    normalize(f[0], norm0, sizeof norm0);
    if (first && nf <= MAX_COLUMNS && !is_hash(ing, f[0]) && !parse_i64(f[0], &id) && !hash_length &&
        (nf > 1 || memchr(text, ';', len) || role_of(norm0, ing->opt.type) != COL_IGNORED) &&
        (isalpha((unsigned char)f[0].p[0]) || f[0].p[0] == '"' || memchr(text, ';', len))) {
        int is_table;
        return parse_header(ing, path, text, len, &is_table);
    }
    if (nf == 1) { /* bare hash */
        if (!is_hash(ing, f[0]))
            return bad_hash(ing, path, line, 1, f[0]);
        if ((st = assign_id(ing, path, NULL, line, &id)))
            return st;
        return add_row(ing, id, f[0], -1, line);
    }
    if (is_hash(ing, f[1]) && parse_i64(f[0], &id)) { /* id,hash[,quality] */
        if (nf > 3)
            return sj_fail(SJ_ERR_PARSE, "%s:%lld: %d fields, expected id,hash[,quality]", path,
                           (long long)line, nf);
        if (nf == 3 && (st = parse_quality(path, line, 3, f[2], &quality)))
            return st;
        return add_row(ing, id, f[1], quality, line);
    }
    if (is_hash(ing, f[0])) { /* ThreatExchange: hash,quality[,filename...] */
        if ((st = parse_quality(path, line, 2, f[1], &quality)))
            return st;
        if ((st = assign_id(ing, path, NULL, line, &id)))
            return st;
        return add_threatexchange_row(ing, path, line, text, len, id, f[0], quality);
    }
    /* A header: first line, no field looks like data. */
    int64_t dummy;
    if (first && !parse_i64(f[0], &dummy) && isalpha((unsigned char)f[0].p[0]))
        return SJ_OK;
    if (!parse_i64(f[0], &dummy) && f[0].len != 2 * nb)
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: field 1 is neither an int64 id nor a %s hash",
                       path, (long long)line, kind);
    if ((f[0].len == 2 * nb || (takes_base64(ing) && f[0].len == base64_len(nb))) &&
        !is_hash(ing, f[0]) && !parse_i64(f[0], &dummy))
        return bad_hash(ing, path, line, 1, f[0]);
    return bad_hash(ing, path, line, 2, f[1]);
}

/* Close an input opened by sj_ingest_file (stdin stays open). */
static void close_input(FILE *fp)
{
    if (fp != stdin)
        fclose(fp);
}

/* The 1-based field of byte `at` of a line split at delim ("quotes" honoured). */
static int field_at(const char *text, size_t at, char delim)
{
    int field = 1, quoted = 0;
    for (size_t i = 0; i < at; i++)
        if (text[i] == '"')
            quoted = !quoted;
        else if (text[i] == delim && !quoted)
            field++;
    return field;
}

/* "field N (Name)" for byte `at` of a line, into buf. */
static void name_field(const sj_ingest *ing, const char *text, size_t len, size_t at, char *buf,
                       size_t size)
{
    const table *tb = &ing->tab;
    size_t commas = 0, semis = 0;
    for (size_t i = 0; i < len; i++)
        commas += text[i] == ',', semis += text[i] == ';';
    char delim = tb->active ? tb->delim : semis > commas ? ';' : ',';
    int f = field_at(text, at, delim);
    if (tb->active && f <= tb->n_cols)
        snprintf(buf, size, "field %d (%s)", f, tb->name[f - 1]);
    else
        snprintf(buf, size, "field %d", f);
}

/* A line of the file as UTF-8: checked (the default), or converted from
 * the input encoding into *conv. *text and *len are updated to the result. */
static sj_status line_to_utf8(const sj_ingest *ing, const char *path, int64_t line,
                              const char **text, size_t *len, char **conv, size_t *conv_cap)
{
    size_t bad;
    char where[96];
    if (ing->opt.encoding != SJ_TEXT_UTF8) {
        if (!sj_text_to_utf8(ing->opt.encoding, *text, *len, conv, conv_cap, len, &bad)) {
            *text = *conv;
            return SJ_OK;
        }
        name_field(ing, *text, *len, bad, where, sizeof where);
        return sj_fail(SJ_ERR_PARSE, "%s:%lld: %s: byte 0x%02X has no character in cp1252", path,
                       (long long)line, where, (unsigned char)(*text)[bad]);
    }
    if ((bad = sj_utf8_check(*text, *len)) == *len)
        return SJ_OK;
    name_field(ing, *text, *len, bad, where, sizeof where);
    return sj_fail(SJ_ERR_PARSE, "%s:%lld: %s is not valid UTF-8 (byte %zu of the line); if the "
                                 "file is in another encoding, give --encoding cp1252 or latin1",
                   path, (long long)line, where, bad + 1);
}

sj_status sj_ingest_file(sj_ingest *ing, const char *path)
{
    int from_stdin = !strcmp(path, "-");
    FILE *fp = from_stdin ? stdin : fopen(path, "rb");
    if (!fp)
        return sj_fail(SJ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (from_stdin)
        path = "stdin";
    char **files = realloc(ing->files, (size_t)(ing->n_files + 1) * sizeof *files);
    if (!files) {
        close_input(fp);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    ing->files = files;
    ing->files[ing->n_files] = strdup(path);
    if (!ing->files[ing->n_files]) {
        close_input(fp);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    ing->n_files++;

    memset(&ing->tab, 0, sizeof ing->tab);
    size_t plen = strlen(path);
    if (plen > 4 && !strcmp(path + plen - 4, ".npy")) {
        sj_status st = ingest_npy(ing, fp, path);
        close_input(fp);
        return st;
    }
    char *buf = NULL, *conv = NULL;
    size_t cap = 0, conv_cap = 0;
    ssize_t got;
    int64_t line = 0;
    int first = 1;
    sj_status st = SJ_OK;
    while ((got = getline(&buf, &cap, fp)) >= 0) {
        line++;
        if (memchr(buf, 0, (size_t)got)) {
            st = sj_fail(SJ_ERR_PARSE, "%s:%lld: NUL byte: not a text file", path,
                         (long long)line);
            break;
        }
        const char *text = buf;
        size_t len = (size_t)got;
        if (line == 1) { /* a byte order mark (Excel writes one) */
            size_t bom = sj_utf8_bom(text, len);
            text += bom, len -= bom;
        }
        if ((st = line_to_utf8(ing, path, line, &text, &len, &conv, &conv_cap)))
            break;
        field t = trim(text, len);
        if (t.len == 0 || t.p[0] == '#')
            continue;
        st = parse_line(ing, path, line, t.p, t.len, first);
        first = 0;
        if (st)
            break;
    }
    if (!st && ferror(fp))
        st = sj_fail(SJ_ERR_IO, "%s: read error after line %lld", path, (long long)line);
    free(buf);
    free(conv);
    close_input(fp);
    return st;
}

const char *sj_ingest_ignored_columns(const sj_ingest *ing) { return ing->ignored; }

sj_status sj_ingest_finish(sj_ingest *ing, sj_hashes **out)
{
    *out = NULL;
    int64_t n = ing->rows->n;
    sj_id_row *order = malloc((size_t)SJ_MAX(n, 1) * sizeof *order); /* rows in id order */
    if (!order)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        order[i] = (sj_id_row){ing->rows->ids[i], i};
    qsort(order, (size_t)n, sizeof *order, sj_cmp_id_row);
    for (int64_t i = 1; i < n; i++) {
        if (order[i].id == order[i - 1].id) {
            row_origin a = ing->origin[order[i - 1].row], b = ing->origin[order[i].row];
            sj_status st = sj_fail(SJ_ERR_DUPLICATE_ID, "%s:%lld: duplicate id, first seen at %s:%lld",
                                   ing->files[b.file], (long long)b.line, ing->files[a.file],
                                   (long long)a.line);
            free(order);
            return st;
        }
    }
    free(order);
    *out = ing->rows;
    ing->rows = NULL;
    return sj_hashes_create(ing->opt.type, 0, &ing->rows);
}
