/* sig.c: signal names <-> numbers (see sig.h). glibc's sigabbrev_np knows
 * every classic name; real-time signals are named relative to SIGRTMIN and
 * SIGRTMAX, which glibc computes at run time. */
#include "harness/sig.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HR_SIG_MAX 64

/* "12" -> 12; 0 unless the whole text is a number 1..HR_SIG_MAX. */
static int number(const char *s)
{
    char *e;
    if (!isdigit((unsigned char)*s))
        return 0;
    long n = strtol(s, &e, 10);
    return *e || n < 1 || n > HR_SIG_MAX ? 0 : (int)n;
}

int hr_signal_from_name(const char *name)
{
    int n = number(name);
    if (n || !*name)
        return n;
    if (!strncasecmp(name, "SIG", 3))
        name += 3;
    for (int s = 1; s < SIGRTMIN; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && !strcasecmp(abbrev, name))
            return s;
    }
    int base = !strncasecmp(name, "RTMIN", 5) ? SIGRTMIN : !strncasecmp(name, "RTMAX", 5) ? SIGRTMAX : 0;
    if (!base)
        return 0;
    const char *rest = name + 5;
    if (!*rest)
        return base;
    int off = number(rest + 1);
    if ((*rest == '+' && base == SIGRTMIN && off && SIGRTMIN + off <= SIGRTMAX) ||
        (*rest == '-' && base == SIGRTMAX && off && SIGRTMAX - off >= SIGRTMIN))
        return *rest == '+' ? base + off : base - off;
    return 0;
}

const char *hr_signal_name(int signo, char *buf, size_t len)
{
    const char *abbrev = signo > 0 && signo < SIGRTMIN ? sigabbrev_np(signo) : NULL;
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else if (signo == SIGRTMIN)
        snprintf(buf, len, "SIGRTMIN");
    else if (signo > SIGRTMIN && signo <= SIGRTMAX)
        snprintf(buf, len, "SIGRTMIN+%d", signo - SIGRTMIN);
    else
        snprintf(buf, len, "signal %d", signo);
    return buf;
}
