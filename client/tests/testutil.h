/* testutil.h: helpers shared by the client core's Criterion tests.
 *
 * - tu_run_until: run an event_base until a condition holds or a deadline
 *   passes (no sleeps, no polling loops outside the event loop).
 * - struct tu_rec: an event callback that records copies of every event, so
 *   tests assert on what the client reported, byte for byte.
 * - struct tu_peer: a scripted hub on 127.0.0.1:0 (evconnlistener) that
 *   records what clients send and sends canned lines back.
 * - struct tu_hub: the fakehub executable as a child process (fork/exec,
 *   ready line read from its stdout, SIGTERM/SIGKILL and reap at the end).
 * - tu_fd_count: open descriptors of this process (/proc/self/fd).
 */
#ifndef DC_CLIENT_TESTS_TESTUTIL_H
#define DC_CLIENT_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>

#include "client/dcc.h"

/* Scale for every timeout (slow CI, sanitizers): DCTEST_TIMEOUT_MULTIPLIER. */
double tu_timeout(double seconds);

bool tu_run_until(struct event_base *base, bool (*cond_cb)(void *ctx), void *ctx, double timeout);

/* One recorded event (owned copies). */
struct tu_ev {
    enum dcc_event_type type;
    char *nick, *from, *to, *text;
    int code;
    double delay;
    bool logged_in;
};

/* Recorder: pass tu_rec_event_cb as event_cb and the tu_rec as ctx. Owns its
 * events; tu_rec_cleanup frees them. If free_on is an event type + 1, the
 * client is freed inside the callback for that event (client becomes NULL). */
struct tu_rec {
    struct tu_ev *ev;
    size_t n, cap;
    struct dcc_client *client;   /* borrowed; set by the test */
    int free_on;
};

void tu_rec_event_cb(struct dcc_client *c, const struct dcc_event *ev, void *ctx);
void tu_rec_cleanup(struct tu_rec *r);
/* The first recorded event of that type whose text (or nick for user events,
 * if key is given) equals key; NULL if none. key NULL matches any. */
const struct tu_ev *tu_rec_find(const struct tu_rec *r, enum dcc_event_type type, const char *key);
size_t tu_rec_count(const struct tu_rec *r, enum dcc_event_type type);

/* A scripted hub: listens on 127.0.0.1:<port>; each accepted connection's
 * input is appended to `got` (for the newest connection). */
struct tu_peer {
    struct event_base *base;           /* borrowed */
    struct evconnlistener *listener;   /* owned */
    struct bufferevent *bev;           /* owned: newest accepted connection */
    struct evbuffer *got;              /* owned: bytes received on it */
    int port;
    int accepts;                       /* connections accepted so far */
    double accept_times[64];           /* monotonic seconds of each accept */
    bool close_on_accept;              /* close every connection at once */
    const char *greeting;              /* sent on accept (borrowed), or NULL */
};

int tu_peer_start(struct tu_peer *p, struct event_base *base);
void tu_peer_stop(struct tu_peer *p);
void tu_peer_send(struct tu_peer *p, const char *text);
/* Run the loop until `got` contains needle; true if it did in time. */
bool tu_peer_expect(struct tu_peer *p, const char *needle, double timeout);
void tu_peer_drop(struct tu_peer *p);   /* close the current connection */

/* fakehub child. */
struct tu_hub {
    pid_t pid;
    char nmdc_url[96];
    char adc_url[96];
    char nmdcs_url[160];   /* with ?kp=; "" unless extra asked for --nmdcs */
    char adcs_url[160];    /* with ?kp=; "" unless extra asked for --adcs */
    char keyprint[64];
};

/* Start <bin>/fakehub --nmdc 127.0.0.1:0 --adc 127.0.0.1:0 [extra...]
 * (extra is NULL-terminated, may be NULL; "--adcs", "127.0.0.1:0" there
 * fills adcs_url, likewise nmdcs). 0, or -1 with a message on stderr. */
int tu_hub_start(struct tu_hub *h, const char *const *extra);
void tu_hub_stop(struct tu_hub *h);

int tu_fd_count(void);

/* In a sanitizer build, run LeakSanitizer now and return the number of leaks
 * it reported (details on stderr); 0 otherwise. Needed because Criterion
 * counts a worker that LSan flags at exit as passing. */
int tu_leak_check(void);
double tu_now(void);

#endif
