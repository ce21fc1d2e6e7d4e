/* checks_caps.c: check-party's checks of the capabilities (docs/parties.md,
 * "Capabilities"), one or two per capability. alice is the party under
 * test, bob dcclient (checkparty.h); bob's share is a fixture dir
 * {dir}/bobshare (ck_bob_shares), so file contents are known.
 */
#include "harness/checkparty.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/fixture.h"

#define ONE_SIZE 300000LL

static bool both_connected(struct ck *k)
{
    if (!ck_connect(k, k->a, NULL))
        return false;
    json_decref(ck_expect(k, k->b, "user.join", "nick", "alice"));
    json_decref(ck_expect(k, k->a, "user.join", "nick", "bob"));
    return !ck_failed(k);
}

/* The file at path must hold the fixture's bytes (size, seed, text). */
static void same_bytes(struct ck *k, const char *path, long long size, unsigned seed, bool text)
{
    char *want = ck_path(k, "expected.bin"), why[256];
    if (dc_fixture_write(want, size, seed, text, why, sizeof why) < 0) {
        ck_fail(k, "cannot write %s: %s", want, why);
        free(want);
        return;
    }
    size_t la = 0, lb = 0;
    char *a = hr_read_file(path, &la), *b = hr_read_file(want, &lb);
    if (!a)
        ck_fail(k, "the downloaded file %s is not there", path);
    else if (la != lb || memcmp(a, b, la))
        ck_fail(k, "the downloaded file %s differs from what bob shares (%zu bytes, %zu expected)", path, la, lb);
    free(a);
    free(b);
    free(want);
}

static char *make_dir(struct ck *k, const char *rel)
{
    char *d = ck_path(k, rel);
    mkdir(d, 0700);
    return d;
}

void ck_share(struct ck *k)
{
    char *dir = ck_path(k, "alishare"), *one = ck_path(k, "alishare/one.bin"), why[256];
    if (dc_fixture_write(one, ONE_SIZE, 9, false, why, sizeof why) < 0)
        ck_fail(k, "cannot write %s: %s", one, why);
    json_t *reply = ck_ok(k, k->a, "share", json_pack("{s:s}", "path", dir), CK_TIMEOUT);
    if (reply)
        ck_field(k, json_object_get(reply, "result"), "alice's share result", "path", CK_STR, true);
    json_decref(reply);
    if (reply)
        json_decref(ck_expect(k, k->a, "share.done", NULL, NULL));
    char *missing = ck_path(k, "no-such-dir");
    ck_code(k, k->a, "share", json_pack("{s:s}", "path", missing), "no-such-dir", "share of a missing directory");
    free(missing);
    free(dir);
    free(one);
}

/* bob lists and downloads alice's share: what `share` is for. */
void ck_serve(struct ck *k)
{
    char *dir = ck_path(k, "alishare"), *one = ck_path(k, "alishare/one.bin"), *got = make_dir(k, "bobgot"), why[256];
    if (dc_fixture_write(one, ONE_SIZE, 9, false, why, sizeof why) < 0)
        ck_fail(k, "cannot write %s: %s", one, why);
    json_t *reply = ck_ok(k, k->a, "share", json_pack("{s:s}", "path", dir), CK_TIMEOUT);
    json_decref(reply);
    if (reply)
        json_decref(ck_expect(k, k->a, "share.done", NULL, NULL));
    if (!ck_failed(k) && both_connected(k)) {
        reply = ck_call(k, k->b, "download", json_pack("{s:s,s:s,s:s}", "nick", "alice", "path", "/alishare/one.bin", "target_dir", got), 30);
        if (reply && !json_is_true(json_object_get(reply, "ok")))
            ck_fail(k, "bob (dcclient) could not download /alishare/one.bin from alice: code %s (\"%s\")",
                    json_string_value(json_object_get(reply, "code")), json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        char *file = ck_path(k, "bobgot/one.bin");
        if (!ck_failed(k))
            same_bytes(k, file, ONE_SIZE, 9, false);
        free(file);
    }
    free(dir);
    free(one);
    free(got);
}

/* A list tree node (docs/parties.md, `list`); false recorded. */
static bool check_node(struct ck *k, json_t *n, const char *where)
{
    char what[300];
    snprintf(what, sizeof what, "alice's list tree node %s", where);
    json_t *name = ck_field(k, n, what, "name", CK_STR, true), *type = ck_field(k, n, what, "type", CK_STR, true);
    if (!name || !type)
        return false;
    if (!strcmp(json_string_value(type), "file"))
        return ck_field(k, n, what, "size", CK_INT, true) && ck_field(k, n, what, "tth", CK_STR, true);
    if (strcmp(json_string_value(type), "dir")) {
        ck_fail(k, "%s has \"type\": \"%s\", neither \"dir\" nor \"file\"", what, json_string_value(type));
        return false;
    }
    json_t *children = ck_field(k, n, what, "children", CK_ARR, true), *c;
    size_t i;
    json_array_foreach(children, i, c)
    {
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", where, !strcmp(where, "/") ? "" : "/", json_string_value(json_object_get(c, "name")));
        if (!check_node(k, c, sub))
            return false;
    }
    return children != NULL;
}

static json_t *child(json_t *n, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(n, "children"), i, c)
    {
        const char *s = json_string_value(json_object_get(c, "name"));
        if (s && !strcmp(s, name))
            return c;
    }
    return NULL;
}

void ck_list(struct ck *k)
{
    if (!ck_bob_shares(k, ONE_SIZE, false) || !both_connected(k))
        return;
    json_t *reply = ck_ok(k, k->a, "list", json_pack("{s:s}", "nick", "bob"), 30);
    json_t *tree = reply ? ck_field(k, json_object_get(reply, "result"), "alice's list result", "tree", CK_OBJ, true) : NULL;
    if (tree && check_node(k, tree, "/")) {
        json_t *one = child(child(tree, "bobshare"), "one.bin");
        if (!one)
            ck_fail(k, "alice's list of bob has no /bobshare/one.bin (bob shares it)");
        else if (json_integer_value(json_object_get(one, "size")) != ONE_SIZE)
            ck_fail(k, "alice's list of bob gives /bobshare/one.bin size %lld, not %lld",
                    (long long)json_integer_value(json_object_get(one, "size")), ONE_SIZE);
    }
    json_decref(reply);
    json_t *ev = ck_failed(k) ? NULL : ck_expect(k, k->a, "transfer.done", "nick", "bob");
    if (ev && !json_is_true(json_object_get(ev, "list")))
        ck_fail(k, "alice's transfer.done for bob's list has no \"list\": true");
    json_decref(ev);
    reply = ck_ok(k, k->a, "list", json_pack("{s:s,s:s}", "nick", "bob", "path", "/bobshare/sub"), 30);
    tree = reply ? ck_field(k, json_object_get(reply, "result"), "alice's list result for /bobshare/sub", "tree", CK_OBJ, true) : NULL;
    if (tree && !child(tree, "two.bin"))
        ck_fail(k, "alice's list of bob's /bobshare/sub has no two.bin");
    json_decref(reply);
    ck_code(k, k->a, "list", json_pack("{s:s,s:s}", "nick", "bob", "path", "/bobshare/nope"), "no-such-path", "list of a path not in bob's list");
    ck_code(k, k->a, "list", json_pack("{s:s}", "nick", "nobody-here"), "not-online", "list of a nick that is not online");
}

/* alice downloads /bobshare/one.bin into {dir}/got; the transfer.done and
 * the file are checked. */
static void download_one(struct ck *k, long long size, bool text, json_t **done)
{
    char *got = make_dir(k, "got");
    json_t *reply = ck_ok(k, k->a, "download", json_pack("{s:s,s:s,s:s}", "nick", "bob", "path", "/bobshare/one.bin", "target_dir", got), 60);
    json_decref(reply);
    json_t *ev = reply ? ck_expect(k, k->a, "transfer.done", "path", "/bobshare/one.bin") : NULL;
    if (ev) {
        static const char *const req[] = {"nick", "path", "tth", "file"};
        for (size_t i = 0; i < sizeof req / sizeof *req; i++)
            ck_field(k, ev, "alice's transfer.done event of a download", req[i], CK_STR, true);
        json_t *sz = ck_field(k, ev, "alice's transfer.done event of a download", "size", CK_INT, true);
        if (sz && json_integer_value(sz) != size)
            ck_fail(k, "alice's transfer.done has \"size\": %lld, not %lld", (long long)json_integer_value(sz), size);
        const char *file = json_string_value(json_object_get(ev, "file"));
        char *want = ck_path(k, "got/one.bin");
        if (!ck_failed(k))
            same_bytes(k, want, size, 7, text);
        if (!ck_failed(k) && file && strcmp(file, want))
            ck_fail(k, "alice's transfer.done has \"file\": \"%s\", not where the file is (%s)", file, want);
        free(want);
    }
    if (done)
        *done = ev;
    else
        json_decref(ev);
    free(got);
}

void ck_download(struct ck *k)
{
    if (ck_bob_shares(k, ONE_SIZE, false) && both_connected(k))
        download_one(k, ONE_SIZE, false, NULL);
}

void ck_download_errors(struct ck *k)
{
    if (!ck_bob_shares(k, ONE_SIZE, false) || !both_connected(k))
        return;
    char *got = make_dir(k, "got"), *missing = ck_path(k, "no-such-dir");
    ck_code(k, k->a, "download", json_pack("{s:s,s:s,s:s}", "nick", "bob", "path", "/bobshare/nope.bin", "target_dir", got),
            "no-such-path", "download of a path not in bob's list");
    ck_code(k, k->a, "download", json_pack("{s:s,s:s,s:s}", "nick", "bob", "path", "/bobshare/sub", "target_dir", got),
            "not-a-file", "download of a directory");
    ck_code(k, k->a, "download", json_pack("{s:s,s:s,s:s}", "nick", "bob", "path", "/bobshare/one.bin", "target_dir", missing),
            "no-such-dir", "download into a missing target_dir");
    ck_code(k, k->a, "download", json_pack("{s:s,s:s,s:s}", "nick", "nobody-here", "path", "/bobshare/one.bin", "target_dir", got),
            "not-online", "download from a nick that is not online");
    free(got);
    free(missing);
}

void ck_resume(struct ck *k)
{
    if (!ck_bob_shares(k, 1000000, false) || !both_connected(k))
        return;
    /* A shorter fixture of the same seed is a prefix of the file. */
    char *part = ck_path(k, "got/one.bin.part"), why[256];
    if (dc_fixture_write(part, 400000, 7, false, why, sizeof why) < 0)
        ck_fail(k, "cannot write %s: %s", part, why);
    json_t *ev = NULL;
    download_one(k, 1000000, false, &ev);
    json_t *from = ev ? ck_field(k, ev, "alice's transfer.done event of a resumed download", "resumed_from", CK_INT, true) : NULL;
    if (from && json_integer_value(from) <= 0)
        ck_fail(k, "alice's transfer.done has \"resumed_from\": %lld over a .part of 400000 good bytes", (long long)json_integer_value(from));
    json_decref(ev);
    free(part);
}

void ck_compress(struct ck *k)
{
    /* `compress` is no core setting: a party that takes it (dcclient asks
     * uploaders for ZL1 only then) must then have used ZL1; any other must
     * at least say whether it did. */
    json_t *args = json_pack("{s:s,s:b}", "name", "compress", "value", 1);
    party_map_setting(k->a, args);
    json_t *reply = ck_call(k, k->a, "set", args, CK_TIMEOUT);
    bool asked = json_is_true(json_object_get(reply, "ok"));
    json_decref(reply);
    if (!reply || !ck_bob_shares(k, ONE_SIZE, true) || !both_connected(k))
        return;
    json_t *ev = NULL;
    download_one(k, ONE_SIZE, true, &ev);
    json_t *c = ev ? ck_field(k, ev, "alice's transfer.done event of a compressible file", "compressed", CK_BOOL, true) : NULL;
    if (c && asked && !json_is_true(c))
        ck_fail(k, "alice took setting compress=true, but her transfer.done of a text file from dcclient has \"compressed\": false (ZL1 was not used)");
    json_decref(ev);
}

void ck_passive(struct ck *k)
{
    json_t *args = json_pack("{s:s,s:b}", "name", "active", "value", 0);
    party_map_setting(k->a, args);
    json_decref(ck_ok(k, k->a, "set", args, CK_TIMEOUT));
    if (ck_bob_shares(k, ONE_SIZE, false) && both_connected(k))
        download_one(k, ONE_SIZE, false, NULL);
}

void ck_password(struct ck *k)
{
    const char *url = k->url;
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s}", "url", url, "nick", "alice"), "password-required",
            "connect as a registered nick without a password");
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s,s:s}", "url", url, "nick", "alice", "password", "wrong"), "bad-password",
            "connect as a registered nick with a wrong password");
    ck_connect(k, k->a, CK_PASSWORD);
}

void ck_live_settings(struct ck *k)
{
    if (!both_connected(k))
        return;
    static const char desc[] = "check-party live description";
    json_t *args = json_pack("{s:s,s:s}", "name", "description", "value", desc);
    party_map_setting(k->a, args);
    json_decref(ck_ok(k, k->a, "set", args, CK_TIMEOUT));
    json_t *ev = ck_failed(k) ? NULL : ck_event(k, k->b, "user.update", "description", desc, CK_TIMEOUT);
    if (!ev && !ck_failed(k))
        ck_fail(k, "missing event: bob saw no user.update of alice with the description she set while connected within %.1fs",
                CK_TIMEOUT * k->o->mult);
    json_decref(ev);
}

/* bob's user object in alice's `users` (new reference), or NULL recorded. */
static json_t *bob_in_users(struct ck *k)
{
    json_t *reply = ck_ok(k, k->a, "users", NULL, CK_TIMEOUT), *u, *bob = NULL;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(reply, "result"), "users"), i, u)
    {
        const char *n = json_string_value(json_object_get(u, "nick"));
        if (n && !strcmp(n, "bob"))
            bob = json_incref(u);
    }
    if (reply && !bob)
        ck_fail(k, "alice's users result has no bob");
    json_decref(reply);
    return bob;
}

void ck_user_fields(struct ck *k)
{
    static const char desc[] = "bob's description", email[] = "bob@example.org";
    json_decref(ck_ok(k, k->b, "disconnect", NULL, CK_TIMEOUT));   /* bob re-announces with his fields set */
    json_decref(ck_ok(k, k->b, "set", json_pack("{s:s,s:s}", "name", "description", "value", desc), CK_TIMEOUT));
    json_decref(ck_ok(k, k->b, "set", json_pack("{s:s,s:s}", "name", "email", "value", email), CK_TIMEOUT));
    if (!ck_connect(k, k->b, NULL) || !both_connected(k))
        return;
    json_t *bob = bob_in_users(k);
    if (bob) {
        ck_text(k, bob, "bob's user object in alice's users result", "description", desc);
        ck_text(k, bob, "bob's user object in alice's users result", "email", email);
        ck_field(k, bob, "bob's user object in alice's users result", "share", CK_INT, true);
        ck_field(k, bob, "bob's user object in alice's users result", "tag", CK_STR, true);
    }
    json_decref(bob);
}

void ck_op(struct ck *k)
{
    if (!both_connected(k))
        return;
    json_t *bob = bob_in_users(k);
    json_t *op = bob ? ck_field(k, bob, "bob's user object in alice's users result", "op", CK_BOOL, true) : NULL;
    if (op && !json_is_true(op))
        ck_fail(k, "alice's users result has bob, a registered op, with \"op\": false");
    json_decref(bob);
}

void ck_tls(struct ck *k)
{
    /* A keyprint that is not the hub's: the first base32 character of the
     * URL's kp=SHA256/... changed (the last one may carry only padding
     * bits, and a party that decodes the digest would rightly accept it). */
    char bad[sizeof k->url];
    snprintf(bad, sizeof bad, "%s", k->url);
    char *kp = strstr(bad, "kp=SHA256/");
    if (!kp || !kp[10]) {
        ck_fail(k, "internal: the hub's TLS URL %s has no kp=SHA256/...", k->url);
        return;
    }
    kp[10] = kp[10] == 'A' ? 'B' : 'A';
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s}", "url", bad, "nick", "alice"), "keyprint-mismatch",
            "connect to a TLS URL whose keyprint is not the hub's");
    if (ck_failed(k) || !ck_connect(k, k->a, NULL))
        return;
    json_t *list = ck_ok(k, k->a, "users", NULL, CK_TIMEOUT);
    json_decref(list);
}
