/* text_out.h - text that people and their tools open (CSV, JSON, HTML, the
 * terminal), made safe in one place each, and the UTF-8 checks and
 * conversions of text read in. The writers write to a stream the caller
 * owns; whatever bytes they are given, what they write is well-formed. */
#ifndef SIMJOIN_TEXT_OUT_H
#define SIMJOIN_TEXT_OUT_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- UTF-8 ---- */

/* Bytes (1..4) of the well-formed UTF-8 character at s[0..len), its code
 * point in *cp; 0 when s does not start one (a stray continuation byte, a
 * cut sequence, an overlong form, a surrogate, or beyond U+10FFFF). */
size_t sj_utf8_next(const char *s, size_t len, uint32_t *cp);
/* Offset of the first byte of s[0..len) that is not well-formed UTF-8, or
 * len when all of it is. */
size_t sj_utf8_check(const char *s, size_t len);
/* len bytes of a leading UTF-8 byte order mark (EF BB BF) at s, or 0. */
size_t sj_utf8_bom(const char *s, size_t len);
/* in[0..len) in enc, as UTF-8 in *buf (grown as needed: realloc'd, owned
 * by the caller, NUL-ended), *out_len bytes. UTF-8 is copied as it is (its
 * check is the caller's). SJ_ERR_PARSE when a byte has no character in enc
 * (cp1252: 0x81, 0x8D, 0x8F, 0x90, 0x9D); *bad is its offset. */
sj_status sj_text_to_utf8(sj_text_encoding enc, const char *in, size_t len, char **buf,
                          size_t *cap, size_t *out_len, size_t *bad);

/* ---- CSV (RFC 4180) ---- */

/* 1 when a spreadsheet would run s as a formula: its first character,
 * after any spaces, is = + - @ tab or CR, or a full-width = + - @. */
int sj_csv_is_formula(const char *s);
/* A text value (metadata, names, paths) as one CSV field: quoted when it
 * holds delim, a quote, CR or LF, with quotes doubled; a formula gets a
 * leading ' and is quoted (OWASP's rule). Numbers the tool formats itself
 * are written as they are, not through this. */
void sj_csv_put_text(FILE *fp, const char *s, char delim);

/* ---- JSON ---- */

/* s[0..len) as a JSON string, quotes included: " and \ escaped, control
 * characters (U+0000..U+001F, DEL, U+0080..U+009F) and U+2028, U+2029 as
 * four-digit \u escapes (ESC is \u001b), each byte that is not UTF-8 as
 * U+FFFD. */
void sj_json_put_bytes(FILE *fp, const char *s, size_t len);
/* The same for a NUL-ended string. */
void sj_json_put_string(FILE *fp, const char *s);

/* ---- HTML ---- */

/* s as HTML text or a quoted attribute value: < > & " ' as entities; control
 * characters other than tab and line ends, and bytes that are not UTF-8,
 * as U+FFFD. */
void sj_html_put_text(FILE *fp, const char *s);

/* ---- the terminal ---- */

/* s made safe to print on a terminal into dst[cap] (always NUL-ended, cut
 * only between whole characters): C0 controls (ESC included), DEL and bytes
 * that are not UTF-8 as \xNN, C1 controls and the bidirectional controls
 * (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) as \uNNNN. Returns dst. */
char *sj_term_escape(char *dst, size_t cap, const char *s);

#endif
