/* consumer.c - a program built against an installed rail (see
 * scripts/check-install.sh). */
#include <rail.h>

#include <stdatomic.h>
#include <stdio.h>

static atomic_int ran;

static void job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

int main(void)
{
    rail_pool *pool;
    if (rail_pool_create(&pool, NULL) != 0)
        return 1;
    for (int i = 0; i < 100; i++)
        rail_submit(pool, job, NULL);
    rail_pool_destroy(pool);
    printf("consumer: %d of 100 jobs ran\n", atomic_load(&ran));
    return atomic_load(&ran) == 100 ? 0 : 1;
}
