/* test_settings.c: the typed settings table and store: defaults, typed get
 * and set, text parsing, unknown names, wrong types and ranges. */
#include <criterion/criterion.h>
#include <string.h>

#include <event2/event.h>

#include "client/dcc.h"

static struct dcc_settings *s;
static char err[DCC_ERR_LEN];

static void setup(void)
{
    s = dcc_settings_new();
    cr_assert_not_null(s);
    err[0] = '\0';
}

static void teardown(void)
{
    dcc_settings_free(s);
}

TestSuite(settings, .init = setup, .fini = teardown);

Test(settings, every_default_parses_and_reads_back_typed)
{
    cr_assert_gt(dcc_setting_count(), 8);
    for (size_t i = 0; i < dcc_setting_count(); i++) {
        const struct dcc_setting_info *info = dcc_setting_at(i);
        struct dcc_value v;
        cr_assert_eq(dcc_settings_get(s, info->name, &v, err), 0, "%s: %s", info->name, err);
        cr_assert_eq(v.type, info->type, "%s", info->name);
        cr_assert_not_null(info->description);
        cr_assert_eq(dcc_setting_find(info->name), info);
    }
    struct dcc_value v;
    dcc_settings_get(s, "slots", &v, err);
    cr_assert_eq(v.u.i, 2);
    dcc_settings_get(s, "reconnect", &v, err);
    cr_assert_eq(v.u.b, false, "reconnect must be off by default");
    dcc_settings_get(s, "nick", &v, err);
    cr_assert_str_eq(v.u.s, "dcclient");
    cr_assert_null(dcc_setting_at(dcc_setting_count()));
}

Test(settings, each_type_round_trips)
{
    struct dcc_value v = {.type = DCC_TYPE_STRING, .u.s = "caf\xc3\xa9 $|"};
    cr_assert_eq(dcc_settings_set(s, "description", &v, err), 0, "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_INT, .u.i = 7};
    cr_assert_eq(dcc_settings_set(s, "slots", &v, err), 0, "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_INT64, .u.i64 = 5000000000000LL};
    cr_assert_eq(dcc_settings_set(s, "share_size", &v, err), 0, "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_DOUBLE, .u.d = 0.25};
    cr_assert_eq(dcc_settings_set(s, "reconnect_delay", &v, err), 0, "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_BOOL, .u.b = true};
    cr_assert_eq(dcc_settings_set(s, "reconnect", &v, err), 0, "%s", err);

    struct dcc_value g;
    dcc_settings_get(s, "description", &g, err);
    cr_assert_str_eq(g.u.s, "caf\xc3\xa9 $|");
    dcc_settings_get(s, "slots", &g, err);
    cr_assert_eq(g.u.i, 7);
    dcc_settings_get(s, "share_size", &g, err);
    cr_assert_eq(g.u.i64, 5000000000000LL);
    dcc_settings_get(s, "reconnect_delay", &g, err);
    cr_assert_float_eq(g.u.d, 0.25, 1e-12);
    dcc_settings_get(s, "reconnect", &g, err);
    cr_assert(g.u.b);
}

Test(settings, string_is_copied)
{
    char buf[16] = "alice";
    struct dcc_value v = {.type = DCC_TYPE_STRING, .u.s = buf};
    dcc_settings_set(s, "nick", &v, err);
    memcpy(buf, "mallory", 8);
    struct dcc_value g;
    dcc_settings_get(s, "nick", &g, err);
    cr_assert_str_eq(g.u.s, "alice");
}

Test(settings, unknown_name_is_an_error)
{
    struct dcc_value v = {.type = DCC_TYPE_INT, .u.i = 1};
    cr_assert_eq(dcc_settings_set(s, "no_such_thing", &v, err), -1);
    cr_assert(strstr(err, "unknown setting 'no_such_thing'"), "%s", err);
    cr_assert_str_eq(dcc_err_code(err), "unknown-setting");
    struct dcc_value g;
    cr_assert_eq(dcc_settings_get(s, "nope", &g, err), -1);
    cr_assert(strstr(err, "nope"), "%s", err);
    cr_assert_eq(dcc_settings_set_text(s, "nope", "1", err), -1);
    cr_assert_null(dcc_setting_find("nope"));
    cr_assert_eq(dcc_settings_set(s, NULL, &v, NULL), -1);   /* NULL name, NULL err: no crash */
}

Test(settings, wrong_type_is_an_error_and_keeps_the_value)
{
    struct dcc_value v = {.type = DCC_TYPE_STRING, .u.s = "5"};
    cr_assert_eq(dcc_settings_set(s, "slots", &v, err), -1);
    cr_assert(strstr(err, "'slots'") && strstr(err, "int") && strstr(err, "string"), "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_INT, .u.i = 1};
    cr_assert_eq(dcc_settings_set(s, "reconnect", &v, err), -1);
    cr_assert(strstr(err, "bool"), "%s", err);
    v = (struct dcc_value){.type = DCC_TYPE_INT, .u.i = 1};
    cr_assert_eq(dcc_settings_set(s, "share_size", &v, err), -1, "int is not int64");
    v = (struct dcc_value){.type = DCC_TYPE_STRING, .u.s = NULL};
    cr_assert_eq(dcc_settings_set(s, "nick", &v, err), -1);
    cr_assert_eq(dcc_settings_set(s, "nick", NULL, err), -1);
    struct dcc_value g;
    dcc_settings_get(s, "slots", &g, err);
    cr_assert_eq(g.u.i, 2);
}

Test(settings, text_is_parsed_by_type)
{
    struct dcc_value g;
    cr_assert_eq(dcc_settings_set_text(s, "slots", "42", err), 0, "%s", err);
    dcc_settings_get(s, "slots", &g, err);
    cr_assert_eq(g.u.i, 42);
    cr_assert_eq(dcc_settings_set_text(s, "share_size", "9000000000", err), 0, "%s", err);
    dcc_settings_get(s, "share_size", &g, err);
    cr_assert_eq(g.u.i64, 9000000000LL);
    cr_assert_eq(dcc_settings_set_text(s, "login_timeout", "2.5", err), 0, "%s", err);
    dcc_settings_get(s, "login_timeout", &g, err);
    cr_assert_float_eq(g.u.d, 2.5, 1e-12);
    const char *yes[] = {"true", "YES", "on", "1"}, *no[] = {"false", "no", "Off", "0"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(dcc_settings_set_text(s, "reconnect", yes[i], err), 0, "%s", yes[i]);
        dcc_settings_get(s, "reconnect", &g, err);
        cr_assert(g.u.b, "%s", yes[i]);
        cr_assert_eq(dcc_settings_set_text(s, "reconnect", no[i], err), 0, "%s", no[i]);
        dcc_settings_get(s, "reconnect", &g, err);
        cr_assert(!g.u.b, "%s", no[i]);
    }
    const char *bad_int[] = {"", "4x", "x", "1.5", "99999999999", " "};
    for (size_t i = 0; i < sizeof bad_int / sizeof bad_int[0]; i++) {
        cr_assert_eq(dcc_settings_set_text(s, "slots", bad_int[i], err), -1, "'%s'", bad_int[i]);
        cr_assert(strstr(err, "int"), "%s", err);
    }
    cr_assert_eq(dcc_settings_set_text(s, "reconnect", "maybe", err), -1);
    cr_assert(strstr(err, "bool"), "%s", err);
    cr_assert_eq(dcc_settings_set_text(s, "login_timeout", "abc", err), -1);
    cr_assert_eq(dcc_settings_set_text(s, "login_timeout", "nan", err), -1);
    cr_assert_eq(dcc_settings_set_text(s, "share_size", "12345678901234567890123", err), -1);
    dcc_settings_get(s, "slots", &g, err);
    cr_assert_eq(g.u.i, 42, "failed sets leave the value alone");
}

Test(settings, out_of_range_is_an_error)
{
    cr_assert_eq(dcc_settings_set_text(s, "slots", "-1", err), -1);
    cr_assert(strstr(err, "between"), "%s", err);
    cr_assert_eq(dcc_settings_set_text(s, "max_line", "10", err), -1);
    cr_assert_eq(dcc_settings_set_text(s, "reconnect_delay", "0", err), -1);
    cr_assert_eq(dcc_settings_set_text(s, "share_size", "-5", err), -1);
    cr_assert_eq(dcc_settings_set_text(s, "max_line", "256", err), 0, "%s", err);
}

Test(settings, client_wraps_its_own_store)
{
    struct event_base *base = event_base_new();
    struct dcc_client *a = dcc_client_new(base, NULL, NULL), *b = dcc_client_new(base, NULL, NULL);
    cr_assert_eq(dcc_client_set_text(a, "nick", "alice", err), 0);
    cr_assert_eq(dcc_client_set_text(b, "nick", "bob", err), 0);
    struct dcc_value g;
    dcc_client_get(a, "nick", &g, err);
    cr_assert_str_eq(g.u.s, "alice", "clients must not share settings");
    dcc_client_get(b, "nick", &g, err);
    cr_assert_str_eq(g.u.s, "bob");
    cr_assert_eq(dcc_client_set_text(a, "bogus", "1", err), -1);
    dcc_client_free(a);
    dcc_client_free(b);
    event_base_free(base);
}

Test(settings, errors_carry_stable_codes)
{
    struct dcc_value v = {.type = DCC_TYPE_STRING, .u.s = "5"};
    cr_assert_eq(dcc_settings_set(s, "slots", &v, err), -1);
    cr_assert_str_eq(dcc_err_code(err), "bad-value");
    cr_assert_eq(dcc_settings_set_text(s, "slots", "-4", err), -1);
    cr_assert_str_eq(dcc_err_code(err), "bad-value");
    struct dcc_url u;
    cr_assert_eq(dcc_url_parse("http://x", &u, err), -1);
    cr_assert_str_eq(dcc_err_code(err), "bad-url");
    cr_assert(strstr(err, "unknown scheme"), "%s", err);   /* the message stays readable */
    /* a buffer no call wrote a code into reads as internal */
    char fresh[DCC_ERR_LEN];
    memset(fresh, 'x', sizeof fresh);
    cr_assert_str_eq(dcc_err_code(fresh), "internal");
}
