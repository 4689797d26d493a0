/* resize.c - libvips set-up and one resize; see resize.h. */
#include "resize.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <vips/vips.h>

#include "image_probe.h"

#define VIPS_AT_LEAST(major, minor)                                                                \
    (VIPS_MAJOR_VERSION > (major) ||                                                               \
     (VIPS_MAJOR_VERSION == (major) && VIPS_MINOR_VERSION >= (minor)))

/* Decode problems that fail a resize (422): libjpeg's "corrupt data"
 * is only a warning, and a half-grey picture is no answer. As sharp's
 * default (failOn: 'warning'). */
#define RAIL_FAIL_ON VIPS_FAIL_ON_WARNING

/* AVIF: libaom's effort 4 (its default) costs ~0.5 s for a 12 MP source on
 * one core; 2 is about ten times faster for a slightly larger file. Chroma
 * at full resolution (4:4:4), as sharp's default: libvips' own default
 * below Q 90 (4:2:0) measured a lower PSNR than sharp's output. */
#define AVIF_EFFORT 2

/* ---- process set-up ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = -1;

/* Loaders allowed; every other one is blocked. Class names cover each
 * loader's file, buffer and source variants. */
static const char *const allowed_loaders[] = {"VipsForeignLoadJpeg", "VipsForeignLoadPng",
                                              "VipsForeignLoadWebp", "VipsForeignLoadNsgif",
                                              "VipsForeignLoadHeif"};

/* libvips reports every bad input on stderr as a GLib warning; the answer
 * carries the reason and the metrics count it, so a client cannot fill the
 * server's log with them. */
static void drop_warning(const char *domain, GLogLevelFlags level, const char *message, void *arg)
{
    (void)domain, (void)level, (void)message, (void)arg;
}

static void init_vips(void)
{
    if (VIPS_INIT("rail-server") != 0)
        return;
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_warning, NULL);
    vips_concurrency_set(1); /* the pool is the parallelism: one resize, one thread */
    vips_cache_set_max(0);   /* every request is new: a cache only holds memory */
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < sizeof allowed_loaders / sizeof allowed_loaders[0]; i++)
        vips_operation_block_set(allowed_loaders[i], FALSE);
    init_status = 0;
}

int resize_init(void)
{
    pthread_once(&init_once, init_vips);
    return init_status;
}

const char *resize_engine_version(void)
{
    return vips_version_string();
}

uint64_t resize_engine_memory(void)
{
    return (uint64_t)vips_tracked_get_mem();
}

void resize_shutdown(void)
{
    if (init_status == 0)
        vips_shutdown();
}

void resize_data_free(void *data)
{
    g_free(data);
}

void resize_result_free(struct resize_result *r)
{
    g_free(r->data);
    r->data = NULL;
    r->len = 0;
}

const char *resize_outcome_name(enum resize_outcome o)
{
    static const char *const names[RESIZE_OUTCOMES] = {
        "ok",      "unsupported", "too_large", "corrupt",   "bad_size",
        "timeout", "cancelled",   "internal",  "bad_param", "not_found"};
    return names[o];
}

/* ---- deadline and cancellation ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the eval callback sees; libvips may call it from its own thread. */
struct watch {
    const struct resize_job *job;
    atomic_int stopped; /* 0, or RESIZE_TIMEOUT / RESIZE_CANCELLED */
};

static enum resize_outcome watch_check(struct watch *w)
{
    const struct resize_job *job = w->job;
    int seen = atomic_load(&w->stopped);
    if (seen || !job)
        return (enum resize_outcome)seen;
    enum resize_outcome o = RESIZE_OK;
    if (job->cancelled && atomic_load_explicit(job->cancelled, memory_order_relaxed))
        o = RESIZE_CANCELLED;
    else if (job->deadline_ns && now_ns() >= job->deadline_ns)
        o = RESIZE_TIMEOUT;
    if (o != RESIZE_OK)
        atomic_store(&w->stopped, (int)o);
    return o;
}

/* libvips' "eval" signal, every few tiles of the image being written. */
static void on_eval(VipsImage *image, VipsProgress *progress, void *arg)
{
    (void)progress;
    if (watch_check(arg) != RESIZE_OK)
        vips_image_set_kill(image, TRUE);
}

/* ---- geometry ---- */

struct plan {
    int in_w, in_h;         /* as displayed: after EXIF orientation */
    int scaled_w, scaled_h; /* after the resize */
    int out_w, out_h;       /* the answer: scaled, then cropped (cover) or padded (contain) */
};

static int round_side(double v)
{
    long r = lround(v);
    return r < 1 ? 1 : r > VIPS_MAX_COORD ? VIPS_MAX_COORD : (int)r;
}

/* The scale and sizes the contract asks for. */
static void plan_geometry(const struct resize_params *p, struct plan *g)
{
    double w = p->width, h = p->height, sw = w / g->in_w, sh = h / g->in_h;
    double scale = 1.0;
    bool up = p->enlarge;
    enum resize_fit fit = p->width && p->height ? p->fit : FIT_INSIDE;
    if (!p->width && !p->height)
        scale = 1.0;
    else if (!p->height)
        scale = sw;
    else if (!p->width)
        scale = sh;
    else if (fit == FIT_INSIDE || fit == FIT_CONTAIN)
        scale = sw < sh ? sw : sh;
    else if (fit == FIT_OUTSIDE || fit == FIT_COVER)
        scale = sw > sh ? sw : sh;
    if (fit == FIT_COVER || fit == FIT_FILL)
        up = true; /* always exactly w x h */
    if (!up && scale > 1.0)
        scale = 1.0;
    g->scaled_w = round_side(g->in_w * scale);
    g->scaled_h = round_side(g->in_h * scale);
    /* The side the scale came from is exact, whatever the rounding. */
    if (scale != 1.0 || up) {
        if (p->width && scale == sw)
            g->scaled_w = p->width;
        if (p->height && scale == sh)
            g->scaled_h = p->height;
    }
    if (fit == FIT_FILL && p->width && p->height) {
        g->scaled_w = p->width;
        g->scaled_h = p->height;
    }
    g->out_w = g->scaled_w;
    g->out_h = g->scaled_h;
    if (p->width && p->height && (fit == FIT_COVER || fit == FIT_CONTAIN)) {
        g->out_w = p->width;
        g->out_h = p->height;
    }
}

/* sharp's JPEG shrink-on-load: the largest of 8, 4, 2 that keeps the
 * decoded image at least the target size, one step less when the shrink is
 * exactly that factor (libjpeg's rounding could then fall short). */
static double common_shrink(const struct plan *g);
static int jpeg_shrink(const struct plan *g)
{
    double shrink = common_shrink(g);
    int factor = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
    if (factor > 1 && (int)shrink == factor)
        factor /= 2;
    return factor;
}

/* ---- the pipeline ---- */

struct run {
    const struct resize_config *cfg;
    const struct resize_params *p;
    struct resize_result *out;
    struct watch watch;
    VipsObject *scope; /* every intermediate image is unref'd with it */
    VipsImage *header;
    enum image_format format;
    bool has_alpha;
    struct plan g;
};

static VipsImage **slot(struct run *r)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(r->scope, 1);
    return &t[0];
}

static int fail(struct run *r, enum resize_outcome o, const char *fmt, const char *detail)
{
    r->out->outcome = o;
    snprintf(r->out->why, sizeof r->out->why, fmt, detail ? detail : "");
    /* libvips' message can span lines: keep the first. */
    r->out->why[strcspn(r->out->why, "\r\n")] = '\0';
    vips_error_clear();
    return -1;
}

/* A libvips failure while decoding or transforming: the input's fault,
 * unless the watch stopped it. */
static int pipeline_failed(struct run *r)
{
    enum resize_outcome stop = watch_check(&r->watch);
    if (stop == RESIZE_TIMEOUT)
        return fail(r, stop, "resize took longer than --resize-timeout%s", NULL);
    if (stop == RESIZE_CANCELLED)
        return fail(r, stop, "client went away%s", NULL);
    return fail(r, RESIZE_CORRUPT, "truncated or corrupt image: %s", vips_error_buffer());
}

static int stopped(struct run *r)
{
    return watch_check(&r->watch) != RESIZE_OK ? pipeline_failed(r) : 0;
}

/* Header only: format, size, orientation, alpha. No pixel is decoded. */
static int read_header(struct run *r, const void *in, size_t len)
{
    r->format = image_probe(in, len);
    r->out->input = r->format;
    if (r->format == IMAGE_NONE)
        return fail(r, RESIZE_UNSUPPORTED,
                    "not an image of an allowed format (JPEG, PNG, WebP, GIF, HEIF/AVIF)%s", NULL);
    VipsImage **h = slot(r);
    *h = vips_image_new_from_buffer(in, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!*h)
        return fail(r, RESIZE_CORRUPT, "unreadable image header: %s", vips_error_buffer());
    r->header = *h;
    uint64_t pixels = (uint64_t)r->header->Xsize * (uint64_t)r->header->Ysize;
    if (pixels > r->cfg->max_pixels) {
        char detail[96];
        snprintf(detail, sizeof detail, "%dx%d", r->header->Xsize, r->header->Ysize);
        return fail(r, RESIZE_TOO_LARGE, "image of %s pixels exceeds --max-pixels", detail);
    }
    bool swap = vips_image_get_orientation_swap(r->header);
    r->g.in_w = swap ? r->header->Ysize : r->header->Xsize;
    r->g.in_h = swap ? r->header->Xsize : r->header->Ysize;
    r->has_alpha = vips_image_hasalpha(r->header);
    return 0;
}

/* See RESIZE_HEAVY_PIXELS. libvips marks progressive JPEGs and interlaced
 * PNGs "interlaced" in the header. */
static bool heavy_input(const struct run *r)
{
    uint64_t pixels = (uint64_t)r->header->Xsize * (uint64_t)r->header->Ysize;
    if (pixels <= RESIZE_HEAVY_PIXELS)
        return false;
    int interlaced = 0;
    if (vips_image_get_typeof(r->header, "interlaced"))
        vips_image_get_int(r->header, "interlaced", &interlaced);
    switch (r->format) {
    case IMAGE_JPEG:
    case IMAGE_PNG:
        return interlaced != 0;
    default:
        return true; /* WebP, GIF, HEIF/AVIF: a whole frame at once */
    }
}

/* The smaller of the two shrink factors from the displayed to the scaled
 * size: shrinking on load by up to this keeps the decoded image at least
 * the target size on both axes. */
static double common_shrink(const struct plan *g)
{
    double hs = (double)g->in_w / g->scaled_w, vs = (double)g->in_h / g->scaled_h;
    return hs < vs ? hs : vs;
}

/* Decodes lazily (sequential access), failing on any decode warning, with
 * shrink-on-load where the format has it: JPEG by sharp's factor, WebP by
 * libwebp's scaling as sharp does; PNG, GIF and HEIF at full size. */
static int decode(struct run *r, const void *in, size_t len, VipsImage **out)
{
    void *buf = (void *)in; /* libvips does not write to it */
    int rc;
    switch (r->format) {
    case IMAGE_JPEG:
        rc = vips_jpegload_buffer(buf, len, out, "shrink", jpeg_shrink(&r->g), "access",
                                  VIPS_ACCESS_SEQUENTIAL, "fail_on", RAIL_FAIL_ON, NULL);
        break;
    case IMAGE_WEBP: {
        double shrink = common_shrink(&r->g);
        rc = vips_webpload_buffer(buf, len, out, "scale", shrink > 1.0 ? 1.0 / shrink : 1.0,
                                  "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", RAIL_FAIL_ON, NULL);
        break;
    }
    default:
        rc = (*out = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                                "fail_on", RAIL_FAIL_ON, NULL))
                 ? 0
                 : -1;
        break;
    }
    return rc != 0 ? pipeline_failed(r) : 0;
}

/* One libvips step of the pipeline: on success the image moves to the
 * step's output (unref'd with the run's scope). */
static int step(struct run *r, VipsImage **img, VipsImage **t, int rc)
{
    if (rc != 0)
        return pipeline_failed(r);
    *img = *t;
    return 0;
}

/* The working space of the resize when no ICC transform follows it: 8-bit
 * sRGB, or B_W for one or two bands, as vips_thumbnail chooses. The usual
 * input already is: skipped then, where vips_colourspace would add a
 * pass-through stage that copies every decoded pixel. */
static int to_processing_space(struct run *r, VipsImage **img)
{
    VipsInterpretation want =
        (*img)->Bands < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    VipsInterpretation have = vips_image_guess_interpretation(*img);
    if (have == VIPS_INTERPRETATION_RGB) /* as vips_colourspace reads it */
        have = VIPS_INTERPRETATION_sRGB;
    if (have == want && (*img)->BandFmt == VIPS_FORMAT_UCHAR)
        return 0;
    VipsImage **t = slot(r);
    return step(r, img, t, vips_colourspace(*img, t, want, NULL));
}

/* Lanczos3 from the decoded size to the planned one (in the decoded,
 * stored orientation), alpha premultiplied around it as vips_thumbnail
 * does; nothing when the decode already gave that size. */
static int shrink(struct run *r, VipsImage **img, bool swap)
{
    int tw = swap ? r->g.scaled_h : r->g.scaled_w, th = swap ? r->g.scaled_w : r->g.scaled_h;
    double hshrink = (double)(*img)->Xsize / tw, vshrink = (double)(*img)->Ysize / th;
    if (hshrink == 1.0 && vshrink == 1.0)
        return 0;
    /* premultiply and unpremultiply give float: back to the format after */
    VipsBandFormat format = (*img)->BandFmt;
    bool premultiply = vips_image_hasalpha(*img) && hshrink != 1.0 && vshrink != 1.0;
    VipsImage **t = (VipsImage **)vips_object_local_array(r->scope, 5);
    if (premultiply && (step(r, img, &t[0], vips_premultiply(*img, &t[0], NULL)) != 0 ||
                        step(r, img, &t[1], vips_cast(*img, &t[1], format, NULL)) != 0))
        return -1;
    if (step(r, img, &t[2],
             vips_resize(*img, &t[2], 1.0 / hshrink, "vscale", 1.0 / vshrink, "kernel",
                         VIPS_KERNEL_LANCZOS3, NULL)) != 0)
        return -1;
    if (premultiply && (step(r, img, &t[3], vips_unpremultiply(*img, &t[3], NULL)) != 0 ||
                        step(r, img, &t[4], vips_cast(*img, &t[4], format, NULL)) != 0))
        return -1;
    return 0;
}

/* Decode, resize to the planned size, convert to sRGB, autorotate: the
 * steps of vips_thumbnail_image() (same outputs, byte for byte), called
 * one by one as sharp does, without the two stages thumbnail adds on an
 * image that is already decoded (a second line cache and a pass-through
 * colourspace), each a copy of every decoded pixel. */
static int thumbnail(struct run *r, const void *in, size_t len, VipsImage **out)
{
    VipsImage **decoded = slot(r);
    if (decode(r, in, len, decoded) != 0)
        return -1;
    VipsImage *img = *decoded;
    bool icc = vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;
    bool cmyk = img->Type == VIPS_INTERPRETATION_CMYK;
    bool swap = vips_image_get_orientation_swap(img);
    int orientation = vips_image_get_orientation(img);
    /* An ICC transform after the resize (on the few output pixels) converts
     * anything tagged or CMYK, with thumbnail's relative intent; the rest is
     * converted before it. */
    if (!icc && !cmyk && to_processing_space(r, &img) != 0)
        return -1;
    if (shrink(r, &img, swap) != 0)
        return -1;
    VipsImage **t = slot(r);
    if ((icc || cmyk) &&
        step(r, &img, t,
             vips_icc_transform(img, t, "srgb", "input_profile", cmyk && !icc ? "cmyk" : NULL,
                                "embedded", TRUE, "intent", VIPS_INTENT_RELATIVE, "depth", 8,
                                NULL)) != 0)
        return -1;
    if (orientation != 1) {
        /* autorot reads the picture in another order than it was decoded:
         * the (small) resized picture is kept in memory. */
        VipsImage **mem = slot(r);
        if (!(*mem = vips_image_copy_memory(img)))
            return pipeline_failed(r);
        t = slot(r);
        if (step(r, &img, t, vips_autorot(*mem, t, NULL)) != 0)
            return -1;
    }
    *out = img;
    g_object_ref(img); /* *out is the caller's slot: its own reference */
    return 0;
}

/* 8-bit sRGB (or sRGB + alpha), whatever came out of the thumbnail. */
static int to_srgb8(struct run *r, VipsImage **img)
{
    if ((*img)->Type != VIPS_INTERPRETATION_sRGB || (*img)->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage **t = slot(r);
        if (vips_colourspace(*img, t, VIPS_INTERPRETATION_sRGB, NULL) != 0)
            return pipeline_failed(r);
        *img = *t;
    }
    if ((*img)->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage **t = slot(r);
        if (vips_cast_uchar(*img, t, NULL) != 0)
            return pipeline_failed(r);
        *img = *t;
    }
    return 0;
}

/* The crop of a scaled image to out_w x out_h around gravity. */
static int crop(struct run *r, VipsImage **img)
{
    int w = r->g.out_w, h = r->g.out_h, iw = (*img)->Xsize, ih = (*img)->Ysize;
    if (iw == w && ih == h)
        return 0;
    if (w > iw)
        w = iw;
    if (h > ih)
        h = ih;
    VipsImage **t = slot(r);
    int rc;
    if (r->p->gravity == GRAVITY_ATTENTION || r->p->gravity == GRAVITY_ENTROPY) {
        VipsInteresting how = r->p->gravity == GRAVITY_ATTENTION ? VIPS_INTERESTING_ATTENTION
                                                                 : VIPS_INTERESTING_ENTROPY;
        /* smartcrop reads the picture more than once, which a sequential
         * decode cannot: keep the scaled picture (small) in memory. */
        VipsImage *scaled = vips_image_copy_memory(*img);
        if (!scaled)
            return pipeline_failed(r);
        rc = vips_smartcrop(scaled, t, w, h, "interesting", how, NULL);
        g_object_unref(scaled);
    } else {
        int left = (iw - w) / 2, top = (ih - h) / 2;
        switch (r->p->gravity) {
        case GRAVITY_NORTH:
            top = 0;
            break;
        case GRAVITY_SOUTH:
            top = ih - h;
            break;
        case GRAVITY_EAST:
            left = iw - w;
            break;
        case GRAVITY_WEST:
            left = 0;
            break;
        default:
            break;
        }
        rc = vips_extract_area(*img, t, left, top, w, h, NULL);
    }
    if (rc != 0)
        return pipeline_failed(r);
    *img = *t;
    return 0;
}

static bool format_has_alpha(enum image_format f)
{
    return f != IMAGE_JPEG;
}

/* Alpha onto bg, for an output format without it. */
static int flatten(struct run *r, VipsImage **img)
{
    if (!vips_image_hasalpha(*img) || format_has_alpha(r->out->format))
        return 0;
    const unsigned char *bg = r->p->bg;
    VipsArrayDouble *background =
        vips_array_double_newv(3, (double)bg[0], (double)bg[1], (double)bg[2]);
    VipsImage **t = slot(r);
    int rc = vips_flatten(*img, t, "background", background, NULL);
    vips_area_unref(VIPS_AREA(background));
    if (rc != 0)
        return pipeline_failed(r);
    *img = *t;
    return 0;
}

/* contain: the picture centred on an out_w x out_h canvas of bg (opaque). */
static int pad(struct run *r, VipsImage **img)
{
    int w = r->g.out_w, h = r->g.out_h, iw = (*img)->Xsize, ih = (*img)->Ysize;
    if (iw == w && ih == h)
        return 0;
    const unsigned char *bg = r->p->bg;
    int bands = (*img)->Bands;
    VipsArrayDouble *background = vips_array_double_newv(bands == 4 ? 4 : 3, (double)bg[0],
                                                         (double)bg[1], (double)bg[2], 255.0);
    VipsImage **t = slot(r);
    int rc = vips_embed(*img, t, (w - iw) / 2, (h - ih) / 2, w, h, "extend", VIPS_EXTEND_BACKGROUND,
                        "background", background, NULL);
    vips_area_unref(VIPS_AREA(background));
    if (rc != 0)
        return pipeline_failed(r);
    *img = *t;
    return 0;
}

/* Encodes with every metadata block dropped; the buffer is libvips' own
 * (g_malloc), handed to the answer as it is. */
static int encode(struct run *r, VipsImage *img)
{
    enum image_format f = r->out->format;
    int q = (int)resize_quality(r->p, f);
    void *buf = NULL;
    size_t len = 0;
#if VIPS_AT_LEAST(8, 15)
#define NO_METADATA "keep", VIPS_FOREIGN_KEEP_NONE
#else
#define NO_METADATA "strip", TRUE
#endif
    int rc;
    switch (f) {
    case IMAGE_PNG:
        rc = vips_image_write_to_buffer(img, ".png", &buf, &len, NO_METADATA, NULL);
        break;
    case IMAGE_WEBP:
        rc = vips_image_write_to_buffer(img, ".webp", &buf, &len, "Q", q, NO_METADATA, NULL);
        break;
    case IMAGE_AVIF:
        rc = vips_image_write_to_buffer(
            img, ".avif", &buf, &len, "Q", q, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
            "effort", AVIF_EFFORT, "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_OFF, NO_METADATA, NULL);
        break;
    case IMAGE_GIF:
        rc = vips_image_write_to_buffer(img, ".gif", &buf, &len, NO_METADATA, NULL);
        break;
    default: /* JPEG as sharp writes it: 4:2:0, Huffman tables optimised */
        rc = vips_image_write_to_buffer(img, ".jpg", &buf, &len, "Q", q, "subsample_mode",
                                        VIPS_FOREIGN_SUBSAMPLE_ON, "optimize_coding", TRUE,
                                        NO_METADATA, NULL);
        break;
    }
#undef NO_METADATA
    if (rc != 0) {
        g_free(buf);
        return pipeline_failed(r);
    }
    r->out->data = buf;
    r->out->len = len;
    r->out->width = (unsigned)img->Xsize;
    r->out->height = (unsigned)img->Ysize;
    return 0;
}

int resize_run(const struct resize_config *cfg, const struct resize_job *job, const void *in,
               size_t len, const struct resize_params *p, struct resize_result *out)
{
    memset(out, 0, sizeof *out);
    struct run r = {.cfg = cfg, .p = p, .out = out, .watch = {.job = job}};
    if (resize_init() != 0) {
        out->outcome = RESIZE_INTERNAL;
        snprintf(out->why, sizeof out->why, "image engine failed to start");
        return 500;
    }
    r.scope = VIPS_OBJECT(vips_image_new());
    int rc = 0;
    VipsImage **thumb = slot(&r);
    VipsImage *img = NULL;
    if (read_header(&r, in, len) != 0)
        goto done;
    if (job && job->defer_heavy && heavy_input(&r)) {
        g_object_unref(r.scope);
        return 0; /* nothing decoded: the caller moves it */
    }
    out->format = resize_format_choose(p, r.format, r.has_alpha, job ? job->accept : NULL);
    plan_geometry(p, &r.g);
    if ((uint64_t)r.g.scaled_w * (uint64_t)r.g.scaled_h > cfg->max_pixels ||
        (uint64_t)r.g.out_w * (uint64_t)r.g.out_h > cfg->max_pixels) {
        fail(&r, RESIZE_BAD_SIZE, "w, h: the output would exceed --max-pixels%s", NULL);
        goto done;
    }
    if (stopped(&r) != 0) /* the deadline passed in the queue: no decode */
        goto done;
    if (thumbnail(&r, in, len, thumb) != 0)
        goto done;
    img = *thumb;
    if (to_srgb8(&r, &img) != 0 || flatten(&r, &img) != 0)
        goto done;
    if (p->width && p->height && p->fit == FIT_COVER && crop(&r, &img) != 0)
        goto done;
    if (p->width && p->height && p->fit == FIT_CONTAIN && pad(&r, &img) != 0)
        goto done;
    if (stopped(&r) != 0)
        goto done;
    /* From here the pixels flow: decode, resize and encode happen while the
     * encoder pulls, and every few tiles the watch may kill the image. */
    vips_image_set_progress(img, TRUE);
    g_signal_connect(img, "eval", G_CALLBACK(on_eval), &r.watch);
    if (encode(&r, img) != 0)
        goto done;
    out->outcome = RESIZE_OK;
done:
    g_object_unref(r.scope);
    vips_error_clear();
    switch (out->outcome) {
    case RESIZE_OK:
        rc = 200;
        break;
    case RESIZE_UNSUPPORTED:
        rc = 415;
        break;
    case RESIZE_TOO_LARGE:
    case RESIZE_CORRUPT:
        rc = 422;
        break;
    case RESIZE_BAD_SIZE:
        rc = 400;
        break;
    case RESIZE_TIMEOUT:
    case RESIZE_CANCELLED:
        rc = 503;
        break;
    default:
        rc = 500;
        break;
    }
    if (rc != 200)
        resize_result_free(out);
    return rc;
}
