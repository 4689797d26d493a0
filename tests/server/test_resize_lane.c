/*
 * test_resize_lane.c - heavy images in the slow lane, against the real
 * rail-server: which inputs count as heavy (RESIZE_HEAVY_PIXELS: large
 * progressive JPEG, interlaced PNG, WebP; never baseline JPEG or a PNG
 * read line by line), and that with two workers a burst of heavy resizes,
 * by GET and by POST, holds one worker while quick requests are answered
 * on the other — counted on /metrics, not timed.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image_util.h"

/* Generated once into its own directory, used as --images. The heavy ones
 * are noise, so that decoding them is real work: 4000x3000 (12 MP). */
static char images[64] = "/tmp/rail-resize-lane-XXXXXX";

static int setup(void **state)
{
    (void)state;
    image_init();
    assert_non_null(mkdtemp(images));
    img_save(img_noise(4000, 3000), images, "prog.jpg[Q=80,interlace]");
    img_save(img_noise(4000, 3000), images, "base.jpg[Q=90]");
    img_save(img_noise(2500, 2000), images, "adam7.png[interlace,compression=1]");
    img_save(img_noise(2500, 2000), images, "lines.png[compression=1]");
    img_save(img_noise(2500, 2000), images, "big.webp[Q=80]");
    img_save(img_noise(1000, 1000), images, "small.webp[Q=80]");
    img_save(img_noise(400, 300), images, "quick.jpg");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(images);
    return 0;
}

static void start(struct server_proc *s)
{
    const char *args[] = {"--images", images,       "--threads", "2", "--resize-timeout",
                          "600000",   "--max-body", "67108864",  NULL};
    resize_server_start(s, args);
}

/* The value of an unlabelled metric. */
static double metric(int port, const char *name)
{
    struct reply r;
    assert_int_equal(http_get(port, "GET", "/metrics", NULL, &r), 200);
    double v = -1;
    size_t n = strlen(name);
    for (const char *line = r.body; line && *line;) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    reply_free(&r);
    if (v < 0)
        fail_msg("no metric %s", name);
    return v;
}

static void resize_200(int port, const char *src)
{
    char target[128];
    snprintf(target, sizeof target, "/resize?src=%s&w=200", src);
    struct reply r;
    assert_int_equal(http_get(port, "GET", target, NULL, &r), 200);
    reply_free(&r);
}

/* Each input counted heavy or not, exactly. */
static void test_which_inputs_are_heavy(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s);
    static const struct {
        const char *src;
        int heavy;
    } cases[] = {
        {"prog.jpg", 1}, {"base.jpg", 0},   {"adam7.png", 1}, {"lines.png", 0},
        {"big.webp", 1}, {"small.webp", 0}, {"quick.jpg", 0},
    };
    double count = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resize_200(s.port, cases[i].src);
        count += cases[i].heavy;
        double seen = metric(s.port, "rail_resize_heavy_total");
        if (seen != count)
            fail_msg("after %s: rail_resize_heavy_total %.0f, want %.0f", cases[i].src, seen,
                     count);
    }
    assert_true(metric(s.port, "rail_slow_lane_slots") == 1);
    assert_true(metric(s.port, "rail_slow_lane_running") == 0);
    server_stop(&s);
}

/* Heavy answers a client has been sent so far (readable sockets). */
static int answered(struct conn *c, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = c[i].fd, .events = POLLIN};
        k += poll(&p, 1, 0) == 1;
    }
    return k;
}

/* Two workers, six heavy resizes at once (three GET, three POST): the
 * lane runs one and keeps the rest waiting, never two; quick requests
 * meanwhile are answered by the other worker, while heavy work remains —
 * without the lane they queue behind at least three of the heavy ones.
 * Then every heavy resize is answered with its picture. */
static void test_heavy_burst_leaves_a_worker(void **state)
{
    (void)state;
    struct server_proc s;
    start(&s);
    enum { N = 6 };
    static struct conn c[N];
    size_t len;
    void *body = file_bytes(images, "prog.jpg", &len);
    for (int i = 0; i < N; i++) {
        conn_open(&c[i], s.port);
        char head[256];
        if (i % 2 == 0) {
            conn_sends(&c[i], "GET /resize?src=prog.jpg&w=800 HTTP/1.1\r\nHost: t\r\n\r\n");
            continue;
        }
        snprintf(head, sizeof head,
                 "POST /resize?w=800 HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
        conn_sends(&c[i], head);
        conn_send(&c[i], body, len);
    }
    free(body);

    /* Every one classified: one runs, the others wait (a slot freed by a
     * finished one is taken by the next at once). */
    double limit = now_ms() + 60000.0 * time_scale();
    while (metric(s.port, "rail_resize_heavy_total") < N) {
        assert_true(metric(s.port, "rail_slow_lane_running") <= 1);
        if (now_ms() > limit)
            fail_msg("only %.0f of %d heavy resizes classified in time",
                     metric(s.port, "rail_resize_heavy_total"), N);
        pause_ms(5);
    }
    double running = metric(s.port, "rail_slow_lane_running");
    double waiting = metric(s.port, "rail_slow_lane_waiting");
    if (running != 1 || waiting < 1)
        fail_msg("lane: %.0f running, %.0f waiting; want 1 and some", running, waiting);

    /* Quick work, while heavy work remains. */
    resize_200(s.port, "quick.jpg");
    struct reply r;
    assert_int_equal(http_get(s.port, "GET", "/", NULL, &r), 200);
    reply_free(&r);
    int before = answered(c, N);
    if (before > 2)
        fail_msg("%d heavy resizes were answered before the quick ones", before);

    for (int i = 0; i < N; i++) {
        if (conn_read_reply(&c[i], &r, false) != 0)
            fail_msg("heavy resize %d got no answer", i);
        assert_status(&r, 200);
        VipsImage *img = img_decode(r.body, r.body_len);
        assert_size(img, 800, 600);
        g_object_unref(img);
        reply_free(&r);
        conn_close(&c[i]);
    }
    assert_true(metric(s.port, "rail_slow_lane_running") == 0);
    assert_true(metric(s.port, "rail_slow_lane_waiting") == 0);
    assert_true(metric(s.port, "rail_resize_heavy_total") == N);
    server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_which_inputs_are_heavy, stop_servers),
        cmocka_unit_test_teardown(test_heavy_burst_leaves_a_worker, stop_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
