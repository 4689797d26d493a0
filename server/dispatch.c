/* dispatch.c - where a request is answered; see dispatch.h. */
#include "dispatch.h"

#include <stdlib.h>

#include <rail.h>
#include <uv.h>

#include "conn.h"
#include "handlers.h"
#include "loop.h"

void lane_init(struct lane *lane, unsigned max, size_t bound)
{
    pthread_mutex_init(&lane->lock, NULL);
    lane->max = max;
    lane->bound = bound;
}

void lane_destroy(struct lane *lane)
{
    pthread_mutex_destroy(&lane->lock);
}

/* ---- on a worker ---- */

/* Hands a finished exchange back to its loop. The loop is woken only when
 * the list was empty: otherwise a wake-up is already on its way, and the
 * loop takes the whole list when it comes. */
static void complete(struct exchange *ex)
{
    struct ioloop *loop = ex->loop;
    struct exchange *old = atomic_load_explicit(&loop->done, memory_order_relaxed);
    do
        ex->next = old;
    while (!atomic_compare_exchange_weak_explicit(&loop->done, &old, ex, memory_order_release,
                                                  memory_order_relaxed));
    if (!old)
        uv_async_send(&loop->wake);
}

static void handle(struct exchange *ex)
{
    if (atomic_load_explicit(&ex->cancelled, memory_order_relaxed))
        return; /* nobody to answer: the loop frees it */
    struct job_info job = {.received_ns = ex->received_ns, .cancelled = &ex->cancelled};
    handle_request(&ex->loop->srv->ctx, ex->req, &ex->resp, &job);
    if (ex->resp.status == 0)
        response_error(&ex->resp, 500);
}

static void run(void *arg)
{
    struct exchange *ex = arg;
    handle(ex);
    complete(ex);
}

/* A slow exchange, then every one that waits in the lane, on this worker:
 * the slot is given up only when nothing waits (so waiting > 0 implies
 * running == max). */
static void run_slow(void *arg)
{
    struct exchange *ex = arg;
    struct lane *lane = &ex->loop->srv->slow;
    while (ex) {
        handle(ex);
        complete(ex);
        pthread_mutex_lock(&lane->lock);
        ex = lane->head;
        if (ex) {
            lane->head = ex->next;
            if (!lane->head)
                lane->tail = NULL;
            lane->waiting--;
        } else {
            lane->running--;
        }
        pthread_mutex_unlock(&lane->lock);
    }
}

/* ---- on the loop ---- */

enum lane_verdict { LANE_RUN, LANE_WAIT, LANE_FULL };

/* Draining refuses new slow work: what waits was sized to finish in time,
 * anything more might not. */
static enum lane_verdict lane_enter(struct lane *lane, struct exchange *ex, bool draining)
{
    enum lane_verdict v = LANE_FULL;
    pthread_mutex_lock(&lane->lock);
    if (draining) {
        v = LANE_FULL;
    } else if (lane->running < lane->max) {
        lane->running++;
        v = LANE_RUN;
    } else if (lane->waiting < lane->bound) {
        ex->next = NULL;
        if (lane->tail)
            lane->tail->next = ex;
        else
            lane->head = ex;
        lane->tail = ex;
        lane->waiting++;
        v = LANE_WAIT;
    }
    pthread_mutex_unlock(&lane->lock);
    return v;
}

static void lane_leave(struct lane *lane)
{
    pthread_mutex_lock(&lane->lock);
    lane->running--;
    pthread_mutex_unlock(&lane->lock);
}

/* 503 with Retry-After, at once, from the loop. */
static void overloaded(struct conn *c, struct exchange *ex)
{
    atomic_fetch_add_explicit(&c->loop->srv->metrics.overloaded, 1, memory_order_relaxed);
    c->inflight = NULL;
    struct request *req = ex->req;
    uint64_t received = ex->received_ns;
    free(ex);
    struct response resp = {0};
    response_header(&resp, "Retry-After", "1");
    response_error(&resp, 503);
    conn_answer(c, req, &resp, received);
}

void dispatch(struct conn *c, struct request *req, uint64_t received_ns)
{
    struct server *srv = c->loop->srv;
    struct response resp = {0};
    if (handle_on_loop(&srv->ctx, req, &resp)) {
        conn_answer(c, req, &resp, received_ns);
        return;
    }
    struct exchange *ex = calloc(1, sizeof *ex);
    if (!ex) {
        response_header(&resp, "Retry-After", "1");
        response_error(&resp, 503);
        conn_answer(c, req, &resp, received_ns);
        return;
    }
    ex->conn = c;
    ex->loop = c->loop;
    ex->req = req;
    ex->received_ns = received_ns;
    ex->slow = route_is_slow(req);
    c->inflight = ex;
    if (!ex->slow) {
        if (rail_try_submit(srv->pool, run, ex) != 0)
            overloaded(c, ex);
        return;
    }
    switch (lane_enter(&srv->slow, ex, atomic_load(&srv->draining))) {
    case LANE_RUN:
        if (rail_try_submit(srv->pool, run_slow, ex) != 0) {
            lane_leave(&srv->slow);
            overloaded(c, ex);
        }
        return;
    case LANE_WAIT: /* a slow worker takes it when its turn comes */
        return;
    case LANE_FULL:
        overloaded(c, ex);
        return;
    }
}

void dispatch_collect(struct ioloop *loop)
{
    struct exchange *list = atomic_exchange_explicit(&loop->done, NULL, memory_order_acquire);
    struct exchange *fifo = NULL; /* answer in completion order */
    while (list) {
        struct exchange *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct exchange *next = fifo->next;
        conn_finished(fifo->conn, fifo);
        fifo = next;
    }
}
