/* resize_params.c - the /resize query; see resize_params.h. */
#include "resize_params.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "path.h"

#define AVIF_DEFAULT_Q 50 /* as sharp: AV1 at q80 is far larger for no visible gain */
#define DEFAULT_Q      80

void resize_params_default(struct resize_params *p)
{
    *p = (struct resize_params){.fit = FIT_INSIDE, .gravity = GRAVITY_CENTRE};
    memset(p->bg, 0xff, sizeof p->bg);
}

/* Form-decodes [s, end) ('+' is a space, %XX a byte) into out (cap bytes
 * with the NUL). -1 for a bad escape, a NUL byte or no room. */
static int form_decode(const char *s, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    for (; s < end; s++) {
        char c = *s;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = end - s > 2 ? path_hex_digit(s[1]) : -1;
            int lo = hi >= 0 ? path_hex_digit(s[2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            s += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static int fail(char why[RESIZE_WHY_MAX], const char *name, const char *what)
{
    snprintf(why, RESIZE_WHY_MAX, "%s: %s", name, what);
    return -1;
}

/* Control bytes (CR, LF, ...) of an echoed name as '?': a reason is one
 * line, whatever the client percent-encoded. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* A decimal integer in [min, max] and nothing else. */
static int integer(const char *v, unsigned min, unsigned max, unsigned *out)
{
    unsigned long n = 0;
    if (!*v || strlen(v) > 6)
        return -1;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n * 10 + (unsigned long)(*s - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* Index of v in names[], or -1. */
static int keyword(const char *v, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

static const char *const fit_names[] = {"inside", "cover", "contain", "fill", "outside"};
static const char *const gravity_names[] = {"centre", "north",     "south",  "east",
                                            "west",   "attention", "entropy"};
static const char *const format_names[] = {"", "jpeg", "png", "webp", "avif", "gif", "heic"};

/* The src value: relative, inside the images directory. path_normalize()
 * does the containment; the value is decoded already, so every byte that
 * it would interpret ('%', '?', '#') is escaped again before it sees it. */
static int source_path(const char *v, char src[PATH_OUT_MAX], char why[RESIZE_WHY_MAX])
{
    if (!*v)
        return fail(why, "src", "empty");
    if (v[0] == '/')
        return fail(why, "src", "must be a relative path");
    char target[PATH_OUT_MAX];
    size_t n = 0;
    target[n++] = '/';
    for (const char *s = v; *s; s++) {
        if (n + 4 >= sizeof target)
            return fail(why, "src", "too long");
        if (*s == '%' || *s == '?' || *s == '#')
            n += (size_t)snprintf(target + n, sizeof target - n, "%%%02X", (unsigned char)*s);
        else
            target[n++] = *s;
    }
    target[n] = '\0';
    /* ".." anywhere is refused, even when it would stay inside. */
    for (const char *s = v; *s;) {
        size_t seg = strcspn(s, "/");
        if (seg == 2 && s[0] == '.' && s[1] == '.')
            return fail(why, "src", "must not contain '..'");
        s += seg + (s[seg] == '/');
    }
    if (path_normalize(target, src) != 0 || src[0] == '\0')
        return fail(why, "src", "not a path under the images directory");
    return 0;
}

static int color(const char *v, unsigned char bg[3])
{
    if (strlen(v) != 6)
        return -1;
    for (int i = 0; i < 3; i++) {
        int hi = path_hex_digit(v[2 * i]), lo = path_hex_digit(v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        bg[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

enum param { P_W, P_H, P_FIT, P_GRAVITY, P_ENLARGE, P_FORMAT, P_Q, P_BG, P_SRC, P_COUNT };
static const char *const param_names[P_COUNT] = {"w",      "h", "fit", "gravity", "enlarge",
                                                 "format", "q", "bg",  "src"};

static int one(enum param k, const char *v, struct resize_params *p, char src[PATH_OUT_MAX],
               char why[RESIZE_WHY_MAX])
{
    const char *name = param_names[k];
    int i;
    switch (k) {
    case P_W:
    case P_H:
        if (integer(v, 1, RESIZE_SIDE_MAX, k == P_W ? &p->width : &p->height) != 0)
            return fail(why, name, "must be an integer from 1 to 16384");
        return 0;
    case P_FIT:
        if ((i = keyword(v, fit_names, 5)) < 0)
            return fail(why, name, "must be inside, cover, contain, fill or outside");
        p->fit = (enum resize_fit)i;
        return 0;
    case P_GRAVITY:
        if ((i = keyword(v, gravity_names, 7)) < 0)
            return fail(why, name,
                        "must be centre, north, south, east, west, attention or entropy");
        p->gravity = (enum resize_gravity)i;
        return 0;
    case P_ENLARGE:
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            return fail(why, name, "must be 0 or 1");
        p->enlarge = v[0] == '1';
        return 0;
    case P_FORMAT:
        if (strcmp(v, "auto") == 0) {
            p->format_auto = true;
            return 0;
        }
        if ((i = keyword(v, format_names, 6)) < 1)
            return fail(why, name, "must be jpeg, png, webp, avif, gif or auto");
        p->format = (enum image_format)i;
        return 0;
    case P_Q:
        if (integer(v, 1, 100, &p->quality) != 0)
            return fail(why, name, "must be an integer from 1 to 100");
        return 0;
    case P_BG:
        if (color(v, p->bg) != 0)
            return fail(why, name, "must be a hex colour RRGGBB");
        return 0;
    case P_SRC:
        return source_path(v, src, why);
    case P_COUNT:
        break;
    }
    return fail(why, name, "unknown");
}

int resize_params_parse(const char *query, struct resize_params *p, char src[PATH_OUT_MAX],
                        char why[RESIZE_WHY_MAX])
{
    resize_params_default(p);
    src[0] = '\0';
    why[0] = '\0';
    bool seen[P_COUNT] = {false};
    const char *s = query ? query : "";
    const char *end = s + strcspn(s, "#");
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pair_end - s));
        if (pair_end == s) { /* "a&&b", a trailing '&' */
            s = pair_end + 1;
            continue;
        }
        if (pair_end - s >= 4 && memcmp(s, "sig=", 4) == 0) { /* the signature: sign.h */
            s = pair_end == end ? end : pair_end + 1;
            continue;
        }
        char name[16], value[PATH_OUT_MAX];
        if (form_decode(s, eq ? eq : pair_end, name, sizeof name) != 0)
            return fail(why, "query", "a parameter name is badly encoded or unknown");
        int k = keyword(name, param_names, P_COUNT);
        if (k < 0) {
            printable(name);
            snprintf(why, RESIZE_WHY_MAX, "unknown parameter '%.32s'", name);
            return -1;
        }
        if (seen[k])
            return fail(why, name, "given more than once");
        seen[k] = true;
        if (!eq)
            return fail(why, name, "has no value");
        if (form_decode(eq + 1, pair_end, value, sizeof value) != 0)
            return fail(why, name, "badly encoded or too long");
        if (one((enum param)k, value, p, src, why) != 0)
            return -1;
        s = amp ? amp + 1 : end;
    }
    return 0;
}

/* Is `type` listed in Accept with a non-zero q? Wildcards do not count. */
static bool accepts(const char *accept, const char *type)
{
    size_t tlen = strlen(type);
    for (const char *s = accept; *s;) {
        s += strspn(s, " \t,");
        size_t item = strcspn(s, ",");
        size_t range = strcspn(s, ",;");
        size_t n = range;
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == tlen && strncasecmp(s, type, n) == 0) {
            bool zero = false;
            for (const char *q = s + range; q < s + item;) { /* ;param=value ... */
                q += strspn(q, " \t;");
                if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                    double v = 0;
                    zero = sscanf(q + 2, "%lf", &v) == 1 && v <= 0.0;
                }
                q += strcspn(q, ";,");
                if (*q != ';')
                    break;
            }
            if (!zero)
                return true;
        }
        s += item;
    }
    return false;
}

enum image_format resize_format_choose(const struct resize_params *p, enum image_format in,
                                       bool has_alpha, const char *accept)
{
    if (p->format_auto) {
        if (accept && accepts(accept, "image/avif"))
            return IMAGE_AVIF;
        if (accept && accepts(accept, "image/webp"))
            return IMAGE_WEBP;
        return has_alpha ? IMAGE_PNG : IMAGE_JPEG;
    }
    if (p->format != IMAGE_NONE)
        return p->format;
    return in == IMAGE_NONE || in == IMAGE_HEIC ? IMAGE_JPEG : in;
}

unsigned resize_quality(const struct resize_params *p, enum image_format out)
{
    if (p->quality)
        return p->quality;
    return out == IMAGE_AVIF ? AVIF_DEFAULT_Q : DEFAULT_Q;
}

void resize_params_canonical(const struct resize_params *p, enum image_format out,
                             char canon[RESIZE_CANON_MAX])
{
    /* fit matters only with both sides, gravity only for cover. */
    bool both = p->width && p->height;
    enum resize_fit fit = both ? p->fit : FIT_INSIDE;
    enum resize_gravity gravity = fit == FIT_COVER ? p->gravity : GRAVITY_CENTRE;
    snprintf(canon, RESIZE_CANON_MAX,
             "w=%u&h=%u&fit=%s&gravity=%s&enlarge=%d&format=%s&q=%u&bg=%02x%02x%02x", p->width,
             p->height, fit_names[fit], gravity_names[gravity], p->enlarge ? 1 : 0,
             image_format_name(out), resize_quality(p, out), p->bg[0], p->bg[1], p->bg[2]);
}

const char *image_format_name(enum image_format f)
{
    return format_names[f];
}

const char *image_format_media_type(enum image_format f)
{
    static const char *const types[] = {"application/octet-stream",
                                        "image/jpeg",
                                        "image/png",
                                        "image/webp",
                                        "image/avif",
                                        "image/gif",
                                        "image/heic"};
    return types[f];
}
