/* sign.c - signed URLs: see sign.h. The HMAC and the constant-time
 * comparison are Debian's libcrypto (OpenSSL): the GLib inside the npm
 * libvips does not export GHmac, and a second (Debian) GLib beside it in
 * one process would break both. */
#include "sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "path.h"

/* A query item: a slice of the target, not NUL-terminated. */
struct item {
    const char *p;
    size_t len;
};

/* Bounded by the request head limit anyway; a cap keeps the sort cheap. */
#define SIGN_ITEMS_MAX 64

int sign_hex(const char *hex, unsigned char out[SIGN_SECRET_MAX])
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n / 2 > SIGN_SECRET_MAX)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = path_hex_digit(hex[2 * i]), lo = path_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

static int file_line(char *line, struct sign_key *k)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *s = line + strspn(line, " \t");
    if (*s == '\0' || *s == '#')
        return 0;
    int n;
    if (strncmp(s, "key=", 4) == 0 && (n = sign_hex(s + 4, k->key)) > 0)
        k->key_len = (size_t)n;
    else if (strncmp(s, "salt=", 5) == 0 && (n = sign_hex(s + 5, k->salt)) > 0)
        k->salt_len = (size_t)n;
    else
        return -1;
    return 0;
}

int sign_key_file(const char *path, struct sign_key *k, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_cap, "cannot open %s", path);
        return -1;
    }
    char line[2 * SIGN_SECRET_MAX + 16];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (file_line(line, k) != 0) {
            snprintf(why, why_cap, "%s line %u: want key=HEX or salt=HEX", path, lineno);
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && (k->key_len == 0 || k->salt_len == 0)) {
        snprintf(why, why_cap, "%s: needs both key=HEX and salt=HEX", path);
        rc = -1;
    }
    return rc;
}

static bool is_sig(const struct item *it)
{
    return it->len >= 4 && memcmp(it->p, "sig=", 4) == 0;
}

/* Splits the query (after '?', up to '#' or the end) into items. Returns
 * the count, or -1 when there are more than cap. */
static int split_query(const char *query, struct item *items, int cap)
{
    int n = 0;
    const char *p = query;
    for (;;) {
        size_t len = strcspn(p, "&#");
        if (len > 0) {
            if (n == cap)
                return -1;
            items[n++] = (struct item){p, len};
        }
        if (p[len] != '&')
            return n;
        p += len + 1;
    }
}

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Unpadded URL-safe base64 of the 32-byte digest. */
static void base64url(const unsigned char digest[32], char out[SIGN_LEN + 1])
{
    unsigned char b64[45]; /* 4 * ceil(32 / 3) and the NUL */
    EVP_EncodeBlock(b64, digest, 32);
    for (size_t i = 0; i < SIGN_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[SIGN_LEN] = '\0';
}

static size_t append(unsigned char *msg, size_t n, const void *p, size_t len)
{
    memcpy(msg + n, p, len);
    return n + len;
}

int sign_target(const struct sign_key *k, const char *target, char out[SIGN_LEN + 1])
{
    size_t path_len = strcspn(target, "?#");
    struct item items[SIGN_ITEMS_MAX];
    int count =
        target[path_len] == '?' ? split_query(target + path_len + 1, items, SIGN_ITEMS_MAX) : 0;
    if (count < 0)
        return -1;
    qsort(items, (size_t)count, sizeof items[0], item_cmp);

    /* salt || path "?" items joined by "&": never longer than the salt,
     * the target and a '?'. */
    unsigned char *msg = malloc(k->salt_len + strlen(target) + 1);
    if (!msg)
        return -1;
    size_t n = append(msg, 0, k->salt, k->salt_len);
    n = append(msg, n, target, path_len);
    n = append(msg, n, "?", 1);
    bool first = true;
    for (int i = 0; i < count; i++) {
        if (is_sig(&items[i]))
            continue;
        if (!first)
            n = append(msg, n, "&", 1);
        n = append(msg, n, items[i].p, items[i].len);
        first = false;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    bool ok = HMAC(EVP_sha256(), k->key, (int)k->key_len, msg, n, digest, &digest_len) != NULL &&
              digest_len == 32;
    free(msg);
    if (!ok)
        return -1;
    base64url(digest, out);
    return 0;
}

bool sign_valid(const struct sign_key *k, const char *target)
{
    /* The query exactly as sign_target() sees it: a '?' after a '#' starts
     * none. More than SIGN_ITEMS_MAX items (a resize has a dozen at most)
     * find no sig: 403. */
    size_t path_len = strcspn(target, "?#");
    struct item items[SIGN_ITEMS_MAX];
    int n = target[path_len] == '?' ? split_query(target + path_len + 1, items, SIGN_ITEMS_MAX) : 0;
    const struct item *sig = NULL;
    for (int i = 0; i < n; i++) {
        if (!is_sig(&items[i]))
            continue;
        if (sig)
            return false; /* two: which one would the resize believe? */
        sig = &items[i];
    }
    char want[SIGN_LEN + 1];
    if (!sig || sig->len != 4 + SIGN_LEN || sign_target(k, target, want) != 0)
        return false;
    /* Every byte compared whatever the first difference, so the time
     * taken does not tell how much of a guess was right. */
    return CRYPTO_memcmp(sig->p + 4, want, SIGN_LEN) == 0;
}
