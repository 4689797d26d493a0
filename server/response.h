/*
 * response.h - what a handler answers, and its serialisation.
 *
 * Handlers (on pool workers) fill a struct response; the I/O thread adds
 * the connection-level headers (Date, Server, Content-Length, Connection)
 * when it writes the head, because only it knows whether the connection
 * stays open.
 */
#ifndef RAIL_SERVER_RESPONSE_H
#define RAIL_SERVER_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RESPONSE_EXTRA_MAX 512

struct response {
    int status;
    const char *content_type;       /* a static string, or NULL for none */
    char extra[RESPONSE_EXTRA_MAX]; /* further header lines, each ending in CRLF */
    size_t extra_len;
    char *body;                /* owned; NULL when there is none or for HEAD */
    void (*body_free)(void *); /* releases body: NULL means free() (g_free for images) */
    size_t body_len;
    size_t content_length; /* the Content-Length to send: body_len, or the GET size for HEAD */
    bool close;            /* the handler wants the connection closed after this */
};

/* Appends "name: value\r\n"; a line that does not fit is dropped (and
 * returns -1): every caller's headers are far below the bound. */
int response_header(struct response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets status and a body copied from `text` (NUL-terminated). */
void response_text(struct response *resp, int status, const char *content_type, const char *text);
/* Sets status and a plain-text body "<status> <reason>\n". */
void response_error(struct response *resp, int status);
/* Takes ownership of a malloc'd body. */
void response_body(struct response *resp, char *body, size_t len);
/* Takes ownership of a body released by body_free (NULL: free()). */
void response_body_owned(struct response *resp, char *body, size_t len, void (*body_free)(void *));
/* Releases a body taken from a response with its deallocator. */
void response_body_release(char *body, void (*body_free)(void *));
void response_reset(struct response *resp);

const char *status_reason(int status);
/* Writes the status line and headers into buf; returns the length, or 0
 * when cap is too small. `date` is an IMF-fixdate. */
size_t response_head(const struct response *resp, char *buf, size_t cap, const char *date,
                     bool close, bool http10_keep_alive);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"): 29 characters for years
 * 1000-9999; room for any int year, so the formatting cannot truncate. */
#define HTTP_DATE_LEN 64
void http_date(time_t t, char out[HTTP_DATE_LEN]);
/* Parses an IMF-fixdate; returns -1 when it is not one. */
time_t http_date_parse(const char *s);

#endif
