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

/* A chunked body's trailer fields are counted against the head's limit and
 * dropped: they are not request headers (RFC 9110 6.5.1), and no proxy in
 * front need have checked them as such. */
static int trailer_bytes(struct reader *r, size_t n)
{
    return head_grow(r->req, n, 431) ? fail(r, 431) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    if (r->headers_done)
        return trailer_bytes(r, n);
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
    if (r->headers_done)
        return 0;
    arena_end_string(r->req);
    r->in_name = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    if (r->headers_done)
        return trailer_bytes(r, n);
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
    if (r->headers_done)
        return 0;
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

static unsigned header_count(const struct request *req, const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < req->nheaders; i++)
        n += strcasecmp(req->arena + req->headers[i].name, name) == 0;
    return n;
}

/* A Host value is uri-host [":" port] (RFC 9110 §7.2): these characters
 * only, and at least one. */
static bool host_valid(const char *host)
{
    static const char extra[] = "-._~%!$&'()*+,;=:[]";
    if (!*host)
        return false;
    for (const char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr(extra, *c)))
            return false;
    return true;
}

/* RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, and no request
 * has two or an invalid one. An empty one is refused too, as nginx does
 * (the RFC allows it only for a target without an authority). */
static bool host_acceptable(const struct request *req)
{
    unsigned n = header_count(req, "host");
    if (n > 1)
        return false;
    if (n == 0)
        return req->http_minor == 0;
    return host_valid(request_header(req, "host"));
}

/* llhttp has stopped at the end of the head: what the head asks for,
 * decided before any body byte is read. Framing first (how long the message
 * is), then what is done with it. */
static int head_check(struct reader *r)
{
    struct request *req = r->req;
    llhttp_t *p = &r->parser;
    if (p->http_major != 1)
        return 505;
    const char *te = request_header(req, "transfer-encoding");
    if (te) {
        /* RFC 9112 §6.1: an HTTP/1.0 peer cannot have meant it; a second
         * Transfer-Encoding is a second opinion on the framing. */
        if (p->http_minor == 0 || header_count(req, "transfer-encoding") > 1)
            return 400;
        if (!coding_supported(te))
            return 501;
    }
    if ((p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED)) {
        if (p->content_length > r->max_body)
            return 413;
        if (p->content_length > 0) {
            req->body = malloc(p->content_length);
            if (!req->body)
                return 503;
            req->body_cap = p->content_length;
        }
    }
    const char *expect = request_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return 417;
        /* RFC 9110 10.1.1: ignored on HTTP/1.0, which has no interim answers */
        req->expect_continue = p->http_minor > 0;
    }
    return host_acceptable(req) ? 0 : 400;
}

static int on_headers_complete(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    struct request *req = r->req;
    req->method = (uint8_t)p->method;
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    r->headers_done = true;
    /* reader_feed() checks the head's lines, then head_check(), then resumes. */
    r->head_paused = true;
    return HPE_PAUSED;
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

/* Extensions are parsed and dropped, but each costs parsing time: bounded
 * per chunk (nginx has no bound; 20 MiB of them was accepted before). */
static int on_chunk_extension(llhttp_t *p, const char *at, size_t n)
{
    struct reader *r = reader_of(p);
    (void)at;
    r->ext_bytes += n;
    return r->ext_bytes > CHUNK_EXT_MAX ? fail(r, 400) : 0;
}

/* The chunk's size line is complete; the next chunk starts afresh. After
 * the last chunk, header lines may follow (trailers): reader_feed() checks
 * their lines as it does the head's, from here. */
static int on_chunk_header(llhttp_t *p)
{
    struct reader *r = reader_of(p);
    r->ext_bytes = 0;
    if (p->content_length > 0)
        return 0;
    r->trailers_paused = true;
    return HPE_PAUSED;
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
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension,
    .on_chunk_header = on_chunk_header,
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

/* Line endings and folding in the bytes of a head, which llhttp (even in
 * strict mode) lets through in places: a bare LF ends the request line, and
 * a line starting with SP or HT continues the previous header (obs-fold,
 * RFC 9112 §5.2). A proxy may read either differently, so both are 400, as
 * is a CR not followed by LF. The state carries over from the last feed. */
static int line_check(struct reader *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (r->last == '\n' && (c == ' ' || c == '\t'))
            return 400;
        if ((c == '\n') != (r->last == '\r'))
            return 400; /* LF without CR, or CR without LF */
        r->last = c;
    }
    return 0;
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
    size_t off = 0;
    for (;;) {
        bool in_head = !r->headers_done || r->in_trailers;
        llhttp_errno_t err = llhttp_execute(&r->parser, data + off, len - off);
        const char *pos = err == HPE_OK ? NULL : llhttp_get_error_pos(&r->parser);
        size_t end = pos ? (size_t)(pos - data) : len;
        /* Until the head ends, every byte llhttp took belongs to it. */
        if (in_head && !r->status)
            r->status = line_check(r, data + off, end - off);
        if (err == HPE_PAUSED && r->trailers_paused && !r->status) {
            r->trailers_paused = false;
            r->in_trailers = true;
            r->last = '\n'; /* the last chunk's line has just ended */
            llhttp_resume(&r->parser);
            off = end;
            continue;
        }
        if (err == HPE_PAUSED && r->head_paused) {
            r->head_paused = false;
            if (!r->status)
                r->status = head_check(r);
            if (!r->status) {
                llhttp_resume(&r->parser);
                off = end;
                continue;
            }
        }
        *consumed = end;
        if (r->status)
            return READER_ERROR;
        if (err == HPE_OK)
            return READER_MORE;
        if (err == HPE_PAUSED && r->paused)
            return READER_REQUEST;
        /* llhttp's own errors (ours carry their status already) are all
         * malformed framing. That includes a coding after "chunked" or a
         * second "chunked", where the length cannot be known: 400, RFC 9112
         * §6.3. Codings merely not implemented got 501 in head_check(),
         * which runs before llhttp looks for a final "chunked". */
        r->status = 400;
        return READER_ERROR;
    }
}

struct request *reader_take(struct reader *r)
{
    struct request *req = r->req;
    r->req = NULL;
    r->headers_done = r->in_trailers = false;
    r->last = '\0'; /* the next head starts here */
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
