/*
 * server.c - the process: the pool, the I/O loops and their threads, the
 * signals and the drain. How a request moves is in docs/server.md; a
 * connection's life is in conn.c, a request's route to a worker in
 * dispatch.c, one loop in loop.c.
 */
#define _GNU_SOURCE /* SO_REUSEPORT */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rail.h>
#include <uv.h>

#include "access_log.h"
#include "filecache.h"
#include "loop.h"
#include "version.h"

/* ---- the drain ---- */

static void on_drain_timeout(uv_timer_t *timer)
{
    struct server *srv = timer->data;
    fprintf(stderr,
            "rail-server: drain not finished after %u ms: exiting with %zu connection(s) open\n",
            srv->cfg->shutdown_timeout_ms, atomic_load(&srv->nconns));
    if (srv->log)
        access_log_flush(srv->log);
    _exit(1);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct server *srv = handle->data;
    if (atomic_load(&srv->draining)) {
        fprintf(stderr, "rail-server: second signal (%s): exiting now\n", strsignal(signum));
        if (srv->log)
            access_log_flush(srv->log);
        _exit(1);
    }
    fprintf(stderr, "rail-server: %s: draining %zu connection(s)\n", strsignal(signum),
            atomic_load(&srv->nconns));
    atomic_store(&srv->draining, true);
    uv_timer_start(&srv->drain_timer, on_drain_timeout, srv->cfg->shutdown_timeout_ms, 0);
    for (unsigned i = 1; i < srv->nloops; i++)
        uv_async_send(&srv->loops[i].wake);
    loop_drain(&srv->loops[0]);
}

/* ---- memory ----
 *
 * glibc gives every thread that allocates under contention an arena of its
 * own and keeps what was freed in each. An image server's workers allocate
 * and free tens of megabytes per resize, so RSS climbs with the number of
 * arenas and never comes back (make bench-resize-memory measured 229 MB
 * after 1,000 mixed resizes and 331 MB after 3,000 with the defaults; 79 and
 * 138 MB with two arenas; 15 and 40 MB with two arenas and malloc_trim when
 * idle). So: two arenas unless MALLOC_ARENA_MAX says otherwise, and once a
 * second, if the pool finished work since the last look and is idle now,
 * malloc_trim(0) hands the free pages back.
 *
 * Under load, nothing goes back: glibc's own thresholds move with the
 * sizes it last saw freed, and a server that has served other sizes then
 * maps, unmaps and trims its heap on almost every large block, each page
 * faulted in again (an AVIF resize after the other workloads: 2,900 page
 * faults and 330 ms of CPU per image, against 86 and 242 with the fixed
 * thresholds below; docs/BENCHMARKS.md). So blocks up to 32 MiB come from
 * the heap, and its top is cut only when 64 MiB are free; the idle trim
 * still returns it all. MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
 * override. */

#define MMAP_THRESHOLD (32u << 20) /* glibc's largest on 64-bit */
#define TRIM_THRESHOLD (64u << 20)

#define TRIM_EVERY_MS 1000

static void on_trim(uv_timer_t *timer)
{
    struct server *srv = timer->data;
    rail_stats s;
    rail_pool_stats(srv->pool, &s);
    if (s.completed == srv->trimmed_at || s.busy > 0 || s.queued > 0)
        return;
    srv->trimmed_at = s.completed;
    malloc_trim(0);
}

static void memory_policy(void)
{
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);
    if (!getenv("MALLOC_MMAP_THRESHOLD_"))
        mallopt(M_MMAP_THRESHOLD, (int)MMAP_THRESHOLD);
    if (!getenv("MALLOC_TRIM_THRESHOLD_"))
        mallopt(M_TRIM_THRESHOLD, (int)TRIM_THRESHOLD);
}

/* ---- start ---- */

/* A listening-ready socket bound to the configured address with
 * SO_REUSEPORT, so that every loop binds one of its own to the same port
 * and the kernel spreads connections among them. *port: the port to bind
 * (0: any), then the one bound. -1 with errno on failure. */
static int bind_socket(const struct server_config *cfg, int *port)
{
    struct sockaddr_storage addr;
    bool v6 = strchr(cfg->host, ':') != NULL;
    int rc = v6 ? uv_ip6_addr(cfg->host, *port, (struct sockaddr_in6 *)&addr)
                : uv_ip4_addr(cfg->host, *port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        errno = -rc;
        return -1;
    }
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, len) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    *port = ntohs(v6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                     : ((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

static int start_loops(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    srv->loops = calloc(srv->nloops, sizeof *srv->loops);
    if (!srv->loops) {
        fprintf(stderr, "rail-server: out of memory\n");
        return -1;
    }
    for (unsigned i = 0; i < srv->nloops; i++)
        srv->loops[i].listen_fd = -1;
    int port = cfg->port;
    for (unsigned i = 0; i < srv->nloops; i++) {
        int fd = bind_socket(cfg, &port);
        int rc = fd < 0 ? uv_translate_sys_error(errno) : loop_init(&srv->loops[i], srv, i, fd);
        if (rc != 0) {
            fprintf(stderr, "rail-server: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                    uv_strerror(rc));
            srv->nloops = i + 1; /* the loops to close */
            return -1;
        }
    }
    srv->live = srv->nloops;
    struct ioloop *first = &srv->loops[0];
    uv_signal_init(&first->uv, &srv->sigterm);
    uv_signal_init(&first->uv, &srv->sigint);
    uv_timer_init(&first->uv, &srv->drain_timer);
    uv_timer_init(&first->uv, &srv->trim_timer);
    srv->sigterm.data = srv->sigint.data = srv->drain_timer.data = srv->trim_timer.data = srv;
    uv_timer_start(&srv->trim_timer, on_trim, TRIM_EVERY_MS, TRIM_EVERY_MS);
    uv_unref((uv_handle_t *)&srv->trim_timer); /* never what keeps the loop running */
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    printf("rail-server %s: listening on ", RAIL_SERVER_VERSION);
    printf(strchr(cfg->host, ':') ? "http://[%s]:%d/" : "http://%s:%d/", cfg->host, port);
    printf(" (root %s, %u workers, %u I/O threads, queue %zu)\n", srv->ctx.root.real, cfg->threads,
           srv->nloops, cfg->queue);
    fflush(stdout);
    return 0;
}

/* Descriptors the file cache may keep: a quarter of what the process may
 * open, so that connections always have the rest. */
static unsigned cached_files_max(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1024;
    rlim_t quarter = rl.rlim_cur / 4;
    return quarter < 1024 ? (unsigned)(quarter ? quarter : 1) : 1024;
}

/* Slow work may hold every worker but one. What waits for a slot must
 * finish within --shutdown-timeout at that concurrency (each round takes
 * --sleep-ms; one round's margin), and never more than --queue. Heavy
 * resizes may wait up to --queue: each carries its own deadline. */
static void slow_lane_init(struct server *srv, unsigned threads)
{
    const struct server_config *cfg = srv->cfg;
    unsigned max = threads > 1 ? threads - 1 : 1;
    size_t bound = cfg->queue;
    if (cfg->sleep_ms > 0) {
        unsigned rounds = cfg->shutdown_timeout_ms / cfg->sleep_ms;
        size_t fits = rounds >= 2 ? (size_t)(rounds - 2) * max : 0;
        bound = fits < bound ? fits : bound;
    }
    lane_init(&srv->slow, max, bound, cfg->queue, &srv->metrics);
}

static int start(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    memory_policy(); /* before any thread allocates */
    if (docroot_open(&srv->ctx.root, cfg->root) != 0) {
        fprintf(stderr, "rail-server: document root %s: %s\n", cfg->root, strerror(errno));
        return -1;
    }
    if (handlers_open(&srv->ctx, cfg) != 0)
        return -1;
    if (!(srv->ctx.files = filecache_create(&srv->ctx.root, cached_files_max()))) {
        fprintf(stderr, "rail-server: out of memory\n");
        return -1;
    }
    /* The server's own pages are answered on the loops from the start, even
     * while every worker is busy. */
    filecache_warm(srv->ctx.files, "hello.html");
    filecache_warm(srv->ctx.files, "404.html");
    rail_options opts = {.threads = cfg->threads, .queue_capacity = cfg->queue};
    int rc = rail_pool_create(&srv->pool, &opts);
    if (rc != 0) {
        fprintf(stderr, "rail-server: cannot start the pool: %s\n", strerror(rc));
        return -1;
    }
    rail_stats stats;
    rail_pool_stats(srv->pool, &stats);
    slow_lane_init(srv, stats.threads);
    srv->ctx.pool = srv->pool;
    srv->ctx.metrics = &srv->metrics;
    srv->ctx.sleep_ms = cfg->sleep_ms;
    srv->ctx.sign = &cfg->sign;
    if (cfg->access_log &&
        !(srv->log = access_log_open(cfg->access_log, &srv->metrics.log_dropped))) {
        fprintf(stderr, "rail-server: access log %s: %s\n", cfg->access_log, strerror(errno));
        return -1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nloops = cfg->io_threads ? cfg->io_threads : (cpus > 0 ? (unsigned)cpus : 1);
    return start_loops(srv);
}

/* The I/O threads are detached, and say when their loop has returned:
 * a deliberate fast exit (_exit with them running) then leaves no joinable
 * thread behind for a sanitizer to report. */
static void *loop_thread(void *arg)
{
    struct ioloop *loop = arg;
    struct server *srv = loop->srv;
    loop_run(loop);
    pthread_mutex_lock(&srv->live_lock);
    srv->returned++;
    pthread_cond_signal(&srv->returned_cond);
    pthread_mutex_unlock(&srv->live_lock);
    return NULL; /* touches nothing of srv from here */
}

/* Runs loop 0 here and the others on threads of their own, until every
 * loop's drain is complete and every loop has returned. */
static int run_loops(struct server *srv)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (unsigned i = 1; i < srv->nloops; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, loop_thread, &srv->loops[i]) != 0) {
            fprintf(stderr, "rail-server: cannot start I/O thread %u\n", i);
            _exit(1); /* the started loops are serving; there is no clean way back */
        }
    }
    pthread_attr_destroy(&attr);
    loop_run(&srv->loops[0]);
    pthread_mutex_lock(&srv->live_lock);
    while (srv->returned < srv->nloops - 1)
        pthread_cond_wait(&srv->returned_cond, &srv->live_lock);
    pthread_mutex_unlock(&srv->live_lock);
    return 0;
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
    pthread_mutex_init(&srv->live_lock, NULL);
    pthread_cond_init(&srv->returned_cond, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a signal */
    int status = 1;
    if (start(srv) == 0 && run_loops(srv) == 0) {
        status = 0;
        fprintf(stderr, "rail-server: drained, exiting\n");
    }
    if (srv->pool) {
        rail_shutdown(srv->pool, RAIL_DRAIN, NULL);
        rail_pool_destroy(srv->pool);
        lane_destroy(&srv->slow);
    }
    access_log_close(srv->log);
    for (unsigned i = 0; srv->loops && i < srv->nloops; i++)
        loop_close(&srv->loops[i]);
    free(srv->loops);
    filecache_destroy(srv->ctx.files);
    handlers_close(&srv->ctx);
    if (srv->ctx.root.fd >= 0)
        docroot_close(&srv->ctx.root);
    pthread_cond_destroy(&srv->returned_cond);
    pthread_mutex_destroy(&srv->live_lock);
    free(srv);
    return status;
}
