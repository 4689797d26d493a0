/*
 * resize.h - the image engine behind /resize: libvips, one resize per call
 * on the calling thread.
 *
 * resize_run() is what the route runs on a pool worker, and what the
 * in-process benchmark calls without HTTP: bytes in, encoded bytes out.
 * It reads the header first (format, pixels: refused before any decode),
 * then decodes with shrink-on-load, autorotates, converts to sRGB, fits,
 * and encodes with every metadata block dropped. A deadline or a
 * cancellation flag stops it mid-way through libvips' kill flag.
 */
#ifndef RAIL_SERVER_RESIZE_H
#define RAIL_SERVER_RESIZE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resize_params.h"

struct resize_config {
    uint64_t max_pixels; /* an input whose header declares more is refused: 422 */
};

/* Per-call limits; resize_run() accepts NULL for none. */
struct resize_job {
    uint64_t deadline_ns;         /* CLOCK_MONOTONIC (uv_hrtime()) ns; 0: none */
    const atomic_bool *cancelled; /* set when the client went away; may be NULL */
    const char *accept;           /* the request's Accept, for format=auto; may be NULL */
    bool defer_heavy; /* stop before decoding an input resize_input_heavy() would name */
};

/* Why a resize did not give an image; each maps to one HTTP status and one
 * label of rail_resize_failures_total{reason}. */
enum resize_outcome {
    RESIZE_OK,
    RESIZE_UNSUPPORTED, /* 415: not an allowed input format */
    RESIZE_TOO_LARGE,   /* 422: the header declares more than max_pixels */
    RESIZE_CORRUPT,     /* 422: truncated or corrupt */
    RESIZE_BAD_SIZE,    /* 400: the output would exceed max_pixels */
    RESIZE_TIMEOUT,     /* 503: past the deadline */
    RESIZE_CANCELLED,   /* the client went away: nobody reads the answer */
    RESIZE_INTERNAL,    /* 500: libvips failed where the input is not to blame */
    RESIZE_BAD_PARAM,   /* 400, found by the route: a bad query */
    RESIZE_NOT_FOUND,   /* 404, found by the route: no such src */
    RESIZE_OUTCOMES
};

struct resize_result {
    enum resize_outcome outcome;
    char why[160]; /* a one-line reason when outcome != RESIZE_OK */
    void *data;    /* the encoded image: release with resize_result_free() */
    size_t len;
    enum image_format input;  /* sniffed */
    enum image_format format; /* of data */
    unsigned width, height;
};

/* Starts libvips once per process (later calls return the first result):
 * one vips thread per job, no operation cache, every loader blocked but
 * JPEG, PNG, WebP, GIF and HEIF. 0 or -1. */
int resize_init(void);
/* The libvips version string, e.g. "8.17.3" (after resize_init). */
const char *resize_engine_version(void);
/* Bytes libvips holds now (its tracked allocations). */
uint64_t resize_engine_memory(void);
/* Releases libvips' global state at exit (for leak checkers). */
void resize_shutdown(void);

/* Inputs above this many pixels whose decoder must hold the whole picture
 * before the first line comes out: progressive JPEG, interlaced PNG,
 * HEIF/AVIF, WebP and GIF. Baseline JPEG (decoded shrunk, a strip at a
 * time) and non-interlaced PNG (a line at a time) are never heavy. The
 * libvips developer checklist measured one progressive JPEG at 3.7 GB and
 * 4.2 s against 72 MB and 0.26 s for the same picture baseline. */
#define RESIZE_HEAVY_PIXELS 4000000u

/* Resizes `in` (not copied; must stay valid and unchanged during the call).
 * Returns the HTTP status for the outcome: 200, 400, 415, 422, 500, 503;
 * or 0, having decoded nothing, when job->defer_heavy is set and the input
 * is heavy (above): the caller runs it again where heavy inputs may run. */
int resize_run(const struct resize_config *cfg, const struct resize_job *job, const void *in,
               size_t len, const struct resize_params *p, struct resize_result *out);
/* The deallocator of result->data (g_free), for a response's body_free. */
void resize_data_free(void *data);
void resize_result_free(struct resize_result *r);

/* "unsupported", "too_large", ... */
const char *resize_outcome_name(enum resize_outcome o);

#endif
