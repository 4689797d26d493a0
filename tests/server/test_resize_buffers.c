/*
 * test_resize_buffers.c - the pixel memory one resize holds: resize_run()
 * called in this process (no server), libvips' own tracked peak read
 * after it.
 *
 * A decode streams: the pipeline's stages each hold a few strips, and the
 * peak stays near one or two decoded frames (the PNG loader, and the
 * lanczos windows of a reduce, hold most of it). Each stage added on the
 * decoded image adds buffers of its own: vips_thumbnail_image() on an
 * already decoded image put a second line cache and a pass-through
 * colourspace there, and the peak was 1.86 decoded frames for the 1080p PNG
 * and 2.80 for the 2040x1356 JPEG (decoded at 1020x678); 1.33 and 1.98
 * without them. The bounds are 1.5 and 2.4.
 *
 * The peak is per process and never goes down: one child makes the input
 * (into a file), another resizes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vips/vips.h>

#include "resize.h"
#include "resize_params.h"

/* A w x h sRGB picture in `suffix` (a gradient, so that it encodes to some
 * size), or NULL. Runs in a child: no cmocka assertion here. */
static void *make_input(int w, int h, const char *suffix, size_t *len)
{
    VipsImage *t[4] = {NULL, NULL, NULL, NULL};
    void *buf = NULL;
    if (vips_xyz(&t[0], w, h, NULL) == 0 && vips_bandjoin2(t[0], t[0], &t[1], NULL) == 0 &&
        vips_extract_band(t[1], &t[2], 0, "n", 3, NULL) == 0 && /* x, y, x */
        vips_cast_uchar(t[2], &t[3], NULL) == 0)
        vips_image_write_to_buffer(t[3], suffix, &buf, len, NULL);
    for (int i = 0; i < 4; i++)
        if (t[i])
            g_object_unref(t[i]);
    return buf;
}

/* Child 1: writes the input to `path`. */
static void make_child(int w, int h, const char *suffix, const char *path)
{
    if (VIPS_INIT("test_resize_buffers") != 0)
        _exit(10);
    size_t len = 0;
    void *in = make_input(w, h, suffix, &len);
    _exit(in && g_file_set_contents(path, in, (gssize)len, NULL) ? 0 : 11);
}

/* Child 2: resizes `path` with `query`; exits 0 if the answer is 200 at
 * out_w x out_h and libvips' peak stayed under `frames` decoded frames
 * (the input's size divided by the loader's shrink). */
static void resize_child(const char *path, int w, int h, int shrink, const char *query,
                         unsigned out_w, unsigned out_h, double frames)
{
    gchar *in = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &in, &len, NULL) || resize_init() != 0)
        _exit(20);
    struct resize_params p;
    char src[PATH_OUT_MAX], why[RESIZE_WHY_MAX];
    if (resize_params_parse(query, &p, src, why) != 0)
        _exit(21);
    struct resize_config cfg = {.max_pixels = 50000000};
    struct resize_result r;
    int status = resize_run(&cfg, NULL, in, len, &p, &r);
    size_t peak = vips_tracked_get_mem_highwater();
    double frame = (double)(w / shrink) * (h / shrink) * 3;
    fprintf(stderr, "%s: %d %ux%u, libvips peak %zu bytes (%.2f frames, bound %.2f)\n", query,
            status, r.width, r.height, peak, (double)peak / frame, frames);
    if (status != 200 || r.width != out_w || r.height != out_h)
        _exit(22);
    resize_result_free(&r);
    g_free(in);
    _exit((double)peak < frames * frame ? 0 : 23);
}

static void wait_ok(pid_t pid)
{
    assert_true(pid >= 0);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void run_case(int w, int h, const char *suffix, int shrink, const char *query,
                     unsigned out_w, unsigned out_h, double frames)
{
    char path[] = "/tmp/rail-buffers-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    pid_t pid = fork();
    if (pid == 0)
        make_child(w, h, suffix, path);
    wait_ok(pid);
    pid = fork();
    if (pid == 0)
        resize_child(path, w, h, shrink, query, out_w, out_h, frames);
    wait_ok(pid);
    unlink(path);
}

/* The bench's PNG workload: 1080p to 800 px. */
static void test_png_1080p(void **state)
{
    (void)state;
    run_case(1920, 1080, ".png", 1, "w=800&format=jpeg", 800, 450, 1.5);
}

/* The bench's 2.8 MP JPEG workload shape, shrunk by 2 on load. */
static void test_jpeg_2040(void **state)
{
    (void)state;
    run_case(2040, 1356, ".jpg", 2, "w=512&h=512&fit=inside&format=jpeg", 512, 340, 2.4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_1080p),
        cmocka_unit_test(test_jpeg_2040),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
