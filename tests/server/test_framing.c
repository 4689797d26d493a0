/*
 * test_framing.c - strict HTTP/1.1 framing, the cases a proxy in front of
 * rail-server could read differently (request smuggling). Each request is
 * sent over a raw socket in one write with a valid "GET /" pipelined behind
 * it. A rejected request must get exactly one answer, its error status, and
 * then the connection must close: the pipelined GET is never parsed, so it
 * is never answered. The accepted cases (absolute-form targets, chunk
 * extensions within the limit) must answer both requests on a connection
 * that stays open, which also shows the harness sees a second answer when
 * there is one.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http_client.h"

#define PIPELINED "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

static struct server_proc srv;

struct framing_case {
    const char *raw; /* sent with PIPELINED behind it */
    int status;      /* the first answer's status */
    bool accepted;   /* the pipelined GET is answered too */
    size_t ext_len;  /* > 0: raw is a format with %s for a chunk extension of this size */
};

static int setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(&srv);
    return 0;
}

/* The request bytes: raw (with its chunk extension filled in) + PIPELINED. */
static char *build(const struct framing_case *fc)
{
    size_t cap = strlen(fc->raw) + fc->ext_len + sizeof PIPELINED + 1;
    char *buf = malloc(cap);
    assert_non_null(buf);
    if (fc->ext_len) {
        char *ext = malloc(fc->ext_len + 1);
        assert_non_null(ext);
        memset(ext, 'x', fc->ext_len);
        ext[fc->ext_len] = '\0';
        snprintf(buf, cap, fc->raw, ext);
        free(ext);
    } else {
        snprintf(buf, cap, "%s", fc->raw);
    }
    strcat(buf, PIPELINED);
    return buf;
}

/* After the answers expected: no further byte, and the server closes. */
static void expect_closed_without_more(struct conn *c)
{
    if (c->len > 0)
        fail_msg("%zu more bytes after the answer: \"%.60s\"", c->len, c->buf);
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 4000) != 1)
        fail_msg("the connection stayed open after the answer");
    char byte[4096];
    ssize_t n = recv(c->fd, byte, sizeof byte, 0);
    if (n > 0)
        fail_msg("a second answer came back: \"%.60s\"", byte);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static void run_case(void **state)
{
    const struct framing_case *fc = *state;
    char *raw = build(fc);
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, raw);
    free(raw);
    struct reply r;
    if (conn_read_reply(&c, &r, false) != 0)
        fail_msg("no answer (want %d)", fc->status);
    int status = r.status;
    reply_free(&r);
    if (status != fc->status)
        fail_msg("status %d, want %d", status, fc->status);
    if (fc->accepted) {
        if (conn_read_reply(&c, &r, false) != 0)
            fail_msg("the pipelined GET was not answered");
        assert_int_equal(r.status, 200);
        reply_free(&r);
        /* still open: one more request on it is answered */
        conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(conn_read_reply(&c, &r, false), 0);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    expect_closed_without_more(&c);
    conn_close(&c);
}

#define CHUNKED_POST "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Each rule's case; the name says what is wrong with it. */
static const struct framing_case
    chunk_data_without_crlf = {CHUNKED_POST "5\r\nhelloXX0\r\n\r\n", 400, false, 0},
    chunk_data_bare_lf = {CHUNKED_POST "5\r\nhello\n0\r\n\r\n", 400, false, 0},
    obs_fold = {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", 400, false, 0},
    obs_fold_tab = {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\tc\r\n\r\n", 400, false, 0},
    obs_fold_blank = {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n \r\n\r\n", 400, false, 0},
    obs_fold_in_te = {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
                      "0\r\n\r\n",
                      400, false, 0},
    obs_fold_in_host = {"GET / HTTP/1.1\r\nHost:\r\n t\r\n\r\n", 400, false, 0},
    obs_fold_in_trailer = {CHUNKED_POST "5\r\nhello\r\n0\r\nT: 1\r\n 2\r\n\r\n", 400, false, 0},
    te_on_http10 = {"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                    false, 0},
    host_missing = {"GET / HTTP/1.1\r\n\r\n", 400, false, 0},
    host_repeated = {"GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", 400, false, 0},
    host_repeated_http10 = {"GET / HTTP/1.0\r\nHost: t\r\nHost: u\r\n"
                            "Connection: keep-alive\r\n\r\n",
                            400, false, 0},
    host_empty = {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, false, 0},
    host_with_slash = {"GET / HTTP/1.1\r\nHost: t/x\r\n\r\n", 400, false, 0},
    host_with_space = {"GET / HTTP/1.1\r\nHost: t x\r\n\r\n", 400, false, 0},
    space_before_colon = {"GET / HTTP/1.1\r\nHost: t\r\nX-A : b\r\n\r\n", 400, false, 0},
    tab_before_colon = {"GET / HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n", 400, false, 0},
    chunk_ext_over_limit = {CHUNKED_POST "5;a=%s\r\nhello\r\n0\r\n\r\n", 400, false, 4100},
    chunk_ext_on_last_over_limit = {CHUNKED_POST "5\r\nhello\r\n0;a=%s\r\n\r\n", 400, false, 4100},
    /* the same limit counts every extension of a chunk together */
    chunk_exts_over_limit = {CHUNKED_POST
                             "5;a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;%s\r\nhello\r\n0\r\n\r\n",
                             400, false, 4090},
    content_length_and_te = {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                             400, false, 0},
    content_length_differing = {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                                "Content-Length: 6\r\n\r\nhello!",
                                400, false, 0},
    content_length_repeated = {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                               "Content-Length: 5\r\n\r\nhello",
                               400, false, 0},
    te_repeated = {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   400, false, 0},
    bare_lf_after_request_line = {"GET / HTTP/1.1\nHost: t\r\n\r\n", 400, false, 0},
    bare_lf_after_header = {"GET / HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", 400, false, 0},
    bare_lf_everywhere = {"GET / HTTP/1.1\nHost: t\n\n", 400, false, 0},
    bare_cr_in_request_line = {"GET / HTTP/1.1\rHost: t\r\n\r\n", 400, false, 0},
    bare_cr_after_header = {"GET / HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n", 400, false, 0},
    bare_lf_in_trailer = {CHUNKED_POST "5\r\nhello\r\n0\r\nT: 1\n\r\n", 400, false, 0},
    bare_cr_in_value = {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\rc\r\n\r\n", 400, false, 0},
    /* accepted */
    absolute_form = {"GET http://t/hello.html HTTP/1.1\r\nHost: t\r\n\r\n", 200, true, 0},
    absolute_form_query = {"GET HTTP://t:80/sub/../hello.html?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200,
                           true, 0},
    absolute_form_root = {"GET http://t HTTP/1.1\r\nHost: t\r\n\r\n", 200, true, 0},
    chunk_exts_within_limit = {CHUNKED_POST
                               "5;a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;%s\r\nhello\r\n0\r\n\r\n",
                               200, true, 4000},
    chunk_ext_within_limit = {CHUNKED_POST "5;a=%s\r\nhello\r\n0\r\n\r\n", 200, true, 4000},
    chunk_exts_within_limit_each = {CHUNKED_POST
                                    "5;a=%s\r\nhello\r\n3;b=xxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                                    "abc\r\n0\r\n\r\n",
                                    200, true, 4000},
    host_ip_literal_and_port = {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, true, 0},
    trailer_accepted = {CHUNKED_POST "5\r\nhello\r\n0\r\nT: 1\r\nU: 2\r\n\r\n", 200, true, 0},
    host_on_http10_optional = {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, true, 0};

/* Sends a request in two writes with a pause between, so the server reads
 * them separately; the pipelined GET follows the second. */
static void send_split(struct conn *c, const char *first, const char *second)
{
    conn_open(c, srv.port);
    conn_sends(c, first);
    pause_ms(100);
    conn_sends(c, second);
    conn_sends(c, PIPELINED);
}

/* A CRLF cut between two reads is still a CRLF; a fold or a bare LF cut
 * from the line before it is still 400. */
static void test_line_ends_across_reads(void **state)
{
    (void)state;
    struct conn c;
    struct reply r;
    send_split(&c, "GET / HTTP/1.1\r", "\nHost: t\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    conn_close(&c);

    const char *bad[][2] = {
        {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n", " c\r\n\r\n"},
        {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n", "\tc\r\n\r\n"},
        {"GET / HTTP/1.1\r\nHost: t\r", "X-A: b\r\n\r\n"},
        {"GET / HTTP/1.1\r\nHost: t", "\nX-A: b\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        send_split(&c, bad[i][0], bad[i][1]);
        if (conn_read_reply(&c, &r, false) != 0)
            fail_msg("split case %zu: no answer", i);
        if (r.status != 400)
            fail_msg("split case %zu: status %d, want 400", i, r.status);
        reply_free(&r);
        expect_closed_without_more(&c);
        conn_close(&c);
    }
}

/* Also, the absolute-form answer is hello.html, not the index. */
static void test_absolute_form_routes_its_path(void **state)
{
    (void)state;
    struct reply a, b;
    assert_int_equal(
        http_request(srv.port, "GET http://t/hello.html HTTP/1.1\r\nHost: t\r\n\r\n", &a), 200);
    assert_int_equal(http_request(srv.port, "GET /hello.html HTTP/1.1\r\nHost: t\r\n\r\n", &b),
                     200);
    assert_int_equal(a.body_len, b.body_len);
    assert_memory_equal(a.body, b.body, a.body_len);
    reply_free(&a);
    reply_free(&b);
    /* a path that climbs out of the root; credentials (RFC 9110 §4.2.4) */
    assert_int_equal(http_request(srv.port, "GET http://t/../x HTTP/1.1\r\nHost: t\r\n\r\n", &a),
                     400);
    reply_free(&a);
    assert_int_equal(
        http_request(srv.port, "GET http://u:p@t/hello.html HTTP/1.1\r\nHost: t\r\n\r\n", &a), 400);
    reply_free(&a);
    assert_int_equal(http_request(srv.port, "GET http://t/health HTTP/1.1\r\nHost: t\r\n\r\n", &a),
                     200);
    reply_free(&a);
}

#define CASE(c)                                                                                    \
    {                                                                                              \
#c, run_case, NULL, NULL, (void *)&c                                                       \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(chunk_data_without_crlf),
        CASE(chunk_data_bare_lf),
        CASE(obs_fold),
        CASE(obs_fold_tab),
        CASE(obs_fold_blank),
        CASE(obs_fold_in_te),
        CASE(obs_fold_in_host),
        CASE(obs_fold_in_trailer),
        CASE(te_on_http10),
        CASE(host_missing),
        CASE(host_repeated),
        CASE(host_repeated_http10),
        CASE(host_empty),
        CASE(host_with_slash),
        CASE(host_with_space),
        CASE(space_before_colon),
        CASE(tab_before_colon),
        CASE(chunk_ext_over_limit),
        CASE(chunk_ext_on_last_over_limit),
        CASE(chunk_exts_over_limit),
        CASE(content_length_and_te),
        CASE(content_length_differing),
        CASE(content_length_repeated),
        CASE(te_repeated),
        CASE(bare_lf_after_request_line),
        CASE(bare_lf_after_header),
        CASE(bare_lf_everywhere),
        CASE(bare_cr_in_request_line),
        CASE(bare_cr_after_header),
        CASE(bare_lf_in_trailer),
        CASE(bare_cr_in_value),
        CASE(absolute_form),
        CASE(absolute_form_query),
        CASE(absolute_form_root),
        CASE(chunk_ext_within_limit),
        CASE(chunk_exts_within_limit),
        CASE(chunk_exts_within_limit_each),
        CASE(host_ip_literal_and_port),
        CASE(trailer_accepted),
        CASE(host_on_http10_optional),
        cmocka_unit_test(test_line_ends_across_reads),
        cmocka_unit_test(test_absolute_form_routes_its_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
