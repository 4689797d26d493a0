/*
 * request.h - one parsed HTTP/1.x request, and the reader that assembles
 * requests from the bytes of a connection with llhttp.
 *
 * The reader owns no socket and no event loop: it is fed bytes and says
 * what they amount to, so the same code runs in the server and in the fuzz
 * target. Limits are enforced while the bytes arrive, never after.
 */
#ifndef RAIL_SERVER_REQUEST_H
#define RAIL_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#define REQUEST_HEAD_MAX    8192 /* request line + headers, bytes (431/414 beyond) */
#define REQUEST_HEADERS_MAX 100
#define CHUNK_EXT_MAX       4096 /* chunk extension names + values per chunk (400 beyond) */

struct header {
    uint16_t name, name_len, value, value_len; /* offsets into request.arena */
};

struct request {
    uint8_t method; /* llhttp_method_t */
    uint8_t http_major, http_minor;
    bool keep_alive;      /* llhttp_should_keep_alive() at the end of the message */
    bool expect_continue; /* "Expect: 100-continue" */
    uint16_t target, target_len;
    uint16_t nheaders;
    struct header headers[REQUEST_HEADERS_MAX];
    size_t head_bytes; /* request line + headers as counted against the limit */
    size_t arena_used;
    char arena[REQUEST_HEAD_MAX + 2 * REQUEST_HEADERS_MAX + 64]; /* strings, NUL-terminated */
    char *body;
    size_t body_len, body_cap;
};

/* The value of header `name` (case-insensitive), NUL-terminated, or NULL. */
const char *request_header(const struct request *req, const char *name);
/* The request target as received, NUL-terminated. */
const char *request_target(const struct request *req);
void request_free(struct request *req);

enum reader_event {
    READER_MORE,    /* every byte consumed; the request (if any) is incomplete */
    READER_REQUEST, /* a request is complete: reader_take() it */
    READER_ERROR,   /* the bytes are not an acceptable request: answer reader.status, close */
};

struct reader {
    llhttp_t parser;
    struct request *req; /* being assembled */
    size_t max_body;
    int status;             /* the error status after READER_ERROR */
    bool paused;            /* stopped after a complete request */
    bool in_name, in_value; /* a header name or value is partly received */
    bool headers_done;
    bool head_paused;     /* llhttp stopped at the end of a head, for head_check() */
    bool trailers_paused; /* llhttp stopped before a chunked body's trailer section */
    bool in_trailers;     /* its lines are checked like the head's */
    char last;            /* the head byte before the current one, for line_check() */
    size_t ext_bytes;     /* chunk extension bytes of the current chunk */
};

void reader_init(struct reader *r, size_t max_body);
void reader_free(struct reader *r);
/* Parses up to `len` bytes and stops after the first complete request.
 * *consumed is how many bytes were used; the rest belong to later requests. */
enum reader_event reader_feed(struct reader *r, const char *data, size_t len, size_t *consumed);
/* The complete request; the caller owns it. */
struct request *reader_take(struct reader *r);
/* True between the first byte of a request and its end. */
bool reader_in_request(const struct reader *r);
/* True once the head of the current request is complete (its body may follow). */
bool reader_headers_done(const struct reader *r);

#endif
