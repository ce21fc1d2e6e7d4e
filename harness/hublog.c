/* hublog.c: line matching for `hub log` steps (hublog.h). */
#include "harness/hublog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/profile.h"   /* hr_read_file */

int hr_logpat_compile(struct hr_logpat *p, const char *text, bool regex, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (regex) {
        int rc = regcomp(&p->re, text, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
        if (rc) {
            regerror(rc, &p->re, err, errlen);
            return -1;
        }
    }
    p->text = strdup(text);
    p->regex = regex;
    return 0;
}

void hr_logpat_free(struct hr_logpat *p)
{
    if (p->text && p->regex)
        regfree(&p->re);
    free(p->text);
    p->text = NULL;
}

bool hr_logpat_match(const struct hr_logpat *p, const char *line, size_t len)
{
    if (!p->regex)
        return memmem(line, len, p->text, strlen(p->text)) != NULL;
    char *z = strndup(line, len);   /* regexec wants a NUL-terminated line */
    bool hit = z && regexec(&p->re, z, 0, NULL, 0) == 0;
    free(z);
    return hit;
}

/* The runner's log line "%8.3f tag| text": the text of out|/err| lines,
 * NULL for the others (run|, in |, ctl|, dcharness notes). */
static const char *unstamp(const char *line, size_t len, size_t *textlen)
{
    const char *bar = memchr(line, '|', len);
    if (!bar || bar - line < 4 || bar[1] != ' ')
        return NULL;
    if (strncmp(bar - 3, "out", 3) && strncmp(bar - 3, "err", 3))
        return NULL;
    *textlen = len - (size_t)(bar + 2 - line);
    return bar + 2;
}

size_t hr_log_count(const struct hr_logpat *p, const char *buf, size_t len, bool stamped,
                    char *first, size_t firstlen)
{
    size_t n = 0;
    for (const char *l = buf, *end = buf + len; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t ll = nl ? (size_t)(nl - l) : (size_t)(end - l);
        size_t tl = ll;
        const char *t = stamped ? unstamp(l, ll, &tl) : l;
        if (t && hr_logpat_match(p, t, tl)) {
            if (!n && first)
                snprintf(first, firstlen, "%.*s", (int)ll, l);
            n++;
        }
        l += ll + 1;
    }
    return n;
}

long hr_log_count_file(const struct hr_logpat *p, const char *path, bool stamped, char *first, size_t firstlen)
{
    size_t len;
    char *buf = hr_read_file(path, &len);
    if (!buf)
        return -1;
    size_t n = hr_log_count(p, buf, len, stamped, first, firstlen);
    free(buf);
    return (long)n;
}
