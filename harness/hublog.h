/* hublog.h: assertions over a hub's log lines (`hub log expect/never`).
 *
 * A pattern is a text (a line contains it) or a POSIX extended regular
 * expression (regcomp; a line matches it). Lines come from the hub's
 * output as the runner logs it (<dir>/hub.log: "   1.234 err| TEXT"; only
 * the out|/err| lines count, with that stamp removed) or from a log file the
 * profile names (every line as is). Pure apart from reading the file.
 */
#ifndef HR_HUBLOG_H
#define HR_HUBLOG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* A compiled pattern. Owns text and re. */
struct hr_logpat {
    char *text;
    bool regex;
    regex_t re;
};

/* 0, or -1 with the reason (regerror's) in err. */
int hr_logpat_compile(struct hr_logpat *p, const char *text, bool regex, char *err, size_t errlen);
void hr_logpat_free(struct hr_logpat *p);

/* Does one line (without its newline) match? */
bool hr_logpat_match(const struct hr_logpat *p, const char *line, size_t len);

/* Count the matching lines of buf. stamped: the runner's log format, where
 * only out|/err| lines count and their stamp is cut off. The first match
 * (as written, stamp included) is copied into first if not NULL. */
size_t hr_log_count(const struct hr_logpat *p, const char *buf, size_t len, bool stamped,
                    char *first, size_t firstlen);

/* The same over a file; -1 when it cannot be read (errno set). */
long hr_log_count_file(const struct hr_logpat *p, const char *path, bool stamped, char *first, size_t firstlen);

#endif
