/* test_plan.c: deterministic sharding (every job in exactly one shard,
 * independent of input order), shard syntax, filters. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/plan.h"
#include "harness/scenario.h"

static const char *const paths[] = {"s/e.scn", "s/a.scn", "s/d.scn", "s/c.scn", "s/b.scn", "s/f.scn", "s/g.scn"};
#define NP (sizeof paths / sizeof *paths)

static size_t all_jobs(struct hr_job_id *jobs)
{
    size_t n = 0;
    for (size_t i = 0; i < NP; i++) {
        jobs[n++] = (struct hr_job_id){paths[i], HR_PROTO_NMDC};
        jobs[n++] = (struct hr_job_id){paths[i], HR_PROTO_ADC};
    }
    return n;
}

Test(plan, sorts_by_path_then_protocol_name)
{
    struct hr_job_id jobs[2 * NP];
    size_t n = hr_plan_select(jobs, all_jobs(jobs), 0, 0);
    cr_assert_eq(n, 2 * NP);
    cr_assert_str_eq(jobs[0].path, "s/a.scn");
    cr_assert_eq(jobs[0].proto, HR_PROTO_ADC);
    cr_assert_eq(jobs[1].proto, HR_PROTO_NMDC);
    cr_assert_str_eq(jobs[13].path, "s/g.scn");
}

Test(plan, every_job_is_in_exactly_one_shard)
{
    for (unsigned n = 1; n <= 5; n++) {
        int seen[2 * NP] = {0};
        struct hr_job_id ref[2 * NP];
        hr_plan_select(ref, all_jobs(ref), 0, 0);
        for (unsigned k = 1; k <= n; k++) {
            struct hr_job_id jobs[2 * NP];
            size_t m = hr_plan_select(jobs, all_jobs(jobs), k, n);
            for (size_t i = 0; i < m; i++)
                for (size_t r = 0; r < 2 * NP; r++)
                    if (ref[r].path == jobs[i].path && ref[r].proto == jobs[i].proto)
                        seen[r]++;
        }
        for (size_t r = 0; r < 2 * NP; r++)
            cr_assert_eq(seen[r], 1, "n=%u: job %s/%u in %d shards", n, ref[r].path, ref[r].proto, seen[r]);
    }
}

Test(plan, shards_do_not_depend_on_input_order)
{
    struct hr_job_id a[2 * NP], b[2 * NP];
    size_t na = all_jobs(a);
    for (size_t i = 0; i < na; i++)
        b[i] = a[na - 1 - i];
    size_t ma = hr_plan_select(a, na, 2, 3), mb = hr_plan_select(b, na, 2, 3);
    cr_assert_eq(ma, mb);
    for (size_t i = 0; i < ma; i++) {
        cr_assert_str_eq(a[i].path, b[i].path);
        cr_assert_eq(a[i].proto, b[i].proto);
    }
    cr_assert_eq(ma, 5, "14 jobs: indexes 1,4,7,10,13");
}

Test(plan, parses_shard_specs)
{
    unsigned k, n;
    cr_assert_eq(hr_shard_parse("2/3", &k, &n), 0);
    cr_assert_eq(k, 2);
    cr_assert_eq(n, 3);
    const char *bad[] = {"0/3", "4/3", "3", "/3", "1/", "a/b", "1/3x", "-1/3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(hr_shard_parse(bad[i], &k, &n), -1, "%s accepted", bad[i]);
}

Test(plan, filters_by_substring_or_glob)
{
    cr_assert(hr_filter_match("pm", "scenarios/pm-both-ways.scn", "PMs"));
    cr_assert(hr_filter_match("Alice", "scenarios/x.scn", "Alice and Bob"));
    cr_assert_not(hr_filter_match("storm", "scenarios/chat.scn", "chat"));
    cr_assert(hr_filter_match("*/nick-*.scn", "scenarios/nick-taken.scn", NULL));
    cr_assert_not(hr_filter_match("nick-*", "scenarios/nick-taken.scn", "chat"));
}

Test(plan, relpaths_start_at_the_scenario_root_whatever_the_checkout)
{
    char dir[] = "/tmp/dcharness-relpath-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char sub[sizeof dir + 32];
    snprintf(sub, sizeof sub, "%s/scenarios", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    char path[sizeof dir + 64];
    snprintf(path, sizeof path, "%s/scenarios/sub/chat.scn", dir);

    /* a directory argument, with or without a trailing slash */
    char arg1[sizeof sub + 1], arg2[sizeof sub + 1];
    snprintf(arg1, sizeof arg1, "%s", sub);
    snprintf(arg2, sizeof arg2, "%s/", sub);
    char *args[] = {"unrelated", arg1};
    char *r = hr_scenario_relpath(path, args, 2);
    cr_assert_str_eq(r, "scenarios/sub/chat.scn");
    free(r);
    args[1] = arg2;
    r = hr_scenario_relpath(path, args, 2);
    cr_assert_str_eq(r, "scenarios/sub/chat.scn");
    free(r);

    /* a file argument: its directory is the root */
    char file[sizeof sub + 16];
    snprintf(file, sizeof file, "%s/x.scn", sub);
    char *fargs[] = {file};
    r = hr_scenario_relpath(file, fargs, 1);
    cr_assert_str_eq(r, "scenarios/x.scn");
    free(r);

    /* "dir/scenarios-old" is not under "dir/scenarios" */
    char other[sizeof dir + 64];
    snprintf(other, sizeof other, "%s/scenarios-old/y.scn", dir);
    args[1] = arg1;
    r = hr_scenario_relpath(other, args, 2);
    cr_assert_str_eq(r, other);
    free(r);
    rmdir(sub);
    rmdir(dir);
}
