/* test_fork.c - a pool used in a fork() child fails cleanly with ECHILD. */
#include "helpers.h"

#include <sys/wait.h>
#include <unistd.h>

static void *task(void *arg)
{
    return arg;
}

static void range_body(size_t b, size_t e, void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, (unsigned)(e - b));
}

/* Runs in the child; returns the number of calls that did not say ECHILD. */
static int child_checks(rail_pool *pool, rail_future *f)
{
    atomic_uint n = 0;
    int bad = 0;
    rail_group g;
    struct timespec d = rail_deadline(1000000);
    rail_future *f2 = NULL;
    bad += rail_submit(pool, count_job, &n) != ECHILD;
    bad += rail_try_submit(pool, count_job, &n) != ECHILD;
    bad += rail_timed_submit(pool, count_job, &n, &d) != ECHILD;
    bad += rail_wait_idle(pool, NULL) != ECHILD;
    bad += rail_shutdown(pool, RAIL_DRAIN, NULL) != ECHILD;
    bad += rail_group_init(&g, pool) != ECHILD;
    bad += rail_join(pool, count_job, &n, count_job, &n) != ECHILD;
    bad += rail_async(pool, task, NULL, &f2) != ECHILD;
    bad += rail_future_wait(f, NULL, NULL) != ECHILD;
    bad += rail_future_cancel(f) != ECHILD;
    bad += rail_parallel_for(pool, 0, 10, 1, range_body, &n) != ECHILD;
    rail_stats st;
    memset(&st, 0xff, sizeof st);
    rail_pool_stats(pool, &st);
    bad += st.submitted != 0 || st.threads != 0;
    bad += atomic_load(&n) != 0;
    rail_future_release(f);
    rail_pool_destroy(pool); /* frees without joining ghosts */
    return bad;
}

static void child_gets_echild_and_parent_goes_on(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    rail_future *f;
    assert_int_equal(rail_async(pool, task, (void *)5, &f), 0);
    assert_int_equal(rail_future_wait(f, NULL, NULL), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_checks(pool, f));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    atomic_uint n = 0; /* the parent's pool is untouched */
    assert_int_equal(rail_submit(pool, count_job, &n), 0);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&n), 1);
    rail_future_release(f);
    rail_pool_destroy(pool);
}

struct forking_job {
    rail_pool *pool;
    int child_status;
};

/* A job that forks: its thread is the child's only one, and no worker there. */
static void fork_in_job(void *arg)
{
    struct forking_job *fj = arg;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        atomic_uint n = 0;
        int bad = rail_join(fj->pool, count_job, &n, count_job, &n) != ECHILD;
        bad += rail_submit(fj->pool, count_job, &n) != ECHILD;
        bad += rail_worker_index() != -1;
        _exit(bad + (atomic_load(&n) != 0));
    }
    int status = -1;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        fj->child_status = WEXITSTATUS(status);
}

/* rail_join from a worker checks no fork generation: a fork from a job must
 * leave the child's thread no worker (it ran both halves on the parent's
 * deque copy before). */
static void fork_from_a_job_leaves_no_worker_in_the_child(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct forking_job fj = {pool, -1};
    assert_int_equal(rail_submit(pool, fork_in_job, &fj), 0);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(fj.child_status, 0);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(child_gets_echild_and_parent_goes_on),
        cmocka_unit_test(fork_from_a_job_leaves_no_worker_in_the_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
