/*
 * path.h - from a request target to a path under the document root.
 *
 * The target's path is split on '/', each segment percent-decoded on its
 * own, and "." and ".." resolved before anything touches the file system.
 * A decoded segment may not contain '/' or NUL, and ".." may not climb
 * above the root: whatever the encoding, the result names something inside
 * the root (symbolic links are checked when the file is opened).
 */
#ifndef RAIL_SERVER_PATH_H
#define RAIL_SERVER_PATH_H

#include <stddef.h>

#define PATH_OUT_MAX 4096

/* Writes the normalised path (relative, no leading '/', "" for the root)
 * into out. Returns 0, or -1 for a target that names nothing under the
 * root (bad encoding, encoded '/' or NUL, ".." above the root, neither
 * origin-form nor absolute-form, too long): answer 400. An absolute-form
 * target ("http://host/a?q") is normalised by its path ("/a"). */
int path_normalize(const char *target, char out[PATH_OUT_MAX]);

/* The value of a hexadecimal digit, or -1 (for %XX escapes, hex keys). */
int path_hex_digit(char c);

/* The target in origin-form: an absolute-form target from its path on
 * ("http://h/a?x" -> "/a?x"), any other as it is. */
const char *path_origin(const char *target);

/* The path part of the target ("/a/b?x" -> "/a/b", "http://h/a?x" -> "/a",
 * "http://h" -> "/"), percent-decoding nothing, written into out (at most
 * cap bytes with the NUL). */
void path_of_target(const char *target, char *out, size_t cap);

#endif
