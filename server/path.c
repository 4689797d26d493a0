/* path.c - request target normalisation; see path.h for the rules. */
#include "path.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int path_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one segment [s, end) into out; returns its length or -1. */
static int decode_segment(const char *s, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    while (s < end) {
        char c = *s++;
        if (c == '%') {
            int hi = end - s >= 2 ? path_hex_digit(s[0]) : -1;
            int lo = hi >= 0 ? path_hex_digit(s[1]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            s += 2;
        }
        if (c == '/' || c == '\0' || n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    return (int)n;
}

/* An absolute-form target ("http://host:port/path?query", RFC 9112 §3.2.2)
 * names the same resource as its path would: where that path starts (it
 * may be empty), or NULL when target is not absolute-form. Credentials in
 * the authority (RFC 9110 §4.2.4) are refused. */
static const char *absolute_form_path(const char *target)
{
    const char *s = target;
    if (strncasecmp(s, "http", 4) != 0)
        return NULL;
    s += 4;
    s += *s == 's' || *s == 'S';
    if (strncmp(s, "://", 3) != 0)
        return NULL;
    s += 3;
    size_t authority = strcspn(s, "/?#");
    if (memchr(s, '@', authority))
        return NULL;
    return s + authority;
}

const char *path_origin(const char *target)
{
    const char *path = absolute_form_path(target);
    return path ? path : target;
}

void path_of_target(const char *target, char *out, size_t cap)
{
    const char *path = absolute_form_path(target);
    if (path && *path != '/') { /* "http://host" and "http://host?q" are "/" */
        snprintf(out, cap, "/");
        return;
    }
    if (path)
        target = path;
    size_t n = strcspn(target, "?#");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, target, n);
    out[n] = '\0';
}

int path_normalize(const char *target, char out[PATH_OUT_MAX])
{
    if (target[0] != '/' && !(target = absolute_form_path(target)))
        return -1;
    const char *end = target + strcspn(target, "?#");
    size_t len = 0;
    out[0] = '\0';
    for (const char *s = target; s < end;) {
        while (s < end && *s == '/')
            s++;
        const char *seg_end = s;
        while (seg_end < end && *seg_end != '/')
            seg_end++;
        char seg[PATH_OUT_MAX];
        int n = decode_segment(s, seg_end, seg, sizeof seg);
        s = seg_end;
        if (n < 0)
            return -1;
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (len == 0)
                return -1; /* above the root */
            while (len > 0 && out[len - 1] != '/')
                len--;
            len -= len > 0; /* and the '/' before the dropped segment */
            out[len] = '\0';
            continue;
        }
        if (len + (len > 0) + (size_t)n + 1 > PATH_OUT_MAX)
            return -1;
        if (len > 0)
            out[len++] = '/';
        memcpy(out + len, seg, (size_t)n);
        len += (size_t)n;
        out[len] = '\0';
    }
    return 0;
}
