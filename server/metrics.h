/*
 * metrics.h - counters for /metrics and /health. Written by the I/O thread
 * (one line per answered request), read by handlers on workers: every
 * field is a relaxed atomic, and a reading is a snapshot, not a transaction.
 */
#ifndef RAIL_SERVER_METRICS_H
#define RAIL_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rail.h>

#include "resize.h"

#define METRICS_BUCKETS 14 /* latency histogram, plus +Inf */

struct metrics {
    atomic_uint_fast64_t by_status[600];
    atomic_uint_fast64_t latency_le[METRICS_BUCKETS + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t latency_sum_us, latency_count;
    atomic_uint_fast64_t connections_open, connections_total, overloaded, log_dropped;
    atomic_uint_fast64_t out_of_descriptors;    /* EMFILE/ENFILE/ENOMEM seen, a count */
    atomic_uint_fast64_t out_of_descriptors_ns; /* and when last (monotonic) */
    /* /resize, written by workers */
    atomic_uint_fast64_t resize_le[METRICS_BUCKETS + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t resize_sum_us, resize_count;
    atomic_uint_fast64_t resize_by_format[IMAGE_HEIC + 1];
    atomic_uint_fast64_t resize_failures[RESIZE_OUTCOMES];
    /* the slow lane (dispatch.h): gauges set under its lock, and the
     * resizes moved there for a heavy image */
    atomic_uint_fast64_t slow_slots, slow_running, slow_waiting, slow_heavy;
};

/* Counts one answered request: its status and the time from the end of the
 * request to its answer being handed to the socket. */
void metrics_request(struct metrics *m, int status, uint64_t latency_ns);
/* Records that accept() or an open() failed for want of descriptors or
 * memory (err: EMFILE, ENFILE, ENOMEM, ...). Any thread. */
void metrics_out_of_descriptors(struct metrics *m, int err);
/* True when that happened within the last second. */
bool metrics_recently_out_of_descriptors(struct metrics *m);
/* Counts one /resize: an image of `format` made in `ns`, or a failure. */
void metrics_resize(struct metrics *m, enum resize_outcome outcome, enum image_format format,
                    uint64_t ns);
/* The Prometheus text exposition of m and the pool's stats, malloc'd, in
 * *out; returns its length (0 when out of memory). */
size_t metrics_render(struct metrics *m, rail_pool *pool, char **out);

#endif
