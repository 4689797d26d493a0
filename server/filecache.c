/* filecache.c - the open-descriptor cache; see filecache.h. */
#include "filecache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "files.h"

#define BUCKETS 1024u /* a power of two */

struct filecache {
    pthread_mutex_t lock; /* guards the buckets, the LRU list and count */
    const struct docroot *root;
    unsigned count, max;
    struct fentry *lru_head, *lru_tail; /* most recently used first */
    struct fentry *bucket[BUCKETS];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h & (BUCKETS - 1);
}

struct filecache *filecache_create(const struct docroot *root, unsigned max_entries)
{
    struct filecache *fc = calloc(1, sizeof *fc);
    if (!fc)
        return NULL;
    pthread_mutex_init(&fc->lock, NULL);
    fc->root = root;
    fc->max = max_entries ? max_entries : 1;
    return fc;
}

static void entry_free(struct fentry *e)
{
    close(e->fd);
    free(e->data);
    free(e);
}

void fentry_put(struct fentry *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        entry_free(e);
}

static void lru_unlink(struct filecache *fc, struct fentry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        fc->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        fc->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(struct filecache *fc, struct fentry *e)
{
    e->lnext = fc->lru_head;
    if (fc->lru_head)
        fc->lru_head->lprev = e;
    fc->lru_head = e;
    if (!fc->lru_tail)
        fc->lru_tail = e;
}

/* Takes e out of the table; the table's reference goes with it. Locked. */
static void remove_locked(struct filecache *fc, struct fentry *e)
{
    struct fentry **p = &fc->bucket[hash(e->rel)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    lru_unlink(fc, e);
    fc->count--;
    fentry_put(e);
}

static struct fentry *find_locked(struct filecache *fc, const char *rel)
{
    for (struct fentry *e = fc->bucket[hash(rel)]; e; e = e->hnext)
        if (strcmp(e->rel, rel) == 0)
            return e;
    return NULL;
}

void filecache_destroy(struct filecache *fc)
{
    if (!fc)
        return;
    while (fc->lru_head)
        remove_locked(fc, fc->lru_head);
    pthread_mutex_destroy(&fc->lock);
    free(fc);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The full path of rel, or -1 (ENAMETOOLONG). */
static int full_path(const struct docroot *root, const char *rel, char out[PATH_MAX])
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", root->real, rel) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int read_all(int fd, char *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errno = n < 0 ? errno : EIO; /* the file shrank under us */
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* A new entry for rel, with one reference for the caller; NULL with errno. */
static struct fentry *entry_open(const struct docroot *root, const char *rel)
{
    size_t rel_len = strlen(rel);
    struct fentry *e = calloc(1, sizeof *e + rel_len + 1);
    if (!e)
        return NULL;
    memcpy(e->rel, rel, rel_len + 1);
    e->fd = files_open(root, rel, &e->st);
    if (e->fd < 0) {
        int err = errno;
        free(e);
        errno = err;
        return NULL;
    }
    uint64_t size = (uint64_t)e->st.st_size;
    if (size <= FILECACHE_INLINE_MAX) {
        e->data = malloc(size ? size : 1);
        if (!e->data || read_all(e->fd, e->data, size) != 0) {
            int err = e->data ? errno : ENOMEM;
            entry_free(e);
            errno = err;
            return NULL;
        }
    }
    e->content_type = files_content_type(rel);
    snprintf(e->etag, sizeof e->etag, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)e->st.st_mtime,
             size);
    http_date(e->st.st_mtime, e->modified);
    atomic_init(&e->refs, 1);
    atomic_init(&e->checked, now_ns());
    return e;
}

/* Puts e in the table (which takes a reference), evicting the least
 * recently used entry when full. Locked. */
static void insert_locked(struct filecache *fc, struct fentry *e)
{
    struct fentry *old = find_locked(fc, e->rel);
    if (old)
        remove_locked(fc, old);
    if (fc->count >= fc->max)
        remove_locked(fc, fc->lru_tail);
    unsigned h = hash(e->rel);
    e->hnext = fc->bucket[h];
    fc->bucket[h] = e;
    lru_push_front(fc, e);
    fc->count++;
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

/* A reference to rel's entry if it is in the table (made most recently
 * used), or NULL. */
static struct fentry *lookup(struct filecache *fc, const char *rel)
{
    pthread_mutex_lock(&fc->lock);
    struct fentry *e = find_locked(fc, rel);
    if (e) {
        lru_unlink(fc, e);
        lru_push_front(fc, e);
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&fc->lock);
    return e;
}

/* Is e, looked up at `now`, still what its path names? Trusted for
 * FILECACHE_VALID_NS after a check; then one stat() says. */
static bool still_valid(struct filecache *fc, struct fentry *e, uint64_t now)
{
    if (now - atomic_load_explicit(&e->checked, memory_order_relaxed) < FILECACHE_VALID_NS)
        return true;
    char path[PATH_MAX];
    struct stat st;
    if (full_path(fc->root, e->rel, path) != 0 || stat(path, &st) != 0 || !same_file(&st, &e->st))
        return false;
    atomic_store_explicit(&e->checked, now, memory_order_relaxed);
    return true;
}

struct fentry *filecache_peek(struct filecache *fc, const char *rel)
{
    struct fentry *e = lookup(fc, rel);
    if (e && (!e->data || !still_valid(fc, e, now_ns()))) {
        fentry_put(e); /* a worker reopens it */
        return NULL;
    }
    return e;
}

void filecache_warm(struct filecache *fc, const char *rel)
{
    struct fentry *e;
    if (filecache_get(fc, rel, &e) == 0)
        fentry_put(e);
}

int filecache_get(struct filecache *fc, const char *rel, struct fentry **out)
{
    struct fentry *e = lookup(fc, rel);
    if (e) {
        if (still_valid(fc, e, now_ns())) {
            *out = e;
            return 0;
        }
        pthread_mutex_lock(&fc->lock);
        if (find_locked(fc, rel) == e)
            remove_locked(fc, e);
        pthread_mutex_unlock(&fc->lock);
        fentry_put(e);
    }
    e = entry_open(fc->root, rel);
    if (!e)
        return -1;
    pthread_mutex_lock(&fc->lock);
    insert_locked(fc, e);
    pthread_mutex_unlock(&fc->lock);
    *out = e;
    return 0;
}
