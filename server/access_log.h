/*
 * access_log.h - the access log, written off the request path.
 *
 * The I/O thread appends finished lines to a memory buffer under a mutex
 * and never touches the file; a thread of its own writes the buffer out.
 * When the writer falls behind by more than the buffer holds, lines are
 * dropped and counted rather than stalling the server.
 */
#ifndef RAIL_SERVER_ACCESS_LOG_H
#define RAIL_SERVER_ACCESS_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct request;

struct access_log;

/* path: a file to append to, "-" for standard output. NULL with errno
 * set when the file cannot be opened. */
struct access_log *access_log_open(const char *path, atomic_uint_fast64_t *dropped);
/* Queues one line (without its newline). Never blocks on I/O. */
void access_log_line(struct access_log *log, const char *line, size_t len);
/* Queues the Combined Log Format line for one answer: the client's address,
 * the date ("%d/%b/%Y:%H:%M:%S +0000"), the request (NULL for errors found
 * while reading: logged as "-"), the status and the body bytes sent. */
void access_log_request(struct access_log *log, const char *peer, const char *date,
                        const struct request *req, int status, uint64_t bytes);
/* Writes out everything queued so far and waits for it. */
void access_log_flush(struct access_log *log);
/* Flushes, stops the writer thread, closes the file. NULL is allowed. */
void access_log_close(struct access_log *log);

#endif
