/*
 * test_http.c - rail-server's HTTP/1.1 behaviour over raw sockets and curl:
 * keep-alive, pipelining, Connection: close, bodies (Content-Length and
 * chunked), Expect: 100-continue, and every limit: 413, 414, 431, 400, 501,
 * 505, the header and idle timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http_client.h"

static struct server_proc srv;

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--max-body", "65536", "--header-timeout", "400", "--idle-timeout",
                          "400",        NULL};
    server_start(&srv, args);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(&srv);
    return 0;
}

static void expect_reply(struct conn *c, int status, bool head)
{
    struct reply r;
    if (conn_read_reply(c, &r, head) != 0)
        fail_msg("no reply where %d was expected", status);
    assert_int_equal(r.status, status);
    reply_free(&r);
}

static void test_keep_alive_and_close(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, srv.port);
    for (int i = 0; i < 3; i++) {
        conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        expect_reply(&c, 200, false);
    }
    struct reply r;
    char v[32];
    conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_string_equal(reply_header(&r, "connection", v, sizeof v), "close");
    reply_free(&r);
    assert_true(conn_closed_by_peer(&c, 2000));
    conn_close(&c);

    /* HTTP/1.0: keep-alive only when asked for, and then said so. */
    conn_open(&c, srv.port);
    conn_sends(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_string_equal(reply_header(&r, "connection", v, sizeof v), "keep-alive");
    reply_free(&r);
    conn_sends(&c, "GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_string_equal(reply_header(&r, "connection", v, sizeof v), "close");
    reply_free(&r);
    assert_true(conn_closed_by_peer(&c, 2000));
    conn_close(&c);
}

static void test_curl_reuses_the_connection(void **state)
{
    (void)state;
    char url[64], out[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv.port);
    const char *args[] = {"-w",        "%{http_code} %{num_connects}\n",
                          "-o",        "/dev/null",
                          url,         "-o",
                          "/dev/null", url,
                          "-o",        "/dev/null",
                          url,         NULL};
    assert_int_equal(run_curl(args, out, sizeof out), 0);
    assert_string_equal(out, "200 1\n200 0\n200 0\n");
}

static void test_pipelined_answers_in_order(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, srv.port);
    /* One write with four requests, a body among them. */
    conn_sends(&c, "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
                   "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                   "HEAD /sub/digits.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    struct reply r;
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "body { color: black; }\n");
    reply_free(&r);
    expect_reply(&c, 404, false);
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    reply_free(&r);
    char v[32];
    assert_int_equal(conn_read_reply(&c, &r, true), 0);
    assert_string_equal(reply_header(&r, "content-length", v, sizeof v), "10");
    reply_free(&r);
    /* and the connection is still good */
    conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_reply(&c, 200, false);
    conn_close(&c);
}

/* A client that half-closes after its requests still gets every answer,
 * then the server closes. */
static void test_half_close_still_answered(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c,
               "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    struct reply r;
    char v[32];
    expect_reply(&c, 200, false);
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(reply_header(&r, "connection", v, sizeof v), "close");
    reply_free(&r);
    assert_true(conn_closed_by_peer(&c, 4000));
    conn_close(&c);
}

static void test_bodies(void **state)
{
    (void)state;
    struct conn c;
    struct reply r;
    conn_open(&c, srv.port);
    /* chunked, split across writes, with an extension and a trailer */
    conn_sends(&c,
               "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhel");
    pause_ms(20);
    conn_sends(&c, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    reply_free(&r);
    /* an empty body */
    conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
    conn_close(&c);

    /* exactly the limit passes; one byte more is 413 */
    size_t max = 65536;
    char *big = malloc(max + 1);
    for (size_t i = 0; i <= max; i++)
        big[i] = (char)('a' + i % 26);
    char head[128];
    conn_open(&c, srv.port);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             max);
    conn_sends(&c, head);
    conn_send(&c, big, max);
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, max);
    assert_memory_equal(r.body, big, max);
    reply_free(&r);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             max + 1);
    conn_sends(&c, head);
    expect_reply(&c, 413, false);
    assert_true(conn_closed_by_peer(&c, 4000));
    conn_close(&c);

    /* chunked past the limit */
    conn_open(&c, srv.port);
    conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        snprintf(head, sizeof head, "%zx\r\n", max / 2);
        conn_sends(&c, head);
        conn_send(&c, big, max / 2);
        conn_sends(&c, "\r\n");
    }
    conn_sends(&c, "0\r\n\r\n");
    expect_reply(&c, 413, false);
    conn_close(&c);
    free(big);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct conn c;
    struct reply r;
    conn_open(&c, srv.port);
    conn_sends(
        &c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(conn_read_head(&c, &r), 0);
    assert_int_equal(r.status, 100);
    conn_sends(&c, "ping");
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ping");
    reply_free(&r);
    /* too large: 413 instead of 100, the body never sent */
    conn_sends(
        &c,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n");
    expect_reply(&c, 413, false);
    conn_close(&c);

    /* curl waits for the 100 before it sends */
    char url[64], out[256], path[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", srv.port);
    snprintf(path, sizeof path, "@%s/sub/digits.txt", srv.root);
    const char *args[] = {"-H", "Expect: 100-continue", "--data-binary", path, url, NULL};
    assert_int_equal(run_curl(args, out, sizeof out), 0);
    assert_string_equal(out, "0123456789");
}

static void test_limits(void **state)
{
    (void)state;
    struct reply r;
    /* 100 KB of headers: 431, and the answer is readable (no reset) */
    size_t n = 100 * 1024;
    char *req = malloc(n + 128);
    int len = snprintf(req, 128, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + len, 'x', n);
    strcpy(req + len + n, "\r\n\r\n");
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, req);
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 431);
    reply_free(&r);
    assert_true(conn_closed_by_peer(&c, 4000));
    conn_close(&c);

    /* many small headers past 8 KiB are 431 too */
    len = snprintf(req, n, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 700; i++)
        len += snprintf(req + len, n - (size_t)len, "X-%d: y\r\n", i);
    strcpy(req + len, "\r\n");
    assert_int_equal(http_request(srv.port, req, &r), 431);
    reply_free(&r);

    /* a long URI alone is 414 */
    len = snprintf(req, n, "GET /");
    memset(req + len, 'a', 9000);
    strcpy(req + len + 9000, " HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(http_request(srv.port, req, &r), 414);
    reply_free(&r);
    free(req);

    const struct {
        const char *raw;
        int status;
    } bad[] = {
        {"HELLO\r\n\r\n", 400},
        {"GET\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400}, /* a TLS hello */
        {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"POST /echo HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        conn_open(&c, srv.port);
        conn_sends(&c, bad[i].raw);
        if (conn_read_reply(&c, &r, false) != 0)
            fail_msg("no answer to bad request %zu", i);
        if (r.status != bad[i].status)
            fail_msg("bad request %zu: %d, want %d", i, r.status, bad[i].status);
        reply_free(&r);
        assert_true(conn_closed_by_peer(&c, 4000));
        conn_close(&c);
    }
}

static void test_header_timeout(void **state)
{
    (void)state;
    struct conn c;
    struct reply r;
    conn_open(&c, srv.port);
    double start = now_ms();
    /* A byte every 50 ms does not extend the 400 ms header timeout. */
    const char *drip = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: abcdefghijklmnopqrstuvwxyz";
    for (const char *p = drip; *p && now_ms() - start < 300; p++) {
        conn_send(&c, p, 1);
        pause_ms(50);
    }
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    assert_int_equal(r.status, 408);
    reply_free(&r);
    assert_true(now_ms() - start >= 300);
    assert_true(conn_closed_by_peer(&c, 4000));
    conn_close(&c);
}

static void test_idle_timeout_closes(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_reply(&c, 200, false);
    double start = now_ms();
    assert_true(conn_closed_by_peer(&c, 5000));
    assert_true(now_ms() - start >= 300);
    conn_close(&c);
    /* and a connection that never sends anything */
    conn_open(&c, srv.port);
    assert_true(conn_closed_by_peer(&c, 5000));
    conn_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_and_close),
        cmocka_unit_test(test_curl_reuses_the_connection),
        cmocka_unit_test(test_pipelined_answers_in_order),
        cmocka_unit_test(test_half_close_still_answered),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_idle_timeout_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
