/*
 * test_overflow.c - the unbounded spill queue (src/overflow.c) on its own,
 * and an unbounded pool's bursts through it. Every item is accounted for
 * exactly: each is seen once, none is lost, and one consumer sees each
 * producer's items in the order they were pushed.
 */
#include "helpers.h"

#include "overflow.h"

#define PRODUCERS 3
#define CONSUMERS 3

static unsigned per_producer(void)
{
    const char *s = getenv("RAIL_STRESS_ITERS");
    unsigned iters = s != NULL ? (unsigned)atoi(s) : 50;
    return iters * 1000u; /* segments are 511 slots: many of them */
}

static struct job item(uintptr_t value)
{
    return (struct job){.arg = (void *)value, .kind = 0};
}

static void fifo_across_segments_single_thread(void **state)
{
    (void)state;
    struct overflow q = {0};
    struct job job;
    assert_int_equal(rail__overflow_pop(&q, &job), 0);
    assert_int_equal(rail__overflow_length(&q), 0);
    const uintptr_t n = 511 * 3 + 7; /* across segment ends and a part-used last */
    for (uintptr_t i = 0; i < n; i++) {
        assert_int_equal(rail__overflow_push(&q, &(struct job){.arg = (void *)i}), 0);
        assert_int_equal(rail__overflow_length(&q), i + 1);
    }
    for (uintptr_t i = 0; i < n; i++) {
        assert_int_equal(rail__overflow_pop(&q, &job), 1);
        assert_int_equal((uintptr_t)job.arg, i);
        assert_int_equal(rail__overflow_length(&q), n - i - 1);
    }
    assert_int_equal(rail__overflow_pop(&q, &job), 0);
    /* Batches: in order, never past a segment's end or the tail. */
    for (uintptr_t i = 0; i < n; i++)
        assert_int_equal(rail__overflow_push(&q, &(struct job){.arg = (void *)i}), 0);
    struct job batch[10];
    uintptr_t expect = 0;
    size_t got;
    while ((got = rail__overflow_pop_batch(&q, batch, 10)) != 0) {
        assert_true(got <= 10);
        for (size_t k = 0; k < got; k++)
            assert_int_equal((uintptr_t)batch[k].arg, expect++);
        /* a batch ends at a segment end (every 511 slots; the first fill
         * used n of them) or at the tail */
        assert_true(got == 10 || (n + expect) % 511 == 0 || expect == n);
        assert_int_equal(rail__overflow_length(&q), n - expect);
    }
    assert_int_equal(expect, n);
    /* Refilled after emptying, and freed with jobs left in it. */
    for (uintptr_t i = 0; i < 600; i++)
        assert_int_equal(rail__overflow_push(&q, &(struct job){.arg = (void *)i}), 0);
    assert_int_equal(rail__overflow_pop(&q, &job), 1);
    assert_int_equal((uintptr_t)job.arg, 0);
    rail__overflow_destroy(&q);
}

struct shared {
    struct overflow q;
    unsigned n;                  /* items per producer */
    atomic_uint popped;          /* by all consumers */
    _Atomic unsigned char *seen; /* one flag per item */
    atomic_uint duplicates, disorders;
};

struct producer {
    struct shared *s;
    uintptr_t id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uintptr_t i = 0; i < p->s->n; i++) {
        struct job job = item(p->id << 32 | i);
        assert_int_equal(rail__overflow_push(&p->s->q, &job), 0);
    }
    return NULL;
}

struct consumer {
    struct shared *s;
    size_t batch; /* 1: rail__overflow_pop(); more: rail__overflow_pop_batch() */
};

static size_t pop_some(struct consumer *c, struct job *jobs)
{
    if (c->batch == 1)
        return (size_t)rail__overflow_pop(&c->s->q, jobs);
    size_t n = rail__overflow_pop_batch(&c->s->q, jobs, c->batch);
    if (n > c->batch)
        atomic_fetch_add(&c->s->duplicates, 1); /* more than asked for */
    return n;
}

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct shared *s = c->s;
    long last[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    unsigned total = s->n * PRODUCERS;
    struct job jobs[16];
    size_t n = 0, next = 0;
    while (atomic_load(&s->popped) < total) {
        if (next == n) {
            next = 0;
            if ((n = pop_some(c, jobs)) == 0) {
                sched_yield();
                continue;
            }
        }
        struct job job = jobs[next++];
        uintptr_t v = (uintptr_t)job.arg;
        unsigned producer = (unsigned)(v >> 32), seq = (unsigned)(v & 0xffffffffu);
        if (producer >= PRODUCERS || seq >= s->n) {
            atomic_fetch_add(&s->duplicates, 1); /* garbage counts as wrong */
            continue;
        }
        if (atomic_exchange(&s->seen[producer * s->n + seq], 1) != 0)
            atomic_fetch_add(&s->duplicates, 1);
        if ((long)seq <= last[producer])
            atomic_fetch_add(&s->disorders, 1);
        last[producer] = (long)seq;
        atomic_fetch_add(&s->popped, 1);
    }
    return NULL;
}

static void concurrent_producers_and_consumers_account_for_every_item(void **state)
{
    (void)state;
    struct shared s = {.n = per_producer()};
    s.seen = calloc((size_t)s.n * PRODUCERS, 1);
    assert_non_null(s.seen);
    pthread_t producers[PRODUCERS], consumers[CONSUMERS];
    struct producer p[PRODUCERS];
    /* One consumer pops one at a time, the others in batches (up to 7 and
     * 16), which also end at segment ends. */
    struct consumer c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        c[i] = (struct consumer){&s, i == 0 ? 1 : i == 1 ? 7 : 16};
        assert_int_equal(pthread_create(&consumers[i], NULL, consume, &c[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){&s, (uintptr_t)i};
        assert_int_equal(pthread_create(&producers[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(consumers[i], NULL);

    assert_int_equal(atomic_load(&s.duplicates), 0);
    assert_int_equal(atomic_load(&s.disorders), 0);
    assert_int_equal(atomic_load(&s.popped), s.n * PRODUCERS);
    for (size_t i = 0; i < (size_t)s.n * PRODUCERS; i++)
        assert_int_equal(s.seen[i], 1);
    struct job job;
    assert_int_equal(rail__overflow_pop(&s.q, &job), 0);
    assert_int_equal(rail__overflow_length(&s.q), 0);
    rail__overflow_destroy(&s.q);
    free((void *)s.seen);
}

/* Through a pool: an unbounded pool's ring holds 4096 jobs, so bursts from
 * several threads while its one worker is parked go to the overflow. */
#define BURST 6000

struct burst {
    rail_pool *pool;
    atomic_uint *runs; /* one counter per job */
};

static void run_once(void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, 1);
}

static void *submit_burst(void *arg)
{
    struct burst *b = arg;
    for (unsigned i = 0; i < BURST; i++)
        assert_int_equal(rail_submit(b->pool, run_once, &b->runs[i]), 0);
    return NULL;
}

static void unbounded_pool_runs_every_job_of_concurrent_bursts(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    struct gate g1, g2;
    park_worker(pool, &g1);
    park_worker(pool, &g2);
    atomic_uint *runs = calloc((size_t)BURST * PRODUCERS, sizeof *runs);
    assert_non_null(runs);
    struct burst b[PRODUCERS];
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        b[i] = (struct burst){pool, runs + (size_t)i * BURST};
        assert_int_equal(pthread_create(&t[i], NULL, submit_burst, &b[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.queued, BURST * PRODUCERS); /* ring and overflow both */
    gate_open(&g1);
    gate_open(&g2);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    for (size_t i = 0; i < (size_t)BURST * PRODUCERS; i++)
        assert_int_equal(atomic_load(&runs[i]), 1);
    rail_pool_stats(pool, &st);
    assert_int_equal(st.submitted, BURST * PRODUCERS + 2);
    assert_int_equal(st.completed, BURST * PRODUCERS + 2);
    assert_int_equal(st.queued, 0);
    rail_pool_destroy(pool);
    gate_destroy(&g1);
    gate_destroy(&g2);
    free(runs);
}

static atomic_uint discarded;

static void count_discard(rail_fn fn, void *arg, void *ctx)
{
    (void)fn;
    (void)arg;
    (void)ctx;
    atomic_fetch_add(&discarded, 1);
}

/* A discarding shutdown reaches the overflow too: every job either ran or
 * was handed to on_discard, exactly once. */
static void discard_accounts_for_overflowed_jobs(void **state)
{
    (void)state;
    rail_pool *pool = NULL;
    rail_options o = {.threads = 1, .on_discard = count_discard};
    assert_int_equal(rail_pool_create(&pool, &o), 0);
    struct gate g;
    park_worker(pool, &g);
    atomic_uint ran = 0;
    atomic_store(&discarded, 0);
    for (unsigned i = 0; i < BURST; i++)
        assert_int_equal(rail_submit(pool, count_job, &ran), 0);
    gate_open(&g);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, NULL), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(atomic_load(&ran) + atomic_load(&discarded), BURST);
    assert_int_equal(st.discarded, atomic_load(&discarded));
    assert_int_equal(st.completed, atomic_load(&ran) + 1);
    assert_int_equal(st.submitted, BURST + 1);
    rail_pool_destroy(pool);
    gate_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_across_segments_single_thread),
        cmocka_unit_test(concurrent_producers_and_consumers_account_for_every_item),
        cmocka_unit_test(unbounded_pool_runs_every_job_of_concurrent_bursts),
        cmocka_unit_test(discard_accounts_for_overflowed_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
