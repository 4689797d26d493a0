/*
 * test_resize_errors.c - every error of the /resize contract against the
 * real rail-server, each with its one-line text body: 400 for each bad
 * parameter, 404, 405, 413, 415 (SVG, PDF, TIFF and other formats), 422
 * (truncated, corrupt, and decompression bombs refused fast with the
 * server's memory flat), and src paths that climb out of --images.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "image_util.h"

static struct server_proc srv;

/* Fails unless r is status with a one-line text/plain body containing
 * what (when not NULL). */
static void assert_error(const struct reply *r, int status, const char *what, const char *ctx)
{
    char type[128];
    if (r->status != status)
        fail_msg("%s: status %d, want %d (body '%.200s')", ctx, r->status, status,
                 r->body ? r->body : "");
    if (!reply_header(r, "content-type", type, sizeof type) || strncmp(type, "text/plain", 10))
        fail_msg("%s: Content-Type '%s', want text/plain", ctx, type);
    const char *nl = r->body_len ? memchr(r->body, '\n', r->body_len) : NULL;
    if (r->body_len < 2 || !nl || (size_t)(nl - r->body) != r->body_len - 1)
        fail_msg("%s: the body is not one line: '%.200s'", ctx, r->body ? r->body : "");
    if (what && !strstr(r->body, what))
        fail_msg("%s: the body '%s' does not name '%s'", ctx, r->body, what);
}

static void get_error(int port, const char *target, int status, const char *what)
{
    struct reply r;
    http_get(port, "GET", target, NULL, &r);
    assert_error(&r, status, what, target);
    reply_free(&r);
}

static int post_bytes(int port, const char *query, const void *body, size_t len, struct reply *r)
{
    char head[512];
    snprintf(head, sizeof head,
             "POST /resize%s%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Type: application/octet-stream\r\n",
             *query ? "?" : "", query);
    return http_send(port, head, body, len, r);
}

static void post_error(int port, const char *query, const void *body, size_t len, int status,
                       const char *what, const char *ctx)
{
    struct reply r;
    post_bytes(port, query, body, len, &r);
    assert_error(&r, status, what, ctx);
    reply_free(&r);
}

static void write_bytes(const char *dir, const char *name, const void *b, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b, 1, len, f);
    fclose(f);
}

/* noise.jpg / noise.png: 300x200 of noise, so that a cut lands in data. */
static void make_noise(void)
{
    VipsImage *noise, *u;
    assert_int_equal(
        vips_gaussnoise(&noise, 300, 200, "mean", 128.0, "sigma", 60.0, "seed", 42, NULL), 0);
    assert_int_equal(vips_cast_uchar(noise, &u, NULL), 0);
    g_object_unref(noise);
    VipsImage *rgb;
    VipsImage *bands[3] = {u, u, u};
    assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
    g_object_unref(u);
    VipsImage *srgb;
    assert_int_equal(vips_copy(rgb, &srgb, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    g_object_unref(rgb);
    g_object_ref(srgb);
    img_save(srgb, srv.root, "noise.jpg");
    img_save(srgb, srv.root, "noise.png");
}

static int setup(void **state)
{
    (void)state;
    image_init();
    server_start(&srv, NULL);
    img_save(img_solid(100, 80, RED), srv.root, "ok.png");
    img_save(img_solid(100, 80, RED), srv.root, "ok.jpg");
    img_save(img_solid(50, 40, RED), srv.root, "sub/inner.png");
    make_noise();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(&srv);
    return 0;
}

/* A bad parameter: 400 naming it. */
static void test_bad_parameters(void **state)
{
    (void)state;
    static const struct {
        const char *query, *name;
    } cases[] = {
        {"w=0", "w"},
        {"w=16385", "w"},
        {"w=abc", "w"},
        {"w=", "w"},
        {"w=-5", "w"},
        {"w=1.5", "w"},
        {"w=12px", "w"},
        {"h=0", "h"},
        {"h=99999", "h"},
        {"h=99999999999999999999", "h"},
        {"w=100&h=100&fit=bogus", "fit"},
        {"fit=", "fit"},
        {"w=10&h=10&fit=cover&gravity=up", "gravity"},
        {"enlarge=2", "enlarge"},
        {"enlarge=yes", "enlarge"},
        {"format=bmp", "format"},
        {"format=tiff", "format"},
        {"q=0", "q"},
        {"q=101", "q"},
        {"q=x", "q"},
        {"bg=zzzzzz", "bg"},
        {"bg=fff", "bg"},
        {"bg=%23ffffff", "bg"},
        {"bg=fffffff", "bg"},
        {"foo=1", "foo"},
        {"width=100", "width"},
        {"%0Abad%0D%0A=1", "bad"}, /* named, yet still one line */
        {"w=10&w=20", "w"},
        {"format=png&format=png", "format"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char target[256];
        snprintf(target, sizeof target, "/resize?src=ok.png&%s", cases[i].query);
        get_error(srv.port, target, 400, cases[i].name);
        /* The same on a POST: the parameters are checked before the body. */
        size_t len;
        void *bytes = file_bytes(srv.root, "ok.png", &len);
        post_error(srv.port, cases[i].query, bytes, len, 400, cases[i].name, cases[i].query);
        free(bytes);
    }
}

/* src: required on GET, refused on POST. */
static void test_src_rules(void **state)
{
    (void)state;
    get_error(srv.port, "/resize", 400, "src");
    get_error(srv.port, "/resize?w=10", 400, "src");
    get_error(srv.port, "/resize?src=", 400, "src");
    size_t len;
    void *bytes = file_bytes(srv.root, "ok.png", &len);
    post_error(srv.port, "src=ok.png", bytes, len, 400, "src", "POST with src");
    free(bytes);
    struct reply r;
    assert_int_equal(http_get(srv.port, "HEAD", "/resize?w=10", NULL, &r), 400);
    reply_free(&r);
}

static void test_not_found(void **state)
{
    (void)state;
    get_error(srv.port, "/resize?src=nothere.png", 404, NULL);
    get_error(srv.port, "/resize?src=sub/nothere.jpg&w=10", 404, NULL);
    get_error(srv.port, "/resize?src=sub", 404, NULL);
}

static void test_other_methods(void **state)
{
    (void)state;
    static const char *const methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char head[256], allow[64];
        snprintf(head, sizeof head,
                 "%s /resize?src=ok.png HTTP/1.1\r\nHost: t\r\n"
                 "Connection: close\r\n",
                 methods[i]);
        struct reply r;
        http_send(srv.port, head, "", 0, &r);
        assert_error(&r, 405, NULL, methods[i]);
        if (!reply_header(&r, "allow", allow, sizeof allow) || strcmp(allow, "GET, HEAD, POST"))
            fail_msg("%s: Allow is not 'GET, HEAD, POST'", methods[i]);
        reply_free(&r);
    }
}

/* A body over --max-body: 413, before it is read whole. */
static void test_body_too_large(void **state)
{
    (void)state;
    struct server_proc small;
    const char *args[] = {"--max-body", "4096", NULL};
    resize_server_start(&small, args);
    /* 8 KB: over the limit, small enough to be sent whole before the
     * answer (a closed socket would fail the send, not the test). */
    size_t len;
    void *bytes = file_bytes(srv.root, "noise.png", &len);
    assert_true(len > 8192);
    post_error(small.port, "w=10", bytes, 8192, 413, NULL, "POST over --max-body");
    struct reply r;
    assert_int_equal(http_get(small.port, "GET", "/health", NULL, &r), 200);
    reply_free(&r);
    free(bytes);
    server_stop(&small);
}

/* Bytes of a format that is not allowed, or of none: 415, by POST and by
 * GET (the file is sniffed too, whatever its name says). */
static void test_unsupported_media(void **state)
{
    (void)state;
    static const char svg[] = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                              "width=\"100\" height=\"100\"><rect width=\"100\" height=\"100\" "
                              "fill=\"red\"/></svg>\n";
    static const char pdf[] = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                              "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                              "3 0 obj<</Type/Page/MediaBox[0 0 100 100]/Parent 2 0 R>>endobj\n"
                              "trailer<</Root 1 0 R>>\n%%EOF\n";
    static const char text[] = "hello, this is not an image\n";
    post_error(srv.port, "w=10", svg, sizeof svg - 1, 415, NULL, "SVG");
    post_error(srv.port, "w=10", pdf, sizeof pdf - 1, 415, NULL, "PDF");
    post_error(srv.port, "w=10", text, sizeof text - 1, 415, NULL, "text");
    post_error(srv.port, "", "", 0, 415, NULL, "empty body");

    /* Formats libvips reads but the contract refuses. */
    static const char ppm[] = "P3\n2 1\n255\n255 0 0 0 0 255\n";
    static const unsigned char bmp[] = {'B', 'M', 58, 0, 0, 0, 0, 0, 0, 0, 54, 0,   0, 0,  40,
                                        0,   0,   0,  1, 0, 0, 0, 1, 0, 0, 0,  1,   0, 24, 0,
                                        0,   0,   0,  0, 4, 0, 0, 0, 0, 0, 0,  0,   0, 0,  0,
                                        0,   0,   0,  0, 0, 0, 0, 0, 0, 0, 0,  255, 0};
    post_error(srv.port, "w=10", ppm, sizeof ppm - 1, 415, NULL, "PPM");
    post_error(srv.port, "w=10", bmp, sizeof bmp, 415, NULL, "BMP");
    static const char *const saved[] = {"pic.tif", "pic.v"};
    for (size_t i = 0; i < sizeof saved / sizeof saved[0]; i++) {
        img_save(img_solid(20, 10, RED), srv.root, saved[i]);
        size_t len;
        void *bytes = file_bytes(srv.root, saved[i], &len);
        post_error(srv.port, "w=10", bytes, len, 415, NULL, saved[i]);
        free(bytes);
        char target[128];
        snprintf(target, sizeof target, "/resize?src=%s&w=10", saved[i]);
        get_error(srv.port, target, 415, NULL);
    }
    /* A file named like an image is sniffed, not believed. */
    char path[256];
    snprintf(path, sizeof path, "%s/fake.png", srv.root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(svg, f);
    fclose(f);
    get_error(srv.port, "/resize?src=fake.png", 415, NULL);
    get_error(srv.port, "/resize?src=sub/digits.txt", 415, NULL);
}

/* Truncated images of an allowed format: 422, by POST and GET. */
static void test_truncated(void **state)
{
    (void)state;
    static const char *const names[] = {"noise.jpg", "noise.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len;
        unsigned char *bytes = file_bytes(srv.root, names[i], &len);
        char ctx[128], name[64], target[128];
        snprintf(ctx, sizeof ctx, "%s cut to half", names[i]);
        post_error(srv.port, "w=50", bytes, len / 2, 422, NULL, ctx);
        snprintf(ctx, sizeof ctx, "%s without its last tenth", names[i]);
        post_error(srv.port, "w=50", bytes, len - len / 10, 422, NULL, ctx);
        snprintf(ctx, sizeof ctx, "%s, its header only", names[i]);
        post_error(srv.port, "", bytes, 40, 422, NULL, ctx);
        snprintf(name, sizeof name, "cut-%s", names[i]);
        write_bytes(srv.root, name, bytes, len / 2);
        snprintf(target, sizeof target, "/resize?src=%s&w=50", name);
        get_error(srv.port, target, 422, NULL);
        free(bytes);
    }
}

/* Corrupt data inside an image of an allowed format: 422 (not a picture
 * half made of garbage). */
static void test_corrupt(void **state)
{
    (void)state;
    /* JPEG's magic followed by nothing of a JPEG. */
    static const unsigned char fake_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J',  'F',
                                              'I',  'F',  0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
    post_error(srv.port, "", fake_jpeg, sizeof fake_jpeg, 422, NULL, "JPEG magic only");
    /* PNG: garbage in the compressed data, which its CRC reveals. */
    size_t len;
    unsigned char *bytes = file_bytes(srv.root, "noise.png", &len);
    for (size_t k = len / 3; k < len / 3 + 64; k++)
        bytes[k] ^= 0x5a;
    post_error(srv.port, "w=50", bytes, len, 422, NULL, "noise.png with garbage in its data");
    free(bytes);
    /* JPEG: a Huffman table whose counts add up to more than 256 codes.
     * (Garbage in JPEG's entropy data itself often decodes silently: no
     * checksum to catch it, so no decoder can be asked to.) */
    bytes = file_bytes(srv.root, "noise.jpg", &len);
    unsigned char *dht = memmem(bytes, len, "\xff\xc4", 2);
    assert_non_null(dht);
    memset(dht + 5, 0xff, 16);
    post_error(srv.port, "w=50", bytes, len, 422, NULL, "noise.jpg with a bad Huffman table");
    free(bytes);
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A valid small PNG whose IHDR says w x h (the CRC fixed, so only the
 * size is a lie). */
static unsigned char *png_bomb(uint32_t w, uint32_t h, size_t *len)
{
    VipsImage *img = img_solid(8, 8, RED);
    void *enc = img_encode(img, ".png", len);
    g_object_unref(img);
    unsigned char *b = malloc(*len);
    memcpy(b, enc, *len);
    g_free(enc);
    /* signature (8), IHDR length (4), "IHDR" at 12, width at 16, height at
     * 20, ..., CRC over "IHDR" + 13 bytes at 29. */
    assert_memory_equal(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    put_be32(b + 29, crc32_of(b + 12, 17));
    return b;
}

/* A small baseline JPEG whose SOF says w x h. */
static unsigned char *jpeg_bomb(uint16_t w, uint16_t h, size_t *len)
{
    VipsImage *img = img_solid(16, 16, RED);
    void *enc = img_encode(img, ".jpg[optimize_coding=false,interlace=false]", len);
    g_object_unref(img);
    unsigned char *b = malloc(*len);
    memcpy(b, enc, *len);
    g_free(enc);
    unsigned char *sof = memmem(b, *len, "\xff\xc0", 2);
    if (!sof)
        sof = memmem(b, *len, "\xff\xc2", 2);
    assert_non_null(sof);
    /* FFC0, length (2), precision (1), height (2), width (2). */
    sof[5] = (unsigned char)(h >> 8);
    sof[6] = (unsigned char)h;
    sof[7] = (unsigned char)(w >> 8);
    sof[8] = (unsigned char)w;
    return b;
}

/* A few KB declaring 60000x60000 (3.6 GP, 10 GB decoded): 422 at once,
 * by POST and by GET, and the server's resident memory does not move. */
static void test_decompression_bomb(void **state)
{
    (void)state;
    size_t png_len, jpg_len;
    unsigned char *png = png_bomb(60000, 60000, &png_len);
    unsigned char *jpg = jpeg_bomb(60000, 60000, &jpg_len);
    write_bytes(srv.root, "bomb.png", png, png_len);
    write_bytes(srv.root, "bomb.jpg", jpg, jpg_len);
    /* Warm up: libvips loaded and a real resize done, so what follows
     * measures the bombs only. */
    struct reply r;
    assert_int_equal(http_get(srv.port, "GET", "/resize?src=noise.png&w=50", NULL, &r), 200);
    reply_free(&r);
    long before = vm_rss_kb(srv.pid);
    for (int round = 0; round < 3; round++) {
        double start = now_ms();
        post_error(srv.port, "w=100", png, png_len, 422, NULL, "PNG bomb");
        post_error(srv.port, "w=100&format=webp", jpg, jpg_len, 422, NULL, "JPEG bomb");
        get_error(srv.port, "/resize?src=bomb.png&w=100", 422, NULL);
        get_error(srv.port, "/resize?src=bomb.jpg", 422, NULL);
        double took = now_ms() - start;
        if (took > 4000)
            fail_msg("4 bombs took %.0f ms to refuse", took);
    }
    long after = vm_rss_kb(srv.pid);
    if (after - before > 32 * 1024)
        fail_msg("VmRSS grew from %ld kB to %ld kB on bombs", before, after);
    free(png);
    free(jpg);
}

/* --max-pixels N: more than N pixels is 422, N itself is fine. */
static void test_max_pixels_flag(void **state)
{
    (void)state;
    struct server_proc s;
    const char *args[] = {"--max-pixels", "10000", NULL};
    resize_server_start(&s, args);
    img_save(img_solid(100, 100, RED), s.root, "exact.png");
    img_save(img_solid(101, 100, RED), s.root, "over.png");
    img_save(img_solid(400, 400, RED), s.root, "big.jpg");
    struct reply r;
    assert_int_equal(http_get(s.port, "GET", "/resize?src=exact.png&w=10", NULL, &r), 200);
    reply_free(&r);
    get_error(s.port, "/resize?src=over.png&w=10", 422, NULL);
    get_error(s.port, "/resize?src=big.jpg&w=10", 422, NULL);
    size_t len;
    void *bytes = file_bytes(s.root, "big.jpg", &len);
    post_error(s.port, "w=10", bytes, len, 422, NULL, "POST over --max-pixels");
    free(bytes);
    server_stop(&s);
}

/* src never leaves --images: encoded or not, absolute, or through a
 * symlink; each target is a real image, so only containment stops it. */
static void test_traversal(void **state)
{
    (void)state;
    char target[512], link[256], outside[256];
    img_save(img_solid(30, 30, RED), srv.dir, "secret.png");
    snprintf(outside, sizeof outside, "%s/secret.png", srv.dir);
    snprintf(link, sizeof link, "%s/escape.png", srv.root);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(link, sizeof link, "%s/sub/up", srv.root);
    assert_int_equal(symlink("..", link), 0);
    snprintf(link, sizeof link, "%s/outdir", srv.root);
    assert_int_equal(symlink(srv.dir, link), 0);
    const char *const srcs[] = {
        "../secret.png",
        "%2e%2e/secret.png",
        "%2E%2E%2Fsecret.png",
        "..%2fsecret.png",
        "sub/../../secret.png",
        "sub/..%2F..%2Fsecret.png",
        "./../secret.png",
        "sub%2F%2E%2E%2F%2E%2E%2Fsecret.png",
        "escape.png",
        "outdir/secret.png",
        "sub/up/../secret.png",
        "..%5csecret.png",
        "%252e%252e/secret.png",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        snprintf(target, sizeof target, "/resize?src=%s&w=10", srcs[i]);
        struct reply r;
        int status = http_get(srv.port, "GET", target, NULL, &r);
        if (status == 200 || status < 400 || status >= 500)
            fail_msg("%s: status %d", target, status);
        reply_free(&r);
    }
    /* Absolute paths, plain and encoded. */
    const char *const abs_fmt[] = {"%s", "%%2F%s", "/%s"};
    for (size_t i = 0; i < 3; i++) {
        char src[300];
        snprintf(src, sizeof src, abs_fmt[i], i == 1 ? outside + 1 : outside);
        snprintf(target, sizeof target, "/resize?src=%s", src);
        struct reply r;
        int status = http_get(srv.port, "GET", target, NULL, &r);
        if (status == 200 || status < 400 || status >= 500)
            fail_msg("%s: status %d", target, status);
        reply_free(&r);
    }
    /* The control: inside, the same request shapes work. */
    struct reply r;
    assert_int_equal(http_get(srv.port, "GET", "/resize?src=sub/inner.png&w=10", NULL, &r), 200);
    reply_free(&r);
    assert_int_equal(http_get(srv.port, "GET", "/resize?src=sub%2Finner.png&w=10", NULL, &r), 200);
    reply_free(&r);
}

/* --images DIR: src is read there, not in the document root. */
static void test_images_dir(void **state)
{
    (void)state;
    char dir[64] = "/tmp/rail-images-XXXXXX";
    assert_non_null(mkdtemp(dir));
    img_save(img_solid(40, 20, RED), dir, "only-here.png");
    struct server_proc s;
    const char *args[] = {"--images", dir, NULL};
    resize_server_start(&s, args);
    img_save(img_solid(40, 20, RED), s.root, "in-root.png");
    struct reply r;
    assert_int_equal(http_get(s.port, "GET", "/resize?src=only-here.png&w=10", NULL, &r), 200);
    assert_body_is(&r, "image/png");
    reply_free(&r);
    get_error(s.port, "/resize?src=in-root.png", 404, NULL);
    char target[512];
    snprintf(target, sizeof target, "/resize?src=../%s/root/in-root.png", s.dir + 5);
    int status = http_get(s.port, "GET", target, NULL, &r);
    assert_true(status >= 400 && status < 500);
    reply_free(&r);
    server_stop(&s);
    snprintf(target, sizeof target, "%s/only-here.png", dir);
    unlink(target);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_parameters, stop_servers),
        cmocka_unit_test_teardown(test_src_rules, stop_servers),
        cmocka_unit_test_teardown(test_not_found, stop_servers),
        cmocka_unit_test_teardown(test_other_methods, stop_servers),
        cmocka_unit_test_teardown(test_body_too_large, stop_servers),
        cmocka_unit_test_teardown(test_unsupported_media, stop_servers),
        cmocka_unit_test_teardown(test_truncated, stop_servers),
        cmocka_unit_test_teardown(test_corrupt, stop_servers),
        cmocka_unit_test_teardown(test_decompression_bomb, stop_servers),
        cmocka_unit_test_teardown(test_max_pixels_flag, stop_servers),
        cmocka_unit_test_teardown(test_traversal, stop_servers),
        cmocka_unit_test_teardown(test_images_dir, stop_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
