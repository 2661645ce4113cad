/*
 * Typed decoding of GetCdr records into ClickHouse's Native format.
 *
 * A `Decoder` takes InfoCdr records as JSON text, in chunks of any size, and appends one row per
 * record to a Native file. The columns are the record's fields, typed as the Python caller
 * describes them, then `raw` and `typed`:
 *
 * - `typed` is 1 when this decoder decoded the record. It does so only when every rule gives an
 *   unambiguous value. Each known member appears once, and every non-nullable field is present.
 *   Strings have no escapes and are valid UTF-8. Integers are plain JSON integers inside the
 *   column's range. Money is a plain JSON number without exponent that fits Decimal(18, 6) after
 *   rounding half to even at the sixth decimal. Stop is not before start.
 * - `raw` contains the record's bytes exactly as received when the columns do not contain the
 *   whole record: for every record with `typed` 0, and for a typed record with a member that has no
 *   column or with money that had non-zero decimals after the sixth. It is '' otherwise.
 *
 * Rows with `typed` 0 have empty values in the other columns. The SQL decoding in
 * vos3000/cdr_sql.py decodes their `raw` with the full rules and reasons. Input that is not JSON
 * objects separated by commas is an error, as it is for ClickHouse's JSONAsString reader.
 *
 * The input is either the content of `infoCdrs` arrays, fed reply by reply (records separated by
 * commas, no brackets), or a whole JSON array. Only an incomplete record and one output block of
 * at most `block_rows` rows are kept in memory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { KIND_STR = 0, KIND_INT = 1, KIND_MONEY = 2 };
enum { PARSE_OK = 0, PARSE_NEED_MORE = 1, PARSE_BAD = 2 };

#define MAX_FIELDS 64
#define MONEY_MAX_SCALED 999999999999999999LL /* 999999999999.999999 at scale 6 */
#define MONEY_MAX_INT_DIGITS 12

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buf;

typedef struct {
    char *key;
    size_t key_len;
    /* The name in quotes as up to three words with their masks, for a comparison without a
     * loop over bytes. `words` is 0 for a name longer than 22 bytes. */
    uint64_t quoted[3];
    uint64_t quoted_mask[3];
    int words;
    char *column;
    char *type;
    int kind;
    int width;
    int nullable;
    long long low;
    long long high;
    Buf data;
    Buf nulls;
    /* Value of the record being parsed; str points into the input block. */
    int present;
    const char *str;
    size_t str_len;
    int64_t value;
} Field;

typedef struct {
    PyObject_HEAD
    Field fields[MAX_FIELDS];
    int count;
    int start_index;
    int stop_index;
    Buf raw;
    Buf typed;
    size_t block_rows;
    size_t rows_in_block;
    FILE *native;
    Buf pending; /* input not parsed yet: an incomplete record and what follows it */
    uint64_t required; /* bit i set for each non-nullable field */
    uint64_t seen;     /* bit i set for each field of the current record that has a value */
    int whole_array;
    int state;
    long long typed_rows;
    long long other_rows;
    char error[300];
} Decoder;

static int buf_reserve(Buf *buf, size_t extra) {
    if (buf->len + extra <= buf->cap) {
        return 0;
    }
    size_t cap = buf->cap ? buf->cap : 65536;
    while (cap < buf->len + extra) {
        cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (data == NULL) {
        return -1;
    }
    buf->data = data;
    buf->cap = cap;
    return 0;
}

static void buf_free(Buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* Append an unsigned LEB128 number, the length prefix of Native strings and headers. */
static size_t put_varint(char *out, uint64_t value) {
    size_t n = 0;
    while (value >= 0x80) {
        out[n++] = (char)((value & 0x7f) | 0x80);
        value >>= 7;
    }
    out[n++] = (char)value;
    return n;
}

static int buf_put_string(Buf *buf, const char *data, size_t len) {
    if (buf_reserve(buf, len + 10) != 0) {
        return -1;
    }
    buf->len += put_varint(buf->data + buf->len, len);
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

/* Append the low `width` bytes of `value`, little-endian as Native stores integers. */
static int buf_put_int(Buf *buf, int64_t value, int width) {
    if (buf_reserve(buf, 8) != 0) {
        return -1;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(buf->data + buf->len, &value, 8); /* the bytes past `width` are overwritten later */
    buf->len += (size_t)width;
#else
    uint64_t bits = (uint64_t)value;
    for (int i = 0; i < width; i++) {
        buf->data[buf->len++] = (char)(bits & 0xff);
        bits >>= 8;
    }
#endif
    return 0;
}

static inline int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && is_ws(*p)) {
        p++;
    }
    return p;
}

/* Check well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len) {
            return 0; /* the sequence is cut off */
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Bytes that end the plain run of a string: the quote, the backslash, control bytes and bytes
 * above 0x7f. Filled by init_tables(). */
static unsigned char special_in_string[256];

static void init_tables(void) {
    for (int c = 0; c < 256; c++) {
        special_in_string[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
    }
}

/*
 * Scan the JSON string that starts at p (at its opening quote). Set *after to the byte after the
 * closing quote. *plain is 1 when the string has no escapes and no control bytes, so its bytes are
 * its value; *ascii is 1 when it has no byte above 0x7f.
 */
static int scan_string(const char *p, const char *end, const char **after, int *plain,
                       int *ascii) {
    *plain = 1;
    *ascii = 1;
    p++;
    while (p < end) {
#ifdef __SSE2__
        /* 16 bytes at a time: stop at a quote, a backslash or a control byte, and note any byte
         * above 0x7f on the way. */
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i backslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)p);
            __m128i control = _mm_andnot_si128(_mm_cmplt_epi8(bytes, _mm_setzero_si128()),
                                               _mm_cmplt_epi8(bytes, space));
            __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote),
                                                     _mm_cmpeq_epi8(bytes, backslash)),
                                        control);
            int stops = _mm_movemask_epi8(stop);
            int high = _mm_movemask_epi8(bytes);
            if (stops == 0) {
                if (high) {
                    *ascii = 0;
                }
                p += 16;
                continue;
            }
            int first = __builtin_ctz((unsigned)stops);
            if (high & ((1 << first) - 1)) {
                *ascii = 0;
            }
            p += first;
            break;
        }
#endif
        while (p < end && !special_in_string[(unsigned char)*p]) {
            p++;
        }
        if (p >= end) {
            break;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *after = p + 1;
            return PARSE_OK;
        }
        if (c == '\\') {
            *plain = 0;
            p += 2;
            continue;
        }
        if (c < 0x20) {
            *plain = 0;
        } else if (c >= 0x80) {
            *ascii = 0;
        }
        p++;
    }
    return PARSE_NEED_MORE;
}

/*
 * Find the end of the JSON value at p without checking it in detail: strings, nested objects and
 * arrays by bracket depth, and scalars up to the next delimiter. The records that need this go to
 * the SQL decoding, where ClickHouse parses them strictly.
 */
static int skip_value(const char *p, const char *end, const char **after) {
    int plain, ascii;
    if (p >= end) {
        return PARSE_NEED_MORE;
    }
    if (*p == '"') {
        return scan_string(p, end, after, &plain, &ascii);
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                int status = scan_string(p, end, &p, &plain, &ascii);
                if (status != PARSE_OK) {
                    return status;
                }
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
                if (depth == 0) {
                    *after = p + 1;
                    return PARSE_OK;
                }
            }
            p++;
        }
        return PARSE_NEED_MORE;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p)) {
        p++;
    }
    if (p >= end) {
        return PARSE_NEED_MORE;
    }
    *after = p;
    return PARSE_OK;
}

static inline int is_delimiter(char c) { return c == ',' || c == '}' || is_ws(c); }

/*
 * Parse a plain JSON integer (optional minus, no leading zeros, no fraction or exponent) at p.
 * Returns 1 and sets *value and *after when it is one and fits int64, 0 otherwise.
 */
static int parse_integer(const char *p, const char *end, int64_t *value, const char **after) {
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    const char *digits = p;
    uint64_t magnitude = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - digits >= 19) {
            return 0; /* 20 digits or more do not fit int64 */
        }
        magnitude = magnitude * 10 + (uint64_t)(*p - '0');
        p++;
    }
    size_t count = (size_t)(p - digits);
    if (count == 0 || (count > 1 && digits[0] == '0') || p >= end || !is_delimiter(*p)) {
        return 0;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return 0;
        }
        *value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    } else {
        if (magnitude > (uint64_t)INT64_MAX) {
            return 0;
        }
        *value = (int64_t)magnitude;
    }
    *after = p;
    return 1;
}

/*
 * Parse a plain JSON number (no exponent) at p into an integer count of millionths, rounded half
 * to even. Returns 1 when it is one and fits Decimal(18, 6), 0 otherwise. Sets *rounded when a
 * non-zero decimal after the sixth was dropped.
 */
static int parse_money(const char *p, const char *end, int64_t *value, const char **after,
                       int *rounded) {
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    const char *digits = p;
    int64_t scaled = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - digits >= MONEY_MAX_INT_DIGITS) {
            return 0;
        }
        scaled = scaled * 10 + (*p - '0');
        p++;
    }
    size_t count = (size_t)(p - digits);
    if (count == 0 || (count > 1 && digits[0] == '0')) {
        return 0;
    }
    int decimals = 0;
    int next_digit = 0; /* the seventh decimal */
    int sticky = 0;     /* a non-zero decimal after the seventh */
    if (p < end && *p == '.') {
        p++;
        const char *fraction = p;
        while (p < end && *p >= '0' && *p <= '9') {
            int digit = *p - '0';
            if (decimals < 6) {
                scaled = scaled * 10 + digit;
                decimals++;
            } else if (p - fraction == 6) {
                next_digit = digit;
            } else if (digit != 0) {
                sticky = 1;
            }
            p++;
        }
        if (p == fraction) {
            return 0;
        }
    }
    if (p >= end || !is_delimiter(*p)) {
        return 0; /* an exponent, or not a number */
    }
    for (; decimals < 6; decimals++) {
        scaled *= 10;
    }
    if (next_digit > 5 || (next_digit == 5 && (sticky || (scaled & 1)))) {
        scaled++;
    }
    if (scaled > MONEY_MAX_SCALED) {
        return 0;
    }
    *value = negative ? -scaled : scaled;
    *after = p;
    *rounded = next_digit != 0 || sticky;
    return 1;
}

/* Check a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? filling [p, end). */
static int valid_number(const char *p, const char *end) {
    if (p < end && *p == '-') {
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        return 0;
    }
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && *p == '.') {
        const char *digits = ++p;
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == digits) {
            return 0;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == digits) {
            return 0;
        }
    }
    return p == end;
}

/*
 * Check the value [p, end) of a member this decoder does not store: a plain valid UTF-8 string,
 * a number or a literal. Nested values and escaped strings are left to ClickHouse's parser.
 */
static int valid_other_value(const char *p, const char *end) {
    size_t len = (size_t)(end - p);
    if (*p == '"') {
        for (const char *c = p + 1; c < end - 1; c++) {
            if (*c == '\\' || (unsigned char)*c < 0x20) {
                return 0;
            }
        }
        return valid_utf8((const unsigned char *)p + 1, len - 2);
    }
    if ((len == 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) ||
        (len == 5 && memcmp(p, "false", 5) == 0)) {
        return 1;
    }
    return valid_number(p, end);
}

/* memcmp(a, b, len) == 0 for the short member names, without a library call. */
static inline int same_bytes(const char *a, const char *b, size_t len) {
    while (len >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) {
            return 0;
        }
        a += 8;
        b += 8;
        len -= 8;
    }
    while (len--) {
        if (*a++ != *b++) {
            return 0;
        }
    }
    return 1;
}

/* Check whether the quoted name of `field` starts at p; at least 24 bytes must follow p. */
static inline int quoted_key_at(const Field *field, const char *p) {
    for (int w = 0; w < field->words; w++) {
        uint64_t bytes;
        memcpy(&bytes, p + 8 * w, 8);
        if ((bytes & field->quoted_mask[w]) != field->quoted[w]) {
            return 0;
        }
    }
    return field->words > 0;
}

static int find_field(Decoder *decoder, const char *key, size_t len, int guess) {
    if (guess < decoder->count) {
        Field *field = &decoder->fields[guess];
        if (field->key_len == len && same_bytes(field->key, key, len)) {
            return guess;
        }
    }
    for (int i = 0; i < decoder->count; i++) {
        Field *field = &decoder->fields[i];
        if (field->key_len == len && same_bytes(field->key, key, len)) {
            return i;
        }
    }
    return -1;
}

/*
 * Parse the value of a known field at p into the field; return 0 when the record is left to the
 * SQL decoding. Sets *inexact when the column value differs from the JSON text (money rounded).
 */
static int parse_field_value(Field *field, const char *p, const char *end, const char **after,
                             int *inexact) {
    if (field->nullable && end - p >= 4 && memcmp(p, "null", 4) == 0 &&
        (end - p == 4 || is_delimiter(p[4]) || p[4] == '}')) {
        field->present = 0;
        *after = p + 4;
        return 1;
    }
    if (field->kind == KIND_STR) {
        int plain, ascii;
        if (*p != '"' || scan_string(p, end, after, &plain, &ascii) != PARSE_OK || !plain) {
            return 0;
        }
        field->str = p + 1;
        field->str_len = (size_t)(*after - p - 2);
        if (!ascii && !valid_utf8((const unsigned char *)field->str, field->str_len)) {
            return 0;
        }
        return 1;
    }
    int64_t value;
    if (field->kind == KIND_MONEY) {
        int rounded;
        if (!parse_money(p, end, &value, after, &rounded)) {
            return 0;
        }
        *inexact |= rounded;
    } else if (!parse_integer(p, end, &value, after) || value < field->low ||
               value > field->high) {
        return 0;
    }
    field->value = value;
    return 1;
}

/*
 * Parse the record object at p. Sets *after to the byte after it, *decoded to 1 when every field
 * was decoded here, and *keep_raw to 1 when the columns do not hold the whole record.
 */
static int parse_record(Decoder *decoder, const char *p, const char *end, const char **after,
                        int *decoded, int *keep_raw) {
    uint64_t seen = 0;
    uint64_t valued = 0;
    *keep_raw = 0;
    int ok = 1;
    int guess = 0;
    decoder->seen = 0;
    p = skip_ws(p + 1, end);
    if (p >= end) {
        return PARSE_NEED_MORE;
    }
    if (*p == '}') {
        *after = p + 1;
        *decoded = 0;
        return PARSE_OK;
    }
    for (;;) {
        if (p >= end) {
            return PARSE_NEED_MORE;
        }
        if (*p != '"') {
            return PARSE_BAD;
        }
        int index;
        int status;
        /* Records repeat the member order, so the next member is usually the guessed field:
         * compare its quoted name before scanning. */
        if (guess < decoder->count && end - p >= 24 && quoted_key_at(&decoder->fields[guess], p)) {
            index = guess;
            p += decoder->fields[guess].key_len + 2;
        } else {
            const char *key = p + 1;
            int plain, ascii;
            status = scan_string(p, end, &p, &plain, &ascii);
            if (status != PARSE_OK) {
                return status;
            }
            size_t key_len = (size_t)(p - key - 1);
            index = plain ? find_field(decoder, key, key_len, guess) : -1;
            if (!plain || (!ascii && !valid_utf8((const unsigned char *)key, key_len))) {
                ok = 0; /* an escaped name may spell a known field */
            }
        }
        p = skip_ws(p, end);
        if (p >= end) {
            return PARSE_NEED_MORE;
        }
        if (*p != ':') {
            return PARSE_BAD;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            return PARSE_NEED_MORE;
        }
        const char *value = p;
        if (index >= 0) {
            Field *field = &decoder->fields[index];
            if (seen & ((uint64_t)1 << index)) {
                ok = 0;
            }
            seen |= (uint64_t)1 << index;
            field->present = 1;
            guess = index + 1;
            if (ok && parse_field_value(field, value, end, &p, keep_raw)) {
                if (field->present) {
                    valued |= (uint64_t)1 << index; /* not a null */
                }
            } else {
                ok = 0;
                status = skip_value(value, end, &p);
                if (status != PARSE_OK) {
                    return status;
                }
            }
        } else {
            status = skip_value(value, end, &p);
            if (status != PARSE_OK) {
                return status;
            }
            if (ok && !valid_other_value(value, p)) {
                ok = 0;
            }
            *keep_raw = 1; /* a member without a column */
        }
        p = skip_ws(p, end);
        if (p >= end) {
            return PARSE_NEED_MORE;
        }
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (*p == '}') {
            *after = p + 1;
            break;
        }
        return PARSE_BAD;
    }
    if ((valued & decoder->required) != decoder->required) {
        ok = 0;
    }
    decoder->seen = valued;
    if (ok && decoder->fields[decoder->stop_index].value <
                  decoder->fields[decoder->start_index].value) {
        ok = 0;
    }
    *decoded = ok;
    return PARSE_OK;
}

/*
 * Append a row. With `typed`, the parsed fields of the record and `raw_len` bytes of its text
 * (0 or its length); otherwise empty values and the whole text.
 */
static int append_row(Decoder *decoder, const char *record, size_t len, int typed,
                      size_t raw_len) {
    for (int i = 0; i < decoder->count; i++) {
        Field *field = &decoder->fields[i];
        int present = typed && ((decoder->seen >> i) & 1);
        if (field->nullable) {
            if (buf_reserve(&field->nulls, 1) != 0) {
                return -1;
            }
            field->nulls.data[field->nulls.len++] = present ? 0 : 1;
        }
        int failed;
        if (field->kind == KIND_STR) {
            failed = buf_put_string(&field->data, present ? field->str : "",
                                    present ? field->str_len : 0);
        } else {
            failed = buf_put_int(&field->data, present ? field->value : 0, field->width);
        }
        if (failed) {
            return -1;
        }
    }
    if (buf_put_string(&decoder->raw, record, typed ? raw_len : len) != 0 ||
        buf_reserve(&decoder->typed, 1) != 0) {
        return -1;
    }
    decoder->typed.data[decoder->typed.len++] = typed ? 1 : 0;
    decoder->rows_in_block++;
    if (typed) {
        decoder->typed_rows++;
    } else {
        decoder->other_rows++;
    }
    return 0;
}

static int write_header_string(FILE *out, const char *text) {
    char prefix[10];
    size_t len = strlen(text);
    size_t n = put_varint(prefix, len);
    return fwrite(prefix, 1, n, out) == n && fwrite(text, 1, len, out) == len ? 0 : -1;
}

static int write_buf(FILE *out, Buf *buf) {
    int failed = buf->len && fwrite(buf->data, 1, buf->len, out) != buf->len;
    buf->len = 0;
    return failed ? -1 : 0;
}

static void clear_block(Decoder *decoder) {
    for (int i = 0; i < decoder->count; i++) {
        decoder->fields[i].data.len = 0;
        decoder->fields[i].nulls.len = 0;
    }
    decoder->raw.len = 0;
    decoder->typed.len = 0;
    decoder->rows_in_block = 0;
}

/* Write the rows collected so far as one Native block. */
static int flush_block(Decoder *decoder) {
    if (decoder->rows_in_block == 0) {
        return 0;
    }
    char prefix[20];
    size_t n = put_varint(prefix, (uint64_t)decoder->count + 2);
    n += put_varint(prefix + n, decoder->rows_in_block);
    int failed = fwrite(prefix, 1, n, decoder->native) != n;
    for (int i = 0; !failed && i < decoder->count; i++) {
        Field *field = &decoder->fields[i];
        failed = write_header_string(decoder->native, field->column) != 0 ||
                 write_header_string(decoder->native, field->type) != 0 ||
                 (field->nullable && write_buf(decoder->native, &field->nulls) != 0) ||
                 write_buf(decoder->native, &field->data) != 0;
    }
    failed = failed || write_header_string(decoder->native, "raw") != 0 ||
             write_header_string(decoder->native, "String") != 0 ||
             write_buf(decoder->native, &decoder->raw) != 0 ||
             write_header_string(decoder->native, "typed") != 0 ||
             write_header_string(decoder->native, "UInt8") != 0 ||
             write_buf(decoder->native, &decoder->typed) != 0;
    clear_block(decoder);
    return failed ? -1 : 0;
}

/*
 * Parser states. ARRAY_OPEN expects the '[' of a whole array; ARRAY_FIRST the first element or
 * the end; ARRAY_ELEMENT an element after a comma; ARRAY_NEXT a comma or the end; ARRAY_CLOSED
 * nothing but whitespace.
 */
enum { ARRAY_OPEN, ARRAY_FIRST, ARRAY_ELEMENT, ARRAY_NEXT, ARRAY_CLOSED };

enum { FEED_OK = 0, FEED_BAD = -1, FEED_IO = -2 };

/*
 * Parse the complete elements of [data, data + len) and set *used to the bytes consumed. In a
 * reply's array content (`whole_array` 0) a ']' is not allowed.
 */
static int consume(Decoder *decoder, const char *data, size_t len, size_t *used) {
    int whole_array = decoder->whole_array;
    const char *end = data + len;
    const char *p = data;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end) {
            break;
        }
        int state = decoder->state;
        if (state == ARRAY_OPEN) {
            if (*p != '[') {
                goto bad;
            }
            p++;
            decoder->state = ARRAY_FIRST;
            continue;
        }
        if (state == ARRAY_CLOSED) {
            goto bad;
        }
        if (*p == ']' && whole_array && (state == ARRAY_FIRST || state == ARRAY_NEXT)) {
            p++;
            decoder->state = ARRAY_CLOSED;
            continue;
        }
        if (state == ARRAY_NEXT) {
            if (*p != ',') {
                goto bad;
            }
            p++;
            decoder->state = ARRAY_ELEMENT;
            continue;
        }
        const char *after = NULL;
        int decoded = 0;
        int keep_raw = 0;
        int status;
        if (*p != '{') {
            snprintf(decoder->error, sizeof decoder->error,
                     "a record is not a JSON object: it starts with byte 0x%02x", (unsigned char)*p);
            return FEED_BAD;
        }
        status = parse_record(decoder, p, end, &after, &decoded, &keep_raw);
        if (status == PARSE_BAD) {
            goto bad;
        }
        if (status == PARSE_NEED_MORE) {
            break;
        }
        size_t size = (size_t)(after - p);
        if (append_row(decoder, p, size, decoded, keep_raw ? size : 0) != 0) {
            snprintf(decoder->error, sizeof decoder->error, "out of memory");
            return FEED_IO;
        }
        if (decoder->rows_in_block >= decoder->block_rows && flush_block(decoder) != 0) {
            snprintf(decoder->error, sizeof decoder->error, "could not write the Native file");
            return FEED_IO;
        }
        p = after;
        decoder->state = ARRAY_NEXT;
    }
    *used = (size_t)(p - data);
    return FEED_OK;

bad:
    snprintf(decoder->error, sizeof decoder->error,
             "records are not JSON objects separated by commas: unexpected byte 0x%02x",
             (unsigned char)*p);
    return FEED_BAD;
}

static int append_pending(Decoder *decoder, const char *data, size_t len) {
    if (buf_reserve(&decoder->pending, len) != 0) {
        snprintf(decoder->error, sizeof decoder->error, "out of memory");
        return FEED_IO;
    }
    memcpy(decoder->pending.data + decoder->pending.len, data, len);
    decoder->pending.len += len;
    return FEED_OK;
}

/*
 * Feed input. An incomplete record kept from the previous call is completed by copying growing
 * slices of `data` after it. Once that record is parsed, parsing goes on in `data` itself, and
 * an incomplete record at its end is kept for the next call.
 */
static int feed(Decoder *decoder, const char *data, size_t len) {
    size_t offset = 0;
    size_t step = 4096;
    int status;
    while (decoder->pending.len > 0 && offset < len) {
        size_t kept = decoder->pending.len;
        size_t slice = len - offset < step ? len - offset : step;
        if ((status = append_pending(decoder, data + offset, slice)) != FEED_OK) {
            return status;
        }
        offset += slice;
        size_t used = 0;
        status = consume(decoder, decoder->pending.data, decoder->pending.len, &used);
        if (status != FEED_OK) {
            return status;
        }
        if (used >= kept) {
            /* Everything kept before is parsed: go back to the first unparsed byte of data. */
            offset -= decoder->pending.len - used;
            decoder->pending.len = 0;
        } else {
            memmove(decoder->pending.data, decoder->pending.data + used,
                    decoder->pending.len - used);
            decoder->pending.len -= used;
            step *= 2;
        }
    }
    if (decoder->pending.len == 0 && offset < len) {
        size_t used = 0;
        status = consume(decoder, data + offset, len - offset, &used);
        if (status != FEED_OK) {
            return status;
        }
        offset += used;
        if (offset < len) {
            return append_pending(decoder, data + offset, len - offset);
        }
    }
    return FEED_OK;
}

static int has_pending_input(Decoder *decoder) {
    const char *end = decoder->pending.data + decoder->pending.len;
    return decoder->pending.len > 0 && skip_ws(decoder->pending.data, end) < end;
}

/* ------------------------------------------------------------------ Python type */

static char *copy_text(PyObject *text) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) {
        return NULL;
    }
    char *copy = malloc((size_t)size + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, utf8, (size_t)size + 1);
    return copy;
}

static int read_fields(Decoder *decoder, PyObject *fields) {
    PyObject *sequence = PySequence_Fast(fields, "fields must be a sequence");
    if (sequence == NULL) {
        return -1;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    if (count < 1 || count > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d fields are supported", MAX_FIELDS);
        Py_DECREF(sequence);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key, *column, *type;
        int kind, width, nullable;
        long long low, high;
        Field *field = &decoder->fields[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(sequence, i), "UUUiipLL;field", &key,
                              &column, &type, &kind, &width, &nullable, &low, &high)) {
            Py_DECREF(sequence);
            return -1;
        }
        decoder->count = (int)i + 1;
        field->key = copy_text(key);
        field->column = copy_text(column);
        field->type = copy_text(type);
        if (field->key == NULL || field->column == NULL || field->type == NULL) {
            Py_DECREF(sequence);
            return -1;
        }
        field->key_len = strlen(field->key);
        size_t quoted_len = field->key_len + 2;
        if (quoted_len <= 24) {
            unsigned char quoted[24] = {0};
            unsigned char mask[24] = {0};
            quoted[0] = '"';
            memcpy(quoted + 1, field->key, field->key_len);
            quoted[quoted_len - 1] = '"';
            memset(mask, 0xff, quoted_len);
            field->words = (int)((quoted_len + 7) / 8);
            for (int w = 0; w < field->words; w++) {
                memcpy(&field->quoted[w], quoted + 8 * w, 8);
                memcpy(&field->quoted_mask[w], mask + 8 * w, 8);
            }
        }
        if (!nullable) {
            decoder->required |= (uint64_t)1 << i;
        }
        field->kind = kind;
        field->width = width;
        field->nullable = nullable;
        field->low = low;
        field->high = high;
        if (kind < KIND_STR || kind > KIND_MONEY ||
            (kind != KIND_STR && width != 1 && width != 2 && width != 4 && width != 8) ||
            (kind == KIND_MONEY && width != 8)) {
            PyErr_Format(PyExc_ValueError, "field %s: invalid kind %d or width %d", field->key,
                         kind, width);
            Py_DECREF(sequence);
            return -1;
        }
    }
    Py_DECREF(sequence);
    return 0;
}

static void Decoder_dealloc(Decoder *self) {
    if (self->native != NULL) {
        fclose(self->native);
    }
    for (int i = 0; i < self->count; i++) {
        Field *field = &self->fields[i];
        free(field->key);
        free(field->column);
        free(field->type);
        buf_free(&field->data);
        buf_free(&field->nulls);
    }
    buf_free(&self->raw);
    buf_free(&self->typed);
    buf_free(&self->pending);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Decoder_init(Decoder *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"path",       "fields",      "start_index", "stop_index",
                               "block_rows", "whole_array", "append",      NULL};
    PyObject *path;
    PyObject *fields;
    int start_index, stop_index, whole_array, append;
    Py_ssize_t block_rows;

    if (self->count != 0) {
        PyErr_SetString(PyExc_RuntimeError, "a Decoder is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&Oiinpp", keywords, PyUnicode_FSConverter,
                                     &path, &fields, &start_index, &stop_index, &block_rows,
                                     &whole_array, &append)) {
        return -1;
    }

    int result = -1;
    if (read_fields(self, fields) != 0) {
        goto done;
    }
    if (start_index < 0 || start_index >= self->count || stop_index < 0 ||
        stop_index >= self->count || block_rows < 1) {
        PyErr_SetString(PyExc_ValueError, "invalid start_index, stop_index or block_rows");
        goto done;
    }

    self->start_index = start_index;
    self->stop_index = stop_index;
    self->block_rows = (size_t)block_rows;
    self->whole_array = whole_array;
    self->state = whole_array ? ARRAY_OPEN : ARRAY_FIRST;

    self->native = fopen(PyBytes_AS_STRING(path), append ? "ab" : "wb");
    if (self->native == NULL) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, PyBytes_AS_STRING(path));
        goto done;
    }
    setvbuf(self->native, NULL, _IOFBF, 1 << 20);
    result = 0;
done:
    Py_DECREF(path);
    return result;
}

static int check_open(Decoder *self) {
    if (self->native == NULL) {
        PyErr_SetString(PyExc_ValueError, "the decoder is closed");
        return -1;
    }
    return 0;
}

static PyObject *raise_feed_error(Decoder *self, int status) {
    if (status == FEED_BAD) {
        PyErr_SetString(PyExc_ValueError, self->error);
    } else {
        PyErr_SetString(PyExc_OSError, self->error);
    }
    return NULL;
}

PyDoc_STRVAR(feed_doc,
             "feed(data, first_of_reply=False)\n--\n\n"
             "Decode the complete records of `data` and keep an incomplete one for the next call.\n"
             "`first_of_reply` starts the records of another reply; the previous one must have\n"
             "ended with a complete record. Raise ValueError for input that is not JSON records\n"
             "separated by commas.");

static PyObject *Decoder_feed(Decoder *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"data", "first_of_reply", NULL};
    Py_buffer data;
    int first_of_reply = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &data, &first_of_reply)) {
        return NULL;
    }
    if (check_open(self) != 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (first_of_reply && !self->whole_array) {
        if (has_pending_input(self) || self->state == ARRAY_ELEMENT) {
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_ValueError, "the previous reply ended inside a record");
            return NULL;
        }
        self->pending.len = 0;
        self->state = ARRAY_FIRST;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = feed(self, data.buf, (size_t)data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (status != FEED_OK) {
        return raise_feed_error(self, status);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(end_input_doc,
             "end_input()\n--\n\n"
             "Check that the input so far ends after a complete record (or a closed array), and\n"
             "raise ValueError otherwise.");

static PyObject *Decoder_end_input(Decoder *self, PyObject *Py_UNUSED(ignored)) {
    if (check_open(self) != 0) {
        return NULL;
    }
    int open_array = self->whole_array && self->state != ARRAY_CLOSED;
    if (has_pending_input(self) || self->state == ARRAY_ELEMENT || open_array) {
        PyErr_SetString(PyExc_ValueError, "the records end inside a record or after a comma");
        return NULL;
    }
    self->pending.len = 0;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(flush_doc,
             "flush(sync=False)\n--\n\n"
             "Write the rows decoded so far and return the size of the Native file; with `sync`,\n"
             "also fsync it.");

static PyObject *Decoder_flush(Decoder *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"sync", NULL};
    int sync = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p", keywords, &sync)) {
        return NULL;
    }
    if (check_open(self) != 0) {
        return NULL;
    }
    int failed;
    long long offset;
    Py_BEGIN_ALLOW_THREADS
    failed = flush_block(self) != 0 || fflush(self->native) != 0 ||
             (sync && fsync(fileno(self->native)) != 0);
    offset = failed ? -1 : (long long)ftello(self->native);
    Py_END_ALLOW_THREADS
    if (failed || offset < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLongLong(offset);
}

PyDoc_STRVAR(truncate_doc,
             "truncate(offset)\n--\n\n"
             "Drop the rows after byte `offset` of the Native file (a value `flush` returned), the\n"
             "rows not yet written and any incomplete record.");

static PyObject *Decoder_truncate(Decoder *self, PyObject *args) {
    long long offset;
    if (!PyArg_ParseTuple(args, "L", &offset)) {
        return NULL;
    }
    if (check_open(self) != 0) {
        return NULL;
    }
    clear_block(self);
    self->pending.len = 0;
    self->state = self->whole_array ? ARRAY_OPEN : ARRAY_FIRST;
    if (fflush(self->native) != 0 || ftruncate(fileno(self->native), (off_t)offset) != 0 ||
        fseeko(self->native, (off_t)offset, SEEK_SET) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(close_doc,
             "close()\n--\n\n"
             "Write the remaining rows and close the Native file.");

static PyObject *Decoder_close(Decoder *self, PyObject *Py_UNUSED(ignored)) {
    if (self->native == NULL) {
        Py_RETURN_NONE;
    }
    int failed = flush_block(self) != 0;
    failed = fclose(self->native) != 0 || failed;
    self->native = NULL;
    if (failed) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *Decoder_typed_rows(Decoder *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong(self->typed_rows);
}

static PyObject *Decoder_other_rows(Decoder *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong(self->other_rows);
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)(void (*)(void))Decoder_feed, METH_VARARGS | METH_KEYWORDS, feed_doc},
    {"end_input", (PyCFunction)Decoder_end_input, METH_NOARGS, end_input_doc},
    {"flush", (PyCFunction)(void (*)(void))Decoder_flush, METH_VARARGS | METH_KEYWORDS,
     flush_doc},
    {"truncate", (PyCFunction)Decoder_truncate, METH_VARARGS, truncate_doc},
    {"close", (PyCFunction)Decoder_close, METH_NOARGS, close_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Decoder_getset[] = {
    {"typed_rows", (getter)Decoder_typed_rows, NULL, "rows decoded by this decoder", NULL},
    {"other_rows", (getter)Decoder_other_rows, NULL, "rows left to the SQL decoding", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Decoder_doc,
             "Decoder(path, fields, start_index, stop_index, block_rows, whole_array, append)\n"
             "--\n\n"
             "Decoder of InfoCdr records into the Native file at `path`, created or appended to.\n"
             "`fields` are tuples (member name, column, ClickHouse type, kind 0=str 1=int\n"
             "2=money, width in bytes, nullable, minimum, maximum). `start_index` and\n"
             "`stop_index` are the fields compared for stop >= start. With `whole_array` the\n"
             "input is one JSON array, otherwise the content of arrays fed reply by reply.");

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ykvos_dagster.vos3000._cdr_native.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Decoder_doc,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_cdr_native",
    "Typed decoding of GetCdr records into ClickHouse's Native format.",
    -1,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__cdr_native(void) {
    init_tables();
    if (PyType_Ready(&DecoderType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
