/*
 * test_drain.c - slow work that cannot finish is refused, not stranded
 * (issue 8, item 6). Two workers, /sleep holding one for 1 s, and a 3 s
 * shutdown timeout: more /sleep requests than can finish in time are sent,
 * then SIGTERM. Every request gets an answer, 200 or 503 with Retry-After,
 * none is left unanswered, the server exits 0, and a /sleep sent after the
 * signal on a connection still open is refused with 503 at once.
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

#define SLEEPERS    12
#define SLEEP_MS    1000
#define SHUTDOWN_MS 3000

static const char sleep_req[] = "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n";

/* 200, or 503 with Retry-After; anything else, or nothing, is a failure.
 * Returns the status (-1 for no answer). */
static int answered(struct conn *c, const char *who)
{
    struct reply r;
    char v[16];
    if (conn_read_reply(c, &r, false) != 0) {
        reply_free(&r);
        return -1;
    }
    int status = r.status;
    if (status == 503 && !reply_header(&r, "retry-after", v, sizeof v))
        fail_msg("%s: 503 without Retry-After", who);
    if (status != 200 && status != 503)
        fail_msg("%s: status %d, want 200 or 503", who, status);
    reply_free(&r);
    return status;
}

static void test_slow_lane_drains(void **state)
{
    (void)state;
    struct server_proc srv;
    const char *args[] = {
        "--threads",      "2",     "--sleep-ms", "1000", "--shutdown-timeout", "3000",
        "--idle-timeout", "60000", NULL};
    server_start(&srv, args);

    /* `first` is running a /sleep when the signal comes, so it is still
     * open afterwards; the others queue up behind it. */
    static struct conn first, s[SLEEPERS];
    conn_open(&first, srv.port);
    conn_sends(&first, sleep_req);
    pause_ms(100);
    for (int i = 0; i < SLEEPERS; i++) {
        conn_open(&s[i], srv.port);
        conn_sends(&s[i], sleep_req);
    }
    pause_ms(200); /* all received */
    assert_int_equal(kill(srv.pid, SIGTERM), 0);
    pause_ms(50);
    conn_sends(&first, sleep_req); /* new slow work after the signal */

    int status = answered(&first, "the /sleep running at the signal");
    if (status != 200)
        fail_msg("the /sleep running at the signal: %d, want 200", status);
    double at = now_ms();
    status = answered(&first, "a /sleep sent after the signal");
    double took = now_ms() - at;
    print_message("a /sleep sent after the signal: %d, %.0f ms after the answer before it\n",
                  status, took);
    int counts[2] = {0, 0}, unanswered = 0;
    for (int i = 0; i < SLEEPERS; i++) {
        int st = answered(&s[i], "a /sleep received before the signal");
        if (st < 0)
            unanswered++;
        else
            counts[st == 503]++;
        conn_close(&s[i]);
    }
    conn_close(&first);
    int exit_status = server_wait(&srv, SHUTDOWN_MS + 5000 * time_scale());
    server_stop(&srv);
    print_message("before the signal: %d answered 200, %d answered 503, %d unanswered; exit %d\n",
                  counts[0], counts[1], unanswered, exit_status);

    if (status != 503)
        fail_msg("a /sleep sent after the signal: %d, want 503 at once", status);
    /* At once: not after a sleep of its own (1000 ms). */
    if (took > SLEEP_MS * 0.7)
        fail_msg("the 503 came %.0f ms after the answer before it", took);
    if (unanswered)
        fail_msg("%d of %d /sleep requests received before the signal were never answered",
                 unanswered, SLEEPERS);
    assert_int_equal(exit_status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_lane_drains),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    server_cleanup_all(); /* whatever a failed test left running */
    return failed;
}
