/* access_log.c - a buffered log with one writer thread; see access_log.h. */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#include "request.h"

#define LOG_BUFFER (1u << 20)

struct access_log {
    pthread_mutex_t lock;
    pthread_cond_t wake, written;
    char *buf, *spare; /* lines are appended to buf; the writer owns spare */
    size_t len;
    unsigned long long generation, flushed; /* buffers handed to the writer, and written */
    bool stop;
    int fd;
    atomic_uint_fast64_t *dropped;
    pthread_t writer;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report it: the log is the report */
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    struct access_log *log = arg;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        while (log->len == 0 && !log->stop)
            pthread_cond_wait(&log->wake, &log->lock);
        if (log->len == 0 && log->stop)
            break;
        /* Swap buffers so the I/O thread can keep appending while we write. */
        char *full = log->buf;
        size_t n = log->len;
        log->buf = log->spare;
        log->len = 0;
        unsigned long long gen = ++log->generation;
        pthread_mutex_unlock(&log->lock);
        write_all(log->fd, full, n);
        pthread_mutex_lock(&log->lock);
        log->spare = full;
        log->flushed = gen;
        pthread_cond_broadcast(&log->written);
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

struct access_log *access_log_open(const char *path, atomic_uint_fast64_t *dropped)
{
    struct access_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->fd = strcmp(path, "-") == 0 ? STDOUT_FILENO
                                     : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    log->buf = malloc(LOG_BUFFER);
    log->spare = malloc(LOG_BUFFER);
    log->dropped = dropped;
    int err = errno;
    if (log->fd < 0 || !log->buf || !log->spare)
        goto fail;
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->wake, NULL);
    pthread_cond_init(&log->written, NULL);
    if ((err = pthread_create(&log->writer, NULL, writer_main, log)) != 0)
        goto fail;
    return log;
fail:
    if (log->fd > STDOUT_FILENO)
        close(log->fd);
    free(log->buf);
    free(log->spare);
    free(log);
    errno = err ? err : ENOMEM;
    return NULL;
}

void access_log_line(struct access_log *log, const char *line, size_t len)
{
    pthread_mutex_lock(&log->lock);
    if (log->len + len + 1 > LOG_BUFFER) {
        atomic_fetch_add_explicit(log->dropped, 1, memory_order_relaxed);
    } else {
        memcpy(log->buf + log->len, line, len);
        log->buf[log->len + len] = '\n';
        bool was_empty = log->len == 0;
        log->len += len + 1;
        if (was_empty)
            pthread_cond_signal(&log->wake);
    }
    pthread_mutex_unlock(&log->lock);
}

void access_log_flush(struct access_log *log)
{
    pthread_mutex_lock(&log->lock);
    /* Everything appended so far goes out with the next buffer handed over. */
    unsigned long long target = log->generation + (log->len > 0);
    while (log->flushed < target)
        pthread_cond_wait(&log->written, &log->lock);
    pthread_mutex_unlock(&log->lock);
}

void access_log_close(struct access_log *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->lock);
    log->stop = true;
    pthread_cond_signal(&log->wake);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->writer, NULL);
    if (log->fd > STDOUT_FILENO)
        close(log->fd);
    pthread_cond_destroy(&log->wake);
    pthread_cond_destroy(&log->written);
    pthread_mutex_destroy(&log->lock);
    free(log->buf);
    free(log->spare);
    free(log);
}

/* Quoting: '"', '\\' and bytes outside printable ASCII as \xHH. */
static void quote(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
        else
            out[n++] = (char)ch;
    }
    out[n] = '\0';
}

void access_log_request(struct access_log *log, const char *peer, const char *date,
                        const struct request *req, int status, uint64_t bytes)
{
    char target[1024], referer[512], agent[512], line[2600], sent[24] = "-";
    quote(target, sizeof target, req ? request_target(req) : NULL);
    quote(referer, sizeof referer, req ? request_header(req, "referer") : NULL);
    quote(agent, sizeof agent, req ? request_header(req, "user-agent") : NULL);
    if (bytes)
        snprintf(sent, sizeof sent, "%" PRIu64, bytes);
    int n;
    if (req)
        n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s HTTP/%d.%d\" %d %s \"%s\" \"%s\"",
                     peer, date, llhttp_method_name(req->method), target, req->http_major,
                     req->http_minor, status, sent, referer[0] ? referer : "-",
                     agent[0] ? agent : "-");
    else
        n = snprintf(line, sizeof line, "%s - - [%s] \"-\" %d %s \"-\" \"-\"", peer, date, status,
                     sent);
    if (n > 0)
        access_log_line(log, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
