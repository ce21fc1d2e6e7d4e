/* test_rules.c: Criterion tests for fakehub's pure protocol decisions
 * (fakehub/rules.c): nicks, CID/PID (notes §3.2 vectors), the password
 * answer (the live §3.6 vector), feature matching, routing, $SR targets. */
#include <criterion/criterion.h>
#include <string.h>

#include "fakehub/rules.h"
#include "proto/base32.h"

Test(rules, nick_equality_ignores_ascii_case)
{
    cr_expect(fh_nick_equal("Alice", "aLICE"));
    cr_expect_not(fh_nick_equal("alice", "alice2"));
}

Test(rules, nick_validity)
{
    cr_expect(fh_nick_valid("alice"));
    cr_expect(fh_nick_valid("[bot]_x.y"));
    cr_expect(fh_nick_valid("\xc3\xa9t\xc3\xa9"));
    const char *bad[] = {"", "a b", "a$b", "a|b", "<a>", "tab\there", "hub", "Hub"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(fh_nick_valid(bad[i]), "accepted '%s'", bad[i]);
    char longnick[FH_NICK_MAX + 2];
    memset(longnick, 'a', sizeof longnick - 1);
    longnick[FH_NICK_MAX + 1] = '\0';
    cr_expect_not(fh_nick_valid(longnick));
    longnick[FH_NICK_MAX] = '\0';
    cr_expect(fh_nick_valid(longnick));
}

Test(rules, cid_must_be_tiger_of_pid)
{
    cr_expect_eq(fh_adc_check_cid("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFY",
                                  "W6AIUW3CLDF6OGHNVE4JPDDJ2P74IWRCF2O36TA"), FH_CID_OK);
    cr_expect_eq(fh_adc_check_cid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                  "ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY"), FH_CID_OK);
    cr_expect_eq(fh_adc_check_cid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                  "W6AIUW3CLDF6OGHNVE4JPDDJ2P74IWRCF2O36TA"), FH_CID_MISMATCH);
    cr_expect_eq(fh_adc_check_cid("AAAA", "W6AIUW3CLDF6OGHNVE4JPDDJ2P74IWRCF2O36TA"), FH_CID_BAD_PID);
    cr_expect_eq(fh_adc_check_cid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1",
                                  "ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY"), FH_CID_BAD_PID);
    cr_expect_eq(fh_adc_check_cid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ZXO4"), FH_CID_BAD_CID);
}

Test(rules, password_answer_matches_live_uhub_vector)
{
    uint8_t salt[24];
    const char *gpa = "RYVW3JXNQGUUUBRANMJ62YH6S25I66ZZJ33OMEY";
    cr_assert_eq(dc_base32_decode(gpa, strlen(gpa), salt, sizeof salt), 24);
    char out[40];
    cr_assert_eq(fh_adc_password_answer("secret", salt, sizeof salt, out), 0);
    cr_expect_str_eq(out, "252QOB7PFWQDJAPMOQV67VJKI3XKSD3KAFIFH3A");
    cr_assert_eq(fh_adc_password_answer("Secret", salt, sizeof salt, out), 0);
    cr_expect_str_neq(out, "252QOB7PFWQDJAPMOQV67VJKI3XKSD3KAFIFH3A");
}

Test(rules, feature_lists_match_su)
{
    cr_expect(fh_adc_features_match("+TCP4", "TCP4,UDP4"));
    cr_expect(fh_adc_features_match("+TCP4-NAT0", "UDP4,TCP4"));
    cr_expect_not(fh_adc_features_match("+TCP4-NAT0", "TCP4,NAT0"));
    cr_expect_not(fh_adc_features_match("+TCP4", NULL));
    cr_expect(fh_adc_features_match("-TCP4", NULL));
    cr_expect_not(fh_adc_features_match("+TCP", "TCP4"));
    cr_expect_not(fh_adc_features_match("*TCP4", "TCP4"));
    cr_expect_not(fh_adc_features_match("", "TCP4"));
    /* su pointing into an INF line: the value ends at the next field */
    cr_expect(fh_adc_features_match("+UDP4", "TCP4,UDP4 NIbob\n"));
    cr_expect_not(fh_adc_features_match("+NIbo", "TCP4 NIbob\n"));
    cr_expect_not(fh_adc_features_match("+UDP4", "TCP4\nUDP4"));
    cr_expect(fh_adc_features_match("-UDP4", " UDP4"));
    cr_expect_not(fh_adc_features_match("+TCP4", "TCP44"));
}

Test(rules, routes_by_type_letter)
{
    cr_expect_eq(fh_adc_route('B'), FH_ROUTE_ALL);
    cr_expect_eq(fh_adc_route('F'), FH_ROUTE_FEATURE);
    cr_expect_eq(fh_adc_route('D'), FH_ROUTE_TARGET);
    cr_expect_eq(fh_adc_route('E'), FH_ROUTE_ECHO);
    cr_expect_eq(fh_adc_route('H'), FH_ROUTE_HUB);
    cr_expect_eq(fh_adc_route('I'), FH_ROUTE_INVALID);
    cr_expect_eq(fh_adc_route('C'), FH_ROUTE_INVALID);
    cr_expect_eq(fh_adc_route('U'), FH_ROUTE_INVALID);
}

Test(rules, passive_sr_target_is_the_last_field)
{
    const char sr[] = "$SR bob share\\a.txt\x05" "6 1/2\x05TTH:LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ (127.0.0.1:411)\x05" "alice";
    long at = fh_nmdc_sr_target(sr, sizeof sr - 1);
    cr_assert_gt(at, 0);
    cr_expect_str_eq(sr + at + 1, "alice");
    cr_expect_eq(sr[at], '\x05');
    const char active[] = "$SR bob share\\a.txt\x05" "6 1/2\x05TTH:LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ (127.0.0.1:411)";
    cr_expect_eq(fh_nmdc_sr_target(active, sizeof active - 1), -1);
    cr_expect_eq(fh_nmdc_sr_target("$SR bob x\x05", 10), -1);
    cr_expect_eq(fh_nmdc_sr_target("$SR bob x", 9), -1);
}
