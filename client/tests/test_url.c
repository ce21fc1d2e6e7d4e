/* test_url.c: hub URL parsing: schemes, default ports, IPv6, errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "client/dcc.h"

static char err[DCC_ERR_LEN];

static struct dcc_url ok(const char *text)
{
    struct dcc_url u;
    cr_assert_eq(dcc_url_parse(text, &u, err), 0, "%s: %s", text, err);
    return u;
}

static void bad(const char *text, const char *why)
{
    struct dcc_url u;
    err[0] = '\0';
    cr_assert_eq(dcc_url_parse(text, &u, err), -1, "%s parsed", text ? text : "(null)");
    cr_assert(strstr(err, why), "%s: '%s' lacks '%s'", text ? text : "(null)", err, why);
}

Test(url, nmdc_schemes_default_to_port_411)
{
    struct dcc_url u = ok("dchub://hub.example.org");
    cr_assert_eq(u.proto, DCC_PROTO_NMDC);
    cr_assert_str_eq(u.host, "hub.example.org");
    cr_assert_eq(u.port, 411);
    u = ok("nmdc://127.0.0.1:4111/");
    cr_assert_eq(u.proto, DCC_PROTO_NMDC);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 4111);
    u = ok("DCHUB://Host:1");
    cr_assert_eq(u.port, 1);
    cr_assert_str_eq(u.host, "Host");
}

Test(url, adc_needs_a_port)
{
    struct dcc_url u = ok("adc://127.0.0.1:65535");
    cr_assert_eq(u.proto, DCC_PROTO_ADC);
    cr_assert_eq(u.port, 65535);
    bad("adc://127.0.0.1", "needs a port");
    cr_assert_str_eq(dcc_proto_name(u.proto), "adc");
}

Test(url, ipv6_literal_in_brackets)
{
    struct dcc_url u = ok("adc://[::1]:4000");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 4000);
    bad("adc://[::1:4000", "unterminated");
}

Test(url, tls_schemes_and_keyprints)
{
    const char *kp = "SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A";
    struct dcc_url u = ok("adcs://127.0.0.1:4000");
    cr_assert(u.tls);
    cr_assert_eq(u.proto, DCC_PROTO_ADC);
    cr_assert_eq(u.port, 4000);
    cr_assert_str_eq(u.kp, "");
    u = ok("NMDCS://h:1/?kp=SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A");
    cr_assert(u.tls);
    cr_assert_eq(u.proto, DCC_PROTO_NMDC);
    cr_assert_str_eq(u.host, "h");
    cr_assert_eq(u.port, 1);
    cr_assert_str_eq(u.kp, kp);
    u = ok("adcs://[::1]:5?kp=SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A&x=1");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_str_eq(u.kp, kp);
    u = ok("adcs://h:5/?other=1");
    cr_assert_str_eq(u.kp, "");
    cr_assert(!ok("adc://h:5").tls);
    bad("adcs://h", "needs a port");
    bad("nmdcs://h/?kp=SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A", "needs a port");
    bad("adcs://h:1/?kp=SHA256/X", "52 base32");
    bad("adcs://h:1/?kp=SHA1/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A", "52 base32");
    bad("adcs://h:1/?kp=SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6!", "52 base32");
    bad("adc://h:1/?kp=SHA256/QY6VXMZ2DPMK6GRKXNBEFQN3TMNUZX2NRZ4BRNHJ6SUSOWL4WW6A", "needs a TLS URL");
}

Test(url, malformed_urls_are_refused_with_a_reason)
{
    bad(NULL, "expected scheme");
    bad("", "expected scheme");
    bad("127.0.0.1:411", "expected scheme");
    bad("http://example.org", "unknown scheme");
    bad("dchub://", "no host");
    bad("dchub://:411", "no host");
    bad("dchub://h:0", "bad port");
    bad("dchub://h:65536", "bad port");
    bad("dchub://h:12x", "bad port");
    bad("dchub://h:", "bad port");
    bad("dchub://h:-1", "bad port");
    bad("dchub://h:411/path", "bad port");
    bad("dchub://h/x", "unexpected text");
    bad("dchub://us er@h", "bad character");
}
