/*
 * fuzz_resize.c - a fuzz target for rail-server's image path: the /resize
 * query parser, format=auto's Accept negotiation, the header sniff and a
 * whole resize (libvips) of the fuzzed bytes under a small pixel limit.
 *
 * An input is three parts split by NUL bytes: the query, the Accept
 * header, the image. Missing parts are empty. Besides crashes, sanitizer
 * reports and hangs it checks what must always hold: a refusal has a
 * one-line reason and a status of the contract; bytes that are not an
 * allowed format are 415; an answer is the format it claims, within the
 * pixel limit.
 *
 * Built with libFuzzer by `make fuzz`, and as a replay of
 * tests/fuzz/corpus_resize and regressions_resize in every suite.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_probe.h"
#include "resize.h"
#include "resize_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 256 x 256: a fuzzed header declaring more is refused before decoding,
 * so each run stays small and quick. */
#define FUZZ_MAX_PIXELS (256u * 256u)

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_resize: invariant broken: %s\n", what);
        abort();
    }
}

static void require_reason(const char *why)
{
    require(why[0] != '\0', "a refusal has a reason");
    require(strchr(why, '\n') == NULL && strchr(why, '\r') == NULL, "the reason is one line");
}

/* The next NUL-terminated part of [*p, end) as a C string (malloc'd); *p
 * moves past it. */
static char *take_part(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    require(s != NULL, "memory");
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += nul ? n + 1 : n;
    return s;
}

/* The magic bytes of an encoded answer of format f. */
static int looks_like(const unsigned char *b, size_t n, enum image_format f)
{
    switch (f) {
    case IMAGE_JPEG:
        return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
    case IMAGE_PNG:
        return n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
    case IMAGE_WEBP:
        return n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0;
    case IMAGE_GIF:
        return n >= 6 && memcmp(b, "GIF8", 4) == 0;
    case IMAGE_AVIF:
        return n >= 12 && memcmp(b + 4, "ftyp", 4) == 0;
    default:
        return 0;
    }
}

static void check_params(const char *query, struct resize_params *p)
{
    char src[PATH_OUT_MAX], why[RESIZE_WHY_MAX] = "";
    if (resize_params_parse(query, p, src, why) != 0) {
        require_reason(why);
        resize_params_default(p);
        return;
    }
    require(p->width <= RESIZE_SIDE_MAX && p->height <= RESIZE_SIDE_MAX, "sides within bounds");
    require(p->quality <= 100, "quality within bounds");
    /* The canonical form is the same for the same parameters. */
    char a[RESIZE_CANON_MAX], b[RESIZE_CANON_MAX];
    resize_params_canonical(p, IMAGE_PNG, a);
    resize_params_canonical(p, IMAGE_PNG, b);
    require(strcmp(a, b) == 0, "the canonical form is stable");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        require(resize_init() == 0, "libvips starts");
        ready = 1;
    }
    const uint8_t *p = data, *end = data + size;
    char *query = take_part(&p, end);
    char *accept = take_part(&p, end);
    const uint8_t *image = p;
    size_t image_len = (size_t)(end - p);

    struct resize_params params;
    check_params(query, &params);
    enum image_format sniffed = image_probe(image, image_len);
    enum image_format chosen = resize_format_choose(&params, sniffed, false, accept);
    require(chosen != IMAGE_NONE && chosen != IMAGE_HEIC, "an output format is always chosen");

    struct resize_config cfg = {.max_pixels = FUZZ_MAX_PIXELS};
    struct resize_job job = {.accept = accept};
    struct resize_result res;
    memset(&res, 0, sizeof res);
    int status = resize_run(&cfg, &job, image, image_len, &params, &res);
    require(status == 200 || status == 400 || status == 415 || status == 422,
            "a status of the contract (500 is libvips failing on input)");
    if (sniffed == IMAGE_NONE)
        require(status == 415, "bytes of no allowed format are 415");
    if (status == 200) {
        require(res.data != NULL && res.len > 0, "an answer has bytes");
        require(looks_like(res.data, res.len, res.format), "the bytes are the format claimed");
        require((uint64_t)res.width * res.height <= FUZZ_MAX_PIXELS,
                "the answer stays within the pixel limit");
    } else {
        require_reason(res.why);
    }
    resize_result_free(&res);
    free(query);
    free(accept);
    return 0;
}
