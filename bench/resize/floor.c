/*
 * resize_floor - the in-process ceiling for rail-server's /resize: the
 * server's own resize_run() on N threads, inputs already in memory, no
 * HTTP, no pool, no hand-off. rail-server can only be slower; the gap is
 * what its I/O, parsing and hand-off cost.
 *
 * usage: resize_floor [--threads N] [--seconds S] [--count C] [--query Q]
 *                     [--pipeline server|minimal] FILE...
 *
 * Each thread takes the next input in turn (all threads share one cursor,
 * as wrk's rotation does) until S seconds have passed, then finishes the
 * image it holds. With --count, the run is exactly C images instead, S
 * ignored: a fixed amount of work for an instruction counter
 * (valgrind --tool=callgrind: the difference of two counts is the work of
 * the images between them, set-up excluded). Prints, one per line: img_s,
 * images, errors, cpu_ms_per_img (user + system CPU of the whole process
 * per image: the figure a busy, shared machine disturbs least) and
 * peak_rss_mb (the inputs held in memory included).
 *
 * --pipeline minimal runs instead the shortest libvips pipeline for the
 * same request, written here apart from the server's: the header, a
 * reload with resize.c's shrink-on-load (JPEG by sharp's factor, WebP by
 * libwebp's scale), vips_resize (lanczos3) to the size, the encoder with
 * resize.c's settings. For inputs that are 8-bit sRGB, upright and
 * opaque, one side or fit=inside: the bench's workloads. No fail_on (the
 * server fails on decode warnings, which for PNG adds spng's CRC and
 * Adler-32 checks, about 2% of that workload). What resize_run() costs
 * above it is what the server's pipeline does beyond the work.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <sys/resource.h>

#include <vips/vips.h>

#include "image_probe.h"
#include "resize.h"
#include "resize_params.h"

struct input {
    void *data;
    size_t len;
};

static struct input *inputs;
static size_t n_inputs;
static struct resize_params params;
static const struct resize_config config = {.max_pixels = 50000000};
static atomic_bool stop;
static atomic_size_t cursor;
static size_t count; /* 0: until stop */
static bool minimal;
static atomic_ulong done, failed;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, struct input *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    in->data = size > 0 ? malloc((size_t)size) : NULL;
    in->len = (size_t)size;
    int bad = !in->data || fseek(f, 0, SEEK_SET) != 0 || fread(in->data, 1, in->len, f) != in->len;
    fclose(f);
    return bad ? -1 : 0;
}

/* ---- --pipeline minimal ---- */

#define MINIMAL_AVIF_EFFORT 2 /* resize.c's AVIF_EFFORT */

/* The scale that fits w x h inside the query's box. */
static double fit_scale(int w, int h)
{
    double sw = params.width ? (double)params.width / w : 0;
    double sh = params.height ? (double)params.height / h : 0;
    return !sw ? sh : !sh ? sw : sw < sh ? sw : sh;
}

/* Loads with shrink-on-load as resize.c does. */
static VipsImage *minimal_load(const struct input *in, const VipsImage *head, const char *loader)
{
    VipsImage *out = NULL;
    double shrink = 1.0 / fit_scale(head->Xsize, head->Ysize);
    if (strcmp(loader, "VipsForeignLoadJpegBuffer") == 0) {
        int f = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
        if (f > 1 && (int)shrink == f)
            f /= 2;
        vips_jpegload_buffer(in->data, in->len, &out, "shrink", f, "access", VIPS_ACCESS_SEQUENTIAL,
                             NULL);
    } else if (strcmp(loader, "VipsForeignLoadWebpBuffer") == 0) {
        vips_webpload_buffer(in->data, in->len, &out, "scale", shrink > 1.0 ? 1.0 / shrink : 1.0,
                             "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    } else {
        out = vips_image_new_from_buffer(in->data, in->len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                         NULL);
    }
    return out;
}

static int minimal_save(VipsImage *img, enum image_format f, void **buf, size_t *len)
{
    int q = (int)resize_quality(&params, f);
    switch (f) {
    case IMAGE_JPEG:
        return vips_jpegsave_buffer(img, buf, len, "Q", q, "subsample_mode",
                                    VIPS_FOREIGN_SUBSAMPLE_ON, "optimize_coding", TRUE, "keep",
                                    VIPS_FOREIGN_KEEP_NONE, NULL);
    case IMAGE_WEBP:
        return vips_webpsave_buffer(img, buf, len, "Q", q, "keep", VIPS_FOREIGN_KEEP_NONE, NULL);
    case IMAGE_AVIF:
        return vips_heifsave_buffer(img, buf, len, "Q", q, "compression",
                                    VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort",
                                    MINIMAL_AVIF_EFFORT, "keep", VIPS_FOREIGN_KEEP_NONE, NULL);
    default:
        return vips_image_write_to_buffer(img, ".png", buf, len, "keep", VIPS_FOREIGN_KEEP_NONE,
                                          NULL);
    }
}

/* Header, reload with shrink, resize, encode: 0 or -1. */
static int minimal_run(const struct input *in)
{
    const char *loader = vips_foreign_find_load_buffer(in->data, in->len);
    VipsImage *head = loader ? vips_image_new_from_buffer(in->data, in->len, "", "access",
                                                          VIPS_ACCESS_SEQUENTIAL, NULL)
                             : NULL;
    VipsImage *img = head ? minimal_load(in, head, loader) : NULL, *out = NULL;
    enum image_format f =
        resize_format_choose(&params, image_probe(in->data, in->len), false, NULL);
    void *buf = NULL;
    size_t len = 0;
    int rc = -1;
    if (img) {
        double scale = fit_scale(img->Xsize, img->Ysize);
        if (scale == 1.0)
            rc = minimal_save(img, f, &buf, &len);
        else if (vips_resize(img, &out, scale, "kernel", VIPS_KERNEL_LANCZOS3, NULL) == 0)
            rc = minimal_save(out, f, &buf, &len);
    }
    g_free(buf);
    if (out)
        g_object_unref(out);
    if (img)
        g_object_unref(img);
    if (head)
        g_object_unref(head);
    return rc;
}

/* One resize of input i; true if it gave an image. */
static bool resize_one(size_t i)
{
    if (minimal) {
        if (minimal_run(&inputs[i]) == 0)
            return true;
        fprintf(stderr, "resize_floor: input %zu: %s\n", i, vips_error_buffer());
        vips_error_clear();
        return false;
    }
    struct resize_result r;
    memset(&r, 0, sizeof r);
    int status = resize_run(&config, NULL, inputs[i].data, inputs[i].len, &params, &r);
    if (status != 200)
        fprintf(stderr, "resize_floor: input %zu: %d %s\n", i, status, r.why);
    resize_result_free(&r);
    return status == 200;
}

static void *worker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        size_t k = atomic_fetch_add(&cursor, 1);
        if (count && k >= count)
            break;
        size_t i = k % n_inputs;
        if (resize_one(i))
            atomic_fetch_add(&done, 1);
        else
            atomic_fetch_add(&failed, 1);
    }
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            mb = atof(line + 6) / 1024.0;
    if (f)
        fclose(f);
    return mb;
}

static int usage(void)
{
    fprintf(stderr, "usage: resize_floor [--threads N] [--seconds S] [--count C] [--query Q]\n"
                    "                    [--pipeline server|minimal] FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    int threads = 2, i = 1;
    double seconds = 10;
    const char *query = "w=800";
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--count") == 0)
            count = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--query") == 0)
            query = argv[i + 1];
        else if (strcmp(argv[i], "--pipeline") == 0 && strcmp(argv[i + 1], "server") == 0)
            minimal = false;
        else if (strcmp(argv[i], "--pipeline") == 0 && strcmp(argv[i + 1], "minimal") == 0)
            minimal = true;
        else
            return usage();
    }
    if (i >= argc || threads < 1 || threads > 256 || seconds <= 0)
        return usage();

    char src[PATH_OUT_MAX], why[RESIZE_WHY_MAX];
    if (resize_params_parse(query, &params, src, why) != 0) {
        fprintf(stderr, "resize_floor: --query: %s\n", why);
        return 2;
    }
    if (minimal && ((params.width && params.height && params.fit != FIT_INSIDE) ||
                    (!params.width && !params.height))) {
        fprintf(stderr, "resize_floor: --pipeline minimal: w and/or h, fit=inside only\n");
        return 2;
    }
    n_inputs = (size_t)(argc - i);
    inputs = calloc(n_inputs, sizeof *inputs);
    for (size_t k = 0; inputs && k < n_inputs; k++)
        if (read_file(argv[i + (int)k], &inputs[k]) != 0) {
            fprintf(stderr, "resize_floor: cannot read %s\n", argv[i + (int)k]);
            return 1;
        }
    if (!inputs || resize_init() != 0) {
        fprintf(stderr, "resize_floor: set-up failed\n");
        return 1;
    }
    if (!resize_one(0)) /* libvips' first-use set-up stays out of the timing */
        return 1;

    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    double start = now(), cpu_start = cpu_seconds();
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tids[t], NULL, worker, NULL) != 0) {
            fprintf(stderr, "resize_floor: pthread_create failed\n");
            return 1;
        }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    if (!count) {
        nanosleep(&ts, NULL);
        atomic_store(&stop, true);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    double elapsed = now() - start, cpu = cpu_seconds() - cpu_start;
    unsigned long images = atomic_load(&done);

    printf("img_s %.2f\nimages %lu\nerrors %lu\ncpu_ms_per_img %.2f\npeak_rss_mb %.1f\n",
           (double)images / elapsed, images, atomic_load(&failed),
           images ? cpu * 1e3 / (double)images : 0.0, peak_rss_mb());
    for (size_t k = 0; k < n_inputs; k++)
        free(inputs[k].data);
    free(inputs);
    free(tids);
    resize_shutdown();
    return atomic_load(&failed) ? 1 : 0;
}
