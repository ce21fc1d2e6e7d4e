/* checkparty.h: `dcharness check-party PROFILE` (docs/parties.md,
 * "Checking your party"): the party contract's checks, run against a
 * client party started from its profile.
 *
 * Each check is one row of one table (checkparty.c): a name, the
 * capability it checks, what it needs started, and a function. A check
 * runs in a run of its own (run.h: the runner's parties, started and
 * stopped as in a scenario) with a fresh fakehub, the party under test as
 * "alice" and, where the check needs another user, dcclient as "bob"; it
 * drives them with the helpers below, which check the shape of every reply
 * and event on the way and record the first thing that is wrong as the
 * run's failure (run_fail), worded for the party's author.
 *
 *   checkparty.c    the table, running a check, the helpers, the output
 *   checks_core.c   the required core
 *   checks_caps.c   one group per capability
 *   cli_check.c     the command line
 */
#ifndef HR_CHECKPARTY_H
#define HR_CHECKPARTY_H

#include <stdbool.h>
#include <stdio.h>

#include "harness/profile.h"
#include "harness/run.h"

/* What check-party runs. Borrowed. */
struct hr_check_opts {
    const struct hr_profile *party;   /* under test */
    const struct hr_profile *peer;    /* dcclient, the other user */
    const struct hr_profile *hub;     /* fakehub */
    unsigned protos;                  /* HR_PROTO_NMDC and/or HR_PROTO_ADC */
    const char *only;                 /* run only checks whose name contains this (NULL: all) */
    const char *bin_dir, *share_dir;
    const char *dir;                  /* work dir (exists); each check gets a subdir */
    double mult;                      /* DCTEST_TIMEOUT_MULTIPLIER */
    bool json;                        /* one JSON object per check instead of text */
    bool verbose;                     /* a failed check's details (logs, trace) too */
    FILE *out;
};

/* Run the checks the profile's capabilities call for, printing one line
 * each and a summary. Returns the number of failed checks, or -1 when a
 * signal interrupted the run. */
int hr_check_party(const struct hr_check_opts *o);

/* ---- for the checks ---- */

/* One check's run. Owns the run and its scenario's arrays. */
struct ck {
    struct run r;
    struct hr_scenario s;
    struct hr_client clients[2];
    struct hr_user users[2];
    const struct hr_profile *profiles[2];
    struct hr_run_opts ro;
    const struct hr_check_opts *o;
    struct party *a, *b;     /* alice (under test), bob (dcclient; NULL if not started) */
    char url[512];           /* the hub URL for this protocol */
    char *skip;              /* the check cannot run here (malloc'd): e.g. the party does not speak the protocol */
    bool proto_unsupported;  /* alice's connect said `unsupported` for this protocol */
};

enum ck_flags {
    CK_BOB = 1 << 0,      /* start dcclient as bob */
    CK_REG_ALICE = 1 << 1,   /* alice is a registered user (password CK_PASSWORD) */
    CK_REG_BOB_OP = 1 << 2,  /* bob is a registered op, and connects with the password */
    CK_TLS = 1 << 3,         /* over nmdcs/adcs */
};

#define CK_PASSWORD "s3cret"
#define CK_TIMEOUT 5.0        /* seconds for a reply or an event (scaled) */
#define CK_CONNECT_TIMEOUT 30.0   /* a party may wait on its own bound (eiskaltdcpp: 15 s) before it can say why a login failed */

typedef void ck_fn(struct ck *k);

/* Field types of replies and events. */
enum ck_type { CK_STR, CK_INT, CK_BOOL, CK_NUM, CK_OBJ, CK_ARR };

/* Record the check's failure (the first one wins), as run_fail. */
#define ck_fail(k, ...) run_fail(&(k)->r, __VA_ARGS__)
static inline bool ck_failed(const struct ck *k)
{
    return k->r.why.len > 0;
}
double ck_secs(const struct ck *k, double s);   /* s scaled, as a deadline from now */

/* Send cmd (args: consumed, may be NULL) and wait for the reply (NULL with
 * the failure recorded: no reply, or one that breaks the framing: ok not a
 * boolean, result not an object, error/code not strings, an unknown code). */
json_t *ck_call(struct ck *k, struct party *p, const char *cmd, json_t *args, double secs);
/* The same, and the reply must be ok:true (NULL otherwise, recorded). */
json_t *ck_ok(struct ck *k, struct party *p, const char *cmd, json_t *args, double secs);
/* The request must fail with `code` (what: the situation, for the message). */
bool ck_code(struct ck *k, struct party *p, const char *cmd, json_t *args, const char *code, const char *what);
/* Connect p to the hub as its nick (password: NULL or sent); false
 * recorded. When alice's connect says `unsupported`, sets k->skip. */
bool ck_connect(struct ck *k, struct party *p, const char *password);
/* Wait for p's event `name` (with field == value when field is set),
 * remove it from p's pending events and return it (a new reference); NULL
 * when none came within secs (nothing recorded: the caller says what is
 * missing). Every event taken is checked against the contract's fields. */
json_t *ck_event(struct ck *k, struct party *p, const char *name, const char *field, const char *value, double secs);
/* The same, recording "p saw no NAME event ..." when none came. */
json_t *ck_expect(struct ck *k, struct party *p, const char *name, const char *field, const char *value);
/* Is there a pending event `name` with field == value? (no waiting) */
bool ck_pending(struct party *p, const char *name, const char *field, const char *value);
/* Field f of obj (what names obj in messages) of type t; a missing
 * required field or any wrong type is recorded. NULL when absent or wrong. */
json_t *ck_field(struct ck *k, json_t *obj, const char *what, const char *f, enum ck_type t, bool required);
/* A string field that must equal want exactly (what: as above). */
bool ck_text(struct ck *k, json_t *obj, const char *what, const char *f, const char *want);
/* Wait until p has exited (false when it did not within secs). */
bool ck_wait_exit(struct ck *k, struct party *p, double secs);
/* bob shares a fixture dir {dir}/bobshare with one.bin (size bytes, seed
 * 7, text when text) and sub/two.bin; false recorded. */
bool ck_bob_shares(struct ck *k, long long size, bool text);
/* s as a JSON string literal, for messages (malloc'd). */
char *ck_quote(const char *s);
/* A path inside the check's dir (malloc'd). */
char *ck_path(struct ck *k, const char *rel);

/* checks_core.c and checks_caps.c */
ck_fn ck_ready, ck_requests, ck_not_connected, ck_connect_check, ck_bad_url, ck_connect_failed,
    ck_nick_taken, ck_users, ck_user_events, ck_chat, ck_pm, ck_not_online, ck_disconnect,
    ck_settings, ck_quit, ck_stop, ck_eof;
ck_fn ck_share, ck_serve, ck_list, ck_download, ck_download_errors, ck_resume, ck_compress,
    ck_passive, ck_password, ck_live_settings, ck_user_fields, ck_op, ck_tls;

#endif
