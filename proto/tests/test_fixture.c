/* test_fixture.c: fixture files have the bytes whose TTHs the shipped
 * scenarios state (so dcclient's mkfile and dcharness's fixture step, which
 * both use this writer, keep them valid); a shorter file is a prefix of a
 * longer one; directories; bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base32.h"
#include "proto/fixture.h"
#include "proto/tth.h"

static char dir[] = "/tmp/dcfixture-XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(fixture, .init = setup, .fini = teardown);

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void tth_of(const char *name, int64_t size, uint64_t seed, bool text, const char *want)
{
    char path[256], err[256], b32[64];
    snprintf(path, sizeof path, "%s/a/b/%s", dir, name);
    cr_assert_eq(dc_fixture_write(path, size, seed, text, err, sizeof err), 0, "%s", err);
    size_t len;
    char *data = slurp(path, &len);
    cr_assert_eq((int64_t)len, size);
    uint8_t root[DC_TTH_LEN];
    dc_tth(data, len, root);
    dc_base32_encode(root, DC_TTH_LEN, b32, sizeof b32);
    cr_assert_str_eq(b32, want, "%s", name);
    free(data);
}

Test(fixture, bytes_have_the_tths_the_scenarios_state)
{
    tth_of("zero.bin", 0, 1, false, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ");
    tth_of("one.bin", 1, 3, false, "EXZNBLIGRHCCL3HEUP3GISSTSI3MU3XEQ5D5U3I");
    tth_of("k.bin", 1025, 4, false, "YCQBPDMPARU27XJB6PATL5M6YJRR3USYYLSOXEY");
    tth_of("text.txt", 16777216, 1, true, "S736KEBSCJG3NH32ABCNWWNYPQLVRBKNM7CWOHA");
}

Test(fixture, a_shorter_file_is_a_prefix_and_text_is_numbered_lines)
{
    char a[256], b[256], err[256];
    snprintf(a, sizeof a, "%s/long", dir);
    snprintf(b, sizeof b, "%s/short", dir);
    cr_assert_eq(dc_fixture_write(a, (1 << 20) + 13, 7, false, err, sizeof err), 0);
    cr_assert_eq(dc_fixture_write(b, (1 << 20) - 5, 7, false, err, sizeof err), 0);
    size_t la, lb;
    char *da = slurp(a, &la), *db = slurp(b, &lb);
    cr_assert_eq(memcmp(da, db, lb), 0);
    free(da);
    free(db);
    cr_assert_eq(dc_fixture_write(a, 69, 0, true, err, sizeof err), 0);
    da = slurp(a, &la);
    cr_assert_eq(memcmp(da, "dcharness fixture line 0000000000\ndcharness fixture line 0000000001\nd", 69), 0);
    cr_assert_eq(la, 69);
    free(da);
}

Test(fixture, directories_and_bad_input)
{
    char p[256], err[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/x/empty dir/", dir);
    cr_assert_eq(dc_fixture_write(p, 0, 1, false, err, sizeof err), 0, "%s", err);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(dc_fixture_write(p, -1, 1, false, err, sizeof err), -1);
    cr_assert_str_eq(err, "size must be 0..2^40");
    snprintf(p, sizeof p, "%s/x/empty dir/", dir);
    p[strlen(p) - 1] = '\0';   /* a file where a directory is */
    cr_assert_eq(dc_fixture_write(p, 1, 1, false, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot create"), "%s", err);
}
