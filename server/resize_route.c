/* resize_route.c - the /resize route; see resize_route.h. */
#include "resize_route.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image_probe.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* uv_hrtime()'s clock */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An error with a one-line body naming the problem. */
static void refuse(const struct handler_ctx *ctx, struct response *resp, int status,
                   enum resize_outcome why_kind, const char *why)
{
    char text[256];
    snprintf(text, sizeof text, "%d %s: %s\n", status, status_reason(status), why);
    response_text(resp, status, "text/plain; charset=utf-8", text);
    if (status == 503)
        response_header(resp, "Retry-After", "1");
    metrics_resize(ctx->metrics, why_kind, IMAGE_NONE, 0);
}

/* A 64-bit hash of bytes, eight at a time (the ETag of a POST body must
 * not cost much next to the decode). Not cryptographic: a validator. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint64_t k = 0x9e3779b97f4a7c15u;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    for (; len > 0; p++, len--)
        h = (h ^ *p) * 0x100000001b3u;
    h ^= h >> 32;
    return h * k;
}

/* The output format as far as the request decides it: format=auto's
 * choice between its "png or jpeg by alpha" branch depends only on the
 * input, which the ETag covers already. */
static const char *format_key(const struct resize_params *p, enum image_format in,
                              const char *accept)
{
    if (p->format_auto) {
        enum image_format f = resize_format_choose(p, in, false, accept);
        return f == IMAGE_JPEG ? "auto" : image_format_name(f);
    }
    return image_format_name(resize_format_choose(p, in, false, NULL));
}

static void make_etag(uint64_t input_hash, const struct resize_params *p, enum image_format in,
                      const char *accept, char etag[40])
{
    char canon[RESIZE_CANON_MAX + 16];
    resize_params_canonical(p, IMAGE_NONE, canon);
    size_t n = strlen(canon);
    snprintf(canon + n, sizeof canon - n, "&k=%s", format_key(p, in, accept));
    uint64_t h = hash_bytes(input_hash, canon, strlen(canon));
    snprintf(etag, 40, "\"r%016" PRIx64 "\"", h);
}

/* Reads the whole file into a malloc'd buffer. */
static char *read_file(int fd, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    return buf;
}

struct input {
    const char *bytes; /* the POST body (in place) or `owned` */
    size_t len;
    char *owned;
    int fd; /* GET: the file, until read */
    enum image_format format;
    char etag[40];
};

/* GET/HEAD: opens the file `src` under --images, sniffs it and makes its
 * ETag from the file's identity; nothing more is read yet. 0 or -1. */
static int file_input(const struct handler_ctx *ctx, const char *src, const struct resize_params *p,
                      const char *accept, struct input *in)
{
    struct stat st;
    if (!ctx->images.real) /* handlers_open() not called (the request fuzz target) */
        return -1;
    int fd = files_open(&ctx->images, src, &st);
    if (fd < 0)
        return -1;
    unsigned char head[IMAGE_PROBE_BYTES];
    ssize_t n = pread(fd, head, sizeof head, 0);
    in->format = image_probe(head, n > 0 ? (size_t)n : 0);
    uint64_t id[5] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_mtim.tv_sec,
                      (uint64_t)st.st_mtim.tv_nsec, (uint64_t)st.st_size};
    make_etag(hash_bytes(0, id, sizeof id), p, in->format, accept, in->etag);
    in->len = (size_t)st.st_size;
    in->fd = fd;
    return 0;
}

static void answer(const struct handler_ctx *ctx, const struct request *req,
                   const struct resize_params *p, const struct resize_result *r,
                   const struct input *in, struct response *resp)
{
    resp->status = 200;
    resp->content_type = image_format_media_type(r->format);
    response_body_owned(resp, r->data, r->len, resize_data_free);
    response_header(resp, "ETag", "%s", in->etag);
    if (req->method != HTTP_POST)
        response_header(resp, "Cache-Control", "public, max-age=%lu", ctx->cache_max_age);
    if (p->format_auto)
        response_header(resp, "Vary", "Accept");
}

void resize_route(const struct handler_ctx *ctx, const struct request *req,
                  const struct job_info *job, struct response *resp)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD && req->method != HTTP_POST) {
        response_header(resp, "Allow", "GET, HEAD, POST");
        response_error(resp, 405);
        return;
    }
    const char *query = strchr(request_target(req), '?');
    struct resize_params p;
    char src[PATH_OUT_MAX], why[RESIZE_WHY_MAX];
    if (resize_params_parse(query ? query + 1 : NULL, &p, src, why) != 0) {
        refuse(ctx, resp, 400, RESIZE_BAD_PARAM, why);
        return;
    }
    bool post = req->method == HTTP_POST;
    if (post && src[0]) {
        refuse(ctx, resp, 400, RESIZE_BAD_PARAM,
               "src: not allowed on POST (the body is the image)");
        return;
    }
    if (!post && !src[0]) {
        refuse(ctx, resp, 400, RESIZE_BAD_PARAM, "src: required on GET and HEAD");
        return;
    }

    uint64_t deadline = job->received_ns + (uint64_t)ctx->resize_timeout_ms * 1000000u;
    if (job->cancelled && atomic_load_explicit(job->cancelled, memory_order_relaxed)) {
        refuse(ctx, resp, 503, RESIZE_CANCELLED,
               "the client went away while the resize was queued");
        return;
    }
    if (now_ns() >= deadline) {
        refuse(ctx, resp, 503, RESIZE_TIMEOUT, "waited past --resize-timeout in the queue");
        return;
    }

    const char *accept = request_header(req, "accept");
    struct input in = {.fd = -1};
    if (post) {
        in.bytes = req->body; /* decoded in place: no copy */
        in.len = req->body_len;
        in.format = image_probe(in.bytes, in.len);
        make_etag(hash_bytes(0, in.bytes, in.len), &p, in.format, accept, in.etag);
    } else {
        if (file_input(ctx, src, &p, accept, &in) != 0) {
            refuse(ctx, resp, 404, RESIZE_NOT_FOUND, "src: no such image");
            return;
        }
        const char *inm = request_header(req, "if-none-match");
        if (inm && in.format != IMAGE_NONE && files_etag_listed(inm, in.etag)) {
            close(in.fd); /* answered from the validator: nothing read, nothing decoded */
            resp->status = 304;
            response_header(resp, "ETag", "%s", in.etag);
            response_header(resp, "Cache-Control", "public, max-age=%lu", ctx->cache_max_age);
            if (p.format_auto)
                response_header(resp, "Vary", "Accept");
            return;
        }
        if (in.format != IMAGE_NONE)
            in.bytes = in.owned = read_file(in.fd, in.len);
        close(in.fd);
        if (in.format != IMAGE_NONE && !in.owned) {
            refuse(ctx, resp, 500, RESIZE_INTERNAL, "src: cannot read the image");
            return;
        }
    }
    if (in.format == IMAGE_NONE) {
        refuse(ctx, resp, 415, RESIZE_UNSUPPORTED,
               in.len ? "not an image of an allowed format (JPEG, PNG, WebP, GIF, HEIF/AVIF)"
                      : "empty body: send the image as the request body");
        return;
    }

    struct resize_job rj = {.deadline_ns = deadline,
                            .cancelled = job->cancelled,
                            .accept = accept,
                            .defer_heavy = job->to_slow != NULL};
    struct resize_result r;
    uint64_t start = now_ns();
    int status = resize_run(&ctx->resize, &rj, in.bytes, in.len, &p, &r);
    free(in.owned);
    if (status == 0) { /* a heavy input: it runs again in the slow lane */
        *job->to_slow = true;
        return;
    }
    if (status == 200) {
        metrics_resize(ctx->metrics, RESIZE_OK, r.format, now_ns() - start);
        answer(ctx, req, &p, &r, &in, resp);
        return;
    }
    refuse(ctx, resp, status, r.outcome, r.why);
}
