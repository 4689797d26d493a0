/*
 * deadline.c - absolute CLOCK_MONOTONIC deadlines and waits bounded by them.
 */
#include "pool.h"

#include <errno.h>

#define NSEC_PER_SEC 1000000000ull

struct timespec rail_deadline(uint64_t timeout_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);

    /* time_t is signed: saturate at its largest value instead of wrapping. */
    const uint64_t max_sec = (uint64_t)INT64_MAX;
    uint64_t sec = (uint64_t)now.tv_sec + timeout_ns / NSEC_PER_SEC;
    uint64_t nsec = (uint64_t)now.tv_nsec + timeout_ns % NSEC_PER_SEC;
    if (nsec >= NSEC_PER_SEC) {
        nsec -= NSEC_PER_SEC;
        sec++;
    }
    if (sec > max_sec || sec < (uint64_t)now.tv_sec) {
        sec = max_sec;
        nsec = NSEC_PER_SEC - 1;
    }
    return (struct timespec){.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
}

int rail__deadline_valid(const struct timespec *deadline)
{
    return deadline == NULL ||
           (deadline->tv_sec >= 0 && deadline->tv_nsec >= 0 && deadline->tv_nsec < 1000000000L);
}

/* The pool's condition variables run on CLOCK_MONOTONIC (see pool.c). */
int rail__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                          const struct timespec *deadline)
{
    if (deadline == NULL)
        return pthread_cond_wait(cond, lock);
    return pthread_cond_timedwait(cond, lock, deadline);
}
