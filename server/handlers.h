/*
 * handlers.h - the routes. handle_request() runs on a pool worker: it may
 * block on the file system or sleep, and touches nothing of the I/O side.
 *
 *   GET|HEAD /         hello.html
 *   GET|HEAD /sleep    sleeps sleep_ms on the worker, then hello.html
 *   GET|HEAD /health   200, JSON with the pool's stats
 *   GET|HEAD /metrics  Prometheus text format
 *   POST     /echo     the request body back (for body and upload checks)
 *   GET|HEAD|POST /resize  an image resized (resize_route.c; docs/server.md)
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

struct handler_ctx {
    struct docroot root;
    unsigned sleep_ms;
    rail_pool *pool;
    struct metrics *metrics;
    /* /resize */
    struct docroot images; /* --images (the root when not given) */
    struct resize_config resize;
    unsigned resize_timeout_ms;
    unsigned long cache_max_age;
};

/* What the I/O side knows about the job running a request. */
struct job_info {
    uint64_t received_ns;         /* uv_hrtime() when the request was complete */
    const atomic_bool *cancelled; /* set when the client went away; may be NULL */
};

/* Opens what the handlers need beyond the document root (the images
 * directory, libvips) from cfg; -1 with a message on stderr. */
int handlers_open(struct handler_ctx *ctx, const struct server_config *cfg);
void handlers_close(struct handler_ctx *ctx);

void handle_request(const struct handler_ctx *ctx, const struct request *req,
                    const struct job_info *job, struct response *resp);

/* Routes whose handlers hold a worker for long (/sleep). The server lets
 * them occupy at most all workers but one, so quick requests always find
 * a worker (see docs/server.md). */
bool route_is_slow(const struct request *req);

#endif
