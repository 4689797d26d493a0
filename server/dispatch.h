/*
 * dispatch.h - where a request is answered, and how the answer comes back.
 *
 * A complete request is answered in one of three places, decided here:
 *   - on the I/O loop that read it, when that costs nothing (/health,
 *     /metrics, errors, a static file whose bytes are cached:
 *     handle_on_loop());
 *   - on a pool worker, as an exchange submitted with rail_try_submit();
 *   - in the slow lane, which lets slow work hold at most every worker but
 *     one, so a quick request always finds a worker. Slow work beyond that
 *     waits in the lane, bounded so that what waits can finish within
 *     --shutdown-timeout. A slow route (route_is_slow(): /sleep) enters it
 *     from the loop; a resize whose image is heavy (RESIZE_HEAVY_PIXELS)
 *     is found so on a worker, once its header is read, and enters it from
 *     there, leaving the worker to quick requests when no slot is free.
 * A full queue or lane is answered 503 with Retry-After at once.
 *
 * A worker that finished an exchange pushes it on its loop's done list (a
 * lock-free stack) and wakes the loop only when the list was empty: one
 * uv_async_send per batch, however many exchanges finish meanwhile. The
 * loop takes the whole list and writes the answers in completion order.
 */
#ifndef RAIL_SERVER_DISPATCH_H
#define RAIL_SERVER_DISPATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "request.h"
#include "response.h"

struct conn;
struct ioloop;

/* One request on its way through a worker and back. */
struct exchange {
    struct conn *conn;
    struct ioloop *loop; /* the conn's loop, where the answer is written */
    struct request *req;
    struct response resp;
    uint64_t received_ns;
    atomic_bool cancelled; /* the client went away: skip the work */
    bool slow;             /* holds or waits for a slot of the slow lane */
    struct exchange *next; /* on a done list or in the slow lane */
};

/* The slow lane, shared by every loop. */
struct lane {
    pthread_mutex_t lock;
    unsigned running, max; /* slow exchanges on workers, and the cap */
    size_t waiting;        /* waiting for a slot */
    size_t bound;          /* how many may wait: for a slow route, what drains in time */
    size_t bound_heavy;    /* for a heavy resize, which carries its own deadline */
    struct exchange *head, *tail;
    struct metrics *metrics; /* its gauges, for /metrics */
};

void lane_init(struct lane *lane, unsigned max, size_t bound, size_t bound_heavy,
               struct metrics *metrics);
void lane_destroy(struct lane *lane);

/* Answers req (taking it) on the loop, or hands it to the pool or the slow
 * lane (c->inflight is then set until dispatch_collect() answers it). */
void dispatch(struct conn *c, struct request *req, uint64_t received_ns);

/* The loop's wake-up: answers every exchange its workers finished. */
void dispatch_collect(struct ioloop *loop);

#endif
