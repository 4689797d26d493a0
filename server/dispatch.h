/*
 * dispatch.h - where a request is answered, and how the answer comes back.
 *
 * A complete request is answered in one of three places, decided here:
 *   - on the I/O loop that read it, when that costs nothing (/health,
 *     /metrics, errors, a static file whose bytes are cached:
 *     handle_on_loop());
 *   - on a pool worker, as an exchange submitted with rail_try_submit();
 *   - in the slow lane (route_is_slow(): /sleep), which lets slow requests
 *     hold at most every worker but one, so a quick request always finds a
 *     worker. Slow requests beyond that wait in the lane, bounded so that
 *     what waits can finish within --shutdown-timeout.
 * A full queue is answered 503 with Retry-After at once.
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
    bool slow;
    struct exchange *next; /* on a done list or in the slow lane */
};

/* The slow lane, shared by every loop. */
struct lane {
    pthread_mutex_t lock;
    unsigned running, max; /* slow exchanges on workers, and the cap */
    size_t waiting, bound; /* waiting for a slot, and how many may */
    struct exchange *head, *tail;
};

void lane_init(struct lane *lane, unsigned max, size_t bound);
void lane_destroy(struct lane *lane);

/* Answers req (taking it) on the loop, or hands it to the pool or the slow
 * lane (c->inflight is then set until dispatch_collect() answers it). */
void dispatch(struct conn *c, struct request *req, uint64_t received_ns);

/* The loop's wake-up: answers every exchange its workers finished. */
void dispatch_collect(struct ioloop *loop);

#endif
