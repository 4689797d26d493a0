/* files.c - static file answers; see files.h. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int docroot_open(struct docroot *root, const char *path)
{
    root->real = realpath(path, NULL);
    if (!root->real)
        return -1;
    root->fd = open(root->real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root->fd < 0) {
        int err = errno;
        free(root->real);
        errno = err;
        return -1;
    }
    root->real_len = strlen(root->real);
    return 0;
}

void docroot_close(struct docroot *root)
{
    close(root->fd);
    free(root->real);
}

static const struct {
    const char *ext, *type;
} media_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
};

const char *files_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++)
            if (strcasecmp(dot + 1, media_types[i].ext) == 0)
                return media_types[i].type;
    return "application/octet-stream";
}

/* Opens rel under the root. The name was normalised already; a symbolic
 * link could still point out, so the canonical path must stay inside. */
int files_open(const struct docroot *root, const char *rel, struct stat *st)
{
    if (rel[0] == '\0')
        return -1;
    /* open(), not openat(root->fd): TSan does not see openat() create a
     * descriptor and reports a reused number as a race. */
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root->real, rel) >= sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n =
        readlink(link, real, sizeof real - 1); /* needs /proc: without it nothing is served */
    if (n < 0)
        goto refuse;
    real[n] = '\0';
    if ((size_t)n <= root->real_len || memcmp(real, root->real, root->real_len) != 0 ||
        real[root->real_len] != '/')
        goto refuse;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        goto refuse;
    return fd;
refuse:
    close(fd);
    return -1;
}

/* Does an If-None-Match list contain etag (weak comparison) or "*"? */
bool files_etag_listed(const char *list, const char *etag)
{
    size_t elen = strlen(etag);
    for (const char *s = list; *s;) {
        s += strspn(s, " \t,");
        if (*s == '*')
            return true;
        if (strncmp(s, "W/", 2) == 0)
            s += 2;
        size_t n = strcspn(s, ",");
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(s, etag, n) == 0)
            return true;
        s += strcspn(s, ",");
    }
    return false;
}

static bool not_modified(const struct request *req, const char *etag, time_t mtime)
{
    const char *inm = request_header(req, "if-none-match");
    if (inm) /* If-Modified-Since is ignored when If-None-Match is present */
        return files_etag_listed(inm, etag);
    const char *ims = request_header(req, "if-modified-since");
    if (ims) {
        time_t since = http_date_parse(ims);
        return since >= 0 && mtime <= since;
    }
    return false;
}

enum range_kind { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

static bool parse_u64(const char *s, const char *end, uint64_t *out)
{
    if (s == end)
        return false;
    uint64_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* A single "bytes=first-last", "bytes=first-" or "bytes=-suffix". Anything
 * else (several ranges, other units, bad syntax) is ignored, which RFC 9110
 * allows: the whole file is sent. */
static enum range_kind parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return RANGE_NONE;
    const char *s = h + 6, *dash = strchr(s, '-');
    if (!dash)
        return RANGE_NONE;
    const char *end = s + strlen(s);
    while (end > dash + 1 && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    uint64_t a, b;
    if (s == dash) { /* suffix */
        if (!parse_u64(dash + 1, end, &b))
            return RANGE_NONE;
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return RANGE_OK;
    }
    if (!parse_u64(s, dash, &a))
        return RANGE_NONE;
    if (dash + 1 == end)
        b = UINT64_MAX;
    else if (!parse_u64(dash + 1, end, &b) || b < a)
        return RANGE_NONE;
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return RANGE_OK;
}

static int read_body(int fd, uint64_t offset, size_t len, struct response *resp)
{
    char *body = malloc(len ? len : 1);
    if (!body)
        return -1;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, body + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* error, or the file shrank under us */
            free(body);
            return -1;
        }
        got += (size_t)n;
    }
    response_body(resp, body, len);
    return 0;
}

int files_serve(const struct docroot *root, const char *rel, const struct request *req, int status,
                struct response *resp)
{
    struct stat st;
    int fd = files_open(root, rel, &st);
    if (fd < 0)
        return -1;
    uint64_t size = (uint64_t)st.st_size;
    char etag[64], modified[HTTP_DATE_LEN];
    snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_mtime, size);
    http_date(st.st_mtime, modified);

    resp->status = status;
    resp->content_type = files_content_type(rel);
    if (status == 200) {
        response_header(resp, "ETag", "%s", etag);
        response_header(resp, "Last-Modified", "%s", modified);
        response_header(resp, "Accept-Ranges", "bytes");
    }
    uint64_t first = 0, last = size ? size - 1 : 0;
    const char *range = status == 200 ? request_header(req, "range") : NULL;
    const char *if_range = request_header(req, "if-range");
    if (range && if_range && strcmp(if_range, etag) != 0)
        range = NULL; /* the client's copy is stale: send it all */
    if (status == 200 && not_modified(req, etag, st.st_mtime)) {
        resp->status = 304;
        resp->content_type = NULL;
        resp->content_length = size; /* RFC 9110 8.6: the length a 200 would have had */
        close(fd);
        return 0;
    }
    switch (range ? parse_range(range, size, &first, &last) : RANGE_NONE) {
    case RANGE_UNSATISFIABLE:
        close(fd);
        response_header(resp, "Content-Range", "bytes */%" PRIu64, size);
        response_error(resp, 416);
        return 0;
    case RANGE_OK:
        resp->status = 206;
        response_header(resp, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
                        last, size);
        break;
    case RANGE_NONE:
        break;
    }
    size_t len = size ? (size_t)(last - first + 1) : 0;
    int rc = 0;
    if (req->method == HTTP_HEAD)
        resp->content_length = len;
    else if (read_body(fd, first, len, resp) != 0)
        rc = -1;
    close(fd);
    if (rc != 0)
        response_reset(resp);
    return rc;
}
