/* test_scenario.c: the scenario parser and its lexer — a full good file,
 * quoting/escapes/placeholders, and malformed files with their exact
 * file:line messages. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/plan.h"
#include "harness/profile.h"
#include "harness/scenario.h"

static struct hr_scenario *parse(const char *text, struct hr_error *err)
{
    return hr_scenario_parse("t.scn", text, strlen(text), err);
}

/* The file must be refused with exactly this message. */
static void refuse(const char *text, const char *want)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = parse(text, &err);
    cr_assert_null(s, "accepted: %s", text);
    cr_assert_str_eq(err.msg, want);
}

static const char good[] =
    "# Alice and Bob\n"
    "scenario \"Alice and Bob\"\n"
    "protocols nmdc adc\n"
    "timeout 20s\n"
    "client alice description=\"Alice's box\" share_size=1024\n"
    "client bob password=secret\n"
    "client bob2 nick=bob\n"
    "hub user bob secret\n"
    "hub profile uhub\n"
    "\n"
    "alice connect\n"
    "bob connect   # trailing comment\n"
    "alice pm bob \"a $ | \\\\ b\\nline \\u{e9}\\x7c\" within 2s\n"
    "bob expect pm from=alice text~\"line\"\n"
    "bob2 connect fails taken \"in use\"\n"
    "adc: alice request users\n"
    "hub request kick nick=alice reason=\"bye bye\"\n"
    "hub signal HUP x20 every 5ms\n"
    "hub signal TERM\n"
    "hub exits 0 within 2s\n"
    "alice kill\n";

Test(scenario, parses_a_complete_file)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = parse(good, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_str_eq(s->name, "Alice and Bob");
    cr_assert_eq(s->protos, HR_PROTO_NMDC | HR_PROTO_ADC);
    cr_assert_eq(s->timeout_ms, 20000);
    cr_assert_eq(s->nclients, 3);
    cr_assert_str_eq(s->clients[0].nick, "alice");
    cr_assert_eq(s->clients[0].nsets, 2);
    cr_assert_str_eq(s->clients[0].sets[0].key, "description");
    cr_assert_str_eq(s->clients[0].sets[0].value, "Alice's box");
    cr_assert_not(s->clients[0].sets[0].json);
    cr_assert(s->clients[0].sets[1].json, "a bare number is sent as a JSON number");
    cr_assert_str_eq(s->clients[1].password, "secret");
    cr_assert_str_eq(s->clients[2].nick, "bob");
    cr_assert_eq(s->nusers, 1);
    cr_assert_str_eq(s->hub, "uhub");
    cr_assert_eq(s->hub_line, 9);
    cr_assert_eq(s->needs, HR_FEAT_HUB_CONTROL | HR_FEAT_REGISTERED_USERS);
    cr_assert_eq(s->nsteps, 11);

    const struct hr_step *st = &s->steps[0];   /* alice connect */
    cr_assert_eq(st->line, 11);
    cr_assert_eq(st->kind, HR_STEP_REQUEST);
    cr_assert_str_eq(st->name, "connect");
    cr_assert_eq(st->nargs, 2);
    cr_assert_str_eq(st->args[0].value, "{hub_url}");
    cr_assert_str_eq(st->args[1].value, "{nick}");
    cr_assert_eq(s->steps[1].nargs, 3, "bob's password goes into connect");
    cr_assert_str_eq(s->steps[1].text, "bob connect", "the comment is not part of the step text");

    st = &s->steps[2];   /* pm with escapes */
    cr_assert_str_eq(st->name, "pm");
    cr_assert_str_eq(st->args[0].value, "bob");
    cr_assert_str_eq(st->args[1].value, "a $ | \\ b\nline \xc3\xa9|");
    cr_assert_eq(st->timeout_ms, 2000);

    st = &s->steps[3];
    cr_assert_eq(st->kind, HR_STEP_EXPECT);
    cr_assert_eq(st->actor, 1);
    cr_assert_eq(st->nmatch, 2);
    cr_assert_not(st->match[0].contains);
    cr_assert(st->match[1].contains);
    cr_assert_str_eq(st->match[1].value, "line");

    st = &s->steps[4];
    cr_assert(st->must_fail);
    cr_assert_eq(st->nfail_texts, 2);
    cr_assert_str_eq(st->fail_texts[1], "in use");

    cr_assert_eq(s->steps[5].protos, HR_PROTO_ADC | HR_PROTO_ADCS);   /* adc: over TLS or not */
    cr_assert_str_eq(s->steps[5].name, "users");

    st = &s->steps[6];
    cr_assert_eq(st->actor, HR_ACTOR_HUB);
    cr_assert_str_eq(st->name, "kick");
    cr_assert_str_eq(st->args[1].value, "bye bye");

    st = &s->steps[7];
    cr_assert_eq(st->kind, HR_STEP_SIGNAL);
    cr_assert_eq(st->signo, SIGHUP);
    cr_assert_eq(st->count, 20);
    cr_assert_eq(st->every_ms, 5);
    cr_assert_eq(s->steps[8].signo, SIGTERM);
    cr_assert_eq(s->steps[9].kind, HR_STEP_EXIT);
    cr_assert_eq(s->steps[9].status, 0);
    cr_assert_eq(s->steps[9].timeout_ms, 2000);
    cr_assert_eq(s->steps[10].kind, HR_STEP_KILL);
    cr_assert_eq(s->steps[10].actor, 0);
    hr_scenario_free(s);
}

Test(scenario, name_defaults_to_the_file_stem_and_protocols_to_both)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = hr_scenario_parse("dir/pm-both.scn", "client a\na connect\n", 19, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_str_eq(s->name, "pm-both");
    cr_assert_eq(s->protos, HR_PROTO_ALL);
    cr_assert_eq(s->needs, 0);
    hr_scenario_free(s);
}

Test(scenario, tls_variants_follow_the_plain_protocols)
{
    struct hr_error err = {{0}};
    const char *text = "protocols adc\nclient a\na connect\nadcs: a say hi\nadc: a say both\n";
    struct hr_scenario *s = parse(text, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s->protos, HR_PROTO_ADC);
    cr_assert_eq(hr_proto_runs(s->protos), HR_PROTO_ADC | HR_PROTO_ADCS);
    cr_assert_eq(s->steps[1].protos, HR_PROTO_ADCS);
    cr_assert_eq(s->steps[2].protos, HR_PROTO_ADC | HR_PROTO_ADCS);
    cr_assert_eq(hr_proto_runs(HR_PROTO_ALL), HR_PROTO_ANY);
    cr_assert_eq(hr_proto_runs(HR_PROTO_NMDCS), HR_PROTO_NMDCS);   /* a TLS-only scenario */
    hr_scenario_free(s);
    for (unsigned b = HR_PROTO_NMDC; b <= HR_PROTO_LAST; b <<= 1) {
        cr_assert_eq(hr_proto_from_name(hr_proto_name(b)), b);
        cr_assert_eq(1u << hr_proto_index(b), b);
    }
    cr_assert_eq(hr_proto_base(HR_PROTO_NMDCS), HR_PROTO_NMDC);
    cr_assert_eq(hr_proto_base(HR_PROTO_ADCS), HR_PROTO_ADC);
    cr_assert_eq(hr_proto_base(HR_PROTO_ADC), HR_PROTO_ADC);
    refuse("protocols nmdc\nclient a\nadcs: a connect\n", "t.scn:3: this step is limited to adcs, which the scenario's protocols line does not include");
}

Test(scenario, keeps_placeholders_and_literal_braces_apart)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = parse("client a\na connect \"{hub_url}\"\na say \"\\{hub_url} {x\"\n"
                                  "a request raw line='{\"k\":1}'\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_str_eq(s->steps[0].args[0].value, "{hub_url}");
    char *lit = hr_template_literal(s->steps[1].args[0].value);
    cr_assert_str_eq(lit, "{hub_url} {x", "\\{ and a lone brace are literal");
    free(lit);
    lit = hr_template_literal(s->steps[2].args[0].value);
    cr_assert_str_eq(lit, "{\"k\":1}", "single quotes keep JSON as is");
    free(lit);
    hr_scenario_free(s);
}

Test(scenario, accepts_crlf_line_ends_and_windows_editors)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = parse("client a\r\na say \"x\"\r\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_str_eq(s->steps[0].args[0].value, "x");
    hr_scenario_free(s);
}

Test(scenario, refuses_malformed_files_at_file_and_line)
{
    refuse("client a\na say \"unterminated\n",
           "t.scn:2: unterminated \"string\": add the closing quote (use \\n for a newline inside text)");
    refuse("client a\n\na say \"bad \\q escape\"\n",
           "t.scn:3: unknown escape \\q in string (known: \\\\ \\\" \\n \\t \\r \\{ \\} \\xHH \\u{HEX})");
    refuse("client a\na say \"\\x0\"\n", "t.scn:2: \\x needs two hex digits, as in \\x7c");
    refuse("client a\na say \"\\x00\"\n", "t.scn:2: \\x00: NUL bytes cannot be sent");
    refuse("client a\na say \"\\xff\"\n", "t.scn:2: text is not valid UTF-8 (check \\x escapes)");
    refuse("client a\na say \"\\u{d800}\"\n",
           "t.scn:2: \\u needs a code point in braces, as in \\u{e9} (not 0, not a surrogate)");
    refuse("client a\na say a\\b\n",
           "t.scn:2: backslash outside quotes: write the text in \"double quotes\" to use escapes");
    refuse("client a\na say '\n", "t.scn:2: unterminated 'string': add the closing single quote");
    refuse("client a\nbob connect\n",
           "t.scn:2: 'bob' is not a declared client, the hub, or a header keyword (declare it first: client bob)");
    refuse("client a\na dance\n",
           "t.scn:2: unknown verb 'dance' (client: connect say pm disconnect set users quit request expect signal exits kill; hub: request expect signal exits kill fault stop log load)");
    refuse("client a\na pm bob\n", "t.scn:2: pm needs 2 arguments: pm nick text");
    refuse("client a\na say hello world\n",
           "t.scn:2: unexpected 'world' here (a quoted text with spaces needs \"double quotes\")");
    refuse("client a\na say \"{hubb_url}\"\n",
           "t.scn:2: unknown placeholder {hubb_url} (known: {hub_url} {hub_host} {hub_port} {proto} {scheme} {tls} {dir} {nick} {password} {shutdown_log}; write \\{ in double quotes for a literal brace)");
    refuse("protocols nmdc dc\n", "t.scn:1: unknown protocol 'dc' (known: nmdc adc nmdcs adcs)");
    refuse("timeout 5 s\n", "t.scn:1: timeout needs one duration, as in: timeout 20s (units: ms, s)");
    refuse("timeout 5m\n", "t.scn:1: timeout needs one duration, as in: timeout 20s (units: ms, s)");
    refuse("needs magic\n", "t.scn:1: unknown feature 'magic' (known: hub-control registered-users signals hup quit shutdown-log; client capabilities: cap:NAME)");
    refuse("client a\nclient a\n", "t.scn:2: client a is already declared");
    refuse("client hub\n", "t.scn:1: 'hub' is reserved and cannot name a client");
    refuse("client a b\n", "t.scn:1: client options are written key=value, as in password=secret; got 'b'");
    refuse("client al/ice\n",
           "t.scn:1: client name 'al/ice' may only hold letters, digits, '_' and '-' (set nick=\"...\" for any other nick)");
    refuse("hub user bob\n", "t.scn:1: write: hub user NICK PASSWORD [op]");
    refuse("hub profile\n", "t.scn:1: write: hub profile NAME (fakehub, uhub, or a .hub file)");
    refuse("hub profile a\nhub profile b\n", "t.scn:2: the hub profile is already chosen");
    refuse("client a\na expect chat within\n", "t.scn:2: within needs a duration, as in: within 5s (units: ms, s)");
    refuse("client a\na expect chat within 1s text=x\n", "t.scn:2: within D must end the step");
    refuse("client a\na expect chat fails\n",
           "t.scn:2: only requests can be expected to fail (connect, say, pm, set, request ...)");
    refuse("hub signal BOOM\n",
           "t.scn:1: unknown signal 'BOOM' (write a name such as QUIT, SIGSEGV, USR2, RTMIN+1, or a number 1-64)");
    refuse("hub signal HUP x0\n", "t.scn:1: repeat count is written x20 (1 to 100000), got 'x0'");
    refuse("hub signal HUP every\n", "t.scn:1: every needs a duration, as in: every 5ms");
    refuse("hub signal HUP within 1s\n",
           "t.scn:1: a signal step does not wait; put the bound on the next step (hub exits 0 within 2s)");
    refuse("hub exits 300\n", "t.scn:1: exits takes an exit status 0-255 or 'any', got '300'");
    refuse("hub say hi\n", "t.scn:1: the hub cannot say; hub verbs: request expect signal exits kill fault stop log load");
    /* hub fault: fakehub's own rule parser, errors naming the field */
    refuse("hub fault delay=soon cmd=pm\n",
           "t.scn:1: hub fault: field \"delay\": bad duration 'soon' (e.g. 250ms, 2s, 1.5s)");
    refuse("client a\na connect\nhub fault drop colour=red\n",
           "t.scn:3: hub fault: field \"colour\": unknown field (match: dir proto cmd from to text; actions: drop "
           "delay replace corrupt duplicate disconnect half-close throttle slice stall; find seed prob gap for count ttl)");
    refuse("hub fault cmd=pm\n",
           "t.scn:1: hub fault: field \"action\": missing: one of drop, delay, replace, corrupt, duplicate, "
           "disconnect, half-close, throttle, slice, stall");
    refuse("hub fault drop proto=nmdc cmd=EMSG\n",
           "t.scn:1: hub fault: field \"cmd\": EMSG is an ADC command, but proto is nmdc: the rule could never match");
    refuse("hub fault\n", "t.scn:1: hub fault needs a rule: hub fault drop cmd=pm from=alice count=1 (docs/fakehub.md, \"Fault rules\")");
    refuse("client a\na fault drop\n", "t.scn:2: only the hub takes fault rules: hub fault delay=2s cmd=pm ...");
    refuse("hub fault drop \"a b\"\n",
           "t.scn:1: hub fault: 'a b' is not a field (fields are key=value or a bare name such as drop)");
    refuse("client a\na request\n", "t.scn:2: request needs a command name: a request CMD [key=value...]");
    refuse("client a\na request users bogus\n", "t.scn:2: unexpected 'bogus' here (a quoted text with spaces needs \"double quotes\")");
    refuse("protocols adc\nclient a\nnmdc: a connect\n",
           "t.scn:3: this step is limited to nmdc, which the scenario's protocols line does not include");
    refuse("scenario x\nscenario y\n", "t.scn:2: the scenario is already named");
    refuse("client a\nx\n",
           "t.scn:2: a step is ACTOR VERB ...; e.g. alice say hello, hub signal TERM (or a header: scenario, protocols, timeout, needs, client, hub profile, hub user)");
    refuse("# only a comment\nclient a\n", "t.scn: no steps: add lines such as 'alice connect' after the declarations");
    refuse("client a\na say \"ok\" \xff\n", "t.scn:2: line is not valid UTF-8 (save the file as UTF-8)");
    static const char nul[] = "client a\na say x\0y\n";
    struct hr_error err = {{0}};
    cr_assert_null(hr_scenario_parse("t.scn", nul, sizeof nul - 1, &err));
    cr_assert_str_eq(err.msg, "t.scn:2: NUL byte in the file (is it a text file?)");
}

Test(scenario, never_crashes_on_any_prefix_of_a_good_file)
{
    /* Every truncation is either a scenario or an error with a location. */
    for (size_t n = 0; n <= sizeof good - 1; n++) {
        struct hr_error err = {{0}};
        struct hr_scenario *s = hr_scenario_parse("t.scn", good, n, &err);
        if (s)
            hr_scenario_free(s);
        else
            cr_assert(strncmp(err.msg, "t.scn", 5) == 0, "prefix %zu: %s", n, err.msg);
    }
}

Test(scenario, reads_every_shipped_scenario)
{
    char *dir = DC_TEST_DATA_DIR "/../../../scenarios";
    char **files;
    size_t n;
    struct hr_error err = {{0}};
    cr_assert_eq(hr_find_scenarios(&dir, 1, &files, &n, &err), 0, "%s", err.msg);
    cr_assert_geq(n, 7, "only %zu scenarios found in %s", n, dir);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *buf = hr_read_file(files[i], &len);
        cr_assert_not_null(buf, "cannot read %s", files[i]);
        struct hr_scenario *s = hr_scenario_parse(files[i], buf, len, &err);
        cr_assert_not_null(s, "%s", err.msg);
        hr_scenario_free(s);
        free(buf);
        free(files[i]);
    }
    free(files);
}

Test(scenario, survives_random_mutations_of_a_good_file)
{
    /* Deterministic: a fixed LCG, so a failure reproduces. Each round flips,
     * inserts or deletes bytes (quotes, backslashes, braces, UTF-8 lead
     * bytes favoured); the result parses or fails at a location. */
    static const char picks[] = "\"'\\{}=~# \n\t\xc3\xa9\xff\x80x0";
    unsigned long seed = 12345;
    char buf[sizeof good + 64];
    for (int round = 0; round < 20000; round++) {
        size_t n = sizeof good - 1;
        memcpy(buf, good, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            size_t at = (seed >> 33) % (n + 1);
            char c = picks[(seed >> 20) % (sizeof picks - 1)];
            switch ((seed >> 10) % 3) {
            case 0: if (at < n) buf[at] = c; break;
            case 1: if (n < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = c; n++; } break;
            default: if (at < n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
            }
        }
        struct hr_error err = {{0}};
        struct hr_scenario *s = hr_scenario_parse("t.scn", buf, n, &err);
        if (s)
            hr_scenario_free(s);
        else
            cr_assert(strncmp(err.msg, "t.scn", 5) == 0, "round %d: %s", round, err.msg);
    }
}

static unsigned caps_of(const struct hr_scenario *s, const char *client)
{
    for (size_t i = 0; i < s->nclients; i++)
        if (!strcmp(s->clients[i].name, client))
            return s->clients[i].caps;
    cr_assert_fail("no client %s", client);
    return 0;
}

Test(scenario, works_out_the_capabilities_each_client_needs)
{
    struct hr_error err;
    struct hr_scenario *s = parse("client alice password=pw\nclient bob active=false\nclient carol profile=eiskaltdcpp\n"
                                  "alice set description before\n"
                                  "alice connect\nbob connect\ncarol connect\n"
                                  "alice set description after\n"
                                  "alice request share path=/x\nbob request list nick=alice\nbob request download nick=alice path=/a target_dir=/t\n"
                                  "bob expect transfer.done resumed_from=0 compressed=true\n"
                                  "carol expect user.join nick=alice description=x op=false\n"
                                  "carol request mkfile path=/x size=1\n"
                                  "carol request ping\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(caps_of(s, "alice"), HR_CAP_CORE | HR_CAP_PASSWORD | HR_CAP_LIVE_SETTINGS | HR_CAP_SHARE);
    cr_assert_eq(caps_of(s, "bob"), HR_CAP_CORE | HR_CAP_PASSIVE | HR_CAP_LIST | HR_CAP_DOWNLOAD | HR_CAP_RESUME | HR_CAP_COMPRESS);
    cr_assert_eq(caps_of(s, "carol"), HR_CAP_CORE | HR_CAP_USER_FIELDS | HR_CAP_OP | HR_CAP_CONTROL_EXT);
    cr_assert_str_eq(s->clients[2].profile, "eiskaltdcpp");
    cr_assert_eq(s->clients[2].line, 3);
    hr_scenario_free(s);

    /* a set before connecting (or after a disconnect) is no live setting; needs cap: applies to all */
    s = parse("needs cap:resume cap:tls\nclient a\na connect\na disconnect\na set nick b\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(caps_of(s, "a"), HR_CAP_CORE | HR_CAP_RESUME | HR_CAP_TLS);
    hr_scenario_free(s);
}

Test(scenario, refuses_bad_capability_needs_and_profiles)
{
    refuse("needs cap:teleport\nclient a\na connect\n",
           "t.scn:1: unknown capability 'teleport' (known: core share list download resume compress tls passive password live-settings user-fields op control-ext)");
    refuse("client a profile={nick}\na connect\n",
           "t.scn:1: profile= names a client profile (dcclient, eiskaltdcpp, or a .client file), without placeholders");
}

Test(scenario, hub_fault_steps_and_never)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = parse("client a\n"
                                  "hub fault drop=0.5 seed=7 cmd=pm from={nick} text~\"a b\" count=2\n"
                                  "hub fault half-close within 2s\n"
                                  "hub fault delay=later fails \"delay\"\n"
                                  "a expect pm text=x never within 1s\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s->nsteps, 4);
    const struct hr_step *f = &s->steps[0];
    cr_expect_eq(f->kind, HR_STEP_FAULT);
    cr_expect_eq(f->actor, HR_ACTOR_HUB);
    cr_assert_eq(f->nargs, 6);
    cr_expect_str_eq(f->args[0].key, "drop");
    cr_expect_str_eq(f->args[0].value, "0.5");
    cr_expect_str_eq(f->args[3].value, "{nick}");
    cr_expect_str_eq(f->args[4].key, "text");
    cr_expect_str_eq(f->args[4].value, "a b");
    cr_expect(!f->args[0].bare);
    cr_expect(s->steps[1].args[0].bare);
    cr_expect_str_eq(s->steps[1].args[0].key, "half-close");
    cr_expect_eq(s->steps[1].timeout_ms, 2000);
    cr_expect(s->steps[2].must_fail);   /* refused by the hub at run time, not here */
    cr_expect(s->steps[3].never);
    cr_expect(s->needs & HR_FEAT_HUB_CONTROL);
    hr_scenario_free(s);
}

Test(scenario, fails_matches_error_codes_or_texts)
{
    struct hr_error err;
    struct hr_scenario *s = parse("client a\na pm nobody hi fails code=not-online code=bad-request\n"
                                  "a connect fails \"taken\" within 2s\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(s->steps[0].must_fail);
    cr_assert_eq(s->steps[0].nfail_codes, 2);
    cr_assert_str_eq(s->steps[0].fail_codes[1], "bad-request");
    cr_assert_eq(s->steps[0].nfail_texts, 0);
    cr_assert_eq(s->steps[1].nfail_texts, 1);
    cr_assert_eq(s->steps[1].timeout_ms, 2000);
    hr_scenario_free(s);
    refuse("client a\na pm x y fails code=\n", "t.scn:2: fails code=CODE names an error code, as in fails code=not-online");
    refuse("client a\na pm x y fails colour=red\n", "t.scn:2: after fails: error texts (\"not online\") or code=CODE, not 'colour=red'");
}

Test(scenario, fixture_steps_are_written_by_the_harness)
{
    struct hr_error err;
    struct hr_scenario *s = parse("client a\nfixture file \"{dir}/share/one.bin\" size=1 seed=3\n"
                                  "adc: fixture dir {dir}/got\nfixture file x text=true\na connect\n", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s->nsteps, 4);
    cr_assert_eq(s->steps[0].kind, HR_STEP_FIXTURE);
    cr_assert_str_eq(s->steps[0].name, "file");
    cr_assert_str_eq(s->steps[0].args[0].value, "{dir}/share/one.bin");
    cr_assert_eq(s->steps[0].nargs, 3);
    cr_assert_str_eq(s->steps[1].name, "dir");
    cr_assert_eq(s->steps[1].protos, HR_PROTO_ADC | HR_PROTO_ADCS);
    cr_assert_eq(s->needs & HR_FEAT_HUB_CONTROL, 0);   /* the hub plays no part */
    cr_assert_eq(s->clients[0].caps, HR_CAP_CORE);      /* nor does a party: no control-ext */
    hr_scenario_free(s);
    refuse("client a\nfixture socket x\n", "t.scn:2: write: fixture file PATH [size=N] [seed=S] [text=true], or fixture dir PATH");
    refuse("client a\nfixture file\n", "t.scn:2: fixture file needs a path, as in: fixture file \"{dir}/share/one.bin\"");
    refuse("client a\nfixture file x size=big\n", "t.scn:2: size= takes a number, not 'big'");
    refuse("client a\nfixture dir x size=1\n", "t.scn:2: unexpected 'size=1' (fixture file PATH takes size=N seed=S text=true; fixture dir PATH nothing)");
    refuse("client fixture\n", "t.scn:1: 'fixture' is reserved and cannot name a client");
}
