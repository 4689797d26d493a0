/*
 * loop.h - the I/O loops and the state they share (docs/server.md).
 *
 * rail-server runs one libuv loop per I/O thread (--io-threads, default:
 * online CPUs). Each loop has its own listening socket on the same port
 * (SO_REUSEPORT: the kernel spreads new connections), its own connections,
 * and its own done list, where workers leave the exchanges they finished.
 * Everything the loops share is in struct server: the pool, the handlers'
 * context, the metrics, the slow lane, and the drain.
 */
#ifndef RAIL_SERVER_LOOP_H
#define RAIL_SERVER_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <rail.h>
#include <uv.h>

#include "dispatch.h"
#include "handlers.h"
#include "metrics.h"
#include "response.h"
#include "server.h"

#define READ_CHUNK      65536u /* bytes read from a socket at a time */
#define ACCEPT_BATCH    64     /* connections accepted per wake-up, at most */
#define ACCEPT_PAUSE_MS 100    /* accepting pauses this long when descriptors run out */

struct conn;

struct ioloop {
    struct server *srv;
    unsigned index; /* 0 runs on the main thread and owns the signals */
    uv_loop_t uv;
    int listen_fd;                   /* this loop's listening socket (SO_REUSEPORT) */
    uv_poll_t accept_poll;           /* readable: connections wait in its backlog */
    uv_timer_t accept_wait;          /* the pause after running out of descriptors */
    uv_async_t wake;                 /* "the done list has answers", or "drain" */
    _Atomic(struct exchange *) done; /* pushed by workers, taken whole by the loop */
    struct conn *conns;              /* this loop's connections */
    size_t nconns;
    bool ready; /* uv_loop_init() succeeded: loop_close() has work */
    bool drain_begun, finished;
    time_t clock; /* the second the cached dates are for */
    char date[HTTP_DATE_LEN], log_date[32];
    pthread_t thread;
    char read_buf[READ_CHUNK]; /* each read is consumed before the next */
};

struct server {
    const struct server_config *cfg;
    struct handler_ctx ctx;
    struct metrics metrics;
    struct access_log *log;
    rail_pool *pool;
    struct lane slow;             /* see dispatch.h */
    atomic_bool draining;         /* a signal came: no new connections or requests */
    atomic_size_t nconns;         /* over every loop, for --max-connections */
    pthread_mutex_t live_lock;    /* guards live and returned */
    pthread_cond_t returned_cond; /* an I/O thread's loop returned */
    unsigned live;                /* loops still serving: see loop_finish_if_done() */
    unsigned returned;            /* I/O threads whose loop returned */
    unsigned nloops;
    struct ioloop *loops;
    uv_signal_t sigterm, sigint; /* on loop 0 */
    uv_timer_t drain_timer;      /* on loop 0 */
    uv_timer_t trim_timer;       /* on loop 0: malloc_trim() when idle (server.c) */
    uint64_t trimmed_at;         /* the pool's completed count at the last trim */
};

/* Sets up loop `index` of srv, listening on the bound socket `fd` (taken).
 * 0, or a libuv error code. */
int loop_init(struct ioloop *loop, struct server *srv, unsigned index, int fd);
/* Closes whatever handles are open, then the loop. */
void loop_close(struct ioloop *loop);
/* Runs the loop until its drain is complete. */
void loop_run(struct ioloop *loop);
/* Begins this loop's drain: the listener closes, idle connections end,
 * busy ones end after answering what they received. */
void loop_drain(struct ioloop *loop);
/* Refreshes the loop's cached HTTP and log dates when the second changed. */
void loop_update_clock(struct ioloop *loop);
/* A connection of this loop is gone: ends the loop when it was the last
 * one of a drain. */
void loop_conn_gone(struct ioloop *loop);

#endif
