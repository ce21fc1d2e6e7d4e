/* lex.h: the word lexer shared by scenario files and hub profiles.
 *
 * A file is lines of words separated by blanks. A word is made of bare
 * characters, "double-quoted" parts (escapes: \\ \" \n \t \r \{ \} \xHH
 * \u{H..}) and 'single-quoted' parts (taken literally), glued together as in
 * a shell: text="a b" is one word. A '#' starting a word begins a comment.
 * An unquoted '=' or '~' after a bare name marks a key=value (or key~value)
 * word. Placeholders {name} or {name:arg} may appear anywhere; the lexer keeps
 * them in a template where a literal brace is doubled ("{{"), so later stages
 * can tell them apart (hr_template_expand). Invalid UTF-8, NUL bytes,
 * unterminated quotes and unknown escapes are errors at file:line.
 *
 * Pure: bytes in, caller-owned structs out (hr_lines_free). No I/O.
 */
#ifndef HR_LEX_H
#define HR_LEX_H

#include <stdbool.h>
#include <stddef.h>

#define HR_ERR_LEN 512

/* An error message "file:line: what went wrong", filled on failure. */
struct hr_error {
    char msg[HR_ERR_LEN];
};

/* One word. Owns text. */
struct hr_word {
    char *text;     /* template: literal braces doubled, placeholders as {name} */
    size_t key_len; /* with op: length of the key before the operator */
    char op;        /* '=' or '~' for key=value / key~value words, else 0 */
    bool quoted;    /* some part of the word was quoted (so it is text, not a number) */
};

/* One non-empty line. Owns words and raw. */
struct hr_line {
    int lineno;
    char *raw;              /* the line as written, without comment and edge blanks */
    struct hr_word *words;
    size_t nwords;
};

/* Split buf into lines of words. On success out and n are owned by the caller
 * (hr_lines_free); on error returns -1 and fills err with "path:line: ...". */
int hr_lex(const char *path, const char *buf, size_t len,
           struct hr_line **out, size_t *n, struct hr_error *err);
void hr_lines_free(struct hr_line *lines, size_t n);

void hr_error_set(struct hr_error *err, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The placeholder names used in a template must be in `allowed` (NULL
 * terminated; an entry "ready:" admits any {ready:ARG}). Returns NULL when
 * all are known, else a pointer to the first unknown placeholder's '{'. */
const char *hr_template_check(const char *tmpl, const char *const *allowed);

/* Look-up callback for expansion: returns the value (borrowed) or NULL. */
typedef const char *(*hr_lookup_cb)(const char *name, size_t len, void *ctx);

/* Expand a template into a new malloc'd string. Returns NULL when a
 * placeholder has no value (its name is copied into missing, if non-NULL). */
char *hr_template_expand(const char *tmpl, hr_lookup_cb lookup, void *ctx,
                         char *missing, size_t missing_len);

/* The literal text of a template without placeholders ("{{" -> "{"); NULL
 * if it holds a placeholder. Returned string is malloc'd. */
char *hr_template_literal(const char *tmpl);

/* Parse "250ms", "5s", "1.5s" into milliseconds; -1 if malformed. */
long hr_parse_duration(const char *s);

/* Is s valid UTF-8 of length len? */
bool hr_utf8_valid(const char *s, size_t len);

#endif
