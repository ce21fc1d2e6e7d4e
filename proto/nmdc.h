/* nmdc.h: NMDC message codec (protocol notes §2; framing on '|' is lines.h's): parsing of
 * the commands a hub and a client need, formatting them back, text escaping
 * (&#36; &#124; &amp;) and $Lock -> $Key with its /%DCNnnn%/ escapes.
 *
 * Pure: no sockets, no globals. nmdc_msg_parse takes one message WITHOUT its
 * '|' terminator and fills a caller-owned struct whose strings point into
 * storage owned by the struct (nmdc_msg_cleanup releases it). Text fields
 * (chat, PM text, description, email) are returned UNESCAPED; nicks are
 * returned as sent. Unknown '$' commands parse as NMDC_UNKNOWN with name and
 * raw args, so a hub can ignore or relay them; malformed known commands are
 * rejected with a reason. For known commands args is NULL (the parser has cut
 * the text up in place). Fields a message lacks are NULL; fields that are
 * present but empty are "" (inside storage). Every reason is a static string.
 *
 * Conventions worth knowing:
 *  - Chat: a line not starting with '$'. "<nick>" must hold a valid nick,
 *    else the whole line is a status text with nick NULL ("<>" included).
 *  - $MyINFO: if the description ends with '>', the part from the last '<'
 *    is the tag, and ONE space before it is dropped (DC++ writes
 *    "desc <tag>"). nmdc_fmt_myinfo writes that space back, so a description
 *    that itself ends in '>' with an empty tag does not survive a round trip.
 *    An empty connection field (bots) gives connection "" and flag 0.
 *  - $ConnectToMe: host is everything before the LAST ':', so "::1:412"
 *    works; suffixes S (tls), N, R, NS, RS are accepted; a trailing nick is
 *    ignored. $ADCSND must carry a real byte count (no -1).
 *  - Lists ($NickList/$OpList/$BotList/$UserIP on "$$", $Supports on ' ')
 *    drop empty items and are refused past NMDC_MAX_LIST entries.
 *  - Formatters validate what would break framing or the layouts (invalid
 *    nicks, '|' or '$' in verbatim fields, flag bytes 0/'$'/'|' after a
 *    connection) and return -1 leaving out unchanged. nmdc_fmt_chat with a
 *    NULL nick writes a status line. nmdc_fmt_simple accepts "$Name" or "Name".
 */
#ifndef DC_PROTO_NMDC_H
#define DC_PROTO_NMDC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "proto/buf.h"

enum nmdc_type {
    NMDC_UNKNOWN = 0,     /* a '$' command this codec does not parse: name, args */
    NMDC_CHAT,            /* "<nick> text" (nick may be NULL for a status line) */
    NMDC_LOCK,            /* lock, pk */
    NMDC_KEY,             /* key (raw bytes, key_len; may contain spaces/high bytes) */
    NMDC_SUPPORTS,        /* features[] */
    NMDC_VALIDATENICK,    /* nick */
    NMDC_VALIDATEDENIDE,  /* nick (may be "") */
    NMDC_HELLO,           /* nick */
    NMDC_GETPASS,         /* text = optional salt or NULL */
    NMDC_MYPASS,          /* text = password */
    NMDC_BADPASS,
    NMDC_LOGEDIN,         /* nick */
    NMDC_VERSION,         /* text */
    NMDC_GETNICKLIST,
    NMDC_NICKLIST,        /* nicks[] */
    NMDC_OPLIST,          /* nicks[] */
    NMDC_BOTLIST,         /* nicks[] */
    NMDC_MYINFO,          /* myinfo */
    NMDC_GETINFO,         /* nick = target, from = requester */
    NMDC_HUBNAME,         /* text */
    NMDC_HUBTOPIC,        /* text */
    NMDC_HUBISFULL,
    NMDC_USERIP,          /* nicks[] = "nick ip" pairs kept raw */
    NMDC_TO,              /* to, from, nick (the "$<nick>" part), text */
    NMDC_CONNECTTOME,     /* nick = target, host, port, tls */
    NMDC_REVCONNECTTOME,  /* from, nick = target */
    NMDC_SEARCH,          /* search */
    NMDC_SR,              /* sr */
    NMDC_QUIT,            /* nick */
    NMDC_FORCEMOVE,       /* text = address */
    NMDC_KICK,            /* nick */
    NMDC_MYNICK,          /* nick (C-C) */
    NMDC_DIRECTION,       /* text = "Download"/"Upload", number */
    NMDC_ADCGET,          /* transfer */
    NMDC_ADCSND,          /* transfer */
    NMDC_ERROR,           /* text */
    NMDC_MAXEDOUT,
    NMDC_ZON,
};

#define NMDC_MAX_LIST 1024

struct nmdc_myinfo {
    char *nick;
    char *description;    /* unescaped, without the tag */
    char *tag;            /* "<++ V:...>" including the brackets, or "" */
    char *connection;     /* without the flag byte */
    uint8_t flag;
    char *email;          /* unescaped */
    uint64_t share;
};

struct nmdc_search {
    char *source;         /* "ip:port" (active) or the nick after "Hub:" (passive) */
    bool passive;
    bool size_restricted, is_max_size;
    uint64_t size;
    int data_type;        /* 1..9 */
    char *pattern;        /* '$' turned back into spaces; unescaped */
};

struct nmdc_sr {
    char *nick;
    char *path;           /* '\' separated, as sent */
    bool is_dir;
    uint64_t size;
    int free_slots, total_slots;
    char *hub_info;       /* "TTH:<root>" or hub name */
    char *hub_addr;       /* text inside the parentheses */
    char *target;         /* passive: the searcher's nick after \x05, else NULL */
};

struct nmdc_transfer {    /* $ADCGET / $ADCSND */
    char *type;           /* "file", "tthl", "list" */
    char *ident;          /* unescaped ("\ " -> " ") */
    int64_t start;
    int64_t bytes;        /* -1 = to the end */
    bool zl1;
    bool re1;
};

/* One NMDC message. Owns every string it points to (in storage). */
struct nmdc_msg {
    enum nmdc_type type;
    char *name;           /* NMDC_UNKNOWN: "$Foo"; else the command name */
    char *args;           /* NMDC_UNKNOWN: raw text after the name (may be "") */
    char *nick, *from, *to, *text, *lock, *pk, *host, *key;
    size_t key_len;
    uint16_t port;
    bool tls;
    long number;          /* $Direction */
    size_t nlist;
    char **list;          /* nicks[] or features[]; owned array */
    struct nmdc_myinfo myinfo;
    struct nmdc_search search;
    struct nmdc_sr sr;
    struct nmdc_transfer transfer;
    char *storage;        /* owned backing store */
};

int nmdc_msg_parse(const char *msg, size_t len, struct nmdc_msg *out, const char **reason);
void nmdc_msg_cleanup(struct nmdc_msg *m);

/* Text escaping (DC++ convention): '$' -> "&#36;", '|' -> "&#124;", and '&'
 * -> "&amp;" only where it starts one of those three entities. */
int nmdc_escape_append(struct dc_buf *out, const char *s, size_t len);
/* Replace the three entities in place; returns the new length. */
size_t nmdc_unescape_inplace(char *s, size_t len);

/* $Key for a lock (the lock token only, without " Pk=..."): appends the
 * escaped key bytes (not the "$Key " prefix nor '|'). Locks shorter than 3
 * bytes give an empty key. */
int nmdc_lock_to_key(const char *lock, size_t len, struct dc_buf *out);

/* A nick is valid for NMDC: 1..64 bytes, no space, '$', '|', '<', '>', or
 * bytes <= 0x20. */
bool nmdc_nick_valid(const char *nick, size_t len);

/* Formatters: append one whole message INCLUDING the '|' terminator. Text
 * arguments are given unescaped and escaped here. */
int nmdc_fmt_lock(struct dc_buf *out, const char *lock, const char *pk);
int nmdc_fmt_key(struct dc_buf *out, const char *lock, size_t lock_len);
int nmdc_fmt_supports(struct dc_buf *out, const char *const *features, size_t n);
int nmdc_fmt_simple(struct dc_buf *out, const char *name, const char *arg); /* "$Name arg|" or "$Name|" if arg NULL; arg verbatim */
int nmdc_fmt_chat(struct dc_buf *out, const char *nick, const char *text);
int nmdc_fmt_to(struct dc_buf *out, const char *to, const char *from, const char *text);
int nmdc_fmt_myinfo(struct dc_buf *out, const struct nmdc_myinfo *mi);
int nmdc_fmt_nicklist(struct dc_buf *out, const char *name /* "$NickList"|"$OpList" */,
                      const char *const *nicks, size_t n);
int nmdc_fmt_ctm(struct dc_buf *out, const char *target, const char *host, uint16_t port, bool tls);
int nmdc_fmt_rcm(struct dc_buf *out, const char *from, const char *target);
int nmdc_fmt_search(struct dc_buf *out, const struct nmdc_search *s);
int nmdc_fmt_sr(struct dc_buf *out, const struct nmdc_sr *sr);
int nmdc_fmt_transfer(struct dc_buf *out, bool is_snd, const struct nmdc_transfer *t);

#endif
