/*
 * workloads.c - the benchmark workloads, run on whichever system this binary
 * was linked with (bench_system). One process, one measurement:
 *
 *   bench_SYSTEM WORKLOAD WORKERS [PARAM]
 *
 * prints one line "RESULT key=value ..." for bench/run.py to collect. The
 * workloads are those of issue 3: empty jobs, wake latency, fine-grained sum
 * (as jobs and as a parallel loop), fork-join fib, CPU-bound jobs, and
 * several producers.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The sequential recursion, one real call per node: through a volatile
 * pointer GCC cannot fold the recursion into loops, as it otherwise does. */
static uint64_t fib_call(unsigned n);
static uint64_t (*volatile fib_ptr)(unsigned) = fib_call;

static uint64_t fib_call(unsigned n)
{
    return n < 2 ? n : fib_ptr(n - 1) + fib_ptr(n - 2);
}

void bench_run_here(void (*producer)(void *ctx), void *ctx)
{
    producer(ctx);
}

uint64_t fib_seq(unsigned n)
{
    return fib_call(n);
}

static const struct bench_system *sys = &bench_system;
/* Alone on its cache line: next to `sys`, which every submit reads, the jobs'
 * increments would bounce the submitter's line (false sharing). */
static _Alignas(64) atomic_uint_fast64_t counter;
static _Alignas(64) char counter_pad[64];

static void count_job(void *arg)
{
    (void)arg;
    (void)counter_pad;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench %s: %s\n", sys->name, what);
    exit(1);
}

/* --- 1. empty jobs ------------------------------------------------------ */

struct empty_ctx {
    uint64_t jobs, ns;
};

static void empty_producer(void *arg)
{
    struct empty_ctx *c = arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < c->jobs; i++)
        sys->submit(count_job, NULL);
    sys->wait();
    c->ns = bench_now_ns() - t0;
}

static void empty_jobs(unsigned workers, uint64_t jobs)
{
    struct empty_ctx c = {jobs, 0};
    atomic_store(&counter, 0);
    sys->run_outside(empty_producer, &c);
    if (atomic_load(&counter) != jobs)
        fail("lost jobs");
    printf("RESULT system=%s workload=empty workers=%u jobs=%llu ns_per_job=%.2f\n", sys->name,
           workers, (unsigned long long)jobs, (double)c.ns / (double)jobs);
}

/* --- 2. wake latency ---------------------------------------------------- */

static atomic_uint_fast64_t started_at;

static void stamp_job(void *arg)
{
    (void)arg;
    atomic_store_explicit(&started_at, bench_now_ns(), memory_order_release);
}

struct latency_ctx {
    unsigned samples;
    uint64_t *lat;
};

static void latency_producer(void *arg)
{
    struct latency_ctx *c = arg;
    struct timespec gap = {0, 1000000}; /* 1 ms: the pool goes back to sleep */
    for (unsigned i = 0; i < c->samples; i++) {
        nanosleep(&gap, NULL);
        atomic_store(&started_at, 0);
        uint64_t t0 = bench_now_ns();
        sys->submit(stamp_job, NULL);
        /* Wait without running the job here: some systems' waits would run
         * it on this thread and measure no wakeup at all. */
        uint64_t t1;
        while ((t1 = atomic_load_explicit(&started_at, memory_order_acquire)) == 0)
            sched_yield();
        sys->wait();
        c->lat[i] = t1 - t0;
    }
}

static void wake_latency(unsigned workers, unsigned samples)
{
    struct latency_ctx c = {samples, calloc(samples, sizeof(uint64_t))};
    if (c.lat == NULL)
        fail("out of memory");
    sys->run_outside(latency_producer, &c);
    qsort(c.lat, samples, sizeof *c.lat, cmp_u64);
    printf("RESULT system=%s workload=latency workers=%u samples=%u p50_ns=%llu p99_ns=%llu\n",
           sys->name, workers, samples, (unsigned long long)c.lat[samples / 2],
           (unsigned long long)c.lat[(size_t)samples * 99 / 100]);
    free(c.lat);
}

/* --- 3. fine-grained sum ------------------------------------------------ */

struct sum_ctx {
    const uint32_t *data;
    size_t n, grain;
    uint64_t *partial; /* one slot per chunk: no sharing between jobs */
    uint64_t ns;
};

static struct sum_ctx *sum_now;

static uint64_t sum_range(const uint32_t *d, size_t b, size_t e)
{
    uint64_t s = 0;
    for (size_t i = b; i < e; i++)
        s += d[i];
    return s;
}

static void sum_body(size_t b, size_t e, void *arg)
{
    struct sum_ctx *c = arg;
    c->partial[b / c->grain] = sum_range(c->data, b, e);
}

static void sum_chunk_job(void *arg)
{
    size_t chunk = (size_t)(uintptr_t)arg;
    size_t b = chunk * sum_now->grain;
    size_t e = b + sum_now->grain < sum_now->n ? b + sum_now->grain : sum_now->n;
    sum_now->partial[chunk] = sum_range(sum_now->data, b, e);
}

static void sum_jobs_producer(void *arg)
{
    struct sum_ctx *c = arg;
    size_t chunks = (c->n + c->grain - 1) / c->grain;
    uint64_t t0 = bench_now_ns();
    for (size_t k = 0; k < chunks; k++)
        sys->submit(sum_chunk_job, (void *)(uintptr_t)k);
    sys->wait();
    c->ns = bench_now_ns() - t0;
}

static void fine_sum(unsigned workers, size_t grain, int as_loop)
{
    if (as_loop && sys->parallel_for == NULL) {
        printf("RESULT system=%s workload=sum_pfor workers=%u grain=%zu na=1\n", sys->name, workers,
               grain);
        return;
    }
    const size_t n = (size_t)64 << 20;
    uint32_t *data = malloc(n * sizeof *data);
    size_t chunks = (n + grain - 1) / grain;
    uint64_t *partial = calloc(chunks, sizeof *partial);
    if (data == NULL || partial == NULL)
        fail("out of memory");
    for (size_t i = 0; i < n; i++)
        data[i] = (uint32_t)(i * 2654435761u) >> 4;

    uint64_t best_plain = UINT64_MAX, expect = 0;
    for (int r = 0; r < 3; r++) {
        uint64_t t0 = bench_now_ns();
        expect = sum_range(data, 0, n);
        uint64_t t = bench_now_ns() - t0;
        best_plain = t < best_plain ? t : best_plain;
    }

    struct sum_ctx c = {data, n, grain, partial, 0};
    sum_now = &c;
    uint64_t best = UINT64_MAX;
    for (int r = 0; r < 3; r++) {
        memset(partial, 0, chunks * sizeof *partial);
        if (as_loop) {
            uint64_t t0 = bench_now_ns();
            sys->parallel_for(0, n, grain, sum_body, &c);
            c.ns = bench_now_ns() - t0;
        } else {
            sys->run_outside(sum_jobs_producer, &c);
        }
        uint64_t got = 0;
        for (size_t k = 0; k < chunks; k++)
            got += partial[k];
        if (got != expect)
            fail("wrong sum");
        best = c.ns < best ? c.ns : best;
    }
    printf("RESULT system=%s workload=%s workers=%u grain=%zu ms=%.3f plain_ms=%.3f "
           "speedup=%.3f\n",
           sys->name, as_loop ? "sum_pfor" : "sum_jobs", workers, grain, best / 1e6,
           best_plain / 1e6, (double)best_plain / (double)best);
    free(partial);
    free(data);
}

/* --- 4. fork-join ------------------------------------------------------- */

static void fork_join(unsigned workers, unsigned n, int flavour)
{
    uint64_t (*fib)(unsigned) = flavour == 2 ? sys->fib2 : sys->fib;
    const char *how = flavour == 2 ? sys->fib2_how : sys->fib_how;
    const char *name = flavour == 2 ? "fib2" : "fib";
    if (fib == NULL) {
        printf("RESULT system=%s workload=%s workers=%u n=%u na=1\n", sys->name, name, workers, n);
        return;
    }
    uint64_t t0 = bench_now_ns();
    uint64_t expect = fib_seq(n);
    uint64_t seq = bench_now_ns() - t0;
    t0 = bench_now_ns();
    uint64_t got = fib(n);
    uint64_t par = bench_now_ns() - t0;
    if (got != expect)
        fail("wrong fib");
    /* calls(n) = 2 fib(n+1) - 1: one task per call */
    uint64_t tasks = 2 * fib_seq(n + 1) - 1;
    printf("RESULT system=%s workload=%s how=\"%s\" workers=%u n=%u tasks=%llu ms=%.3f "
           "seq_ms=%.3f ns_per_task=%.2f speedup=%.3f\n",
           sys->name, name, how, workers, n, (unsigned long long)tasks, par / 1e6, seq / 1e6,
           (double)par / (double)tasks, (double)seq / (double)par);
}

/* --- 5. CPU-bound jobs -------------------------------------------------- */

static uint64_t spin_iters; /* iterations that take about 1 ms */

static uint64_t spin(uint64_t iters)
{
    uint64_t x = 88172645463325252u;
    for (uint64_t i = 0; i < iters; i++) { /* xorshift: nothing to vectorise */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static atomic_uint_fast64_t sink;
static _Alignas(64) atomic_uint_fast64_t job_cpu_ns; /* CPU the jobs themselves used */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Atomic unsigned cpu_jobs_done;

static void cpu_job(void *arg)
{
    (void)arg;
    uint64_t t0 = thread_cpu_ns();
    atomic_fetch_xor_explicit(&sink, spin(spin_iters), memory_order_relaxed);
    atomic_fetch_add_explicit(&job_cpu_ns, thread_cpu_ns() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&cpu_jobs_done, 1, memory_order_relaxed);
}

struct cpu_ctx {
    unsigned jobs;
    uint64_t ns;
};

static void cpu_producer(void *arg)
{
    struct cpu_ctx *c = arg;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < c->jobs; i++)
        sys->submit(cpu_job, NULL);
    sys->wait();
    c->ns = bench_now_ns() - t0;
}

/*
 * Efficiency as issue 3 defines it: the CPU time the jobs used, over what
 * the workers could have given them in the wall time (workers x wall). Each
 * job measures its own thread's CPU time, so a VM that runs two jobs at once
 * slower than one alone does not count against the pool.
 */
/* Iterations for about 1 ms of work, calibrated on this thread. */
static void calibrate_1ms(void)
{
    uint64_t probe = 200000, best = UINT64_MAX;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = bench_now_ns();
        atomic_fetch_xor(&sink, spin(probe));
        uint64_t t = bench_now_ns() - t0;
        best = t < best ? t : best;
    }
    spin_iters = probe * 1000000u / best;
}

static void cpu_bound(unsigned workers, unsigned jobs)
{
    calibrate_1ms();
    atomic_store(&job_cpu_ns, 0);
    struct cpu_ctx c = {jobs, 0};
    sys->run_outside(cpu_producer, &c);
    double cpu = (double)atomic_load(&job_cpu_ns);
    printf("RESULT system=%s workload=cpu workers=%u jobs=%u job_us=%.1f ms=%.3f "
           "job_cpu_ms=%.3f efficiency=%.4f\n",
           sys->name, workers, jobs, cpu / jobs / 1e3, c.ns / 1e6, cpu / 1e6,
           cpu / ((double)workers * (double)c.ns));
}

/* --- 7. priorities: urgent probes behind a backlog ---------------------- */

#define PROBES 200

struct probe {
    uint64_t submitted;
    _Atomic uint64_t started;
    unsigned lows_done; /* when it started: the backlog must outlast the probes */
    sem_t *ran;         /* posted once started is set: the producer sleeps, never polls */
};

static void probe_job(void *arg)
{
    struct probe *p = arg;
    atomic_store_explicit(&p->started, bench_now_ns(), memory_order_release);
    p->lows_done = atomic_load_explicit(&cpu_jobs_done, memory_order_relaxed);
    sem_post(p->ran);
}

struct priority_ctx {
    unsigned lows;
    sem_t ran;
    struct probe probes[PROBES];
};

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* A backlog of 1 ms low-priority jobs, then urgent probes one at a time,
 * each submitted once the previous one has started, 1 ms apart: how long
 * does an urgent job wait behind the backlog? The producer waits for each
 * probe on a semaphore: a polling producer would take CPU from the very
 * workers whose jobs the probe waits behind (two cores, three threads). */
static void priority_producer(void *arg)
{
    struct priority_ctx *c = arg;
    for (unsigned i = 0; i < c->lows; i++)
        sys->submit_priority(cpu_job, NULL, 0);
    for (unsigned i = 0; i < PROBES; i++) {
        struct probe *p = &c->probes[i];
        p->ran = &c->ran;
        p->submitted = bench_now_ns();
        sys->submit_priority(probe_job, p, 1);
        while (sem_wait(&c->ran) != 0)
            ; /* EINTR */
        sleep_ns(1000000);
    }
    sys->wait();
}

static void priority_probes(unsigned workers, unsigned lows)
{
    if (sys->submit_priority == NULL) {
        printf("RESULT system=%s workload=priority workers=%u lows=%u na=1\n", sys->name, workers,
               lows);
        return;
    }
    calibrate_1ms();
    struct priority_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        fail("calloc");
    c->lows = lows;
    if (sem_init(&c->ran, 0, 0) != 0)
        fail("sem_init");
    atomic_store(&job_cpu_ns, 0);
    atomic_store(&cpu_jobs_done, 0);
    sys->run_outside(priority_producer, c);
    sem_destroy(&c->ran);
    uint64_t waits[PROBES];
    for (unsigned i = 0; i < PROBES; i++)
        waits[i] = atomic_load(&c->probes[i].started) - c->probes[i].submitted;
    qsort(waits, PROBES, sizeof waits[0], cmp_u64);
    /* backlog_left: low jobs not yet done when the last probe started; 0
     * means the probes outran the backlog and the figures are not its. */
    printf("RESULT system=%s workload=priority workers=%u lows=%u low_job_us=%.1f p50_ns=%llu "
           "p99_ns=%llu backlog_left=%u\n",
           sys->name, workers, lows, (double)atomic_load(&job_cpu_ns) / lows / 1e3,
           (unsigned long long)waits[PROBES / 2], (unsigned long long)waits[PROBES * 99 / 100],
           lows - c->probes[PROBES - 1].lows_done);
    free(c);
}

/* --- 6. several producers ----------------------------------------------- */

#include <pthread.h>

struct producer_arg {
    uint64_t jobs;
    pthread_barrier_t *start;
};

static void *producer_thread(void *arg)
{
    struct producer_arg *p = arg;
    pthread_barrier_wait(p->start);
    for (uint64_t i = 0; i < p->jobs; i++)
        sys->submit(count_job, NULL);
    return NULL;
}

static void producers(unsigned workers, unsigned nproducers, uint64_t jobs)
{
    if (!sys->concurrent_producers) {
        printf("RESULT system=%s workload=producers workers=%u producers=%u na=1\n", sys->name,
               workers, nproducers);
        return;
    }
    pthread_t t[16];
    struct producer_arg a[16];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, nproducers + 1);
    atomic_store(&counter, 0);
    for (unsigned i = 0; i < nproducers; i++) {
        a[i] = (struct producer_arg){jobs / nproducers, &start};
        pthread_create(&t[i], NULL, producer_thread, &a[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < nproducers; i++)
        pthread_join(t[i], NULL);
    sys->wait();
    uint64_t ns = bench_now_ns() - t0;
    uint64_t total = jobs / nproducers * nproducers;
    if (atomic_load(&counter) != total)
        fail("lost jobs");
    printf("RESULT system=%s workload=producers workers=%u producers=%u jobs=%llu "
           "mjobs_per_s=%.3f\n",
           sys->name, workers, nproducers, (unsigned long long)total, total * 1e3 / (double)ns);
    pthread_barrier_destroy(&start);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s empty|latency|sum_jobs|sum_pfor|fib|fib2|cpu|producers|priority WORKERS "
                "[PARAM]\n",
                argv[0]);
        return 2;
    }
    const char *w = argv[1];
    unsigned workers = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned long param = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
    if (sys->start(workers) != 0)
        fail("start");
    if (strcmp(w, "empty") == 0)
        empty_jobs(workers, param ? param : 1000000);
    else if (strcmp(w, "latency") == 0)
        wake_latency(workers, param ? (unsigned)param : 5000);
    else if (strcmp(w, "sum_jobs") == 0 || strcmp(w, "sum_pfor") == 0)
        fine_sum(workers, param ? param : 1024, strcmp(w, "sum_pfor") == 0);
    else if (strcmp(w, "fib") == 0 || strcmp(w, "fib2") == 0)
        fork_join(workers, param ? (unsigned)param : 32, strcmp(w, "fib2") == 0 ? 2 : 1);
    else if (strcmp(w, "cpu") == 0)
        cpu_bound(workers, param ? (unsigned)param : 2000);
    else if (strcmp(w, "priority") == 0)
        priority_probes(workers, param ? (unsigned)param : 1200);
    else if (strcmp(w, "producers") == 0)
        producers(workers, param ? (unsigned)param : 1, 1000000);
    else
        fail("unknown workload");
    sys->stop();
    return 0;
}
