/* loop.c - one I/O loop: accepting, the workers' wake-ups, the drain. */
#define _GNU_SOURCE /* accept4 */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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

static void on_accept_ready(uv_poll_t *poll, int status, int events);

static void on_accept_wait(uv_timer_t *timer)
{
    struct ioloop *loop = timer->data;
    uv_poll_start(&loop->accept_poll, UV_READABLE, on_accept_ready);
}

/* Accepts what waits, ACCEPT_BATCH at most so that one loop's burst does
 * not starve its connections. The server accepts itself rather than
 * through uv_listen(): out of descriptors, libuv sheds connections with one
 * reserve descriptor per loop, and with several loops (and workers opening
 * files) in one descriptor table a loop can lose its reserve and then spin
 * in accept() for ever. Here accepting pauses for ACCEPT_PAUSE_MS instead,
 * the connections waiting in the kernel's backlog meanwhile. */
static void on_accept_ready(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct ioloop *loop = poll->data;
    if (status < 0)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(loop->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_accept(loop, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
            metrics_out_of_descriptors(&loop->srv->metrics, errno);
            uv_poll_stop(&loop->accept_poll);
            uv_timer_start(&loop->accept_wait, on_accept_wait, ACCEPT_PAUSE_MS, 0);
        }
        return; /* EAGAIN: nothing waits */
    }
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
        uv_close((uv_handle_t *)&srv->trim_timer, NULL);
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
    uv_close((uv_handle_t *)&loop->accept_poll, NULL);
    uv_close((uv_handle_t *)&loop->accept_wait, NULL);
    close(loop->listen_fd); /* a poll handle never closes its descriptor */
    loop->listen_fd = -1;
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
    loop->listen_fd = fd;
    uv_timer_init(&loop->uv, &loop->accept_wait);
    loop->accept_wait.data = loop;
    loop_update_clock(loop);
    if (listen(fd, SOMAXCONN) != 0)
        return uv_translate_sys_error(errno);
    rc = uv_poll_init_socket(&loop->uv, &loop->accept_poll, fd);
    if (rc != 0)
        return rc;
    loop->accept_poll.data = loop;
    return uv_poll_start(&loop->accept_poll, UV_READABLE, on_accept_ready);
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
    if (loop->listen_fd >= 0)
        close(loop->listen_fd);
    loop->listen_fd = -1;
    if (!loop->ready)
        return;
    uv_walk(&loop->uv, close_handle, NULL);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop->uv);
}
