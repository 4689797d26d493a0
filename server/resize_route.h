/*
 * resize_route.h - GET|HEAD|POST /resize: the HTTP side of the image
 * engine. Runs on a pool worker like every handler: the query is checked,
 * the image found (the GET's file under --images, or the POST's body, used
 * in place), the ETag answered from without decoding, and resize_run()
 * does the rest. See docs/server.md and /work/shared/resize-api.md.
 */
#ifndef RAIL_SERVER_RESIZE_ROUTE_H
#define RAIL_SERVER_RESIZE_ROUTE_H

#include "handlers.h"

void resize_route(const struct handler_ctx *ctx, const struct request *req,
                  const struct job_info *job, struct response *resp);

#endif
