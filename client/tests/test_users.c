/* test_users.c: the user table on its own (client/users.h): keyed by nick
 * (NMDC) and by SID with a nick index (ADC), insert, lookup, update, rename,
 * remove, growth past many users, and that an unchanged update keeps the
 * strings where they were. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "client/users.h"

static struct dcc_users t;

static void teardown(void)
{
    dcc_users_reset(&t, false);
}

TestSuite(users, .fini = teardown);

static struct dcc_user *put(const char *key, const char *nick, const char *desc, bool *joined)
{
    const char *v[DCC_UF_COUNT] = {[DCC_UF_NICK] = nick, [DCC_UF_DESCRIPTION] = desc};
    return dcc_users_put(&t, key, v, joined);
}

Test(users, nmdc_insert_lookup_remove)
{
    dcc_users_reset(&t, false);
    bool joined;
    struct dcc_user *u = put("alice", NULL, "hi", &joined);
    cr_assert_not_null(u);
    cr_assert(joined);
    cr_assert_str_eq(u->nick, "alice");
    cr_assert_str_eq(u->description, "hi");
    cr_assert_str_eq(u->sid, "");
    cr_assert_str_eq(u->email, "");
    cr_assert_str_eq(u->keyprint, "");
    cr_assert_eq(dcc_users_find(&t, "alice"), u);
    cr_assert_eq(dcc_users_find_nick(&t, "alice"), u);
    cr_assert_null(dcc_users_find(&t, "bob"));
    cr_assert_null(dcc_users_find(&t, NULL));
    cr_assert_eq(t.count, 1);
    dcc_users_remove(&t, "bob");
    cr_assert_eq(t.count, 1);
    dcc_users_remove(&t, "alice");
    cr_assert_eq(t.count, 0);
    cr_assert_null(dcc_users_find(&t, "alice"));
}

Test(users, update_changes_only_given_fields)
{
    dcc_users_reset(&t, false);
    bool joined;
    const char *v[DCC_UF_COUNT] = {[DCC_UF_EMAIL] = "a@b", [DCC_UF_TAG] = "<x>"};
    struct dcc_user *u = dcc_users_put(&t, "alice", v, &joined);
    char *email = u->email;
    /* The same values again: nothing changes, not even where they live. */
    cr_assert_eq(dcc_users_put(&t, "alice", v, &joined), u);
    cr_assert_not(joined);
    cr_assert_eq(u->email, email);
    struct dcc_user *again = put("alice", "mallory", "new", &joined);
    cr_assert_eq(again, u);
    cr_assert_not(joined);
    cr_assert_str_eq(u->nick, "alice", "the key field never changes");
    cr_assert_str_eq(u->description, "new");
    cr_assert_str_eq(u->email, "a@b");
    cr_assert_str_eq(u->tag, "<x>");
    const char *clear[DCC_UF_COUNT] = {[DCC_UF_TAG] = ""};
    dcc_users_put(&t, "alice", clear, &joined);
    cr_assert_str_eq(u->tag, "");
    cr_assert_str_eq(u->description, "new");
    cr_assert_eq(t.count, 1);
}

Test(users, adc_by_sid_and_nick_with_rename)
{
    dcc_users_reset(&t, true);
    bool joined;
    struct dcc_user *a = put("AAAB", "alice", NULL, &joined);
    struct dcc_user *b = put("AAAC", "bob", NULL, &joined);
    cr_assert_str_eq(a->sid, "AAAB");
    cr_assert_eq(dcc_users_find(&t, "AAAB"), a);
    cr_assert_eq(dcc_users_find_nick(&t, "alice"), a);
    cr_assert_eq(dcc_users_find_nick(&t, "bob"), b);
    cr_assert_null(dcc_users_find(&t, "alice"), "keyed by SID");
    cr_assert_eq(put("AAAB", "carol", NULL, &joined), a);
    cr_assert_not(joined);
    cr_assert_null(dcc_users_find_nick(&t, "alice"));
    cr_assert_eq(dcc_users_find_nick(&t, "carol"), a);
    cr_assert_eq(dcc_users_find(&t, "AAAB"), a);
    dcc_users_remove(&t, "AAAB");
    cr_assert_null(dcc_users_find_nick(&t, "carol"));
    cr_assert_eq(dcc_users_find_nick(&t, "bob"), b);
    cr_assert_eq(t.count, 1);
}

/* Enough users for several rehashes; every lookup still lands, after
 * renames and after removing every other user. */
Test(users, many_users)
{
    dcc_users_reset(&t, true);
    enum { N = 5000 };
    char sid[8], nick[32];
    bool joined;
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof sid, "S%03d", i);
        snprintf(nick, sizeof nick, "user%d", i);
        cr_assert_not_null(put(sid, nick, "d", &joined));
        cr_assert(joined);
    }
    cr_assert_eq(t.count, N);
    cr_assert_geq(t.nbuckets, (size_t)N);
    for (int i = 0; i < N; i += 3) {
        snprintf(sid, sizeof sid, "S%03d", i);
        snprintf(nick, sizeof nick, "renamed%d", i);
        put(sid, nick, NULL, &joined);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(sid, sizeof sid, "S%03d", i);
        dcc_users_remove(&t, sid);
    }
    cr_assert_eq(t.count, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof sid, "S%03d", i);
        snprintf(nick, sizeof nick, i % 3 ? "user%d" : "renamed%d", i);
        struct dcc_user *u = dcc_users_find(&t, sid);
        if (i % 2 == 0) {
            cr_assert_null(u, "%s was removed", sid);
            cr_assert_null(dcc_users_find_nick(&t, nick));
        } else {
            cr_assert_not_null(u, "%s", sid);
            cr_assert_str_eq(u->nick, nick);
            cr_assert_str_eq(u->description, "d");
            cr_assert_eq(dcc_users_find_nick(&t, nick), u);
        }
    }
}
