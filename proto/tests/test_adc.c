/* test_adc.c: Criterion tests for the ADC codec (proto/adc.c): live messages
 * from the protocol notes parsed field by field, builders and formatting,
 * escape round trips over random bytes, and rejection of malformed lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/adc.h"

static struct adc_msg parse_ok(const char *line)
{
    struct adc_msg m;
    const char *why = NULL;
    int rc = adc_msg_parse(line, strlen(line), &m, &why);
    cr_assert_eq(rc, 0, "parse of \"%s\" failed: %s", line, why ? why : "(null)");
    return m;
}

static void parse_bad(const char *line, size_t len)
{
    struct adc_msg m;
    const char *why = NULL;
    int rc = adc_msg_parse(line, len, &m, &why);
    cr_assert_eq(rc, -1, "accepted bad line \"%.*s\"", (int)len, line);
    cr_assert_not_null(why, "no reason for \"%.*s\"", (int)len, line);
    cr_assert_gt(strlen(why), 0);
}

Test(adc_parse, hsup_features_are_named)
{
    struct adc_msg m = parse_ok("HSUP ADBASE ADTIGR RMZLIF\n");
    cr_assert_eq(m.type, 'H');
    cr_assert_str_eq(m.cmd, "SUP");
    cr_assert_eq(m.code, ADC_CMD('S', 'U', 'P'));
    cr_assert_eq(m.npos, 0);
    cr_assert_eq(m.nnamed, 3);
    cr_assert_str_eq(m.named[0].code, "AD");
    cr_assert_str_eq(m.named[0].value, "BASE");
    cr_assert_str_eq(m.named[1].value, "TIGR");
    cr_assert_str_eq(m.named[2].code, "RM");
    cr_assert_str_eq(m.named[2].value, "ZLIF");
    adc_msg_cleanup(&m);
}

Test(adc_parse, bmsg_unescapes_live_example)
{
    struct adc_msg m = parse_ok("BMSG AAAB hello\\sworld\\sback\\\\slash");
    cr_assert_eq(m.type, 'B');
    cr_assert_str_eq(m.src_sid, "AAAB");
    cr_assert_str_eq(m.dst_sid, "");
    cr_assert_eq(m.npos, 1);
    cr_assert_str_eq(m.pos[0], "hello world back\\slash");
    cr_assert_eq(m.nnamed, 0);
    adc_msg_cleanup(&m);
}

Test(adc_parse, msg_text_positional_even_if_capitals)
{
    struct adc_msg m = parse_ok("EMSG AAAC AAAB PMxyz PMAAAC");
    cr_assert_str_eq(m.src_sid, "AAAC");
    cr_assert_str_eq(m.dst_sid, "AAAB");
    cr_assert_eq(m.npos, 1);
    cr_assert_str_eq(m.pos[0], "PMxyz");
    cr_assert_eq(m.nnamed, 1);
    cr_assert_str_eq(adc_msg_get(&m, "PM"), "AAAC");
    cr_assert_null(adc_msg_get(&m, "ME"));
    adc_msg_cleanup(&m);
}

Test(adc_parse, binf_live_fields)
{
    struct adc_msg m = parse_ok(
        "BINF AAAC IDSDG4VHN4I3VHAJXDLAR4FWT5AU66MWDC3VAUACA NItester DEtest\\sdesc SL3 FS3 "
        "SS1031 SF3 EMt@example.org HN0 HR0 HO0 APEiskaltDC++ VE2.4.2 US13107200 "
        "KPSHA256/L66ELZYELZDXHCJWBC2QYGAR42QZ35NB2UQFJLD3PBDEGL5VJBYQ U441200 "
        "SUSEGA,ADC0,TCP4,UDP4 I4127.0.0.1");
    cr_assert_str_eq(m.src_sid, "AAAC");
    cr_assert_eq(m.npos, 0);
    cr_assert_eq(m.nnamed, 18);
    cr_assert_str_eq(adc_msg_get(&m, "ID"), "SDG4VHN4I3VHAJXDLAR4FWT5AU66MWDC3VAUACA");
    cr_assert_str_eq(adc_msg_get(&m, "NI"), "tester");
    cr_assert_str_eq(adc_msg_get(&m, "DE"), "test desc");
    cr_assert_str_eq(adc_msg_get(&m, "SU"), "SEGA,ADC0,TCP4,UDP4");
    cr_assert_str_eq(adc_msg_get(&m, "I4"), "127.0.0.1");
    cr_assert_str_eq(adc_msg_get(&m, "U4"), "41200");
    adc_msg_cleanup(&m);
}

Test(adc_parse, empty_named_value_clears)
{
    struct adc_msg m = parse_ok("BINF AAAB DE SS1024");
    cr_assert_eq(m.nnamed, 2);
    cr_assert_str_eq(adc_msg_get(&m, "DE"), "");
    adc_msg_cleanup(&m);
}

Test(adc_parse, dcpp_sta_with_empty_description)
{
    struct adc_msg m = parse_ok("CSTA 000  RFadc://127.0.0.1:4113");
    cr_assert_eq(m.type, 'C');
    cr_assert_eq(m.npos, 2);
    cr_assert_str_eq(m.pos[0], "000");
    cr_assert_str_eq(m.pos[1], "");
    cr_assert_str_eq(adc_msg_get(&m, "RF"), "adc://127.0.0.1:4113");
    int sev = -1, err = -1;
    cr_assert_eq(adc_sta_split(m.pos[0], &sev, &err), 0);
    cr_assert_eq(sev, 0);
    cr_assert_eq(err, 0);
    adc_msg_cleanup(&m);
}

Test(adc_parse, all_header_types)
{
    struct adc_msg m = parse_ok("ISID AAAB");
    cr_assert_eq(m.type, 'I');
    cr_assert_str_eq(m.pos[0], "AAAB");
    adc_msg_cleanup(&m);

    m = parse_ok("DCTM AAAB AAAC ADC/1.0 4114 tok123");
    cr_assert_str_eq(m.dst_sid, "AAAC");
    cr_assert_eq(m.npos, 3);
    cr_assert_str_eq(m.pos[2], "tok123");
    adc_msg_cleanup(&m);

    m = parse_ok("DRCM AAAB AAAC ADCS/0.10 tok");
    cr_assert_eq(m.npos, 2);
    adc_msg_cleanup(&m);

    m = parse_ok("FSCH AAAB +TCP4-NAT0 ANterm TOtok TY1");
    cr_assert_eq(m.type, 'F');
    cr_assert_str_eq(m.features, "+TCP4-NAT0");
    cr_assert_eq(m.nnamed, 3);
    cr_assert_str_eq(adc_msg_get(&m, "AN"), "term");
    adc_msg_cleanup(&m);

    m = parse_ok("URES ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY FNa SI1");
    cr_assert_eq(m.type, 'U');
    cr_assert_str_eq(m.cid, "ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY");
    cr_assert_eq(m.nnamed, 2);
    adc_msg_cleanup(&m);

    m = parse_ok("CGET file TTH/PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY 1000 -1 ZL1");
    cr_assert_eq(m.npos, 4);
    cr_assert_str_eq(m.pos[3], "-1");
    cr_assert_str_eq(adc_msg_get(&m, "ZL"), "1");
    adc_msg_cleanup(&m);

    m = parse_ok("IQUI AAAB MSPassword\\sis\\swrong");
    cr_assert_str_eq(m.pos[0], "AAAB");
    cr_assert_str_eq(adc_msg_get(&m, "MS"), "Password is wrong");
    adc_msg_cleanup(&m);

    m = parse_ok("CSND file TTH/PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY 1000 25");
    cr_assert_str_eq(m.pos[3], "25");
    adc_msg_cleanup(&m);

    m = parse_ok("DCTM AAAB AAAC ADCS/0.10 65535 t");
    cr_assert_str_eq(m.pos[1], "65535");
    adc_msg_cleanup(&m);

    m = parse_ok("HPAS 252QOB7PFWQDJAPMOQV67VJKI3XKSD3KAFIFH3A");
    cr_assert_eq(m.npos, 1);
    adc_msg_cleanup(&m);
}

Test(adc_parse, unknown_command_all_positional)
{
    struct adc_msg m = parse_ok("BXYZ AAAB ABc DEf");
    cr_assert_eq(m.npos, 2);
    cr_assert_eq(m.nnamed, 0);
    cr_assert_str_eq(m.pos[1], "DEf");
    adc_msg_cleanup(&m);
}

Test(adc_parse, utf8_text_accepted)
{
    struct adc_msg m = parse_ok("BMSG AAAB h\xc3\xa9llo\\s\xe2\x82\xac\\s\xf0\x9f\x98\x80");
    cr_assert_str_eq(m.pos[0], "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    adc_msg_cleanup(&m);
}

Test(adc_parse, rejects_malformed)
{
    static const char *const bad[] = {
        "", "\n", "B", "BMS", "XMSG AAAB hi", "bMSG AAAB hi", "Bmsg AAAB hi", "BMSGx AAAB hi",
        "BMSG", "BMSG AAAB", "BMSG AAA hi", "BMSG AAAAA hi", "BMSG aaab hi", "BMSG AA1B hi",
        "BMSG  AAAB hi", "DMSG AAAB hi", "DMSG AAAB AAA! hi", "EMSG AAAB", "FSCH AAAB ANx",
        "FSCH AAAB +TCP", "FSCH AAAB +tcp4", "FSCH AAAB TCP4", "URES", "URES abc FNx",
        "BMSG AAAB a\\x", "BMSG AAAB a\\", "BMSG AAAB a\\S", "BINF AAAB NIx\\q",
        "BINF AAAB NIx ", "BINF AAAB NIx  DEy", "BINF AAAB N", "BINF AAAB nix", "BINF AAAB 1Ix",
        "HSUP ", "ISTA 000", "DCTM AAAB AAAC ADC/1.0 4114", "CGET file x 0",
        "BMSG AAAB \xc3", "BMSG AAAB \xc0\xaf", "BMSG AAAB \xed\xa0\x80", "BMSG AAAB \xf4\x90\x80\x80",
        "BMSG AAAB \xff\xfe", "BMSG AAAB \x80", "BMSG AAAB a\nb",
        "ISTA 2x3 bad", "ISTA 24 short", "ISTA 2433 long", "DCTM AAAB AAAC ADC/1.0 0 tok",
        "DCTM AAAB AAAC ADC/1.0 70000 tok", "DCTM AAAB AAAC ADC/1.0 41a4 tok",
        "DCTM AAAB AAAC ADC/1.0 -1 tok", "CGET file x a -1", "CGET file x 0 --1", "CGET file x 0 -",
        "CGET file x 0 1234567890123456789", "ISID AAA", "ISID aaaa", "IQUI AAA!", "IGPA abc!",
        "HPAS ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i], strlen(bad[i]));
    parse_bad("BMSG AAAB a\0b", 13);
}

Test(adc_parse, rejects_too_many_params)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append_str(&b, "BINF AAAB");
    for (int i = 0; i <= ADC_MAX_PARAMS; i++)
        dc_buf_appendf(&b, " NI%d", i);
    parse_bad(b.data, b.len);
    dc_buf_reset(&b);
    dc_buf_append_str(&b, "BXYZ AAAB");
    for (int i = 0; i <= ADC_MAX_PARAMS; i++)
        dc_buf_append_str(&b, " x");
    parse_bad(b.data, b.len);
    dc_buf_cleanup(&b);
}

Test(adc_parse, binary_garbage_never_crashes)
{
    unsigned seed = 12345;
    char line[64];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof line);
        for (size_t i = 0; i < len; i++)
            line[i] = (char)(rand_r(&seed) & 0xff);
        if (len >= 5 && round % 2) {    /* give half of them a plausible header */
            memcpy(line, "BMSG ", 5);
        }
        struct adc_msg m;
        const char *why = NULL;
        if (adc_msg_parse(line, len, &m, &why) == 0)
            adc_msg_cleanup(&m);
        else
            cr_assert_not_null(why);
    }
}

Test(adc_format, builder_escapes_and_round_trips)
{
    struct adc_msg m;
    adc_msg_init(&m, 'E', "MSG");
    cr_assert_eq(adc_msg_set_sids(&m, "AAAC", "AAAB"), 0);
    cr_assert_eq(adc_msg_add_pos(&m, "pm from\\daemon\nline2"), 0);
    cr_assert_eq(adc_msg_add_named(&m, "PM", "AAAC"), 0);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(adc_msg_format(&m, &b), 0);
    cr_assert_str_eq(b.data, "EMSG AAAC AAAB pm\\sfrom\\\\daemon\\nline2 PMAAAC\n");
    struct adc_msg p = parse_ok(b.data);
    cr_assert_str_eq(p.pos[0], "pm from\\daemon\nline2");
    cr_assert_str_eq(adc_msg_get(&p, "PM"), "AAAC");
    adc_msg_cleanup(&p);
    adc_msg_cleanup(&m);
    dc_buf_cleanup(&b);
}

Test(adc_format, many_params_survive_storage_growth)
{
    struct adc_msg m;
    adc_msg_init(&m, 'B', "INF");
    cr_assert_eq(adc_msg_set_sids(&m, "AAAB", NULL), 0);
    char val[64];
    for (int i = 0; i < ADC_MAX_PARAMS; i++) {
        snprintf(val, sizeof val, "value number %d with some length", i);
        cr_assert_eq(adc_msg_add_named(&m, "DE", val), 0);
    }
    cr_assert_eq(adc_msg_add_named(&m, "DE", "x"), -1, "cap not enforced");
    for (int i = 0; i < ADC_MAX_PARAMS; i++) {
        snprintf(val, sizeof val, "value number %d with some length", i);
        cr_assert_str_eq(m.named[i].value, val);
    }
    adc_msg_cleanup(&m);
}

Test(adc_format, refuses_incomplete_header)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    struct adc_msg m;
    adc_msg_init(&m, 'B', "MSG");
    adc_msg_add_pos(&m, "hi");
    cr_assert_eq(adc_msg_format(&m, &b), -1, "B without SID formatted");
    cr_assert_eq(b.len, 0);
    adc_msg_cleanup(&m);

    adc_msg_init(&m, 'D', "MSG");
    adc_msg_set_sids(&m, "AAAB", NULL);
    adc_msg_add_pos(&m, "hi");
    cr_assert_eq(adc_msg_format(&m, &b), -1, "D without target formatted");
    adc_msg_cleanup(&m);

    adc_msg_init(&m, 'H', "MSG");
    cr_assert_eq(adc_msg_format(&m, &b), -1, "MSG without text formatted");
    adc_msg_cleanup(&m);

    adc_msg_init(&m, 'I', "STA");
    adc_msg_add_pos(&m, "2x3");
    adc_msg_add_pos(&m, "bad code");
    cr_assert_eq(adc_msg_format(&m, &b), -1, "STA with a bad code formatted");
    adc_msg_cleanup(&m);

    adc_msg_init(&m, 'X', "MSG");
    adc_msg_add_pos(&m, "hi");
    cr_assert_eq(adc_msg_format(&m, &b), -1, "bad type formatted");
    adc_msg_cleanup(&m);

    cr_assert_eq(adc_msg_set_sids(&m, "AAA", NULL), -1);
    cr_assert_eq(adc_msg_add_named(&m, "toolong", "x"), -1);
    cr_assert_eq(adc_msg_add_named(&m, "a1", "x"), -1);
    cr_assert_eq(adc_msg_set_features(&m, "TCP4"), -1);
    cr_assert_eq(adc_msg_set_cid(&m, "not base32!"), -1);
    adc_msg_cleanup(&m);
    dc_buf_cleanup(&b);
}

Test(adc_format, f_and_u_headers)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    struct adc_msg m;
    adc_msg_init(&m, 'F', "SCH");
    adc_msg_set_sids(&m, "AAAB", NULL);
    cr_assert_eq(adc_msg_set_features(&m, "+TCP4-NAT0"), 0);
    adc_msg_add_named(&m, "AN", "two words");
    cr_assert_eq(adc_msg_format(&m, &b), 0);
    cr_assert_str_eq(b.data, "FSCH AAAB +TCP4-NAT0 ANtwo\\swords\n");
    adc_msg_cleanup(&m);
    dc_buf_reset(&b);
    adc_msg_init(&m, 'U', "RES");
    cr_assert_eq(adc_msg_set_cid(&m, "ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY"), 0);
    adc_msg_add_named(&m, "SI", "1");
    cr_assert_eq(adc_msg_format(&m, &b), 0);
    cr_assert_str_eq(b.data, "URES ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY SI1\n");
    adc_msg_cleanup(&m);
    dc_buf_cleanup(&b);
}

Test(adc_escape, vectors)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(adc_escape_append(&b, "a b\nc\\d", 7), 0);
    cr_assert_str_eq(b.data, "a\\sb\\nc\\\\d");
    char s[] = "x\\sy\\nz\\\\";
    long n = adc_unescape_inplace(s, strlen(s));
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(s, "x y\nz\\", 6), 0);
    char bad1[] = "a\\t", bad2[] = "a\\";
    cr_assert_eq(adc_unescape_inplace(bad1, 3), -1);
    cr_assert_eq(adc_unescape_inplace(bad2, 2), -1);
    dc_buf_cleanup(&b);
}

Test(adc_escape, random_round_trip)
{
    unsigned seed = 777;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    static const char bias[] = " \n\\sna";
    for (int round = 0; round < 5000; round++) {
        char in[80];
        size_t len = (size_t)(rand_r(&seed) % sizeof in);
        for (size_t i = 0; i < len; i++) {
            int r = rand_r(&seed);
            in[i] = (r & 1) ? bias[(r >> 1) % 6] : (char)(1 + (r >> 1) % 255);
        }
        dc_buf_reset(&b);
        cr_assert_eq(adc_escape_append(&b, in, len), 0);
        cr_assert_null(memchr(b.data, ' ', b.len));
        cr_assert_null(memchr(b.data, '\n', b.len));
        long n = adc_unescape_inplace(b.data, b.len);
        cr_assert_eq(n, (long)len);
        cr_assert_eq(memcmp(b.data, in, len), 0, "round %d differs", round);
    }
    dc_buf_cleanup(&b);
}

Test(adc_sid, format_value_and_validity)
{
    char s[ADC_SID_LEN + 1];
    adc_sid_format(1, s);
    cr_assert_str_eq(s, "AAAB");
    adc_sid_format(33825, s);
    cr_assert_str_eq(s, "BBBB");
    adc_sid_format(1048575, s);
    cr_assert_str_eq(s, "7777");
    cr_assert_eq(adc_sid_value("AAAB"), 1);
    cr_assert_eq(adc_sid_value("BBBB"), 33825);
    cr_assert_eq(adc_sid_value("7777"), 1048575);
    for (unsigned v = 0; v < (1u << 20); v += 997) {
        adc_sid_format(v, s);
        cr_assert(adc_sid_valid(s));
        cr_assert_eq(adc_sid_value(s), (long)v);
    }
    cr_assert_not(adc_sid_valid("AAA"));
    cr_assert_not(adc_sid_valid("AAAAA"));
    cr_assert_not(adc_sid_valid("AA1A"));
    cr_assert_not(adc_sid_valid("aaaa"));
    cr_assert_not(adc_sid_valid(NULL));
    cr_assert_eq(adc_sid_value("AA8A"), -1);
}

Test(adc_sta, split_code)
{
    int sev, err;
    cr_assert_eq(adc_sta_split("243", &sev, &err), 0);
    cr_assert_eq(sev, ADC_STA_SEV_FATAL);
    cr_assert_eq(err, 43);
    cr_assert_eq(adc_sta_split("151", &sev, NULL), 0);
    cr_assert_eq(sev, ADC_STA_SEV_RECOVERABLE);
    cr_assert_eq(adc_sta_split("24", &sev, &err), -1);
    cr_assert_eq(adc_sta_split("2433", &sev, &err), -1);
    cr_assert_eq(adc_sta_split("2x3", &sev, &err), -1);
}

/* The parser skips unescaping for lines without a backslash and finds the
 * first escape with memchr: escapes at the very end of a line, of a token,
 * and in one token among plain ones must still be undone or refused. */
Test(adc_parse, escapes_at_token_and_line_ends)
{
    struct adc_msg m = parse_ok("BINF AAAB NIplain DEends\\s EMx\\\\");
    cr_assert_str_eq(adc_msg_get(&m, "NI"), "plain");
    cr_assert_str_eq(adc_msg_get(&m, "DE"), "ends ");
    cr_assert_str_eq(adc_msg_get(&m, "EM"), "x\\");
    adc_msg_cleanup(&m);

    m = parse_ok("BMSG AAAB \\n");
    cr_assert_str_eq(m.pos[0], "\n");
    adc_msg_cleanup(&m);

    const char *bad[] = {"BMSG AAAB text\\", "BINF AAAB NIa DEb\\", "BINF AAAB DE\\x NIa",
                         "BMSG AAAB \\", "ISTA 000 a\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        cr_assert_eq(adc_msg_parse(bad[i], strlen(bad[i]), &m, &why), -1, "%s", bad[i]);
        cr_assert_str_eq(why, "bad escape sequence", "%s: %s", bad[i], why);
    }

    /* adc_unescape_inplace: a value without escapes comes back untouched. */
    char plain[] = "no escapes here";
    cr_assert_eq(adc_unescape_inplace(plain, strlen(plain)), (long)strlen(plain));
    cr_assert_str_eq(plain, "no escapes here");
    char tail[] = "ab\\s";
    cr_assert_eq(adc_unescape_inplace(tail, 4), 3);
    cr_assert_str_eq(tail, "ab ");
    char lone[] = "ab\\";
    cr_assert_eq(adc_unescape_inplace(lone, 3), -1);
}

/* UTF-8 is checked a word (8 bytes) at a time through ASCII: put a multi-byte
 * character, good and bad, at every offset around a word boundary and after
 * long ASCII runs. */
Test(adc_parse, utf8_at_every_offset_of_a_word)
{
    const char *good[] = {"\xC3\xA9", "\xE6\x9D\xB1", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
    const char *bad[] = {"\xC3", "\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                         "\xE6\x9D", "\xF8\x88\x80\x80\x80", "\xFF", "\xC3\x28"};
    char line[256];
    for (int run = 0; run < 40; run++) {
        for (size_t g = 0; g < sizeof good / sizeof good[0]; g++) {
            int n = snprintf(line, sizeof line, "BMSG AAAB %.*s%sz", run,
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", good[g]);
            struct adc_msg m = parse_ok(line);
            cr_assert_eq(strlen(m.pos[0]), (size_t)n - 10);
            cr_assert_str_eq(m.pos[0] + run, line + 10 + run);
            adc_msg_cleanup(&m);
        }
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            /* The bad sequence both last on the line and followed by ASCII. */
            for (int trail = 0; trail < 2; trail++) {
                snprintf(line, sizeof line, "BMSG AAAB %.*s%s%s", run,
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", bad[b],
                         trail ? "zzzzzzzzzzzzzzzz" : "");
                struct adc_msg m;
                const char *why = NULL;
                cr_assert_eq(adc_msg_parse(line, strlen(line), &m, &why), -1, "run %d bad %zu", run, b);
                cr_assert_str_eq(why, "invalid UTF-8");
            }
        }
    }
}

/* Parse clears only the header and the counts, not pos[] and named[]: a
 * struct full of garbage or of a previous message must not show through. */
Test(adc_parse, reused_and_dirty_structs)
{
    struct adc_msg *m = malloc(sizeof *m);
    cr_assert_not_null(m);
    memset(m, 0xA5, sizeof *m);
    const char *why = NULL;
    const char *big = "BINF AAAB NIa DEb EMc SL1 SS2 SF3 HN1 HR0 HO0";
    cr_assert_eq(adc_msg_parse(big, strlen(big), m, &why), 0);
    cr_assert_eq(m->nnamed, 9);
    adc_msg_cleanup(m);
    cr_assert_eq(m->npos, 0);
    cr_assert_eq(m->nnamed, 0);
    cr_assert_null(m->storage);
    cr_assert_null(m->cid);
    cr_assert_null(m->features);
    cr_assert_null(adc_msg_get(m, "NI"));
    adc_msg_cleanup(m);   /* twice is harmless */

    const char *small = "IINF CT32";
    cr_assert_eq(adc_msg_parse(small, strlen(small), m, &why), 0);
    cr_assert_eq(m->nnamed, 1);
    cr_assert_eq(m->npos, 0);
    cr_assert_str_eq(m->src_sid, "");
    cr_assert_str_eq(m->dst_sid, "");
    cr_assert_null(adc_msg_get(m, "NI"));
    adc_msg_cleanup(m);

    /* A failed parse leaves an empty message too. */
    memset(m, 0xA5, sizeof *m);
    cr_assert_eq(adc_msg_parse("BINF AAAB x", 11, m, &why), -1);
    cr_assert_eq(m->npos, 0);
    cr_assert_eq(m->nnamed, 0);
    cr_assert_null(m->storage);

    /* adc_msg_init on garbage, then build and format. */
    memset(m, 0xA5, sizeof *m);
    adc_msg_init(m, 'I', "MSG");
    cr_assert_eq(adc_msg_add_pos(m, "hi there"), 0);
    struct dc_buf out;
    dc_buf_init(&out, 0);
    cr_assert_eq(adc_msg_format(m, &out), 0);
    cr_assert_str_eq(out.data, "IMSG hi\\sthere\n");
    dc_buf_cleanup(&out);
    adc_msg_cleanup(m);
    free(m);
}

/* The positional count of every known command (looked up by a switch on the
 * code), and an unknown one next to each, where every parameter is positional. */
Test(adc_parse, positional_count_of_every_known_command)
{
    struct {
        const char *line;
        size_t npos, nnamed;
    } cases[] = {
        {"BMSG AAAB a PMAAAC", 1, 1}, {"ISTA 000 a RFx", 2, 1}, {"DCTM AAAB AAAC ADC/1.0 412 tok", 3, 0},
        {"DRCM AAAB AAAC ADC/1.0 tok", 2, 0}, {"CGET file TTH/X 0 -1 ZL1", 4, 1},
        {"CSND file TTH/X 0 10", 4, 0}, {"CGFI file x", 2, 0}, {"ISID AAAB", 1, 0},
        {"IGPA ABCD", 1, 0}, {"HPAS ABCD", 1, 0}, {"IQUI AAAB MSbye", 1, 1}, {"ICMD x TTy", 1, 1},
        {"BINF AAAB NIa", 0, 1}, {"HSUP ADBASE", 0, 1}, {"BSCH AAAB ANx", 0, 1}, {"DRES AAAB AAAC FNx", 0, 1},
        {"BMSH AAAB a PMAAAC", 2, 0}, {"ISTB 000 a RFx", 3, 0}, {"BINE AAAB NIa", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct adc_msg m = parse_ok(cases[i].line);
        cr_assert_eq(m.npos, cases[i].npos, "%s: npos %zu", cases[i].line, m.npos);
        cr_assert_eq(m.nnamed, cases[i].nnamed, "%s: nnamed %zu", cases[i].line, m.nnamed);
        adc_msg_cleanup(&m);
    }
}
