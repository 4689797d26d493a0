/*
 * parallel_sum.c - sum an array with rail_parallel_for and check it against
 * a plain loop.
 */
#include <rail.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N (16u * 1024 * 1024)

struct sum {
    const uint32_t *data;
    atomic_uint_fast64_t total;
};

static void add_range(size_t begin, size_t end, void *arg)
{
    struct sum *s = arg;
    uint64_t part = 0;
    for (size_t i = begin; i < end; i++)
        part += s->data[i];
    atomic_fetch_add_explicit(&s->total, part, memory_order_relaxed);
}

int main(void)
{
    uint32_t *data = malloc(N * sizeof *data);
    if (data == NULL) {
        fprintf(stderr, "parallel_sum: out of memory\n");
        return 1;
    }
    uint64_t expect = 0;
    for (size_t i = 0; i < N; i++) {
        data[i] = (uint32_t)(i * 2654435761u) >> 8;
        expect += data[i];
    }

    rail_pool *pool;
    int rc = rail_pool_create(&pool, NULL);
    if (rc != 0) {
        fprintf(stderr, "parallel_sum: rail_pool_create: %s\n", strerror(rc));
        free(data);
        return 1;
    }
    struct sum s = {.data = data};
    atomic_init(&s.total, 0);
    rc = rail_parallel_for(pool, 0, N, 64 * 1024, add_range, &s);
    uint64_t got = atomic_load(&s.total);
    printf("sum of %u elements: %" PRIu64 " (plain loop: %" PRIu64 ") %s\n", N, got, expect,
           rc == 0 && got == expect ? "ok" : "MISMATCH");
    rail_pool_destroy(pool);
    free(data);
    return rc == 0 && got == expect ? 0 : 1;
}
