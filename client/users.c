/* users.c: the client's user table (see users.h). */
#include "client/users.h"

#include <stdlib.h>
#include <string.h>

/* Where each enum dcc_ufield lives in struct dcc_user. */
static const size_t dcc_ufield_offset[DCC_UF_COUNT] = {
    [DCC_UF_NICK] = offsetof(struct dcc_user, nick),
    [DCC_UF_DESCRIPTION] = offsetof(struct dcc_user, description),
    [DCC_UF_EMAIL] = offsetof(struct dcc_user, email),
    [DCC_UF_TAG] = offsetof(struct dcc_user, tag),
    [DCC_UF_SID] = offsetof(struct dcc_user, sid),
    [DCC_UF_CID] = offsetof(struct dcc_user, cid),
    [DCC_UF_IP] = offsetof(struct dcc_user, ip),
    [DCC_UF_KEYPRINT] = offsetof(struct dcc_user, keyprint),
};

static char **dcc_ufield(struct dcc_user *u, enum dcc_ufield f)
{
    return (char **)((char *)u + dcc_ufield_offset[f]);
}

static size_t dcc_hash(const char *s)
{
    size_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static const char *dcc_ukey(const struct dcc_users *t, const struct dcc_uentry *e)
{
    return t->by_sid ? e->u.sid : e->u.nick;
}

void dcc_users_reset(struct dcc_users *t, bool by_sid)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (struct dcc_uentry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e->strings);
            free(e);
        }
    }
    free(t->buckets);
    free(t->nick_buckets);
    *t = (struct dcc_users){.by_sid = by_sid};
}

static struct dcc_uentry *dcc_users_lookup(const struct dcc_users *t, const char *key, size_t h)
{
    if (!t->nbuckets)
        return NULL;
    for (struct dcc_uentry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(dcc_ukey(t, e), key) == 0)
            return e;
    return NULL;
}

struct dcc_user *dcc_users_find(const struct dcc_users *t, const char *key)
{
    struct dcc_uentry *e = key ? dcc_users_lookup(t, key, dcc_hash(key)) : NULL;
    return e ? &e->u : NULL;
}

struct dcc_user *dcc_users_find_nick(const struct dcc_users *t, const char *nick)
{
    if (!t->by_sid)
        return dcc_users_find(t, nick);
    if (!t->nbuckets || !nick)
        return NULL;
    size_t h = dcc_hash(nick);
    for (struct dcc_uentry *e = t->nick_buckets[h & (t->nbuckets - 1)]; e; e = e->nick_next)
        if (e->nick_hash == h && strcmp(e->u.nick, nick) == 0)
            return &e->u;
    return NULL;
}

static void dcc_users_link_nick(struct dcc_users *t, struct dcc_uentry *e)
{
    struct dcc_uentry **b = &t->nick_buckets[e->nick_hash & (t->nbuckets - 1)];
    e->nick_next = *b;
    *b = e;
}

static void dcc_users_unlink_nick(struct dcc_users *t, struct dcc_uentry *e)
{
    struct dcc_uentry **pp = &t->nick_buckets[e->nick_hash & (t->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->nick_next;
    *pp = e->nick_next;
}

static int dcc_users_grow(struct dcc_users *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    struct dcc_uentry **b = calloc(n, sizeof *b), **nb = t->by_sid ? calloc(n, sizeof *nb) : NULL;
    if (!b || (t->by_sid && !nb)) {
        free(b);
        free(nb);
        return -1;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (struct dcc_uentry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            if (nb) {
                e->nick_next = nb[e->nick_hash & (n - 1)];
                nb[e->nick_hash & (n - 1)] = e;
            }
        }
    }
    free(t->buckets);
    free(t->nick_buckets);
    t->buckets = b;
    t->nick_buckets = nb;
    t->nbuckets = n;
    return 0;
}

/* Copy the values into block and point u's strings at the copies. */
static void dcc_user_fill(struct dcc_user *u, char *block, const char *const val[DCC_UF_COUNT],
                          const size_t len[DCC_UF_COUNT])
{
    for (int f = 0; f < DCC_UF_COUNT; f++) {
        if (len[f])        /* most fields are empty, most of all on NMDC */
            memcpy(block, val[f], len[f]);
        block[len[f]] = '\0';
        *dcc_ufield(u, f) = block;
        block += len[f] + 1;
    }
}

struct dcc_user *dcc_users_put(struct dcc_users *t, const char *key, const char *const v[DCC_UF_COUNT],
                               bool *joined)
{
    size_t h = dcc_hash(key);
    struct dcc_uentry *e = dcc_users_lookup(t, key, h);
    enum dcc_ufield kf = t->by_sid ? DCC_UF_SID : DCC_UF_NICK;
    const char *val[DCC_UF_COUNT];
    size_t len[DCC_UF_COUNT], total = 0;
    bool changed = !e;
    for (int f = 0; f < DCC_UF_COUNT; f++) {
        const char *old = e ? *dcc_ufield(&e->u, f) : f == (int)kf ? key : "";
        /* The key field never changes: the entry is found by it. */
        val[f] = v[f] && f != (int)kf ? v[f] : old;
        changed = changed || (val[f] != old && strcmp(val[f], old) != 0);
    }
    *joined = !e;
    if (!changed)
        return &e->u;
    for (int f = 0; f < DCC_UF_COUNT; f++) {
        len[f] = *val[f] ? strlen(val[f]) : 0;
        total += len[f] + 1;
    }
    if (e) {
        /* The old strings stay readable until the new ones are copied. */
        char *block = malloc(total), *old_nick = e->u.nick;
        if (!block)
            return NULL;
        dcc_user_fill(&e->u, block, val, len);
        if (t->by_sid && strcmp(old_nick, e->u.nick) != 0) {
            dcc_users_unlink_nick(t, e);
            e->nick_hash = dcc_hash(e->u.nick);
            dcc_users_link_nick(t, e);
        }
        free(e->strings);
        e->strings = block;
        return &e->u;
    }
    if (t->count >= t->nbuckets && dcc_users_grow(t) < 0)
        return NULL;
    if (!(e = malloc(sizeof *e + total)))
        return NULL;
    *e = (struct dcc_uentry){.hash = h};
    dcc_user_fill(&e->u, e->inline_strings, val, len);
    e->next = t->buckets[e->hash & (t->nbuckets - 1)];
    t->buckets[e->hash & (t->nbuckets - 1)] = e;
    if (t->by_sid) {
        e->nick_hash = dcc_hash(e->u.nick);
        dcc_users_link_nick(t, e);
    }
    t->count++;
    return &e->u;
}

void dcc_users_remove(struct dcc_users *t, const char *key)
{
    if (!t->nbuckets || !key)
        return;
    size_t h = dcc_hash(key);
    for (struct dcc_uentry **pp = &t->buckets[h & (t->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        struct dcc_uentry *e = *pp;
        if (e->hash != h || strcmp(dcc_ukey(t, e), key) != 0)
            continue;
        *pp = e->next;
        if (t->by_sid)
            dcc_users_unlink_nick(t, e);
        free(e->strings);
        free(e);
        t->count--;
        return;
    }
}
