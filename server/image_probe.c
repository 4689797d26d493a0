/* image_probe.c - format sniffing by magic bytes; see image_probe.h. */
#include "image_probe.h"

#include <stdint.h>
#include <string.h>

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ISO BMFF: a "ftyp" box first, with a major brand and compatible brands.
 * AVIF when any brand is avif/avis; HEIF for the HEVC and generic brands. */
static enum image_format heif_brand(const unsigned char *b, size_t len)
{
    static const char *const heif[] = {"heic", "heix", "hevc", "hevx", "heim",
                                       "heis", "hevm", "hevs", "mif1", "msf1"};
    uint32_t box = be32(b);
    if (box < 16 || memcmp(b + 4, "ftyp", 4) != 0)
        return IMAGE_NONE;
    size_t end = box < len ? box : len;
    enum image_format found = IMAGE_NONE;
    for (size_t off = 8; off + 4 <= end; off += off == 8 ? 8 : 4) { /* skip minor_version */
        const unsigned char *brand = b + off;
        if (memcmp(brand, "avif", 4) == 0 || memcmp(brand, "avis", 4) == 0)
            return IMAGE_AVIF;
        for (size_t i = 0; i < sizeof heif / sizeof heif[0]; i++)
            if (memcmp(brand, heif[i], 4) == 0)
                found = IMAGE_HEIC;
    }
    return found;
}

enum image_format image_probe(const void *head, size_t len)
{
    const unsigned char *b = head;
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return IMAGE_JPEG;
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return IMAGE_PNG;
    if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return IMAGE_GIF;
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return IMAGE_WEBP;
    if (len >= 16)
        return heif_brand(b, len);
    return IMAGE_NONE;
}
