/* fault_rule.h: one fault rule of fakehub (docs/fakehub.md, "Fault rules"):
 * what lines it matches, what it does to them, how long it lives. Pure:
 * parsing, matching and the seeded random stream, no sockets and no hub, so
 * the config parser, the harness and Criterion can use it.
 *
 * A rule is a list of fields, `key=value` or a bare `key`, given as text
 * (`drop=0.5 seed=7 cmd=pm from=alice`) or one field at a time
 * (fh_fault_rule_set: the control socket's JSON object form). Exactly one
 * field is the action. Errors name the field: `field "delay": ...`.
 */
#ifndef FH_FAULT_RULE_H
#define FH_FAULT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakehub/hooks.h"

#define FH_FAULT_ERR_LEN 256

enum fh_fault_action {
    FH_FA_NONE,
    FH_FA_DROP,
    FH_FA_DELAY,
    FH_FA_REPLACE,
    FH_FA_CORRUPT,
    FH_FA_DUPLICATE,
    FH_FA_DISCONNECT,
    FH_FA_HALF_CLOSE,
    FH_FA_THROTTLE,
    FH_FA_SLICE,
    FH_FA_STALL,
};

#define FH_FR_IN 1u
#define FH_FR_OUT 2u

/* Command classes that mean the same on both protocols (cmd=pm ...). */
enum fh_fault_cmd {
    FH_FC_ANY,
    FH_FC_RAW,      /* cmd holds an NMDC "$Name" or an ADC "EMSG"/"MSG" */
    FH_FC_PM,       /* NMDC $To:, ADC EMSG/DMSG with PM */
    FH_FC_CHAT,     /* NMDC <nick> text, ADC BMSG */
    FH_FC_CTM,      /* $ConnectToMe, DCTM */
    FH_FC_RCM,      /* $RevConnectToMe, DRCM */
    FH_FC_INFO,     /* $MyINFO, BINF */
    FH_FC_QUIT,     /* $Quit, IQUI */
    FH_FC_SEARCH,   /* $Search, BSCH/FSCH */
};

/* Owns its strings; fh_fault_rule_cleanup frees them. */
struct fh_fault_rule {
    unsigned id;                  /* given by the table (fault.c) */
    char *text;                   /* owned: the fields as given, for list and reports */
    /* match */
    unsigned dirs;                /* FH_FR_IN | FH_FR_OUT; default FH_FR_IN */
    unsigned protos;              /* 1 << enum fh_proto; 0 = both */
    enum fh_fault_cmd cmd_class;
    char cmd[32];                 /* FH_FC_RAW: "$To:" / "EMSG" / "MSG" */
    size_t cmd_len;
    char *from, *to, *text_sub;   /* owned or NULL */
    /* action */
    enum fh_fault_action action;
    double prob;                  /* applied to a matching line with this probability */
    uint64_t seed;                /* of the stream prob and corrupt draw from */
    unsigned delay_ms;
    char *replace, *find;         /* owned: new line / the part it replaces */
    unsigned corrupt_n;           /* bytes changed */
    unsigned copies;              /* duplicate: deliveries in all */
    enum fh_close_how close_how;  /* disconnect */
    unsigned rate, slice, gap_ms; /* throttle, slice */
    bool stall_read, stall_write; /* stall */
    unsigned for_ms;              /* throttle/slice/stall: how long; 0 = for good */
    /* lifetime */
    unsigned count;               /* applied at most this often; 0 = no limit */
    unsigned ttl_ms;              /* active this long after being added; 0 = for good */
    bool has[32];                 /* which fields were given (index: the field table) */
};

void fh_fault_rule_init(struct fh_fault_rule *r);
void fh_fault_rule_cleanup(struct fh_fault_rule *r);
/* One field; value NULL for a bare `key`. 0, or -1 with err naming the field. */
int fh_fault_rule_set(struct fh_fault_rule *r, const char *key, const char *value, char *err);
/* After the fields: checks that belong to the whole rule (one action, cmd
 * and proto agree, ...), builds r->text. 0 or -1 with err. */
int fh_fault_rule_finish(struct fh_fault_rule *r, char *err);
/* The text form: blank-separated fields, values in "double quotes" with \"
 * and \\ when they hold blanks; `text~x` is taken as `text=x`. Init, set,
 * finish in one. On failure r is cleaned up. */
int fh_fault_rule_parse(struct fh_fault_rule *r, const char *text, char *err);

/* Does the line match the rule's dir/proto/cmd/text (not from/to, which
 * need the hub's users, and not the lifetime)? */
bool fh_fault_rule_matches(const struct fh_fault_rule *r, enum fh_dir dir, enum fh_proto proto,
                           const char *line, size_t len);
/* The target of a directed line: NMDC `$To: X`, `$ConnectToMe X`,
 * `$RevConnectToMe A X` -> X (copied to nick, NUL-terminated); ADC D/E
 * messages -> the target SID (4 chars). Returns false if none. */
bool fh_fault_line_target(enum fh_proto proto, const char *line, size_t len, char *out,
                          size_t outlen);

/* xorshift64*: the seeded stream probabilities and corruptions come from. */
uint64_t fh_fault_rand(uint64_t *state);
/* Corrupt n bytes of buf[0..len) from the stream: each chosen byte becomes
 * a different letter, so no terminator or NUL appears. */
void fh_fault_corrupt(char *buf, size_t len, unsigned n, uint64_t *state);
/* "250ms", "2s", "1.5s" -> milliseconds; -1 if malformed. */
long fh_fault_duration(const char *s);

#endif
