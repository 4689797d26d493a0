/*
 * request.c - assembles requests from llhttp's callbacks.
 *
 * Strings are copied into the request's fixed arena as they arrive (llhttp
 * may deliver one header in many pieces), so the head can never grow past
 * REQUEST_HEAD_MAX whatever the client sends. The body grows up to max_body.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes a request line costs beyond its target ("GET " + " HTTP/1.1\r\n"),
 * and a header beyond its name and value (": " + CRLF). */
#define LINE_OVERHEAD   16
#define HEADER_OVERHEAD 4

static struct reader *reader_of(llhttp_t *p)
{
    return p->data;
}

static int fail(struct reader *r, int status)
{
    r->status = status;
    return -1;
}

/* Appends to the arena; the caller has checked the head limit. */
static void arena_put(struct request *req, const char *at, size_t n)
{
    memcpy(req->arena + req->arena_used, at, n);
    req->arena_used += n;
}

static void arena_end_string(struct request *req)
{
    req->arena[req->arena_used++] = '\0';
}

/* Counts n more head bytes; the status to fail with if that is too many. */
static int head_grow(struct request *req, size_t n, int status_if_over)
{
    req->head_bytes += n;
    return req->head_bytes > REQUEST_HEAD_MAX ? status_if_over : 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    r->req = calloc(1, sizeof *r->req);
    if (!r->req)
        return fail(r, 503);
    r->req->head_bytes = LINE_OVERHEAD;
    r->headers_done = false;
    r->in_name = r->in_value = false;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    int over = head_grow(r->req, n, 414);
    if (over)
        return fail(r, over);
    r->req->target_len += (uint16_t)n;
    arena_put(r->req, at, n);
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    struct request *req = reader_of(p)->req;
    req->target = (uint16_t)(req->arena_used - req->target_len);
    arena_end_string(req);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    if (!r->in_name) {
        if (req->nheaders == REQUEST_HEADERS_MAX || head_grow(req, HEADER_OVERHEAD, 431))
            return fail(r, 431);
        req->headers[req->nheaders].name = (uint16_t)req->arena_used;
        r->in_name = true;
    }
    if (head_grow(req, n, 431))
        return fail(r, 431);
    req->headers[req->nheaders].name_len += (uint16_t)n;
    arena_put(req, at, n);
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    arena_end_string(r->req);
    r->in_name = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    if (!r->in_value) {
        req->headers[req->nheaders].value = (uint16_t)req->arena_used;
        r->in_value = true;
    }
    if (head_grow(req, n, 431))
        return fail(r, 431);
    req->headers[req->nheaders].value_len += (uint16_t)n;
    arena_put(req, at, n);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    struct header *h = &req->headers[req->nheaders];
    if (!r->in_value) /* an empty value gets no on_header_value */
        h->value = (uint16_t)req->arena_used;
    /* llhttp keeps trailing whitespace; field values do not include it. */
    while (h->value_len > 0 && (req->arena[h->value + h->value_len - 1] == ' ' ||
                                req->arena[h->value + h->value_len - 1] == '\t')) {
        h->value_len--;
        req->arena_used--;
    }
    arena_end_string(req);
    r->in_value = false;
    req->nheaders++;
    return 0;
}

/* Transfer codings other than a lone "chunked" are not implemented here. */
static bool coding_supported(const char *te)
{
    while (*te == ' ' || *te == '\t')
        te++;
    return strcasecmp(te, "chunked") == 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    req->method = (uint8_t)p->method;
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    r->headers_done = true;
    if (p->http_major != 1)
        return fail(r, 505);
    const char *te = request_header(req, "transfer-encoding");
    if (te && !coding_supported(te))
        return fail(r, 501);
    if ((p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED)) {
        if (p->content_length > r->max_body)
            return fail(r, 413);
        if (p->content_length > 0) {
            req->body = malloc(p->content_length);
            if (!req->body)
                return fail(r, 503);
            req->body_cap = p->content_length;
        }
    }
    const char *expect = request_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(r, 417);
        req->expect_continue = true;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    if (n > r->max_body - req->body_len)
        return fail(r, 413);
    if (req->body_len + n > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < req->body_len + n)
            cap *= 2;
        if (cap > r->max_body)
            cap = r->max_body;
        char *body = realloc(req->body, cap);
        if (!body)
            return fail(r, 503);
        req->body = body;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, at, n);
    req->body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    r->req->keep_alive = llhttp_should_keep_alive(p);
    r->paused = true;
    return HPE_PAUSED; /* one request at a time: the caller answers it first */
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void reader_init(struct reader *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    llhttp_init(&r->parser, HTTP_REQUEST, &settings);
    r->parser.data = r;
    r->max_body = max_body;
}

void reader_free(struct reader *r)
{
    request_free(r->req);
    r->req = NULL;
}

/* llhttp's own errors. Ours (HPE_USER) carry their status already. */
static int status_for(llhttp_errno_t err)
{
    switch (err) {
    case HPE_INVALID_TRANSFER_ENCODING:
        return 501;
    case HPE_INVALID_METHOD:
        return 400; /* not even a token we could call a method */
    default:
        return 400;
    }
}

enum reader_event reader_feed(struct reader *r, const char *data, size_t len, size_t *consumed)
{
    if (r->status) { /* an error is final */
        *consumed = 0;
        return READER_ERROR;
    }
    if (r->paused) {
        llhttp_resume(&r->parser);
        r->paused = false;
    }
    llhttp_errno_t err = llhttp_execute(&r->parser, data, len);
    if (err == HPE_OK) {
        *consumed = len;
        return READER_MORE;
    }
    const char *pos = llhttp_get_error_pos(&r->parser);
    *consumed = pos ? (size_t)(pos - data) : len;
    if (err == HPE_PAUSED && r->paused)
        return READER_REQUEST;
    if (!r->status)
        r->status = status_for(err);
    return READER_ERROR;
}

struct request *reader_take(struct reader *r)
{
    struct request *req = r->req;
    r->req = NULL;
    r->headers_done = false;
    return req;
}

bool reader_in_request(const struct reader *r)
{
    return r->req != NULL;
}
bool reader_headers_done(const struct reader *r)
{
    return r->headers_done;
}

const char *request_header(const struct request *req, const char *name)
{
    for (unsigned i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->arena + req->headers[i].name, name) == 0)
            return req->arena + req->headers[i].value;
    return NULL;
}

const char *request_target(const struct request *req)
{
    return req->arena + req->target;
}

void request_free(struct request *req)
{
    if (req) {
        free(req->body);
        free(req);
    }
}
