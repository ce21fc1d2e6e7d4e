/* test_profile.c: hub profiles — the shipped ones parse with the expected
 * capabilities, malformed ones are refused at file:line. */
#include <criterion/criterion.h>
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
    cr_assert_eq(p->features, HR_FEAT_HUB_CONTROL | HR_FEAT_REGISTERED_USERS | HR_FEAT_SIGNALS | HR_FEAT_HUP);
    cr_assert_eq(p->ready, HR_READY_LINE);
    cr_assert_str_eq(p->argv[0], "{bin}/fakehub");
    cr_assert_str_eq(p->url[1], "adc://{ready:adc}");
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
           "p.hub:1: unknown or malformed profile line (lines: name, protocols, features, command, per-user, file, per-user-file, port pick, ready, url, control, trace, stop, known-stop-crash)");
    refuse("command x\nprotocols adc\nurl adc x\nfeatures hub-control\n", "p.hub: feature hub-control needs a 'control PATH' line");
}

Test(profile, unknown_names_say_where_they_were_looked_for)
{
    const char *dirs[] = {"/nonexistent", NULL};
    struct hr_error err = {{0}};
    cr_assert_null(hr_profile_load("nohub", dirs, &err));
    cr_assert_str_eq(err.msg, "nohub: no hub profile named nohub (looked for nohub.hub in /nonexistent)");
}
