/*
 * image_probe.h - what an input is, from its first bytes, before libvips
 * sees it: only JPEG, PNG, WebP, GIF and HEIF/AVIF go further (415 for the
 * rest). Sniffing ourselves keeps the refusal independent of which loaders
 * a libvips build happens to carry.
 */
#ifndef RAIL_SERVER_IMAGE_PROBE_H
#define RAIL_SERVER_IMAGE_PROBE_H

#include <stddef.h>

#include "resize_params.h"

#define IMAGE_PROBE_BYTES 64 /* enough of the head to sniff any allowed format */

/* The format of the bytes, or IMAGE_NONE. */
enum image_format image_probe(const void *head, size_t len);

#endif
