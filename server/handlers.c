/* handlers.c - the routes; see handlers.h. */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "path.h"
#include "resize_route.h"

static bool is_get_or_head(const struct request *req)
{
    return req->method == HTTP_GET || req->method == HTTP_HEAD;
}

static void method_not_allowed(struct response *resp, const char *allow)
{
    response_header(resp, "Allow", "%s", allow);
    response_error(resp, 405);
}

static void not_found(const struct handler_ctx *ctx, const struct request *req,
                      struct response *resp)
{
    if (files_serve(&ctx->root, "404.html", req, 404, resp) != 0)
        response_error(resp, 404);
}

static void serve(const struct handler_ctx *ctx, const char *rel, const struct request *req,
                  struct response *resp)
{
    if (files_serve(&ctx->root, rel, req, 200, resp) != 0)
        not_found(ctx, req, resp);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void health(const struct handler_ctx *ctx, struct response *resp)
{
    rail_stats s;
    rail_pool_stats(ctx->pool, &s);
    char text[512];
    snprintf(
        text, sizeof text,
        "{\"status\":\"ok\",\"pool\":{\"threads\":%u,\"busy\":%u,\"queued\":%zu,\"submitted\":%llu,"
        "\"completed\":%llu,\"rejected\":%llu},\"connections\":%llu}\n",
        s.threads, s.busy, s.queued, (unsigned long long)s.submitted,
        (unsigned long long)s.completed, (unsigned long long)s.rejected,
        (unsigned long long)atomic_load_explicit(&ctx->metrics->connections_open,
                                                 memory_order_relaxed));
    response_text(resp, 200, "application/json", text);
    response_header(resp, "Cache-Control", "no-store");
}

static void metrics(const struct handler_ctx *ctx, struct response *resp)
{
    char *text;
    size_t len = metrics_render(ctx->metrics, ctx->pool, &text);
    if (len == 0) {
        response_error(resp, 500);
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    response_body(resp, text, len);
    response_header(resp, "Cache-Control", "no-store");
}

static void echo(const struct request *req, struct response *resp)
{
    char *body = malloc(req->body_len ? req->body_len : 1);
    if (!body) {
        response_error(resp, 500);
        return;
    }
    if (req->body_len)
        memcpy(body, req->body, req->body_len);
    resp->status = 200;
    resp->content_type = "application/octet-stream";
    response_body(resp, body, req->body_len);
}

int handlers_open(struct handler_ctx *ctx, const struct server_config *cfg)
{
    const char *images = cfg->images ? cfg->images : cfg->root;
    if (docroot_open(&ctx->images, images) != 0) {
        fprintf(stderr, "rail-server: images directory %s: %s\n", images, strerror(errno));
        return -1;
    }
    if (resize_init() != 0) {
        fprintf(stderr, "rail-server: libvips failed to start\n");
        return -1;
    }
    ctx->resize.max_pixels = cfg->max_pixels;
    ctx->resize_timeout_ms = cfg->resize_timeout_ms;
    ctx->cache_max_age = cfg->cache_max_age;
    return 0;
}

void handlers_close(struct handler_ctx *ctx)
{
    if (ctx->images.real)
        docroot_close(&ctx->images);
    ctx->images.real = NULL;
    resize_shutdown();
}

bool route_is_slow(const struct request *req)
{
    char path[16];
    path_of_target(request_target(req), path, sizeof path);
    return strcmp(path, "/sleep") == 0;
}

void handle_request(const struct handler_ctx *ctx, const struct request *req,
                    const struct job_info *job, struct response *resp)
{
    char path[PATH_OUT_MAX];
    path_of_target(request_target(req), path, sizeof path);
    if (strcmp(path, "/resize") == 0) {
        resize_route(ctx, req, job, resp);
        return;
    }
    if (strcmp(path, "/echo") == 0) {
        if (req->method != HTTP_POST)
            method_not_allowed(resp, "POST");
        else
            echo(req, resp);
        return;
    }
    if (!is_get_or_head(req)) {
        method_not_allowed(resp, "GET, HEAD");
        return;
    }
    if (strcmp(path, "/") == 0) {
        serve(ctx, "hello.html", req, resp);
    } else if (strcmp(path, "/sleep") == 0) {
        sleep_ms(ctx->sleep_ms);
        serve(ctx, "hello.html", req, resp);
    } else if (strcmp(path, "/health") == 0) {
        health(ctx, resp);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics(ctx, resp);
    } else {
        char rel[PATH_OUT_MAX];
        if (path_normalize(request_target(req), rel) != 0)
            response_error(resp, 400);
        else
            serve(ctx, rel, req, resp);
    }
}
