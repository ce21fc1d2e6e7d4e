/* test_sig.c: signal names and numbers as scenarios write them. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "harness/scenario.h"
#include "harness/sig.h"

Test(sig, names_with_or_without_sig_and_in_any_case)
{
    cr_assert_eq(hr_signal_from_name("QUIT"), SIGQUIT);
    cr_assert_eq(hr_signal_from_name("SIGSEGV"), SIGSEGV);
    cr_assert_eq(hr_signal_from_name("abrt"), SIGABRT);
    cr_assert_eq(hr_signal_from_name("BUS"), SIGBUS);
    cr_assert_eq(hr_signal_from_name("USR2"), SIGUSR2);
    cr_assert_eq(hr_signal_from_name("CONT"), SIGCONT);
    cr_assert_eq(hr_signal_from_name("WINCH"), SIGWINCH);
}

Test(sig, numbers_and_realtime_signals)
{
    cr_assert_eq(hr_signal_from_name("3"), 3);
    cr_assert_eq(hr_signal_from_name("64"), 64);
    cr_assert_eq(hr_signal_from_name("RTMIN"), SIGRTMIN);
    cr_assert_eq(hr_signal_from_name("SIGRTMIN+2"), SIGRTMIN + 2);
    cr_assert_eq(hr_signal_from_name("RTMAX-1"), SIGRTMAX - 1);
    cr_assert_str_eq(HR_SIGNAL_NAME(SIGRTMIN + 2), "SIGRTMIN+2");
    cr_assert_str_eq(HR_SIGNAL_NAME(SIGQUIT), "SIGQUIT");
    cr_assert_str_eq(HR_SIGNAL_NAME(99), "signal 99");
}

Test(sig, unknown_names_and_numbers_are_refused)
{
    const char *bad[] = {"", "FOO", "SIG", "0", "65", "-1", "3x", "RTMIN+99", "RTMAX+1", "RTMIN-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(hr_signal_from_name(bad[i]), 0, "'%s' was accepted", bad[i]);
}

Test(sig, a_scenario_naming_an_unknown_signal_fails_at_its_line)
{
    const char src[] = "client alice\nalice connect\nhub signal SIGFOO\n";
    struct hr_error err = {{0}};
    struct hr_scenario *s = hr_scenario_parse("x.scn", src, sizeof src - 1, &err);
    cr_assert_null(s);
    cr_assert(strstr(err.msg, "x.scn:3: unknown signal 'SIGFOO'"), "%s", err.msg);
    const char ok[] = "client alice\nalice connect\nhub signal SEGV\nhub signal 10\n";
    s = hr_scenario_parse("y.scn", ok, sizeof ok - 1, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s->steps[1].signo, SIGSEGV);
    cr_assert_eq(s->steps[2].signo, 10);
    hr_scenario_free(s);
}
