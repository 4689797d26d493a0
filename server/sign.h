/*
 * sign.h - signed /resize URLs (HMAC-SHA256), as imgproxy and thumbor do.
 *
 * With a key set, every /resize request carries sig = the URL-safe base64
 * (no padding) of HMAC-SHA256(key, salt || canonical request), where the
 * canonical request is
 *
 *     PATH "?" P1 "&" P2 "&" ... Pn
 *
 * PATH is the target's path exactly as received (not decoded), P1..Pn are
 * the query's non-empty "name=value" items other than sig, exactly as
 * received (not decoded), sorted in byte order (strcmp, LC_ALL=C sort).
 * The check runs before anything is decoded; see README "Signed URLs".
 * The HMAC is libcrypto's (sign.c says why not GLib's).
 */
#ifndef RAIL_SERVER_SIGN_H
#define RAIL_SERVER_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#define SIGN_SECRET_MAX 256
/* 32 bytes of SHA-256 in unpadded base64: 43 characters. */
#define SIGN_LEN 43

struct sign_key {
    unsigned char key[SIGN_SECRET_MAX];
    size_t key_len; /* 0: signing off */
    unsigned char salt[SIGN_SECRET_MAX];
    size_t salt_len;
};

/* Decodes hex (even length, at most SIGN_SECRET_MAX bytes) into out.
 * Returns the byte count, or -1. */
int sign_hex(const char *hex, unsigned char out[SIGN_SECRET_MAX]);

/* Reads "key=HEX" and "salt=HEX" lines ('#' comments and blank lines
 * allowed) from path. Returns 0, or -1 with a one-line reason in why. */
int sign_key_file(const char *path, struct sign_key *k, char *why, size_t why_cap);

/* The signature of a target ("/resize?w=800&src=a.jpg"; a sig item in it
 * is ignored) into out (SIGN_LEN characters and a NUL). Returns 0, or -1
 * when the target has too many items to sort (or memory ran out). */
int sign_target(const struct sign_key *k, const char *target, char out[SIGN_LEN + 1]);

/* True when the target carries exactly one sig item equal to its
 * signature (compared in constant time). */
bool sign_valid(const struct sign_key *k, const char *target);

#endif
