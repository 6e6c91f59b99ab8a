/* text_out.c - safe CSV fields, JSON strings, HTML text and terminal text;
 * UTF-8 checks and cp1252/latin1 conversion. See text_out.h. */
#include "io/text_out.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

size_t sj_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    *cp = 0;
    if (len == 0)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (u[0] >= 0xC2 && u[0] <= 0xDF)
        n = 2, c = u[0] & 0x1F, min = 0x80;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF)
        n = 3, c = u[0] & 0x0F, min = 0x800;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4)
        n = 4, c = u[0] & 0x07, min = 0x10000;
    else
        return 0; /* a continuation byte, C0/C1 (overlong), or F5..FF */
    if (len < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((u[k] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (u[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

size_t sj_utf8_check(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t n = sj_utf8_next(s + i, len - i, &cp);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

size_t sj_utf8_bom(const char *s, size_t len)
{
    return len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

/* Windows-1252 0x80..0x9F (0: no character there). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

/* Encode cp (< 0x10000 here) as UTF-8 into out; returns bytes. */
static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

sj_status sj_text_encoding_parse(const char *name, sj_text_encoding *out)
{
    static const struct {
        const char *name;
        sj_text_encoding enc;
    } names[] = {{"utf-8", SJ_TEXT_UTF8},        {"utf8", SJ_TEXT_UTF8},
                 {"cp1252", SJ_TEXT_CP1252},     {"windows-1252", SJ_TEXT_CP1252},
                 {"latin1", SJ_TEXT_LATIN1},     {"iso-8859-1", SJ_TEXT_LATIN1}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].enc;
            return SJ_OK;
        }
    return sj_fail(SJ_ERR_ARG, "unknown text encoding '%s' (utf-8, cp1252 or latin1)", name);
}

sj_status sj_text_to_utf8(sj_text_encoding enc, const char *in, size_t len, char **buf,
                          size_t *cap, size_t *out_len, size_t *bad)
{
    size_t need = (enc == SJ_TEXT_UTF8 ? len : 3 * len) + 1;
    if (*cap < need) {
        char *b = realloc(*buf, need);
        if (!b)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        *buf = b;
        *cap = need;
    }
    char *o = *buf;
    size_t used = 0;
    if (enc == SJ_TEXT_UTF8) {
        memcpy(o, in, len);
        used = len;
    }
    for (size_t i = 0; enc != SJ_TEXT_UTF8 && i < len; i++) {
        unsigned char b = (unsigned char)in[i];
        uint32_t cp = b;
        if (enc == SJ_TEXT_CP1252 && b >= 0x80 && b <= 0x9F && !(cp = cp1252_high[b - 0x80])) {
            *bad = i;
            return sj_fail(SJ_ERR_PARSE, "byte 0x%02X has no character in cp1252", b);
        }
        used += utf8_put(cp, o + used);
    }
    o[used] = 0;
    *out_len = used;
    return SJ_OK;
}

/* ---- CSV ---- */

int sj_csv_is_formula(const char *s)
{
    while (*s == ' ')
        s++;
    if (*s && strchr("=+-@\t\r", *s))
        return 1;
    /* full-width forms U+FF1D = U+FF0B + U+FF0D - U+FF20 @ (EF BC xx) */
    const unsigned char *u = (const unsigned char *)s;
    return u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x9D || u[2] == 0x8B || u[2] == 0x8D || u[2] == 0xA0);
}

void sj_csv_put_text(FILE *fp, const char *s, char delim)
{
    int formula = sj_csv_is_formula(s);
    if (!formula && !strchr(s, delim) && !strpbrk(s, "\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputs(formula ? "\"'" : "\"", fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

/* ---- JSON ---- */

void sj_json_put_bytes(FILE *fp, const char *s, size_t len)
{
    fputc('"', fp);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = sj_utf8_next(s + i, len - i, &cp);
        if (!n) {
            fputs("\\ufffd", fp);
            i++;
            continue;
        }
        switch (cp) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\b': fputs("\\b", fp); break;
        case '\f': fputs("\\f", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029)
                fprintf(fp, "\\u%04x", (unsigned)cp);
            else
                fwrite(s + i, 1, n, fp);
        }
        i += n;
    }
    fputc('"', fp);
}

void sj_json_put_string(FILE *fp, const char *s) { sj_json_put_bytes(fp, s, strlen(s)); }

/* ---- HTML ---- */

void sj_html_put_text(FILE *fp, const char *s)
{
    size_t len = strlen(s), i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = sj_utf8_next(s + i, len - i, &cp);
        if (!n || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F)) {
            fputs("\xEF\xBF\xBD", fp); /* U+FFFD */
            i += n ? n : 1;
            continue;
        }
        switch (cp) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fwrite(s + i, 1, n, fp);
        }
        i += n;
    }
}

/* ---- the terminal ---- */

static int is_bidi_control(uint32_t cp)
{
    return cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

char *sj_term_escape(char *dst, size_t cap, const char *s)
{
    size_t len = strlen(s), i = 0, used = 0;
    if (cap == 0)
        return dst;
    while (i < len) {
        uint32_t cp;
        size_t n = sj_utf8_next(s + i, len - i, &cp);
        char piece[16];
        size_t plen;
        if (!n || cp < 0x20 || cp == 0x7F) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", (unsigned char)s[i]);
            n = n ? n : 1;
        } else if ((cp >= 0x80 && cp <= 0x9F) || is_bidi_control(cp)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)cp);
        } else {
            memcpy(piece, s + i, n);
            plen = n;
        }
        if (used + plen + 1 > cap)
            break;
        memcpy(dst + used, piece, plen);
        used += plen;
        i += n;
    }
    dst[used] = 0;
    return dst;
}
