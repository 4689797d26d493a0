/*
 * test_routes.c - rail-server's routes and static files, against the real
 * binary on a loopback port: /, HEAD, 404, 405, /health, /metrics,
 * validators and 304, ranges, Content-Type, path traversal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_client.h"

static struct server_proc srv;

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

static char *root_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", srv.root, name);
    char *text = read_file(path, NULL);
    assert_non_null(text);
    return text;
}

static void test_root_serves_hello(void **state)
{
    (void)state;
    struct reply r;
    char v[128];
    assert_int_equal(http_request(srv.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    char *hello = root_file("hello.html");
    assert_string_equal(r.body, hello);
    assert_string_equal(reply_header(&r, "content-type", v, sizeof v), "text/html; charset=utf-8");
    assert_int_equal(atoi(reply_header(&r, "content-length", v, sizeof v)), (int)strlen(hello));
    assert_non_null(reply_header(&r, "date", v, sizeof v));
    assert_non_null(strstr(reply_header(&r, "server", v, sizeof v), "rail-server"));
    reply_free(&r);

    /* HEAD: the same headers, no body. */
    assert_int_equal(http_request(srv.port, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    assert_int_equal(atoi(reply_header(&r, "content-length", v, sizeof v)), (int)strlen(hello));
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
    free(hello);
}

static void test_missing_is_404_page(void **state)
{
    (void)state;
    struct reply r;
    assert_int_equal(http_request(srv.port, "GET /no/such/thing HTTP/1.1\r\nHost: t\r\n\r\n", &r),
                     404);
    char *page = root_file("404.html");
    assert_string_equal(r.body, page);
    free(page);
    reply_free(&r);
}

static void test_other_methods_are_405(void **state)
{
    (void)state;
    const char *requests[] = {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
                              "DELETE /hello.html HTTP/1.1\r\nHost: t\r\n\r\n",
                              "PUT /sleep HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"};
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        struct reply r;
        char v[64];
        assert_int_equal(http_request(srv.port, requests[i], &r), 405);
        assert_string_equal(reply_header(&r, "allow", v, sizeof v), "GET, HEAD");
        reply_free(&r);
    }
    struct reply r;
    char v[64];
    assert_int_equal(http_request(srv.port, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
    assert_string_equal(reply_header(&r, "allow", v, sizeof v), "POST");
    reply_free(&r);
}

static void test_health_and_metrics(void **state)
{
    (void)state;
    struct reply r;
    char v[128];
    assert_int_equal(http_request(srv.port, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    assert_string_equal(reply_header(&r, "content-type", v, sizeof v), "application/json");
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    assert_non_null(strstr(r.body, "\"threads\":"));
    assert_non_null(strstr(r.body, "\"queued\":"));
    reply_free(&r);

    /* A 404 first, so the counter by status has two codes to show. */
    assert_int_equal(http_request(srv.port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
    reply_free(&r);
    assert_int_equal(http_request(srv.port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    assert_non_null(
        strstr(reply_header(&r, "content-type", v, sizeof v), "text/plain; version=0.0.4"));
    const char *expected[] = {"# TYPE rail_http_requests_total counter",
                              "rail_http_requests_total{code=\"404\"} ",
                              "rail_http_requests_total{code=\"200\"} ",
                              "# TYPE rail_http_request_duration_seconds histogram",
                              "rail_http_request_duration_seconds_bucket{le=\"+Inf\"} ",
                              "rail_http_request_duration_seconds_count ",
                              "rail_http_connections_open ",
                              "rail_pool_queued ",
                              "rail_pool_busy 0\n", /* /metrics is answered on an I/O loop */
                              "rail_pool_completed_total ",
                              "rail_pool_rejected_total 0\n"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!strstr(r.body, expected[i]))
            fail_msg("/metrics lacks '%s':\n%s", expected[i], r.body);
    /* This connection, and perhaps the 404's, which another I/O loop may
     * not have seen closed yet. */
    unsigned long open = strtoul(strstr(r.body, "\nrail_http_connections_open ") + 28, NULL, 10);
    if (open < 1 || open > 2)
        fail_msg("rail_http_connections_open %lu", open);
    reply_free(&r);
}

static void test_validators_and_304(void **state)
{
    (void)state;
    struct reply r;
    char etag[64], modified[64], req[512], v[64];
    assert_int_equal(http_request(srv.port, "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    assert_string_equal(reply_header(&r, "content-type", v, sizeof v), "text/css; charset=utf-8");
    assert_non_null(reply_header(&r, "etag", etag, sizeof etag));
    assert_non_null(reply_header(&r, "last-modified", modified, sizeof modified));
    reply_free(&r);

    snprintf(req, sizeof req,
             "GET /style.css HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\", %s\r\n\r\n", etag);
    assert_int_equal(http_request(srv.port, req, &r), 304);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(reply_header(&r, "etag", v, sizeof v), etag);
    reply_free(&r);

    snprintf(req, sizeof req, "GET /style.css HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n",
             modified);
    assert_int_equal(http_request(srv.port, req, &r), 304);
    reply_free(&r);

    /* An old date, or a different tag: the full file. */
    assert_int_equal(http_request(srv.port,
                                  "GET /style.css HTTP/1.1\r\nHost: t\r\n"
                                  "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
                                  &r),
                     200);
    reply_free(&r);
    assert_int_equal(
        http_request(srv.port,
                     "GET /style.css HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n", &r),
        200);
    reply_free(&r);
}

static void test_ranges(void **state)
{
    (void)state;
    struct reply r;
    char v[64];
    assert_int_equal(
        http_request(srv.port,
                     "GET /sub/digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n", &r),
        206);
    assert_string_equal(r.body, "2345");
    assert_string_equal(reply_header(&r, "content-range", v, sizeof v), "bytes 2-5/10");
    reply_free(&r);

    assert_int_equal(
        http_request(srv.port, "GET /sub/digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n",
                     &r),
        206);
    assert_string_equal(r.body, "789");
    reply_free(&r);

    assert_int_equal(
        http_request(srv.port, "GET /sub/digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=7-\r\n\r\n",
                     &r),
        206);
    assert_string_equal(r.body, "789");
    reply_free(&r);

    assert_int_equal(
        http_request(srv.port,
                     "GET /sub/digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=10-\r\n\r\n", &r),
        416);
    assert_string_equal(reply_header(&r, "content-range", v, sizeof v), "bytes */10");
    reply_free(&r);

    /* Several ranges: allowed to answer with the whole file. */
    assert_int_equal(
        http_request(srv.port,
                     "GET /sub/digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n", &r),
        200);
    assert_string_equal(r.body, "0123456789");
    reply_free(&r);
}

static void test_path_traversal_stays_inside(void **state)
{
    (void)state;
    const char *targets[] = {
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/hello.html%00.txt",
        "/%00",
        "/sub/../../secret.txt",
        "/escape.txt",
        "//etc/passwd",
        "/sub/./../..//secret.txt",
        "/%",
        "/%zz",
        "/.%2e/secret.txt",
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", targets[i]);
        struct reply r;
        int status = http_request(srv.port, req, &r);
        if (status != 400 && status != 404)
            fail_msg("GET %s -> %d", targets[i], status);
        assert_null(strstr(r.body ? r.body : "", "SECRET"));
        assert_null(strstr(r.body ? r.body : "", "root:"));
        reply_free(&r);
    }
    /* Inside the root, dot segments are fine. */
    struct reply r;
    assert_int_equal(
        http_request(srv.port, "GET /sub/../sub/./digits.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r),
        200);
    assert_string_equal(r.body, "0123456789");
    reply_free(&r);
}

static void test_access_log_lines(void **state)
{
    (void)state;
    struct reply r;
    assert_int_equal(
        http_request(srv.port,
                     "GET /style.css?q=\"x HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\n"
                     "User-Agent: test-agent/1\r\n\r\n",
                     &r),
        200);
    reply_free(&r);
    /* The log is written by its own thread: wait for the line, bounded. */
    double end = now_ms() + 5000;
    char *log = NULL;
    const char *want = "\"GET /style.css?q=\\x22x HTTP/1.1\" 200 23 \"http://r/\" \"test-agent/1\"";
    while (now_ms() < end) {
        free(log);
        log = read_file(srv.log_path, NULL);
        if (log && strstr(log, want))
            break;
    }
    if (!log || !strstr(log, want))
        fail_msg("no line with '%s' in:\n%s", want, log ? log : "(no log)");
    assert_non_null(strstr(log, "127.0.0.1 - - ["));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_serves_hello),
        cmocka_unit_test(test_missing_is_404_page),
        cmocka_unit_test(test_other_methods_are_405),
        cmocka_unit_test(test_health_and_metrics),
        cmocka_unit_test(test_validators_and_304),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_path_traversal_stays_inside),
        cmocka_unit_test(test_access_log_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
