/*
 * trim_shim.so - LD_PRELOADed into rail-server by `bench/resize/run.py
 * --memory` to measure what returning freed memory to the kernel would
 * buy: a thread calls malloc_trim(0) every RAIL_TRIM_MS milliseconds
 * (default 200). A stand-in for "malloc_trim when a worker goes idle",
 * measured before building it into the server; not part of rail.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static void *trimmer(void *arg)
{
    long ms = (long)(size_t)arg;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    for (;;) {
        nanosleep(&ts, NULL);
        malloc_trim(0);
    }
    return NULL;
}

__attribute__((constructor)) static void trim_shim_start(void)
{
    const char *env = getenv("RAIL_TRIM_MS");
    long ms = env ? atol(env) : 200;
    if (ms <= 0)
        ms = 200;
    pthread_t t;
    if (pthread_create(&t, NULL, trimmer, (void *)(size_t)ms) == 0)
        pthread_detach(t);
}
