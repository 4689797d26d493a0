/* loop.c - one I/O loop: accepting, the workers' wake-ups, the drain. */
#include "loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"

void loop_update_clock(struct ioloop *loop)
{
    time_t now = time(NULL);
    if (now == loop->clock)
        return;
    loop->clock = now;
    http_date(now, loop->date);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(loop->log_date, sizeof loop->log_date, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct ioloop *loop = listener->data;
    if (status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOMEM || status == UV_ENOBUFS) {
        /* libuv has already shed the pending connection with its reserve
         * descriptor (so the listener does not spin); say it for /health. */
        metrics_out_of_descriptors(&loop->srv->metrics, -status);
        return;
    }
    if (status == 0)
        conn_accept(loop);
}

/* The drain is complete on this loop when its last connection is gone.
 * Loop 0 holds the signals and the drain timer, so it closes last: the
 * others tell it under live_lock, and it closes its wake-up handle only
 * after the last of them has, so no uv_async_send() can meet a closed one. */
static void loop_finish_if_done(struct ioloop *loop)
{
    struct server *srv = loop->srv;
    if (!loop->drain_begun || loop->nconns > 0 || loop->finished)
        return;
    pthread_mutex_lock(&srv->live_lock);
    if (loop->index != 0) {
        loop->finished = true;
        srv->live--;
        uv_async_send(&srv->loops[0].wake);
        uv_close((uv_handle_t *)&loop->wake, NULL);
    } else if (srv->live == 1) {
        loop->finished = true;
        srv->live--;
        uv_close((uv_handle_t *)&loop->wake, NULL);
        uv_close((uv_handle_t *)&srv->sigterm, NULL);
        uv_close((uv_handle_t *)&srv->sigint, NULL);
        uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    }
    pthread_mutex_unlock(&srv->live_lock);
}

void loop_conn_gone(struct ioloop *loop)
{
    loop_finish_if_done(loop);
}

void loop_drain(struct ioloop *loop)
{
    if (loop->drain_begun)
        return;
    loop->drain_begun = true;
    uv_close((uv_handle_t *)&loop->listener, NULL);
    for (struct conn *c = loop->conns, *next; c; c = next) {
        next = c->next;
        conn_drain(c);
    }
    loop_finish_if_done(loop);
}

static void on_wake(uv_async_t *handle)
{
    struct ioloop *loop = handle->data;
    dispatch_collect(loop);
    if (atomic_load(&loop->srv->draining))
        loop_drain(loop);
    loop_finish_if_done(loop);
}

int loop_init(struct ioloop *loop, struct server *srv, unsigned index, int fd)
{
    loop->srv = srv;
    loop->index = index;
    atomic_init(&loop->done, NULL);
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    loop->ready = true;
    uv_async_init(&loop->uv, &loop->wake, on_wake);
    loop->wake.data = loop;
    uv_tcp_init(&loop->uv, &loop->listener);
    loop->listener.data = loop;
    rc = uv_tcp_open(&loop->listener, fd);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    loop_update_clock(loop);
    return uv_listen((uv_stream_t *)&loop->listener, SOMAXCONN, on_connection);
}

void loop_run(struct ioloop *loop)
{
    uv_run(&loop->uv, UV_RUN_DEFAULT);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

void loop_close(struct ioloop *loop)
{
    if (!loop->ready)
        return;
    uv_walk(&loop->uv, close_handle, NULL);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop->uv);
}
