/* test_nmdc.c: Criterion tests for the NMDC codec (proto/nmdc.c): the
 * lock->key vectors and the live escaping example from the protocol notes,
 * live messages parsed field by field, format->parse round trips,
 * and rejection of malformed messages for every parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lines.h"
#include "proto/nmdc.h"

static struct nmdc_msg parse_ok(const char *msg, size_t len)
{
    struct nmdc_msg m;
    const char *why = NULL;
    int rc = nmdc_msg_parse(msg, len, &m, &why);
    cr_assert_eq(rc, 0, "parse of \"%.*s\" failed: %s", (int)len, msg, why ? why : "(null)");
    return m;
}

static struct nmdc_msg parse_str(const char *msg)
{
    return parse_ok(msg, strlen(msg));
}

static void parse_bad(const char *msg, size_t len)
{
    struct nmdc_msg m;
    const char *why = NULL;
    int rc = nmdc_msg_parse(msg, len, &m, &why);
    cr_assert_eq(rc, -1, "accepted bad message \"%.*s\" as type %d", (int)len, msg, m.type);
    cr_assert_not_null(why);
    cr_assert_gt(strlen(why), 0);
}

/* Decodes a hex string into b (test vectors are written as hex). */
static void hex_append(struct dc_buf *b, const char *hex)
{
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        dc_buf_append_byte(b, (char)v);
    }
}

/* Strips the trailing '|' a formatter appended and parses the rest. */
static struct nmdc_msg reparse(struct dc_buf *b)
{
    cr_assert_gt(b->len, 0);
    cr_assert_eq(b->data[b->len - 1], '|', "formatter did not terminate with '|'");
    size_t len;
    cr_assert_eq(dc_line_find(b->data, b->len, 0, '|', 1 << 20, &len), DC_LINE_OK);
    cr_assert_eq(len + 1, b->len, "a line of %zu bytes and '|' in %zu", len, b->len);
    return parse_ok(b->data, len);
}

/* ---- lock -> key ---- */

struct key_vector {
    const char *lock;
    const char *hex_a;      /* hex bytes, then an optional literal, then more hex */
    const char *literal;
    const char *hex_b;
};

Test(nmdc_key, vectors_from_notes)
{
    static const struct key_vector v[] = {
        {"AAGp2a1x", "d0", "/%DCN000%//%DCN096%/s/%DCN036%/5/%DCN005%/", "94"},
        {"EXTENDEDPROTOCOL_verlihub", "75d1c011b0a010104120d1b1b1c0c03031923171e15010d171", "", ""},
        {"EXTENDEDPROTOCOL_fakehub", "75d1c011b0a010104120d1b1b1c0c030319370a0e0d0d171", "", ""},
        {"EXTENDEDPROTOCOLABCABCABCABCABCABC",
         "14d1c011b0a010104120d1b1b1c0c030d03010203010203010203010203010203010", "", ""},
        {"EXTENDEDPROTOCOLpeerlock", "84d1c011b0a010104120d1b1b1c0c030c351", "/%DCN000%/", "71e130c080"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct dc_buf want, got;
        dc_buf_init(&want, 0);
        dc_buf_init(&got, 0);
        hex_append(&want, v[i].hex_a);
        dc_buf_append_str(&want, v[i].literal);
        hex_append(&want, v[i].hex_b);
        cr_assert_eq(nmdc_lock_to_key(v[i].lock, strlen(v[i].lock), &got), 0);
        cr_assert_eq(got.len, want.len, "%s: key length %zu, want %zu", v[i].lock, got.len, want.len);
        cr_assert_eq(memcmp(got.data, want.data, want.len), 0, "%s: key differs", v[i].lock);
        dc_buf_cleanup(&want);
        dc_buf_cleanup(&got);
    }
}

Test(nmdc_key, worked_example_wire_and_parse)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(nmdc_fmt_key(&b, "AAGp2a1x", 8), 0);
    cr_assert_eq(b.len, 5 + 44 + 1);
    cr_assert_eq(memcmp(b.data, "$Key \xd0/%DCN000%//%DCN096%/s/%DCN036%/5/%DCN005%/\x94|", b.len), 0);
    struct nmdc_msg m = reparse(&b);
    cr_assert_eq(m.type, NMDC_KEY);
    cr_assert_eq(m.key_len, 44);
    cr_assert_eq(memcmp(m.key, b.data + 5, 44), 0);
    nmdc_msg_cleanup(&m);
    dc_buf_cleanup(&b);
}

Test(nmdc_key, short_lock_gives_empty_key_and_high_bytes_escape)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(nmdc_lock_to_key("ab", 2, &b), 0);
    cr_assert_eq(b.len, 0);
    /* Every output byte value: no raw 0/5/36/96/124/126 may survive. */
    char lock[256];
    for (int i = 0; i < 256; i++)
        lock[i] = (char)(i * 7 + 3);
    cr_assert_eq(nmdc_lock_to_key(lock, sizeof lock, &b), 0);
    size_t raw = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] == '/' && i + 10 <= b.len && memcmp(b.data + i, "/%DCN", 5) == 0) {
            i += 9;
            continue;
        }
        unsigned char c = (unsigned char)b.data[i];
        cr_assert(c != 0 && c != 5 && c != 36 && c != 96 && c != 124 && c != 126, "raw %u", c);
        raw++;
    }
    cr_assert_gt(raw, 0);
    dc_buf_cleanup(&b);
}

/* ---- escaping ---- */

Test(nmdc_escape, live_example)
{
    const char *in = "pipe | dollar $ amp & done &#36;";
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(nmdc_fmt_chat(&b, "tester", in), 0);
    cr_assert_str_eq(b.data, "<tester> pipe &#124; dollar &#36; amp & done &amp;#36;|");
    struct nmdc_msg m = reparse(&b);
    cr_assert_eq(m.type, NMDC_CHAT);
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.text, in);
    nmdc_msg_cleanup(&m);
    dc_buf_cleanup(&b);
}

Test(nmdc_escape, random_round_trip)
{
    unsigned seed = 4242;
    static const char *const pieces[] = {"&", "$", "|", "&#36;", "&#124;", "&amp;", "&amp", "#36;", "a", " ", "&&"};
    struct dc_buf in, out;
    dc_buf_init(&in, 0);
    dc_buf_init(&out, 0);
    for (int round = 0; round < 5000; round++) {
        dc_buf_reset(&in);
        dc_buf_reset(&out);
        int n = rand_r(&seed) % 12;
        for (int i = 0; i < n; i++)
            dc_buf_append_str(&in, pieces[rand_r(&seed) % 11]);
        cr_assert_eq(nmdc_escape_append(&out, in.data ? in.data : "", in.len), 0);
        cr_assert(out.len == 0 || (!memchr(out.data, '$', out.len) && !memchr(out.data, '|', out.len)));
        size_t len = nmdc_unescape_inplace(out.data ? out.data : (char[]){0}, out.len);
        cr_assert_eq(len, in.len, "round %d: \"%s\"", round, in.data);
        cr_assert(len == 0 || memcmp(out.data, in.data, len) == 0, "round %d: \"%s\"", round, in.data);
    }
    dc_buf_cleanup(&in);
    dc_buf_cleanup(&out);
}

/* ---- live messages ---- */

Test(nmdc_parse, lock_with_and_without_pk)
{
    struct nmdc_msg m = parse_str("$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=DCPLUSPLUS2.4.2Ref=dchub://127.0.0.1:4111");
    cr_assert_eq(m.type, NMDC_LOCK);
    cr_assert_str_eq(m.name, "$Lock");
    cr_assert_str_eq(m.lock, "EXTENDEDPROTOCOLABCABCABCABCABCABC");
    cr_assert_str_eq(m.pk, "DCPLUSPLUS2.4.2Ref=dchub://127.0.0.1:4111");
    nmdc_msg_cleanup(&m);
    m = parse_str("$Lock AAGp2a1x extra stuff");
    cr_assert_str_eq(m.lock, "AAGp2a1x");
    cr_assert_null(m.pk);
    nmdc_msg_cleanup(&m);
    m = parse_str("$Lock AAGp2a1x");
    cr_assert_str_eq(m.lock, "AAGp2a1x");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, key_keeps_spaces_and_high_bytes)
{
    const char msg[] = "$Key u\xd1\xc0 q /%DCN000%/\xff";
    struct nmdc_msg m = parse_ok(msg, sizeof msg - 1);
    cr_assert_eq(m.type, NMDC_KEY);
    cr_assert_eq(m.key_len, sizeof msg - 1 - 5);
    cr_assert_eq(memcmp(m.key, msg + 5, m.key_len), 0);
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, supports_trailing_space)
{
    struct nmdc_msg m = parse_str("$Supports UserCommand NoGetINFO NoHello UserIP2 TTHSearch ZPipe0 TLS DHT0 ");
    cr_assert_eq(m.type, NMDC_SUPPORTS);
    cr_assert_eq(m.nlist, 8);
    cr_assert_str_eq(m.list[0], "UserCommand");
    cr_assert_str_eq(m.list[7], "DHT0");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, myinfo_live_with_flag_and_tag)
{
    struct nmdc_msg m = parse_str("$MyINFO $ALL tester test desc <EiskaltDC++ V:2.4.2,M:A,H:1/0/0,S:3>$ $100\x11$t@example.org$0$");
    cr_assert_eq(m.type, NMDC_MYINFO);
    cr_assert_str_eq(m.myinfo.nick, "tester");
    cr_assert_str_eq(m.myinfo.description, "test desc");
    cr_assert_str_eq(m.myinfo.tag, "<EiskaltDC++ V:2.4.2,M:A,H:1/0/0,S:3>");
    cr_assert_str_eq(m.myinfo.connection, "100");
    cr_assert_eq(m.myinfo.flag, 0x11);
    cr_assert_str_eq(m.myinfo.email, "t@example.org");
    cr_assert_eq(m.myinfo.share, 0);
    nmdc_msg_cleanup(&m);

    m = parse_str("$MyINFO $ALL peer some desc<++ V:0.868,M:A,H:1/0/0,S:2>$ $100\x01$peer@example.org$12345$");
    cr_assert_str_eq(m.myinfo.description, "some desc");
    cr_assert_str_eq(m.myinfo.tag, "<++ V:0.868,M:A,H:1/0/0,S:2>");
    cr_assert_eq(m.myinfo.flag, 1);
    cr_assert_eq(m.myinfo.share, 12345);
    nmdc_msg_cleanup(&m);

    /* DC++ with an empty description: "nick  <tag>" (notes §2.5). */
    m = parse_str("$MyINFO $ALL bot  <x>$$$$18446744073709551615$");
    cr_assert_str_eq(m.myinfo.description, "");
    cr_assert_str_eq(m.myinfo.tag, "<x>");
    cr_assert_str_eq(m.myinfo.connection, "");
    cr_assert_eq(m.myinfo.flag, 0);
    cr_assert_eq(m.myinfo.share, UINT64_MAX);
    nmdc_msg_cleanup(&m);

    m = parse_str("$MyINFO $ALL x a &#36;5 &amp; &$ $LAN(T1)\x01$$1$");
    cr_assert_str_eq(m.myinfo.description, "a $5 & &");
    cr_assert_str_eq(m.myinfo.tag, "");
    cr_assert_str_eq(m.myinfo.connection, "LAN(T1)");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, pm_live)
{
    struct nmdc_msg m = parse_str("$To: peer From: tester $<tester> pm reply");
    cr_assert_eq(m.type, NMDC_TO);
    cr_assert_str_eq(m.name, "$To:");
    cr_assert_str_eq(m.to, "peer");
    cr_assert_str_eq(m.from, "tester");
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.text, "pm reply");
    nmdc_msg_cleanup(&m);
    m = parse_str("$To: peer From: tester $<tester>no space &#124; x");
    cr_assert_str_eq(m.text, "no space | x");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, chat_and_status_lines)
{
    struct nmdc_msg m = parse_str("<tester> line one\nline two");
    cr_assert_eq(m.type, NMDC_CHAT);
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.text, "line one\nline two");
    nmdc_msg_cleanup(&m);
    m = parse_str("<tester>tight");
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.text, "tight");
    nmdc_msg_cleanup(&m);
    m = parse_str("Hub is going down &#36;oon");
    cr_assert_null(m.nick);
    cr_assert_str_eq(m.text, "Hub is going down $oon");
    nmdc_msg_cleanup(&m);
    m = parse_str("<> empty nick is status");
    cr_assert_null(m.nick);
    cr_assert_str_eq(m.text, "<> empty nick is status");
    nmdc_msg_cleanup(&m);
    m = parse_str("<bad nick> x");
    cr_assert_null(m.nick);
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, ctm_variants)
{
    struct nmdc_msg m = parse_str("$ConnectToMe tester 127.0.0.1:4112");
    cr_assert_eq(m.type, NMDC_CONNECTTOME);
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.host, "127.0.0.1");
    cr_assert_eq(m.port, 4112);
    cr_assert_not(m.tls);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ConnectToMe B 10.0.0.1:65535S");
    cr_assert_eq(m.port, 65535);
    cr_assert(m.tls);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ConnectToMe B 10.0.0.1:412NS A");
    cr_assert_eq(m.port, 412);
    cr_assert(m.tls);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ConnectToMe B 10.0.0.1:412R A");
    cr_assert_not(m.tls);
    nmdc_msg_cleanup(&m);
    m = parse_str("$RevConnectToMe A B");
    cr_assert_eq(m.type, NMDC_REVCONNECTTOME);
    cr_assert_str_eq(m.from, "A");
    cr_assert_str_eq(m.nick, "B");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, search_active_passive_tth)
{
    struct nmdc_msg m = parse_str("$Search 127.0.0.1:412 T?F?1000?1?hello$world$&#36;x");
    cr_assert_eq(m.type, NMDC_SEARCH);
    cr_assert_not(m.search.passive);
    cr_assert_str_eq(m.search.source, "127.0.0.1:412");
    cr_assert(m.search.size_restricted);
    cr_assert_not(m.search.is_max_size);
    cr_assert_eq(m.search.size, 1000);
    cr_assert_eq(m.search.data_type, 1);
    cr_assert_str_eq(m.search.pattern, "hello world $x");
    nmdc_msg_cleanup(&m);
    m = parse_str("$Search Hub:tester F?T?0?9?TTH:PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY");
    cr_assert(m.search.passive);
    cr_assert_str_eq(m.search.source, "tester");
    cr_assert_eq(m.search.data_type, 9);
    cr_assert_str_eq(m.search.pattern, "TTH:PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, sr_file_dir_and_target)
{
    struct nmdc_msg m = parse_str("$SR peer share\\sub\\hello world.txt\x05" "6 1/3\x05TTH:DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI (127.0.0.1:4111)\x05searcher");
    cr_assert_eq(m.type, NMDC_SR);
    cr_assert_str_eq(m.sr.nick, "peer");
    cr_assert_str_eq(m.sr.path, "share\\sub\\hello world.txt");
    cr_assert_not(m.sr.is_dir);
    cr_assert_eq(m.sr.size, 6);
    cr_assert_eq(m.sr.free_slots, 1);
    cr_assert_eq(m.sr.total_slots, 3);
    cr_assert_str_eq(m.sr.hub_info, "TTH:DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI");
    cr_assert_str_eq(m.sr.hub_addr, "127.0.0.1:4111");
    cr_assert_str_eq(m.sr.target, "searcher");
    nmdc_msg_cleanup(&m);
    m = parse_str("$SR peer share\\sub dir 2/2\x05My Hub (127.0.0.1:4111)");
    cr_assert(m.sr.is_dir);
    cr_assert_str_eq(m.sr.path, "share\\sub dir");
    cr_assert_eq(m.sr.free_slots, 2);
    cr_assert_str_eq(m.sr.hub_info, "My Hub");
    cr_assert_null(m.sr.target);
    nmdc_msg_cleanup(&m);
    m = parse_str("$SR peer d 0/1\x05h (a)\x05searcher");
    cr_assert(m.sr.is_dir);
    cr_assert_str_eq(m.sr.target, "searcher");
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, adcget_adcsnd_escaped_spaces)
{
    struct nmdc_msg m = parse_str("$ADCSND file /share/sub/hello\\ world.txt 0 6");
    cr_assert_eq(m.type, NMDC_ADCSND);
    cr_assert_str_eq(m.transfer.type, "file");
    cr_assert_str_eq(m.transfer.ident, "/share/sub/hello world.txt");
    cr_assert_eq(m.transfer.start, 0);
    cr_assert_eq(m.transfer.bytes, 6);
    cr_assert_not(m.transfer.zl1);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ADCGET file files.xml.bz2 0 -1 ZL1");
    cr_assert_eq(m.type, NMDC_ADCGET);
    cr_assert_eq(m.transfer.bytes, -1);
    cr_assert(m.transfer.zl1);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ADCGET list /a\\sb/ 0 -1 RE1 TL1");
    cr_assert_str_eq(m.transfer.ident, "/a b/");
    cr_assert(m.transfer.re1);
    cr_assert_not(m.transfer.zl1);
    nmdc_msg_cleanup(&m);
}

Test(nmdc_parse, lists_and_simple_commands)
{
    struct nmdc_msg m = parse_str("$OpList a$$b$$");
    cr_assert_eq(m.type, NMDC_OPLIST);
    cr_assert_eq(m.nlist, 2);
    cr_assert_str_eq(m.list[1], "b");
    nmdc_msg_cleanup(&m);
    m = parse_str("$OpList");
    cr_assert_eq(m.nlist, 0);
    nmdc_msg_cleanup(&m);
    m = parse_str("$NickList x$$$$y");
    cr_assert_eq(m.nlist, 2);
    nmdc_msg_cleanup(&m);
    m = parse_str("$UserIP tester 127.0.0.1$$");
    cr_assert_eq(m.type, NMDC_USERIP);
    cr_assert_str_eq(m.list[0], "tester 127.0.0.1");
    nmdc_msg_cleanup(&m);

    static const struct {
        const char *msg;
        enum nmdc_type type;
    } simple[] = {
        {"$ValidateNick tester", NMDC_VALIDATENICK}, {"$ValidateDenide tester", NMDC_VALIDATEDENIDE},
        {"$ValidateDenide", NMDC_VALIDATEDENIDE}, {"$Hello tester", NMDC_HELLO}, {"$GetPass", NMDC_GETPASS},
        {"$MyPass s3cret pw", NMDC_MYPASS}, {"$BadPass", NMDC_BADPASS}, {"$LogedIn op", NMDC_LOGEDIN},
        {"$Version 1,0091", NMDC_VERSION}, {"$GetNickList", NMDC_GETNICKLIST}, {"$BotList b$$", NMDC_BOTLIST},
        {"$GetINFO peer tester", NMDC_GETINFO}, {"$HubName Fake Hub", NMDC_HUBNAME},
        {"$HubTopic t", NMDC_HUBTOPIC}, {"$HubIsFull", NMDC_HUBISFULL}, {"$Quit peer", NMDC_QUIT},
        {"$ForceMove dchub://x:411", NMDC_FORCEMOVE}, {"$Kick bad", NMDC_KICK}, {"$MyNick tester", NMDC_MYNICK},
        {"$Direction Download 31000", NMDC_DIRECTION}, {"$Error File Not Available", NMDC_ERROR},
        {"$MaxedOut", NMDC_MAXEDOUT}, {"$ZOn", NMDC_ZON}, {"$Foo bar baz", NMDC_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        m = parse_str(simple[i].msg);
        cr_assert_eq(m.type, simple[i].type, "%s", simple[i].msg);
        nmdc_msg_cleanup(&m);
    }
    m = parse_str("$GetINFO peer tester");
    cr_assert_str_eq(m.nick, "peer");
    cr_assert_str_eq(m.from, "tester");
    nmdc_msg_cleanup(&m);
    m = parse_str("$Direction Upload 3244");
    cr_assert_str_eq(m.text, "Upload");
    cr_assert_eq(m.number, 3244);
    nmdc_msg_cleanup(&m);
    m = parse_str("$Foo bar baz");
    cr_assert_str_eq(m.name, "$Foo");
    cr_assert_str_eq(m.args, "bar baz");
    nmdc_msg_cleanup(&m);
    m = parse_str("$MyPass s3cret pw");
    cr_assert_str_eq(m.text, "s3cret pw");
    nmdc_msg_cleanup(&m);
    m = parse_str("$GetPass");
    cr_assert_null(m.text);
    nmdc_msg_cleanup(&m);
}

/* ---- malformed ---- */

Test(nmdc_parse, rejects_malformed)
{
    static const char *const bad[] = {
        "", "$Lock", "$Lock  Pk=x", "$ValidateNick", "$ValidateNick a b", "$ValidateNick a$b",
        "$Hello", "$Hello <x>", "$Quit", "$MyNick", "$Kick", "$LogedIn", "$MyPass", "$ForceMove",
        "$GetINFO peer", "$RevConnectToMe A", "$RevConnectToMe A B C",
        "$MyINFO", "$MyINFO $ALL", "$MyINFO $ALL x", "$MyINFO $X x d$ $c\x01$e$1$",
        "$MyINFO $ALL x d$ $c\x01$e$1", "$MyINFO $ALL x d$ $c\x01$e$1$extra",
        "$MyINFO $ALL x d$ $c\x01$e$12a$", "$MyINFO $ALL x d$ $c\x01$e$99999999999999999999$",
        "$MyINFO $ALL x d$ $c\x01$e$-1$", "$MyINFO $ALL x d$ $c\x01$e$1$$",
        "$To:", "$To: a", "$To: a From: b", "$To: a From: b $<b", "$To: a From: b <b> x",
        "$ConnectToMe", "$ConnectToMe B", "$ConnectToMe B 1.2.3.4", "$ConnectToMe B 1.2.3.4:",
        "$ConnectToMe B 1.2.3.4:0", "$ConnectToMe B 1.2.3.4:65536", "$ConnectToMe B 1.2.3.4:12X",
        "$ConnectToMe B 1.2.3.4:-5", "$ConnectToMe B :412", "$ConnectToMe B 1.2.3.4:99999999999999999999",
        "$Search", "$Search 1.2.3.4:5", "$Search x T?F?1?1?a", "$Search Hub: T?F?1?1?a",
        "$Search 1.2.3.4:5 T?F?1?a", "$Search 1.2.3.4:5 X?F?1?1?a", "$Search 1.2.3.4:5 T?F?-1?1?a",
        "$Search 1.2.3.4:5 T?F?1?0?a", "$Search 1.2.3.4:5 T?F?1?x?a", "$Search 1.2.3.4:5 T?F??1?a",
        "$SR", "$SR peer", "$SR peer x", "$SR peer p\x05" "6 1/3", "$SR peer p\x05x 1/3\x05h (a)",
        "$SR peer p\x05" "6 13\x05h (a)", "$SR peer p\x05" "6 1/3\x05h a", "$SR peer p\x05" "6 1/3\x05(a)",
        "$SR peer p\x05" "6 1/3\x05h (a)\x05t\x05u", "$SR peer d\x05h (a)", "$SR peer p\x05" "6 1/3\x05h (a)\x05" "bad nick",
        "$ADCGET", "$ADCGET file", "$ADCGET file x 0", "$ADCGET file x a -1", "$ADCGET file x 0 -2",
        "$ADCGET file x -1 5", "$ADCGET file x\\q 0 -1", "$ADCGET file x\\ 0", "$ADCGET file x 0 -1 ",
        "$ADCGET  x 0 -1", "$ADCSND file x 0 -1", "$ADCGET file x 0 99999999999999999999",
        "$Direction", "$Direction Sideways 5", "$Direction Download", "$Direction Download x",
        "$Direction Download -5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i], strlen(bad[i]));
    parse_bad("$Hello a\0b", 10);
    parse_bad("<a> x|y", 7);
}

Test(nmdc_parse, rejects_over_long_lists)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append_str(&b, "$NickList ");
    for (int i = 0; i <= NMDC_MAX_LIST; i++)
        dc_buf_appendf(&b, "n%d$$", i);
    parse_bad(b.data, b.len);
    dc_buf_reset(&b);
    dc_buf_append_str(&b, "$Supports");
    for (int i = 0; i <= NMDC_MAX_LIST; i++)
        dc_buf_append_str(&b, " F");
    parse_bad(b.data, b.len);
    dc_buf_reset(&b);
    dc_buf_append_str(&b, "$ADCGET file x 0 -1");
    for (int i = 0; i < 20; i++)
        dc_buf_append_str(&b, " ZL1");
    parse_bad(b.data, b.len);
    dc_buf_cleanup(&b);
}

Test(nmdc_parse, binary_garbage_never_crashes)
{
    static const char *const prefixes[] = {"$MyINFO $ALL ", "$SR ", "$Search ", "$ADCGET ", "$To: ",
                                           "$ConnectToMe ", "$Lock ", "<", "$OpList ", ""};
    unsigned seed = 99;
    char msg[96];
    for (int round = 0; round < 40000; round++) {
        const char *pre = prefixes[round % 10];
        size_t pl = strlen(pre), len = pl + (size_t)(rand_r(&seed) % (sizeof msg - pl));
        memcpy(msg, pre, pl);
        for (size_t i = pl; i < len; i++) {
            static const char alpha[] = "$ ?|\x05:/\\<>()aT1&#;";
            int r = rand_r(&seed);
            msg[i] = (r & 1) ? alpha[(r >> 1) % (sizeof alpha - 1)] : (char)(r >> 3);
        }
        struct nmdc_msg m;
        const char *why = NULL;
        if (nmdc_msg_parse(msg, len, &m, &why) == 0)
            nmdc_msg_cleanup(&m);
        else
            cr_assert_not_null(why);
    }
}

/* ---- round trips ---- */

Test(nmdc_roundtrip, chat_and_pm)
{
    static const char *const texts[] = {"", "plain", "a $ b | c & d &amp; e &#124;", "multi\nline", "<x> y"};
    struct dc_buf b;
    dc_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dc_buf_reset(&b);
        cr_assert_eq(nmdc_fmt_chat(&b, "alice", texts[i]), 0);
        struct nmdc_msg m = reparse(&b);
        cr_assert_eq(m.type, NMDC_CHAT);
        cr_assert_str_eq(m.nick, "alice");
        cr_assert_str_eq(m.text, texts[i]);
        nmdc_msg_cleanup(&m);

        dc_buf_reset(&b);
        cr_assert_eq(nmdc_fmt_to(&b, "bob", "alice", texts[i]), 0);
        m = reparse(&b);
        cr_assert_eq(m.type, NMDC_TO);
        cr_assert_str_eq(m.to, "bob");
        cr_assert_str_eq(m.from, "alice");
        cr_assert_str_eq(m.nick, "alice");
        cr_assert_str_eq(m.text, texts[i]);
        nmdc_msg_cleanup(&m);
    }
    cr_assert_eq(nmdc_fmt_chat(&b, "bad nick", "x"), -1);
    cr_assert_eq(nmdc_fmt_to(&b, "a|b", "alice", "x"), -1);
    dc_buf_cleanup(&b);
}

Test(nmdc_roundtrip, myinfo)
{
    static const struct nmdc_myinfo cases[] = {
        {"tester", "test desc", "<EiskaltDC++ V:2.4.2,M:A,H:1/0/0,S:3>", "100", 0x11, "t@example.org", 0},
        {"peer", "$ome | & &amp; desc ", "", "LAN(T1)", 0x01, "a$b@c", UINT64_MAX},
        {"bot", "", "<x>", "", 0, "", 5},
        {"x", " ", "<++ V:1>", "Cable", 0x80, "", 1},
    };
    struct dc_buf b;
    dc_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dc_buf_reset(&b);
        cr_assert_eq(nmdc_fmt_myinfo(&b, &cases[i]), 0, "case %zu", i);
        struct nmdc_msg m = reparse(&b);
        cr_assert_eq(m.type, NMDC_MYINFO);
        cr_assert_str_eq(m.myinfo.nick, cases[i].nick);
        cr_assert_str_eq(m.myinfo.description, cases[i].description, "case %zu", i);
        cr_assert_str_eq(m.myinfo.tag, cases[i].tag);
        cr_assert_str_eq(m.myinfo.connection, cases[i].connection);
        cr_assert_eq(m.myinfo.flag, cases[i].flag);
        cr_assert_str_eq(m.myinfo.email, cases[i].email);
        cr_assert_eq(m.myinfo.share, cases[i].share);
        nmdc_msg_cleanup(&m);
    }
    struct nmdc_myinfo bad = {"x", "", "no brackets", "c", 1, "", 0};
    cr_assert_eq(nmdc_fmt_myinfo(&b, &bad), -1);
    bad = (struct nmdc_myinfo){"x", "", "", "c", '|', "", 0};
    cr_assert_eq(nmdc_fmt_myinfo(&b, &bad), -1);
    bad = (struct nmdc_myinfo){"x", "", "", "c", 0, "", 0};
    cr_assert_eq(nmdc_fmt_myinfo(&b, &bad), -1);
    dc_buf_cleanup(&b);
}

Test(nmdc_roundtrip, ctm_rcm)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(nmdc_fmt_ctm(&b, "tester", "127.0.0.1", 4112, false), 0);
    cr_assert_str_eq(b.data, "$ConnectToMe tester 127.0.0.1:4112|");
    struct nmdc_msg m = reparse(&b);
    cr_assert_str_eq(m.nick, "tester");
    cr_assert_str_eq(m.host, "127.0.0.1");
    cr_assert_eq(m.port, 4112);
    cr_assert_not(m.tls);
    nmdc_msg_cleanup(&m);
    dc_buf_reset(&b);
    cr_assert_eq(nmdc_fmt_ctm(&b, "t", "::1", 1, true), 0);
    m = reparse(&b);
    cr_assert_str_eq(m.host, "::1");
    cr_assert_eq(m.port, 1);
    cr_assert(m.tls);
    nmdc_msg_cleanup(&m);
    dc_buf_reset(&b);
    cr_assert_eq(nmdc_fmt_rcm(&b, "A", "B"), 0);
    m = reparse(&b);
    cr_assert_eq(m.type, NMDC_REVCONNECTTOME);
    cr_assert_str_eq(m.from, "A");
    cr_assert_str_eq(m.nick, "B");
    nmdc_msg_cleanup(&m);
    cr_assert_eq(nmdc_fmt_ctm(&b, "t", "h", 0, false), -1);
    cr_assert_eq(nmdc_fmt_ctm(&b, "t", "h|x", 5, false), -1);
    dc_buf_cleanup(&b);
}

Test(nmdc_roundtrip, adcget_adcsnd)
{
    static const struct nmdc_transfer cases[] = {
        {"file", "files.xml.bz2", 0, -1, true, false},
        {"file", "/share/sub/hello world.txt", 0, 6, false, false},
        {"list", "/a \\b\nc/", 0, -1, false, true},
        {"tthl", "TTH/PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY", 1000, 25, true, true},
    };
    struct dc_buf b;
    dc_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool snd = cases[i].bytes >= 0;
        dc_buf_reset(&b);
        cr_assert_eq(nmdc_fmt_transfer(&b, snd, &cases[i]), 0);
        struct nmdc_msg m = reparse(&b);
        cr_assert_eq(m.type, snd ? NMDC_ADCSND : NMDC_ADCGET);
        cr_assert_str_eq(m.transfer.type, cases[i].type);
        cr_assert_str_eq(m.transfer.ident, cases[i].ident);
        cr_assert_eq(m.transfer.start, cases[i].start);
        cr_assert_eq(m.transfer.bytes, cases[i].bytes);
        cr_assert_eq(m.transfer.zl1, cases[i].zl1);
        cr_assert_eq(m.transfer.re1, cases[i].re1);
        nmdc_msg_cleanup(&m);
    }
    dc_buf_reset(&b);
    nmdc_fmt_transfer(&b, true, &cases[1]);
    cr_assert_str_eq(b.data, "$ADCSND file /share/sub/hello\\ world.txt 0 6|");
    cr_assert_eq(nmdc_fmt_transfer(&b, true, &cases[0]), -1, "ADCSND with -1 bytes");
    dc_buf_cleanup(&b);
}

Test(nmdc_roundtrip, search_sr_lock_supports_lists)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    struct nmdc_search s = {"tester", true, true, true, 42, 7, "two words $ & &#36;"};
    cr_assert_eq(nmdc_fmt_search(&b, &s), 0);
    struct nmdc_msg m = reparse(&b);
    cr_assert(m.search.passive);
    cr_assert_str_eq(m.search.source, "tester");
    cr_assert(m.search.size_restricted && m.search.is_max_size);
    cr_assert_eq(m.search.size, 42);
    cr_assert_eq(m.search.data_type, 7);
    cr_assert_str_eq(m.search.pattern, "two words $ & &#36;");
    nmdc_msg_cleanup(&m);

    dc_buf_reset(&b);
    struct nmdc_sr sr = {"peer", "share\\a b.txt", false, 1025, 1, 3, "TTH:X", "127.0.0.1:4111", "srch"};
    cr_assert_eq(nmdc_fmt_sr(&b, &sr), 0);
    m = reparse(&b);
    cr_assert_str_eq(m.sr.path, sr.path);
    cr_assert_eq(m.sr.size, 1025);
    cr_assert_str_eq(m.sr.hub_info, "TTH:X");
    cr_assert_str_eq(m.sr.target, "srch");
    nmdc_msg_cleanup(&m);

    dc_buf_reset(&b);
    cr_assert_eq(nmdc_fmt_lock(&b, "EXTENDEDPROTOCOL_fakehub", "fakehub"), 0);
    const char *feats[] = {"NoHello", "NoGetINFO", "UserIP2"};
    cr_assert_eq(nmdc_fmt_supports(&b, feats, 3), 0);
    const char *nicks[] = {"a", "b"};
    cr_assert_eq(nmdc_fmt_nicklist(&b, "$OpList", nicks, 2), 0);
    cr_assert_eq(nmdc_fmt_simple(&b, "$Hello", "tester"), 0);
    cr_assert_eq(nmdc_fmt_simple(&b, "GetNickList", NULL), 0);
    cr_assert_str_eq(b.data, "$Lock EXTENDEDPROTOCOL_fakehub Pk=fakehub|$Supports NoHello NoGetINFO UserIP2|"
                             "$OpList a$$b$$|$Hello tester|$GetNickList|");
    cr_assert_eq(nmdc_fmt_simple(&b, "$Hello", "a|b"), -1);
    cr_assert_eq(nmdc_fmt_lock(&b, "has space", NULL), -1);
    cr_assert_eq(nmdc_fmt_nicklist(&b, "$OpList", (const char *[]){"bad$"}, 1), -1);
    dc_buf_reset(&b);
    cr_assert_eq(nmdc_fmt_nicklist(&b, "$OpList", NULL, 0), 0);
    cr_assert_str_eq(b.data, "$OpList|");
    dc_buf_cleanup(&b);
}

Test(nmdc_nick, validity)
{
    cr_assert(nmdc_nick_valid("tester", 6));
    cr_assert(nmdc_nick_valid("\xc3\xa9t\xc3\xa9", 5));
    cr_assert_not(nmdc_nick_valid("", 0));
    cr_assert_not(nmdc_nick_valid("a b", 3));
    cr_assert_not(nmdc_nick_valid("a$", 2));
    cr_assert_not(nmdc_nick_valid("a|", 2));
    cr_assert_not(nmdc_nick_valid("<a", 2));
    cr_assert_not(nmdc_nick_valid("a>", 2));
    cr_assert_not(nmdc_nick_valid("a\x01", 2));
    char longnick[66];
    memset(longnick, 'n', sizeof longnick);
    cr_assert(nmdc_nick_valid(longnick, 64));
    cr_assert_not(nmdc_nick_valid(longnick, 65));
}

/* Command names are looked up by a perfect hash (second byte, last byte,
 * length) and one memcmp: every name must reach its own type, and near misses
 * (case, a byte more or less, a byte changed at either end) must not. */
Test(nmdc_parse, every_command_name)
{
    struct {
        const char *msg;
        enum nmdc_type type;
    } cases[] = {
        {"$Lock EXTENDEDPROTOCOLabc Pk=x", NMDC_LOCK}, {"$Key abc", NMDC_KEY},
        {"$Supports NoHello", NMDC_SUPPORTS}, {"$ValidateNick bob", NMDC_VALIDATENICK},
        {"$ValidateDenide bob", NMDC_VALIDATEDENIDE}, {"$Hello bob", NMDC_HELLO},
        {"$GetPass", NMDC_GETPASS}, {"$MyPass pw", NMDC_MYPASS}, {"$BadPass", NMDC_BADPASS},
        {"$LogedIn bob", NMDC_LOGEDIN}, {"$Version 1,0091", NMDC_VERSION},
        {"$GetNickList", NMDC_GETNICKLIST}, {"$NickList a$$b$$", NMDC_NICKLIST},
        {"$OpList a$$", NMDC_OPLIST}, {"$BotList a$$", NMDC_BOTLIST},
        {"$MyINFO $ALL bob d$ $A\x01$$0$", NMDC_MYINFO}, {"$GetINFO bob alice", NMDC_GETINFO},
        {"$HubName h", NMDC_HUBNAME}, {"$HubTopic t", NMDC_HUBTOPIC}, {"$HubIsFull", NMDC_HUBISFULL},
        {"$UserIP bob 1.2.3.4$$", NMDC_USERIP}, {"$To: bob From: alice $<alice> hi", NMDC_TO},
        {"$ConnectToMe bob 1.2.3.4:412", NMDC_CONNECTTOME},
        {"$RevConnectToMe alice bob", NMDC_REVCONNECTTOME},
        {"$Search Hub:bob F?T?0?1?x", NMDC_SEARCH},
        {"$SR bob a.txt\x05" "1 1/2\x05TTH:X (1.2.3.4:411)", NMDC_SR}, {"$Quit bob", NMDC_QUIT},
        {"$ForceMove h:411", NMDC_FORCEMOVE}, {"$Kick bob", NMDC_KICK}, {"$MyNick bob", NMDC_MYNICK},
        {"$Direction Download 1", NMDC_DIRECTION}, {"$ADCGET file x 0 -1", NMDC_ADCGET},
        {"$ADCSND file x 0 1", NMDC_ADCSND}, {"$Error e", NMDC_ERROR}, {"$MaxedOut", NMDC_MAXEDOUT},
        {"$ZOn", NMDC_ZON},
    };
    size_t n = sizeof cases / sizeof cases[0];
    cr_assert_eq(n, (size_t)NMDC_ZON - NMDC_LOCK + 1, "a command has no case here");
    for (size_t i = 0; i < n; i++) {
        struct nmdc_msg m = parse_str(cases[i].msg);
        cr_assert_eq(m.type, cases[i].type, "%s: type %d", cases[i].msg, m.type);
        cr_assert_null(m.args);
        nmdc_msg_cleanup(&m);

        /* The bare name, with and without a trailing space: the same type,
         * or a refusal from that type's parser, never NMDC_UNKNOWN. */
        char name[32];
        size_t nl = strcspn(cases[i].msg, " ");
        snprintf(name, sizeof name, "%.*s ", (int)nl, cases[i].msg);
        for (size_t len = nl; len <= nl + 1; len++) {
            const char *why = NULL;
            if (nmdc_msg_parse(name, len, &m, &why) == 0) {
                cr_assert_eq(m.type, cases[i].type, "%.*s", (int)len, name);
                nmdc_msg_cleanup(&m);
            } else {
                cr_assert_not_null(why);
            }
        }

        /* Near misses: unknown, name kept, args raw. */
        char miss[256];
        const char *args = cases[i].msg + nl;
        char variants[6][32];
        snprintf(variants[0], 32, "%.*sx", (int)nl, cases[i].msg);              /* one more */
        snprintf(variants[1], 32, "%.*s", (int)nl - 1, cases[i].msg);          /* one less */
        snprintf(variants[2], 32, "%.*s", (int)nl, cases[i].msg);
        variants[2][1] ^= 0x20;                                                /* case of byte 1 */
        snprintf(variants[3], 32, "%.*s", (int)nl, cases[i].msg);
        variants[3][nl - 1] ^= 0x01;                                           /* last byte */
        snprintf(variants[4], 32, "%.*s", (int)nl, cases[i].msg);
        variants[4][nl / 2 + 1 < nl ? nl / 2 + 1 : 1] ^= 0x01;                 /* a middle byte */
        snprintf(variants[5], 32, "%%%.*s", (int)nl - 1, cases[i].msg + 1);    /* not '$' */
        for (int v = 0; v < 5; v++) {
            snprintf(miss, sizeof miss, "%s%s", variants[v], args);
            struct nmdc_msg u = parse_str(miss);
            cr_assert_eq(u.type, NMDC_UNKNOWN, "%s parsed as %d", miss, u.type);
            cr_assert_str_eq(u.name, variants[v]);
            cr_assert_str_eq(u.args, *args ? args + 1 : "");
            nmdc_msg_cleanup(&u);
        }
        snprintf(miss, sizeof miss, "%s%s", variants[5], args);
        struct nmdc_msg c = parse_str(miss);
        cr_assert_eq(c.type, NMDC_CHAT, "%s", miss);
        nmdc_msg_cleanup(&c);
    }
    /* Lone "$" and names longer than any known one. */
    struct nmdc_msg m = parse_str("$");
    cr_assert_eq(m.type, NMDC_UNKNOWN);
    cr_assert_str_eq(m.name, "$");
    nmdc_msg_cleanup(&m);
    m = parse_str("$RevConnectToMeX a b");
    cr_assert_eq(m.type, NMDC_UNKNOWN);
    nmdc_msg_cleanup(&m);
    m = parse_str("$ValidateDenideValidateDenide bob");
    cr_assert_eq(m.type, NMDC_UNKNOWN);
    nmdc_msg_cleanup(&m);
}

/* Text is unescaped only from its first '&': entities at the very start and
 * end, cut-off entities at the end, and text without any '&'. */
Test(nmdc_escape, entities_at_ends_and_cut_off)
{
    struct {
        const char *in, *out;
    } v[] = {
        {"plain text", "plain text"}, {"&#36;", "$"}, {"a&#124;", "a|"}, {"&amp;&amp;", "&&"},
        {"x&#36", "x&#36"}, {"x&#12", "x&#12"}, {"x&", "x&"}, {"&", "&"}, {"&am", "&am"},
        {"&&#36;&", "&$&"}, {"a&amp;#36;", "a&#36;"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char buf[32];
        size_t len = strlen(v[i].in);
        memcpy(buf, v[i].in, len);
        buf[len] = 'Z';   /* no write past the text when nothing shrinks */
        size_t n = nmdc_unescape_inplace(buf, len);
        cr_assert_eq(n, strlen(v[i].out), "%s", v[i].in);
        cr_assert_eq(memcmp(buf, v[i].out, n), 0, "%s", v[i].in);
        cr_assert_eq(buf[len], n < len ? buf[len] : 'Z');

        /* The same text as chat, as a description and as an e-mail. */
        char msg[128];
        snprintf(msg, sizeof msg, "<bob> %s", v[i].in);
        struct nmdc_msg m = parse_str(msg);
        cr_assert_str_eq(m.text, v[i].out);
        nmdc_msg_cleanup(&m);
        snprintf(msg, sizeof msg, "$MyINFO $ALL bob %s$ $A\x01$%s$1$", v[i].in, v[i].in);
        m = parse_str(msg);
        cr_assert_str_eq(m.myinfo.description, v[i].out);
        cr_assert_str_eq(m.myinfo.email, v[i].out);
        nmdc_msg_cleanup(&m);
    }
}
