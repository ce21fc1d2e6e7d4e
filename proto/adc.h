/* adc.h: ADC message codec (ADC 1.0.4 §3): parse one line into a struct,
 * format a struct back, escape and unescape parameter values.
 *
 * Pure: no sockets, no globals. The parser takes a line WITHOUT its trailing
 * LF (a trailing LF, if present, is tolerated and ignored) and fills a struct
 * the caller owns. Parameter strings are unescaped and point into storage
 * owned by the struct; adc_msg_cleanup() releases them. Parse, init and
 * cleanup reset the header and the counts but not pos[] and named[] (3 KiB,
 * more than a parse costs): read those only below npos and nnamed.
 *
 * Positional versus named parameters: the number of positional parameters is
 * fixed per command (MSG 1, STA 2, CTM 3, RCM 2, GET/SND 4, GFI 2, SID 1,
 * GPA 1, PAS 1, QUI 1, CMD 1; INF/SUP/SCH/RES 0). For commands the codec does
 * not know, every parameter is kept positional. Positionals with a fixed shape
 * are checked too: the STA code is three digits, the CTM port 1..65535, GET
 * and SND start/bytes decimal integers (sign allowed), SID and QUI a SID, GPA
 * and PAS base32. Named parameters are a
 * two-character code ([A-Z][A-Z0-9]) followed by the (possibly empty) value.
 * A positional parameter may be empty: DC++ sends "CSTA 000  RF<url>" (notes
 * §3.12), which parses as code "000", description "" and named RF.
 *
 * adc_msg_format refuses (-1) a message whose header is incomplete for its
 * type letter or whose positional count differs from the table above.
 *
 * Rejected with a reason (never a crash): empty line, bad type letter, bad
 * command name, missing or malformed SIDs, too few positional parameters for
 * a known command, an empty token where a named parameter is expected (double
 * or trailing space after the positionals), unknown escape sequences, a named parameter with a bad code, NUL bytes,
 * invalid UTF-8, more than ADC_MAX_PARAMS parameters.
 */
#ifndef DC_PROTO_ADC_H
#define DC_PROTO_ADC_H

#include <stddef.h>
#include <stdbool.h>
#include "proto/buf.h"

#define ADC_MAX_PARAMS 128
#define ADC_SID_LEN 4

/* An ADC FOURCC-style command code: ADC_CMD('I','N','F'). */
#define ADC_CMD(a, b, c) ((unsigned)(a) << 16 | (unsigned)(b) << 8 | (unsigned)(c))

struct adc_named {
    char code[3];        /* two chars + NUL */
    char *value;         /* unescaped, NUL-terminated; may be "" */
};

/* One ADC message. Owns every string it points to (in storage). */
struct adc_msg {
    char type;                          /* 'B','C','D','E','F','H','I','U' */
    char cmd[4];                        /* "INF" */
    unsigned code;                      /* ADC_CMD of cmd */
    char src_sid[ADC_SID_LEN + 1];      /* B, D, E, F: sender SID; else "" */
    char dst_sid[ADC_SID_LEN + 1];      /* D, E: target SID; else "" */
    char *cid;                          /* U: sender CID; else NULL */
    char *features;                     /* F: "+TCP4-NAT0"; else NULL */
    size_t npos;
    char *pos[ADC_MAX_PARAMS];          /* positional, unescaped */
    size_t nnamed;
    struct adc_named named[ADC_MAX_PARAMS];
    char *storage;                      /* owned backing store */
    size_t storage_len, storage_cap;
};

/* Parse one line. Returns 0, or -1 with *reason (a static string; reason may be
 * NULL) describing the defect. On failure *out needs no cleanup. */
int adc_msg_parse(const char *line, size_t len, struct adc_msg *out, const char **reason);
void adc_msg_cleanup(struct adc_msg *m);

/* Building a message to send. adc_msg_init sets type and cmd (3 uppercase
 * chars) and clears parameters; the add functions copy their arguments. */
void adc_msg_init(struct adc_msg *m, char type, const char *cmd);
int adc_msg_set_sids(struct adc_msg *m, const char *src, const char *dst);
int adc_msg_add_pos(struct adc_msg *m, const char *value);
int adc_msg_add_named(struct adc_msg *m, const char *code, const char *value);
/* U messages: the sender CID (base32). F messages: "+TCP4-NAT0". Copied. */
int adc_msg_set_cid(struct adc_msg *m, const char *cid);
int adc_msg_set_features(struct adc_msg *m, const char *features);

/* Lookup: the first named parameter with this code, or NULL. */
const char *adc_msg_get(const struct adc_msg *m, const char *code);

/* Append the wire form (escaped, with the trailing LF) to out. Returns 0/-1. */
int adc_msg_format(const struct adc_msg *m, struct dc_buf *out);

/* Escaping of one parameter value: ' ' -> "\s", LF -> "\n", '\' -> "\\". */
int adc_escape_append(struct dc_buf *out, const char *s, size_t len);
/* Unescape in place; returns the new length or -1 on an unknown escape or a
 * trailing lone backslash. */
long adc_unescape_inplace(char *s, size_t len);

/* SIDs: 4 base32 chars <-> 20-bit value. */
bool adc_sid_valid(const char *s);
void adc_sid_format(unsigned value, char out[ADC_SID_LEN + 1]);
/* The 20-bit value of a SID ("AAAB" -> 1), or -1 if s is not a valid SID. */
long adc_sid_value(const char *s);

/* STA severity/code helpers: "243" -> severity 2, error 43. */
#define ADC_STA_SEV_OK 0
#define ADC_STA_SEV_RECOVERABLE 1
#define ADC_STA_SEV_FATAL 2
/* Split a STA code ("243") into severity and error; 0, or -1 unless exactly
 * three digits. Either out pointer may be NULL. */
int adc_sta_split(const char *code, int *severity, int *error);

#endif
