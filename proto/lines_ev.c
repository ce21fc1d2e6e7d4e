/* lines_ev.c: the line framer on an evbuffer (see lines_ev.h). */
#include "proto/lines_ev.h"

enum dc_line dc_lines_ev_next(struct evbuffer *in, char sep, size_t max, char *line, size_t *len)
{
    size_t have = evbuffer_get_length(in);
    struct evbuffer_ptr end, p = {.pos = -1};
    /* A separator at or after end is not found: the match must end before it. */
    if (have && evbuffer_ptr_set(in, &end, dc_line_window(have, max), EVBUFFER_PTR_SET) == 0)
        p = evbuffer_search_range(in, &sep, 1, NULL, &end);
    if (p.pos < 0)
        return have > max ? DC_LINE_TOO_LONG : DC_LINE_MORE;
    *len = (size_t)p.pos;
    evbuffer_remove(in, line, *len + 1);
    line[*len] = '\0';
    return DC_LINE_OK;
}
