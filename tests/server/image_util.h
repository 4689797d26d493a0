/*
 * image_util.h - for the /resize tests: fixtures made with libvips in the
 * test's own directory (no committed binaries), requests with binary
 * bodies, and checks on what comes back (the format sniffed from the magic
 * bytes, dimensions, pixels, metadata left in the file).
 */
#ifndef RAIL_TEST_IMAGE_UTIL_H
#define RAIL_TEST_IMAGE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "http_client.h"

/* VIPS_INIT once per test program; fails the test if libvips cannot start. */
void image_init(void);

struct rgb {
    int r, g, b;
};
#define RED   ((struct rgb){255, 0, 0})
#define GREEN ((struct rgb){0, 255, 0})
#define BLUE  ((struct rgb){0, 0, 255})

/* An 8-bit sRGB image of w x h in colour c (unref it). */
VipsImage *img_solid(int w, int h, struct rgb c);
/* An 8-bit sRGB image of w x h of Gaussian noise (unref it): a picture a
 * decoder must work at, where a solid colour's blocks cost nothing. */
VipsImage *img_noise(int w, int h);
/* Paints the rectangle of img (in place) in colour c. */
void img_rect(VipsImage *img, int x, int y, int w, int h, struct rgb c);
/* Saves img to dir/name ("name.png", "name.jpg[Q=90]", ...); unrefs img. */
void img_save(VipsImage *img, const char *dir, const char *name);
/* Encodes img with a suffix like ".png" or ".jpg[Q=95]" (g_free the
 * result); does not unref img. */
void *img_encode(VipsImage *img, const char *suffix, size_t *len);

/* A decoded answer: the first page only, pixels in memory. */
VipsImage *img_decode(const void *buf, size_t len);
/* The pixel at (x, y): bands copied into px (up to 4), returns the count. */
int img_pixel(VipsImage *img, int x, int y, int px[4]);
/* Fails the test unless the pixel's first three bands are within tol of c. */
void assert_pixel_near(VipsImage *img, int x, int y, struct rgb c, int tol);

/* The MIME type the magic bytes say, or NULL for none of the five. */
const char *sniff_type(const void *buf, size_t len);
/* Fails the test unless the body's bytes are the type Content-Type names,
 * with a matching Content-Length; type NULL: any of the five. */
void assert_body_is(const struct reply *r, const char *type);
/* True when the encoded bytes carry EXIF, XMP, IPTC or an ICC profile
 * (markers in the file, and fields libvips finds when it loads it). */
bool has_metadata(const void *buf, size_t len);

/* GET /resize?query (extra: header lines or NULL); fails unless 200 with
 * Content-Type type matching the bytes; returns the decoded picture and
 * keeps the reply in r when r is not NULL (reply_free it). */
VipsImage *resize_ok(int port, const char *query, const char *extra, const char *type,
                     struct reply *r);
/* Fails unless img is w x h. */
void assert_size(VipsImage *img, int w, int h);
/* The bytes of dir/name (free them). */
void *file_bytes(const char *dir, const char *name, size_t *len);

/* server_start() that remembers the process: a test that fails before
 * its server_stop() leaves no server behind, as long as the test is
 * registered with stop_servers as its teardown (or the group's). */
void resize_server_start(struct server_proc *s, const char *const *args);
/* Kills (SIGKILL) every server resize_server_start() started that is
 * still running, and removes its directory; a cmocka teardown. */
int stop_servers(void **state);

/* The resident set size of process pid in kB, from /proc/PID/status. */
long vm_rss_kb(int pid);

#endif
