/* test_profile.c: hub profiles — the shipped ones parse with the expected
 * capabilities, malformed ones are refused at file:line. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "harness/profile.h"
#include "harness/runner.h"
#include "harness/scenario.h"

static struct hr_profile *load(const char *name)
{
    const char *dirs[] = {DC_TEST_DATA_DIR "/../../profiles", NULL};
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_load(name, dirs, &err);
    cr_assert_not_null(p, "%s", err.msg);
    return p;
}

Test(profile, fakehub_speaks_both_protocols_with_every_feature)
{
    struct hr_profile *p = load("fakehub");
    cr_assert_eq(p->protos, HR_PROTO_ANY);   /* and both over TLS, with its keyprint in the URL */
    cr_assert_str_eq(p->url[hr_proto_index(HR_PROTO_ADCS)], "adcs://{ready:adcs}/?kp={ready:keyprint}");
    cr_assert_str_eq(p->url[hr_proto_index(HR_PROTO_NMDCS)], "nmdcs://{ready:nmdcs}/?kp={ready:keyprint}");
    cr_assert_eq(p->features, HR_FEAT_HUB_CONTROL | HR_FEAT_REGISTERED_USERS | HR_FEAT_SIGNALS | HR_FEAT_HUP |
                              HR_FEAT_QUIT | HR_FEAT_SHUTDOWN_LOG);
    cr_assert_str_eq(p->shutdown_log, "notifying everyone");
    cr_assert_eq(p->ready, HR_READY_LINE);
    cr_assert_str_eq(p->argv[0], "{bin}/fakehub");
    cr_assert_str_eq(p->url[1], "adc://{ready:adc}");
    /* TLS listeners only for runs over TLS (their certificate costs a start) */
    for (size_t i = 0; i < p->argc; i++)
        cr_assert(!strstr(p->argv[i], "--adcs") && !strstr(p->argv[i], "--nmdcs"), "%s", p->argv[i]);
    cr_assert_eq(p->proto_argc[hr_proto_index(HR_PROTO_ADCS)], 2);
    cr_assert_str_eq(p->proto_argv[hr_proto_index(HR_PROTO_ADCS)][0], "--adcs");
    cr_assert_str_eq(p->proto_argv[hr_proto_index(HR_PROTO_NMDCS)][0], "--nmdcs");
    cr_assert_eq(p->proto_argc[hr_proto_index(HR_PROTO_NMDC)], 0);
    hr_profile_free(p);
}

Test(profile, uhub_is_adc_only_with_a_picked_port_and_handshake)
{
    struct hr_profile *p = load("uhub");
    cr_assert_eq(p->protos, HR_PROTO_ADC);
    cr_assert(p->pick_port);
    cr_assert_eq(p->ready, HR_READY_ADC_HANDSHAKE);
    cr_assert_eq(p->features, HR_FEAT_REGISTERED_USERS | HR_FEAT_HUP);
    cr_assert_str_eq(p->argv[0], "uhub");
    hr_profile_free(p);
}

Test(profile, uhub_tls_is_adcs_only)
{
    struct hr_profile *p = load("uhub-tls");
    cr_assert_eq(p->protos, HR_PROTO_ADCS);
    cr_assert(p->pick_port);
    cr_assert_eq(p->ready, HR_READY_PORT);
    cr_assert_str_eq(p->url[hr_proto_index(HR_PROTO_ADCS)], "adcs://127.0.0.1:{port}");
    hr_profile_free(p);
}

Test(profile, skip_reasons_name_what_is_missing)
{
    struct hr_profile *p = load("uhub");
    struct hr_error err;
    const char *text = "needs signals\nclient a\na connect\n";
    struct hr_scenario *s = hr_scenario_parse("s.scn", text, strlen(text), &err);
    char *r = hr_skip_reason(s, HR_PROTO_NMDC, p);
    cr_assert_str_eq(r, "hub profile uhub does not speak nmdc");
    free(r);
    r = hr_skip_reason(s, HR_PROTO_ADC, p);
    cr_assert_str_eq(r, "needs signals, which hub profile uhub does not offer");
    free(r);
    hr_scenario_free(s);
    hr_profile_free(p);
}

static void refuse(const char *text, const char *want)
{
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_parse("p.hub", text, strlen(text), &err);
    cr_assert_null(p, "accepted: %s", text);
    cr_assert_str_eq(err.msg, want);
}

Test(profile, refuses_malformed_profiles)
{
    refuse("protocols adc\nready sometime\n", "p.hub:2: ready is one of: line, port, adc-handshake, log \"TEXT\"");
    refuse("protocols adc\ncommand x {prot}\n",
           "p.hub:2: unknown placeholder in '{prot}' (known: {bin} {dir} {port} {user} {password} {role} {op_suffix} {ready:KEY})");
    refuse("protocols adc\nurl adc x\n", "p.hub: the profile has no command line");
    refuse("command x\nurl adc x\n", "p.hub: the profile has no protocols line");
    refuse("command x\nprotocols adc nmdc\nurl adc x\n", "p.hub: protocol nmdc has no url line");
    refuse("command x\nprotocols adc\nurl adc x\nready port\n", "p.hub: ready port needs 'port pick'");
    refuse("command x\nfile ../etc/passwd x\n",
           "p.hub:2: file names a file inside the hub's dir, without '/': file uhub.conf \"line\"");
    refuse("colour blue\n",
           "p.hub:1: unknown or malformed profile line (lines: name, protocols, features, command, per-user, per-protocol, file, per-user-file, port pick, ready, url, control, trace, stop, known-stop-crash, env, setup, teardown, log, shutdown-log)");
    refuse("command x\nprotocols adc\nurl adc x\nfeatures hub-control\n", "p.hub: feature hub-control needs a 'control PATH' line");
    refuse("command x\nper-protocol tls --tls\n", "p.hub:2: per-protocol: unknown protocol 'tls' (known: nmdc adc nmdcs adcs)");
    refuse("command x\nper-protocol adcs --a\nper-protocol adcs --b\n", "p.hub:3: per-protocol adcs given twice");
}

Test(profile, unknown_names_say_where_they_were_looked_for)
{
    const char *dirs[] = {"/nonexistent", NULL};
    struct hr_error err = {{0}};
    cr_assert_null(hr_profile_load("nohub", dirs, &err));
    cr_assert_str_eq(err.msg, "nohub: no hub profile named nohub (looked for nohub.hub in /nonexistent)");
}

static void refuse_client(const char *text, const char *want)
{
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_parse("p.client", text, strlen(text), &err);
    cr_assert_null(p, "accepted: %s", text);
    cr_assert_str_eq(err.msg, want);
}

Test(profile, dcclient_is_a_client_profile_with_every_capability)
{
    const char *dirs[] = {DC_TEST_DATA_DIR "/../../profiles", NULL};
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_client_profile_load("dcclient", dirs, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_eq(p->kind, HR_PROFILE_CLIENT);
    cr_assert_eq(p->caps, HR_CAP_ALL);
    cr_assert_str_eq(p->argv[0], "{bin}/dcclient");
    cr_assert_eq(p->ready, HR_READY_LINE);
    cr_assert_eq(p->ready_ms, 10000);
    hr_profile_free(p);
    /* the same name as a hub profile is not found, and a .hub is not a client */
    cr_assert_null(hr_profile_load("dcclient", dirs, &err));
    cr_assert_null(hr_client_profile_load(DC_TEST_DATA_DIR "/../../profiles/fakehub.hub", dirs, &err));
    cr_assert(strstr(err.msg, "this is a hub profile, where a client profile is needed"), "%s", err.msg);
}

Test(profile, client_profiles_parse_every_line)
{
    const char *text = "# a party\nname odd\ncommand {python} {share}/parties/x.py --dir {dir} --seed {seed} --nick {nick} --name {name} {bin}\n"
                       "ready line 15s\ncaps share list password\nstop INT 8s\n"
                       "setting slots unsupported\nsetting description desc\nenv LANG C.UTF-8\nenv HOME {dir}\n";
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_parse("odd.client", text, strlen(text), &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_eq(p->kind, HR_PROFILE_CLIENT);
    cr_assert_str_eq(p->name, "odd");
    cr_assert_eq(p->argc, 11);
    cr_assert_eq(p->ready_ms, 15000);
    cr_assert_eq(p->caps, HR_CAP_CORE | HR_CAP_SHARE | HR_CAP_LIST | HR_CAP_PASSWORD);
    cr_assert_eq(p->stop_signo, SIGINT);
    cr_assert_eq(p->grace_ms, 8000);
    cr_assert_null(hr_profile_setting(p, "slots")->party_name);
    cr_assert_str_eq(hr_profile_setting(p, "description")->party_name, "desc");
    cr_assert_null(hr_profile_setting(p, "nick"));
    cr_assert_eq(p->nenv, 2);
    cr_assert_str_eq(p->env[1].tmpl, "{dir}");
    hr_profile_free(p);
    /* defaults: TERM 5s, 10 s to be ready, core only */
    p = hr_profile_parse("min.client", "command x\n", 10, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_eq(p->grace_ms, 5000);
    cr_assert_eq(p->stop_signo, SIGTERM);
    cr_assert_eq(p->caps, HR_CAP_CORE);
    hr_profile_free(p);
}

Test(profile, refuses_malformed_client_profiles_at_file_and_line)
{
    refuse_client("name x\ncommand x {port}\n",
                  "p.client:2: unknown placeholder {port} in '{port}' (known: {bin} {share} {dir} {name} {nick} {seed} {python})");
    refuse_client("command x\ncaps share teleport\n",
                  "p.client:2: unknown capability 'teleport' (known: core share list download resume compress tls passive password live-settings user-fields op control-ext)");
    refuse_client("command x\nready port\n", "p.client:2: a client party is ready by its JSON ready line: ready line [TIMEOUT], as in ready line 15s");
    refuse_client("command x\nready line soon\n", "p.client:2: a client party is ready by its JSON ready line: ready line [TIMEOUT], as in ready line 15s");
    refuse_client("command x\nurl adc x\n", "p.client:2: 'url' is a line of hub profiles; this is a client profile");
    refuse_client("command x\ncolour blue\n",
                  "p.client:2: unknown or malformed client profile line (lines: name, command, ready line [TIMEOUT], caps, stop, setting, env)");
    refuse_client("command x\nsetting slots\n", "p.client:2: unknown or malformed client profile line (lines: name, command, ready line [TIMEOUT], caps, stop, setting, env)");
    refuse_client("command x\nenv A=B c\n", "p.client:2: env NAME VALUE: NAME is a plain variable name, as in env LANG C.UTF-8");
    refuse_client("name x\n", "p.client: the profile has no command line");
    refuse("command x\nprotocols adc\nurl adc x\ncaps share\n", "p.hub:4: 'caps' is a line of client profiles; this is a hub profile");
}
