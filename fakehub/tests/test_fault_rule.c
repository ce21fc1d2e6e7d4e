/* test_fault_rule.c: Criterion tests of fault_rule.c, the pure part of the
 * hub's fault rules: every field's errors name the field, rules that could
 * never match are refused, commands match on both protocols, directed
 * lines' targets, and the seeded stream (same seed, same choices). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fakehub/fault_rule.h"

static void refused(const char *text, const char *field)
{
    struct fh_fault_rule r;
    char err[FH_FAULT_ERR_LEN] = "";
    cr_expect_eq(fh_fault_rule_parse(&r, text, err), -1, "accepted: %s", text);
    char want[64];
    snprintf(want, sizeof want, "field \"%s\"", field);
    cr_expect(strstr(err, want) != NULL, "%s: error '%s' does not name %s", text, err, field);
}

Test(fault_rule, errors_name_the_field)
{
    refused("", "action");
    refused("cmd=pm", "action");
    refused("drop delay=1s", "delay");
    refused("delay=1", "delay");
    refused("delay=-1s", "delay");
    refused("delay", "delay");
    refused("drop=0", "drop");
    refused("drop prob=0.5", "prob");
    refused("drop dir=sideways", "dir");
    refused("drop proto=http", "proto");
    refused("drop cmd=", "cmd");
    refused("drop cmd=\"a b\"", "cmd");
    refused("drop from=", "from");
    refused("drop count=0", "count");
    refused("drop count=x", "count");
    refused("drop seed=-3", "seed");
    refused("drop gap=1s", "gap");
    refused("drop for=1s", "for");
    refused("delay=1s find=x", "find");
    refused("corrupt=0", "corrupt");
    refused("duplicate=1", "duplicate");
    refused("disconnect=now", "disconnect");
    refused("half-close=yes", "half-close");
    refused("throttle", "throttle");
    refused("slice=0", "slice");
    refused("stall", "stall");
    refused("drop drop", "drop");
    refused("drop text~", "text");
    refused("drop text=\"unclosed", "text");
    refused("drop cmd~pm", "cmd");
    refused("drop nonsense", "nonsense");
    refused("drop proto=adc cmd=$To:", "cmd");
    refused("drop proto=nmdc cmd=EMSG", "cmd");
}

Test(fault_rule, parses_every_action_and_keeps_the_text)
{
    struct fh_fault_rule r;
    char err[FH_FAULT_ERR_LEN];
    cr_assert_eq(fh_fault_rule_parse(&r, "delay=1.5s cmd=pm from=alice to=bob text=\"a b\" count=2 ttl=3s", err), 0, "%s", err);
    cr_expect_eq(r.action, FH_FA_DELAY);
    cr_expect_eq(r.delay_ms, 1500);
    cr_expect_eq(r.count, 2);
    cr_expect_eq(r.ttl_ms, 3000);
    cr_expect_str_eq(r.text_sub, "a b");
    cr_expect_str_eq(r.text, "delay=1.5s cmd=pm from=alice to=bob text=\"a b\" count=2 ttl=3s");
    fh_fault_rule_cleanup(&r);
    const struct { const char *text; enum fh_fault_action a; } ok[] = {
        {"drop", FH_FA_DROP}, {"drop=0.25 seed=9", FH_FA_DROP}, {"replace=x", FH_FA_REPLACE},
        {"replace= find=y", FH_FA_REPLACE}, {"corrupt", FH_FA_CORRUPT}, {"duplicate", FH_FA_DUPLICATE},
        {"disconnect=rst", FH_FA_DISCONNECT}, {"half-close", FH_FA_HALF_CLOSE},
        {"throttle=100 for=2s", FH_FA_THROTTLE}, {"slice=3 gap=5ms", FH_FA_SLICE},
        {"stall=both for=250ms dir=out", FH_FA_STALL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(fh_fault_rule_parse(&r, ok[i].text, err), 0, "%s: %s", ok[i].text, err);
        cr_expect_eq(r.action, ok[i].a, "%s", ok[i].text);
        fh_fault_rule_cleanup(&r);
    }
}

static bool m(const char *rule, enum fh_dir dir, enum fh_proto p, const char *line)
{
    struct fh_fault_rule r;
    char err[FH_FAULT_ERR_LEN];
    cr_assert_eq(fh_fault_rule_parse(&r, rule, err), 0, "%s: %s", rule, err);
    bool yes = fh_fault_rule_matches(&r, dir, p, line, strlen(line));
    fh_fault_rule_cleanup(&r);
    return yes;
}

Test(fault_rule, commands_match_on_both_protocols)
{
    enum fh_proto N = FH_PROTO_NMDC, A = FH_PROTO_ADC;
    enum fh_dir I = FH_DIR_IN, O = FH_DIR_OUT;
    cr_expect(m("drop cmd=pm", I, N, "$To: bob From: alice $<alice> hi"));
    cr_expect(m("drop cmd=pm", I, A, "EMSG AAAB AAAC hi PMAAAB"));
    cr_expect(!m("drop cmd=pm", I, A, "BMSG AAAB hi"));
    cr_expect(m("drop cmd=chat", I, N, "<alice> hi"));
    cr_expect(m("drop cmd=chat", I, A, "BMSG AAAB hi"));
    cr_expect(m("drop cmd=MSG", I, A, "DMSG AAAB AAAC hi"));
    cr_expect(m("drop cmd=EMSG", I, A, "EMSG AAAB AAAC hi"));
    cr_expect(!m("drop cmd=EMSG", I, A, "EMSGX AAAB"));
    cr_expect(!m("drop cmd=EMSG", I, N, "EMSG AAAB AAAC hi"));
    cr_expect(m("drop cmd=MyINFO", I, N, "$MyINFO $ALL alice x$ $"));
    cr_expect(m("drop cmd=$MyINFO", I, N, "$MyINFO $ALL alice x$ $"));
    cr_expect(!m("drop cmd=$MyINFO", I, N, "$MyINFOX"));
    cr_expect(m("drop cmd=info dir=out", O, A, "BINF AAAB NIbob"));
    cr_expect(m("drop cmd=quit dir=out", O, A, "IQUI AAAB"));
    cr_expect(m("drop cmd=ctm", I, N, "$ConnectToMe bob 1.2.3.4:5"));
    cr_expect(m("drop cmd=rcm", I, A, "DRCM AAAB AAAC ADC/1.0 T"));
    cr_expect(m("drop cmd=search", I, A, "FSCH AAAB +TCP4 ANx"));
    cr_expect(!m("drop", O, N, "<alice> hi"));             /* dir defaults to in */
    cr_expect(m("drop dir=both", O, N, "<alice> hi"));
    cr_expect(!m("drop proto=adc", I, N, "<alice> hi"));
    cr_expect(m("drop text=secret", I, N, "<alice> a secret"));
    cr_expect(!m("drop text=secret", I, N, "<alice> public"));
}

Test(fault_rule, targets_of_directed_lines)
{
    char t[80];
    cr_assert(fh_fault_line_target(FH_PROTO_NMDC, "$To: bob From: alice $<alice> x", 31, t, sizeof t));
    cr_expect_str_eq(t, "bob");
    cr_assert(fh_fault_line_target(FH_PROTO_NMDC, "$RevConnectToMe alice carol", 27, t, sizeof t));
    cr_expect_str_eq(t, "carol");
    cr_assert(fh_fault_line_target(FH_PROTO_ADC, "DCTM AAAB AAAC ADC/1.0 1 T", 26, t, sizeof t));
    cr_expect_str_eq(t, "AAAC");
    cr_expect(!fh_fault_line_target(FH_PROTO_ADC, "BMSG AAAB hi", 12, t, sizeof t));
    cr_expect(!fh_fault_line_target(FH_PROTO_NMDC, "<alice> hi", 10, t, sizeof t));
}

Test(fault_rule, same_seed_same_stream_and_corruption)
{
    uint64_t a = 42, b = 42, c = 43;
    for (int i = 0; i < 100; i++) {
        uint64_t x = fh_fault_rand(&a);
        cr_assert_eq(x, fh_fault_rand(&b));
        (void)fh_fault_rand(&c);
    }
    cr_expect_neq(a, c);
    char l1[] = "<alice> the quick brown fox", l2[] = "<alice> the quick brown fox";
    uint64_t s1 = 7, s2 = 7;
    fh_fault_corrupt(l1, strlen(l1), 3, &s1);
    fh_fault_corrupt(l2, strlen(l2), 3, &s2);
    cr_expect_str_eq(l1, l2);
    cr_expect_str_neq(l1, "<alice> the quick brown fox");
    int diff = 0;
    for (size_t i = 0; i < strlen(l1); i++)
        diff += l1[i] != "<alice> the quick brown fox"[i];
    cr_expect(diff >= 1 && diff <= 3);
    cr_expect_null(strchr(l1, '|'));
}

Test(fault_rule, durations)
{
    cr_expect_eq(fh_fault_duration("250ms"), 250);
    cr_expect_eq(fh_fault_duration("2s"), 2000);
    cr_expect_eq(fh_fault_duration("1.5s"), 1500);
    cr_expect_eq(fh_fault_duration("2"), -1);
    cr_expect_eq(fh_fault_duration("s"), -1);
    cr_expect_eq(fh_fault_duration("2m"), -1);
}
