/*
 * test_lifecycle.c - rail-server's start and stop: flags (--help,
 * --version, invalid ones exit 2), a bad root, and the graceful drain on
 * SIGTERM/SIGINT: no request received before the signal goes unanswered,
 * new connections are refused, idle ones closed; the shutdown timeout and
 * a second signal end it at once with a non-zero status.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_client.h"

static void test_flags(void **state)
{
    (void)state;
    char out[4096];
    const char *help[] = {"--help", NULL};
    assert_int_equal(run_server_cli(help, out, sizeof out), 0);
    assert_non_null(strstr(out, "--listen ADDR:PORT"));
    assert_non_null(strstr(out, "--max-connections"));
    const char *version[] = {"--version", NULL};
    assert_int_equal(run_server_cli(version, out, sizeof out), 0);
    assert_non_null(strstr(out, "rail-server 0."));

    const char *const bad[][4] = {
        {"--bogus", NULL},
        {"--threads", "0", NULL},
        {"--threads", "lots", NULL},
        {"--queue", "-1", NULL},
        {"--listen", "127.0.0.1", NULL},
        {"--listen", "127.0.0.1:70000", NULL},
        {"--listen", ":80", NULL},
        {"--max-body", "12x", NULL},
        {"--idle-timeout", NULL},
        {"extra-argument", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int status = run_server_cli(bad[i], out, sizeof out);
        if (status != 2)
            fail_msg("%s: exit %d, want 2", bad[i][0], status);
        /* one line, naming the problem */
        assert_non_null(strstr(out, "rail-server: "));
        assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    }
    const char *no_root[] = {"--listen", "127.0.0.1:0", "--root", "/nonexistent/rail", NULL};
    assert_int_equal(run_server_cli(no_root, out, sizeof out), 1);
    assert_non_null(strstr(out, "/nonexistent/rail"));
    const char *bad_addr[] = {"--listen", "300.1.1.1:0", "--root", "/tmp", NULL};
    assert_int_equal(run_server_cli(bad_addr, out, sizeof out), 1);
    assert_non_null(strstr(out, "cannot listen"));
}

/* In flight at the signal: a /sleep, and pipelined behind it a / that has
 * been received but not parsed. Both are answered, the last with
 * Connection: close; an idle connection is closed; new ones are refused;
 * the exit status is 0. */
static void test_sigterm_drains(void **state)
{
    (void)state;
    struct server_proc srv;
    const char *args[] = {"--sleep-ms", "800", NULL};
    server_start(&srv, args);
    struct conn busy, idle, fresh;
    conn_open(&idle, srv.port);
    conn_sends(&idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    struct reply r;
    assert_int_equal(conn_read_reply(&idle, &r, false), 0);
    reply_free(&r);
    conn_open(&busy, srv.port);
    conn_sends(&busy, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    pause_ms(200);
    assert_int_equal(kill(srv.pid, SIGTERM), 0);

    assert_true(conn_closed_by_peer(&idle, 3000));
    conn_close(&idle);
    pause_ms(100);
    if (conn_try_open(&fresh, srv.port) == 0) {
        /* the listener is closed: a connect may still complete in a stale
         * backlog on some kernels, but is never served */
        assert_true(conn_closed_by_peer(&fresh, 3000));
        conn_close(&fresh);
    }

    char v[32];
    assert_int_equal(conn_read_reply(&busy, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_null(reply_header(&r, "connection", v, sizeof v));
    reply_free(&r);
    assert_int_equal(conn_read_reply(&busy, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(reply_header(&r, "connection", v, sizeof v), "close");
    reply_free(&r);
    assert_true(conn_closed_by_peer(&busy, 3000));
    conn_close(&busy);
    assert_int_equal(server_wait(&srv, 10000), 0);
    server_stop(&srv);
}

/* SIGINT drains like SIGTERM. */
static void test_sigint_drains(void **state)
{
    (void)state;
    struct server_proc srv;
    server_start(&srv, NULL);
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    struct reply r;
    assert_int_equal(conn_read_reply(&c, &r, false), 0);
    reply_free(&r);
    conn_close(&c);
    assert_int_equal(server_signal_and_wait(&srv, SIGINT, 10000), 0);
    server_stop(&srv);
}

static void test_shutdown_timeout(void **state)
{
    (void)state;
    struct server_proc srv;
    const char *args[] = {"--sleep-ms", "10000", "--shutdown-timeout", "300", NULL};
    server_start(&srv, args);
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n");
    pause_ms(100);
    double start = now_ms();
    int status = server_signal_and_wait(&srv, SIGTERM, 5000);
    assert_int_not_equal(status, 0);
    assert_true(now_ms() - start < 3000);
    conn_close(&c);
    server_stop(&srv);
}

static void test_second_signal_exits_at_once(void **state)
{
    (void)state;
    struct server_proc srv;
    const char *args[] = {"--sleep-ms", "10000", NULL};
    server_start(&srv, args);
    struct conn c;
    conn_open(&c, srv.port);
    conn_sends(&c, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n");
    pause_ms(100);
    assert_int_equal(kill(srv.pid, SIGTERM), 0);
    pause_ms(100);
    double start = now_ms();
    int status = server_signal_and_wait(&srv, SIGINT, 5000);
    assert_int_not_equal(status, 0);
    assert_true(now_ms() - start < 2000);
    conn_close(&c);
    server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_sigint_drains),
        cmocka_unit_test(test_shutdown_timeout),
        cmocka_unit_test(test_second_signal_exits_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
