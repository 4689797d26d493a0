/*
 * fuzz_request.c - a fuzz target for rail-server's request path: the bytes
 * of a connection, cut into reads, go through the llhttp reader; every
 * complete request is routed, its path normalised and its handler run
 * against public/; the answer is serialised. Besides crashes and sanitizer
 * reports it checks what must always hold: a normalised path never climbs
 * out of the root, the reader consumes exactly what it was given, and the
 * same bytes in one read make the same requests and the same verdict (the
 * strict framing checks keep state across reads).
 *
 * Built with libFuzzer by `make fuzz`, and as a replay of tests/fuzz/ in
 * every test suite (fuzz_replay.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rail.h>

#include "filecache.h"
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
    if (!(ctx.files = filecache_create(&ctx.root, 64)))
        abort();
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
    /* Both places a request can be answered: the loop's quick path, and
     * a worker's. */
    if (!handle_on_loop(&ctx, req, &resp)) {
        struct job_info job = {0};
        handle_request(&ctx, req, &resp, &job);
    }
    require(resp.status >= 200 && resp.status < 600, "a final status");
    require(resp.body_len == 0 || resp.body != NULL, "a body where there is a length");
    require(!resp.file || resp.file_off + resp.content_length <= (uint64_t)resp.file->st.st_size,
            "a file range inside the file");
    char head[1024];
    char date[HTTP_DATE_LEN];
    http_date(0, date);
    require(response_head(&resp, head, sizeof head, date, !req->keep_alive, req->http_minor == 0) >
                0,
            "the head fits");
    response_reset(&resp);
}

/* Feeds the bytes to a reader in reads of `chunk` bytes, answering each
 * complete request when asked to. Returns how many requests were complete;
 * *status is the error status that ended the connection, or 0. */
static unsigned parse(const char *bytes, size_t len, size_t chunk, bool answer_them, int *status)
{
    struct reader r;
    reader_init(&r, 4096);
    unsigned requests = 0;
    size_t off = 0;
    *status = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk, used = 0;
        enum reader_event ev = reader_feed(&r, bytes + off, n, &used);
        require(used <= n, "consumed at most what was fed");
        if (ev == READER_ERROR) {
            require(r.status >= 400 && r.status < 600, "an error status");
            *status = r.status;
            break;
        }
        if (ev == READER_MORE)
            require(used == n, "MORE consumes everything");
        off += used;
        if (ev == READER_REQUEST) {
            struct request *req = reader_take(&r);
            require(req != NULL, "a complete request");
            requests++;
            if (answer_them)
                answer(req);
            request_free(req);
        }
    }
    reader_free(&r);
    return requests;
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
    int split_status, whole_status;
    unsigned split = parse(bytes, len, chunk, true, &split_status);
    /* Framing may not depend on where the reads end: the same requests,
     * and an error or not, when the bytes come in one read. (Which error
     * status may differ when there are two errors in different reads.) */
    unsigned whole = parse(bytes, len, len, false, &whole_status);
    require(split == whole, "the same requests whatever the reads");
    require((split_status != 0) == (whole_status != 0), "the same verdict whatever the reads");
    return 0;
}
