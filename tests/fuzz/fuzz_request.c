/*
 * fuzz_request.c - a fuzz target for rail-server's request path: the bytes
 * of a connection, cut into reads, go through the llhttp reader; every
 * complete request is routed, its path normalised and its handler run
 * against public/; the answer is serialised. Besides crashes and sanitizer
 * reports it checks what must always hold: a normalised path never climbs
 * out of the root, and the reader consumes exactly what it was given.
 *
 * Built with libFuzzer by `make fuzz`, and as a replay of tests/fuzz/ in
 * every test suite (fuzz_replay.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rail.h>

#include "handlers.h"
#include "path.h"
#include "request.h"
#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct handler_ctx ctx;
static struct metrics metrics;

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_request: invariant broken: %s\n", what);
        abort();
    }
}

static void setup_once(void)
{
    if (ctx.pool)
        return;
    rail_options opts = {.threads = 1};
    if (rail_pool_create(&ctx.pool, &opts) != 0 || docroot_open(&ctx.root, RAIL_PUBLIC_DIR) != 0) {
        fprintf(stderr, "fuzz_request: cannot set up (%s)\n", RAIL_PUBLIC_DIR);
        abort();
    }
    ctx.metrics = &metrics;
    ctx.sleep_ms = 0;
}

static void check_path(const char *target)
{
    char rel[PATH_OUT_MAX];
    if (path_normalize(target, rel) != 0)
        return;
    require(rel[0] != '/', "normalised path is relative");
    for (const char *seg = rel; *seg;) {
        size_t n = strcspn(seg, "/");
        require(n > 0, "no empty segment");
        require(!(n == 1 && seg[0] == '.'), "no '.' segment");
        require(!(n == 2 && seg[0] == '.' && seg[1] == '.'), "no '..' segment");
        seg += n + (seg[n] == '/');
    }
}

static void answer(const struct request *req)
{
    check_path(request_target(req));
    (void)route_is_slow(req);
    struct response resp = {0};
    struct job_info job = {.received_ns = 0, .cancelled = NULL};
    handle_request(&ctx, req, &job, &resp);
    require(resp.status >= 200 && resp.status < 600, "a final status");
    require(resp.body_len == 0 || resp.body != NULL, "a body where there is a length");
    char head[1024];
    char date[HTTP_DATE_LEN];
    http_date(0, date);
    require(response_head(&resp, head, sizeof head, date, !req->keep_alive, req->http_minor == 0) >
                0,
            "the head fits");
    response_reset(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0)
        return 0;
    /* The first byte picks the size of each read, so requests split
     * everywhere; the rest is the connection's bytes. */
    size_t chunk = (size_t)data[0] % 64 + 1;
    const char *bytes = (const char *)data + 1;
    size_t len = size - 1;
    struct reader r;
    reader_init(&r, 4096);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk, used = 0;
        enum reader_event ev = reader_feed(&r, bytes + off, n, &used);
        require(used <= n, "consumed at most what was fed");
        if (ev == READER_ERROR) {
            require(r.status >= 400 && r.status < 600, "an error status");
            break;
        }
        if (ev == READER_MORE)
            require(used == n, "MORE consumes everything");
        off += used;
        if (ev == READER_REQUEST) {
            struct request *req = reader_take(&r);
            require(req != NULL, "a complete request");
            answer(req);
            request_free(req);
        }
    }
    reader_free(&r);
    return 0;
}
