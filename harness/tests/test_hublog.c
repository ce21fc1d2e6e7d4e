/* test_hublog.c: hub log patterns over the runner's stamped log and raw files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/hublog.h"

static const char stamped[] =
    "   0.001 run| /bin/hub --log x\n"
    "   0.100 err| hub: listening\n"
    "   0.200 in | shutdown hook ran (a request, not the hub's output)\n"
    "   1.000 err| buggyhub: shutdown hook ran\n"
    "   1.001 out| buggyhub: shutdown hook ran\n";

Test(hublog, text_counts_only_the_hubs_own_output_lines)
{
    struct hr_logpat p;
    char err[128], first[256] = "";
    cr_assert_eq(hr_logpat_compile(&p, "shutdown hook ran", false, err, sizeof err), 0);
    cr_assert_eq(hr_log_count(&p, stamped, sizeof stamped - 1, true, first, sizeof first), 2);
    cr_assert_str_eq(first, "   1.000 err| buggyhub: shutdown hook ran");
    cr_assert_eq(hr_log_count(&p, stamped, sizeof stamped - 1, false, NULL, 0), 3);
    hr_logpat_free(&p);
}

Test(hublog, regex_anchors_apply_to_the_text_without_its_stamp)
{
    struct hr_logpat p;
    char err[128];
    cr_assert_eq(hr_logpat_compile(&p, "^buggyhub: shutdown (hook|handler) ran$", true, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hr_log_count(&p, stamped, sizeof stamped - 1, true, NULL, 0), 2);
    cr_assert_eq(hr_log_count(&p, stamped, sizeof stamped - 1, false, NULL, 0), 0);
    cr_assert(hr_logpat_match(&p, "buggyhub: shutdown handler ran", 30));
    hr_logpat_free(&p);
}

Test(hublog, a_bad_regex_is_refused_with_the_reason)
{
    struct hr_logpat p;
    char err[128] = "";
    cr_assert_eq(hr_logpat_compile(&p, "hook (ran", true, err, sizeof err), -1);
    cr_assert_neq(err[0], '\0');
}

Test(hublog, counts_lines_of_a_file_and_reports_a_missing_one)
{
    char path[] = "/tmp/hublog-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char text[] = "a hook ran\nnothing\nhook ran again";   /* no final newline */
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    struct hr_logpat p;
    char err[128];
    hr_logpat_compile(&p, "hook ran", false, err, sizeof err);
    cr_assert_eq(hr_log_count_file(&p, path, false, NULL, 0), 2);
    unlink(path);
    cr_assert_eq(hr_log_count_file(&p, path, false, NULL, 0), -1);
    hr_logpat_free(&p);
}
