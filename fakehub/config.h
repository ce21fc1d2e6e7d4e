/* config.h: fakehub settings, parsed from `key = value` files and from
 * command-line overrides through one option table (which also prints --help).
 *
 * Pure: no sockets, no globals, no event loop. The hub rebuilds a whole
 * struct fh_config on SIGHUP (defaults <- file <- command-line overrides) and
 * swaps it in only when parsing succeeded, so a bad edit never half-applies.
 *
 * Entry points: fh_config_init/_cleanup, fh_config_set (one key), 
 * fh_config_parse (a file's text, errors as "file:line: ..."),
 * fh_config_load (read a file), fh_config_build (defaults+file+overrides),
 * fh_config_find_user, fh_config_help.
 */
#ifndef FH_CONFIG_H
#define FH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define FH_ERR_LEN 256

/* A registered user. Owned by the struct fh_config that holds it. */
struct fh_user_cfg {
    char *nick;       /* owned */
    char *password;   /* owned */
    bool op;
};

/* Every setting of a running hub. Owns all its strings and the user array;
 * release with fh_config_cleanup. */
struct fh_config {
    char *name;               /* hub name (NMDC $HubName, ADC IINF NI) */
    char *topic;              /* NMDC "$HubName name - topic", ADC IINF DE */
    char *motd;               /* sent as hub chat after login; "" = none */
    unsigned max_users;       /* logged-in users over both protocols */
    unsigned max_line;        /* bytes per protocol line, terminator excluded */
    unsigned login_timeout;   /* seconds from accept to logged in; 0 = off */
    unsigned idle_timeout;    /* seconds without input once logged in; 0 = off */
    unsigned max_output;      /* bytes queued to one connection before it is dropped */
    unsigned rate_limit;      /* lines per second per connection (burst 2x); 0 = off */
    unsigned tls_timeout;     /* seconds from accept to TLS handshake done; 0 = off */
    unsigned lenient;         /* 1: relay what a protocol rule refuses (still reported) */
    struct fh_user_cfg *users;
    size_t nusers;
    char **faults;            /* owned: fault rules (text form), checked when set; the hub
                                 adds them at start (a SIGHUP reload does not touch the table) */
    size_t nfaults;
};

/* One override, as given on the command line (borrowed strings). */
struct fh_kv {
    const char *key;
    const char *value;
};

void fh_config_init(struct fh_config *c);      /* defaults */
void fh_config_cleanup(struct fh_config *c);

/* Set one key ("max-users", "user" = "nick password [op]", ...). Returns 0,
 * or -1 with a message in err (FH_ERR_LEN, may be NULL). */
int fh_config_set(struct fh_config *c, const char *key, const char *value, char *err);

/* Parse a config file's text: `key = value`, `#` comments, blank lines.
 * Errors are "<fname>:<line>: <what>". Stops at the first error. */
int fh_config_parse(struct fh_config *c, const char *text, size_t len, const char *fname,
                    char *err);

/* Read and parse a file (at most 1 MiB). */
int fh_config_load(struct fh_config *c, const char *path, char *err);

/* Fresh config: defaults, then the file (if path is not NULL), then the
 * overrides in order. On failure *out is left initialised-empty (cleanup
 * is still safe). */
int fh_config_build(struct fh_config *out, const char *path, const struct fh_kv *ov,
                    size_t nov, char *err);

/* The registered user with this nick (compared case-insensitively), or NULL.
 * Borrowed from c. */
const struct fh_user_cfg *fh_config_find_user(const struct fh_config *c, const char *nick);

/* Is key a known setting? (the command line uses it to reject typos) */
bool fh_config_known(const char *key);

/* Print "  --key VALUE   help" lines for every setting. */
void fh_config_help(FILE *out);

/* Append a human description of what differs from old to new (SIGHUP logs
 * it); writes "" when nothing changed. */
void fh_config_diff(const struct fh_config *old, const struct fh_config *new_, char *out,
                    size_t outlen);

#endif
