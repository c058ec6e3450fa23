/* test_format.c — draft-07 `format` assertions: hand-picked valid and invalid edges of every
 * asserted format (RFC 3339, 5321, 1123, 4291, 3986, 4122, 6901), explicit lengths so embedded
 * NUL bytes count, length limits built at run time, a calendar checked against an independent
 * day-counting model, and random dotted quads against a naive model (seed printed; replay with
 * TREATY_TEST_SEED=<seed>). */
#include "schema/schema.h"

#include "common/prng.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *suite_format(void);

struct format_case {
    const char *format;
    const char *s;
    size_t len;
    int want;
};

/* sizeof keeps embedded NULs: "ab\000c" is four bytes. */
#define CASE(f, s, v)                                                                              \
    {                                                                                              \
        f, s, sizeof(s) - 1, v                                                                     \
    }

static const struct format_case format_cases[] = {
    CASE("date-time", "1963-06-19T08:30:06.283185Z", 1),
    CASE("date-time", "1963-06-19t08:30:06z", 1),
    CASE("date-time", "2020-02-29T00:00:00Z", 1),
    CASE("date-time", "2000-02-29T00:00:00+00:00", 1),
    CASE("date-time", "1998-12-31T23:59:60Z", 1),
    CASE("date-time", "1998-12-31T15:59:60.123-08:00", 1),
    CASE("date-time", "1990-12-31T23:59:59-00:00", 1),
    CASE("date-time", "0000-01-01T00:00:00Z", 1),
    CASE("date-time", "1999-01-01T01:29:60+01:30", 1),
    CASE("date-time", "1900-02-29T00:00:00Z", 0),
    CASE("date-time", "2021-02-29T00:00:00Z", 0),
    CASE("date-time", "2021-04-31T00:00:00Z", 0),
    CASE("date-time", "1998-12-31T23:59:61Z", 0),
    CASE("date-time", "1998-12-31T22:59:60Z", 0),
    CASE("date-time", "1998-12-31T23:59:60+01:00", 0),
    CASE("date-time", "1990-12-31T15:59:59-24:00", 0),
    CASE("date-time", "1990-12-31T15:59:59+00:60", 0),
    CASE("date-time", "1963-06-19 08:30:06Z", 0),
    CASE("date-time", "1963-06-19T08:30:06", 0),
    CASE("date-time", "1963-06-19T08:30:06.Z", 0),
    CASE("date-time", "1963-06-19T08:30:06Zx", 0),
    CASE("date-time", "1963-6-19T08:30:06Z", 0),
    CASE("date-time", "1963-06-19T24:00:00Z", 0),
    CASE("date-time", "1963-00-19T08:30:06Z", 0),
    CASE("date-time", "1963-13-19T08:30:06Z", 0),
    CASE("date-time", "1963-06-00T08:30:06Z", 0),
    CASE("date-time", "2013-350T01:01:01", 0),
    CASE("date-time", "1963-06-19T08:30:06+0100", 0),
    CASE("date-time", "1963-06-19T08:30:06\000Z", 0),
    CASE("date-time", "1963-06-1\340\247\250T08:30:06Z", 0),
    CASE("date-time", "", 0),
    CASE("date", "1963-06-19", 1),
    CASE("date", "2020-02-29", 1),
    CASE("date", "2000-02-29", 1),
    CASE("date", "2021-12-31", 1),
    CASE("date", "2021-01-31", 1),
    CASE("date", "2021-02-29", 0),
    CASE("date", "1900-02-29", 0),
    CASE("date", "2021-06-31", 0),
    CASE("date", "2021-11-31", 0),
    CASE("date", "2021-12-32", 0),
    CASE("date", "2021-1-01", 0),
    CASE("date", "06/19/1963", 0),
    CASE("date", "2013-350", 0),
    CASE("date", "1963-06-19T00:00:00Z", 0),
    CASE("date", "1963-06-19 ", 0),
    CASE("date", "\000963-06-19", 0),
    CASE("date", "", 0),
    CASE("time", "08:30:06Z", 1),
    CASE("time", "08:30:06.283185Z", 1),
    CASE("time", "23:59:60Z", 1),
    CASE("time", "23:59:60+00:00", 1),
    CASE("time", "01:29:60+01:30", 1),
    CASE("time", "15:59:60-08:00", 1),
    CASE("time", "00:29:60-23:30", 1),
    CASE("time", "23:29:60+23:30", 1),
    CASE("time", "12:34:56-00:00", 1),
    CASE("time", "08:30:06z", 1),
    CASE("time", "00:00:00+23:59", 1),
    CASE("time", "08:30:06", 0),
    CASE("time", "12:00:00.52", 0),
    CASE("time", "22:59:60Z", 0),
    CASE("time", "23:58:60Z", 0),
    CASE("time", "23:59:60+01:00", 0),
    CASE("time", "23:59:60-00:30", 0),
    CASE("time", "24:00:00Z", 0),
    CASE("time", "00:60:00Z", 0),
    CASE("time", "00:00:61Z", 0),
    CASE("time", "01:02:03+24:00", 0),
    CASE("time", "01:02:03+00:60", 0),
    CASE("time", "01:02:03Z+00:30", 0),
    CASE("time", "08:30:06 PST", 0),
    CASE("time", "01:01:01,1111", 0),
    CASE("time", "8:3:6Z", 0),
    CASE("time", "008:030:006Z", 0),
    CASE("time", "08:30:06-8:000", 0),
    CASE("time", "08:30:06#00:20", 0),
    CASE("time", "1\340\247\250:00:00Z", 0),
    CASE("time", "2020-11-28T23:55:45Z", 0),
    CASE("time", "ab:cd:efZ", 0),
    CASE("time", "", 0),
    CASE("email", "joe.bloggs@example.com", 1),
    CASE("email", "joe.bloggs@123.24-7-examples.com", 1),
    CASE("email", "te~st@example.com", 1),
    CASE("email", "~test@example.com", 1),
    CASE("email", "test~@example.com", 1),
    CASE("email", "te.s.t@example.com", 1),
    CASE("email", "\"joe bloggs\"@example.com", 1),
    CASE("email", "\"joe..bloggs\"@example.com", 1),
    CASE("email", "\"joe@bloggs\"@example.com", 1),
    CASE("email", "joe.bloggs@[127.0.0.1]", 1),
    CASE("email", "joe.bloggs@[IPv6:::1]", 1),
    CASE("email", "a@b", 1),
    CASE("email", "!#$%&'*+-/=\?^_`{|}~@example.org", 1),
    CASE("email", "\"a\\\"b\"@example.com", 1),
    CASE("email", "\"\"@example.com", 1),
    CASE("email", "2962", 0),
    CASE("email", ".joe@example.com", 0),
    CASE("email", "joe.@example.com", 0),
    CASE("email", "joe..bloggs@example.com", 0),
    CASE("email", "joe.bloggs@invalid=domain.com", 0),
    CASE("email", "joe.bloggs@[127.0.0.300]", 0),
    CASE("email", "joe@", 0),
    CASE("email", "@example.com", 0),
    CASE("email", "joe@@example.com", 0),
    CASE("email", "joe bloggs@example.com", 0),
    CASE("email", "\"joe\"bloggs@example.com", 0),
    CASE("email", "\"joe@example.com", 0),
    CASE("email", "joe@example.com.", 0),
    CASE("email", "joe@-example.com", 0),
    CASE("email", "joe@[IPv6:1::2::3]", 0),
    CASE("email", "joe@[1.2.3]", 0),
    CASE("email", "joe@[x:abc]", 0),
    CASE("email", "jo\000e@example.com", 0),
    CASE("email", "\"jo\303\251\"@example.com", 0),
    CASE("email", "j\303\266@example.com", 0),
    CASE("email", "", 0),
    CASE("hostname", "www.example.com", 1),
    CASE("hostname", "xn--4gbwdl.xn--wgbh1c", 1),
    CASE("hostname", "123.24-7-examples.com", 1),
    CASE("hostname", "localhost", 1),
    CASE("hostname", "my-host", 1),
    CASE("hostname", "1host", 1),
    CASE("hostname", "host1", 1),
    CASE("hostname", "example.com.", 1),
    CASE("hostname", "A-B.C", 1),
    CASE("hostname", "-a-host-name-that-starts-with--", 0),
    CASE("hostname", "not_a_valid_host_name", 0),
    CASE("hostname", "-hostname", 0),
    CASE("hostname", "hostname-", 0),
    CASE("hostname", "_hostname", 0),
    CASE("hostname", "hostname_", 0),
    CASE("hostname", "host_name", 0),
    CASE("hostname", "", 0),
    CASE("hostname", ".", 0),
    CASE("hostname", ".example.com", 0),
    CASE("hostname", "example..com", 0),
    CASE("hostname", "example.com..", 0),
    CASE("hostname", "exa mple.com", 0),
    CASE("hostname", "host-.com", 0),
    CASE("hostname", "h\303\266st", 0),
    CASE("hostname", "ho\000st", 0),
    CASE("ipv4", "192.168.0.1", 1),
    CASE("ipv4", "0.0.0.0", 1),
    CASE("ipv4", "255.255.255.255", 1),
    CASE("ipv4", "87.10.0.1", 1),
    CASE("ipv4", "1.2.3.4", 1),
    CASE("ipv4", "127.0.0.0.1", 0),
    CASE("ipv4", "256.256.256.256", 0),
    CASE("ipv4", "127.0", 0),
    CASE("ipv4", "0x7f000001", 0),
    CASE("ipv4", "087.10.0.1", 0),
    CASE("ipv4", "00.0.0.0", 0),
    CASE("ipv4", "1.2.3.04", 0),
    CASE("ipv4", "192.168.1.0/24", 0),
    CASE("ipv4", "1\340\247\2507.0.0.1", 0),
    CASE("ipv4", " 1.2.3.4", 0),
    CASE("ipv4", "1.2.3.4 ", 0),
    CASE("ipv4", "1..3.4", 0),
    CASE("ipv4", "1.2.3.", 0),
    CASE("ipv4", "1.2.3.256", 0),
    CASE("ipv4", "1000.2.3.4", 0),
    CASE("ipv4", "1.2.3.4\000", 0),
    CASE("ipv4", "", 0),
    CASE("ipv6", "::1", 1),
    CASE("ipv6", "::", 1),
    CASE("ipv6", "1::", 1),
    CASE("ipv6", "1:2:3:4:5:6:7:8", 1),
    CASE("ipv6", "1:d6::42", 1),
    CASE("ipv6", "::ffff:192.168.0.1", 1),
    CASE("ipv6", "::42:ff:1", 1),
    CASE("ipv6", "1000:1000:1000:1000:1000:1000:255.255.255.255", 1),
    CASE("ipv6", "1:2:3:4:5:6:7::", 1),
    CASE("ipv6", "::2:3:4:5:6:7:8", 1),
    CASE("ipv6", "FE80::0202:B3FF:FE1E:8329", 1),
    CASE("ipv6", "0:0:0:0:0:0:13.1.68.3", 1),
    CASE("ipv6", "::13.1.68.3", 1),
    CASE("ipv6", "2001:db8::7", 1),
    CASE("ipv6", "12345::", 0),
    CASE("ipv6", "1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1", 0),
    CASE("ipv6", "::laptop", 0),
    CASE("ipv6", ":2:3:4:5:6:7:8", 0),
    CASE("ipv6", "1:2:3:4:5:6:7:", 0),
    CASE("ipv6", "1:2:3:4:5:6:7", 0),
    CASE("ipv6", "1", 0),
    CASE("ipv6", "127.0.0.1", 0),
    CASE("ipv6", "1::d6::42", 0),
    CASE("ipv6", "1:::2", 0),
    CASE("ipv6", "::abcef", 0),
    CASE("ipv6", "1::2:192.168.256.1", 0),
    CASE("ipv6", "1::2:192.168.ff.1", 0),
    CASE("ipv6", "1:2:3:4:1.2.3", 0),
    CASE("ipv6", "fe80::a%eth1", 0),
    CASE("ipv6", " ::1", 0),
    CASE("ipv6", "::1 ", 0),
    CASE("ipv6", "1:2:3:4:5:6:7:8:9", 0),
    CASE("ipv6", "1:2:3:4:5:6:7:1.2.3.4", 0),
    CASE("ipv6", "1::2:3:4:5:6:7:8", 0),
    CASE("ipv6", "::1.2.3.4:5", 0),
    CASE("ipv6", "fe80:0:0:0:200:f8ff:fe21:67cf/64", 0),
    CASE("ipv6", "1:2:3:4:5:6:7:8::", 0),
    CASE("ipv6", "\340\247\250::1", 0),
    CASE("ipv6", ":", 0),
    CASE("ipv6", "::1\000", 0),
    CASE("ipv6", "", 0),
    CASE("uri", "http://foo.bar/\?baz=qux#quux", 1),
    CASE("uri", "http://foo.com/blah_(wikipedia)_blah#cite-1", 1),
    CASE("uri", "http://foo.bar/\?q=Test%20URL-encoded%20stuff", 1),
    CASE("uri", "http://xn--nw2a.xn--j6w193g/", 1),
    CASE("uri", "http://-.~_!$&'()*+,;=:%40:80%2f::::::@example.com", 1),
    CASE("uri", "http://223.255.255.254", 1),
    CASE("uri", "ftp://ftp.is.co.za/rfc/rfc1808.txt", 1),
    CASE("uri", "ldap://[2001:db8::7]/c=GB\?objectClass\?one", 1),
    CASE("uri", "mailto:John.Doe@example.com", 1),
    CASE("uri", "news:comp.infosystems.www.servers.unix", 1),
    CASE("uri", "tel:+1-816-555-1212", 1),
    CASE("uri", "urn:oasis:names:specification:docbook:dtd:xml:4.1.2", 1),
    CASE("uri", "file:///etc/hosts", 1),
    CASE("uri", "a:", 1),
    CASE("uri", "x+y-z.1:", 1),
    CASE("uri", "http://[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:8080/", 1),
    CASE("uri", "http://[v7.fe80::1]/", 1),
    CASE("uri", "http://host:/", 1),
    CASE("uri", "http://example.com/%aF", 1),
    CASE("uri", "foo:/a/b\?c#d\?/:@", 1),
    CASE("uri", "//foo.bar/\?baz=qux#quux", 0),
    CASE("uri", "/abc", 0),
    CASE("uri", "\\\\WINDOWS\\fileshare", 0),
    CASE("uri", "abc", 0),
    CASE("uri", "http:// shouldfail.com", 0),
    CASE("uri", ":// should fail", 0),
    CASE("uri", "https://[@example.org/test.txt", 0),
    CASE("uri", "http://example.com/%", 0),
    CASE("uri", "http://example.com/%a", 0),
    CASE("uri", "http://example.com/%zz", 0),
    CASE("uri", "http://[::1/", 0),
    CASE("uri", "http://[1:2]/", 0),
    CASE("uri", "http://host:8a/", 0),
    CASE("uri", "1http://x", 0),
    CASE("uri", "bio,medical://x", 0),
    CASE("uri", "http://example.com/a b", 0),
    CASE("uri", "http://exa\303\251mple.com/", 0),
    CASE("uri", "http://x/#a#b", 0),
    CASE("uri", "http://x/\000", 0),
    CASE("uri", "http://a@b@c/", 0),
    CASE("uri", "http://x/{}", 0),
    CASE("uri", "", 0),
    CASE("uri-reference", "http://foo.bar/\?baz=qux#quux", 1),
    CASE("uri-reference", "//foo.bar/\?baz=qux#quux", 1),
    CASE("uri-reference", "/abc", 1),
    CASE("uri-reference", "abc", 1),
    CASE("uri-reference", "#fragment", 1),
    CASE("uri-reference", "", 1),
    CASE("uri-reference", "\?q", 1),
    CASE("uri-reference", "./a:b", 1),
    CASE("uri-reference", "a/b:c", 1),
    CASE("uri-reference", "../..", 1),
    CASE("uri-reference", "%41", 1),
    CASE("uri-reference", "\\\\WINDOWS\\fileshare", 0),
    CASE("uri-reference", "#frag\\ment", 0),
    CASE("uri-reference", "a:b c", 0),
    CASE("uri-reference", "1a:b", 0),
    CASE("uri-reference", "a b", 0),
    CASE("uri-reference", "#a#b", 0),
    CASE("uri-reference", "//[::1", 0),
    CASE("uri-reference", "%4", 0),
    CASE("uri-reference", "\000", 0),
    CASE("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", 1),
    CASE("uuid", "2EB8AA08-AA98-11EA-B4AA-73B441D16380", 1),
    CASE("uuid", "00000000-0000-0000-0000-000000000000", 1),
    CASE("uuid", "98d80576-482e-427f-8434-7f86890ab222", 1),
    CASE("uuid", "99c17cbb-656f-564a-940f-1a4568f03487", 1),
    CASE("uuid", "ffffffff-ffff-ffff-ffff-ffffffffffff", 1),
    CASE("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", 0),
    CASE("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380a", 0),
    CASE("uuid", "2eb8aa08aa9811eab4aa73b441d16380", 0),
    CASE("uuid", "2eb8aa08-aa98-11ea-b4ga-73b441d16380", 0),
    CASE("uuid", "2eb8aa0-8aa98-11ea-b4aa-73b441d16380", 0),
    CASE("uuid", "{2eb8aa08-aa98-11ea-b4aa-73b441d16380}", 0),
    CASE("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d1638\000", 0),
    CASE("uuid", "", 0),
    CASE("json-pointer", "", 1),
    CASE("json-pointer", "/", 1),
    CASE("json-pointer", "/foo", 1),
    CASE("json-pointer", "/foo/bar~0/baz~1/%a", 1),
    CASE("json-pointer", "/foo//bar", 1),
    CASE("json-pointer", "/~1~0~0~1~1", 1),
    CASE("json-pointer", "/~0.1", 1),
    CASE("json-pointer", "/a\000b", 1),
    CASE("json-pointer", "/ ", 1),
    CASE("json-pointer", "/\303\251", 1),
    CASE("json-pointer", "#", 0),
    CASE("json-pointer", "#/", 0),
    CASE("json-pointer", "a", 0),
    CASE("json-pointer", "0", 0),
    CASE("json-pointer", "a/a", 0),
    CASE("json-pointer", "/foo/bar~", 0),
    CASE("json-pointer", "/~2", 0),
    CASE("json-pointer", "/~-1", 0),
    CASE("json-pointer", "/~~", 0),
    CASE("json-pointer", "/~0~", 0),
    CASE("json-pointer", "/~0/~", 0),
    CASE("json-pointer", "~0", 0),
    CASE("regex", "([abc])+\\s+$", 1),
    CASE("regex", "", 1),
    CASE("regex", "a", 1),
    CASE("regex", "^(abc]", 0),
    CASE("regex", "(", 0),
};

/* Runs every table case whose format is `format`; reports each mismatch by index. */
static void run_cases(const char *format)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
        const struct format_case *c = &format_cases[i];
        if (strcmp(c->format, format) != 0)
            continue;
        n++;
        int got = schema_format_check(c->format, c->s, c->len);
        ck_assert_msg(got == c->want,
                      "case %zu: format %s on \"%.*s\" (%zu bytes): got %d, want %d", i, format,
                      (int)c->len, c->s, c->len, got, c->want);
    }
    ck_assert_uint_gt(n, 5);
}

START_TEST(test_date_time)
{
    run_cases("date-time");
}
END_TEST

START_TEST(test_date)
{
    run_cases("date");
}
END_TEST

START_TEST(test_time)
{
    run_cases("time");
}
END_TEST

START_TEST(test_email)
{
    run_cases("email");
}
END_TEST

START_TEST(test_hostname)
{
    run_cases("hostname");
}
END_TEST

START_TEST(test_ipv4)
{
    run_cases("ipv4");
}
END_TEST

START_TEST(test_ipv6)
{
    run_cases("ipv6");
}
END_TEST

START_TEST(test_uri)
{
    run_cases("uri");
}
END_TEST

START_TEST(test_uri_reference)
{
    run_cases("uri-reference");
}
END_TEST

START_TEST(test_uuid)
{
    run_cases("uuid");
}
END_TEST

START_TEST(test_json_pointer)
{
    run_cases("json-pointer");
}
END_TEST

START_TEST(test_regex)
{
    static const char bad_nul[] = "a(\000)";
    ck_assert_int_eq(schema_format_check("regex", "([abc])+\\s+$", 12), 1);
    ck_assert_int_eq(schema_format_check("regex", "^[a-z]{2,4}$", 12), 1);
    ck_assert_int_eq(schema_format_check("regex", "", 0), 1);
    ck_assert_int_eq(schema_format_check("regex", "^(abc]", 6), 0);
    ck_assert_int_eq(schema_format_check("regex", "(", 1), 0);
    ck_assert_int_eq(schema_format_check("regex", "a{2,1}", 6), 0);
    /* The length counts: "a(" alone is unbalanced even though a NUL follows it. */
    ck_assert_int_eq(schema_format_check("regex", bad_nul, 2), 0);
}
END_TEST

START_TEST(test_unasserted_formats)
{
    static const char *const names[] = {"idn-email",    "idn-hostname",
                                        "iri",          "iri-reference",
                                        "uri-template", "relative-json-pointer",
                                        "color",        "",
                                        "Date",         "date-time ",
                                        "ipv4\n"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(schema_format_check(names[i], "x", 1) == -1, "format \"%s\"", names[i]);
    ck_assert_int_eq(schema_format_check("ipv4", "1.2.3.4", 7), 1);
}
END_TEST

/* Writes `n` copies of `c` at `p`, returns the end. */
static char *fill(char *p, char c, size_t n)
{
    memset(p, c, n);
    return p + n;
}

START_TEST(test_hostname_lengths)
{
    char buf[300];
    /* Labels of 63 are the maximum (RFC 1035 §2.3.4). */
    char *p = fill(buf, 'a', 63);
    memcpy(p, ".com", 4);
    ck_assert_int_eq(schema_format_check("hostname", buf, 67), 1);
    p = fill(buf, 'a', 64);
    memcpy(p, ".com", 4);
    ck_assert_int_eq(schema_format_check("hostname", buf, 68), 0);
    /* 4 labels 63+63+63+61 with 3 dots: 253 characters, the maximum; 254 is refused. */
    p = buf;
    for (int i = 0; i < 3; i++) {
        p = fill(p, 'b', 63);
        *p++ = '.';
    }
    p = fill(p, 'c', 62);
    ck_assert_uint_eq((size_t)(p - buf), 254);
    ck_assert_int_eq(schema_format_check("hostname", buf, 253), 1);
    ck_assert_int_eq(schema_format_check("hostname", buf, 254), 0);
    /* The trailing dot of an absolute name does not count towards the 253. */
    buf[253] = '.';
    ck_assert_int_eq(schema_format_check("hostname", buf, 254), 1);
}
END_TEST

START_TEST(test_email_local_part_length)
{
    char buf[100];
    char *p = fill(buf, 'x', 64);
    memcpy(p, "@example.com", 12);
    ck_assert_int_eq(schema_format_check("email", buf, 76), 1);
    p = fill(buf, 'x', 65);
    memcpy(p, "@example.com", 12);
    ck_assert_int_eq(schema_format_check("email", buf, 77), 0);
}
END_TEST

/* Independent model of the Gregorian calendar: the day number of a civil date, by 400-year eras
 * counted from a March-based year (the well-known days-from-civil arithmetic); a month's length is
 * the difference of the day numbers of its first day and of the next month's first day. */
static long model_day_number(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
}

static int model_days_in_month(int year, int month)
{
    long next =
        month == 12 ? model_day_number(year + 1, 1, 1) : model_day_number(year, month + 1, 1);
    return (int)(next - model_day_number(year, month, 1));
}

START_TEST(test_calendar_against_model)
{
    static const int years[] = {0, 1600, 1900, 1970, 1999, 2000, 2004, 2023, 2024, 2100, 9999};
    char buf[80];
    int checked = 0;
    for (size_t y = 0; y < sizeof years / sizeof years[0]; y++) {
        for (int m = 0; m <= 13; m++) {
            for (int d = 0; d <= 32; d++) {
                int want = m >= 1 && m <= 12 && d >= 1 && d <= model_days_in_month(years[y], m);
                snprintf(buf, sizeof buf, "%04d-%02d-%02d", years[y], m, d);
                ck_assert_msg(schema_format_check("date", buf, 10) == want, "%s", buf);
                snprintf(buf, sizeof buf, "%04d-%02d-%02dT12:00:00Z", years[y], m, d);
                ck_assert_msg(schema_format_check("date-time", buf, 20) == want, "%s", buf);
                checked += want;
            }
        }
    }
    ck_assert_int_eq(checked, 11 * 365 + 5); /* leap: 0, 1600, 2000, 2004, 2024 */
}
END_TEST

START_TEST(test_ipv4_random_against_model)
{
    const char *env = getenv("TREATY_TEST_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_ipv4_random_against_model seed %llu\n", (unsigned long long)seed);
    struct tr_prng prng;
    tr_prng_seed(&prng, seed);
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        int want = 1;
        size_t n = 0;
        for (int part = 0; part < 4; part++) {
            unsigned v = (unsigned)tr_prng_below(&prng, 300);
            bool zero_pad = tr_prng_chance(&prng, 1, 10);
            want &= v <= 255 && !zero_pad;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s%u", part ? "." : "",
                                  zero_pad ? "0" : "", v);
        }
        ck_assert_msg(schema_format_check("ipv4", buf, n) == want, "seed %llu: %s",
                      (unsigned long long)seed, buf);
        /* A trailing dot makes a fifth, empty part: never valid. */
        buf[n] = '.';
        ck_assert_int_eq(schema_format_check("ipv4", buf, n + 1), 0);
    }
}
END_TEST

Suite *suite_format(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("rfc");
    tcase_add_test(tc, test_date_time);
    tcase_add_test(tc, test_date);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_email);
    tcase_add_test(tc, test_hostname);
    tcase_add_test(tc, test_ipv4);
    tcase_add_test(tc, test_ipv6);
    tcase_add_test(tc, test_uri);
    tcase_add_test(tc, test_uri_reference);
    tcase_add_test(tc, test_uuid);
    tcase_add_test(tc, test_json_pointer);
    tcase_add_test(tc, test_regex);
    tcase_add_test(tc, test_unasserted_formats);
    tcase_add_test(tc, test_hostname_lengths);
    tcase_add_test(tc, test_email_local_part_length);
    tcase_add_test(tc, test_calendar_against_model);
    tcase_add_test(tc, test_ipv4_random_against_model);
    suite_add_tcase(s, tc);
    return s;
}
