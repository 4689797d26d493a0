/*
 * conn.h - one client connection, as one state machine (docs/server.md).
 *
 *   WAITING ──bytes──▶ READING ──request──▶ answered on the loop, or
 *      ▲                                    HANDLING (an exchange is out)
 *      └──────── answer queued, backlog small ◀──┘
 *   SENDING: answers queued beyond WRITE_MAX, or a file streaming: the
 *            connection's pipelined requests wait unparsed (backpressure)
 *   CLOSING: no more requests; the last answers are being written
 *   LINGERING: write side shut; reading and dropping until the client closes
 *   CLOSED: handles closing; freed when they are and no exchange is out
 *
 * Every event (bytes, end of input, an answer, a write done, a timer, the
 * drain) updates what the connection knows and calls conn_next(), the one
 * function that decides the next state. All of it runs on the connection's
 * loop.
 */
#ifndef RAIL_SERVER_CONN_H
#define RAIL_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "request.h"
#include "response.h"

struct exchange;
struct fentry;
struct ioloop;

enum conn_state {
    CONN_WAITING,   /* between requests: the idle timer runs */
    CONN_READING,   /* a request partly received: the head or body timer */
    CONN_HANDLING,  /* an exchange is on the pool: no timer */
    CONN_SENDING,   /* backlogged: not parsing; the send timer */
    CONN_CLOSING,   /* finishing the last writes: the send timer */
    CONN_LINGERING, /* write side shut: the linger timer */
    CONN_CLOSED,
};

enum timer_mode { TIMER_OFF, TIMER_IDLE, TIMER_HEAD, TIMER_BODY, TIMER_SEND, TIMER_LINGER };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    struct ioloop *loop;
    enum conn_state state;
    enum timer_mode timer_mode;
    struct reader reader;
    char *pending; /* bytes received and not yet parsed */
    size_t pending_off, pending_len, pending_cap;
    struct exchange *inflight; /* at most one */
    struct request *next_req;  /* parsed ahead to decide a drain's last answer */
    struct fentry *stream;     /* a file being sent after the queued writes */
    uint64_t stream_off, stream_left;
    uint64_t send_mark; /* bytes left to send when the send timer was armed */
    char *chunk;        /* the stream's buffer when sendfile() must wait */
    unsigned writes;    /* uv_write()s not yet completed */
    unsigned handles;   /* libuv handles not yet closed */
    bool reading;       /* uv_read_start() is in effect */
    bool last;          /* no request after those answered now */
    bool eof;           /* the client half-closed: answer what came, then end */
    bool continue_sent;
    struct conn *prev, *next; /* the loop's list */
    char peer[64];
};

/* Takes fd, a connection just accepted by the loop. */
void conn_accept(struct ioloop *loop, int fd);

/* Queues the answer to req (taking both; resp's body moves to the write).
 * req is NULL for errors found while reading. Decides the connection-level
 * headers: only this side knows whether the connection stays open. */
void conn_answer(struct conn *c, struct request *req, struct response *resp, uint64_t received_ns);

/* A worker's exchange is back on the loop: answer it (or drop it, when
 * the connection is gone) and go on. */
void conn_finished(struct conn *c, struct exchange *ex);

/* The drain began: stop reading, end when what was received is answered. */
void conn_drain(struct conn *c);

#endif
