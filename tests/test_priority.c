/*
 * test_priority.c - priority levels: the most urgent waiting level first,
 * the starvation bound, and each level its own queue for backpressure,
 * shutdown, on_discard and stats.
 */
#include "helpers.h"

/* Records the order jobs run in (one worker: no race on the log). */
struct log {
    atomic_uint n;
    int order[512];
};

struct entry {
    struct log *log;
    int id;
};

static void record(void *arg)
{
    struct entry *e = arg;
    unsigned i = atomic_fetch_add(&e->log->n, 1);
    if (i < 512)
        e->log->order[i] = e->id;
}

static void most_urgent_level_runs_first(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate g;
    park_worker(pool, &g);
    struct log log = {0};
    struct entry low = {&log, RAIL_PRIORITY_LOW}, normal = {&log, RAIL_PRIORITY_NORMAL},
                 high = {&log, RAIL_PRIORITY_HIGH};
    /* Queued least urgent first, so FIFO order would be the reverse. */
    assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_LOW, record, &low), 0);
    assert_int_equal(rail_submit(pool, record, &normal), 0);
    assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_HIGH, record, &high), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.queued_at[RAIL_PRIORITY_LOW], 1);
    assert_int_equal(st.queued_at[RAIL_PRIORITY_NORMAL], 1);
    assert_int_equal(st.queued_at[RAIL_PRIORITY_HIGH], 1);
    gate_open(&g);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&log.n), 3);
    assert_int_equal(log.order[0], RAIL_PRIORITY_HIGH);
    assert_int_equal(log.order[1], RAIL_PRIORITY_NORMAL);
    assert_int_equal(log.order[2], RAIL_PRIORITY_LOW);
    rail_pool_stats(pool, &st);
    assert_int_equal(st.submitted_at[RAIL_PRIORITY_LOW], 1);
    assert_int_equal(st.submitted_at[RAIL_PRIORITY_NORMAL], 2); /* and the gate job */
    assert_int_equal(st.submitted_at[RAIL_PRIORITY_HIGH], 1);
    assert_int_equal(st.submitted, 4);
    assert_int_equal(st.completed, 4);
    rail_pool_destroy(pool);
    gate_destroy(&g);
}

/* Where a job of the given level runs among `urgent` more urgent ones
 * queued after it, with one worker. */
static int position_among(int level, int urgent_level, int urgent)
{
    rail_pool *pool = make_pool(1, 0);
    struct gate g;
    park_worker(pool, &g);
    static struct log log;
    atomic_store(&log.n, 0);
    struct entry waiting = {&log, -1};
    static struct entry others[400];
    assert_true(urgent <= 400);
    assert_int_equal(rail_submit_priority(pool, level, record, &waiting), 0);
    for (int i = 0; i < urgent; i++) {
        others[i] = (struct entry){&log, i};
        assert_int_equal(rail_submit_priority(pool, urgent_level, record, &others[i]), 0);
    }
    gate_open(&g);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&log.n), urgent + 1);
    int pos = -1;
    for (int i = 0; i <= urgent; i++)
        if (log.order[i] == -1)
            pos = i;
    rail_pool_destroy(pool);
    gate_destroy(&g);
    return pos;
}

/* A LOW job behind a stream of HIGH ones is passed over exactly
 * RAIL_PRIORITY_PASS_MAX times, then runs: without the bound it would run
 * last, 300th. */
static void low_level_is_not_starved(void **state)
{
    (void)state;
    int pos = position_among(RAIL_PRIORITY_LOW, RAIL_PRIORITY_HIGH, 300);
    assert_int_equal(pos, RAIL_PRIORITY_PASS_MAX);
    pos = position_among(RAIL_PRIORITY_NORMAL, RAIL_PRIORITY_HIGH, 300);
    assert_int_equal(pos, RAIL_PRIORITY_PASS_MAX);
    pos = position_among(RAIL_PRIORITY_LOW, RAIL_PRIORITY_NORMAL, 300);
    assert_int_equal(pos, RAIL_PRIORITY_PASS_MAX);
}

/* With all three levels busy, the middle one is not starved either: every
 * level is served within PASS_MAX + 2 takes. */
static void every_level_is_served_within_the_bound(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate g;
    park_worker(pool, &g);
    static struct log log;
    atomic_store(&log.n, 0);
    enum { EACH = 100 };
    static struct entry e[3][EACH];
    const int levels[3] = {RAIL_PRIORITY_LOW, RAIL_PRIORITY_NORMAL, RAIL_PRIORITY_HIGH};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < EACH; i++) {
            e[k][i] = (struct entry){&log, levels[k]};
            assert_int_equal(rail_submit_priority(pool, levels[k], record, &e[k][i]), 0);
        }
    gate_open(&g);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&log.n), 3 * EACH);
    /* While a level still has jobs, no run of other levels' jobs is longer
     * than PASS_MAX + 1. */
    int left[3] = {EACH, EACH, EACH}, since[3] = {0, 0, 0}, high_seen = 0;
    for (int i = 0; i < 3 * EACH; i++) {
        int lvl = log.order[i];
        high_seen += lvl == RAIL_PRIORITY_HIGH;
        for (int l = 0; l < 3; l++) {
            if (l == lvl) {
                since[l] = 0;
                left[l]--;
            } else if (left[l] > 0) {
                since[l]++;
                assert_true(since[l] <= RAIL_PRIORITY_PASS_MAX + 1);
            }
        }
    }
    assert_int_equal(log.order[0], RAIL_PRIORITY_HIGH);
    assert_int_equal(high_seen, EACH);
    rail_pool_destroy(pool);
    gate_destroy(&g);
}

/* queue_capacity bounds each level on its own. */
static void each_level_has_its_own_capacity(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 2);
    struct gate g;
    park_worker(pool, &g);
    atomic_uint ran = 0;
    for (int l = 0; l < RAIL_PRIORITIES; l++) {
        assert_int_equal(rail_try_submit_priority(pool, l, count_job, &ran), 0);
        assert_int_equal(rail_try_submit_priority(pool, l, count_job, &ran), 0);
    }
    assert_int_equal(rail_try_submit_priority(pool, RAIL_PRIORITY_HIGH, count_job, &ran), EAGAIN);
    assert_int_equal(rail_try_submit_priority(pool, RAIL_PRIORITY_LOW, count_job, &ran), EAGAIN);
    assert_int_equal(rail_try_submit_priority(pool, RAIL_PRIORITY_LOW, count_job, &ran), EAGAIN);
    struct timespec past = ms_from_now(0);
    assert_int_equal(rail_timed_submit_priority(pool, RAIL_PRIORITY_NORMAL, count_job, &ran, &past),
                     ETIMEDOUT);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.rejected_at[RAIL_PRIORITY_HIGH], 1);
    assert_int_equal(st.rejected_at[RAIL_PRIORITY_NORMAL], 1);
    assert_int_equal(st.rejected_at[RAIL_PRIORITY_LOW], 2);
    assert_int_equal(st.rejected, 4);
    for (int l = 0; l < RAIL_PRIORITIES; l++)
        assert_int_equal(st.queued_at[l], 2);
    assert_int_equal(st.queued, 6);
    gate_open(&g);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&ran), 6);
    rail_pool_destroy(pool);
    gate_destroy(&g);
}

static atomic_uint discarded;

static void count_discard(rail_fn fn, void *arg, void *ctx)
{
    (void)fn;
    (void)arg;
    (void)ctx;
    atomic_fetch_add(&discarded, 1);
}

/* RAIL_DISCARD drops every level's waiting jobs through on_discard;
 * RAIL_DRAIN runs every level's. */
static void shutdown_treats_every_level_alike(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        rail_pool *pool = NULL;
        rail_options o = {.threads = 1, .on_discard = count_discard};
        assert_int_equal(rail_pool_create(&pool, &o), 0);
        struct gate g;
        park_worker(pool, &g);
        atomic_uint ran = 0;
        atomic_store(&discarded, 0);
        for (int l = 0; l < RAIL_PRIORITIES; l++)
            for (int i = 0; i < 5; i++)
                assert_int_equal(rail_submit_priority(pool, l, count_job, &ran), 0);
        if (mode == 0) {
            assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, &(struct timespec){0}), ETIMEDOUT);
            gate_open(&g);
            assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, NULL), 0);
            assert_int_equal(atomic_load(&discarded), 15);
            assert_int_equal(atomic_load(&ran), 0);
        } else {
            gate_open(&g);
            assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0);
            assert_int_equal(atomic_load(&discarded), 0);
            assert_int_equal(atomic_load(&ran), 15);
        }
        for (int l = 0; l < RAIL_PRIORITIES; l++)
            assert_int_equal(rail_submit_priority(pool, l, count_job, &ran), ESHUTDOWN);
        rail_stats st;
        rail_pool_stats(pool, &st);
        assert_int_equal(st.submitted, 16);
        assert_int_equal(st.completed + st.discarded, 16);
        rail_pool_destroy(pool);
        gate_destroy(&g);
    }
}

struct spawner {
    rail_pool *pool;
    atomic_uint ran;
};

static void child(void *arg)
{
    atomic_fetch_add(&((struct spawner *)arg)->ran, 1);
}

/* From a worker, every priority goes on its own deque and runs. */
static void priority_from_a_worker_goes_on_its_deque(void *arg)
{
    struct spawner *s = arg;
    for (int l = 0; l < RAIL_PRIORITIES; l++)
        assert_int_equal(rail_submit_priority(s->pool, l, child, s), 0);
}

static void workers_submit_at_any_priority(void **state)
{
    (void)state;
    struct spawner s = {make_pool(2, 0), 0};
    assert_int_equal(rail_submit(s.pool, priority_from_a_worker_goes_on_its_deque, &s), 0);
    assert_int_equal(rail_wait_idle(s.pool, NULL), 0);
    assert_int_equal(atomic_load(&s.ran), RAIL_PRIORITIES);
    rail_stats st;
    rail_pool_stats(s.pool, &st);
    assert_int_equal(st.submitted_at[RAIL_PRIORITY_HIGH] + st.submitted_at[RAIL_PRIORITY_LOW], 0);
    assert_int_equal(st.submitted, 1 + RAIL_PRIORITIES);
    rail_pool_destroy(s.pool);
}

static void unknown_priority_is_einval(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    atomic_uint ran = 0;
    assert_int_equal(rail_submit_priority(pool, (rail_priority)RAIL_PRIORITIES, count_job, &ran),
                     EINVAL);
    assert_int_equal(rail_try_submit_priority(pool, (rail_priority)-1, count_job, &ran), EINVAL);
    assert_int_equal(rail_timed_submit_priority(pool, (rail_priority)7, count_job, &ran, NULL),
                     EINVAL);
    assert_int_equal(rail_submit_priority(NULL, RAIL_PRIORITY_HIGH, count_job, &ran), EINVAL);
    assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_HIGH, NULL, &ran), EINVAL);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.submitted, 0);
    rail_pool_destroy(pool);
}

struct gated_entry {
    struct entry entry;
    struct gate *gate;
};

static void record_then_park(void *arg)
{
    struct gated_entry *g = arg;
    record(&g->entry);
    gate_job(g->gate);
}

/* An unbounded pool's worker claims several jobs of a level at once and
 * keeps them on its deque; each still runs only in its level's turn. Urgent
 * jobs that arrive while the batch's first runs come before the rest of
 * it, all of them (the last batched job, put back while an urgent batch
 * was claimed, once ran before that batch's tail). */
static void batched_jobs_wait_their_turn(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate g0, g1;
    park_worker(pool, &g0);
    gate_init(&g1);
    static struct log log;
    atomic_store(&log.n, 0);
    struct gated_entry first = {{&log, 10}, &g1};
    struct entry low2 = {&log, 11}, high[3] = {{&log, 20}, {&log, 21}, {&log, 22}};
    assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_LOW, record_then_park, &first), 0);
    assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_LOW, record, &low2), 0);
    gate_open(&g0); /* the worker claims both low jobs, runs the first */
    gate_wait_arrived(&g1, 1);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.queued, 1);                       /* the second low job, */
    assert_int_equal(st.queued_at[RAIL_PRIORITY_LOW], 0); /* on the worker's deque */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rail_submit_priority(pool, RAIL_PRIORITY_HIGH, record, &high[i]), 0);
    gate_open(&g1);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&log.n), 5);
    const int expect[5] = {10, 20, 21, 22, 11};
    for (int i = 0; i < 5; i++)
        assert_int_equal(log.order[i], expect[i]);
    rail_pool_destroy(pool);
    gate_destroy(&g0);
    gate_destroy(&g1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(most_urgent_level_runs_first),
        cmocka_unit_test(low_level_is_not_starved),
        cmocka_unit_test(every_level_is_served_within_the_bound),
        cmocka_unit_test(each_level_has_its_own_capacity),
        cmocka_unit_test(shutdown_treats_every_level_alike),
        cmocka_unit_test(workers_submit_at_any_priority),
        cmocka_unit_test(unknown_priority_is_einval),
        cmocka_unit_test(batched_jobs_wait_their_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
