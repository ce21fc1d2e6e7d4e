/* profile.h: hub and client profiles — small files saying how to start a
 * hub (harness/profiles/NAME.hub; docs/scenarios.md, "Hub profiles") or a
 * client party (NAME.client; docs/scenarios.md, "Client profiles").
 *
 * A profile gives the command (templates with {bin} {dir} {port}
 * {ready:KEY}), config file lines written into the scenario dir before the
 * start (some repeated per registered user), the protocols and features the
 * hub offers, how readiness shows (ready line, port open, log line, ADC
 * handshake), the hub URL per protocol, and how to stop it.
 *
 * hr_profile_parse is pure (bytes in, struct out); hr_profile_load finds and
 * reads a profile by name or path.
 */
#ifndef HR_PROFILE_H
#define HR_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/lex.h"
#include "harness/scenario.h"

enum hr_ready {
    HR_READY_LINE,          /* first stdout line {"event":"ready",...} */
    HR_READY_PORT,          /* TCP port {port} accepts a connection */
    HR_READY_LOG,           /* a stdout/stderr line contains ready_text */
    HR_READY_ADC_HANDSHAKE, /* HSUP on {port} is answered with ISID */
};

/* What a profile starts: NAME.hub files describe hubs, NAME.client files
 * client parties (docs/parties.md). One parser, one word syntax; each kind
 * admits its own lines. */
enum hr_profile_kind {
    HR_PROFILE_HUB,
    HR_PROFILE_CLIENT,
};

/* `setting NAME PARTY_NAME|unsupported` (client profiles). Owns strings. */
struct hr_profile_setting {
    char *name;        /* the harness/scenario setting name */
    char *party_name;  /* the party's own name for it; NULL: unsupported */
};

/* `env NAME VALUE`: extra environment of the party. Owns strings. */
struct hr_profile_env {
    char *name;
    char *tmpl;
};

/* A line written to {dir}/file before start. Owns strings. */
struct hr_profile_line {
    char *file;
    char *tmpl;
    bool per_user;   /* once per registered user, with {user} {password} {role} {op_suffix} */
};

/* A setup or teardown command: argv templates ({bin} {dir} {port}). Owns them. */
struct hr_profile_cmd {
    char **argv;
    size_t argc;
    int line;       /* in the profile, for messages */
};

/* Owns everything. Templates: see lex.h. */
struct hr_profile {
    enum hr_profile_kind kind;
    char *path;
    char *name;
    unsigned protos;      /* hr_proto bits */
    unsigned features;    /* hr_feature bits */
    char **argv;          /* command templates */
    size_t argc;
    char **user_argv;     /* appended once per registered user */
    size_t user_argc;
    char **proto_argv[HR_PROTO_COUNT];   /* appended only when the hub must offer that protocol */
    size_t proto_argc[HR_PROTO_COUNT];
    struct hr_profile_line *lines;
    size_t nlines;
    bool pick_port;       /* {port}: a free port picked by the harness (retried on a clash) */
    enum hr_ready ready;
    char *ready_text;     /* HR_READY_LOG */
    long ready_ms;        /* how long readiness may take, before scaling (`ready line 15s`; default 10 s) */
    char *url[HR_PROTO_COUNT];   /* hub URL templates, by hr_proto_index */
    char *control;        /* control socket path template, or NULL */
    char *trace;          /* hub trace file template, or NULL */
    int stop_signo;
    long grace_ms;
    char *known_stop_crash; /* if set: dying by a signal when the harness stops it at
                             * teardown is a warning with this text, not a failure */
    struct hr_profile_env *env;
    size_t nenv;
    /* Client profiles only. */
    unsigned caps;        /* hr_cap bits (core always) */
    struct hr_profile_setting *settings;
    size_t nsettings;
    struct hr_profile_cmd *setup;    /* run in order before each hub start; all must exit 0 */
    size_t nsetup;
    struct hr_profile_cmd *teardown; /* run after the hub is gone, also when setup failed */
    size_t nteardown;
    char *log;            /* template: the hub's log file for `hub log` steps; NULL: its output */
    char *shutdown_log;   /* the line its shutdown hook logs ({shutdown_log}), or NULL */
};

/* A path ending in .client is a client profile, anything else a hub's. */
struct hr_profile *hr_profile_parse(const char *path, const char *buf, size_t len,
                                    struct hr_error *err);
/* name_or_path: a path (contains '/' or ends in .hub) or a name looked up
 * as DIR/NAME.hub in each of dirs (NULL-terminated). */
struct hr_profile *hr_profile_load(const char *name_or_path, const char *const *dirs,
                                   struct hr_error *err);
/* The same for client profiles: a path, or DIR/NAME.client. */
struct hr_profile *hr_client_profile_load(const char *name_or_path, const char *const *dirs,
                                          struct hr_error *err);
/* A client profile's setting entry for a harness setting name, or NULL
 * (passed through under its own name). */
const struct hr_profile_setting *hr_profile_setting(const struct hr_profile *p, const char *name);

/* Placeholders of client profile commands and env lines (NULL-terminated). */
extern const char *const hr_client_placeholders[];
void hr_profile_free(struct hr_profile *p);

/* Read a whole file (malloc'd, NUL-terminated); NULL with errno set. */
char *hr_read_file(const char *path, size_t *len);

#endif
