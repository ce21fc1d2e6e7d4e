/* strict.h: the protocol rules fakehub holds its clients to, and the
 * `violation` report each breach becomes (docs/fakehub.md, "Protocol
 * violations", documents every rule).
 *
 * A rule is a row of one static table: an id ("adc-msg-me"), the part of
 * the spec or of the protocol notes it comes from, and what it forbids. A
 * handler that finds a breach calls fh_violation with the rule and what it
 * does about it; fh_violation tells every hook set (the control socket's
 * `violation` event, the trace) and answers whether to enforce: in lenient
 * mode (setting `lenient`) rules that only refuse, strip or replace let the
 * line through as sent, so a test can reproduce what a lax hub does, and
 * are still reported.
 *
 * The field checks below are pure (no hub, no allocation) so Criterion
 * tests them directly; they cost a few byte comparisons on the relay path.
 */
#ifndef FH_STRICT_H
#define FH_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakehub/hooks.h"

enum fh_rule {
    /* ADC */
    FH_R_ADC_SYNTAX,
    FH_R_ADC_TYPE,
    FH_R_ADC_STATE,
    FH_R_ADC_SID,
    FH_R_ADC_CONTEXT,
    FH_R_ADC_SUP_BASE,
    FH_R_ADC_SUP_HASH,
    FH_R_ADC_SUP_REMOVE,
    FH_R_ADC_INF_IDENTITY,
    FH_R_ADC_INF_CT,
    FH_R_ADC_INF_IP,
    FH_R_ADC_INF_TEXT,
    FH_R_ADC_INF_INT,
    FH_R_ADC_INF_SU,
    FH_R_ADC_MSG_ME,
    FH_R_ADC_MSG_PM,
    FH_R_ADC_SCH,
    /* NMDC */
    FH_R_NMDC_SYNTAX,
    FH_R_NMDC_STATE,
    FH_R_NMDC_KEY,
    FH_R_NMDC_NICK,
    FH_R_NMDC_SENDER,
    FH_R_NMDC_CONTEXT,
    FH_R_NMDC_CTM_IP,
    FH_R_COUNT
};

/* One row of the rule table (static strings). */
struct fh_rule_def {
    const char *id;        /* "adc-msg-me": stable, for tests and reports */
    const char *section;   /* where the rule is written */
    const char *what;      /* what the rule forbids */
    bool lenient_relays;   /* lenient mode lets the line through */
};

const struct fh_rule_def *fh_rule_get(enum fh_rule r);
/* The rule with this id, or FH_R_COUNT. */
enum fh_rule fh_rule_find(const char *id);

struct fh_conn;

/* Report a breach of rule r by c: `action` is what the hub does in strict
 * mode ("refused", "stripped", "replaced", "ignored", "disconnected"),
 * detail says what exactly (may be NULL), line/len the offending line
 * (without its terminator). Returns true if the caller must enforce the
 * rule, false if lenient mode lets the line through (then the event says
 * "relayed"). Counts the violation in the hub's counters. */
bool fh_violation(struct fh_conn *c, enum fh_rule r, const char *action, const char *detail,
                  const char *line, size_t len);

/* ---- pure field checks ------------------------------------------------------ */

/* A decimal integer (optional '-') within [min, max]; "" is not. */
bool fh_int_in(const char *v, long long min, long long max);
/* Text whose every byte is >= min (32 for DE: "code point >= 32"; 33 for NI:
 * "above 32"). Multi-byte UTF-8 is >= 0x80, so only controls (and for NI
 * the space) fail; the codec has checked the UTF-8 itself. */
bool fh_text_ok(const char *v, unsigned char min);
/* An INF SU value: comma-separated FOURCCs ([A-Z][A-Z0-9]{3}); "" clears. */
bool fh_su_ok(const char *v);

/* An INF I4/I6 value against the connection's address (16 bytes, IPv4
 * mapped or IPv6). */
enum fh_ip_check {
    FH_IP_ZERO,        /* 0.0.0.0 / "::": fill in the real address */
    FH_IP_MATCH,       /* the connection's own address */
    FH_IP_WRONG,       /* a valid address, but not the connection's */
    FH_IP_INVALID,     /* not an address of that family (a name, junk) */
    FH_IP_OTHER_FAMILY,/* the connection is of the other family (no check possible) */
};
enum fh_ip_check fh_ip_check(const char *v, bool v6, const uint8_t conn_ip[16]);
/* Is a connection address (16 bytes as above) IPv6 rather than IPv4-mapped? */
bool fh_ip_is_v6(const uint8_t conn_ip[16]);

#endif
