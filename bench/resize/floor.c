/*
 * resize_floor - the in-process ceiling for rail-server's /resize: the
 * server's own resize_run() on N threads, inputs already in memory, no
 * HTTP, no pool, no hand-off. rail-server can only be slower; the gap is
 * what its I/O, parsing and hand-off cost.
 *
 * usage: resize_floor [--threads N] [--seconds S] [--count C] [--query Q] FILE...
 *
 * Each thread takes the next input in turn (all threads share one cursor,
 * as wrk's rotation does) until S seconds have passed, then finishes the
 * image it holds. With --count, the run is exactly C images instead, S
 * ignored: a fixed amount of work for an instruction counter
 * (valgrind --tool=callgrind --toggle-collect=worker counts the timed
 * images only, not the set-up). Prints, one per line: img_s, images, errors,
 * cpu_ms_per_img (user + system CPU of the whole process per image: the
 * figure a busy, shared machine disturbs least) and peak_rss_mb (the
 * inputs held in memory included).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <sys/resource.h>

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

/* One resize of input i; true if it gave an image. */
static bool resize_one(size_t i)
{
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
    fprintf(stderr,
            "usage: resize_floor [--threads N] [--seconds S] [--count C] [--query Q] FILE...\n");
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
