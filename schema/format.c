/* format.c — draft-07 `format` assertions (schema_format_check): each asserted format is a
 * hand-written recognizer of its RFC grammar, working on (pointer, length) so strings holding NUL
 * bytes are judged whole. Pure functions of their input; called by the validator (validate.c)
 * for every string instance under a `format` keyword, and by anyone checking a single value.
 */
#include "schema/schema.h"

#include "schema/regex.h"

#include <string.h>

static bool fmt_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool fmt_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool fmt_is_hex(char c)
{
    return fmt_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Value of exactly `n` ASCII digits at `s`, or -1. */
static int fmt_digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fmt_is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * date, time, date-time: RFC 3339 §5.6 (ABNF), §5.7 (restrictions, leap seconds).
 * ------------------------------------------------------------------------------------------- */

/* RFC 3339 Appendix C: Gregorian leap years. */
static int fmt_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* full-date = date-fullyear "-" date-month "-" date-mday (RFC 3339 §5.6). */
static bool fmt_full_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int year = fmt_digits(s, 4);
    int month = fmt_digits(s + 5, 2);
    int day = fmt_digits(s + 8, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1)
        return false;
    return day <= fmt_days_in_month(year, month);
}

/* time-offset = "Z" / time-numoffset; writes the offset east of UTC in minutes. "z" is accepted:
 * RFC 3339 §5.6 notes that "T" and "Z" may be lower case. */
static bool fmt_time_offset(const char *s, size_t len, int *minutes)
{
    if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *minutes = 0;
        return true;
    }
    if (len != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
        return false;
    int h = fmt_digits(s + 1, 2);
    int m = fmt_digits(s + 4, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return false;
    *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return true;
}

/* full-time = partial-time time-offset, partial-time = HH ":" MM ":" SS [ "." 1*DIGIT ].
 * Second 60 is a leap second (RFC 3339 §5.7): valid only where the time, brought back to UTC
 * by its offset, is 23:59:60 — leap seconds are inserted at the end of a UTC day. */
static bool fmt_full_time(const char *s, size_t len)
{
    if (len < 9 || s[2] != ':' || s[5] != ':')
        return false;
    int h = fmt_digits(s, 2);
    int m = fmt_digits(s + 3, 2);
    int sec = fmt_digits(s + 6, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return false;
    size_t i = 8;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && fmt_is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    int offset = 0;
    if (!fmt_time_offset(s + i, len - i, &offset))
        return false;
    if (sec == 60) {
        int utc = ((h * 60 + m - offset) % 1440 + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

/* date-time = full-date "T" full-time (RFC 3339 §5.6; "t" accepted, see the note there). */
static bool fmt_date_time(const char *s, size_t len)
{
    if (len < 11 || (s[10] != 'T' && s[10] != 't'))
        return false;
    return fmt_full_date(s, 10) && fmt_full_time(s + 11, len - 11);
}

/* ---------------------------------------------------------------------------------------------
 * ipv4, ipv6, hostname
 * ------------------------------------------------------------------------------------------- */

/* dotted-quad: four decimal octets 0-255 without leading zeros (RFC 3986 §3.2.2 dec-octet, the
 * grammar draft-07 points to through RFC 2673 §3.2; leading zeros would read as octal elsewhere).
 */
static bool fmt_ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        int v = 0;
        while (i < len && fmt_is_digit(s[i]) && i - start < 3)
            v = v * 10 + (s[i++] - '0');
        size_t n = i - start;
        if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
            return false;
    }
    return i == len;
}

/* One h16 (1-4 hex digits) at s[i]; returns the index after it, or `i` if there is none. */
static size_t fmt_h16_end(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && fmt_is_hex(s[j]))
        j++;
    return j;
}

/* IPv6 text form, RFC 4291 §2.2: eight 16-bit pieces x:x:x:x:x:x:x:x, at most one "::" standing
 * for one or more zero pieces, and the last 32 bits optionally as a dotted quad (form 3). No
 * zone index (RFC 6874 is for URIs, not for the address itself). */
static bool fmt_ipv6(const char *s, size_t len)
{
    size_t i = 0;
    int pieces = 0;
    bool compressed = false;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
    }
    while (i < len) {
        size_t j = fmt_h16_end(s, len, i);
        if (j < len && s[j] == '.') {
            if (!fmt_ipv4(s + i, len - i))
                return false;
            pieces += 2;
            break;
        }
        if (j == i || j - i > 4 || ++pieces > 8)
            return false;
        if (j == len)
            break;
        if (s[j] != ':' || j + 1 == len)
            return false;
        i = j + 1;
        if (s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i++;
        }
    }
    return compressed ? pieces <= 7 : pieces == 8;
}

/* Host name, RFC 1123 §2.1 on RFC 952: dot-separated labels of 1-63 letters, digits and hyphens,
 * neither starting nor ending with a hyphen (a leading digit is allowed since RFC 1123), at most
 * 253 characters in all. One trailing dot (the absolute form of RFC 1034 §3.1) is accepted. */
static bool fmt_hostname(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!fmt_is_alpha(c) && !fmt_is_digit(c) && c != '-')
            return false;
        if ((label == 0 && c == '-') || ++label > 63)
            return false;
    }
    return label > 0 && s[len - 1] != '-';
}

/* ---------------------------------------------------------------------------------------------
 * email: RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal )
 * ------------------------------------------------------------------------------------------- */

/* atext, RFC 5322 §3.2.3 (used by RFC 5321's Atom). */
static bool fmt_is_atext(char c)
{
    return fmt_is_alpha(c) || fmt_is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Dot-string = Atom *("." Atom): no leading, trailing or doubled dot. */
static bool fmt_dot_string(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i - 1] == '.')
                return false;
        } else if (!fmt_is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, with qtextSMTP = %d32-33 / %d35-91 / %d93-126 and
 * quoted-pairSMTP = "\" %d32-126. Returns the length of the quoted string at s, or 0. */
static size_t fmt_quoted_string(const char *s, size_t len)
{
    if (len < 2 || s[0] != '"')
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (++i >= len || s[i] < 32 || s[i] > 126)
                return 0;
        } else if (c < 32 || c > 126) {
            return 0;
        }
    }
    return 0;
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]". The
 * General-address-literal form needs an IANA-registered tag; none besides IPv6 exists, so it is
 * refused. */
static bool fmt_address_literal(const char *s, size_t len)
{
    if (len < 2 || s[0] != '[' || s[len - 1] != ']')
        return false;
    s++;
    len -= 2;
    if (len > 5 && memcmp(s, "IPv6:", 5) == 0)
        return fmt_ipv6(s + 5, len - 5);
    return fmt_ipv4(s, len);
}

/* Local-part = Dot-string / Quoted-string, at most 64 octets (RFC 5321 §4.5.3.1.1). */
static bool fmt_email(const char *s, size_t len)
{
    size_t local = 0;
    if (len > 0 && s[0] == '"') {
        local = fmt_quoted_string(s, len);
        if (local == 0 || local >= len || s[local] != '@')
            return false;
    } else {
        const char *at = memchr(s, '@', len);
        if (at == NULL)
            return false;
        local = (size_t)(at - s);
        if (!fmt_dot_string(s, local))
            return false;
    }
    if (local > 64)
        return false;
    const char *dom = s + local + 1;
    size_t dlen = len - local - 1;
    if (dlen > 0 && dom[0] == '[')
        return fmt_address_literal(dom, dlen);
    return fmt_hostname(dom, dlen) && dom[dlen - 1] != '.';
}

/* ---------------------------------------------------------------------------------------------
 * uri, uri-reference: RFC 3986 §3 (URI), §4.1 (URI-reference), §4.2 (relative-ref)
 * ------------------------------------------------------------------------------------------- */

/* unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (§2.3). */
static bool fmt_is_unreserved(char c)
{
    return fmt_is_alpha(c) || fmt_is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=" (§2.2). */
static bool fmt_is_sub_delim(char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* True if s[0..len) consists of unreserved, sub-delims, pct-encoded (§2.1: "%" HEXDIG HEXDIG)
 * and the characters of `extra`. */
static bool fmt_uri_chars(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len || !fmt_is_hex(s[i + 1]) || !fmt_is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!fmt_is_unreserved(c) && !fmt_is_sub_delim(c) &&
                   (c == '\0' || strchr(extra, c) == NULL)) {
            return false;
        }
    }
    return true;
}

/* IP-literal = "[" ( IPv6address / IPvFuture ) "]", IPvFuture = "v" 1*HEXDIG "." 1*( unreserved /
 * sub-delims / ":" ) (§3.2.2). `s` excludes the brackets. */
static bool fmt_ip_literal(const char *s, size_t len)
{
    if (len > 0 && (s[0] == 'v' || s[0] == 'V')) {
        size_t j = fmt_h16_end(s, len, 1);
        if (j == 1 || j >= len - 1 || s[j] != '.')
            return false;
        for (size_t i = j + 1; i < len; i++)
            if (!fmt_is_unreserved(s[i]) && !fmt_is_sub_delim(s[i]) && s[i] != ':')
                return false;
        return true;
    }
    return fmt_ipv6(s, len);
}

/* authority = [ userinfo "@" ] host [ ":" port ] (§3.2): userinfo may hold ":" but not "@";
 * host is an IP-literal or a reg-name (IPv4address is a reg-name syntactically); port = *DIGIT. */
static bool fmt_authority(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (at != NULL) {
        size_t ui = (size_t)(at - s);
        if (!fmt_uri_chars(s, ui, ":"))
            return false;
        s += ui + 1;
        len -= ui + 1;
    }
    size_t host = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || !fmt_ip_literal(s + 1, (size_t)(close - s) - 1))
            return false;
        host = (size_t)(close - s) + 1;
    } else {
        while (host < len && s[host] != ':')
            host++;
        if (!fmt_uri_chars(s, host, ""))
            return false;
    }
    if (host == len)
        return true;
    if (s[host] != ':')
        return false;
    for (size_t i = host + 1; i < len; i++)
        if (!fmt_is_digit(s[i]))
            return false;
    return true;
}

/* The part after scheme ":" (or the whole relative-ref): hier-part / relative-part, then
 * [ "?" query ] [ "#" fragment ]. `noscheme`: a relative-ref's first path segment may not contain
 * ":" (path-noscheme, §4.2), else it would read as a scheme. */
static bool fmt_uri_rest(const char *s, size_t len, bool noscheme)
{
    size_t end = 0;
    while (end < len && s[end] != '?' && s[end] != '#')
        end++;
    size_t path = 0;
    if (end >= 2 && s[0] == '/' && s[1] == '/') {
        size_t a = 2;
        while (a < end && s[a] != '/')
            a++;
        if (!fmt_authority(s + 2, a - 2))
            return false;
        path = a;
    } else if (noscheme) {
        size_t seg = 0;
        while (seg < end && s[seg] != '/')
            seg++;
        if (memchr(s, ':', seg) != NULL)
            return false;
    }
    /* path: segments of pchar = unreserved / pct-encoded / sub-delims / ":" / "@" (§3.3). */
    if (!fmt_uri_chars(s + path, end - path, ":@/"))
        return false;
    if (end < len && s[end] == '?') {
        size_t q = end + 1;
        end = q;
        while (end < len && s[end] != '#')
            end++;
        if (!fmt_uri_chars(s + q, end - q, ":@/?"))
            return false;
    }
    if (end < len)
        return fmt_uri_chars(s + end + 1, len - end - 1, ":@/?");
    return true;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (§3.1); returns the length of a scheme
 * followed by ":", or 0. */
static size_t fmt_scheme(const char *s, size_t len)
{
    if (len == 0 || !fmt_is_alpha(s[0]))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (c == ':')
            return i;
        if (!fmt_is_alpha(c) && !fmt_is_digit(c) && c != '+' && c != '-' && c != '.')
            return 0;
    }
    return 0;
}

/* URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ] (§3). */
static bool fmt_uri(const char *s, size_t len)
{
    size_t n = fmt_scheme(s, len);
    return n > 0 && fmt_uri_rest(s + n + 1, len - n - 1, false);
}

/* URI-reference = URI / relative-ref (§4.1). */
static bool fmt_uri_reference(const char *s, size_t len)
{
    if (fmt_scheme(s, len) > 0)
        return fmt_uri(s, len);
    return fmt_uri_rest(s, len, true);
}

/* ---------------------------------------------------------------------------------------------
 * uuid, json-pointer, regex
 * ------------------------------------------------------------------------------------------- */

/* RFC 4122 §3: 8-4-4-4-12 hex digits; any version and variant are accepted. */
static bool fmt_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !fmt_is_hex(s[i]))
            return false;
    }
    return true;
}

/* RFC 6901 §3: json-pointer = *( "/" reference-token ); in a token "~" must be followed by "0"
 * or "1". */
static bool fmt_json_pointer(const char *s, size_t len)
{
    if (len > 0 && s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    return true;
}

/* An ECMA-262 regular expression (draft-07 validation §7.3.8), as the validator's own regex
 * engine (regex.c) understands it, so a pattern that passes here compiles as a `pattern`. An
 * out-of-memory failure also reads as "invalid": this function has no error channel. */
static bool fmt_regex(const char *s, size_t len)
{
    struct schema__regex *re = NULL;
    char msg[128];
    if (schema__regex_compile(s, len, &re, msg, sizeof msg) != 0)
        return false;
    schema__regex_destroy(re);
    return true;
}

struct fmt_entry {
    const char *name;
    bool (*check)(const char *s, size_t len);
};

static const struct fmt_entry fmt_table[] = {
    {"date-time", fmt_date_time}, {"date", fmt_full_date},    {"time", fmt_full_time},
    {"email", fmt_email},         {"hostname", fmt_hostname}, {"ipv4", fmt_ipv4},
    {"ipv6", fmt_ipv6},           {"uri", fmt_uri},           {"uri-reference", fmt_uri_reference},
    {"uuid", fmt_uuid},           {"regex", fmt_regex},       {"json-pointer", fmt_json_pointer},
};

int schema_format_check(const char *format, const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof fmt_table / sizeof fmt_table[0]; i++)
        if (strcmp(format, fmt_table[i].name) == 0)
            return fmt_table[i].check(s, len) ? 1 : 0;
    return -1;
}
