/* SPDX-License-Identifier: MIT */
/*
 * The lexer of the pattern language: Erlang's tokens as far as trace specs
 * use them (atoms, variables, integers in any radix, floats, $c characters,
 * strings and quoted atoms with escapes, operators), plus the tokens of
 * common mistakes (`<=`, `!=`, `&&`, `||`) so the parser can explain them.
 *
 * The input has been checked to be valid UTF-8 before the lexer runs, so it
 * only looks at bytes above 0x7f to show them in messages.
 */
#include <float.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pattern/parse_internal.h"

static bool is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* A character that continues an atom or variable. */
static bool is_word(int c)
{
    return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@';
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* The value of a digit in bases up to 36, or 99 for anything else. */
static unsigned digit_value(int c)
{
    if (is_digit(c))
        return (unsigned)(c - '0');
    if (is_lower(c))
        return (unsigned)(c - 'a' + 10);
    if (is_upper(c))
        return (unsigned)(c - 'A' + 10);
    return 99;
}

/* The length of the UTF-8 sequence that starts with byte `c`. */
static size_t utf8_length(unsigned char c)
{
    if (c < 0xc0)
        return 1;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    return 4;
}

int ctrace__lex_column(const char *src, size_t pos)
{
    int column = 1;
    for (size_t i = 0; i < pos; i++) {
        if (((unsigned char)src[i] & 0xc0) != 0x80)
            column++;
    }
    return column;
}

bool ctrace__lex_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(s, w, len) == 0;
}

void ctrace__lex_quote(const char *s,
                       size_t len,
                       bool quote,
                       char *buf,
                       size_t size)
{
    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    if (quote)
        ctrace__sbuf_putc(&b, '\'');
    size_t i = 0;
    int chars = 0;
    bool cut = false;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (chars == 20 || ((c < 0x20 || c == 0x7f) && i > 0)) {
            cut = true;
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            /* Only the very first character can get here: show it. */
            ctrace__sbuf_printf(&b, "\\x%02x", c);
            i++;
        } else {
            size_t n = utf8_length(c);
            if (n > len - i)
                n = len - i;
            ctrace__sbuf_append(&b, s + i, n);
            i += n;
        }
        chars++;
    }
    if (cut)
        ctrace__sbuf_puts(&b, "...");
    if (quote)
        ctrace__sbuf_putc(&b, '\'');
    if (size > 0) {
        if (b.failed)
            snprintf(buf, size, "%s", quote ? "'...'" : "...");
        else
            snprintf(buf, size, "%s", b.data != NULL ? b.data : "");
    }
    ctrace__sbuf_free(&b);
}

void ctrace__lex_describe(const struct ctrace__lexer *lx,
                          const struct ctrace__token *tok,
                          char *buf,
                          size_t size)
{
    if (tok->kind == CTRACE__TOK_END) {
        snprintf(buf, size, "end of input");
        return;
    }
    ctrace__lex_quote(lx->src + tok->pos, tok->len, true, buf, size);
}

/* Fills the lexer's error for the text at byte offset `pos`. */
static int
lex_error(struct ctrace__lexer *lx, int code, size_t pos, const char *fmt, ...)
    CTRACE__PRINTF(4, 5);

static int
lex_error(struct ctrace__lexer *lx, int code, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctrace__error_setv(
        lx->err, code, ctrace__lex_column(lx->src, pos), pos, fmt, ap);
    va_end(ap);
    return code;
}

static int no_memory(struct ctrace__lexer *lx)
{
    return ctrace__error_set(lx->err, CTRACE_ENOMEM, 0, 0, "out of memory");
}

/* The source text from `start` to the lexer's position, quoted. */
static void
quote_from(const struct ctrace__lexer *lx, size_t start, char *buf, size_t size)
{
    ctrace__lex_quote(lx->src + start, lx->pos - start, true, buf, size);
}

/*
 * Decodes the escape sequence at lx->src[*at] (the backslash) and moves *at
 * past it. A byte escape (\xHH, octal) sets *is_byte: its value is a byte,
 * not a code point to encode as UTF-8.
 */
static int
lex_escape(struct ctrace__lexer *lx, size_t *at, uint32_t *cp, bool *is_byte)
{
    const char *s = lx->src;
    size_t start = *at;
    size_t i = start + 1;
    *is_byte = false;
    /* The caller has checked that the backslash is not the last byte. */
    int c = (unsigned char)s[i];
    static const char simple[] = "b\bd\177e\033f\fn\nr\rs t\tv\v''\"\"\\\\";
    for (size_t k = 0; k + 1 < sizeof(simple); k += 2) {
        if (c == simple[k]) {
            *cp = (unsigned char)simple[k + 1];
            *at = i + 1;
            return 0;
        }
    }
    if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        size_t n = 0;
        while (n < 3 && i < lx->len && s[i] >= '0' && s[i] <= '7') {
            v = v * 8 + (uint32_t)(s[i] - '0');
            i++;
            n++;
        }
        if (v > 255) {
            char q[64];
            ctrace__lex_quote(s + start, i - start, true, q, sizeof(q));
            return lex_error(lx,
                             CTRACE_ESYNTAX,
                             start,
                             "octal escape %s is out of range; the largest "
                             "byte is \\377",
                             q);
        }
        *cp = v;
        *is_byte = true;
        *at = i;
        return 0;
    }
    if (c == 'x') {
        i++;
        if (i < lx->len && s[i] == '{') {
            i++;
            uint32_t v = 0;
            size_t n = 0;
            while (i < lx->len && digit_value((unsigned char)s[i]) < 16) {
                if (v <= 0x10ffff)
                    v = v * 16 + digit_value((unsigned char)s[i]);
                i++;
                n++;
            }
            if (n == 0 || i >= lx->len || s[i] != '}') {
                return lex_error(lx,
                                 CTRACE_ESYNTAX,
                                 start,
                                 "expected hex digits and '}' after '\\x{' "
                                 "in escape");
            }
            i++;
            if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
                char q[64];
                ctrace__lex_quote(s + start, i - start, true, q, sizeof(q));
                return lex_error(lx,
                                 CTRACE_ESYNTAX,
                                 start,
                                 "escape %s is not a Unicode code point",
                                 q);
            }
            *cp = v;
            *at = i;
            return 0;
        }
        if (i + 1 < lx->len && digit_value((unsigned char)s[i]) < 16 &&
            digit_value((unsigned char)s[i + 1]) < 16) {
            *cp = digit_value((unsigned char)s[i]) * 16 +
                  digit_value((unsigned char)s[i + 1]);
            *is_byte = true;
            *at = i + 2;
            return 0;
        }
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         start,
                         "expected two hex digits or {...} after '\\x' in "
                         "escape");
    }
    char q[64];
    ctrace__lex_quote(
        s + start, 1 + utf8_length((unsigned char)c), true, q, sizeof(q));
    return lex_error(lx,
                     CTRACE_ESYNTAX,
                     start,
                     "unknown escape %s; expected one of \\b \\d \\e \\f \\n "
                     "\\r \\s \\t \\v \\' \\\" \\\\ \\NNN \\xHH \\x{H...}",
                     q);
}

/* Appends code point `cp` as UTF-8 to `out` and returns the new end. */
static char *put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xc0 | (cp >> 6));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xe0 | (cp >> 12));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *out++ = (char)(0xf0 | (cp >> 18));
        *out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    }
    return out;
}

/*
 * A string or a quoted atom, closed by `quote`. The decoded text is never
 * longer than the source text, so one allocation of the source size holds
 * it.
 */
static int lex_quoted(struct ctrace__lexer *lx, struct ctrace__token *tok)
{
    const char *s = lx->src;
    size_t start = lx->pos;
    char quote = s[start];
    size_t end = start + 1;
    while (end < lx->len && s[end] != quote) {
        end += s[end] == '\\' ? 2 : 1;
    }
    if (end >= lx->len) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         start,
                         quote == '"'
                             ? "unterminated string: no closing '\"'"
                             : "unterminated quoted atom: no closing quote");
    }
    char *buf = ctrace__arena_alloc(lx->arena, end - start);
    if (buf == NULL)
        return no_memory(lx);
    char *out = buf;
    size_t i = start + 1;
    while (i < end) {
        if (s[i] != '\\') {
            *out++ = s[i++];
            continue;
        }
        uint32_t cp;
        bool is_byte;
        int rc = lex_escape(lx, &i, &cp, &is_byte);
        if (rc != 0)
            return rc;
        if (is_byte)
            *out++ = (char)cp;
        else
            out = put_utf8(out, cp);
    }
    *out = '\0';
    lx->pos = end + 1;
    tok->len = lx->pos - start;
    tok->s = buf;
    tok->slen = (size_t)(out - buf);
    if (quote == '"') {
        tok->kind = CTRACE__TOK_STRING;
        return 0;
    }
    tok->kind = CTRACE__TOK_QATOM;
    if (memchr(buf, '\0', tok->slen) != NULL) {
        return lex_error(
            lx, CTRACE_ESYNTAX, start, "an atom cannot contain a NUL byte");
    }
    if (!ctrace__utf8_valid(buf, tok->slen)) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         start,
                         "an atom must be valid UTF-8; its escapes make it "
                         "invalid");
    }
    return 0;
}

/* `$c`: the code of one character, or of one escape sequence. */
static int lex_char(struct ctrace__lexer *lx, struct ctrace__token *tok)
{
    size_t start = lx->pos;
    size_t i = start + 1;
    if (i >= lx->len) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         start,
                         "expected a character after '$', got end of input");
    }
    uint32_t cp;
    if (lx->src[i] == '\\') {
        if (i + 1 >= lx->len) {
            return lex_error(lx,
                             CTRACE_ESYNTAX,
                             start,
                             "expected an escape after '$\\', got end of "
                             "input");
        }
        bool is_byte;
        int rc = lex_escape(lx, &i, &cp, &is_byte);
        if (rc != 0)
            return rc;
    } else {
        const unsigned char *p = (const unsigned char *)lx->src + i;
        size_t n = utf8_length(p[0]);
        if (n == 1) {
            cp = p[0];
        } else {
            cp = p[0] & (0x7f >> n);
            for (size_t k = 1; k < n; k++)
                cp = (cp << 6) | (p[k] & 0x3f);
        }
        i += n;
    }
    lx->pos = i;
    tok->kind = CTRACE__TOK_INT;
    tok->u = cp;
    tok->len = i - start;
    return 0;
}

/* Converts decimal float text with the C locale, whatever the program's. */
static double c_strtod(const char *text, bool *ok)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c == (locale_t)0) {
        *ok = false;
        return 0;
    }
    double d = strtod_l(text, NULL, c);
    freelocale(c);
    *ok = true;
    return d;
}

/*
 * Digits in base `base` from lx->pos (at least one) into *value, for the
 * number that starts at `start`. With `letters` every letter is taken, so
 * that `16#fg` reports the bad digit instead of ending the number early.
 */
static int lex_digits(struct ctrace__lexer *lx,
                      size_t start,
                      unsigned base,
                      bool letters,
                      uint64_t *value)
{
    const char *s = lx->src;
    size_t i = lx->pos;
    uint64_t v = 0;
    bool overflow = false;
    /* Plain decimals stop at a letter, which the caller then reports. */
    unsigned limit = letters ? 36 : 10;
    if (i >= lx->len || digit_value((unsigned char)s[i]) >= limit) {
        char q[64];
        quote_from(lx, start, q, sizeof(q));
        return lex_error(
            lx, CTRACE_ESYNTAX, start, "expected digits after %s", q);
    }
    while (i < lx->len && digit_value((unsigned char)s[i]) < limit) {
        unsigned d = digit_value((unsigned char)s[i]);
        if (d >= base) {
            return lex_error(lx,
                             CTRACE_ESYNTAX,
                             i,
                             "digit '%c' is not valid in base %u",
                             s[i],
                             base);
        }
        if (v > (UINT64_MAX - d) / base)
            overflow = true;
        else
            v = v * base + d;
        i++;
    }
    lx->pos = i;
    if (overflow) {
        char q[64];
        ctrace__lex_quote(s + start, i - start, false, q, sizeof(q));
        return lex_error(
            lx, CTRACE_ESYNTAX, start, "integer %s does not fit in 64 bits", q);
    }
    *value = v;
    return 0;
}

static int lex_number(struct ctrace__lexer *lx, struct ctrace__token *tok)
{
    const char *s = lx->src;
    size_t start = lx->pos;
    size_t i = start;
    while (i < lx->len && is_digit(s[i]))
        i++;
    tok->kind = CTRACE__TOK_INT;
    bool decimal = false;
    int rc;
    if (i < lx->len && s[i] == '#') {
        /* Base#digits, base 2..36. */
        unsigned long base = 0;
        for (size_t k = start; k < i && base <= 36; k++)
            base = base * 10 + (unsigned long)(s[k] - '0');
        if (base < 2 || base > 36) {
            char q[64];
            ctrace__lex_quote(s + start, i - start, false, q, sizeof(q));
            return lex_error(
                lx, CTRACE_ESYNTAX, start, "radix %s is out of range 2..36", q);
        }
        lx->pos = i + 1;
        rc = lex_digits(lx, start, (unsigned)base, true, &tok->u);
    } else if (i == start + 1 && s[start] == '0' && i < lx->len &&
               (s[i] == 'x' || s[i] == 'X')) {
        lx->pos = i + 1;
        rc = lex_digits(lx, start, 16, true, &tok->u);
    } else if (i + 1 < lx->len && s[i] == '.' && is_digit(s[i + 1])) {
        /* A float: digits on both sides of the dot, then an exponent. */
        i++;
        while (i < lx->len && is_digit(s[i]))
            i++;
        if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
            i++;
            if (i < lx->len && (s[i] == '+' || s[i] == '-'))
                i++;
            if (i >= lx->len || !is_digit(s[i])) {
                lx->pos = i;
                char q[64];
                quote_from(lx, start, q, sizeof(q));
                return lex_error(lx,
                                 CTRACE_ESYNTAX,
                                 start,
                                 "expected digits in the exponent of %s",
                                 q);
            }
            while (i < lx->len && is_digit(s[i]))
                i++;
        }
        lx->pos = i;
        char *text = ctrace__arena_strndup(lx->arena, s + start, i - start);
        if (text == NULL)
            return no_memory(lx);
        bool ok;
        double d = c_strtod(text, &ok);
        if (!ok)
            return no_memory(lx);
        if (d > DBL_MAX) {
            char q[64];
            quote_from(lx, start, q, sizeof(q));
            return lex_error(
                lx, CTRACE_ESYNTAX, start, "float %s is out of range", q);
        }
        tok->kind = CTRACE__TOK_FLOAT;
        tok->d = d;
        rc = 0;
    } else {
        lx->pos = start;
        decimal = true;
        rc = lex_digits(lx, start, 10, false, &tok->u);
    }
    if (rc != 0)
        return rc;
    /* A number runs into a word: 1e3, 12abc, 1_000. */
    if (lx->pos < lx->len && is_word(s[lx->pos])) {
        size_t end = lx->pos;
        while (end < lx->len && (is_word(s[end]) || s[end] == '.'))
            end++;
        char q[64];
        ctrace__lex_quote(s + start, end - start, true, q, sizeof(q));
        if (decimal && (s[lx->pos] == 'e' || s[lx->pos] == 'E')) {
            return lex_error(lx,
                             CTRACE_ESYNTAX,
                             start,
                             "invalid number %s; a float needs digits on "
                             "both sides of a dot, as in 1.0e3",
                             q);
        }
        return lex_error(lx, CTRACE_ESYNTAX, start, "invalid number %s", q);
    }
    tok->len = lx->pos - start;
    return 0;
}

/* A word: an atom, a variable, or in name mode a glob such as cat_*. */
static void
lex_word(struct ctrace__lexer *lx, struct ctrace__token *tok, bool name_mode)
{
    const char *s = lx->src;
    size_t start = lx->pos;
    bool var = is_upper(s[start]) || s[start] == '_';
    bool glob_ok = name_mode && !var;
    size_t i = start;
    tok->glob = false;
    while (i < lx->len && (is_word(s[i]) || (glob_ok && s[i] == '*'))) {
        if (s[i] == '*')
            tok->glob = true;
        i++;
    }
    lx->pos = i;
    tok->kind = var ? CTRACE__TOK_VAR : CTRACE__TOK_ATOM;
    tok->len = i - start;
    tok->s = s + start;
    tok->slen = tok->len;
}

/* Operators, longest first so that `=:=` wins over `=`. */
static const struct {
    const char *text;
    enum ctrace__tok_kind kind;
} operators[] = {
    {"=:=", CTRACE__TOK_EXACT_EQ},  {"=/=", CTRACE__TOK_EXACT_NE},
    {"->", CTRACE__TOK_ARROW},      {"++", CTRACE__TOK_PLUSPLUS},
    {"--", CTRACE__TOK_MINUSMINUS}, {"==", CTRACE__TOK_EQ_EQ},
    {"/=", CTRACE__TOK_SLASH_EQ},   {"=<", CTRACE__TOK_EQ_LT},
    {">=", CTRACE__TOK_GT_EQ},      {"<<", CTRACE__TOK_LBIN},
    {">>", CTRACE__TOK_RBIN},       {"<=", CTRACE__TOK_LT_EQ},
    {"!=", CTRACE__TOK_BANG_EQ},    {"&&", CTRACE__TOK_AMP_AMP},
    {"||", CTRACE__TOK_BAR_BAR},    {"(", CTRACE__TOK_LPAREN},
    {")", CTRACE__TOK_RPAREN},      {"{", CTRACE__TOK_LBRACE},
    {"}", CTRACE__TOK_RBRACE},      {"[", CTRACE__TOK_LBRACKET},
    {"]", CTRACE__TOK_RBRACKET},    {",", CTRACE__TOK_COMMA},
    {";", CTRACE__TOK_SEMI},        {":", CTRACE__TOK_COLON},
    {"/", CTRACE__TOK_SLASH},       {"|", CTRACE__TOK_BAR},
    {"<", CTRACE__TOK_LT},          {">", CTRACE__TOK_GT},
    {"+", CTRACE__TOK_PLUS},        {"-", CTRACE__TOK_MINUS},
    {"*", CTRACE__TOK_STAR},        {"#", CTRACE__TOK_HASH},
    {"=", CTRACE__TOK_EQ},
};

/* A `.`: never a token here, but worth a precise message. */
static int lex_dot(struct ctrace__lexer *lx)
{
    const char *s = lx->src;
    size_t at = lx->pos;
    size_t i = at + 1;
    if (i < lx->len && is_digit(s[i])) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         at,
                         "a float needs a digit before the dot, as in 0.5");
    }
    while (i < lx->len && is_space(s[i]))
        i++;
    if (i == lx->len) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         at,
                         "unexpected '.' at the end; a spec needs no final "
                         "dot");
    }
    if (at > 0 && is_digit(s[at - 1])) {
        return lex_error(lx,
                         CTRACE_ESYNTAX,
                         at,
                         "a float needs digits on both sides of the dot, as "
                         "in 1.0");
    }
    return lex_error(lx, CTRACE_ESYNTAX, at, "unexpected character '.'");
}

int ctrace__lex_next(struct ctrace__lexer *lx,
                     struct ctrace__token *tok,
                     bool name_mode)
{
    const char *s = lx->src;
    while (lx->pos < lx->len && is_space(s[lx->pos]))
        lx->pos++;
    memset(tok, 0, sizeof(*tok));
    tok->pos = lx->pos;
    if (lx->col == 0 || lx->pos < lx->col_pos) {
        lx->col_pos = 0;
        lx->col = 1;
    }
    for (size_t i = lx->col_pos; i < lx->pos; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            lx->col++;
    }
    lx->col_pos = lx->pos;
    tok->column = lx->col;
    if (lx->pos >= lx->len) {
        tok->kind = CTRACE__TOK_END;
        return 0;
    }
    int c = (unsigned char)s[lx->pos];
    if (is_lower(c) || is_upper(c) || c == '_' || (name_mode && c == '*')) {
        lex_word(lx, tok, name_mode);
        return 0;
    }
    if (is_digit(c))
        return lex_number(lx, tok);
    if (c == '"' || c == '\'')
        return lex_quoted(lx, tok);
    if (c == '$')
        return lex_char(lx, tok);
    if (c == '.')
        return lex_dot(lx);
    for (size_t k = 0; k < CTRACE__ARRAY_SIZE(operators); k++) {
        size_t n = strlen(operators[k].text);
        if (n <= lx->len - lx->pos &&
            memcmp(s + lx->pos, operators[k].text, n) == 0) {
            tok->kind = operators[k].kind;
            tok->len = n;
            lx->pos += n;
            return 0;
        }
    }
    char q[64];
    ctrace__lex_quote(
        s + lx->pos, utf8_length((unsigned char)c), true, q, sizeof(q));
    return lex_error(lx, CTRACE_ESYNTAX, lx->pos, "unexpected character %s", q);
}
