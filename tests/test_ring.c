/*
 * test_ring.c - the injector ring (src/ring.c) on its own, and its batch
 * pop: every item is seen once, in each producer's order, and a batch is
 * never more than asked for nor past what was published.
 */
#include "helpers.h"

#include "ring.h"

#define PRODUCERS 2
#define CONSUMERS 3
#define CELLS     64 /* small: producers and consumers lap it often */

static void push(struct ring *r, uintptr_t value)
{
    size_t pos;
    struct ring_cell *cell;
    while ((cell = rail__ring_claim(r, SIZE_MAX, &pos)) == NULL)
        sched_yield(); /* full */
    rail__ring_publish(cell, pos, &(struct job){.arg = (void *)value});
}

static void batches_in_order_across_the_wrap(void **state)
{
    (void)state;
    struct ring r;
    assert_int_equal(rail__ring_init(&r, 16), 0);
    struct job jobs[8];
    assert_int_equal(rail__ring_pop_batch(&r, jobs, 8), 0);
    uintptr_t pushed = 0, popped = 0;
    for (int round = 0; round < 10; round++) { /* 10 x 11 pushes lap 16 cells */
        for (int i = 0; i < 11; i++)
            push(&r, pushed++);
        assert_int_equal(rail__ring_length(&r), pushed - popped);
        size_t n;
        while ((n = rail__ring_pop_batch(&r, jobs, 5)) != 0) {
            assert_true(n <= 5);
            for (size_t k = 0; k < n; k++)
                assert_int_equal((uintptr_t)jobs[k].arg, popped++);
        }
        assert_int_equal(popped, pushed);
    }
    /* A claimed, unpublished cell ends a batch: nothing past it is taken. */
    push(&r, pushed++);
    size_t pos;
    struct ring_cell *held = rail__ring_claim(&r, SIZE_MAX, &pos);
    assert_non_null(held);
    push(&r, pushed + 1);
    assert_int_equal(rail__ring_pop_batch(&r, jobs, 8), 1);
    assert_int_equal((uintptr_t)jobs[0].arg, popped);
    assert_int_equal(rail__ring_pop_batch(&r, jobs, 8), 0);
    rail__ring_publish(held, pos, &(struct job){.arg = (void *)pushed});
    assert_int_equal(rail__ring_pop_batch(&r, jobs, 8), 2);
    assert_int_equal((uintptr_t)jobs[0].arg, pushed);
    assert_int_equal((uintptr_t)jobs[1].arg, pushed + 1);
    rail__ring_destroy(&r);
}

struct shared {
    struct ring r;
    unsigned n; /* items per producer */
    atomic_uint popped;
    _Atomic unsigned char *seen;
    atomic_uint wrong;
};

struct producer {
    struct shared *s;
    uintptr_t id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uintptr_t i = 0; i < p->s->n; i++)
        push(&p->s->r, p->id << 32 | i);
    return NULL;
}

struct consumer {
    struct shared *s;
    size_t batch;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct shared *s = c->s;
    long last[PRODUCERS] = {-1, -1};
    struct job jobs[16];
    while (atomic_load(&s->popped) < s->n * PRODUCERS) {
        size_t n = c->batch == 1 ? (size_t)rail__ring_pop(&s->r, jobs)
                                 : rail__ring_pop_batch(&s->r, jobs, c->batch);
        if (n == 0) {
            sched_yield();
            continue;
        }
        if (n > c->batch)
            atomic_fetch_add(&s->wrong, 1);
        for (size_t k = 0; k < n; k++) {
            uintptr_t v = (uintptr_t)jobs[k].arg;
            unsigned producer = (unsigned)(v >> 32), seq = (unsigned)(v & 0xffffffffu);
            if (producer >= PRODUCERS || seq >= s->n ||
                atomic_exchange(&s->seen[producer * s->n + seq], 1) != 0 ||
                (long)seq <= last[producer]) {
                atomic_fetch_add(&s->wrong, 1); /* garbage, twice, or out of order */
                continue;
            }
            last[producer] = (long)seq;
            atomic_fetch_add(&s->popped, 1);
        }
    }
    return NULL;
}

static void concurrent_batches_account_for_every_item(void **state)
{
    (void)state;
    const char *iters = getenv("RAIL_STRESS_ITERS");
    struct shared s = {.n = (iters != NULL ? (unsigned)atoi(iters) : 50) * 2000u};
    assert_int_equal(rail__ring_init(&s.r, CELLS), 0);
    s.seen = calloc((size_t)s.n * PRODUCERS, 1);
    assert_non_null(s.seen);
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    struct producer p[PRODUCERS];
    struct consumer c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        c[i] = (struct consumer){&s, i == 0 ? 1 : i == 1 ? 3 : 16};
        assert_int_equal(pthread_create(&ct[i], NULL, consume, &c[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){&s, (uintptr_t)i};
        assert_int_equal(pthread_create(&pt[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    assert_int_equal(atomic_load(&s.wrong), 0);
    assert_int_equal(atomic_load(&s.popped), s.n * PRODUCERS);
    for (size_t i = 0; i < (size_t)s.n * PRODUCERS; i++)
        assert_int_equal(s.seen[i], 1);
    assert_int_equal(rail__ring_length(&s.r), 0);
    rail__ring_destroy(&s.r);
    free((void *)s.seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_in_order_across_the_wrap),
        cmocka_unit_test(concurrent_batches_account_for_every_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
