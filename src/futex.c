/*
 * futex.c - rail__futex_wait/rail__futex_wake: the Linux system call, or, elsewhere, a
 * small table of mutex+condvar buckets that gives the same contract.
 */
#define _GNU_SOURCE /* syscall() */
#include "futex.h"

#include <errno.h>

#if defined(__linux__)

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int rail__futex_wait(atomic_uint *word, unsigned expect, const struct timespec *deadline)
{
    /* WAIT_BITSET takes an absolute deadline; CLOCK_MONOTONIC is its default. */
    long rc = syscall(SYS_futex, (void *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expect,
                      deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT)
        return ETIMEDOUT;
    return 0; /* woken, spurious, EAGAIN (value changed) or EINTR: re-check */
}

int rail__futex_wake(atomic_uint *word, int count)
{
    long n =
        syscall(SYS_futex, (void *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
    return n > 0 ? (int)n : 0;
}

#else /* portable fallback: correct, slower */

#include <pthread.h>
#include <stdint.h>

#define BUCKETS 64

static struct bucket {
    pthread_mutex_t lock;
    pthread_cond_t cond;
} buckets[BUCKETS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_buckets(void)
{
    for (int i = 0; i < BUCKETS; i++) {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_mutex_init(&buckets[i].lock, NULL);
        pthread_cond_init(&buckets[i].cond, &a);
        pthread_condattr_destroy(&a);
    }
}

static struct bucket *bucket_of(atomic_uint *word)
{
    pthread_once(&once, init_buckets);
    return &buckets[((uintptr_t)word >> 2) % BUCKETS];
}

int rail__futex_wait(atomic_uint *word, unsigned expect, const struct timespec *deadline)
{
    struct bucket *b = bucket_of(word);
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    if (atomic_load(word) == expect)
        rc = deadline ? pthread_cond_timedwait(&b->cond, &b->lock, deadline)
                      : pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

int rail__futex_wake(atomic_uint *word, int count)
{
    (void)count; /* a broadcast: waiters re-check */
    struct bucket *b = bucket_of(word);
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return 1;
}

#endif
