/*
 * test_idle_wake.c - a worker's last look before it sleeps (the re-check of
 * rail__sleep_idle()) must not try to wake anyone for the jobs that look
 * leaves on its deque: it counts itself among the sleepers then, so its
 * wake finds nobody, sees a sleeper and work, and tries again. In a pool
 * of one worker that went on for good (test_stress hung so about once in
 * 15 runs on a busy machine: the worker spinning in rail__sleep_wake_one(),
 * the epoch rising by a million a second, no job running).
 *
 * The window is a few instructions wide, so the test opens it on purpose:
 * the link wraps rail__worker_find_work() (sleep.c's call into worker.c)
 * and rail__futex_wake(). When the worker looks with itself counted as a
 * sleeper, the wrapper first queues jobs where that look finds them; the
 * futex wakes made during the look are counted, and after LOOPS_MAX of them
 * the wrapper says one thread was woken, which ends the loop so that the
 * test fails instead of hanging.
 */
#include "helpers.h"

#include "worker.h"

#include "futex.h"

enum { LOOPS_MAX = 1000 };

enum arm {
    ARM_NONE,
    ARM_BATCH,    /* queue 3 normal jobs: the look claims them as a batch */
    ARM_PUT_BACK, /* a batched normal job on the deque and a high job: the
                     look puts the batched one back and takes the high */
};

static atomic_int armed;        /* what the next re-check finds */
static atomic_uint looks_armed; /* re-checks that found what was armed */
static atomic_uint wakes;       /* futex wakes made during those looks */
static atomic_int look_found;   /* what the armed look returned */
static atomic_long look_left;   /* jobs it left on the worker's deque */
static _Thread_local int in_look;
static atomic_uint ran;

int __real_rail__worker_find_work(struct worker *w, struct job *job);
int __real_rail__futex_wake(atomic_uint *word, int count);
int __wrap_rail__worker_find_work(struct worker *w, struct job *job);
int __wrap_rail__futex_wake(atomic_uint *word, int count);

static void queue_outside(rail_pool *pool, rail_priority level)
{
    struct job job = {.fn = count_job, .arg = &ran, .kind = JOB_PLAIN, .level = level};
    size_t pos;
    struct ring_cell *cell = rail__ring_claim(&pool->levels[level].injector, SIZE_MAX, &pos);
    assert_non_null(cell);
    rail__ring_publish(cell, pos, &job);
}

/* The worker's re-check: it is counted among the sleepers, nobody searches. */
static int in_recheck(rail_pool *pool)
{
    return atomic_load(&pool->sleep.sleepers) != 0 && atomic_load(&pool->sleep.searching) == 0;
}

int __wrap_rail__worker_find_work(struct worker *w, struct job *job)
{
    int arm = atomic_load(&armed);
    if (arm == ARM_NONE || !in_recheck(w->pool))
        return __real_rail__worker_find_work(w, job);
    atomic_store(&armed, ARM_NONE);
    /* Jobs queued straight into the ring (this is the worker's thread: a
     * rail_submit() from here would go on its deque), counted as submitted
     * by their claims as any outside job. */
    if (arm == ARM_BATCH) {
        for (int i = 0; i < 3; i++)
            queue_outside(w->pool, RAIL_PRIORITY_NORMAL);
    } else {
        struct job batched = {.fn = count_job,
                              .arg = &ran,
                              .kind = JOB_PLAIN,
                              .level = RAIL_PRIORITY_NORMAL,
                              .batched = 1};
        queue_outside(w->pool, RAIL_PRIORITY_NORMAL); /* the batched job's claim */
        struct job claimed;
        assert_true(rail__ring_pop(&w->pool->levels[RAIL_PRIORITY_NORMAL].injector, &claimed));
        assert_int_equal(rail__deque_push(&w->deque, &batched), 0);
        queue_outside(w->pool, RAIL_PRIORITY_HIGH);
    }
    in_look = 1;
    int found = __real_rail__worker_find_work(w, job);
    in_look = 0;
    atomic_store(&look_found, found);
    atomic_store(&look_left, (long)rail__deque_length(&w->deque));
    atomic_fetch_add(&looks_armed, 1);
    return found;
}

int __wrap_rail__futex_wake(atomic_uint *word, int count)
{
    if (!in_look)
        return __real_rail__futex_wake(word, count);
    if (atomic_fetch_add(&wakes, 1) + 1 >= LOOPS_MAX)
        return 1; /* "woke one": ends rail__sleep_wake_one()'s loop */
    return __real_rail__futex_wake(word, count);
}

static int ran_all(void *n)
{
    return atomic_load(&ran) == *(unsigned *)n;
}

static int looked(void *unused)
{
    (void)unused;
    return atomic_load(&looks_armed) == 1;
}

/* One worker; the armed look happens at its first re-check, right after
 * the pool starts (nothing is queued, so its search finds nothing). */
static void recheck_finds(enum arm arm, unsigned jobs, long left)
{
    atomic_store(&ran, 0);
    atomic_store(&wakes, 0);
    atomic_store(&looks_armed, 0);
    atomic_store(&armed, arm);
    rail_pool *pool = make_pool(1, 0);
    wait_until(looked, NULL);
    assert_int_equal(atomic_load(&look_found), 1);
    assert_int_equal(atomic_load(&look_left), left); /* what a wake would be for */
    wait_until(ran_all, &jobs);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    rail_pool_destroy(pool);
    /* The look may wake nobody: the only sleeper it could see is itself. */
    if (atomic_load(&wakes) != 0)
        fail_msg("%u futex wakes from the worker's re-check (stopped at %d)", atomic_load(&wakes),
                 LOOPS_MAX);
    assert_int_equal(st.completed, jobs);
}

/* The re-check claims a batch of three and keeps two on its deque. */
static void recheck_batch_wakes_nobody(void **state)
{
    (void)state;
    recheck_finds(ARM_BATCH, 3, 2);
}

/* The re-check pops a batched job, finds the high level's turn first and
 * puts the batched job back. */
static void recheck_put_back_wakes_nobody(void **state)
{
    (void)state;
    recheck_finds(ARM_PUT_BACK, 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recheck_batch_wakes_nobody),
        cmocka_unit_test(recheck_put_back_wakes_nobody),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
