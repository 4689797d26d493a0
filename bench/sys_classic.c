/*
 * sys_classic.c - the classic pool every tutorial builds (the Rust book's
 * ThreadPool, ported faithfully): one unbounded queue behind one mutex and
 * one condition variable, a heap-allocated job per submission (Box<dyn
 * FnOnce>), workers that lock, pop, unlock and run. A pending count under the
 * same mutex gives wait().
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
    struct job *next;
    bench_fn fn;
    void *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t has_job = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static size_t pending;
static int quit;
static pthread_t threads[64];
static unsigned nthreads;

static void *worker(void *unused)
{
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == NULL && !quit)
            pthread_cond_wait(&has_job, &lock);
        if (head == NULL) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        struct job *j = head;
        head = j->next;
        if (head == NULL)
            tail = NULL;
        pthread_mutex_unlock(&lock);

        j->fn(j->arg);
        free(j);

        pthread_mutex_lock(&lock);
        if (--pending == 0)
            pthread_cond_broadcast(&all_done);
        pthread_mutex_unlock(&lock);
    }
}

static int start(unsigned workers)
{
    nthreads = workers > 64 ? 64 : workers;
    for (unsigned i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker, NULL) != 0)
            return -1;
    return 0;
}

static void stop(void)
{
    pthread_mutex_lock(&lock);
    quit = 1;
    pthread_cond_broadcast(&has_job);
    pthread_mutex_unlock(&lock);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
}

static void submit(bench_fn fn, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (j == NULL)
        abort();
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&lock);
    if (tail != NULL)
        tail->next = j;
    else
        head = j;
    tail = j;
    pending++;
    pthread_cond_signal(&has_job);
    pthread_mutex_unlock(&lock);
}

static void wait_all(void)
{
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&all_done, &lock);
    pthread_mutex_unlock(&lock);
}

const struct bench_system bench_system = {
    .name = "classic",
    .start = start,
    .stop = stop,
    .run_outside = bench_run_here,
    .submit = submit,
    .wait = wait_all,
    .concurrent_producers = 1,
};
