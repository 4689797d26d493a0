/*
 * test_stress.c - exact accounting under load.
 *
 * Several producer threads take job ids from one counter and hand them to
 * the pool through a random mix of submit, try_submit, timed_submit, groups,
 * futures, join and parallel_for; jobs spawn children from inside. At a
 * random moment the main thread shuts the pool down, in a random mode. Then
 * every id is checked: accepted ids ran exactly once or were dropped exactly
 * once (on_discard, or a future's ECANCELED), refused ids never ran, and the
 * pool's counters agree.
 *
 * RAIL_STRESS_ITERS sets the number of rounds (default 40); RAIL_STRESS_SEED
 * replays one round's seed.
 */
#include "helpers.h"

#define MAX_IDS   20000u
#define PRODUCERS 3

struct round {
    rail_pool *pool;
    atomic_uint next_id;
    atomic_uchar accepted[MAX_IDS], ran[MAX_IDS], dropped[MAX_IDS];
    atomic_uint violations; /* things a producer saw that must never happen */
    atomic_uint discards;   /* on_discard calls */
    atomic_uint future_drops;
    unsigned seed;
    int use_parallel_for; /* its helper jobs count in stats but never reach on_discard */
};

static struct round *R; /* the round in progress: jobs carry only their id */

static unsigned take_id(void)
{
    return atomic_fetch_add(&R->next_id, 1);
}

static void job(void *arg);

static void spawn_child(void)
{
    unsigned cid = take_id();
    if (cid >= MAX_IDS)
        return;
    /* From a worker: never blocks; fails only once a discard began. */
    int rc = rail_submit(R->pool, job, (void *)(uintptr_t)cid);
    if (rc == 0)
        atomic_store(&R->accepted[cid], 1);
    else if (rc != ESHUTDOWN)
        atomic_fetch_add(&R->violations, 1);
}

static void job(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    atomic_fetch_add(&R->ran[id], 1);
    if (id % 5 == 0)
        spawn_child();
    for (volatile unsigned spin = (id % 3) * 300; spin > 0; spin--)
        ; /* uneven job lengths */
    if (id % 101 == 0)
        sleep_us(200); /* a slow job now and then: the queue backs up behind it */
}

static void *task(void *arg)
{
    job(arg);
    return arg;
}

static void on_discard(rail_fn fn, void *arg, void *ctx)
{
    struct round *r = ctx;
    if (fn != job) {
        atomic_fetch_add(&r->violations, 1);
        return;
    }
    atomic_fetch_add(&r->dropped[(uintptr_t)arg], 1);
    atomic_fetch_add(&r->discards, 1);
}

static void range_job(size_t b, size_t e, void *arg)
{
    (void)arg;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&R->ran[i], 1);
}

static int accept_if(int rc, unsigned id)
{
    if (rc == 0)
        atomic_store(&R->accepted[id], 1);
    else if (rc != EAGAIN && rc != ETIMEDOUT && rc != ESHUTDOWN)
        atomic_fetch_add(&R->violations, 1);
    return rc;
}

/* One producer step; returns ESHUTDOWN once the pool refuses outside work. */
static int produce(unsigned *seed)
{
    unsigned id = take_id();
    if (id >= MAX_IDS)
        return ESHUTDOWN;
    void *arg = (void *)(uintptr_t)id;
    switch (rand_r(seed) % (R->use_parallel_for ? 8 : 7)) {
    case 0:
    case 1: { /* a burst that is not waited for, so the queue runs deep */
        int rc = accept_if(rail_submit(R->pool, job, arg), id);
        for (unsigned k = rand_r(seed) % 32; k > 0 && rc == 0; k--) {
            unsigned more = take_id();
            if (more >= MAX_IDS)
                break;
            rc = accept_if(rail_submit(R->pool, job, (void *)(uintptr_t)more), more);
        }
        return rc;
    }
    case 2:
        return accept_if(rail_try_submit(R->pool, job, arg), id);
    case 3: {
        struct timespec d = rail_deadline((uint64_t)(rand_r(seed) % 200) * 1000);
        return accept_if(rail_timed_submit(R->pool, job, arg, &d), id);
    }
    case 4: { /* a group of this id and a few more */
        rail_group g;
        rail_group_init(&g, R->pool);
        int rc = accept_if(rail_group_submit(&g, job, arg), id);
        for (unsigned k = rand_r(seed) % 6; k > 0 && rc == 0; k--) {
            unsigned more = take_id();
            if (more >= MAX_IDS)
                break;
            rc = accept_if(rail_group_submit(&g, job, (void *)(uintptr_t)more), more);
        }
        int wrc = rail_group_wait(&g, NULL);
        if (wrc != 0 && wrc != ECANCELED)
            atomic_fetch_add(&R->violations, 1);
        rail_group_destroy(&g);
        return rc;
    }
    case 5: { /* a future: ECANCELED counts as its drop */
        rail_future *f;
        int rc = accept_if(rail_async(R->pool, task, arg, &f), id);
        if (rc != 0)
            return rc;
        if (rand_r(seed) % 4 == 0 && rail_future_cancel(f) == 0) {
            atomic_fetch_add(&R->dropped[id], 1);
            atomic_fetch_add(&R->future_drops, 1);
        } else {
            void *result = NULL;
            int wrc = rail_future_wait(f, &result, NULL);
            if (wrc == ECANCELED) {
                atomic_fetch_add(&R->dropped[id], 1);
                atomic_fetch_add(&R->future_drops, 1);
            } else if (wrc != 0 || result != arg)
                atomic_fetch_add(&R->violations, 1);
        }
        rail_future_release(f);
        return 0;
    }
    case 6: { /* join: a runs here; b is queued or runs here */
        unsigned b = take_id();
        if (b >= MAX_IDS)
            return accept_if(rail_submit(R->pool, job, arg), id);
        int rc = rail_join(R->pool, job, arg, job, (void *)(uintptr_t)b);
        if (rc == ESHUTDOWN)
            return rc;
        atomic_store(&R->accepted[id], 1);
        atomic_store(&R->accepted[b], 1);
        if (rc != 0 && rc != ECANCELED)
            atomic_fetch_add(&R->violations, 1);
        return 0;
    }
    default: { /* parallel_for over a block of fresh ids */
        unsigned first = atomic_fetch_add(&R->next_id, 15);
        if (first + 15 >= MAX_IDS) {
            atomic_store(&R->accepted[id], 1); /* run id directly: it is ours */
            job(arg);
            return 0;
        }
        int rc = rail_parallel_for(R->pool, first, first + 15, rand_r(seed) % 4, range_job, NULL);
        if (rc == ESHUTDOWN)
            return rc;
        for (unsigned i = first; i < first + 15; i++)
            atomic_store(&R->accepted[i], 1);
        atomic_store(&R->accepted[id], 1);
        job(arg); /* id itself runs on the producer */
        return rc == 0 ? 0 : (atomic_fetch_add(&R->violations, 1), 0);
    }
    }
}

static void *producer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (produce(&seed) != ESHUTDOWN)
        ;
    return NULL;
}

static int reached(void *threshold)
{
    return atomic_load(&R->next_id) >= (unsigned)(uintptr_t)threshold;
}

static void run_round(unsigned seed)
{
    static struct round round;
    memset(&round, 0, sizeof round);
    R = &round;
    R->seed = seed;
    unsigned s = seed;
    size_t capacities[] = {0, 1, 4, 64};
    rail_options o = {.threads = 1 + rand_r(&s) % 3,
                      .queue_capacity = capacities[rand_r(&s) % 4],
                      .on_discard = on_discard,
                      .ctx = R};
    rail_shutdown_mode mode = rand_r(&s) % 2 ? RAIL_DISCARD : RAIL_DRAIN;
    unsigned shutdown_at = rand_r(&s) % MAX_IDS;
    R->use_parallel_for = rand_r(&s) % 2;
    assert_int_equal(rail_pool_create(&R->pool, &o), 0);

    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)(seed * 7 + i)),
                         0);
    wait_until(reached, (void *)(uintptr_t)shutdown_at);
    assert_int_equal(rail_shutdown(R->pool, mode, NULL), 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);

    unsigned accepted = 0, bad = 0;
    for (unsigned id = 0; id < MAX_IDS; id++) {
        unsigned a = atomic_load(&R->accepted[id]), r = atomic_load(&R->ran[id]),
                 d = atomic_load(&R->dropped[id]);
        accepted += a;
        if ((a && r + d != 1) || (!a && (r | d) != 0)) {
            if (bad++ < 5)
                print_error("seed %u id %u: accepted %u ran %u dropped %u\n", seed, id, a, r, d);
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(atomic_load(&R->violations), 0);
    assert_true(accepted > 0 || shutdown_at < 10);

    rail_stats st;
    rail_pool_stats(R->pool, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.threads, 0);
    assert_int_equal(st.submitted, st.completed + st.discarded);
    uint64_t user_drops = atomic_load(&R->discards) + atomic_load(&R->future_drops);
    if (R->use_parallel_for)
        assert_true(st.discarded >= user_drops);
    else
        assert_int_equal(st.discarded, user_drops);
    if (mode == RAIL_DRAIN)
        assert_int_equal(atomic_load(&R->discards), 0);
    if (getenv("RAIL_STRESS_VERBOSE"))
        print_message("seed %u mode %s threads %u cap %zu pfor %d: accepted %u, discards %u, "
                      "future drops %u, completed %llu\n",
                      seed, mode == RAIL_DRAIN ? "drain" : "discard", o.threads, o.queue_capacity,
                      R->use_parallel_for, accepted, atomic_load(&R->discards),
                      atomic_load(&R->future_drops), (unsigned long long)st.completed);
    rail_pool_destroy(R->pool);
}

static void random_rounds_account_for_every_job(void **state)
{
    (void)state;
    const char *env = getenv("RAIL_STRESS_ITERS");
    const char *replay = getenv("RAIL_STRESS_SEED");
    unsigned iters = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 40;
    if (replay != NULL) {
        run_round((unsigned)strtoul(replay, NULL, 10));
        return;
    }
    unsigned base = (unsigned)time(NULL);
    print_message("stress: %u rounds from seed %u (replay one with RAIL_STRESS_SEED)\n", iters,
                  base);
    for (unsigned i = 0; i < iters; i++)
        run_round(base + i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_rounds_account_for_every_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
