/* dispatch.c - where a request is answered; see dispatch.h. */
#include "dispatch.h"

#include <stdlib.h>

#include <rail.h>
#include <uv.h>

#include "conn.h"
#include "handlers.h"
#include "loop.h"

void lane_init(struct lane *lane, unsigned max, size_t bound, size_t bound_heavy,
               struct metrics *metrics)
{
    pthread_mutex_init(&lane->lock, NULL);
    lane->max = max;
    lane->bound = bound;
    lane->bound_heavy = bound_heavy;
    lane->metrics = metrics;
    atomic_store_explicit(&metrics->slow_slots, max, memory_order_relaxed);
}

void lane_destroy(struct lane *lane)
{
    pthread_mutex_destroy(&lane->lock);
}

enum lane_verdict { LANE_RUN, LANE_WAIT, LANE_FULL };

/* The gauges /metrics shows; called with the lock held. */
static void lane_publish(struct lane *lane)
{
    atomic_store_explicit(&lane->metrics->slow_running, lane->running, memory_order_relaxed);
    atomic_store_explicit(&lane->metrics->slow_waiting, lane->waiting, memory_order_relaxed);
}

/* A slot, a place in the queue when `bound` others wait no more, or no.
 * Draining refuses new slow work: what waits was sized to finish in time,
 * anything more might not. */
static enum lane_verdict lane_enter(struct lane *lane, struct exchange *ex, size_t bound,
                                    bool draining)
{
    enum lane_verdict v = LANE_FULL;
    pthread_mutex_lock(&lane->lock);
    if (draining) {
        v = LANE_FULL;
    } else if (lane->running < lane->max) {
        lane->running++;
        v = LANE_RUN;
    } else if (lane->waiting < bound) {
        ex->next = NULL;
        if (lane->tail)
            lane->tail->next = ex;
        else
            lane->head = ex;
        lane->tail = ex;
        lane->waiting++;
        v = LANE_WAIT;
    }
    if (v != LANE_FULL)
        ex->slow = true;
    lane_publish(lane);
    pthread_mutex_unlock(&lane->lock);
    return v;
}

static void lane_leave(struct lane *lane)
{
    pthread_mutex_lock(&lane->lock);
    lane->running--;
    lane_publish(lane);
    pthread_mutex_unlock(&lane->lock);
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

/* Runs the handler. False when the handler found that its work will hold
 * the worker long (a heavy image) while the exchange is not in the slow
 * lane yet: nothing was answered, and the caller moves it there. */
static bool handle(struct exchange *ex)
{
    if (atomic_load_explicit(&ex->cancelled, memory_order_relaxed))
        return true; /* nobody to answer: the loop frees it */
    bool to_slow = false;
    struct job_info job = {.received_ns = ex->received_ns,
                           .cancelled = &ex->cancelled,
                           .to_slow = ex->slow ? NULL : &to_slow};
    handle_request(&ex->loop->srv->ctx, ex->req, &ex->resp, &job);
    if (to_slow)
        return false;
    if (ex->resp.status == 0)
        response_error(&ex->resp, 500);
    return true;
}

/* 503 with Retry-After for work the server has no room for, counted;
 * on the loop or a worker. */
static void refuse(struct server *srv, struct response *resp)
{
    atomic_fetch_add_explicit(&srv->metrics.overloaded, 1, memory_order_relaxed);
    response_header(resp, "Retry-After", "1");
    response_error(resp, 503);
}

/* A slow exchange, then every one that waits in the lane, on this worker:
 * the slot is given up only when nothing waits (so waiting > 0 implies
 * running == max). */
static void run_slow(void *arg)
{
    struct exchange *ex = arg;
    struct lane *lane = &ex->loop->srv->slow;
    while (ex) {
        handle(ex); /* in the lane: always answers */
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
        lane_publish(lane);
        pthread_mutex_unlock(&lane->lock);
    }
}

/* A pool job. An exchange whose handler found a heavy image moves to the
 * slow lane from here: on this worker at once when a slot is free, else
 * to wait there, freeing the worker for quick requests. */
static void run(void *arg)
{
    struct exchange *ex = arg;
    if (handle(ex)) {
        complete(ex);
        return;
    }
    atomic_fetch_add_explicit(&ex->loop->srv->metrics.slow_heavy, 1, memory_order_relaxed);
    /* Not refused while draining, nor bounded as slow routes are: a resize
     * carries its own deadline (--resize-timeout), checked again when it
     * starts. */
    struct lane *lane = &ex->loop->srv->slow;
    switch (lane_enter(lane, ex, lane->bound_heavy, false)) {
    case LANE_RUN:
        run_slow(ex);
        return;
    case LANE_WAIT:
        return;
    case LANE_FULL:
        refuse(ex->loop->srv, &ex->resp);
        complete(ex);
        return;
    }
}

/* ---- on the loop ---- */

/* 503 with Retry-After, at once, from the loop. */
static void overloaded(struct conn *c, struct exchange *ex)
{
    c->inflight = NULL;
    struct request *req = ex->req;
    uint64_t received = ex->received_ns;
    free(ex);
    struct response resp = {0};
    refuse(c->loop->srv, &resp);
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
    c->inflight = ex;
    if (!route_is_slow(req)) {
        if (rail_try_submit(srv->pool, run, ex) != 0)
            overloaded(c, ex);
        return;
    }
    switch (lane_enter(&srv->slow, ex, srv->slow.bound, atomic_load(&srv->draining))) {
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
