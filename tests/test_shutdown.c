/* test_shutdown.c - drain, discard, deadlines, escalation, concurrent callers,
 * destroy from a worker. */
#include "helpers.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOBS 200

/* Each numbered job records whether it ran or was discarded. */
struct ledger {
    atomic_uint ran[JOBS], dropped[JOBS];
    atomic_uint foreign_discards;
    atomic_uint stopped;
};

static struct ledger *ledger_new(void)
{
    struct ledger *l = calloc(1, sizeof *l);
    assert_non_null(l);
    return l;
}

struct numbered {
    struct ledger *ledger;
    unsigned id;
};

static void numbered_job(void *arg)
{
    struct numbered *n = arg;
    atomic_fetch_add(&n->ledger->ran[n->id], 1);
}

static void on_discard(rail_fn fn, void *arg, void *ctx)
{
    struct ledger *l = ctx;
    if (fn != numbered_job) {
        atomic_fetch_add(&l->foreign_discards, 1);
        return;
    }
    struct numbered *n = arg;
    atomic_fetch_add(&l->dropped[n->id], 1);
}

static void on_stop(unsigned worker, void *ctx)
{
    (void)worker;
    atomic_fetch_add(&((struct ledger *)ctx)->stopped, 1);
}

static rail_pool *ledger_pool(struct ledger *l, unsigned threads)
{
    rail_pool *pool;
    rail_options o = {
        .threads = threads, .on_discard = on_discard, .on_worker_stop = on_stop, .ctx = l};
    assert_int_equal(rail_pool_create(&pool, &o), 0);
    return pool;
}

static void drain_runs_everything(void **state)
{
    (void)state;
    struct ledger *l = ledger_new();
    rail_pool *pool = ledger_pool(l, 2);
    struct numbered jobs[JOBS];
    for (unsigned i = 0; i < JOBS; i++) {
        jobs[i] = (struct numbered){l, i};
        assert_int_equal(rail_submit(pool, numbered_job, &jobs[i]), 0);
    }
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0);
    for (unsigned i = 0; i < JOBS; i++) {
        assert_int_equal(atomic_load(&l->ran[i]), 1);
        assert_int_equal(atomic_load(&l->dropped[i]), 0);
    }
    assert_int_equal(atomic_load(&l->stopped), 2); /* workers joined */
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.completed, JOBS);
    assert_int_equal(st.threads, 0);
    rail_pool_destroy(pool);
    free(l);
}

struct spawner {
    rail_pool *pool;
    struct gate gate;
    atomic_uint children, spawn_failed;
};

static void child_job(void *arg)
{
    atomic_fetch_add(&((struct spawner *)arg)->children, 1);
}

static void spawn_after_gate(void *arg)
{
    struct spawner *s = arg;
    gate_job(&s->gate);
    for (int i = 0; i < 10; i++)
        if (rail_submit(s->pool, child_job, s) != 0)
            atomic_fetch_add(&s->spawn_failed, 1);
}

/* A pool of `threads` whose first job is parked at the gate, ready to
 * spawn 10 children once it opens. */
static void spawner_start(struct spawner *s, unsigned threads)
{
    s->pool = make_pool(threads, 0);
    gate_init(&s->gate);
    atomic_init(&s->children, 0);
    atomic_init(&s->spawn_failed, 0);
    assert_int_equal(rail_submit(s->pool, spawn_after_gate, s), 0);
    gate_wait_arrived(&s->gate, 1);
}

static void *drain_in_thread(void *pool)
{
    return (void *)(intptr_t)rail_shutdown(pool, RAIL_DRAIN, NULL);
}

static void drain_runs_what_jobs_spawn(void **state)
{
    (void)state;
    struct spawner s;
    spawner_start(&s, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drain_in_thread, s.pool), 0);
    wait_until(pool_refuses, s.pool); /* the drain has begun */
    gate_open(&s.gate);               /* now the job spawns children */
    void *rc;
    pthread_join(t, &rc);
    assert_int_equal((intptr_t)rc, 0);
    assert_int_equal(atomic_load(&s.spawn_failed), 0);
    assert_int_equal(atomic_load(&s.children), 10);
    rail_pool_destroy(s.pool);
    gate_destroy(&s.gate);
}

static void discard_drops_queued_jobs_exactly_once(void **state)
{
    (void)state;
    struct ledger *l = ledger_new();
    rail_pool *pool = ledger_pool(l, 1);
    struct gate g;
    park_worker(pool, &g);
    struct numbered jobs[JOBS];
    for (unsigned i = 0; i < JOBS; i++) {
        jobs[i] = (struct numbered){l, i};
        assert_int_equal(rail_submit(pool, numbered_job, &jobs[i]), 0);
    }
    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, &d), ETIMEDOUT); /* gate job runs on */
    for (unsigned i = 0; i < JOBS; i++) /* dropped before the deadline passed */
        assert_int_equal(atomic_load(&l->dropped[i]), 1);
    gate_open(&g);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, NULL), 0);
    for (unsigned i = 0; i < JOBS; i++) {
        assert_int_equal(atomic_load(&l->ran[i]), 0);
        assert_int_equal(atomic_load(&l->dropped[i]), 1);
    }
    assert_int_equal(atomic_load(&l->foreign_discards), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.discarded, JOBS);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.submitted, JOBS + 1);
    rail_pool_destroy(pool);
    gate_destroy(&g);
    free(l);
}

static void *forty_two(void *arg)
{
    (void)arg;
    return (void *)42;
}

static void discard_cancels_groups_and_futures(void **state)
{
    (void)state;
    struct ledger *l = ledger_new();
    rail_pool *pool = ledger_pool(l, 1);
    struct gate g;
    park_worker(pool, &g);

    struct numbered jobs[3] = {{l, 0}, {l, 1}, {l, 2}};
    rail_group group;
    assert_int_equal(rail_group_init(&group, pool), 0);
    assert_int_equal(rail_group_submit(&group, numbered_job, &jobs[0]), 0);
    assert_int_equal(rail_group_submit(&group, numbered_job, &jobs[1]), 0);
    rail_future *f;
    assert_int_equal(rail_async(pool, forty_two, NULL, &f), 0);
    assert_int_equal(rail_submit(pool, numbered_job, &jobs[2]), 0);

    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, &(struct timespec){0, 0}), ETIMEDOUT);
    assert_int_equal(rail_group_wait(&group, NULL), ECANCELED);
    assert_int_equal(rail_group_wait(&group, NULL), 0); /* reset by the wait: reusable */
    void *result = (void *)1;
    assert_int_equal(rail_future_wait(f, &result, NULL), ECANCELED);
    assert_null(result);
    assert_int_equal(rail_future_cancel(f), 0); /* it will never run */
    rail_future_release(f);
    rail_group_destroy(&group);

    gate_open(&g);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, NULL), 0);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&l->ran[i]), 0);
        assert_int_equal(atomic_load(&l->dropped[i]), 1);
    }
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.discarded, 4); /* the future counts, though it has no on_discard */
    rail_pool_destroy(pool);
    gate_destroy(&g);
    free(l);
}

static void timed_out_drain_then_discard_escalates(void **state)
{
    (void)state;
    struct ledger *l = ledger_new();
    rail_pool *pool = ledger_pool(l, 1);
    struct gate g;
    park_worker(pool, &g);
    struct numbered jobs[50];
    for (unsigned i = 0; i < 50; i++) {
        jobs[i] = (struct numbered){l, i};
        assert_int_equal(rail_submit(pool, numbered_job, &jobs[i]), 0);
    }
    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, &d), ETIMEDOUT);
    assert_true(pool_refuses(pool)); /* still shutting down */
    d = ms_from_now(20);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, &d), ETIMEDOUT);
    for (unsigned i = 0; i < 50; i++)
        assert_int_equal(atomic_load(&l->dropped[i]), 1);
    gate_open(&g);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0); /* no de-escalation needed */
    for (unsigned i = 0; i < 50; i++)
        assert_int_equal(atomic_load(&l->ran[i]), 0);
    rail_pool_destroy(pool);
    gate_destroy(&g);
    free(l);
}

static void discard_refuses_workers_submissions(void **state)
{
    (void)state;
    struct spawner s;
    spawner_start(&s, 1);
    assert_int_equal(rail_shutdown(s.pool, RAIL_DISCARD, &(struct timespec){0, 0}), ETIMEDOUT);
    gate_open(&s.gate);
    assert_int_equal(rail_shutdown(s.pool, RAIL_DISCARD, NULL), 0);
    assert_int_equal(atomic_load(&s.spawn_failed), 10);
    assert_int_equal(atomic_load(&s.children), 0);
    rail_pool_destroy(s.pool);
    gate_destroy(&s.gate);
}

static void *shutdown_in_thread(void *pool)
{
    return (void *)(intptr_t)rail_shutdown(pool, RAIL_DRAIN, NULL);
}

static void concurrent_shutdowns_all_return(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        rail_pool *pool = make_pool(2, 0);
        atomic_uint n = 0;
        for (int i = 0; i < 500; i++)
            assert_int_equal(rail_submit(pool, count_job, &n), 0);
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            assert_int_equal(pthread_create(&t[i], NULL, shutdown_in_thread, pool), 0);
        for (int i = 0; i < 3; i++) {
            void *rc;
            pthread_join(t[i], &rc);
            assert_int_equal((intptr_t)rc, 0);
        }
        assert_int_equal(atomic_load(&n), 500);
        rail_pool_destroy(pool);
    }
}

static void destroy_self(void *pool)
{
    rail_pool_destroy(pool);
}

static void destroy_from_worker_aborts(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A clean child: it only has the thread that forked. */
        rail_pool *pool;
        if (rail_pool_create(&pool, &(rail_options){.threads = 1}) != 0)
            _exit(3);
        rail_submit(pool, destroy_self, pool);
        rail_wait_idle(pool, NULL);
        _exit(0); /* not reached when the pool aborts */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void idle_pool_shuts_down_at_once(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(4, 0);
    struct timespec d = ms_from_now(5000);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, &d), 0);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, &d), 0);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drain_runs_everything),
        cmocka_unit_test(drain_runs_what_jobs_spawn),
        cmocka_unit_test(discard_drops_queued_jobs_exactly_once),
        cmocka_unit_test(discard_cancels_groups_and_futures),
        cmocka_unit_test(timed_out_drain_then_discard_escalates),
        cmocka_unit_test(discard_refuses_workers_submissions),
        cmocka_unit_test(concurrent_shutdowns_all_return),
        cmocka_unit_test(destroy_from_worker_aborts),
        cmocka_unit_test(idle_pool_shuts_down_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
