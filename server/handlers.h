/*
 * handlers.h - the routes. handle_request() runs on a pool worker: it may
 * block on the file system or sleep, and touches nothing of the I/O side.
 *
 *   GET|HEAD /         hello.html
 *   GET|HEAD /sleep    sleeps sleep_ms on the worker, then hello.html
 *   GET|HEAD /health   200, JSON with the pool's stats
 *   GET|HEAD /metrics  Prometheus text format
 *   POST     /echo     the request body back (for body and upload checks)
 *   GET|HEAD other     the file under the root, or 404.html with 404
 *   other methods      405 with Allow
 *   /resize            403 first, without a valid sig when a key is set
 */
#ifndef RAIL_SERVER_HANDLERS_H
#define RAIL_SERVER_HANDLERS_H

#include <stdbool.h>

#include <rail.h>

#include "files.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "sign.h"

struct handler_ctx {
    struct docroot root;
    unsigned sleep_ms;
    rail_pool *pool;
    struct metrics *metrics;
    const struct sign_key *sign; /* checked first: an unsigned /resize gets 403 */
};

void handle_request(const struct handler_ctx *ctx, const struct request *req,
                    struct response *resp);

/* Routes whose handlers hold a worker for long (/sleep). The server lets
 * them occupy at most all workers but one, so quick requests always find
 * a worker (see docs/server.md). */
bool route_is_slow(const struct request *req);

#endif
