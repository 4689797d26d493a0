/*
 * test_resize_formats.c - what every /resize answer does, against the real
 * rail-server: the format by parameter, by default and by Accept (with
 * Vary), Content-Type matching the bytes, EXIF orientation applied, no
 * metadata left, CMYK and ICC-tagged inputs converted to sRGB, alpha
 * flattened on bg or kept, the first frame of an animation.
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

/* A colour inside sRGB's gamut whose Display P3 and CMYK encodings differ
 * clearly from its sRGB numbers. */
static const struct rgb BRICK = {200, 60, 40};
static const struct rgb WHITE = {255, 255, 255};

static void make_rb(void)
{
    static const char *const names[] = {"rb.png", "rb.jpg[Q=95]", "rb.webp[Q=95]", "rb.gif",
                                        "rb.avif[Q=90]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        VipsImage *img = img_solid(400, 300, BLUE);
        img_rect(img, 0, 0, 400, 150, RED);
        img_save(img, srv.root, names[i]);
    }
}

/* rot6.jpg: stored 300x200 with its left half red and EXIF orientation 6
 * (display rotated 90 degrees clockwise): upright it is 200x300 and its
 * top half is red. The fixture is checked with libvips' own autorot, so a
 * wrong fixture cannot pass for a wrong server. */
static void make_rotated(void)
{
    VipsImage *img = img_solid(300, 200, BLUE);
    img_rect(img, 0, 0, 150, 200, RED);
    vips_image_set_int(img, VIPS_META_ORIENTATION, 6);
    img_save(img, srv.root, "rot6.jpg[Q=95]");
    char path[256];
    snprintf(path, sizeof path, "%s/rot6.jpg", srv.root);
    VipsImage *in = vips_image_new_from_file(path, NULL), *up;
    assert_non_null(in);
    assert_int_equal(vips_image_get_orientation(in), 6);
    assert_int_equal(vips_autorot(in, &up, NULL), 0);
    VipsImage *mem = vips_image_copy_memory(up);
    assert_size(mem, 200, 300);
    assert_pixel_near(mem, 100, 20, RED, 20);
    assert_pixel_near(mem, 100, 280, BLUE, 20);
    g_object_unref(mem);
    g_object_unref(up);
    g_object_unref(in);
}

/* meta.jpg / meta.png / meta.webp: EXIF (an orientation of 1), XMP and an
 * ICC profile (libvips' sRGB). */
static void make_meta(void)
{
    static const char xmp[] = "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
                              "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/>"
                              "</x:xmpmeta>";
    static const char *const names[] = {"meta.jpg", "meta.png", "meta.webp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        VipsImage *img = img_solid(200, 100, BRICK), *tagged;
        assert_int_equal(vips_icc_transform(img, &tagged, "srgb", "input_profile", "srgb", NULL),
                         0);
        g_object_unref(img);
        vips_image_set_int(tagged, VIPS_META_ORIENTATION, 1);
        vips_image_set_blob_copy(tagged, VIPS_META_XMP_NAME, xmp, sizeof xmp - 1);
        img_save(tagged, srv.root, names[i]);
        size_t len;
        void *bytes = file_bytes(srv.root, names[i], &len);
        assert_true(has_metadata(bytes, len));
        free(bytes);
    }
}

/* cmyk.jpg (4 bands, CMYK, libvips' CMYK profile embedded) and p3.png
 * (BRICK in Display P3 numbers, the P3 profile embedded). */
static void make_colour(void)
{
    VipsImage *img = img_solid(200, 100, BRICK), *out;
    assert_int_equal(vips_icc_transform(img, &out, "cmyk", "input_profile", "srgb", NULL), 0);
    assert_int_equal(out->Bands, 4);
    img_save(out, srv.root, "cmyk.jpg[Q=95]");
    assert_int_equal(vips_icc_transform(img, &out, "p3", "input_profile", "srgb", NULL), 0);
    VipsImage *mem = vips_image_copy_memory(out);
    int px[4];
    img_pixel(mem, 10, 10, px);
    /* The test means something only if P3's numbers are not sRGB's. */
    assert_true(abs(px[0] - BRICK.r) + abs(px[1] - BRICK.g) + abs(px[2] - BRICK.b) > 30);
    g_object_unref(out);
    img_save(mem, srv.root, "p3.png");
    g_object_unref(img);
}

/* alpha.png: 200x100, the left half transparent, the right opaque green. */
static void make_alpha(void)
{
    VipsImage *img = img_solid(200, 100, GREEN), *rgba;
    assert_int_equal(vips_bandjoin_const1(img, &rgba, 255, NULL), 0);
    g_object_unref(img);
    VipsImage *mem = vips_image_copy_memory(rgba);
    g_object_unref(rgba);
    double clear[4] = {0, 0, 0, 0};
    assert_int_equal(vips_draw_rect(mem, clear, 4, 0, 0, 100, 100, "fill", TRUE, NULL), 0);
    img_save(mem, srv.root, "alpha.png");
}

/* anim.gif, anim.webp: three 64x64 pages, red, green, blue. */
static void make_animation(void)
{
    static const char *const names[] = {"anim.gif", "anim.webp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        VipsImage *frames[3] = {img_solid(64, 64, RED), img_solid(64, 64, GREEN),
                                img_solid(64, 64, BLUE)};
        VipsImage *strip;
        assert_int_equal(vips_arrayjoin(frames, &strip, 3, "across", 1, NULL), 0);
        for (int f = 0; f < 3; f++)
            g_object_unref(frames[f]);
        VipsImage *mem = vips_image_copy_memory(strip);
        g_object_unref(strip);
        vips_image_set_int(mem, VIPS_META_PAGE_HEIGHT, 64);
        vips_image_set_int(mem, VIPS_META_N_PAGES, 3);
        int delays[3] = {100, 100, 100};
        vips_image_set_array_int(mem, "delay", delays, 3);
        img_save(mem, srv.root, names[i]);
    }
}

static int setup(void **state)
{
    (void)state;
    image_init();
    server_start(&srv, NULL);
    make_rb();
    make_rotated();
    make_meta();
    make_colour();
    make_alpha();
    make_animation();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(&srv);
    return 0;
}

/* format= picks the encoder; Content-Type names it and the bytes are it. */
static void test_format_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *format, *type;
    } cases[] = {{"jpeg", "image/jpeg"},
                 {"png", "image/png"},
                 {"webp", "image/webp"},
                 {"avif", "image/avif"},
                 {"gif", "image/gif"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[128];
        snprintf(q, sizeof q, "src=rb.png&w=100&format=%s", cases[i].format);
        VipsImage *img = resize_ok(srv.port, q, NULL, cases[i].type, NULL);
        assert_size(img, 100, 75);
        assert_pixel_near(img, 50, 15, RED, 40);
        assert_pixel_near(img, 50, 60, BLUE, 40);
        g_object_unref(img);
    }
}

/* No format: the input's own. */
static void test_format_default(void **state)
{
    (void)state;
    static const struct {
        const char *src, *type;
    } cases[] = {{"rb.png", "image/png"},
                 {"rb.jpg", "image/jpeg"},
                 {"rb.webp", "image/webp"},
                 {"rb.gif", "image/gif"},
                 {"rb.avif", "image/avif"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[128];
        snprintf(q, sizeof q, "src=%s&w=40", cases[i].src);
        VipsImage *img = resize_ok(srv.port, q, NULL, cases[i].type, NULL);
        assert_size(img, 40, 30);
        g_object_unref(img);
    }
}

/* format=auto: avif if Accept lists image/avif, else webp if image/webp,
 * else png for a picture with alpha, else jpeg; the wildcards (any type,
 * any image type) do not count, nor a type with q=0. The answer carries
 * Vary: Accept. */
static void test_format_auto(void **state)
{
    (void)state;
    static const struct {
        const char *src, *accept, *type;
    } cases[] = {
        {"rb.png", "Accept: image/avif,image/webp,*/*\r\n", "image/avif"},
        {"rb.png", "Accept: text/html, image/avif;q=0.5\r\n", "image/avif"},
        {"rb.png", "Accept: image/webp,image/apng,*/*;q=0.8\r\n", "image/webp"},
        {"rb.png", "Accept: image/avif;q=0, image/webp\r\n", "image/webp"},
        {"rb.png", "Accept: */*\r\n", "image/jpeg"},
        {"rb.png", "Accept: image/*\r\n", "image/jpeg"},
        {"rb.png", "Accept: image/webp;q=0\r\n", "image/jpeg"},
        {"rb.png", "", "image/jpeg"},
        {"alpha.png", "Accept: */*\r\n", "image/png"},
        {"alpha.png", "", "image/png"},
        {"alpha.png", "Accept: image/webp\r\n", "image/webp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[128], vary[128];
        snprintf(q, sizeof q, "src=%s&w=50&format=auto", cases[i].src);
        struct reply r;
        VipsImage *img = resize_ok(srv.port, q, cases[i].accept, cases[i].type, &r);
        if (!reply_header(&r, "vary", vary, sizeof vary) || !strstr(vary, "Accept"))
            fail_msg("%s with '%s': no Vary: Accept", q, cases[i].accept);
        g_object_unref(img);
        reply_free(&r);
    }
}

/* EXIF orientation 6: the answer is upright (200x300, red on top), for
 * the size kept and for a resize, and carries no orientation of its own. */
static void test_orientation_applied(void **state)
{
    (void)state;
    VipsImage *img = resize_ok(srv.port, "src=rot6.jpg", NULL, "image/jpeg", NULL);
    assert_size(img, 200, 300);
    assert_pixel_near(img, 100, 20, RED, 30);
    assert_pixel_near(img, 100, 280, BLUE, 30);
    assert_int_equal(vips_image_get_orientation(img), 1);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=rot6.jpg&w=100&format=png", NULL, "image/png", NULL);
    assert_size(img, 100, 150);
    assert_pixel_near(img, 50, 10, RED, 30);
    assert_pixel_near(img, 50, 140, BLUE, 30);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=rot6.jpg&w=100&h=100&fit=cover&gravity=north", NULL,
                    "image/jpeg", NULL);
    assert_size(img, 100, 100);
    assert_pixel_near(img, 50, 50, RED, 30);
    g_object_unref(img);
}

/* EXIF, XMP, IPTC and ICC are gone from every answer. */
static void test_metadata_stripped(void **state)
{
    (void)state;
    static const char *const srcs[] = {"meta.jpg", "meta.png", "meta.webp",
                                       "rot6.jpg", "p3.png",   "cmyk.jpg"};
    static const struct {
        const char *format, *type;
    } outs[] = {{"jpeg", "image/jpeg"},
                {"png", "image/png"},
                {"webp", "image/webp"},
                {"avif", "image/avif"}};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++)
        for (size_t j = 0; j < sizeof outs / sizeof outs[0]; j++) {
            char q[128];
            snprintf(q, sizeof q, "src=%s&w=60&format=%s", srcs[i], outs[j].format);
            struct reply r;
            VipsImage *img = resize_ok(srv.port, q, NULL, outs[j].type, &r);
            if (has_metadata(r.body, r.body_len))
                fail_msg("%s: metadata left in the answer", q);
            g_object_unref(img);
            reply_free(&r);
        }
}

/* CMYK and Display P3 inputs come back as 3-band sRGB with the colour the
 * eye saw (not the raw numbers). */
static void test_colour_converted(void **state)
{
    (void)state;
    static const struct {
        const char *query, *type;
        int tol;
    } cases[] = {
        {"src=cmyk.jpg&w=100", "image/jpeg", 16},
        {"src=cmyk.jpg&w=100&format=png", "image/png", 14},
        {"src=p3.png&w=100", "image/png", 6},
        {"src=p3.png&w=100&format=jpeg", "image/jpeg", 12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        VipsImage *img = resize_ok(srv.port, cases[i].query, NULL, cases[i].type, NULL);
        if (img->Bands != 3 || img->Type != VIPS_INTERPRETATION_sRGB ||
            img->BandFmt != VIPS_FORMAT_UCHAR)
            fail_msg("%s: %d bands, interpretation %d, format %d; want 8-bit sRGB", cases[i].query,
                     img->Bands, img->Type, img->BandFmt);
        assert_size(img, 100, 50);
        assert_pixel_near(img, 50, 25, BRICK, cases[i].tol);
        g_object_unref(img);
    }
}

/* Alpha: flattened on bg for JPEG, kept by PNG and WebP. */
static void test_alpha(void **state)
{
    (void)state;
    VipsImage *img =
        resize_ok(srv.port, "src=alpha.png&format=jpeg&bg=ff0000", NULL, "image/jpeg", NULL);
    assert_int_equal(img->Bands, 3);
    assert_pixel_near(img, 30, 50, RED, 16);
    assert_pixel_near(img, 170, 50, GREEN, 16);
    g_object_unref(img);
    img = resize_ok(srv.port, "src=alpha.png&format=jpeg", NULL, "image/jpeg", NULL);
    assert_pixel_near(img, 30, 50, WHITE, 16);
    g_object_unref(img);
    static const struct {
        const char *query, *type;
    } keep[] = {{"src=alpha.png&format=png&bg=ff0000", "image/png"},
                {"src=alpha.png&w=100&format=webp", "image/webp"},
                {"src=alpha.png&w=100", "image/png"}};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        img = resize_ok(srv.port, keep[i].query, NULL, keep[i].type, NULL);
        int px[4];
        if (img->Bands != 4)
            fail_msg("%s: %d bands, the alpha was lost", keep[i].query, img->Bands);
        img_pixel(img, img->Xsize / 8, img->Ysize / 2, px);
        if (px[3] != 0)
            fail_msg("%s: left side alpha %d, want 0", keep[i].query, px[3]);
        img_pixel(img, img->Xsize * 7 / 8, img->Ysize / 2, px);
        if (px[3] != 255 || px[1] < 230)
            fail_msg("%s: right side (%d,%d,%d,%d), want opaque green", keep[i].query, px[0], px[1],
                     px[2], px[3]);
        g_object_unref(img);
    }
}

/* An animation: one page, the first (red), in the input's format or not. */
static void test_first_frame(void **state)
{
    (void)state;
    static const struct {
        const char *query, *type;
    } cases[] = {{"src=anim.gif&w=32", "image/gif"},
                 {"src=anim.webp&w=32", "image/webp"},
                 {"src=anim.gif&w=32&format=png", "image/png"},
                 {"src=anim.webp", "image/webp"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reply r;
        VipsImage *img = resize_ok(srv.port, cases[i].query, NULL, cases[i].type, &r);
        int side = strstr(cases[i].query, "w=32") ? 32 : 64;
        assert_size(img, side, side);
        assert_pixel_near(img, side / 2, side / 2, RED, 30);
        g_object_unref(img);
        /* Every page of an animated format: still one. */
        if (strcmp(cases[i].type, "image/png") != 0) {
            VipsImage *all = vips_image_new_from_buffer(r.body, r.body_len, "", "n", -1, NULL);
            if (!all)
                fail_msg("%s: %s", cases[i].query, vips_error_buffer());
            if (all->Ysize != side)
                fail_msg("%s: the answer has %d rows of pages, want one page", cases[i].query,
                         all->Ysize);
            g_object_unref(all);
        }
        reply_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_format_parameter, stop_servers),
        cmocka_unit_test_teardown(test_format_default, stop_servers),
        cmocka_unit_test_teardown(test_format_auto, stop_servers),
        cmocka_unit_test_teardown(test_orientation_applied, stop_servers),
        cmocka_unit_test_teardown(test_metadata_stripped, stop_servers),
        cmocka_unit_test_teardown(test_colour_converted, stop_servers),
        cmocka_unit_test_teardown(test_alpha, stop_servers),
        cmocka_unit_test_teardown(test_first_frame, stop_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
