/* bench_parse.c: cost of parsing one typical hub line, parse + cleanup, for
 * the lines a hub and a loaded client see most (ADC BINF/BMSG, NMDC $MyINFO
 * and chat). Prints ns/line; never a timed test. Usage: bench_parse [lines]
 * (default 2,000,000 per kind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/adc.h"
#include "proto/nmdc.h"

static double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct bench_line {
    const char *name;
    int adc;              /* 1 = adc_msg_parse, 0 = nmdc_msg_parse */
    const char *text;
};

/* As dcclient sends them (client/hub_adc.c, client/hub_nmdc.c), plus one
 * line with escapes and one with non-ASCII text, which take the slow paths. */
static const struct bench_line bench_lines[] = {
    {"ADC BINF", 1,
     "BINF AAAB IDKIFRO4NUKDDJ4GJ4W5ASVSMUJF2RJGZBQG4H5RI PDA5XQ5JTCBA4ZHWEYUOH3UZBW2XSL36I3L2FHE4Y "
     "NIload0042 DE EM SL3 SS0 SF0 I40.0.0.0 SUTCP4,ADC0 HN1 HR0 HO0 APdcclient VE0.1"},
    {"ADC BINF escaped", 1,
     "BINF AAAB IDKIFRO4NUKDDJ4GJ4W5ASVSMUJF2RJGZBQG4H5RI NIload0042 DEa\\sdescription\\swith\\sspaces "
     "EMme@example.org SL3 SS1073741824 SF12 I40.0.0.0 SUTCP4,ADC0 HN1 HR0 HO0"},
    {"ADC BMSG", 1, "BMSG AAAB load\\smessage\\s17\\sfrom\\sload0042"},
    {"ADC BMSG UTF-8", 1, "BMSG AAAB Grüße\\saus\\sKöln,\\s東京\\sund\\sΑθήνα"},
    {"NMDC $MyINFO", 0,
     "$MyINFO $ALL load0042 load client<dcclient V:0.1,M:A,H:1/0/0,S:3>$ $100\x01$$0$"},
    {"NMDC $MyINFO escaped", 0,
     "$MyINFO $ALL load0042 costs &#36;5 &amp; more<dcclient V:0.1,M:P,H:1/0/0,S:3>$ $LAN(T3)\x01$a@b.c$1073741824$"},
    {"NMDC chat", 0, "<load0042> load message 17 from load0042"},
};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_parse [lines]\n");
        return 2;
    }
    for (size_t k = 0; k < sizeof bench_lines / sizeof bench_lines[0]; k++) {
        const struct bench_line *b = &bench_lines[k];
        size_t len = strlen(b->text);
        const char *why = NULL;
        long fails = 0;
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            if (b->adc) {
                struct adc_msg m;
                fails += adc_msg_parse(b->text, len, &m, &why) < 0;
                adc_msg_cleanup(&m);
            } else {
                struct nmdc_msg m;
                fails += nmdc_msg_parse(b->text, len, &m, &why) < 0;
                nmdc_msg_cleanup(&m);
            }
        }
        double dt = bench_now() - t0;
        /* A refused line would time the error path, not the parse. */
        if (fails) {
            fprintf(stderr, "bench_parse: %s refused: %s\n", b->name, why);
            return 1;
        }
        printf("%-22s %4zu bytes  %7.1f ns/line  %6.1f MB/s\n", b->name, len, dt * 1e9 / (double)n,
               (double)len * (double)n / dt / 1e6);
    }
    return 0;
}
