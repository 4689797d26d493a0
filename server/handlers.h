/*
 * handlers.h - the routes. handle_on_loop() answers on an I/O loop what
 * costs nothing (never blocks, never burns CPU); everything else goes to
 * handle_request() on a pool worker, which may block on the file system or
 * sleep, and touches nothing of the I/O side. See docs/server.md.
 *
 *   GET|HEAD /         hello.html
 *   GET|HEAD /sleep    sleeps sleep_ms on the worker, then hello.html
 *   GET|HEAD /health   200, JSON with the pool's stats
 *   GET|HEAD /metrics  Prometheus text format
 *   POST     /echo     the request body back (for body and upload checks)
 *   GET|HEAD|POST /resize  an image resized (resize_route.c; docs/server.md);
 *                      403 before anything else without a valid sig when a
 *                      sign key is set (sign.h)
 *   GET|HEAD other     the file under the root, or 404.html with 404
 *   other methods      405 with Allow
 */
#ifndef RAIL_SERVER_HANDLERS_H
#define RAIL_SERVER_HANDLERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rail.h>

#include "files.h"
#include "metrics.h"
#include "request.h"
#include "resize.h"
#include "response.h"
#include "server.h"
#include "sign.h"

struct filecache;

struct handler_ctx {
    struct docroot root;
    struct filecache *files;
    unsigned sleep_ms;
    rail_pool *pool;
    struct metrics *metrics;
    const struct sign_key *sign; /* checked first: an unsigned /resize gets 403 */
    /* /resize */
    struct docroot images; /* --images (the root when not given) */
    struct resize_config resize;
    unsigned resize_timeout_ms;
    unsigned long cache_max_age;
};

/* What the I/O side tells a handler about its request beyond the bytes. */
struct job_info {
    uint64_t received_ns;         /* uv_hrtime() when the request was complete */
    const atomic_bool *cancelled; /* set when the client went away; may be NULL */
    /* Not NULL when the request may still be moved to the slow lane: a
     * route that finds its work will hold a worker long (a heavy image,
     * RESIZE_HEAVY_PIXELS) sets *to_slow and answers nothing. */
    bool *to_slow;
};

/* Opens what the handlers need beyond the document root (the images
 * directory, libvips) from cfg; -1 with a message on stderr. */
int handlers_open(struct handler_ctx *ctx, const struct server_config *cfg);
void handlers_close(struct handler_ctx *ctx);

/* On an I/O loop: answers the request if that costs nothing — /health,
 * /metrics, errors, and static files whose bytes are cached — and returns
 * true; false when it must go to a worker (resp untouched). */
bool handle_on_loop(const struct handler_ctx *ctx, const struct request *req,
                    struct response *resp);

/* On a worker: answers any request. */
void handle_request(const struct handler_ctx *ctx, const struct request *req, struct response *resp,
                    const struct job_info *job);

/* Routes whose handlers hold a worker for long (/sleep). The server lets
 * them, and the resizes of heavy images (job_info.to_slow), occupy at most
 * all workers but one, so quick requests always find a worker (see
 * docs/server.md). */
bool route_is_slow(const struct request *req);

#endif
