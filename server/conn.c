/* conn.c - one client connection; the state machine is drawn in conn.h. */
#define _GNU_SOURCE /* sendfile's header is Linux's own */
#include "conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "access_log.h"
#include "dispatch.h"
#include "filecache.h"
#include "loop.h"

#define LINGER_MS   2000         /* how long a closing connection's late bytes are dropped */
#define PENDING_MAX 65536        /* unparsed bytes kept; reading pauses beyond */
#define WRITE_MAX   (256u << 10) /* queued answer bytes beyond which parsing pauses */
#define CHUNK       65536        /* a streamed file's buffer, when sendfile() must wait */
/* Bytes per sendfile() call; conn_pump() repeats it while the socket takes them. */
#define SENDFILE_MAX (1u << 20)

static void conn_next(struct conn *c);
static void conn_close(struct conn *c);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static bool draining(const struct conn *c)
{
    return atomic_load_explicit(&c->loop->srv->draining, memory_order_relaxed);
}

static const struct server_config *config(const struct conn *c)
{
    return c->loop->srv->cfg;
}

static size_t unparsed(const struct conn *c)
{
    return c->pending_len - c->pending_off;
}

/* Writes queued, or a file still to send. */
static bool sending(const struct conn *c)
{
    return c->writes > 0 || c->stream;
}

/* Too much is queued for a client that does not read it fast enough. */
static bool backlogged(const struct conn *c)
{
    return c->stream || uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > WRITE_MAX;
}

/* Bytes still to go to the client: queued in libuv, the file's rest, and
 * what the kernel holds unacknowledged (its buffer can take megabytes, so
 * a client reading slowly drains it for seconds before libuv sees room). */
static uint64_t send_left(const struct conn *c)
{
    uint64_t left = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) + c->stream_left;
    uv_os_fd_t fd;
    int unacked;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &unacked) == 0)
        left += (uint64_t)unacked;
    return left;
}

static void exchange_free(struct exchange *ex)
{
    request_free(ex->req);
    response_release(&ex->resp);
    free(ex);
}

static void stream_end(struct conn *c)
{
    fentry_put(c->stream);
    c->stream = NULL;
    c->stream_left = 0;
}

/* ---- freeing ---- */

static void conn_free_if_done(struct conn *c)
{
    if (c->state != CONN_CLOSED || c->handles > 0 || c->inflight)
        return;
    struct ioloop *loop = c->loop;
    struct server *srv = loop->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        loop->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    loop->nconns--;
    atomic_fetch_sub(&srv->nconns, 1);
    atomic_fetch_sub_explicit(&srv->metrics.connections_open, 1, memory_order_relaxed);
    reader_free(&c->reader);
    request_free(c->next_req);
    stream_end(c);
    free(c->chunk);
    free(c->pending);
    free(c);
    loop_conn_gone(loop);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    c->handles--;
    conn_free_if_done(c);
}

/* Closes at once; queued writes are cancelled, an exchange out is told. */
static void conn_close(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    c->reading = false;
    if (c->inflight)
        atomic_store_explicit(&c->inflight->cancelled, true, memory_order_relaxed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *timer);

/* Arms the timer for `mode`, unless it already runs for it: a timer is
 * restarted only where a state's rule says so (conn_next()'s callers clear
 * timer_mode to ask for it). */
static void timer_keep(struct conn *c, enum timer_mode mode, unsigned ms)
{
    if (c->timer_mode == mode)
        return;
    c->timer_mode = mode;
    if (mode == TIMER_SEND)
        c->send_mark = send_left(c);
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void timer_off(struct conn *c)
{
    if (c->timer_mode != TIMER_OFF)
        uv_timer_stop(&c->timer);
    c->timer_mode = TIMER_OFF;
}

/* ---- writing ---- */

struct send {
    uv_write_t req;
    char *head;
    char *body;
    void (*body_free)(void *);
    struct fentry *file; /* keeps borrowed bytes alive */
};

static void send_free(struct send *s)
{
    free(s->head);
    if (s->body)
        response_body_release(s->body, s->body_free);
    fentry_put(s->file);
    free(s);
}

static void conn_pump(struct conn *c);

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->handle->data;
    send_free((struct send *)w);
    c->writes--;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->timer_mode == TIMER_SEND)
        c->timer_mode = TIMER_OFF; /* progress: the send timer starts again */
    if (c->stream && c->writes == 0)
        conn_pump(c);
    conn_next(c);
}

/* Queues s's head and `len` bytes of its body. A body of 4 GiB or more
 * (an /echo of a huge upload) takes several buffers: uv_buf_t's length is
 * an unsigned int. */
static void conn_write(struct conn *c, struct send *s, size_t head_len, size_t len)
{
    uv_buf_t bufs[8];
    unsigned n = 0;
    if (head_len)
        bufs[n++] = uv_buf_init(s->head, (unsigned)head_len);
    for (size_t off = 0; off < len && n < 8;) {
        size_t piece = len - off < (1u << 30) ? len - off : (1u << 30);
        bufs[n++] = uv_buf_init(s->body + off, (unsigned)piece);
        off += piece;
    }
    if (uv_write(&s->req, (uv_stream_t *)&c->tcp, bufs, n, on_write) != 0) {
        send_free(s);
        conn_close(c);
        return;
    }
    c->writes++;
}

/* sendfile() could not go on: the next piece goes through libuv, whose
 * completion says the socket took it, and then sendfile() resumes. */
static void pump_chunk(struct conn *c)
{
    struct send *s = calloc(1, sizeof *s);
    if (!c->chunk)
        c->chunk = malloc(CHUNK);
    if (!s || !c->chunk) {
        free(s);
        conn_close(c);
        return;
    }
    size_t want = c->stream_left < CHUNK ? (size_t)c->stream_left : CHUNK;
    ssize_t n;
    do
        n = pread(c->stream->fd, c->chunk, want, (off_t)c->stream_off);
    while (n < 0 && errno == EINTR);
    if (n <= 0) { /* the file shrank or failed: the promised length cannot be kept */
        free(s);
        conn_close(c);
        return;
    }
    c->stream_off += (uint64_t)n;
    c->stream_left -= (uint64_t)n;
    s->body = c->chunk;
    s->body_free = response_borrowed;
    conn_write(c, s, 0, (size_t)n);
}

/* Sends the file range with sendfile() while the socket takes it; called
 * only with no write queued, so the bytes stay in order. */
static void conn_pump(struct conn *c)
{
    uv_os_fd_t sock;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &sock) != 0) {
        conn_close(c);
        return;
    }
    while (c->stream_left > 0) {
        size_t want = c->stream_left < SENDFILE_MAX ? (size_t)c->stream_left : SENDFILE_MAX;
        off_t off = (off_t)c->stream_off;
        ssize_t n = sendfile(sock, c->stream->fd, &off, want);
        if (n > 0) {
            c->stream_off += (uint64_t)n;
            c->stream_left -= (uint64_t)n;
            if (c->timer_mode == TIMER_SEND)
                c->timer_mode = TIMER_OFF;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            pump_chunk(c);
        else
            conn_close(c);
        return;
    }
    stream_end(c);
}

/* ---- answering ---- */

static enum reader_event parse_pending(struct conn *c)
{
    size_t used;
    enum reader_event ev = reader_feed(&c->reader, c->pending + c->pending_off, unparsed(c), &used);
    c->pending_off += used;
    if (c->pending_off == c->pending_len)
        c->pending_off = c->pending_len = 0;
    return ev;
}

/* During a drain or after a half-close: is another complete request among
 * the bytes received? If so it is kept, to be answered too. */
static bool parse_ahead(struct conn *c)
{
    if (!c->next_req && unparsed(c) > 0 && parse_pending(c) == READER_REQUEST)
        c->next_req = reader_take(&c->reader);
    return c->next_req != NULL;
}

void conn_answer(struct conn *c, struct request *req, struct response *resp, uint64_t received_ns)
{
    struct ioloop *loop = c->loop;
    struct server *srv = loop->srv;
    bool close = resp->close || !req || !req->keep_alive || c->last;
    if (!close && (draining(c) || c->eof))
        close = !parse_ahead(c);
    bool keep_alive_10 = !close && req && req->http_minor == 0;
    bool no_body = (req && req->method == HTTP_HEAD) || resp->status == 304;
    if (!no_body && resp->body)
        resp->content_length = resp->body_len;
    uint64_t body_len = no_body ? 0 : resp->content_length;

    loop_update_clock(loop);
    size_t cap = 256 + resp->extra_len;
    struct send *s = calloc(1, sizeof *s);
    char *head = s ? malloc(cap) : NULL;
    size_t head_len = head ? response_head(resp, head, cap, loop->date, close, keep_alive_10) : 0;
    if (head_len == 0) {
        free(head);
        free(s);
        response_release(resp);
        request_free(req);
        conn_close(c);
        return;
    }
    metrics_request(&srv->metrics, resp->status, uv_hrtime() - received_ns);
    if (srv->log)
        access_log_request(srv->log, c->peer, loop->log_date, req, resp->status, body_len);
    s->head = head;
    size_t inline_len = 0;
    if (body_len && resp->body) {
        s->body = resp->body;
        s->body_free = resp->body_free;
        s->file = resp->file;
        inline_len = resp->body_len;
        resp->body = NULL;
        resp->file = NULL;
    } else if (body_len && resp->file) {
        c->stream = resp->file; /* sent once the head is out */
        c->stream_off = resp->file_off;
        c->stream_left = body_len;
        resp->file = NULL;
    }
    conn_write(c, s, head_len, inline_len);
    response_release(resp);
    request_free(req);
    if (close)
        c->last = true;
}

/* The bytes are not a request we can answer: say why, then close. */
static void conn_fail(struct conn *c, int status)
{
    request_free(reader_take(&c->reader)); /* its target may be incomplete: logged as "-" */
    struct response resp = {0};
    response_error(&resp, status);
    resp.close = true;
    conn_answer(c, NULL, &resp, uv_hrtime());
}

void conn_finished(struct conn *c, struct exchange *ex)
{
    c->inflight = NULL;
    if (c->state == CONN_CLOSED) {
        exchange_free(ex);
        conn_free_if_done(c);
        return;
    }
    conn_answer(c, ex->req, &ex->resp, ex->received_ns);
    free(ex);
    conn_next(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = handle->data;
    *buf = uv_buf_init(c->loop->read_buf, READ_CHUNK);
}

static void set_reading(struct conn *c, bool on)
{
    if (on && !c->reading)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    else if (!on && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void send_continue(struct conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct send *s = calloc(1, sizeof *s);
    if (s)
        s->head = malloc(sizeof line - 1);
    if (!s || !s->head) {
        free(s);
        conn_close(c);
        return;
    }
    memcpy(s->head, line, sizeof line - 1);
    c->continue_sent = true;
    conn_write(c, s, sizeof line - 1, 0);
}

/* Parses and dispatches the next request, if one is complete: true when
 * something was done (a request dispatched, or an error answered). */
static bool parse_next(struct conn *c)
{
    struct request *req = c->next_req; /* parsed ahead: it comes first */
    c->next_req = NULL;
    if (!req) {
        if (unparsed(c) == 0)
            return false;
        enum reader_event ev = parse_pending(c);
        if (ev == READER_MORE)
            return false;
        if (ev == READER_ERROR) {
            conn_fail(c, c->reader.status);
            return true;
        }
        req = reader_take(&c->reader);
    }
    c->continue_sent = false;
    c->timer_mode = TIMER_OFF; /* whatever comes next starts its timer afresh */
    dispatch(c, req, uv_hrtime());
    return true;
}

/* Enters a state: reading on or off, the state's timer, 100-continue. */
static void conn_enter(struct conn *c, enum conn_state state)
{
    const struct server_config *cfg = config(c);
    c->state = state;
    /* During a drain only a connection with an answer still to come reads
     * on: what arrives before that answer is answered too (new slow work
     * with 503 at once), and the answer that finds nothing more closes. */
    bool busy = state == CONN_HANDLING || state == CONN_SENDING;
    set_reading(c, (busy || !draining(c)) && !c->eof && unparsed(c) < PENDING_MAX &&
                       state != CONN_CLOSING);
    switch (state) {
    case CONN_WAITING:
        timer_keep(c, TIMER_IDLE, cfg->idle_timeout_ms);
        break;
    case CONN_READING:
        if (!reader_headers_done(&c->reader)) {
            /* not restarted by more bytes: a drip cannot stretch it */
            timer_keep(c, TIMER_HEAD, cfg->header_timeout_ms);
            break;
        }
        timer_keep(c, TIMER_BODY, cfg->header_timeout_ms); /* restarted by progress */
        if (c->reader.req && c->reader.req->expect_continue && !c->continue_sent)
            send_continue(c);
        break;
    case CONN_HANDLING:
        timer_off(c); /* the server, not the client, is the slow party */
        break;
    case CONN_SENDING:
    case CONN_CLOSING:
        timer_keep(c, TIMER_SEND, cfg->header_timeout_ms); /* restarted by progress */
        break;
    case CONN_LINGERING:
    case CONN_CLOSED:
        break;
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    /* Closing with unread bytes makes the kernel send a reset, which can
     * destroy the answer before the client reads it. So drain a while. */
    set_reading(c, true);
    timer_off(c);
    timer_keep(c, TIMER_LINGER, LINGER_MS);
}

/* Every write is out: shut the write side, then linger. */
static void conn_shutdown(struct conn *c)
{
    set_reading(c, false);
    timer_off(c);
    c->state = CONN_LINGERING;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

/* The one function that decides what the connection does next. */
static void conn_next(struct conn *c)
{
    for (;;) {
        if (c->state >= CONN_LINGERING)
            return;
        if (c->inflight) {
            conn_enter(c, CONN_HANDLING);
            return;
        }
        if (c->last) {
            if (sending(c))
                conn_enter(c, CONN_CLOSING);
            else
                conn_shutdown(c);
            return;
        }
        if (backlogged(c)) {
            conn_enter(c, CONN_SENDING);
            return;
        }
        if (parse_next(c))
            continue;
        if (draining(c) || c->eof) {
            /* only what was received counts; a partial request does not */
            c->last = true;
            continue;
        }
        conn_enter(c, reader_in_request(&c->reader) ? CONN_READING : CONN_WAITING);
        return;
    }
}

static void on_timer(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    enum timer_mode mode = c->timer_mode;
    c->timer_mode = TIMER_OFF;
    switch (mode) {
    case TIMER_IDLE:
        c->last = true;
        conn_next(c);
        break;
    case TIMER_HEAD:
    case TIMER_BODY:
        conn_fail(c, 408);
        conn_next(c);
        break;
    case TIMER_SEND:
        /* One write can outlast the timeout while the client takes it
         * steadily: the timer is for a client that took nothing. */
        if (send_left(c) < c->send_mark) {
            timer_keep(c, TIMER_SEND, config(c)->header_timeout_ms);
            break;
        }
        conn_close(c);
        break;
    case TIMER_LINGER: /* the client never closed */
        conn_close(c);
        break;
    case TIMER_OFF:
        break;
    }
}

/* Keeps the bytes just read; they are parsed from the connection's buffer. */
static int conn_keep(struct conn *c, const char *data, size_t n)
{
    if (c->pending_off > 0 && c->pending_len + n > c->pending_cap) {
        /* Parsed bytes go before the buffer grows: a pipeline that is never
         * caught up with would otherwise keep every byte it ever sent. */
        memmove(c->pending, c->pending + c->pending_off, unparsed(c));
        c->pending_len -= c->pending_off;
        c->pending_off = 0;
    }
    if (c->pending_len + n > c->pending_cap) {
        size_t cap = c->pending_cap ? c->pending_cap : 4096;
        while (cap < c->pending_len + n)
            cap *= 2;
        char *grown = realloc(c->pending, cap);
        if (!grown)
            return -1;
        c->pending = grown;
        c->pending_cap = cap;
    }
    memcpy(c->pending + c->pending_len, data, n);
    c->pending_len += n;
    return 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread == 0)
        return;
    if (c->state == CONN_LINGERING) { /* read and dropped, so that closing sends no reset */
        if (nread < 0)
            conn_close(c);
        return;
    }
    if (nread == UV_EOF) { /* a half-close: what was sent is still answered */
        c->eof = true;
        conn_next(c);
        return;
    }
    if (nread < 0 || conn_keep(c, buf->base, (size_t)nread) != 0) {
        conn_close(c);
        return;
    }
    if (c->timer_mode == TIMER_BODY)
        c->timer_mode = TIMER_OFF; /* progress: the body timer starts again */
    conn_next(c);
}

/* ---- accepting and draining ---- */

static void peer_name(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "-");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
}

void conn_accept(struct ioloop *loop, int fd)
{
    struct server *srv = loop->srv;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd); /* out of memory: shed it */
        metrics_out_of_descriptors(&srv->metrics, ENOMEM);
        return;
    }
    c->loop = loop;
    uv_tcp_init(&loop->uv, &c->tcp);
    uv_timer_init(&loop->uv, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    reader_init(&c->reader, srv->cfg->max_body);
    c->next = loop->conns;
    if (loop->conns)
        loop->conns->prev = c;
    loop->conns = c;
    loop->nconns++;
    size_t open = atomic_fetch_add(&srv->nconns, 1) + 1;
    atomic_fetch_add_explicit(&srv->metrics.connections_open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->metrics.connections_total, 1, memory_order_relaxed);
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    if (open > srv->cfg->max_connections) {
        struct response resp = {0};
        response_error(&resp, 503);
        resp.close = true;
        conn_answer(c, NULL, &resp, uv_hrtime());
    }
    conn_next(c);
}

void conn_drain(struct conn *c)
{
    conn_next(c);
}
