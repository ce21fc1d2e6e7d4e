/* test_config.c: Criterion tests for fakehub's option table and config
 * parser (fakehub/config.c): values, defaults, users, overrides, and errors
 * that name file:line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fakehub/config.h"

static int parse(struct fh_config *c, const char *text, char *err)
{
    fh_config_init(c);
    return fh_config_parse(c, text, strlen(text), "hub.conf", err);
}

Test(config, defaults_are_sane)
{
    struct fh_config c;
    fh_config_init(&c);
    cr_expect_str_eq(c.name, "fakehub");
    cr_expect_eq(c.max_line, 65536);
    cr_expect_eq(c.login_timeout, 30);
    cr_expect_eq(c.nusers, 0);
    fh_config_cleanup(&c);
}

Test(config, parses_keys_comments_and_users)
{
    struct fh_config c;
    char err[FH_ERR_LEN] = "";
    int rc = parse(&c, "# a comment\n\nname = Test Hub  \n  max-users=3\ntopic = a = b\n"
                       "user = alice secret\nuser = Boss pw op\nidle-timeout = 0\n", err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_str_eq(c.name, "Test Hub");
    cr_expect_str_eq(c.topic, "a = b");
    cr_expect_eq(c.max_users, 3);
    cr_expect_eq(c.idle_timeout, 0);
    cr_assert_eq(c.nusers, 2);
    const struct fh_user_cfg *u = fh_config_find_user(&c, "ALICE");
    cr_assert_not_null(u);
    cr_expect_str_eq(u->password, "secret");
    cr_expect_not(u->op);
    cr_expect(fh_config_find_user(&c, "boss")->op);
    cr_expect_null(fh_config_find_user(&c, "carol"));
    fh_config_cleanup(&c);
}

Test(config, later_user_line_replaces_earlier)
{
    struct fh_config c;
    char err[FH_ERR_LEN];
    cr_assert_eq(parse(&c, "user = a one op\nuser = A two\n", err), 0);
    cr_expect_eq(c.nusers, 1);
    cr_expect_str_eq(fh_config_find_user(&c, "a")->password, "two");
    cr_expect_not(fh_config_find_user(&c, "a")->op);
    fh_config_cleanup(&c);
}

static void expect_error(const char *text, const char *want)
{
    struct fh_config c;
    char err[FH_ERR_LEN] = "";
    cr_expect_eq(parse(&c, text, err), -1, "accepted: %s", text);
    cr_expect(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    fh_config_cleanup(&c);
}

Test(config, errors_name_file_and_line)
{
    expect_error("name = x\nbogus = 1\n", "hub.conf:2: unknown setting 'bogus'");
    expect_error("\n\nmax-users\n", "hub.conf:3: expected 'key = value'");
    expect_error("max-users = lots\n", "hub.conf:1: max-users: 'lots' is not a number");
    expect_error("max-users = -1\n", "not a number");
    expect_error("max-line = 10\n", "out of range 64..1048576");
    expect_error("max-users = 99999999999999999999\n", "not a number");
    expect_error(" = 3\n", "missing key");
    expect_error("user = alice\n", "expected \"NICK PASSWORD [op]\"");
    expect_error("user = alice pw admin\n", "unknown flag 'admin'");
    expect_error("user = a pw op extra\n", "expected");
    expect_error("user = a|b pw\n", "invalid nick");
}

Test(config, build_applies_overrides_after_file)
{
    char path[] = "/tmp/fh_config_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "name = FromFile\nmax-users = 5\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct fh_kv ov[] = {{"max-users", "7"}, {"user", "bob pw op"}};
    struct fh_config c;
    char err[FH_ERR_LEN] = "";
    cr_assert_eq(fh_config_build(&c, path, ov, 2, err), 0, "%s", err);
    cr_expect_str_eq(c.name, "FromFile");
    cr_expect_eq(c.max_users, 7);
    cr_expect(fh_config_find_user(&c, "bob")->op);
    fh_config_cleanup(&c);

    struct fh_kv bad[] = {{"max-users", "0"}};
    cr_expect_eq(fh_config_build(&c, path, bad, 1, err), -1);
    cr_expect(strstr(err, "command line: max-users: 0 is out of range") != NULL, "%s", err);
    fh_config_cleanup(&c);
    unlink(path);
    cr_expect_eq(fh_config_build(&c, path, NULL, 0, err), -1);
    cr_expect(strstr(err, "No such file") != NULL, "%s", err);
    fh_config_cleanup(&c);
}

Test(config, diff_reports_changes)
{
    struct fh_config a, b;
    char err[FH_ERR_LEN], out[512];
    cr_assert_eq(parse(&a, "max-users = 5\nuser = x p\nuser = y p\n", err), 0);
    cr_assert_eq(parse(&b, "max-users = 6\nmotd = hi\nuser = x q\nuser = z p\n", err), 0);
    fh_config_diff(&a, &b, out, sizeof out);
    cr_expect(strstr(out, "max-users 5 -> 6") != NULL, "%s", out);
    cr_expect(strstr(out, "motd changed") != NULL, "%s", out);
    cr_expect(strstr(out, "user x changed") != NULL, "%s", out);
    cr_expect(strstr(out, "user z added") != NULL, "%s", out);
    cr_expect(strstr(out, "user y removed") != NULL, "%s", out);
    fh_config_diff(&a, &a, out, sizeof out);
    cr_expect_str_eq(out, "");
    fh_config_cleanup(&a);
    fh_config_cleanup(&b);
}
