/*
 * test_resize_ops.c - /resize as an operated service, against the real
 * rail-server: ETag (stable, order-independent, defaults normalised) and
 * 304 on GET and HEAD, Cache-Control from --cache-max-age, the metrics,
 * --resize-timeout cancelling a resize and freeing its worker, a burst
 * beyond --queue, /health while every worker resizes, and SIGTERM
 * answering every resize already received.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "image_util.h"

/* Generated once per program into its own directory, used as --images
 * by every server here. big.png: 8000x6000 (48 MP, under the default
 * --max-pixels) of two colours, about 0.5 s to decode and re-encode
 * whole; mid.png: 2000x1500; noise.jpg: 4000x3000 of noise. */
static char images[64] = "/tmp/rail-resize-ops-XXXXXX";

static const char *const BIG = "/resize?src=big.png&w=7999&format=png";
/* Seconds of work that --resize-timeout can cut short: 12 MP of noise
 * decoded whole and encoded as WebP (2.5 s on the 2-core machine). */
static const char *const LONG = "/resize?src=noise.jpg&w=3999&format=webp";
static const char *const MID = "/resize?src=mid.png&w=1999&format=png";

static int setup(void **state)
{
    (void)state;
    image_init();
    assert_non_null(mkdtemp(images));
    VipsImage *img = img_solid(400, 300, BLUE);
    img_rect(img, 0, 0, 400, 150, RED);
    img_save(img, images, "rb.png");
    img = img_solid(2000, 1500, BLUE);
    img_rect(img, 0, 0, 2000, 750, RED);
    img_save(img, images, "mid.png");
    img = img_solid(8000, 6000, BLUE);
    img_rect(img, 0, 0, 8000, 3000, RED);
    img_save(img, images, "big.png");
    img_save(img_noise(4000, 3000), images, "noise.jpg[Q=90]");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(images);
    return 0;
}

static void start(struct server_proc *s, const char *const *more)
{
    const char *args[32] = {"--images", images};
    int n = 2;
    for (; more && *more && n < 31; more++)
        args[n++] = *more;
    args[n] = NULL;
    resize_server_start(s, args);
}

/* The ETag of a 200 GET (with extra headers), copied into out. */
static void etag_of(int port, const char *query, const char *extra, char *out, size_t cap)
{
    struct reply r;
    VipsImage *img = resize_ok(port, query, extra, NULL, &r);
    g_object_unref(img);
    if (!reply_header(&r, "etag", out, cap) || !out[0])
        fail_msg("%s: no ETag", query);
    reply_free(&r);
}

static void post_etag(int port, const void *body, size_t len, char *out, size_t cap)
{
    struct reply r;
    assert_int_equal(http_send(port,
                               "POST /resize?w=50&format=png HTTP/1.1\r\nHost: t\r\n"
                               "Connection: close\r\n",
                               body, len, &r),
                     200);
    if (!reply_header(&r, "etag", out, cap) || !out[0])
        fail_msg("POST: no ETag");
    reply_free(&r);
}

/* Stable; independent of the parameters' order; an explicit default is
 * the omitted one; any difference in parameters, chosen format or input
 * is a different tag. */
static void test_etag(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s, NULL);
    char a[256], b[256];
    etag_of(s.port, "src=rb.png&w=100&h=50&fit=cover", NULL, a, sizeof a);
    etag_of(s.port, "src=rb.png&w=100&h=50&fit=cover", NULL, b, sizeof b);
    assert_string_equal(a, b);
    etag_of(s.port, "fit=cover&h=50&w=100&src=rb.png", NULL, b, sizeof b);
    assert_string_equal(a, b);
    etag_of(s.port, "src=rb.png&w=100&h=50&fit=cover&gravity=centre&enlarge=0&q=80&bg=ffffff", NULL,
            b, sizeof b);
    assert_string_equal(a, b);
    etag_of(s.port, "src=rb.png&w=100&h=50&fit=cover&format=png", NULL, b, sizeof b);
    assert_string_equal(a, b);

    etag_of(s.port, "src=rb.png&w=100", NULL, a, sizeof a);
    etag_of(s.port, "src=rb.png&w=100&fit=inside&enlarge=0&q=80&bg=ffffff", NULL, b, sizeof b);
    assert_string_equal(a, b);
    static const char *const differ[] = {
        "src=rb.png&w=101",           "src=rb.png&h=100",
        "src=rb.png&w=100&q=50",      "src=rb.png&w=100&format=webp",
        "src=rb.png&w=100&enlarge=1", "src=rb.png&w=100&bg=000000",
    };
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        etag_of(s.port, differ[i], NULL, b, sizeof b);
        if (strcmp(a, b) == 0)
            fail_msg("%s has the ETag of src=rb.png&w=100", differ[i]);
    }
    /* format=auto: the chosen format is part of the tag. */
    etag_of(s.port, "src=rb.png&w=100&format=auto", "Accept: image/webp\r\n", a, sizeof a);
    etag_of(s.port, "src=rb.png&w=100&format=auto", "Accept: image/avif\r\n", b, sizeof b);
    assert_string_not_equal(a, b);

    /* POST: the body's bytes. */
    size_t len;
    unsigned char *bytes = file_bytes(images, "rb.png", &len);
    post_etag(s.port, bytes, len, a, sizeof a);
    post_etag(s.port, bytes, len, b, sizeof b);
    assert_string_equal(a, b);
    VipsImage *other = img_solid(400, 300, GREEN);
    size_t other_len;
    void *other_bytes = img_encode(other, ".png", &other_len);
    g_object_unref(other);
    post_etag(s.port, other_bytes, other_len, b, sizeof b);
    assert_string_not_equal(a, b);
    g_free(other_bytes);
    free(bytes);

    /* A file replaced by another picture: a new tag. */
    img_save(img_solid(40, 30, GREEN), images, "changing.png");
    etag_of(s.port, "src=changing.png", NULL, a, sizeof a);
    pause_ms(20);
    img_save(img_solid(80, 60, BLUE), images, "changing.png");
    etag_of(s.port, "src=changing.png", NULL, b, sizeof b);
    assert_string_not_equal(a, b);
    server_stop(&s);
}

/* If-None-Match with the tag: 304 on GET and HEAD, no body, the tag
 * repeated; another tag: 200. HEAD without it: GET's headers, no body. */
static void test_not_modified(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s, NULL);
    const char *target = "/resize?src=rb.png&w=100";
    char tag[256], hdr[512], v[256], len_get[32], len_head[32];
    struct reply r;
    assert_int_equal(http_get(s.port, "GET", target, NULL, &r), 200);
    assert_non_null(reply_header(&r, "etag", tag, sizeof tag));
    assert_non_null(reply_header(&r, "content-length", len_get, sizeof len_get));
    reply_free(&r);

    static const char *const methods[] = {"GET", "HEAD"};
    for (int i = 0; i < 2; i++) {
        snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", tag);
        assert_int_equal(http_get(s.port, methods[i], target, hdr, &r), 304);
        assert_int_equal(r.body_len, 0);
        assert_non_null(reply_header(&r, "etag", v, sizeof v));
        assert_string_equal(v, tag);
        reply_free(&r);
        snprintf(hdr, sizeof hdr, "If-None-Match: \"nope\", %s\r\n", tag);
        assert_int_equal(http_get(s.port, methods[i], target, hdr, &r), 304);
        reply_free(&r);
        assert_int_equal(http_get(s.port, methods[i], target, "If-None-Match: \"nope\"\r\n", &r),
                         200);
        reply_free(&r);
    }
    assert_int_equal(http_get(s.port, "HEAD", target, NULL, &r), 200);
    assert_int_equal(r.body_len, 0);
    assert_non_null(reply_header(&r, "content-type", v, sizeof v));
    assert_string_equal(v, "image/png");
    assert_non_null(reply_header(&r, "content-length", len_head, sizeof len_head));
    assert_string_equal(len_head, len_get);
    assert_non_null(reply_header(&r, "etag", v, sizeof v));
    assert_string_equal(v, tag);
    reply_free(&r);
    server_stop(&s);
}

static void expect_cache_control(int port, const char *want)
{
    char v[128];
    struct reply r;
    assert_int_equal(http_get(port, "GET", "/resize?src=rb.png&w=20", NULL, &r), 200);
    if (!reply_header(&r, "cache-control", v, sizeof v) || strcmp(v, want) != 0)
        fail_msg("Cache-Control '%s', want '%s'", v, want);
    reply_free(&r);
}

static void test_cache_control(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s, NULL);
    expect_cache_control(s.port, "public, max-age=31536000");
    server_stop(&s);
    const char *args[] = {"--cache-max-age", "60", NULL};
    start(&s, args);
    expect_cache_control(s.port, "public, max-age=60");
    server_stop(&s);
}

/* The sum of every sample of a metric family whose line starts with
 * prefix (a name, or a name and the start of its labels). */
static double metric_sum(int port, const char *prefix)
{
    struct reply r;
    assert_int_equal(http_get(port, "GET", "/metrics", NULL, &r), 200);
    double sum = 0;
    size_t n = strlen(prefix);
    for (char *line = r.body; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (strncmp(line, prefix, n) == 0 &&
            (line[n] == ' ' || line[n] == '{' || prefix[n - 1] == '"')) {
            char *sp = strrchr(line, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    reply_free(&r);
    return sum;
}

/* Counted exactly: 3 PNG resizes, 2 failures; the histogram and the
 * libvips memory gauge are there. */
static void test_metrics(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s, NULL);
    double png0 = metric_sum(s.port, "rail_resize_total{format=\"png\"");
    double fail0 = metric_sum(s.port, "rail_resize_failures_total");
    double count0 = metric_sum(s.port, "rail_resize_duration_seconds_count");
    struct reply r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_get(s.port, "GET", "/resize?src=rb.png&w=30", NULL, &r), 200);
        reply_free(&r);
    }
    assert_int_equal(http_send(s.port, "POST /resize HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                               "\xff\xd8\xff\xe0garbage", 11, &r),
                     422);
    reply_free(&r);
    assert_int_equal(http_send(s.port, "POST /resize HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                               "plain text", 10, &r),
                     415);
    reply_free(&r);
    assert_true(metric_sum(s.port, "rail_resize_total{format=\"png\"") == png0 + 3);
    assert_true(metric_sum(s.port, "rail_resize_failures_total") == fail0 + 2);
    assert_true(metric_sum(s.port, "rail_resize_duration_seconds_count") >= count0 + 3);
    assert_true(metric_sum(s.port, "rail_resize_duration_seconds_bucket") > 0);
    assert_true(metric_sum(s.port, "rail_vips_memory_bytes") >= 0);
    assert_int_equal(http_get(s.port, "GET", "/metrics", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\nrail_vips_memory_bytes "));
    reply_free(&r);
    server_stop(&s);
}

static void expect_503_retry(struct reply *r, const char *ctx)
{
    char v[32];
    if (r->status != 503)
        fail_msg("%s: status %d, want 503", ctx, r->status);
    if (!reply_header(r, "retry-after", v, sizeof v) || atoi(v) < 1)
        fail_msg("%s: 503 without Retry-After", ctx);
    const char *nl = memchr(r->body, '\n', r->body_len);
    if (!nl || (size_t)(nl - r->body) != r->body_len - 1)
        fail_msg("%s: the 503 body is not one line", ctx);
}

/* --resize-timeout 500: a resize of seconds is cut off with 503 and
 * Retry-After, counted as a timeout, and the only worker is free again:
 * the next resize is answered with its picture. Twice, and once with a
 * second long resize queued behind the first (its deadline passes in the
 * queue: 503 too, without decoding). */
static void test_timeout_frees_worker(void **state)
{
    (void)state;
    struct server_proc s;
    /* 500 ms: the small resize after each long one must finish within it
     * even on a loaded machine (at 100 ms it failed under a load average of
     * 8 on 2 cores); LONG takes five times that. */
    const char *args[] = {"--threads", "1", "--resize-timeout", "500", NULL};
    start(&s, args);
    const char *timeouts = "rail_resize_failures_total{reason=\"timeout\"";
    double base = metric_sum(s.port, timeouts);
    for (int round = 0; round < 2; round++) {
        struct reply r;
        http_get(s.port, "GET", LONG, NULL, &r);
        expect_503_retry(&r, "a resize past --resize-timeout");
        reply_free(&r);
        VipsImage *img = resize_ok(s.port, "src=rb.png&w=40", NULL, "image/png", NULL);
        assert_size(img, 40, 30);
        assert_pixel_near(img, 20, 5, RED, 10);
        g_object_unref(img);
    }
    assert_true(metric_sum(s.port, timeouts) == base + 2);

    struct conn c[2];
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", LONG);
    for (int i = 0; i < 2; i++) {
        conn_open(&c[i], s.port);
        conn_sends(&c[i], req);
    }
    for (int i = 0; i < 2; i++) {
        struct reply r;
        if (conn_read_reply(&c[i], &r, false) != 0)
            fail_msg("long resize %d got no answer", i);
        expect_503_retry(&r, "a long resize, running or queued, past --resize-timeout");
        reply_free(&r);
        conn_close(&c[i]);
    }
    assert_true(metric_sum(s.port, timeouts) == base + 4);
    VipsImage *img = resize_ok(s.port, "src=rb.png&w=40", NULL, "image/png", NULL);
    assert_size(img, 40, 30);
    g_object_unref(img);
    server_stop(&s);
}

/* --threads 1 --queue 2 and 10 resizes at once: some are refused 503 with
 * Retry-After at once, every 200 is a whole, valid picture, and the 503s
 * counted by the server are exactly the ones received. */
static void test_burst_beyond_queue(void **state)
{
    (void)state;
    struct server_proc s;
    const char *args[] = {"--threads", "1", "--queue", "2", NULL};
    start(&s, args);
    double base = metric_sum(s.port, "rail_http_requests_total{code=\"503\"");
    enum { N = 10 };
    static struct conn c[N];
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", MID);
    for (int i = 0; i < N; i++) {
        conn_open(&c[i], s.port);
        conn_sends(&c[i], req);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        struct reply r;
        if (conn_read_reply(&c[i], &r, false) != 0)
            fail_msg("request %d got no answer", i);
        if (r.status == 200) {
            assert_body_is(&r, "image/png");
            VipsImage *img = img_decode(r.body, r.body_len);
            assert_size(img, 1999, 1499);
            assert_pixel_near(img, 1000, 10, RED, 4);
            assert_pixel_near(img, 1000, 1490, BLUE, 4);
            g_object_unref(img);
            ok++;
        } else {
            expect_503_retry(&r, "a resize beyond --queue");
            refused++;
        }
        reply_free(&r);
        conn_close(&c[i]);
    }
    assert_int_equal(ok + refused, N);
    if (ok < 1 || refused < 1)
        fail_msg("%d answered, %d refused: want both", ok, refused);
    assert_true(metric_sum(s.port, "rail_http_requests_total{code=\"503\"") == base + refused);
    server_stop(&s);
}

/* --threads 2 and four long resizes: /health and / answer within 200 ms
 * each while both workers resize; then every resize is answered. */
static void test_health_while_saturated(void **state)
{
    (void)state;
    struct server_proc s;
    const char *args[] = {"--threads", "2", "--resize-timeout", "120000", NULL};
    start(&s, args);
    enum { N = 4 };
    static struct conn c[N];
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", BIG);
    for (int i = 0; i < N; i++) {
        conn_open(&c[i], s.port);
        conn_sends(&c[i], req);
    }
    pause_ms(300); /* received, and both workers decoding */
    static const char *const cheap[] = {"/health", "/", "/health", "/", "/health"};
    for (size_t i = 0; i < sizeof cheap / sizeof cheap[0]; i++) {
        struct reply r;
        double t0 = now_ms();
        assert_int_equal(http_get(s.port, "GET", cheap[i], NULL, &r), 200);
        double took = now_ms() - t0;
        reply_free(&r);
        if (took > 200)
            fail_msg("%s took %.0f ms while every worker resized", cheap[i], took);
    }
    for (int i = 0; i < N; i++) {
        struct reply r;
        if (conn_read_reply(&c[i], &r, false) != 0)
            fail_msg("resize %d got no answer", i);
        assert_body_is(&r, "image/png");
        reply_free(&r);
        conn_close(&c[i]);
    }
    server_stop(&s);
}

/* SIGTERM with resizes running and queued: each is answered with its
 * picture, then the server exits 0. */
static void test_sigterm_answers_resizes(void **state)
{
    (void)state;
    struct server_proc s;
    const char *args[] = {"--threads", "1", NULL};
    start(&s, args);
    enum { N = 4 };
    static struct conn c[N];
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", MID);
    for (int i = 0; i < N - 1; i++) {
        conn_open(&c[i], s.port);
        conn_sends(&c[i], req);
    }
    size_t len;
    void *bytes = file_bytes(images, "rb.png", &len);
    conn_open(&c[N - 1], s.port);
    char head[128];
    snprintf(head, sizeof head,
             "POST /resize?w=200 HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
    conn_sends(&c[N - 1], head);
    conn_send(&c[N - 1], bytes, len);
    free(bytes);
    pause_ms(200); /* every request received */
    assert_int_equal(kill(s.pid, SIGTERM), 0);
    for (int i = 0; i < N; i++) {
        struct reply r;
        if (conn_read_reply(&c[i], &r, false) != 0)
            fail_msg("resize %d was not answered after SIGTERM", i);
        assert_body_is(&r, "image/png");
        VipsImage *img = img_decode(r.body, r.body_len);
        assert_int_equal(img->Xsize, i == N - 1 ? 200 : 1999);
        g_object_unref(img);
        reply_free(&r);
        conn_close(&c[i]);
    }
    assert_int_equal(server_wait(&s, 30000), 0);
    server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_etag, stop_servers),
        cmocka_unit_test_teardown(test_not_modified, stop_servers),
        cmocka_unit_test_teardown(test_cache_control, stop_servers),
        cmocka_unit_test_teardown(test_metrics, stop_servers),
        cmocka_unit_test_teardown(test_timeout_frees_worker, stop_servers),
        cmocka_unit_test_teardown(test_burst_beyond_queue, stop_servers),
        cmocka_unit_test_teardown(test_health_while_saturated, stop_servers),
        cmocka_unit_test_teardown(test_sigterm_answers_resizes, stop_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
