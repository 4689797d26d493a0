/*
 * server.c - the I/O side of rail-server; the protocol is in docs/server.md.
 *
 * One thread runs the libuv loop and owns every connection. A complete
 * request becomes an exchange, submitted to the pool with rail_try_submit;
 * the worker fills in the response and pushes the exchange on the done list,
 * then wakes the loop with uv_async_send. A connection has at most one
 * exchange in flight: pipelined requests wait, parsed or not, in its
 * buffer, so answers go out in order without any reordering.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rail.h>
#include <uv.h>

#include "access_log.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "version.h"

#define LINGER_MS   2000   /* how long a closing connection's late bytes are read and dropped */
#define READ_CHUNK  65536u /* bytes read from a socket at a time */
#define PENDING_MAX 65536  /* unparsed bytes kept while a request is in flight */

enum timer_mode { TIMER_OFF, TIMER_IDLE, TIMER_HEAD, TIMER_BODY, TIMER_LINGER };

struct conn;

/* One request and its answer, from the last byte of the request to the
 * hand-off of the answer to the socket. */
struct exchange {
    struct conn *conn;
    struct request *req; /* NULL for errors found while reading */
    struct response resp;
    uint64_t received_ns;
    bool slow;
    atomic_bool cancelled; /* the client went away while a worker had it */
    struct exchange *next; /* on the done list or the slow-waiting list */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    struct server *srv;
    struct reader reader;
    char *pending; /* bytes received and not yet parsed */
    size_t pending_off, pending_len, pending_cap;
    struct exchange *inflight; /* at most one */
    struct request *next_req;  /* parsed ahead during a drain */
    enum timer_mode timer_mode;
    unsigned writes;  /* uv_write()s not yet completed */
    unsigned handles; /* libuv handles not yet closed */
    bool reading;     /* uv_read_start() is in effect */
    bool closing;     /* no more requests: finish the writes, then linger and close */
    bool lingering;   /* write side shut; dropping what the client still sends */
    bool closed;      /* uv_close() called */
    bool continue_sent;
    bool eof; /* the client has half-closed: answer what came, then end */
    struct conn *prev, *next;
    char peer[64];
};

struct server {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake; /* workers: "the done list has answers" */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    const struct server_config *cfg;
    struct handler_ctx ctx;
    struct metrics metrics;
    struct access_log *log;
    rail_pool *pool;
    pthread_mutex_t done_lock;
    struct exchange *done; /* LIFO, pushed by workers */
    struct conn *conns;
    size_t nconns;
    unsigned slow_running, slow_max; /* see route_is_slow() */
    struct exchange *slow_head, *slow_tail;
    size_t slow_waiting;
    bool draining;
    bool loop_ready;
    time_t clock; /* the second the cached dates are for */
    char date[HTTP_DATE_LEN], log_date[32];
    char read_buf[READ_CHUNK];
};

static void conn_advance(struct conn *c, bool progress);
static void conn_end(struct conn *c);
static void conn_close(struct conn *c);

/* ---- small helpers ---- */

static void update_clock(struct server *srv)
{
    time_t now = time(NULL);
    if (now == srv->clock)
        return;
    srv->clock = now;
    http_date(now, srv->date);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(srv->log_date, sizeof srv->log_date, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

static void exchange_free(struct exchange *ex)
{
    request_free(ex->req);
    response_body_release(ex->resp.body, ex->resp.body_free);
    free(ex);
}

/* The drain is complete when the last connection is gone: close what
 * keeps the loop alive, so uv_run() returns. */
static void end_drain_if_done(struct server *srv)
{
    if (!srv->draining || srv->nconns > 0)
        return;
    uv_close((uv_handle_t *)&srv->wake, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
}

static void conn_free_if_done(struct conn *c)
{
    if (!c->closed || c->handles > 0 || c->inflight)
        return;
    struct server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    atomic_fetch_sub_explicit(&srv->metrics.connections_open, 1, memory_order_relaxed);
    reader_free(&c->reader);
    request_free(c->next_req);
    free(c->pending);
    free(c);
    end_drain_if_done(srv);
}

/* Access log quoting: '"', '\\' and bytes outside printable ASCII as \xHH. */
static size_t log_quote(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
        else
            out[n++] = (char)ch;
    }
    out[n] = '\0';
    return n;
}

/* One line of Combined Log Format. */
static void log_exchange(struct server *srv, const struct exchange *ex, size_t body_sent)
{
    if (!srv->log)
        return;
    char target[1024], referer[512], agent[512], line[2600];
    const struct request *req = ex->req;
    log_quote(target, sizeof target, req ? request_target(req) : NULL);
    log_quote(referer, sizeof referer, req ? request_header(req, "referer") : NULL);
    log_quote(agent, sizeof agent, req ? request_header(req, "user-agent") : NULL);
    char bytes[24] = "-";
    if (body_sent)
        snprintf(bytes, sizeof bytes, "%zu", body_sent);
    int n;
    if (req)
        n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s HTTP/%d.%d\" %d %s \"%s\" \"%s\"",
                     ex->conn->peer, srv->log_date, llhttp_method_name(req->method), target,
                     req->http_major, req->http_minor, ex->resp.status, bytes,
                     referer[0] ? referer : "-", agent[0] ? agent : "-");
    else
        n = snprintf(line, sizeof line, "%s - - [%s] \"-\" %d %s \"-\" \"-\"", ex->conn->peer,
                     srv->log_date, ex->resp.status, bytes);
    if (n > 0)
        access_log_line(srv->log, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- writing ---- */

struct write_req {
    uv_write_t req;
    char *head, *body;
    void (*body_free)(void *); /* NULL: free() */
};

static void on_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = w->handle->data;
    free(wr->head);
    response_body_release(wr->body, wr->body_free);
    free(wr);
    c->writes--;
    if (status < 0)
        conn_close(c);
    else if (c->closing && c->writes == 0)
        conn_end(c);
}

/* Queues head (malloc'd) and body (released by body_free) on the socket;
 * both are taken over. */
static void conn_write(struct conn *c, char *head, size_t head_len, char *body, size_t body_len,
                       void (*body_free)(void *))
{
    struct write_req *wr = malloc(sizeof *wr);
    if (!wr) {
        free(head);
        response_body_release(body, body_free);
        conn_close(c);
        return;
    }
    wr->head = head;
    wr->body = body;
    wr->body_free = body_free;
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)head_len),
                        uv_buf_init(body, (unsigned)body_len)};
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, bufs, body_len ? 2 : 1, on_write) != 0) {
        free(head);
        response_body_release(body, body_free);
        free(wr);
        conn_close(c);
        return;
    }
    c->writes++;
}

/* Feeds the connection's unparsed bytes to its reader, up to the end of
 * the next complete request. */
static enum reader_event conn_parse_pending(struct conn *c)
{
    size_t used;
    enum reader_event ev = reader_feed(&c->reader, c->pending + c->pending_off,
                                       c->pending_len - c->pending_off, &used);
    c->pending_off += used;
    return ev;
}

/* During a drain, is there another complete request among the bytes
 * already received? If so it is kept in next_req, to be answered too. */
static bool conn_parse_ahead(struct conn *c)
{
    if (!c->next_req && c->pending_off < c->pending_len && conn_parse_pending(c) == READER_REQUEST)
        c->next_req = reader_take(&c->reader);
    return c->next_req != NULL;
}

/* Sends ex's answer and frees ex. Connection-level headers are decided
 * here: whether the connection stays open is known only on this side. */
static void conn_respond(struct conn *c, struct exchange *ex)
{
    struct server *srv = c->srv;
    struct request *req = ex->req;
    struct response *resp = &ex->resp;
    bool close = resp->close || !req || !req->keep_alive || c->closing;
    if (!close && (srv->draining || c->eof))
        close = !conn_parse_ahead(c);
    bool keep_alive_10 = !close && req && req->http_minor == 0;
    bool send_body =
        resp->body && resp->body_len && !(req && req->method == HTTP_HEAD) && resp->status != 304;

    update_clock(srv);
    size_t cap = 256 + resp->extra_len;
    char *head = malloc(cap);
    size_t head_len = head ? response_head(resp, head, cap, srv->date, close, keep_alive_10) : 0;
    if (head_len == 0) {
        free(head);
        conn_close(c);
    } else {
        metrics_request(&srv->metrics, resp->status, uv_hrtime() - ex->received_ns);
        log_exchange(srv, ex, send_body ? resp->body_len : 0);
        conn_write(c, head, head_len, send_body ? resp->body : NULL, send_body ? resp->body_len : 0,
                   resp->body_free);
        if (send_body)
            resp->body = NULL; /* the write owns it now */
    }
    exchange_free(ex);
    if (close)
        conn_end(c);
}

/* An answer from the I/O side, for requests that never reach a handler. */
static void conn_answer_now(struct conn *c, struct request *req, int status, bool close)
{
    struct exchange *ex = calloc(1, sizeof *ex);
    if (!ex) {
        request_free(req);
        conn_close(c);
        return;
    }
    ex->conn = c;
    ex->req = req;
    ex->received_ns = uv_hrtime();
    response_error(&ex->resp, status);
    if (status == 503)
        response_header(&ex->resp, "Retry-After", "1");
    ex->resp.close = close;
    conn_respond(c, ex);
}

/* The bytes are not a request we can answer: say why, then close. */
static void conn_fail(struct conn *c, int status)
{
    struct request *partial = reader_take(&c->reader);
    request_free(partial); /* its target may be incomplete: logged as "-" */
    conn_answer_now(c, NULL, status, true);
}

/* ---- the pool side ---- */

/* Runs on a worker. */
static void run_exchange(void *arg)
{
    struct exchange *ex = arg;
    struct server *srv = ex->conn->srv;
    struct job_info job = {.received_ns = ex->received_ns, .cancelled = &ex->cancelled};
    handle_request(&srv->ctx, ex->req, &job, &ex->resp);
    if (ex->resp.status == 0)
        response_error(&ex->resp, 500);
    pthread_mutex_lock(&srv->done_lock);
    ex->next = srv->done;
    srv->done = ex;
    pthread_mutex_unlock(&srv->done_lock);
    uv_async_send(&srv->wake);
}

static void overloaded(struct exchange *ex)
{
    struct conn *c = ex->conn;
    atomic_fetch_add_explicit(&c->srv->metrics.overloaded, 1, memory_order_relaxed);
    c->inflight = NULL;
    struct request *req = ex->req;
    ex->req = NULL;
    free(ex);
    conn_answer_now(c, req, 503, false);
}

/* Hands ex to the pool; a full queue is answered 503 at once (and ex is
 * gone: returns -1). */
static int submit(struct exchange *ex)
{
    struct server *srv = ex->conn->srv;
    if (ex->slow)
        srv->slow_running++;
    if (rail_try_submit(srv->pool, run_exchange, ex) == 0)
        return 0;
    if (ex->slow)
        srv->slow_running--;
    overloaded(ex);
    return -1;
}

static void dispatch(struct conn *c, struct request *req)
{
    struct server *srv = c->srv;
    struct exchange *ex = calloc(1, sizeof *ex);
    if (!ex) {
        conn_answer_now(c, req, 503, false);
        return;
    }
    ex->conn = c;
    ex->req = req;
    ex->received_ns = uv_hrtime();
    ex->slow = route_is_slow(req);
    c->inflight = ex;
    c->continue_sent = false;
    if (ex->slow && srv->slow_running >= srv->slow_max) {
        /* Every worker but one is on a slow route: wait here, not in the
         * pool's queue, where quick requests would queue behind it. */
        if (srv->slow_waiting >= srv->cfg->queue) {
            overloaded(ex);
            return;
        }
        if (srv->slow_tail)
            srv->slow_tail->next = ex;
        else
            srv->slow_head = ex;
        srv->slow_tail = ex;
        srv->slow_waiting++;
        return;
    }
    (void)submit(ex);
}

static void slow_done(struct server *srv)
{
    srv->slow_running--;
    while (srv->slow_head && srv->slow_running < srv->slow_max) {
        struct exchange *ex = srv->slow_head;
        srv->slow_head = ex->next;
        if (!srv->slow_head)
            srv->slow_tail = NULL;
        srv->slow_waiting--;
        ex->next = NULL;
        if (ex->conn->closed) { /* the client went away while it waited */
            struct conn *c = ex->conn;
            c->inflight = NULL;
            exchange_free(ex);
            conn_free_if_done(c);
            continue;
        }
        struct conn *c = ex->conn;
        if (submit(ex) != 0) /* answered 503 already: go on with its connection */
            conn_advance(c, false);
    }
}

static void finish(struct exchange *ex)
{
    struct conn *c = ex->conn;
    struct server *srv = c->srv;
    c->inflight = NULL;
    if (ex->slow)
        slow_done(srv);
    if (c->closed) {
        exchange_free(ex);
        conn_free_if_done(c);
        return;
    }
    conn_respond(c, ex);
    conn_advance(c, false);
}

static void on_wake(uv_async_t *handle)
{
    struct server *srv = handle->data;
    pthread_mutex_lock(&srv->done_lock);
    struct exchange *list = srv->done;
    srv->done = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    struct exchange *fifo = NULL; /* answer in completion order */
    while (list) {
        struct exchange *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct exchange *next = fifo->next;
        finish(fifo);
        fifo = next;
    }
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    /* One buffer for the whole loop: each read is consumed before the next. */
    struct conn *c = handle->data;
    *buf = uv_buf_init(c->srv->read_buf, READ_CHUNK);
}

static void on_timer(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    enum timer_mode mode = c->timer_mode;
    c->timer_mode = TIMER_OFF;
    if (mode == TIMER_HEAD || mode == TIMER_BODY)
        conn_fail(c, 408);
    else if (mode == TIMER_IDLE)
        conn_end(c);
    else if (mode == TIMER_LINGER)
        conn_close(c);
}

static void timer_set(struct conn *c, enum timer_mode mode, unsigned ms)
{
    c->timer_mode = mode;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Between requests the idle timeout runs; from a request's first byte the
 * header timeout, which more bytes do not restart (a slow client cannot
 * stretch it); in the body, the same timeout restarts on every read. */
static void conn_arm_timer(struct conn *c, bool progress)
{
    const struct server_config *cfg = c->srv->cfg;
    if (!reader_in_request(&c->reader)) {
        if (c->timer_mode != TIMER_IDLE)
            timer_set(c, TIMER_IDLE, cfg->idle_timeout_ms);
    } else if (!reader_headers_done(&c->reader)) {
        if (c->timer_mode != TIMER_HEAD)
            timer_set(c, TIMER_HEAD, cfg->header_timeout_ms);
    } else if (c->timer_mode != TIMER_BODY || progress) {
        timer_set(c, TIMER_BODY, cfg->header_timeout_ms);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct conn *c)
{
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void conn_read_stop(struct conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void send_continue(struct conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char *copy = malloc(sizeof line - 1);
    if (!copy) {
        conn_close(c);
        return;
    }
    memcpy(copy, line, sizeof line - 1);
    c->continue_sent = true;
    conn_write(c, copy, sizeof line - 1, NULL, 0, NULL);
}

/* Parses what has been received, one request at a time, until a request is
 * in flight, the bytes run out, or the connection is closing. `progress`:
 * called because bytes arrived. */
static void conn_advance(struct conn *c, bool progress)
{
    while (!c->inflight && !c->closing) {
        struct request *req = c->next_req; /* parsed ahead: it comes first */
        c->next_req = NULL;
        if (!req) {
            if (c->pending_off == c->pending_len)
                break;
            enum reader_event ev = conn_parse_pending(c);
            if (ev == READER_ERROR) {
                conn_fail(c, c->reader.status);
                break;
            }
            if (ev == READER_MORE)
                continue;
            req = reader_take(&c->reader);
        }
        dispatch(c, req);
    }
    if (c->pending_off == c->pending_len)
        c->pending_off = c->pending_len = 0;
    if (c->closing || c->closed)
        return;
    if (c->inflight) {
        /* Reading goes on (stopping and restarting would cost two
         * epoll_ctl calls a request), but what one client can make us
         * buffer is bounded. */
        if (c->pending_len - c->pending_off >= PENDING_MAX)
            conn_read_stop(c);
        uv_timer_stop(&c->timer);
        c->timer_mode = TIMER_OFF;
        return;
    }
    if (c->srv->draining || c->eof) {
        conn_end(c);
        return;
    }
    struct request *partial = c->reader.req;
    if (partial && partial->expect_continue && !c->continue_sent && reader_headers_done(&c->reader))
        send_continue(c);
    conn_read_start(c);
    conn_arm_timer(c, progress);
}

/* Keeps the bytes just read; they are parsed from the connection's buffer. */
static int conn_keep(struct conn *c, const char *data, size_t n)
{
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
    if (nread == UV_EOF && !c->lingering) {
        /* A half-close: what was sent is still answered. */
        c->eof = true;
        conn_read_stop(c);
        if (!c->inflight)
            conn_advance(c, false);
        return;
    }
    if (nread < 0) { /* an error, or the end of a lingering close */
        conn_close(c);
        return;
    }
    if (c->lingering)
        return; /* read and dropped, so that closing does not reset the answer */
    if (conn_keep(c, buf->base, (size_t)nread) != 0) {
        conn_close(c);
        return;
    }
    conn_advance(c, true);
}

/* ---- connection lifetime ---- */

static void on_handle_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    c->handles--;
    conn_free_if_done(c);
}

/* Closes at once; writes still queued are cancelled. */
static void conn_close(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = c->closing = true;
    c->reading = false;
    if (c->inflight) /* a worker may have it: let a long job stop early */
        atomic_store_explicit(&c->inflight->cancelled, true, memory_order_relaxed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closed)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    /* Closing with unread bytes makes the kernel send a reset, which can
     * destroy the answer before the client reads it. So drain a while. */
    c->lingering = true;
    conn_read_start(c);
    timer_set(c, TIMER_LINGER, LINGER_MS);
}

/* Ends the connection gracefully: no more requests; once every queued
 * write is out, shut the write side, linger, close. */
static void conn_end(struct conn *c)
{
    if (c->closed || c->lingering)
        return;
    c->closing = true;
    if (c->inflight)
        return; /* finish() answers it, then comes back here */
    conn_read_stop(c);
    uv_timer_stop(&c->timer);
    c->timer_mode = TIMER_OFF;
    if (c->writes > 0)
        return; /* on_write() comes back here */
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
    else
        c->lingering = true; /* in effect from now: no second shutdown */
}

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

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *srv = listener->data;
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return; /* stays in the backlog; accepted when memory allows */
    c->srv = srv;
    uv_tcp_init(&srv->loop, &c->tcp);
    uv_timer_init(&srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    reader_init(&c->reader, srv->cfg->max_body);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    atomic_fetch_add_explicit(&srv->metrics.connections_open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->metrics.connections_total, 1, memory_order_relaxed);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    if (srv->nconns > srv->cfg->max_connections) {
        conn_answer_now(c, NULL, 503, true);
        return;
    }
    conn_advance(c, false);
}

/* ---- shutdown ---- */

static void on_drain_timeout(uv_timer_t *timer)
{
    struct server *srv = timer->data;
    fprintf(stderr,
            "rail-server: drain not finished after %u ms: exiting with %zu connection(s) open\n",
            srv->cfg->shutdown_timeout_ms, srv->nconns);
    if (srv->log)
        access_log_flush(srv->log);
    _exit(1);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct server *srv = handle->data;
    if (srv->draining) {
        fprintf(stderr, "rail-server: second signal (%s): exiting now\n", strsignal(signum));
        if (srv->log)
            access_log_flush(srv->log);
        _exit(1);
    }
    fprintf(stderr, "rail-server: %s: draining %zu connection(s)\n", strsignal(signum),
            srv->nconns);
    srv->draining = true;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_timer_start(&srv->drain_timer, on_drain_timeout, srv->cfg->shutdown_timeout_ms, 0);
    /* Idle connections end now; busy ones after their answer (conn_respond). */
    for (struct conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (!c->inflight)
            conn_end(c);
        else
            conn_read_stop(c); /* only what was received before the signal */
    }
    end_drain_if_done(srv);
}

/* ---- start ---- */

static int listen_on(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    struct sockaddr_storage addr;
    int rc = strchr(cfg->host, ':')
                 ? uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr)
                 : uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr);
    if (rc == 0)
        rc = uv_tcp_init(&srv->loop, &srv->listener);
    if (rc == 0) {
        srv->listener.data = srv;
        rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        fprintf(stderr, "rail-server: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                uv_strerror(rc));
        return -1;
    }
    int len = sizeof addr;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&addr, &len);
    int port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                : ((struct sockaddr_in *)&addr)->sin_port);
    const char *fmt = strchr(cfg->host, ':') ? "http://[%s]:%d/" : "http://%s:%d/";
    printf("rail-server %s: listening on ", RAIL_SERVER_VERSION);
    printf(fmt, cfg->host, port);
    printf(" (root %s, %u workers, queue %zu)\n", srv->ctx.root.real, srv->cfg->threads,
           cfg->queue);
    fflush(stdout);
    return 0;
}

static int start(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    if (docroot_open(&srv->ctx.root, cfg->root) != 0) {
        fprintf(stderr, "rail-server: document root %s: %s\n", cfg->root, strerror(errno));
        return -1;
    }
    rail_options opts = {.threads = cfg->threads, .queue_capacity = cfg->queue};
    int rc = rail_pool_create(&srv->pool, &opts);
    if (rc != 0) {
        fprintf(stderr, "rail-server: cannot start the pool: %s\n", strerror(rc));
        return -1;
    }
    rail_stats stats;
    rail_pool_stats(srv->pool, &stats);
    srv->slow_max = stats.threads > 1 ? stats.threads - 1 : 1;
    srv->ctx.pool = srv->pool;
    srv->ctx.metrics = &srv->metrics;
    srv->ctx.sleep_ms = cfg->sleep_ms;
    if (handlers_open(&srv->ctx, cfg) != 0)
        return -1;
    if (cfg->access_log &&
        !(srv->log = access_log_open(cfg->access_log, &srv->metrics.log_dropped))) {
        fprintf(stderr, "rail-server: access log %s: %s\n", cfg->access_log, strerror(errno));
        return -1;
    }
    uv_loop_init(&srv->loop);
    srv->loop_ready = true;
    uv_async_init(&srv->loop, &srv->wake, on_wake);
    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    uv_timer_init(&srv->loop, &srv->drain_timer);
    srv->wake.data = srv->sigterm.data = srv->sigint.data = srv->drain_timer.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    update_clock(srv);
    return listen_on(srv);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Closes whatever handles a failed start left open, then the loop. */
static void close_loop(struct server *srv)
{
    uv_walk(&srv->loop, close_handle, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&srv->loop);
}

int server_run(const struct server_config *cfg)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        fprintf(stderr, "rail-server: out of memory\n");
        return 1;
    }
    srv->cfg = cfg;
    srv->ctx.root.fd = -1;
    pthread_mutex_init(&srv->done_lock, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a signal */
    int status = 1;
    if (start(srv) == 0) {
        uv_run(&srv->loop, UV_RUN_DEFAULT);
        status = 0;
        fprintf(stderr, "rail-server: drained, exiting\n");
    }
    if (srv->pool) {
        rail_shutdown(srv->pool, RAIL_DRAIN, NULL);
        rail_pool_destroy(srv->pool);
    }
    access_log_close(srv->log);
    if (srv->loop_ready)
        close_loop(srv);
    handlers_close(&srv->ctx);
    if (srv->ctx.root.fd >= 0)
        docroot_close(&srv->ctx.root);
    pthread_mutex_destroy(&srv->done_lock);
    free(srv);
    return status;
}
