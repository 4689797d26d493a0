/*
 * resize_params.h - the query of a /resize request: parsed, validated and
 * normalised (see /resize in docs/server.md for the contract).
 *
 * Parsing touches no image: every 400 is decided here, with a one-line
 * reason naming the parameter. The output format may depend on the input
 * (the default is the input's own format) and on the request's Accept
 * (format=auto); resize_format_choose() settles it once both are known.
 */
#ifndef RAIL_SERVER_RESIZE_PARAMS_H
#define RAIL_SERVER_RESIZE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "path.h"

#define RESIZE_SIDE_MAX  16384
#define RESIZE_WHY_MAX   128 /* a 400's reason, with its NUL */
#define RESIZE_CANON_MAX 160 /* the canonical form, with its NUL */

enum resize_fit { FIT_INSIDE, FIT_COVER, FIT_CONTAIN, FIT_FILL, FIT_OUTSIDE };

enum resize_gravity {
    GRAVITY_CENTRE,
    GRAVITY_NORTH,
    GRAVITY_SOUTH,
    GRAVITY_EAST,
    GRAVITY_WEST,
    GRAVITY_ATTENTION,
    GRAVITY_ENTROPY
};

/* Image formats, as inputs (sniffed) and outputs. */
enum image_format {
    IMAGE_NONE, /* no format: an output left to the input, or an unknown input */
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_WEBP,
    IMAGE_AVIF,
    IMAGE_GIF,
    IMAGE_HEIC, /* an input only: HEIF that is not AVIF */
};

struct resize_params {
    unsigned width, height; /* 0: not given */
    enum resize_fit fit;
    enum resize_gravity gravity;
    bool enlarge;
    bool format_auto;         /* format=auto: chosen from Accept */
    enum image_format format; /* IMAGE_NONE: the input's (or auto) */
    unsigned quality;         /* 0: the format's default */
    unsigned char bg[3];      /* RGB */
};

/* The defaults: every parameter omitted. */
void resize_params_default(struct resize_params *p);

/* Parses the query of a /resize target (the part after '?', or NULL).
 * `src` receives the normalised relative path of a src parameter, ""
 * without one. Returns 0, or -1 with a one-line reason in `why`. */
int resize_params_parse(const char *query, struct resize_params *p, char src[PATH_OUT_MAX],
                        char why[RESIZE_WHY_MAX]);

/* The output format for an input of format `in` (which has alpha or not)
 * and the request's Accept header (may be NULL). */
enum image_format resize_format_choose(const struct resize_params *p, enum image_format in,
                                       bool has_alpha, const char *accept);

/* The quality used for `out`: q, or the format's default. */
unsigned resize_quality(const struct resize_params *p, enum image_format out);

/* The canonical form of p with the chosen output format: equal for every
 * spelling of the same request (order, explicit defaults). */
void resize_params_canonical(const struct resize_params *p, enum image_format out,
                             char canon[RESIZE_CANON_MAX]);

/* "jpeg", "png", ... and "image/jpeg", ... */
const char *image_format_name(enum image_format f);
const char *image_format_media_type(enum image_format f);

#endif
