/*
 * test_faults.c - rail-server out of file descriptors (issue 8, item 3).
 * The server runs with RLIMIT_NOFILE lowered to 64; clients hold
 * connections until it has none left. Then an existing file is never
 * answered 404 (which a cache would keep): 503 with Retry-After or 500 are
 * the truthful answers, or the file itself if the server found a
 * descriptor for it. /health says 503 "degraded" on a connection
 * opened before, the server does not spin on the connections it cannot
 * accept, and once the clients go everything is 200 again.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "http_client.h"

#define NOFILE 64
#define KEPT   6   /* keep-alive connections opened before the exhaustion */
#define HOGS   100 /* more than the server can hold: some wait in the backlog */
#define ROUNDS 4   /* exhaustions in a row: see test_descriptor_exhaustion */

struct problems {
    char text[4096];
    size_t len;
};

/* Records a failed expectation; every one is reported at the end, after
 * the server is stopped, so one run shows all that is wrong. */
static void problem(struct problems *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
    va_end(ap);
    if (n > 0 && p->len + (size_t)n + 2 < sizeof p->text) {
        p->len += (size_t)n;
        p->text[p->len++] = ';';
        p->text[p->len++] = ' ';
        p->text[p->len] = '\0';
    }
}

/* Answers here are immediate or never: wait 2 s (times the sanitizer
 * slowdown), not the helpers' 10 s, so a stuck server fails the test with
 * its message rather than by the CTest timeout. */
static void short_timeout(struct conn *c)
{
    struct timeval tv = {.tv_sec = 2 * time_scale()};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int request_on(struct conn *c, const char *path, struct reply *r)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    conn_sends(c, req);
    return conn_read_reply(c, r, false) == 0 ? r->status : -1;
}

/* A file answer while descriptors are exhausted: 503 with Retry-After or
 * 500, or the file itself (a descriptor cache may hold it, or the server
 * may have freed a descriptor, as nginx does by closing an idle
 * connection); never 404 nor anything else. */
static void check_file_answer(struct problems *p, struct conn *c, const char *path,
                              const char *body)
{
    struct reply r;
    int status = request_on(c, path, &r);
    char v[32];
    print_message("out of descriptors: GET %s -> %d\n", path, status);
    if (status == 503 && !reply_header(&r, "retry-after", v, sizeof v))
        problem(p, "GET %s: 503 without Retry-After", path);
    else if (status == 200 && !(r.body && strstr(r.body, body)))
        problem(p, "GET %s: 200 without the file's contents", path);
    else if (status < 0)
        problem(p, "GET %s: no answer within %d s", path, 2 * time_scale());
    else if (status != 503 && status != 500 && status != 200)
        problem(p, "GET %s: %d, want 503 (with Retry-After) or 500", path, status);
    reply_free(&r);
}

/* Waits (bounded) until the server holds nearly NOFILE descriptors. */
static int wait_exhausted(const struct server_proc *srv)
{
    double deadline = now_ms() + 5000.0 * time_scale();
    int n;
    while ((n = proc_fd_count(srv->pid)) < NOFILE - 1 && now_ms() < deadline)
        pause_ms(20);
    return n;
}

/* Until the deadline: a new connection gets 200 for path and the body
 * contains want. */
static bool recovers(const struct server_proc *srv, const char *path, const char *want)
{
    double deadline = now_ms() + 5000.0 * time_scale();
    do {
        struct conn c;
        if (conn_try_open(&c, srv->port) == 0) {
            short_timeout(&c);
            struct reply r;
            int status = request_on(&c, path, &r);
            bool ok = status == 200 && r.body && strstr(r.body, want);
            reply_free(&r);
            conn_close(&c);
            if (ok)
                return true;
        }
        pause_ms(100);
    } while (now_ms() < deadline);
    return false;
}

/* SIGTERM; the exit status, or -1 (and SIGKILL) when there is none
 * within timeout_ms, so the problems found so far are still reported. */
static int stop_within(struct server_proc *srv, int timeout_ms)
{
    kill(srv->pid, SIGTERM);
    double deadline = now_ms() + timeout_ms;
    int status;
    while (waitpid(srv->pid, &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            server_signal_and_wait(srv, SIGKILL, 5000);
            return -1;
        }
        pause_ms(20);
    }
    server_forget(srv);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One round: kept connections, then clients until the server has no
 * descriptor left, the checks, then the clients go and it must recover. */
static void exhaust_once(struct server_proc *srv, struct problems *p, int round)
{
    /* Before: every kept connection works. */
    static struct conn kept[KEPT];
    struct reply r;
    for (int i = 0; i < KEPT; i++) {
        conn_open(&kept[i], srv->port);
        short_timeout(&kept[i]);
        assert_int_equal(request_on(&kept[i], "/", &r), 200);
        reply_free(&r);
    }

    static struct conn hogs[HOGS];
    int nhogs = 0;
    for (; nhogs < HOGS; nhogs++)
        if (conn_try_open(&hogs[nhogs], srv->port) != 0)
            break; /* the backlog is full */
    int fds = wait_exhausted(srv);
    print_message("round %d: %d connections opened; the server holds %d descriptors (limit %d)\n",
                  round, nhogs, fds, NOFILE);
    if (fds < NOFILE - 1)
        problem(p, "the server never ran out of descriptors (%d of %d)", fds, NOFILE);

    /* No busy loop on the connections it cannot accept. */
    long cpu0 = proc_cpu_ms(srv->pid);
    pause_ms(1000);
    long cpu = proc_cpu_ms(srv->pid) - cpu0;
    print_message("CPU time over 1 s out of descriptors: %ld ms\n", cpu);
    if (cpu > 500)
        problem(p, "%ld ms of CPU in 1 s out of descriptors (spinning)", cpu);

    check_file_answer(p, &kept[0], "/style.css", "color");
    check_file_answer(p, &kept[1], "/sub/digits.txt", "0123456789");
    check_file_answer(p, &kept[2], "/hello.html", "Hello!");
    check_file_answer(p, &kept[3], "/", "Hello!");

    int status = request_on(&kept[4], "/health", &r);
    print_message("out of descriptors: GET /health -> %d %s", status, r.body ? r.body : "\n");
    if (status != 503 || !r.body || !strstr(r.body, "\"status\":\"degraded\""))
        problem(p, "/health: %d %s, want 503 with \"status\":\"degraded\"", status,
                r.body ? r.body : "(no body)");
    reply_free(&r);

    for (int i = 0; i < nhogs; i++)
        conn_close(&hogs[i]);
    for (int i = 0; i < KEPT; i++)
        conn_close(&kept[i]);
    if (!recovers(srv, "/style.css", "color"))
        problem(p, "GET /style.css not 200 again within 5 s after the clients went");
    if (!recovers(srv, "/health", "\"status\":\"ok\""))
        problem(p, "/health not 200 \"ok\" again within 5 s after the clients went");
}

/* Several rounds on one server: what goes wrong under exhaustion may
 * depend on which thread meets EMFILE first (a race), and each round is
 * another chance for it to show. */
static void test_descriptor_exhaustion(void **state)
{
    (void)state;
    struct server_proc srv;
    const char *args[] = {"--threads", "2", "--idle-timeout", "60000", "--header-timeout",
                          "60000",     NULL};
    server_start_limited(&srv, args, NOFILE);
    struct problems p = {.len = 0};
    for (int round = 1; round <= ROUNDS && p.len == 0; round++)
        exhaust_once(&srv, &p, round);
    int exit_status = stop_within(&srv, 20000);
    if (exit_status != 0)
        problem(&p, "after SIGTERM: %s", exit_status < 0 ? "no exit within 20 s" : "exit not 0");
    server_stop(&srv);
    if (p.len)
        fail_msg("%s", p.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_exhaustion),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    server_cleanup_all(); /* whatever a failed test left running */
    return failed;
}
