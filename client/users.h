/* users.h: the client's user table (used by client.c and the protocol
 * modules through internal.h; tested on its own in tests/test_users.c).
 *
 * Users are keyed by SID on ADC and by nick on NMDC, in a chained hash
 * table; on ADC a second chain indexes them by nick, because PMs, transfers
 * and client connections name users by nick. A hub sends every user's INF
 * (ADC BINF, NMDC $MyINFO) to every client, so a hub of N users costs N^2
 * joins across its clients: a join is one allocation holding the entry and
 * all of its strings, and an update that changes nothing allocates nothing.
 */
#ifndef DC_CLIENT_USERS_H
#define DC_CLIENT_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "client/dcc.h"

/* The string members of struct dcc_user. */
enum dcc_ufield {
    DCC_UF_NICK,
    DCC_UF_DESCRIPTION,
    DCC_UF_EMAIL,
    DCC_UF_TAG,
    DCC_UF_SID,
    DCC_UF_CID,
    DCC_UF_IP,
    DCC_UF_KEYPRINT,
    DCC_UF_COUNT
};

/* A user list entry: the public struct plus the chains. Owned by the table.
 * u's strings live in `strings` (owned) once an update changed one, else in
 * `inline_strings`, allocated with the entry. */
struct dcc_uentry {
    struct dcc_user u;
    struct dcc_uentry *next;        /* chain by key */
    struct dcc_uentry *nick_next;   /* chain by nick (tables keyed by SID) */
    size_t hash, nick_hash;
    char *strings;
    char inline_strings[];
};

/* Chained hash tables of users, as many buckets as a power of two >= count.
 * Owned by the client; an all-zero struct is an empty table keyed by nick. */
struct dcc_users {
    struct dcc_uentry **buckets;        /* by key */
    struct dcc_uentry **nick_buckets;   /* by nick; NULL unless by_sid */
    size_t nbuckets, count;
    bool by_sid;                        /* key is the SID (ADC), else the nick */
};

/* Empty the table and choose its key (only between sessions). */
void dcc_users_reset(struct dcc_users *t, bool by_sid);
struct dcc_user *dcc_users_find(const struct dcc_users *t, const char *key);
struct dcc_user *dcc_users_find_nick(const struct dcc_users *t, const char *nick);
/* Add the user with this key, or update it: field f becomes v[f] unless that
 * is NULL (a new user's other fields are "", its key field is key). Sets
 * *joined to whether it was added. NULL on OOM, with the table unchanged. */
struct dcc_user *dcc_users_put(struct dcc_users *t, const char *key, const char *const v[DCC_UF_COUNT],
                               bool *joined);
void dcc_users_remove(struct dcc_users *t, const char *key);

#endif
