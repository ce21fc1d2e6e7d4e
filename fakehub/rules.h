/* rules.h: the hub's pure decisions, kept apart from sockets so Criterion can
 * test them: nick validity and comparison, ADC identity checks (CID ==
 * Tiger(PID), notes §3.2), the password answer (§3.6), feature-broadcast
 * matching (FSCH "+TCP4-NAT0" against INF SU), ADC routing by type letter,
 * and stripping the target from a passive NMDC $SR (§2.9).
 *
 * No globals, no allocation except where a function says so.
 */
#ifndef FH_RULES_H
#define FH_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_NICK_MAX 64
#define FH_HUB_NICK "Hub"   /* sender of hub status lines; reserved */

/* Nick equality for uniqueness: ASCII case-insensitive (pitfall 18). */
bool fh_nick_equal(const char *a, const char *b);

/* Valid on this hub for both protocols: 1..FH_NICK_MAX bytes, no byte <= 0x20,
 * none of $ | < > (NMDC's separators, refused on ADC too so a nick means the
 * same everywhere), and not the reserved hub nick. UTF-8 validity is the
 * ADC codec's job. */
bool fh_nick_valid(const char *nick);

/* Outcome of checking a BINF's PD/ID pair. */
enum fh_cid_check {
    FH_CID_OK = 0,
    FH_CID_BAD_PID,       /* PD is not 39 base32 chars of 24 bytes: STA 227 FBPD */
    FH_CID_BAD_CID,       /* ID malformed: STA 243 FBID */
    FH_CID_MISMATCH,      /* ID != Tiger(PD): STA 243 FBID */
};
enum fh_cid_check fh_adc_check_cid(const char *pid_b32, const char *cid_b32);

/* The HPAS a client must send: base32(Tiger(password || salt)), 39 chars + NUL.
 * Returns 0, or -1 if the password is absurdly long (> 4096 bytes). */
int fh_adc_password_answer(const char *password, const uint8_t *salt, size_t saltlen,
                           char out[40]);

/* Does a user whose INF SU field is `su` ("TCP4,UDP4", may be NULL; ends at
 * NUL, ' ' or '\n', so it can point into an INF line) match an F-message
 * feature list like "+TCP4-NAT0"? Malformed lists match nobody. */
bool fh_adc_features_match(const char *features, const char *su);

/* Where an ADC message from a client goes, by its type letter. */
enum fh_route {
    FH_ROUTE_ALL,         /* B: every logged-in user including the sender */
    FH_ROUTE_FEATURE,     /* F: users matching the feature list, sender included */
    FH_ROUTE_TARGET,      /* D: the target SID only */
    FH_ROUTE_ECHO,        /* E: the target and the sender */
    FH_ROUTE_HUB,         /* H: for the hub itself */
    FH_ROUTE_INVALID,     /* C, U, I: never valid from a client to the hub */
};
enum fh_route fh_adc_route(char type);

/* A passive $SR ends in "\x05<searcher nick>". Given the message (without
 * '|'), find that nick: returns its offset (the position of the \x05), the
 * nick starting at offset+1; -1 when there is none (an active result, which
 * goes by UDP and must not come to the hub). */
long fh_nmdc_sr_target(const char *msg, size_t len);

#endif
