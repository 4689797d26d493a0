/*
 * server.h - rail-server's I/O side: one libuv loop that accepts, reads,
 * parses, hands each complete request to the pool as a job, and writes the
 * answers back in order. Workers never touch a socket; see docs/server.md.
 */
#ifndef RAIL_SERVER_SERVER_H
#define RAIL_SERVER_SERVER_H

#include <stddef.h>

struct server_config {
    char host[64];
    int port; /* 0: pick one */
    unsigned threads;
    size_t queue;
    const char *root;
    const char *access_log; /* a file, "-" for stdout, or NULL for none */
    unsigned sleep_ms;
    size_t max_body;
    unsigned header_timeout_ms, idle_timeout_ms, shutdown_timeout_ms;
    unsigned max_connections;
    /* /resize */
    const char *images; /* the images directory; NULL: the root */
    unsigned long long max_pixels;
    unsigned resize_timeout_ms;
    unsigned long cache_max_age; /* seconds */
};

/* Serves until SIGTERM or SIGINT and the drain that follows. Returns the
 * process's exit status: 0 after a complete drain, 1 when it could not
 * start or the drain was cut short. */
int server_run(const struct server_config *cfg);

#endif
