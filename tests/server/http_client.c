/* http_client.c - process and socket helpers for the server tests. */
#define _GNU_SOURCE /* memmem, mkdtemp */
#include "http_client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define IO_TIMEOUT_MS 10000

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Servers started and not yet reaped, so that a test that fails half-way
 * leaves none running (server_cleanup_all). */
static struct {
    pid_t pid;
    char dir[64];
} live[16];

static void live_add(const struct server_proc *s)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i].pid == 0) {
            live[i].pid = s->pid;
            memcpy(live[i].dir, s->dir, sizeof live[i].dir);
            return;
        }
}

static void live_remove(pid_t pid)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i].pid == pid)
            live[i].pid = 0;
}

static void make_root(struct server_proc *s)
{
    char path[256];
    snprintf(s->dir, sizeof s->dir, "/tmp/rail-server-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->root, sizeof s->root, "%s/root", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/access.log", s->dir);
    assert_int_equal(mkdir(s->root, 0755), 0);
    snprintf(path, sizeof path, "%s/hello.html", s->root);
    write_file(path, "<!DOCTYPE html><title>Hello!</title><p>Hi from rail-server.</p>\n");
    snprintf(path, sizeof path, "%s/404.html", s->root);
    write_file(path, "<!DOCTYPE html><title>Oops!</title><p>Not here.</p>\n");
    snprintf(path, sizeof path, "%s/style.css", s->root);
    write_file(path, "body { color: black; }\n");
    snprintf(path, sizeof path, "%s/sub", s->root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/sub/digits.txt", s->root);
    write_file(path, "0123456789");
    /* Outside the root, and a link to it from inside. */
    snprintf(path, sizeof path, "%s/secret.txt", s->dir);
    write_file(path, "SECRET\n");
    char link[256];
    snprintf(link, sizeof link, "%s/escape.txt", s->root);
    assert_int_equal(symlink(path, link), 0);
}

void server_start(struct server_proc *s, const char *const *args)
{
    server_start_limited(s, args, 0);
}

void server_start_limited(struct server_proc *s, const char *const *args, unsigned long nofile)
{
    memset(s, 0, sizeof *s);
    make_root(s);
    const char *argv[64];
    int n = 0;
    argv[n++] = RAIL_SERVER_BIN;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--root";
    argv[n++] = s->root;
    argv[n++] = "--access-log";
    argv[n++] = s->log_path;
    for (; args && *args && n < 62; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int out[2];
    assert_int_equal(pipe(out), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        if (nofile) {
            struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    live_add(s);
    /* "rail-server X: listening on http://127.0.0.1:PORT/ ..." */
    char line[512];
    size_t len = 0;
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&p, 1, IO_TIMEOUT_MS) == 1) {
        ssize_t got = read(out[0], line + len, sizeof line - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(out[0]);
    line[len] = '\0';
    const char *at = strstr(line, "http://127.0.0.1:");
    if (!at)
        fail_msg("rail-server did not start: '%s'", line);
    s->port = atoi(at + strlen("http://127.0.0.1:"));
    assert_true(s->port > 0);
}

int server_wait(struct server_proc *s, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    int status;
    live_remove(s->pid);
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            break;
        if (now_ms() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            s->pid = 0;
            fail_msg("rail-server did not exit within %d ms", timeout_ms);
        }
        pause_ms(5);
    }
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int server_signal_and_wait(struct server_proc *s, int sig, int timeout_ms)
{
    assert_int_equal(kill(s->pid, sig), 0);
    return server_wait(s, timeout_ms);
}

void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

void server_forget(struct server_proc *s)
{
    live_remove(s->pid);
    s->pid = 0;
}

void server_cleanup_all(void)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i].pid > 0) {
            kill(live[i].pid, SIGKILL);
            waitpid(live[i].pid, NULL, 0);
            live[i].pid = 0;
            remove_tree(live[i].dir);
        }
}

void server_stop(struct server_proc *s)
{
    if (s->pid > 0)
        assert_int_equal(server_signal_and_wait(s, SIGTERM, 20000), 0);
    remove_tree(s->dir);
}

int conn_try_open(struct conn *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int err = errno;
        close(c->fd);
        c->fd = -1;
        errno = err;
        return -1;
    }
    return 0;
}

void conn_open(struct conn *c, int port)
{
    if (conn_try_open(c, port) != 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
}

void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void conn_send(struct conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void conn_sends(struct conn *c, const char *text)
{
    conn_send(c, text, strlen(text));
}

/* Reads more into the buffer; 0 on EOF or timeout. */
static ssize_t fill(struct conn *c)
{
    if (c->len == sizeof c->buf)
        return -1;
    ssize_t n;
    do
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

int conn_read_head(struct conn *c, struct reply *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (fill(c) <= 0)
            return -1;
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (head_len >= sizeof r->head)
        return -1;
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    consume(c, head_len);
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    return 0;
}

int conn_read_reply(struct conn *c, struct reply *r, bool head_only)
{
    if (conn_read_head(c, r) != 0)
        return -1;
    char value[64];
    size_t want = 0;
    if (reply_header(r, "content-length", value, sizeof value))
        want = strtoull(value, NULL, 10);
    if (head_only || r->status == 304 || r->status / 100 == 1)
        want = 0;
    r->body = malloc(want + 1);
    while (r->body_len < want) {
        if (c->len == 0 && fill(c) <= 0)
            return -1;
        size_t take = c->len < want - r->body_len ? c->len : want - r->body_len;
        memcpy(r->body + r->body_len, c->buf, take);
        r->body_len += take;
        consume(c, take);
    }
    r->body[r->body_len] = '\0';
    return 0;
}

void reply_free(struct reply *r)
{
    free(r->body);
    r->body = NULL;
}

const char *reply_header(const struct reply *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

bool conn_closed_by_peer(struct conn *c, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    while (now_ms() < end) {
        if (poll(&p, 1, (int)(end - now_ms()) + 1) != 1)
            return false;
        char drop[4096];
        ssize_t n = recv(c->fd, drop, sizeof drop, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
    return false;
}

int http_request(int port, const char *raw, struct reply *r)
{
    struct conn *c = malloc(sizeof *c);
    conn_open(c, port);
    conn_sends(c, raw);
    int rc = conn_read_reply(c, r, strncmp(raw, "HEAD ", 5) == 0);
    conn_close(c);
    free(c);
    return rc == 0 ? r->status : -1;
}

int run_program(const char *const *argv, char *out, size_t cap, bool with_stderr)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        if (with_stderr)
            dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t got;
    while (len < cap - 1 && (got = read(pipefd[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    char drop[4096]; /* the rest, so the child never blocks on a full pipe */
    while (read(pipefd[0], drop, sizeof drop) > 0)
        ;
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_server_cli(const char *const *args, char *out, size_t cap)
{
    const char *argv[16] = {RAIL_SERVER_BIN};
    int n = 1;
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return run_program(argv, out, cap, true);
}

int run_curl(const char *const *args, char *out, size_t cap)
{
    const char *argv[64] = {CURL_PROGRAM, "--silent", "--show-error", "--max-time", "20"};
    int n = 5;
    for (; *args && n < 63; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return run_program(argv, out, cap, false);
}

int time_scale(void)
{
    const char *v = getenv("RAIL_TEST_TIMEOUT_SCALE");
    int n = v ? atoi(v) : 1;
    return n > 0 ? n : 1;
}

/* One "Name:   N kB" line of /proc/PID/status, or -1. */
static long status_kb(pid_t pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

long proc_rss_kb(pid_t pid)
{
    return status_kb(pid, "VmRSS");
}

long proc_cpu_ms(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    /* The command name may hold spaces: fields count from its closing ')'.
     * After it: state (3), ... utime (14), stime (15), in clock ticks. */
    const char *p = strrchr(text, ')');
    if (!p)
        return -1;
    unsigned long long utime, stime;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long)((utime + stime) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

int proc_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int http_send(int port, const char *head, const void *body, size_t len, struct reply *r)
{
    struct conn *c = malloc(sizeof *c);
    conn_open(c, port);
    conn_sends(c, head);
    if (body) {
        char cl[64];
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", len);
        conn_sends(c, cl);
    }
    conn_sends(c, "\r\n");
    if (body && len)
        conn_send(c, body, len);
    int rc = conn_read_reply(c, r, strncmp(head, "HEAD ", 5) == 0);
    conn_close(c);
    free(c);
    return rc == 0 ? r->status : -1;
}

int http_get(int port, const char *method, const char *target, const char *extra, struct reply *r)
{
    char head[4096];
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s", method,
             target, extra ? extra : "");
    return http_send(port, head, NULL, 0, r);
}

void assert_status(const struct reply *r, int status)
{
    if (r->status != status)
        fail_msg("status %d where %d was expected; body: '%.200s'", r->status, status,
                 r->body ? r->body : "");
}
