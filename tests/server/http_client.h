/*
 * http_client.h - for the server's integration tests: start rail-server as
 * a real process on a loopback port, and talk to it over raw sockets.
 * Every socket read has a timeout, so a server that never answers fails
 * the test instead of hanging it.
 */
#ifndef RAIL_TEST_HTTP_CLIENT_H
#define RAIL_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct server_proc {
    pid_t pid;
    int port;
    char dir[64]; /* a fresh temporary directory: root/ and access.log */
    char root[128];
    char log_path[128];
};

/* Makes a document root with hello.html, 404.html and a few more files,
 * then starts rail-server on port 0 with extra arguments (NULL-terminated).
 * Fails the test when the server does not report its port. */
void server_start(struct server_proc *s, const char *const *args);
/* server_start with the child's RLIMIT_NOFILE set to nofile (0: as is)
 * before exec. */
void server_start_limited(struct server_proc *s, const char *const *args, unsigned long nofile);
/* Sends sig and waits (bounded) for the exit; returns the exit status, or
 * 128 + signal number when killed. */
int server_signal_and_wait(struct server_proc *s, int sig, int timeout_ms);
/* rm -rf dir (a test's own temporary directory); complains on stderr. */
void remove_tree(const char *dir);
/* SIGTERM, wait for exit 0, remove the directory. */
void server_stop(struct server_proc *s);
/* For a server the caller reaped itself: no longer to be waited for. */
void server_forget(struct server_proc *s);
/* Kills every server started and not yet waited for, and removes its
 * directory: after a test that failed half-way. */
void server_cleanup_all(void);
/* Waits (bounded) for an exit that is already under way. */
int server_wait(struct server_proc *s, int timeout_ms);

struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* Connects to 127.0.0.1:port; fails the test if it cannot. */
void conn_open(struct conn *c, int port);
/* -1 with errno when the connection is refused. */
int conn_try_open(struct conn *c, int port);
void conn_close(struct conn *c);
void conn_send(struct conn *c, const void *data, size_t len);
void conn_sends(struct conn *c, const char *text);

struct reply {
    int status;
    char head[16384]; /* status line and headers, NUL-terminated */
    char *body;       /* malloc'd */
    size_t body_len;
};

/* Reads one response. head_only: the request was HEAD (no body follows
 * whatever Content-Length says). Returns 0, or -1 when the connection
 * closed or timed out first. */
int conn_read_reply(struct conn *c, struct reply *r, bool head_only);
/* Reads until "\r\n\r\n" only: for interim 100 Continue responses. */
int conn_read_head(struct conn *c, struct reply *r);
void reply_free(struct reply *r);
/* A header's value (case-insensitive name), copied into out; NULL if absent. */
const char *reply_header(const struct reply *r, const char *name, char *out, size_t cap);
/* True when the server closes the connection within timeout_ms (any bytes
 * still in flight are read and dropped first). */
bool conn_closed_by_peer(struct conn *c, int timeout_ms);

/* One request on a new connection; returns the status (the reply kept in r). */
int http_request(int port, const char *raw, struct reply *r);

/* Sends a request made of head (without the blank line; Content-Length is
 * added when body is not NULL) and body, on a new connection; reads the
 * reply. Returns the status, -1 when no reply came. */
int http_send(int port, const char *head, const void *body, size_t len, struct reply *r);
/* GET (or HEAD) target with optional extra header lines ("Accept: ...\r\n"). */
int http_get(int port, const char *method, const char *target, const char *extra, struct reply *r);
/* Fails unless the status is as expected, printing the body when not. */
void assert_status(const struct reply *r, int status);

/* Runs argv[0] (a path) with argv, NULL-terminated; its standard output,
 * and standard error too when with_stderr, goes to out (NUL-terminated,
 * truncated to cap). Returns the exit status, or 128 + signal number. */
int run_program(const char *const *argv, char *out, size_t cap, bool with_stderr);
/* Runs rail-server with args (at most 14), no server expected: its exit
 * status, and what it wrote to stdout and stderr. */
int run_server_cli(const char *const *args, char *out, size_t cap);
/* Runs the curl client with the arguments (NULL-terminated); its standard
 * output goes to out (NUL-terminated, truncated to cap). Returns curl's
 * exit status. */
int run_curl(const char *const *args, char *out, size_t cap);

/* Sleeps ms milliseconds. */
void pause_ms(int ms);
/* The monotonic clock in milliseconds. */
double now_ms(void);
/* The contents of a file, malloc'd and NUL-terminated. */
char *read_file(const char *path, size_t *len);

/* RAIL_TEST_TIMEOUT_SCALE from the environment (set by CTest from the
 * build's setting: 3-5 for sanitizer builds), at least 1. Multiply time
 * bounds by it. */
int time_scale(void);
/* A process's resident set (VmRSS) in kB, -1 if it is gone. */
long proc_rss_kb(pid_t pid);
/* A process's CPU time (user + system, all threads) in ms, -1 if gone. */
long proc_cpu_ms(pid_t pid);
/* How many descriptors a process has open, -1 if it is gone. */
int proc_fd_count(pid_t pid);

/* Sanitizers add their own memory to every byte the server touches: ASan
 * about 1/8 shadow plus redzones, TSan 2-4x shadow and metadata. Memory
 * bounds in the tests are multiplied by MEM_FACTOR; UNDER_TSAN is defined
 * in a TSan build. */
#if defined(__SANITIZE_THREAD__)
#define MEM_FACTOR 4
#define UNDER_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define MEM_FACTOR 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MEM_FACTOR 4
#define UNDER_TSAN 1
#elif __has_feature(address_sanitizer)
#define MEM_FACTOR 2
#endif
#endif
#ifndef MEM_FACTOR
#define MEM_FACTOR 1
#endif

#endif
