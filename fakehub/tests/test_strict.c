/* test_strict.c: Criterion tests for fakehub's rule table and the pure field
 * checks behind the protocol rules (fakehub/strict.c): integers with ranges
 * (ADC-TST INF and SCH cases), text code points (INF NI/DE), SU FOURCC lists,
 * and I4/I6 against the connection's address. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "fakehub/strict.h"

static const uint8_t v4_127_0_0_1[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

Test(strict, every_rule_has_a_unique_id_a_section_and_a_text)
{
    for (unsigned r = 0; r < FH_R_COUNT; r++) {
        const struct fh_rule_def *d = fh_rule_get((enum fh_rule)r);
        cr_assert(d && d->id && d->section && d->what, "rule %u incomplete", r);
        cr_expect(strncmp(d->id, "adc-", 4) == 0 || strncmp(d->id, "nmdc-", 5) == 0, "%s", d->id);
        cr_expect_eq(fh_rule_find(d->id), (enum fh_rule)r, "%s", d->id);
    }
    cr_expect_eq(fh_rule_find("no-such-rule"), FH_R_COUNT);
    cr_expect_null(fh_rule_get(FH_R_COUNT));
}

Test(strict, integers_in_range)
{
    cr_expect(fh_int_in("0", 0, 10));
    cr_expect(fh_int_in("10", 0, 10));
    cr_expect(fh_int_in("-1", -1, 10));
    cr_expect(fh_int_in("9223372036854775807", 0, INT64_MAX));
    const char *bad[] = {"", "-", "-1", "11", "1x2", "x", " 1", "1 ", "+1", "1.5",
                         "9223372036854775808", "-9223372036854775809", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(fh_int_in(bad[i], 0, i < 12 ? 10 : INT64_MAX), "accepted '%s'", bad[i]);
    cr_expect_not(fh_int_in("9223372036854775808", 0, INT64_MAX));
    cr_expect(fh_int_in("-9223372036854775808", INT64_MIN, 0));
    cr_expect(fh_int_in("-5", -9, -1));
    cr_expect_not(fh_int_in("-0", -9, -1));
    cr_expect_not(fh_int_in("0", 1, 65535));
    cr_expect(fh_int_in("1", 1, 65535));
    cr_expect(fh_int_in("65535", 1, 65535));
    cr_expect_not(fh_int_in("65536", 1, 65535));
    cr_expect(fh_int_in("007", 0, 10));
}

Test(strict, text_code_points)
{
    cr_expect(fh_text_ok("plain text", 32));
    cr_expect(fh_text_ok("\xc3\xa9t\xc3\xa9 \xe2\x82\xac", 32));
    cr_expect(fh_text_ok("", 32));
    cr_expect_not(fh_text_ok("bell\x07", 32));
    cr_expect_not(fh_text_ok("\x01start", 32));
    cr_expect_not(fh_text_ok("new\nline", 32));
    cr_expect_not(fh_text_ok("tab\t", 32));
    cr_expect(fh_text_ok("nick", 33));
    cr_expect_not(fh_text_ok("two words", 33));   /* NI: above 32 */
}

Test(strict, su_fourcc_lists)
{
    const char *good[] = {"", "TCP4", "TCP4,UDP4,ADC0", "SEGA,ADC0,TCP4,UDP4", "A123"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(fh_su_ok(good[i]), "refused '%s'", good[i]);
    const char *bad[] = {"TCP", "TCP45", "tcp4", "1CP4", "TCP4,", ",TCP4", "TCP4,,UDP4",
                         "TCP4 UDP4", "TC-4", "TCP4;UDP4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(fh_su_ok(bad[i]), "accepted '%s'", bad[i]);
}

Test(strict, ip_fields_against_an_ipv4_connection)
{
    cr_expect_not(fh_ip_is_v6(v4_127_0_0_1));
    cr_expect_eq(fh_ip_check("127.0.0.1", false, v4_127_0_0_1), FH_IP_MATCH);
    cr_expect_eq(fh_ip_check("0.0.0.0", false, v4_127_0_0_1), FH_IP_ZERO);
    cr_expect_eq(fh_ip_check("10.1.2.3", false, v4_127_0_0_1), FH_IP_WRONG);
    cr_expect_eq(fh_ip_check("127.0.0.256", false, v4_127_0_0_1), FH_IP_INVALID);
    cr_expect_eq(fh_ip_check("localhost", false, v4_127_0_0_1), FH_IP_INVALID);
    cr_expect_eq(fh_ip_check("127.0.0.x", false, v4_127_0_0_1), FH_IP_INVALID);
    const char *bad4[] = {"", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "+1.2.3.4",
                          "1.2.3.0004", "1.2.3.-4", "1.2.3.4.", "::1"};
    for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++)
        cr_expect_eq(fh_ip_check(bad4[i], false, v4_127_0_0_1), FH_IP_INVALID, "'%s'", bad4[i]);
    cr_expect_eq(fh_ip_check("127.000.0.01", false, v4_127_0_0_1), FH_IP_INVALID);
    cr_expect_eq(fh_ip_check("127.0.0.1", false, v4_127_0_0_1), FH_IP_MATCH);
    cr_expect_eq(fh_ip_check("255.255.255.255", false, v4_127_0_0_1), FH_IP_WRONG);
    cr_expect_eq(fh_ip_check("2001:db8::1", true, v4_127_0_0_1), FH_IP_OTHER_FAMILY);
    cr_expect_eq(fh_ip_check("::", true, v4_127_0_0_1), FH_IP_ZERO);
    cr_expect_eq(fh_ip_check("2001:db8::g1", true, v4_127_0_0_1), FH_IP_INVALID);
    cr_expect_eq(fh_ip_check("example.org", true, v4_127_0_0_1), FH_IP_INVALID);
}

Test(strict, ip_fields_against_an_ipv6_connection)
{
    cr_expect(fh_ip_is_v6(v6_loopback));
    cr_expect_eq(fh_ip_check("::1", true, v6_loopback), FH_IP_MATCH);
    cr_expect_eq(fh_ip_check("::", true, v6_loopback), FH_IP_ZERO);
    cr_expect_eq(fh_ip_check("2001:db8::1", true, v6_loopback), FH_IP_WRONG);
    cr_expect_eq(fh_ip_check("127.0.0.1", false, v6_loopback), FH_IP_OTHER_FAMILY);
}
