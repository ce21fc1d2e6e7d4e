/* strict.c: the rule table, the violation report, and the pure field checks
 * (see strict.h). */
#include "fakehub/strict.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

#include "fakehub/hub_internal.h"

/* Indexed by enum fh_rule. Sections name ADC 1.0.4 (ADC.txt), the ADC test
 * specification 1.0 (ADC-TST.txt) and the protocol notes (notes §). */
static const struct fh_rule_def fh_rules[FH_R_COUNT] = {
    [FH_R_ADC_SYNTAX] = {"adc-syntax", "ADC 1.0.4 Line protocol: Message syntax",
                         "the line does not parse (unknown escape, bad SID, invalid UTF-8, ...)", false},
    [FH_R_ADC_TYPE] = {"adc-type", "ADC 1.0.4 Message types",
                       "a type letter a client may not send to the hub (C, I, U), or one the "
                       "command does not take (INF is B; SUP, PAS are H)", false},
    [FH_R_ADC_STATE] = {"adc-state", "ADC 1.0.4 State management",
                        "a command not valid in the connection's state", false},
    [FH_R_ADC_SID] = {"adc-sid", "ADC 1.0.4 Message syntax (my_sid); ADC-TST SID",
                      "my_sid is not the SID the hub assigned to this client", false},
    [FH_R_ADC_CONTEXT] = {"adc-context", "ADC 1.0.4 BASE messages: Contexts",
                          "a command whose contexts exclude T (to hub): QUI, SID, GPA come from "
                          "the hub only, GET, GFI, SND between clients only", true},
    [FH_R_ADC_SUP_BASE] = {"adc-sup-base", "ADC 1.0.4 Features: BASE; ADC-TST SUP",
                           "the first SUP does not add BASE", false},
    [FH_R_ADC_SUP_HASH] = {"adc-sup-hash", "ADC 1.0.4 Session hash; ADC-TST SUP",
                           "the first SUP offers no hash the hub supports (TIGR)", false},
    [FH_R_ADC_SUP_REMOVE] = {"adc-sup-remove", "ADC-TST SUP: Remove BASE/hash support in NORMAL",
                             "SUP removes BASE or the session hash (TIGR)", true},
    [FH_R_ADC_INF_IDENTITY] = {"adc-inf-identity", "ADC 1.0.4 INF: ID, PD; Client identification",
                               "ID, PD or NI missing or repeated, a PID that is not a hash, "
                               "a CID that is not Tiger(PID), or a CID changed later", false},
    [FH_R_ADC_INF_CT] = {"adc-inf-ct", "ADC 1.0.4 INF: CT",
                         "CT (user type) is the hub's to set: bot, registered, operator, hub", true},
    [FH_R_ADC_INF_IP] = {"adc-inf-ip", "ADC 1.0.4 INF: I4, I6 (and the NOTE below the fields)",
                         "I4/I6 must be the zero address or the address the client connects "
                         "from", true},
    [FH_R_ADC_INF_TEXT] = {"adc-inf-text", "ADC 1.0.4 INF: NI, DE",
                           "text fields take code points >= 32 (NI: above 32); here NI, DE, "
                           "EM, VE, AP", true},
    [FH_R_ADC_INF_INT] = {"adc-inf-int", "ADC 1.0.4 INF: integer fields; ADC-TST INF",
                          "SS, SF, US, DS, SL, AS, AM, HN, HR, HO must be integers >= 0, "
                          "AW 0-2, U4/U6 ports 1-65535", true},
    [FH_R_ADC_INF_SU] = {"adc-inf-su", "ADC 1.0.4 INF: SU; Features",
                         "SU is a comma-separated list of FOURCCs ([A-Z][A-Z0-9]{3})", true},
    [FH_R_ADC_MSG_ME] = {"adc-msg-me", "ADC 1.0.4 MSG: ME; ADC-TST MSG",
                         "ME is 1 (third person) or 0", true},
    [FH_R_ADC_MSG_PM] = {"adc-msg-pm", "ADC 1.0.4 MSG: PM",
                         "PM names the SID replies go to: the sender's own (or, in a D/E "
                         "message, the target's group SID)", true},
    [FH_R_ADC_SCH] = {"adc-sch", "ADC 1.0.4 SCH: LE, GE, EQ, TY",
                      "LE, GE, EQ are sizes (integers >= 0), TY is 1 (file) or 2 (directory)", true},
    [FH_R_NMDC_SYNTAX] = {"nmdc-syntax", "notes §2.1, §2.5-2.9",
                          "the command does not parse", false},
    [FH_R_NMDC_STATE] = {"nmdc-state", "notes §2.3",
                         "a command not valid at this point of the login", false},
    [FH_R_NMDC_KEY] = {"nmdc-key", "notes §2.2",
                       "$Key is not the key of the hub's $Lock, or the nick comes before it", false},
    [FH_R_NMDC_NICK] = {"nmdc-nick", "notes §2.1 (nicks)",
                        "a nick with a space, $, |, <, > or a byte <= 0x20", false},
    [FH_R_NMDC_SENDER] = {"nmdc-sender", "notes §2.7-2.9, §4.1",
                          "chat, $To: From:, $MyINFO, $RevConnectToMe, passive $Search and $SR "
                          "must carry the sender's own nick", false},
    [FH_R_NMDC_CONTEXT] = {"nmdc-context", "notes §2.2-2.6 (direction H->C), §2.10-2.11 (C-C)",
                           "a command a client never sends to a hub: one only hubs send ($Hello, "
                           "$Quit, $NickList, $OpList, $HubName, $ForceMove, ...) or a "
                           "client-client one ($MyNick, $Direction, $ADCGET, $ADCSND, ...)", true},
    [FH_R_NMDC_CTM_IP] = {"nmdc-ctm-ip", "notes §2.8 (hubs should check the IP)",
                          "$ConnectToMe must give the address the client connects from", true},
};

const struct fh_rule_def *fh_rule_get(enum fh_rule r)
{
    return r < FH_R_COUNT ? &fh_rules[r] : NULL;
}

enum fh_rule fh_rule_find(const char *id)
{
    for (unsigned r = 0; r < FH_R_COUNT; r++)
        if (strcmp(fh_rules[r].id, id) == 0)
            return (enum fh_rule)r;
    return FH_R_COUNT;
}

bool fh_violation(struct fh_conn *c, enum fh_rule r, const char *action, const char *detail,
                  const char *line, size_t len)
{
    struct fh_hub *hub = c->hub;
    const struct fh_rule_def *d = &fh_rules[r];
    bool enforce = !(hub->cfg.lenient && d->lenient_relays);
    struct fh_violation v = {
        .rule = d->id, .section = d->section, .what = d->what, .detail = detail,
        .action = enforce ? action : "relayed", .line = line, .len = len,
    };
    hub->n.violations++;
    fh_log(hub, "conn %llu %s: violation %s%s%s: %s", (unsigned long long)c->id,
           c->nick ? c->nick : "-", d->id, detail ? " " : "", detail ? detail : "", v.action);
    FH_HOOK(hub, violation, c, &v);
    return enforce;
}

/* ---- pure checks ------------------------------------------------------------- */

/* The checks below run on every login and INF update: they are written as
 * plain loops rather than with strtoll, strcspn or inet_pton, whose libc
 * pages a login would otherwise fault in (40 KiB of the hub's resident
 * memory in the 100-user load benchmark, client/load/bench_load.py). */

bool fh_int_in(const char *v, long long min, long long max)
{
    bool neg = *v == '-';
    const char *p = v + neg;
    if (!*p)
        return false;
    unsigned long long n = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || n > (ULLONG_MAX - 9) / 10)
            return false;
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (neg)   /* min <= -n <= max */
        return min <= 0 && n <= (unsigned long long)-(min + 1) + 1 &&
               (max >= 0 || n >= (unsigned long long)-(max + 1) + 1);
    return max >= 0 && n <= (unsigned long long)max && (min <= 0 || n >= (unsigned long long)min);
}

bool fh_text_ok(const char *v, unsigned char min)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < min)
            return false;
    return true;
}

static bool fh_fourcc_ok(const char *p, size_t n)
{
    if (n != 4 || p[0] < 'A' || p[0] > 'Z')
        return false;
    for (size_t i = 1; i < 4; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
            return false;
    return true;
}

bool fh_su_ok(const char *v)
{
    if (!*v)
        return true;
    for (const char *p = v;;) {
        size_t n = 0;
        while (p[n] && p[n] != ',')
            n++;
        if (!fh_fourcc_ok(p, n))
            return false;
        if (!p[n])
            return true;
        p += n + 1;
    }
}

/* Dotted-decimal IPv4 ("x.x.x.x", each 0-255 without leading zeros, which
 * some read as octal; no signs or blanks), as inet_pton takes it. */
static bool fh_ip4_parse(const char *v, uint8_t out[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned n = 0, digits = 0;
        bool lead0 = *v == '0';
        for (; *v >= '0' && *v <= '9' && digits < 4; v++, digits++)
            n = n * 10 + (unsigned)(*v - '0');
        if (digits == 0 || digits > 3 || n > 255 || (lead0 && digits > 1) ||
            *v != (i < 3 ? '.' : '\0'))
            return false;
        out[i] = (uint8_t)n;
        v += i < 3;
    }
    return true;
}

static const uint8_t fh_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool fh_ip_is_v6(const uint8_t conn_ip[16])
{
    return memcmp(conn_ip, fh_v4mapped, sizeof fh_v4mapped) != 0;
}

enum fh_ip_check fh_ip_check(const char *v, bool v6, const uint8_t conn_ip[16])
{
    uint8_t a[16] = {0}, zero[16] = {0};
    if (v6 ? inet_pton(AF_INET6, v, a) != 1 : !fh_ip4_parse(v, a))
        return FH_IP_INVALID;
    size_t n = v6 ? 16 : 4;
    if (memcmp(a, zero, n) == 0)
        return FH_IP_ZERO;
    if (fh_ip_is_v6(conn_ip) != v6)
        return FH_IP_OTHER_FAMILY;
    return memcmp(a, v6 ? conn_ip : conn_ip + 12, n) == 0 ? FH_IP_MATCH : FH_IP_WRONG;
}
