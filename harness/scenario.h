/* scenario.h: the scenario language (docs/scenarios.md), parsed into structs.
 *
 * hr_scenario_parse is a pure function over the file's bytes: it never opens
 * files or starts processes. Every error names path:line and says what to
 * write instead. Text values stay templates (see lex.h) whose placeholders
 * ({hub_url}, {nick}, ...) the runner fills in; the parser only checks that
 * their names exist.
 */
#ifndef HR_SCENARIO_H
#define HR_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/lex.h"
#include "harness/sig.h"   /* hr_signal_from_name */

/* nmdcs/adcs are the same protocols over TLS (nmdcs://, adcs://). A
 * scenario declaring nmdc or adc runs for its TLS variant too when that is
 * selected (hr_proto_runs); by default only the plain ones are. */
enum hr_proto {
    HR_PROTO_NMDC = 1 << 0,
    HR_PROTO_ADC = 1 << 1,
    HR_PROTO_NMDCS = 1 << 2,
    HR_PROTO_ADCS = 1 << 3,
};
#define HR_PROTO_ALL (HR_PROTO_NMDC | HR_PROTO_ADC)     /* the default selection */
#define HR_PROTO_TLS (HR_PROTO_NMDCS | HR_PROTO_ADCS)
#define HR_PROTO_ANY (HR_PROTO_ALL | HR_PROTO_TLS)
#define HR_PROTO_COUNT 4
#define HR_PROTO_LAST HR_PROTO_ADCS

/* Hub features a scenario may need and a hub profile may offer. */
enum hr_feature {
    HR_FEAT_HUB_CONTROL = 1 << 0,      /* control socket: hub expect / hub request */
    HR_FEAT_REGISTERED_USERS = 1 << 1, /* hub user NICK PASSWORD */
    HR_FEAT_SIGNALS = 1 << 2,          /* survives HUP/USR1 (deferred handling) */
    HR_FEAT_HUP = 1 << 3,              /* survives HUP (reloads its config) */
    HR_FEAT_QUIT = 1 << 4,             /* exits 0 on QUIT, as on its stop signal */
    HR_FEAT_SHUTDOWN_LOG = 1 << 5,     /* its profile names the line its shutdown hook logs */
};
#define HR_FEAT_LAST HR_FEAT_SHUTDOWN_LOG
#define HR_DEFAULT_TIMEOUT_MS 30000   /* a scenario's limit when it sets none */

/* Client capabilities (docs/parties.md): what a party's profile says it
 * has; a scenario needs them by `needs cap:NAME` or by what its steps do
 * (hr_scenario_parse works that out per client). core is implied. */
enum hr_cap {
    HR_CAP_CORE = 1 << 0,
    HR_CAP_SHARE = 1 << 1,
    HR_CAP_LIST = 1 << 2,
    HR_CAP_DOWNLOAD = 1 << 3,
    HR_CAP_RESUME = 1 << 4,
    HR_CAP_COMPRESS = 1 << 5,
    HR_CAP_TLS = 1 << 6,
    HR_CAP_PASSIVE = 1 << 7,
    HR_CAP_PASSWORD = 1 << 8,
    HR_CAP_LIVE_SETTINGS = 1 << 9,
    HR_CAP_USER_FIELDS = 1 << 10,
    HR_CAP_OP = 1 << 11,
    HR_CAP_CONTROL_EXT = 1 << 12,
    HR_CAP_FAULTS = 1 << 13,
    HR_CAP_NON_BMP = 1 << 14,
};
#define HR_CAP_ALL ((1u << 15) - 1)

/* "resume" -> HR_CAP_RESUME; 0 if unknown. */
unsigned hr_cap_from_name(const char *name);
/* Names of the bits set in mask, space separated, into buf. */
const char *hr_cap_names(unsigned mask, char *buf, size_t len);

/* "nmdc" -> HR_PROTO_NMDC, ... "adcs" -> HR_PROTO_ADCS; 0 if unknown. */
unsigned hr_proto_from_name(const char *name);
const char *hr_proto_name(unsigned proto);
/* One protocol bit -> 0..HR_PROTO_COUNT-1 (tables indexed by protocol). */
int hr_proto_index(unsigned proto);
/* The plain protocol of one bit: HR_PROTO_ADCS -> HR_PROTO_ADC. */
unsigned hr_proto_base(unsigned proto);
/* The protocols a scenario declaring protos runs for: those, plus the TLS
 * variant of each plain one. */
unsigned hr_proto_runs(unsigned protos);
/* "hub-control" -> HR_FEAT_HUB_CONTROL; 0 if unknown. */
unsigned hr_feature_from_name(const char *name);
/* Names of the bits set in mask, space separated, into buf. */
const char *hr_feature_names(unsigned mask, char *buf, size_t len);

/* A request argument. Owns key and value. */
struct hr_arg {
    char *key;
    char *value;   /* template */
    bool json;     /* value is a bare number/true/false/null: sent as JSON, not a string */
    bool bare;     /* `hub fault`: a field without a value (drop, half-close); value is "" */
};

/* One event field condition. Owns field and value. */
struct hr_match {
    char *field;
    char *value;   /* template */
    bool contains; /* field~value: case-insensitive substring; else equality */
};

/* A client declared with `client NAME [profile=..] [nick=..] [password=..]
 * [other=..]`. Owns every string. `sets` become `set` requests right after
 * start. */
struct hr_client {
    int line;
    char *name;
    char *profile;     /* profile=NAME (a .client profile), or NULL: the run's default */
    unsigned caps;     /* hr_cap bits its steps and `needs cap:` ask of it */
    char *nick;        /* template; defaults to name */
    char *password;    /* template or NULL */
    struct hr_arg *sets;
    size_t nsets;
};

/* A registered user for the hub (`hub user NICK PASSWORD [op]`). Owns strings. */
struct hr_user {
    char *nick;
    char *password;
    bool op;
};

enum hr_step_kind {
    HR_STEP_REQUEST, /* actor gets a control request and must answer ok (or fail, with `fails`) */
    HR_STEP_EXPECT,  /* actor must report an event whose fields match */
    HR_STEP_SIGNAL,  /* actor gets signal `signo`, `count` times, `every_ms` apart */
    HR_STEP_EXIT,    /* actor must exit with `status` */
    HR_STEP_KILL,    /* actor gets SIGKILL and is reaped */
    HR_STEP_FAULT,   /* the hub gets a fault rule (args: its fields) through its control socket */
    HR_STEP_FIXTURE, /* the harness writes a fixture file or dir (name "file"/"dir"; args path, size, seed, text) */
    HR_STEP_WAIT,    /* `wait D`: time passes, processes run, events are collected */
    HR_STEP_STOP,    /* `hub stop`: the profile's stop signal and grace, judged as at teardown */
    HR_STEP_LOG,     /* `hub log expect|never [regex] TEXT`: lines of the hub's log */
    HR_STEP_LOAD,    /* `hub load users=N rate=R for=D`: background load (dcload) starts */
    HR_STEP_LOAD_WAIT,   /* `hub load wait`: the load must end */
    HR_STEP_LOAD_EXPECT, /* `hub load expect max_lost=N ...`: its figures */
};

/* `hub load`: N users (all chatting) each sending `rate` chat lines and as
 * many PMs per second for for_ms. */
struct hr_load {
    int users;
    double rate;
    long for_ms;
};

/* `hub load expect`: bounds on the load's figures; -1 = not checked. */
struct hr_load_check {
    long max_lost, min_delivered, max_p99_ms;
};

#define HR_ACTOR_HUB (-1)
#define HR_MAX_CLIENTS 60   /* the runner polls a fixed-size set of fds */

/* One step. Owns every string and array. */
struct hr_step {
    int line;
    char *text;            /* the step as written (for reports) */
    unsigned protos;       /* which protocols run it */
    int actor;             /* index into clients, or HR_ACTOR_HUB */
    enum hr_step_kind kind;
    char *name;            /* REQUEST: command; EXPECT: event name */
    struct hr_arg *args;   /* REQUEST */
    size_t nargs;
    struct hr_match *match; /* EXPECT */
    size_t nmatch;
    bool must_fail;        /* REQUEST ... fails [TEXT...] */
    bool never;           /* expect ... never: no matching event may come within the step's time */
    char **fail_texts;     /* any of them must occur in the error (case-insensitive) */
    size_t nfail_texts;
    char **fail_codes;     /* fails code=X: the reply's "code" must be one of them */
    size_t nfail_codes;
    int signo, count;      /* SIGNAL */
    long every_ms;         /* SIGNAL: >0 runs in the background */
    int status;            /* EXIT: expected exit status, or -1 for any */
    long timeout_ms;       /* within D; 0 = runner default */
    long for_ms;           /* SIGNAL: `every D for D2` (count = D2 / D) */
    long wait_ms;          /* WAIT */
    int want_count;        /* EXPECT, LOG: count=N (exactly N); 0 = at least one */
    /* `never` (above) also marks `hub log never`: no line may match, now or by the end. */
    bool regex;            /* LOG: pattern is a POSIX extended regular expression */
    char *pattern;         /* LOG: text or regex (template) */
    struct hr_load load;   /* LOAD */
    struct hr_load_check check; /* LOAD_EXPECT */
};

/* A parsed scenario file. Owns everything. */
struct hr_scenario {
    char *path;
    char *name;
    unsigned protos;       /* declared protocols */
    unsigned needs;        /* hr_feature bits, declared or implied by steps */
    unsigned needs_caps;   /* hr_cap bits of `needs cap:NAME` (every client; also in each client's caps) */
    long timeout_ms;       /* 0 = runner default */
    bool strict;           /* `strict`: a protocol violation the hub reports fails the run */
    char *hub;             /* `hub profile NAME`: the hub unless --hub says otherwise; NULL = fakehub */
    int hub_line;
    struct hr_client *clients;
    size_t nclients;
    struct hr_user *users;
    size_t nusers;
    struct hr_step *steps;
    size_t nsteps;
};

/* Parse a scenario. Returns a new scenario (hr_scenario_free) or NULL with
 * err filled as "path:line: message". */
/* A `hub fault` step's fields, checked by fakehub's rule parser
 * (fault_step.c): 0, or -1 with the field named in err. */
int hr_fault_check(const struct hr_step *st, char *err, size_t errlen);

struct hr_scenario *hr_scenario_parse(const char *path, const char *buf, size_t len,
                                      struct hr_error *err);
void hr_scenario_free(struct hr_scenario *s);

/* Placeholders a scenario may use (NULL-terminated). */
extern const char *const hr_scenario_placeholders[];

#endif
