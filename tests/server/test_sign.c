/*
 * test_sign.c - signed /resize URLs: the signature against one computed
 * by openssl (a known vector, not our own code checking itself), the
 * canonical form (order-independent, sig ignored), the verdicts, the key
 * file, the flags, and the server answering 403 before anything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_client.h"
#include "sign.h"

#define KEY_HEX  "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"
#define SALT_HEX "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"

static void test_key(struct sign_key *k)
{
    memset(k, 0, sizeof *k);
    k->key_len = (size_t)sign_hex(KEY_HEX, k->key);
    k->salt_len = (size_t)sign_hex(SALT_HEX, k->salt);
    assert_int_equal(k->key_len, 32);
    assert_int_equal(k->salt_len, 32);
}

/* HMAC-SHA256(key, salt || canonical) by openssl, as the README shows. */
static void openssl_sig(const char *canonical, char out[SIGN_LEN + 1])
{
    char cmd[1024], text[256];
    snprintf(cmd, sizeof cmd,
             "{ printf %%s %s | xxd -r -p; printf %%s '%s'; } | openssl dgst -sha256 -mac HMAC "
             "-macopt hexkey:%s -binary | basenc --base64url | tr -d '=\\n'",
             SALT_HEX, canonical, KEY_HEX);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_equal(run_program(argv, text, sizeof text, false), 0);
    assert_int_equal(strlen(text), SIGN_LEN);
    memcpy(out, text, SIGN_LEN + 1);
}

static void test_vector(void **state)
{
    (void)state;
    struct sign_key k;
    test_key(&k);
    char want[SIGN_LEN + 1], got[SIGN_LEN + 1];
    /* The canonical form: path, '?', the items sorted bytewise. */
    openssl_sig("/resize?fit=cover&h=600&src=photos/a%20b.jpg&w=800", want);
    const char *const same[] = {
        "/resize?w=800&h=600&fit=cover&src=photos/a%20b.jpg",
        "/resize?src=photos/a%20b.jpg&fit=cover&w=800&h=600",
        "/resize?sig=whatever&w=800&h=600&&fit=cover&src=photos/a%20b.jpg&",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(sign_target(&k, same[i], got), 0);
        assert_string_equal(got, want);
    }
    /* No parameters at all: the path and '?'. */
    openssl_sig("/resize?", want);
    assert_int_equal(sign_target(&k, "/resize", got), 0);
    assert_string_equal(got, want);
    /* Encoding is not normalised: a different spelling is a different URL. */
    openssl_sig("/resize?src=photos/a b.jpg", want);
    assert_int_equal(sign_target(&k, "/resize?src=photos/a%20b.jpg", got), 0);
    assert_string_not_equal(got, want);
}

static void signed_target(const struct sign_key *k, const char *target, char *out, size_t cap)
{
    char sig[SIGN_LEN + 1];
    assert_int_equal(sign_target(k, target, sig), 0);
    snprintf(out, cap, "%s&sig=%s", target, sig);
}

static void test_valid(void **state)
{
    (void)state;
    struct sign_key k;
    test_key(&k);
    char t[512], bad[600];
    signed_target(&k, "/resize?w=800&src=a.jpg", t, sizeof t);
    assert_true(sign_valid(&k, t));

    assert_false(sign_valid(&k, "/resize?w=800&src=a.jpg"));      /* missing */
    assert_false(sign_valid(&k, "/resize?w=800&src=a.jpg&sig=")); /* empty */
    snprintf(bad, sizeof bad, "%s", t);
    bad[strlen(bad) - 1] ^= 1; /* the last character flipped */
    assert_false(sign_valid(&k, bad));
    snprintf(bad, sizeof bad, "%sA", t); /* one too long */
    assert_false(sign_valid(&k, bad));
    snprintf(bad, sizeof bad, "%s", t);
    bad[strlen("/resize?w=80")] = '1'; /* w=801, the sig of w=800 */
    assert_false(sign_valid(&k, bad));
    snprintf(bad, sizeof bad, "%s&q=10", t); /* a parameter added */
    assert_false(sign_valid(&k, bad));
    snprintf(bad, sizeof bad, "%s&%s", t, strstr(t, "sig=")); /* two sigs */
    assert_false(sign_valid(&k, bad));

    /* A sig after a fragment mark is not in the query, even when it is the
     * signature of the query-less target. */
    char frag[128], sig[SIGN_LEN + 1];
    assert_int_equal(sign_target(&k, "/resize", sig), 0);
    snprintf(frag, sizeof frag, "/resize#?sig=%s", sig);
    assert_false(sign_valid(&k, frag));

    struct sign_key other;
    test_key(&other);
    other.salt[0] ^= 1; /* same key, another salt */
    assert_false(sign_valid(&other, t));
}

static void test_hex_and_file(void **state)
{
    (void)state;
    unsigned char buf[SIGN_SECRET_MAX];
    assert_int_equal(sign_hex("00ff7A", buf), 3);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(buf[2], 0x7a);
    assert_int_equal(sign_hex("", buf), -1);
    assert_int_equal(sign_hex("abc", buf), -1);
    assert_int_equal(sign_hex("zz", buf), -1);
    char big[2 * SIGN_SECRET_MAX + 3];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sign_hex(big, buf), -1);

    char path[] = "/tmp/rail-sign-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# rail-server signing secrets\n\nkey=" KEY_HEX "\n  salt=" SALT_HEX "\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    struct sign_key k = {0}, want;
    char why[256];
    assert_int_equal(sign_key_file(path, &k, why, sizeof why), 0);
    test_key(&want);
    assert_memory_equal(k.key, want.key, 32);
    assert_memory_equal(k.salt, want.salt, 32);

    FILE *f = fopen(path, "w");
    fputs("key=" KEY_HEX "\n", f); /* no salt */
    fclose(f);
    memset(&k, 0, sizeof k);
    assert_int_equal(sign_key_file(path, &k, why, sizeof why), -1);
    assert_non_null(strstr(why, "salt"));
    f = fopen(path, "w");
    fputs("key=" KEY_HEX "\nsalt=xyz\n", f);
    fclose(f);
    assert_int_equal(sign_key_file(path, &k, why, sizeof why), -1);
    assert_non_null(strstr(why, "line 2"));
    unlink(path);
    assert_int_equal(sign_key_file(path, &k, why, sizeof why), -1);
}

static void test_cli(void **state)
{
    (void)state;
    char out[1024], want[SIGN_LEN + 1];
    const char *sign[] = {"--sign-key", KEY_HEX,           "--sign-salt", SALT_HEX,
                          "--sign",     "w=800&src=a.jpg", NULL};
    assert_int_equal(run_server_cli(sign, out, sizeof out), 0);
    openssl_sig("/resize?src=a.jpg&w=800", want);
    char line[256];
    snprintf(line, sizeof line, "w=800&src=a.jpg&sig=%s\n", want);
    assert_string_equal(out, line);

    /* A whole target works too. */
    const char *whole[] = {
        "--sign-key", KEY_HEX, "--sign-salt", SALT_HEX, "--sign", "/resize?src=a.jpg&w=800", NULL};
    assert_int_equal(run_server_cli(whole, out, sizeof out), 0);
    snprintf(line, sizeof line, "/resize?src=a.jpg&w=800&sig=%s\n", want);
    assert_string_equal(out, line);

    const char *const bad[][8] = {
        {"--sign", "w=1", NULL},
        {"--sign-key", KEY_HEX, NULL},
        {"--sign-salt", SALT_HEX, "--sign", "w=1", NULL},
        {"--sign-key", "xyz", "--sign-salt", SALT_HEX, NULL},
        {"--sign-key-file", "/nonexistent/rail.key", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int status = run_server_cli(bad[i], out, sizeof out);
        if (status != 2)
            fail_msg("case %zu: exit %d, want 2 (%s)", i, status, out);
        assert_non_null(strstr(out, "sign"));
        assert_null(strstr(out, KEY_HEX)); /* never echo a secret */
    }
}

static int get(int port, const char *method, const char *target, struct reply *r)
{
    char raw[1024];
    snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", method,
             target);
    return http_request(port, raw, r);
}

static void expect_forbidden(int port, const char *method, const char *target)
{
    struct reply r;
    int status = get(port, method, target, &r);
    if (status != 403)
        fail_msg("%s %s: %d, want 403", method, target, status);
    /* One line naming the problem (HEAD: the head alone). */
    if (strcmp(method, "HEAD") != 0) {
        assert_non_null(strstr(r.body, "sig"));
        assert_ptr_equal(strchr(r.body, '\n'), r.body + r.body_len - 1);
    }
    reply_free(&r);
}

/* A 2x2 RGB PNG, for a /resize that gets past the check. */
static const unsigned char png_2x2[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02"
    "\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x12\x49\x44\x41\x54"
    "\x78\x9c\x63\xf8\xcf\xc0\xc0\x00\xc2\x0c\xff\x41\x00\x00\x26\xe8\x06\xfa\x12\x40\x5f"
    "\xcc\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

static void put_image(const struct server_proc *s)
{
    char path[256];
    snprintf(path, sizeof path, "%s/img.png", s->root);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(png_2x2, 1, sizeof png_2x2 - 1, f), sizeof png_2x2 - 1);
    fclose(f);
}

static void expect_image(int port, const char *target)
{
    struct reply r;
    int status = get(port, "GET", target, &r);
    char type[64];
    if (status != 200 || !reply_header(&r, "Content-Type", type, sizeof type) ||
        strcmp(type, "image/png") != 0)
        fail_msg("%s: %d %.80s, want 200 image/png", target, status, r.body ? r.body : "");
    reply_free(&r);
}

static void test_server(void **state)
{
    (void)state;
    struct server_proc s;
    const char *args[] = {"--sign-key", KEY_HEX, "--sign-salt", SALT_HEX, NULL};
    server_start(&s, args);
    put_image(&s);
    struct sign_key k;
    test_key(&k);
    char t[512], tampered[512];
    signed_target(&k, "/resize?w=1&src=img.png", t, sizeof t);
    snprintf(tampered, sizeof tampered, "%s", t);
    tampered[strlen("/resize?w=")] = '2';

    expect_forbidden(s.port, "GET", "/resize?w=1&src=img.png");
    expect_forbidden(s.port, "HEAD", "/resize?w=1&src=img.png");
    expect_forbidden(s.port, "POST", "/resize?w=1");
    expect_forbidden(s.port, "DELETE", "/resize?w=1");
    expect_forbidden(s.port, "GET", tampered);
    expect_forbidden(s.port, "GET", "/resize");
    /* Other spellings of the path never reach the resize unsigned. */
    const char *const around[] = {"/resiz%65?w=1&src=img.png", "//resize?w=1&src=img.png",
                                  "/resize/?w=1&src=img.png", "/./resize?w=1&src=img.png",
                                  "http://t/resize?w=1&src=img.png"};
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++) {
        struct reply r;
        int status = get(s.port, "GET", around[i], &r);
        reply_free(&r);
        if (status == 200)
            fail_msg("%s: 200 without a signature", around[i]);
    }
    /* Signed: resized (sig itself is not a resize parameter). */
    expect_image(s.port, t);
    /* Other routes need no signature. */
    struct reply r;
    assert_int_equal(get(s.port, "GET", "/health", &r), 200);
    reply_free(&r);
    assert_int_equal(get(s.port, "GET", "/hello.html?sig=x", &r), 200);
    reply_free(&r);
    server_stop(&s);

    /* Without a key, nothing is refused for want of a signature, and a
     * sig is ignored: the same URLs work with signing on or off. */
    server_start(&s, NULL);
    put_image(&s);
    expect_image(s.port, "/resize?w=1&src=img.png");
    expect_image(s.port, t);
    expect_image(s.port, tampered);
    server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),       cmocka_unit_test(test_valid),
        cmocka_unit_test(test_hex_and_file), cmocka_unit_test(test_cli),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
