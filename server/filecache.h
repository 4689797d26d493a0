/*
 * filecache.h - open descriptors of the document root's files, shared by
 * every I/O loop and worker.
 *
 * A hot file costs no open() per request: its entry keeps the descriptor,
 * the stat() result and the validators, and a small file's bytes. An entry
 * is trusted for FILECACHE_VALID_NS after it was last checked; after that
 * the next lookup stat()s the path again, and a worker reopens the file if
 * it changed (nginx's open_file_cache_valid does the same), so an edit
 * shows within a second. Entries are reference-counted: a response streaming
 * a file holds its entry, so eviction never closes a descriptor in use.
 */
#ifndef RAIL_SERVER_FILECACHE_H
#define RAIL_SERVER_FILECACHE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "response.h"

#define FILECACHE_VALID_NS   1000000000ull /* how long an entry is trusted unchecked */
#define FILECACHE_INLINE_MAX 65536         /* files up to this size are kept in memory */

struct docroot;

struct fentry {
    int fd;
    struct stat st;
    const char *content_type;
    char etag[48];
    char modified[HTTP_DATE_LEN];
    char *data;                   /* the whole file when st_size <= FILECACHE_INLINE_MAX */
    atomic_uint_fast64_t checked; /* when the path was last stat()ed (monotonic ns) */
    atomic_uint refs;
    struct fentry *hnext, *lprev, *lnext; /* the cache's: its bucket, the LRU list */
    char rel[];                           /* the key: the path relative to the root */
};

struct filecache;

/* A cache of at most `max_entries` descriptors for files under root (which
 * must outlive it). NULL with errno set on failure. */
struct filecache *filecache_create(const struct docroot *root, unsigned max_entries);
void filecache_destroy(struct filecache *fc);

/* The entry for `rel` (normalised, relative to the root), opened, checked
 * or revalidated as needed: may block on the file system, so it is the
 * workers' call. Returns 0 and a reference in *out, or -1 with errno:
 * ENOENT/ENOTDIR (no such regular file inside the root, including a link
 * out of it), EACCES, EMFILE/ENFILE/ENOMEM (out of resources), EIO, ... */
int filecache_get(struct filecache *fc, const char *rel, struct fentry **out);

/* The I/O loops' call: a reference to an entry whose bytes are in memory
 * and that is still valid, or NULL (a worker must look it up). Never opens
 * or reads a file; an entry trusted for over a second costs one stat() of
 * its path, whose inode is cached (nginx checks in its event loop alike). */
struct fentry *filecache_peek(struct filecache *fc, const char *rel);

/* Looks rel up now (as filecache_get), so that the loops find it: for the
 * pages the server names itself (hello.html, 404.html). Failures ignored. */
void filecache_warm(struct filecache *fc, const char *rel);

/* Drops a reference; the last one closes the descriptor. Any thread. */
void fentry_put(struct fentry *e);

#endif
