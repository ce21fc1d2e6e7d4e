/* test_scenario_hub.c: the steps for any hub's signal handling — wait,
 * storms with a duration, hub stop, hub log, hub load, expect count/no,
 * client source addresses — parse as written, and bad input fails at
 * file:line. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "harness/profile.h"
#include "harness/scenario.h"

static struct hr_scenario *parse(const char *src)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = hr_scenario_parse("t.scn", src, strlen(src), &err);
    cr_assert_not_null(s, "%s", err.msg);
    return s;
}

static void refuse(const char *src, const char *want)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = hr_scenario_parse("t.scn", src, strlen(src), &err);
    cr_assert_null(s, "accepted: %s", src);
    cr_assert(strstr(err.msg, want), "got: %s\nwant: %s", err.msg, want);
}

Test(scenario_hub, every_new_step_parses)
{
    struct hr_scenario *s = parse(
        "timeout 20s\n"
        "client alice source=127.0.0.3\n"
        "alice connect\n"
        "hub load users=10 rate=20 for=4s\n"
        "wait 3s\n"
        "hub signal HUP every 1ms for 2s\n"
        "hub signal QUIT\n"
        "hub stop\n"
        "hub log expect \"{shutdown_log}\" count=1 within 2s\n"
        "hub log expect regex \"^hook (ran|done)$\"\n"
        "hub log never \"double free\"\n"
        "hub load wait within 10s\n"
        "hub load expect max_lost=0 min_delivered=100 max_p99=50ms\n"
        "alice expect user.join|user.update nick=carol op=true count=2 within 1s\n"
        "alice expect hub.disconnected never within 500ms\n");
    cr_assert_eq(s->clients[0].nsets, 1);
    cr_assert_str_eq(s->clients[0].sets[0].key, "source_address");
    cr_assert_str_eq(s->clients[0].sets[0].value, "127.0.0.3");
    struct hr_step *st = s->steps;
    cr_assert_eq(st[1].kind, HR_STEP_LOAD);
    cr_assert_eq(st[1].load.users, 10);
    cr_assert_eq(st[1].load.for_ms, 4000);
    cr_assert_eq(st[2].kind, HR_STEP_WAIT);
    cr_assert_eq(st[2].wait_ms, 3000);
    cr_assert_eq(st[3].count, 2000);
    cr_assert_eq(st[3].every_ms, 1);
    cr_assert_eq(st[4].signo, SIGQUIT);
    cr_assert_eq(st[5].kind, HR_STEP_STOP);
    cr_assert_eq(st[6].kind, HR_STEP_LOG);
    cr_assert_eq(st[6].want_count, 1);
    cr_assert(s->needs & HR_FEAT_SHUTDOWN_LOG);   /* {shutdown_log} implies it */
    cr_assert(st[7].regex);
    cr_assert(st[8].never);
    cr_assert_eq(st[9].kind, HR_STEP_LOAD_WAIT);
    cr_assert_eq(st[10].check.max_lost, 0);
    cr_assert_eq(st[10].check.min_delivered, 100);
    cr_assert_eq(st[10].check.max_p99_ms, 50);
    cr_assert_eq(st[11].want_count, 2);
    cr_assert_str_eq(st[11].name, "user.join|user.update");
    cr_assert(st[12].never);
    hr_scenario_free(s);
}

Test(scenario_hub, bad_input_fails_at_file_and_line)
{
    refuse("client a\na connect\nwait 40s\n", "t.scn:3: wait 40.0s does not fit in the scenario's timeout (30.0s)");
    refuse("timeout 5s\nclient a\na connect\nwait 5s\n", "t.scn:4: wait 5.0s does not fit");
    refuse("client a\nhub log expect regex \"hook (ran\"\n", "t.scn:2: the regular expression does not compile");
    refuse("client a source=10.0.0.3\n", "t.scn:1: source=10.0.0.3: write an address in 127.0.0.0/8");
    refuse("client a source=localhost\n", "t.scn:1: source=localhost");
    refuse("client a\nhub signal NOPE\n", "t.scn:2: unknown signal 'NOPE'");
    refuse("client a\nhub signal HUP for 2s\n", "t.scn:2: for D goes with every D");
    refuse("client a\nhub load rate=5\n", "t.scn:2: hub load needs users=N");
    refuse("client a\nhub load users=5000\n", "t.scn:2: hub load takes users=N (1-1000)");
    refuse("client a\nhub load expect\n", "t.scn:2: hub load expect needs a check");
    refuse("client a\nhub log never x within 1s\n", "t.scn:2: hub log never is checked now and again at the end");
    refuse("client a\na stop\n", "t.scn:2: stop is a hub verb");
    refuse("client a\na expect chat count=2 never\n", "t.scn:2: count=N and never do not go together");
    refuse("client a\na expect chat count=0\n", "t.scn:2: count=N takes a number");
    refuse("client wait\n", "t.scn:1: 'wait' is reserved");
    refuse("client load\n", "t.scn:1: 'load' is reserved");
}

Test(scenario_hub, profile_setup_teardown_log_and_shutdown_log)
{
    const char src[] = "protocols nmdc\ncommand hub --port {port}\nport pick\nready port\nurl nmdc \"dchub://127.0.0.1:{port}\"\n"
                       "setup createdb hub_{port}\nsetup sh -c \"echo ok\"\nteardown dropdb hub_{port}\n"
                       "log {dir}/hub.log\nshutdown-log \"hook ran\"\n";
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_parse("p.hub", src, sizeof src - 1, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_eq(p->nsetup, 2);
    cr_assert_str_eq(p->setup[0].argv[1], "hub_{port}");
    cr_assert_eq(p->setup[1].line, 7);
    cr_assert_eq(p->nteardown, 1);
    cr_assert_str_eq(p->log, "{dir}/hub.log");
    cr_assert_str_eq(p->shutdown_log, "hook ran");
    cr_assert(p->features & HR_FEAT_SHUTDOWN_LOG);
    hr_profile_free(p);
    const char bad[] = "protocols nmdc\ncommand hub\nurl nmdc \"dchub://x:1\"\nfeatures shutdown-log\n";
    cr_assert_null(hr_profile_parse("q.hub", bad, sizeof bad - 1, &err));
    cr_assert(strstr(err.msg, "feature shutdown-log needs a 'shutdown-log \"TEXT\"' line"), "%s", err.msg);
    const char bad2[] = "protocols nmdc\ncommand hub\nurl nmdc \"dchub://x:1\"\nsetup\n";
    cr_assert_null(hr_profile_parse("r.hub", bad2, sizeof bad2 - 1, &err));
    cr_assert(strstr(err.msg, "r.hub:4: unknown or malformed profile line"), "%s", err.msg);
}
