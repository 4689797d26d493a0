/*
 * files.h - static files under the document root: Content-Type, ETag and
 * Last-Modified validators, conditional requests (304) and single byte
 * ranges (206/416). Runs on pool workers; touches only the file system.
 */
#ifndef RAIL_SERVER_FILES_H
#define RAIL_SERVER_FILES_H

#include <stdbool.h>
#include <sys/stat.h>

#include "request.h"
#include "response.h"

struct docroot {
    int fd;     /* the root directory, open */
    char *real; /* its canonical path */
    size_t real_len;
};

/* Opens the root; -1 with errno set when it is not a readable directory. */
int docroot_open(struct docroot *root, const char *path);
void docroot_close(struct docroot *root);

/* Answers `req` (GET or HEAD) with the file at `rel` (normalised, relative
 * to the root) and the given status for a full answer (200, or 404 for the
 * not-found page). Returns -1 without touching resp when the file is not a
 * regular file inside the root, 0 when resp is filled. */
int files_serve(const struct docroot *root, const char *rel, const struct request *req, int status,
                struct response *resp);

/* Opens `rel` (normalised, relative) read-only when it is a regular file
 * inside the root, symbolic links resolved; fills *st. -1 otherwise. */
int files_open(const struct docroot *root, const char *rel, struct stat *st);

/* Does an If-None-Match list contain etag (weak comparison) or "*"? */
bool files_etag_listed(const char *list, const char *etag);

/* The media type for a file name, by its extension. */
const char *files_content_type(const char *name);

#endif
