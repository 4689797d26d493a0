/* image_util.c - libvips fixtures and checks for the /resize tests. */
#define _GNU_SOURCE /* memmem */
#include "image_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

void image_init(void)
{
    static bool done;
    if (done)
        return;
    if (VIPS_INIT("rail-test") != 0)
        fail_msg("libvips: %s", vips_error_buffer());
    vips_cache_set_max(0);
    done = true;
}

static void vips_check(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s: %s", what, vips_error_buffer());
}

VipsImage *img_solid(int w, int h, struct rgb c)
{
    VipsImage *black, *lin, *out;
    double a[3] = {1, 1, 1}, b[3] = {c.r, c.g, c.b};
    vips_check(vips_black(&black, w, h, "bands", 3, NULL), "vips_black");
    vips_check(vips_linear(black, &lin, a, b, 3, "uchar", TRUE, NULL), "vips_linear");
    g_object_unref(black);
    vips_check(vips_copy(lin, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), "vips_copy");
    g_object_unref(lin);
    /* Into memory, so vips_draw_rect can paint on it. */
    vips_check(vips_image_wio_input(out), "wio");
    return out;
}

VipsImage *img_noise(int w, int h)
{
    VipsImage *bands[3], *joined, *cast, *out;
    for (int i = 0; i < 3; i++)
        vips_check(vips_gaussnoise(&bands[i], w, h, "mean", 128.0, "sigma", 40.0, NULL),
                   "vips_gaussnoise");
    vips_check(vips_bandjoin(bands, &joined, 3, NULL), "vips_bandjoin");
    for (int i = 0; i < 3; i++)
        g_object_unref(bands[i]);
    vips_check(vips_cast_uchar(joined, &cast, NULL), "vips_cast_uchar");
    g_object_unref(joined);
    vips_check(vips_copy(cast, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL),
               "vips_copy");
    g_object_unref(cast);
    return out;
}

void img_rect(VipsImage *img, int x, int y, int w, int h, struct rgb c)
{
    double ink[4] = {c.r, c.g, c.b, 255};
    vips_check(vips_draw_rect(img, ink, img->Bands, x, y, w, h, "fill", TRUE, NULL),
               "vips_draw_rect");
}

void img_save(VipsImage *img, const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vips_check(vips_image_write_to_file(img, path, NULL), path);
    g_object_unref(img);
}

void *img_encode(VipsImage *img, const char *suffix, size_t *len)
{
    void *buf = NULL;
    vips_check(vips_image_write_to_buffer(img, suffix, &buf, len, NULL), suffix);
    return buf;
}

VipsImage *img_decode(const void *buf, size_t len)
{
    VipsImage *in = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_RANDOM, NULL);
    if (!in)
        fail_msg("the answer does not decode: %s", vips_error_buffer());
    /* In memory: the buffer may be freed before the pixels are read. */
    VipsImage *mem = vips_image_copy_memory(in);
    g_object_unref(in);
    if (!mem)
        fail_msg("the answer does not decode fully: %s", vips_error_buffer());
    return mem;
}

int img_pixel(VipsImage *img, int x, int y, int px[4])
{
    double *v;
    int n;
    if (x < 0 || y < 0 || x >= img->Xsize || y >= img->Ysize)
        fail_msg("pixel (%d,%d) outside %dx%d", x, y, img->Xsize, img->Ysize);
    vips_check(vips_getpoint(img, &v, &n, x, y, NULL), "vips_getpoint");
    for (int i = 0; i < n && i < 4; i++)
        px[i] = (int)(v[i] + 0.5);
    g_free(v);
    return n < 4 ? n : 4;
}

void assert_pixel_near(VipsImage *img, int x, int y, struct rgb c, int tol)
{
    int px[4] = {0};
    int n = img_pixel(img, x, y, px);
    if (n < 3)
        fail_msg("pixel (%d,%d) has %d bands", x, y, n);
    if (abs(px[0] - c.r) > tol || abs(px[1] - c.g) > tol || abs(px[2] - c.b) > tol)
        fail_msg("pixel (%d,%d) of %dx%d is (%d,%d,%d), want (%d,%d,%d) +-%d", x, y, img->Xsize,
                 img->Ysize, px[0], px[1], px[2], c.r, c.g, c.b, tol);
}

const char *sniff_type(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return "image/jpeg";
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp(b + 4, "ftyp", 4) == 0 &&
        (memcmp(b + 8, "avif", 4) == 0 || memcmp(b + 8, "avis", 4) == 0))
        return "image/avif";
    return NULL;
}

void assert_body_is(const struct reply *r, const char *type)
{
    char v[128];
    if (!reply_header(r, "content-type", v, sizeof v))
        fail_msg("no Content-Type");
    if (!type)
        type = v;
    if (strcmp(v, type) != 0)
        fail_msg("Content-Type '%s' where '%s' was expected", v, type);
    const char *sniffed = sniff_type(r->body, r->body_len);
    if (!sniffed || strcmp(sniffed, type) != 0)
        fail_msg("the bytes are '%s', Content-Type says '%s'", sniffed ? sniffed : "unknown", v);
    if (!reply_header(r, "content-length", v, sizeof v) || strtoull(v, NULL, 10) != r->body_len)
        fail_msg("Content-Length does not match the body");
}

bool has_metadata(const void *buf, size_t len)
{
    /* The markers each format uses: JPEG APP1 Exif/XMP, APP2 ICC, APP13
     * IPTC; PNG iCCP/eXIf chunks and XMP in iTXt; WebP EXIF/XMP/ICCP
     * chunks; AVIF/HEIF an "Exif" item or a colr box with a profile. */
    static const char *const markers[] = {"Exif\0\0",    "http://ns.adobe.com/xap",
                                          "ICC_PROFILE", "Photoshop 3.0",
                                          "iCCP",        "eXIf",
                                          "ICCP",        "XMP ",
                                          "prof"};
    static const size_t lens[] = {6, 23, 11, 13, 4, 4, 4, 4, 4};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        if (memmem(buf, len, markers[i], lens[i]))
            return true;
    VipsImage *img = vips_image_new_from_buffer(buf, len, "", NULL);
    if (!img)
        fail_msg("the answer does not load: %s", vips_error_buffer());
    bool found = vips_image_get_typeof(img, VIPS_META_EXIF_NAME) ||
                 vips_image_get_typeof(img, VIPS_META_XMP_NAME) ||
                 vips_image_get_typeof(img, VIPS_META_IPTC_NAME) ||
                 vips_image_get_typeof(img, VIPS_META_ICC_NAME);
    g_object_unref(img);
    return found;
}

long vm_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb > 0);
    return kb;
}

VipsImage *resize_ok(int port, const char *query, const char *extra, const char *type,
                     struct reply *r)
{
    struct reply own;
    struct reply *rr = r ? r : &own;
    char target[2048];
    snprintf(target, sizeof target, "/resize?%s", query);
    if (http_get(port, "GET", target, extra, rr) != 200)
        fail_msg("GET %s: status %d, body '%.200s'", target, rr->status, rr->body ? rr->body : "");
    assert_body_is(rr, type);
    VipsImage *img = img_decode(rr->body, rr->body_len);
    if (!r)
        reply_free(&own);
    return img;
}

void assert_size(VipsImage *img, int w, int h)
{
    if (img->Xsize != w || img->Ysize != h)
        fail_msg("the answer is %dx%d, want %dx%d", img->Xsize, img->Ysize, w, h);
}

void *file_bytes(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    void *b = read_file(path, len);
    if (!b)
        fail_msg("cannot read %s", path);
    return b;
}

/* What resize_server_start() started: pids and directories, copied (the
 * struct server_proc may live on a stack a failed test has left). */
static struct {
    pid_t pid;
    char dir[64];
} started[32];
static size_t n_started;

void resize_server_start(struct server_proc *s, const char *const *args)
{
    server_start(s, args);
    if (n_started < sizeof started / sizeof started[0]) {
        started[n_started].pid = s->pid;
        memcpy(started[n_started].dir, s->dir, sizeof started[n_started].dir);
        n_started++;
    }
}

int stop_servers(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_started; i++) {
        int status;
        /* Still our running child (not reaped by server_stop): kill it. */
        if (waitpid(started[i].pid, &status, WNOHANG) == 0) {
            kill(started[i].pid, SIGKILL);
            waitpid(started[i].pid, &status, 0);
        }
        remove_tree(started[i].dir);
    }
    n_started = 0;
    return 0;
}
