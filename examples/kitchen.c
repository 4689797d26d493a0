/*
 * kitchen.c - the classic demo: 4 chefs (workers), 10 tickets (jobs), each
 * takes 100 ms; then the kitchen closes gracefully and says what it did.
 */
#include <rail.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static void cook(void *arg)
{
    int ticket = (int)(size_t)arg;
    printf("worker %d processing job %d\n", rail_worker_index(), ticket);
    fflush(stdout);
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
}

int main(void)
{
    rail_pool *pool;
    int rc = rail_pool_create(&pool, &(rail_options){.threads = 4, .name = "chef"});
    if (rc != 0) {
        fprintf(stderr, "kitchen: rail_pool_create: %s\n", strerror(rc));
        return 1;
    }
    for (int ticket = 0; ticket < 10; ticket++) {
        rc = rail_submit(pool, cook, (void *)(size_t)ticket);
        if (rc != 0)
            fprintf(stderr, "kitchen: rail_submit(job %d): %s\n", ticket, strerror(rc));
    }

    printf("kitchen closing: finishing every ticket on the rail\n");
    struct timespec deadline = rail_deadline(10ull * 1000 * 1000 * 1000);
    rc = rail_shutdown(pool, RAIL_DRAIN, &deadline);
    rail_stats st;
    rail_pool_stats(pool, &st);
    printf("kitchen closed (%s): %llu jobs submitted, %llu completed, %llu discarded\n",
           rc == 0 ? "ok" : strerror(rc), (unsigned long long)st.submitted,
           (unsigned long long)st.completed, (unsigned long long)st.discarded);
    rail_pool_destroy(pool);
    return rc == 0 ? 0 : 1;
}
