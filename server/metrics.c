/* metrics.c - request counters and their Prometheus text format. */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[METRICS_BUCKETS] = {100,    250,     500,     1000,    2500,
                                                    5000,   10000,   25000,   50000,   100000,
                                                    250000, 1000000, 2500000, 10000000};

/* Adds one observation of `ns` to a histogram of bucket_us bounds. */
static void observe(atomic_uint_fast64_t *le, atomic_uint_fast64_t *sum_us,
                    atomic_uint_fast64_t *count, uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;
    while (b < METRICS_BUCKETS && us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&le[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

void metrics_request(struct metrics *m, int status, uint64_t latency_ns)
{
    if (status >= 100 && status < 600)
        atomic_fetch_add_explicit(&m->by_status[status], 1, memory_order_relaxed);
    observe(m->latency_le, &m->latency_sum_us, &m->latency_count, latency_ns);
}

void metrics_resize(struct metrics *m, enum resize_outcome outcome, enum image_format format,
                    uint64_t ns)
{
    if (outcome != RESIZE_OK) {
        atomic_fetch_add_explicit(&m->resize_failures[outcome], 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&m->resize_by_format[format], 1, memory_order_relaxed);
    observe(m->resize_le, &m->resize_sum_us, &m->resize_count, ns);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_out_of_descriptors(struct metrics *m, int err)
{
    (void)err;
    atomic_fetch_add_explicit(&m->out_of_descriptors, 1, memory_order_relaxed);
    atomic_store_explicit(&m->out_of_descriptors_ns, now_ns(), memory_order_relaxed);
}

bool metrics_recently_out_of_descriptors(struct metrics *m)
{
    uint64_t at = atomic_load_explicit(&m->out_of_descriptors_ns, memory_order_relaxed);
    return at != 0 && now_ns() - at < 1000000000u;
}

struct text {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = t->failed ? -1 : vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *grown = realloc(t->buf, t->cap * 2);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->buf = grown;
        t->cap *= 2;
    }
}

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* One metric without labels; type is "counter" or "gauge". */
static void metric(struct text *t, const char *type, const char *name, const char *help,
                   uint64_t value)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

static void histogram(struct text *t, const char *name, const char *help, atomic_uint_fast64_t *le,
                      atomic_uint_fast64_t *sum_us, atomic_uint_fast64_t *count)
{
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
        cumulative += load(&le[b]);
        if (b < METRICS_BUCKETS)
            put(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)bucket_us[b] / 1e6,
                cumulative);
        else
            put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    }
    put(t, "%s_sum %.6f\n", name, (double)load(sum_us) / 1e6);
    put(t, "%s_count %" PRIu64 "\n", name, load(count));
}

static void resize_metrics(struct text *t, struct metrics *m)
{
    histogram(t, "rail_resize_duration_seconds",
              "Time a successful /resize spent in the image engine (header to encoded bytes).",
              m->resize_le, &m->resize_sum_us, &m->resize_count);
    put(t, "# HELP rail_resize_total Images made by /resize, by output format.\n"
           "# TYPE rail_resize_total counter\n");
    for (int f = IMAGE_JPEG; f <= IMAGE_GIF; f++)
        put(t, "rail_resize_total{format=\"%s\"} %" PRIu64 "\n",
            image_format_name((enum image_format)f), load(&m->resize_by_format[f]));
    put(t, "# HELP rail_resize_failures_total /resize requests that gave no image, by reason.\n"
           "# TYPE rail_resize_failures_total counter\n");
    for (int o = RESIZE_OK + 1; o < RESIZE_OUTCOMES; o++)
        put(t, "rail_resize_failures_total{reason=\"%s\"} %" PRIu64 "\n",
            resize_outcome_name((enum resize_outcome)o), load(&m->resize_failures[o]));
    metric(t, "gauge", "rail_vips_memory_bytes", "Bytes libvips has allocated and holds now.",
           resize_engine_memory());
    metric(t, "counter", "rail_resize_heavy_total",
           "Resizes moved to the slow lane because their image must be decoded whole.",
           load(&m->slow_heavy));
}

static void lane_metrics(struct text *t, struct metrics *m)
{
    metric(t, "gauge", "rail_slow_lane_slots", "Workers the slow lane may hold.",
           load(&m->slow_slots));
    metric(t, "gauge", "rail_slow_lane_running", "Slow requests running on a worker now.",
           load(&m->slow_running));
    metric(t, "gauge", "rail_slow_lane_waiting", "Slow requests waiting for a slot now.",
           load(&m->slow_waiting));
}

size_t metrics_render(struct metrics *m, rail_pool *pool, char **out)
{
    struct text t = {.buf = malloc(4096), .cap = 4096};
    if (!t.buf)
        return 0;
    put(&t, "# HELP rail_http_requests_total HTTP requests answered, by status code.\n"
            "# TYPE rail_http_requests_total counter\n");
    for (int code = 100; code < 600; code++) {
        uint64_t n = load(&m->by_status[code]);
        if (n)
            put(&t, "rail_http_requests_total{code=\"%d\"} %" PRIu64 "\n", code, n);
    }
    histogram(&t, "rail_http_request_duration_seconds",
              "From a request's last byte to its answer's hand-off to the socket.", m->latency_le,
              &m->latency_sum_us, &m->latency_count);
    metric(&t, "gauge", "rail_http_connections_open", "Client connections open now.",
           load(&m->connections_open));
    metric(&t, "counter", "rail_http_connections_total", "Client connections accepted.",
           load(&m->connections_total));
    metric(&t, "counter", "rail_http_overloaded_total",
           "Requests answered 503 because the pool's queue was full.", load(&m->overloaded));
    metric(&t, "counter", "rail_out_of_descriptors_total",
           "Accepts and file opens that failed for want of descriptors or memory.",
           load(&m->out_of_descriptors));
    metric(&t, "counter", "rail_access_log_dropped_total",
           "Access log lines dropped because the log fell behind.", load(&m->log_dropped));

    rail_stats s;
    rail_pool_stats(pool, &s);
    metric(&t, "gauge", "rail_pool_threads", "Pool workers alive.", s.threads);
    metric(&t, "gauge", "rail_pool_busy", "Pool workers running a job.", s.busy);
    metric(&t, "gauge", "rail_pool_queued", "Jobs accepted by the pool and not started.", s.queued);
    metric(&t, "counter", "rail_pool_submitted_total", "Jobs accepted by the pool.", s.submitted);
    metric(&t, "counter", "rail_pool_completed_total", "Jobs the pool ran to the end.",
           s.completed);
    metric(&t, "counter", "rail_pool_rejected_total",
           "Jobs the pool refused because its queue was full.", s.rejected);
    resize_metrics(&t, m); /* after the older lines: their readers keep their offsets */
    lane_metrics(&t, m);
    if (t.failed) {
        free(t.buf);
        return 0;
    }
    *out = t.buf;
    return t.len;
}
