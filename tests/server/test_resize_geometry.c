/*
 * test_resize_geometry.c - the /resize contract's geometry against the real
 * rail-server: one side, both sides, every fit mode with enlarge 0 and 1,
 * cover's gravity, contain's padding colour, and POST giving the same
 * pixels as GET. Pictures are generated with libvips into the server's
 * document root (the default --images) and answered as PNG, so pixels can
 * be checked exactly enough.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image_util.h"

static struct server_proc srv;

/* 400x300 pictures: rb (top half red, bottom blue), bands_v (a red
 * quarter on the left, a green one on the right, blue between), bands_h
 * (the same, top and bottom), blue (plain). */
static int setup(void **state)
{
    (void)state;
    image_init();
    server_start(&srv, NULL);
    VipsImage *img = img_solid(400, 300, BLUE);
    img_rect(img, 0, 0, 400, 150, RED);
    VipsImage *jpeg = img;
    g_object_ref(jpeg);
    img_save(img, srv.root, "rb.png");
    img_save(jpeg, srv.root, "rb.jpg[Q=95]");
    img = img_solid(400, 300, BLUE);
    img_rect(img, 0, 0, 100, 300, RED);
    img_rect(img, 300, 0, 100, 300, GREEN);
    img_save(img, srv.root, "bands_v.png");
    img = img_solid(400, 300, BLUE);
    img_rect(img, 0, 0, 400, 75, RED);
    img_rect(img, 0, 225, 400, 75, GREEN);
    img_save(img, srv.root, "bands_h.png");
    img_save(img_solid(400, 300, BLUE), srv.root, "blue.png");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(&srv);
    return 0;
}

struct size_case {
    const char *query;
    int w, h;
};

static void check_sizes(const struct size_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        VipsImage *img = resize_ok(srv.port, cases[i].query, NULL, "image/png", NULL);
        if (img->Xsize != cases[i].w || img->Ysize != cases[i].h)
            fail_msg("%s: %dx%d, want %dx%d", cases[i].query, img->Xsize, img->Ysize, cases[i].w,
                     cases[i].h);
        g_object_unref(img);
    }
}

/* One side keeps the aspect ratio, the other rounded to the nearest
 * integer (300 * 50/400... 400 * 50/300 = 66.7 -> 67); neither keeps the
 * size; enlarge=0 never scales up, enlarge=1 does. */
static void test_one_side_and_none(void **state)
{
    (void)state;
    static const struct size_case cases[] = {
        {"src=rb.png", 400, 300},
        {"src=rb.png&w=100", 100, 75},
        {"src=rb.png&h=150", 200, 150},
        {"src=rb.png&h=50", 67, 50},
        {"src=rb.png&w=200&enlarge=0", 200, 150},
        {"src=rb.png&w=800", 400, 300},
        {"src=rb.png&h=600&enlarge=0", 400, 300},
        {"src=rb.png&w=800&enlarge=1", 800, 600},
        {"src=rb.png&h=600&enlarge=1", 800, 600},
        {"src=rb.png&h=1", 1, 1},
    };
    check_sizes(cases, sizeof cases / sizeof cases[0]);
}

/* inside (the default) and outside: aspect kept, one side equal. */
static void test_inside_outside(void **state)
{
    (void)state;
    static const struct size_case cases[] = {
        {"src=rb.png&w=200&h=200", 200, 150},
        {"src=rb.png&w=200&h=200&fit=inside", 200, 150},
        {"src=rb.png&w=200&h=50&fit=inside", 67, 50},
        {"src=rb.png&w=800&h=800&fit=inside", 400, 300},
        {"src=rb.png&w=800&h=800&fit=inside&enlarge=1", 800, 600},
        {"src=rb.png&w=200&h=200&fit=outside", 267, 200},
        {"src=rb.png&w=100&h=50&fit=outside", 100, 75},
        {"src=rb.png&w=800&h=800&fit=outside", 400, 300},
        {"src=rb.png&w=800&h=800&fit=outside&enlarge=1", 1067, 800},
    };
    check_sizes(cases, sizeof cases / sizeof cases[0]);
}

/* fill: exactly w x h, stretched (both halves still there), enlarge or not. */
static void test_fill(void **state)
{
    (void)state;
    static const struct size_case cases[] = {
        {"src=rb.png&w=100&h=300&fit=fill", 100, 300},
        {"src=rb.png&w=800&h=100&fit=fill", 800, 100},
        {"src=rb.png&w=800&h=100&fit=fill&enlarge=1", 800, 100},
    };
    check_sizes(cases, sizeof cases / sizeof cases[0]);
    VipsImage *img =
        resize_ok(srv.port, "src=rb.png&w=100&h=300&fit=fill", NULL, "image/png", NULL);
    assert_pixel_near(img, 50, 20, RED, 10);
    assert_pixel_near(img, 50, 130, RED, 10);
    assert_pixel_near(img, 50, 170, BLUE, 10);
    assert_pixel_near(img, 50, 280, BLUE, 10);
    g_object_unref(img);
}

/* cover: exactly w x h whatever enlarge says, the overflow cropped around
 * gravity. bands_v scaled to 267x200 has red at x<67 and green at x>=200:
 * centre keeps x 33..233, west 0..200, east 67..267. */
static void test_cover_gravity(void **state)
{
    (void)state;
    static const struct size_case cases[] = {
        {"src=rb.png&w=200&h=200&fit=cover", 200, 200},
        {"src=rb.png&w=800&h=800&fit=cover", 800, 800},
        {"src=rb.png&w=800&h=800&fit=cover&enlarge=1", 800, 800},
        {"src=rb.png&w=100&h=100&fit=cover&gravity=attention", 100, 100},
        {"src=rb.png&w=100&h=100&fit=cover&gravity=entropy", 100, 100},
    };
    check_sizes(cases, sizeof cases / sizeof cases[0]);

    const char *q = "src=bands_v.png&w=200&h=200&fit=cover";
    VipsImage *img = resize_ok(srv.port, q, NULL, "image/png", NULL);
    assert_size(img, 200, 200);
    assert_pixel_near(img, 10, 100, RED, 10);
    assert_pixel_near(img, 50, 100, BLUE, 10);
    assert_pixel_near(img, 150, 100, BLUE, 10);
    assert_pixel_near(img, 190, 100, GREEN, 10);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=bands_v.png&w=200&h=200&fit=cover&gravity=centre", NULL,
                    "image/png", NULL);
    assert_pixel_near(img, 50, 100, BLUE, 10);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=bands_v.png&w=200&h=200&fit=cover&gravity=west", NULL,
                    "image/png", NULL);
    assert_pixel_near(img, 50, 100, RED, 10);
    assert_pixel_near(img, 190, 100, BLUE, 10);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=bands_v.png&w=200&h=200&fit=cover&gravity=east", NULL,
                    "image/png", NULL);
    assert_pixel_near(img, 10, 100, BLUE, 10);
    assert_pixel_near(img, 150, 100, GREEN, 10);
    g_object_unref(img);

    /* bands_h scaled to 200x150 for 200x100: red y<37, green y>=112;
     * centre keeps y 25..125, north 0..100, south 50..150. */
    img = resize_ok(srv.port, "src=bands_h.png&w=200&h=100&fit=cover", NULL, "image/png", NULL);
    assert_size(img, 200, 100);
    assert_pixel_near(img, 100, 4, RED, 10);
    assert_pixel_near(img, 100, 25, BLUE, 10);
    assert_pixel_near(img, 100, 75, BLUE, 10);
    assert_pixel_near(img, 100, 96, GREEN, 10);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=bands_h.png&w=200&h=100&fit=cover&gravity=north", NULL,
                    "image/png", NULL);
    assert_pixel_near(img, 100, 25, RED, 10);
    assert_pixel_near(img, 100, 96, BLUE, 10);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=bands_h.png&w=200&h=100&fit=cover&gravity=south", NULL,
                    "image/png", NULL);
    assert_pixel_near(img, 100, 4, BLUE, 10);
    assert_pixel_near(img, 100, 75, GREEN, 10);
    g_object_unref(img);
}

/* contain: exactly w x h, the picture centred, the rest bg (white by
 * default); with enlarge=0 a small picture keeps its size in the middle. */
static void test_contain_padding(void **state)
{
    (void)state;
    VipsImage *img = resize_ok(srv.port, "src=blue.png&w=200&h=200&fit=contain&bg=00ff00", NULL,
                               "image/png", NULL);
    assert_size(img, 200, 200); /* the picture is 200x150, 25 rows above and below */
    assert_pixel_near(img, 0, 0, GREEN, 2);
    assert_pixel_near(img, 199, 0, GREEN, 2);
    assert_pixel_near(img, 0, 199, GREEN, 2);
    assert_pixel_near(img, 199, 199, GREEN, 2);
    assert_pixel_near(img, 100, 10, GREEN, 2);
    assert_pixel_near(img, 100, 190, GREEN, 2);
    assert_pixel_near(img, 100, 100, BLUE, 10);
    assert_pixel_near(img, 0, 100, BLUE, 10);
    assert_pixel_near(img, 199, 100, BLUE, 10);
    g_object_unref(img);

    img = resize_ok(srv.port, "src=blue.png&w=200&h=200&fit=contain", NULL, "image/png", NULL);
    assert_pixel_near(img, 0, 0, ((struct rgb){255, 255, 255}), 2);
    assert_pixel_near(img, 199, 199, ((struct rgb){255, 255, 255}), 2);
    assert_pixel_near(img, 100, 100, BLUE, 10);
    g_object_unref(img);

    /* enlarge=0: the 400x300 picture stays 400x300 at x 200..600, y 250..550. */
    img = resize_ok(srv.port, "src=blue.png&w=800&h=800&fit=contain&bg=00ff00", NULL, "image/png",
                    NULL);
    assert_size(img, 800, 800);
    assert_pixel_near(img, 400, 400, BLUE, 10);
    assert_pixel_near(img, 210, 260, BLUE, 10);
    assert_pixel_near(img, 100, 400, GREEN, 2);
    assert_pixel_near(img, 700, 400, GREEN, 2);
    assert_pixel_near(img, 400, 100, GREEN, 2);
    assert_pixel_near(img, 400, 700, GREEN, 2);
    assert_pixel_near(img, 0, 0, GREEN, 2);
    g_object_unref(img);

    /* enlarge=1: 800x600 at y 100..700. */
    img = resize_ok(srv.port, "src=blue.png&w=800&h=800&fit=contain&bg=00ff00&enlarge=1", NULL,
                    "image/png", NULL);
    assert_size(img, 800, 800);
    assert_pixel_near(img, 10, 400, BLUE, 10);
    assert_pixel_near(img, 400, 150, BLUE, 10);
    assert_pixel_near(img, 400, 60, GREEN, 2);
    assert_pixel_near(img, 400, 740, GREEN, 2);
    g_object_unref(img);
}

/* The halves of rb stay where they were after a resize. */
static void test_content_kept(void **state)
{
    (void)state;
    VipsImage *img = resize_ok(srv.port, "src=rb.png&w=100", NULL, "image/png", NULL);
    assert_pixel_near(img, 50, 10, RED, 10);
    assert_pixel_near(img, 50, 65, BLUE, 10);
    g_object_unref(img);
}

/* The same bytes POSTed and read from a file under --images: the same
 * pixels, byte for byte after decoding. */
static void post_equals_get(const char *name, const char *params)
{
    size_t len;
    void *bytes = file_bytes(srv.root, name, &len);
    char head[1024], query[512];
    snprintf(head, sizeof head,
             "POST /resize?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Type: application/octet-stream\r\n",
             params);
    struct reply post;
    assert_int_equal(http_send(srv.port, head, bytes, len, &post), 200);
    assert_body_is(&post, "image/png");
    snprintf(query, sizeof query, "src=%s&%s", name, params);
    VipsImage *got = resize_ok(srv.port, query, NULL, "image/png", NULL);
    VipsImage *posted = img_decode(post.body, post.body_len);
    assert_int_equal(posted->Xsize, got->Xsize);
    assert_int_equal(posted->Ysize, got->Ysize);
    assert_int_equal(posted->Bands, got->Bands);
    size_t a_len, b_len;
    void *a = vips_image_write_to_memory(posted, &a_len);
    void *b = vips_image_write_to_memory(got, &b_len);
    assert_int_equal(a_len, b_len);
    if (memcmp(a, b, a_len) != 0)
        fail_msg("%s?%s: POST and GET give different pixels", name, params);
    g_free(a);
    g_free(b);
    g_object_unref(posted);
    g_object_unref(got);
    reply_free(&post);
    free(bytes);
}

static void test_post_equals_get(void **state)
{
    (void)state;
    post_equals_get("rb.jpg", "w=150&format=png");
    post_equals_get("rb.png", "w=123&h=77&fit=cover");
    post_equals_get("bands_v.png", "w=90&h=90&fit=contain&bg=102030");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_one_side_and_none, stop_servers),
        cmocka_unit_test_teardown(test_inside_outside, stop_servers),
        cmocka_unit_test_teardown(test_fill, stop_servers),
        cmocka_unit_test_teardown(test_cover_gravity, stop_servers),
        cmocka_unit_test_teardown(test_contain_padding, stop_servers),
        cmocka_unit_test_teardown(test_content_kept, stop_servers),
        cmocka_unit_test_teardown(test_post_equals_get, stop_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
