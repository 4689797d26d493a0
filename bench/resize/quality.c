/*
 * resize_quality - how close a resized output is to the ideal one.
 *
 * usage: resize_quality INPUT OUTPUT...
 *
 * For each OUTPUT, prints its PSNR in dB against a reference made from
 * INPUT the slow, careful way: the whole image decoded at full size (no
 * shrink-on-load), EXIF orientation applied, converted to sRGB, alpha
 * flattened on white, then scaled straight to the output's size with a
 * lanczos3 kernel. Higher is better; two servers' outputs of the same
 * request are compared by their figures, so speed is never bought with
 * quality unseen. Only geometry that keeps the whole picture (fit=inside,
 * one side given) has a reference of this kind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <vips/vips.h>

/* 8-bit sRGB without alpha; takes ownership of `in`. */
static VipsImage *to_srgb8(VipsImage *in)
{
    VipsImage *t = NULL;
    if (vips_colourspace(in, &t, VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    g_object_unref(in);
    in = t;
    if (vips_image_hasalpha(in)) {
        VipsArrayDouble *white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
        int rc = vips_flatten(in, &t, "background", white, NULL);
        vips_area_unref(VIPS_AREA(white));
        if (rc)
            goto out;
        g_object_unref(in);
        in = t;
    }
    if (vips_cast_uchar(in, &t, NULL))
        goto out;
    g_object_unref(in);
    return t;
out:
    g_object_unref(in);
    return NULL;
}

/* The full-decode lanczos3 reference of `input` at w x h. */
static VipsImage *reference(VipsImage *full, int w, int h)
{
    VipsImage *scaled = NULL, *exact = NULL;
    double hs = (double)w / full->Xsize, vs = (double)h / full->Ysize;
    if (vips_resize(full, &scaled, hs, "vscale", vs, "kernel", VIPS_KERNEL_LANCZOS3, NULL))
        return NULL;
    /* vips_resize rounds the size; pin it to the output's exactly. */
    if (vips_embed(scaled, &exact, 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL))
        exact = NULL;
    g_object_unref(scaled);
    return exact;
}

static double psnr(VipsImage *a, VipsImage *b)
{
    VipsImage *diff = NULL, *sq = NULL;
    double mse = -1;
    if (!vips_subtract(a, b, &diff, NULL) && !vips_multiply(diff, diff, &sq, NULL))
        vips_avg(sq, &mse, NULL);
    if (diff)
        g_object_unref(diff);
    if (sq)
        g_object_unref(sq);
    if (mse < 0)
        return NAN;
    return mse == 0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / mse);
}

int main(int argc, char **argv)
{
    if (VIPS_INIT(argv[0]))
        vips_error_exit(NULL);
    if (argc < 3) {
        fprintf(stderr, "usage: %s INPUT OUTPUT...\n", argv[0]);
        return 2;
    }
    VipsImage *in = vips_image_new_from_file(argv[1], "access", VIPS_ACCESS_RANDOM, NULL);
    VipsImage *rot = NULL;
    if (!in || vips_autorot(in, &rot, NULL))
        vips_error_exit("%s", argv[1]);
    g_object_unref(in);
    VipsImage *full = to_srgb8(rot);
    /* Decode once; every reference is made from pixels in memory. */
    if (!full || vips_image_wio_input(full))
        vips_error_exit("%s", argv[1]);
    int status = 0;
    for (int i = 2; i < argc; i++) {
        VipsImage *out = vips_image_new_from_file(argv[i], "access", VIPS_ACCESS_RANDOM, NULL);
        VipsImage *o8 = out ? to_srgb8(out) : NULL;
        VipsImage *ref = o8 ? reference(full, o8->Xsize, o8->Ysize) : NULL;
        if (!ref) {
            fprintf(stderr, "%s: %s", argv[i], vips_error_buffer());
            vips_error_clear();
            printf("%s nan\n", argv[i]);
            status = 1;
        } else {
            printf("%s %.2f\n", argv[i], psnr(ref, o8));
        }
        if (ref)
            g_object_unref(ref);
        if (o8)
            g_object_unref(o8);
    }
    g_object_unref(full);
    vips_shutdown();
    return status;
}
