/*
 * fork.c - telling a pool's own process from a fork() child.
 *
 * A child has none of its parent's worker threads, and a pool lock held by
 * one of them at the fork stays locked forever in the child. So the child
 * must not touch a pool's locks at all: every entry point first compares the
 * generation the pool was created in with this process's, which a
 * pthread_atfork() child handler bumps. A plain load, no system call.
 */
#include "worker.h"

#include <stdatomic.h>

static atomic_uint generation;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

/* In the child, on the one thread there is. If it was a worker (a job
 * called fork()), it is none here: so a worker's calls, which ask
 * rail__worker_self() first, need not check the generation (rail_join). */
static void in_child(void)
{
    atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
    rail__self = NULL;
}

static void register_handler(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

/* Once per pool, before its generation is read: a fork after this bumps
 * the generation, so rail__fork_current() needs no pthread_once. */
unsigned rail__fork_generation(void)
{
    pthread_once(&registered, register_handler);
    return rail__fork_current();
}

unsigned rail__fork_current(void)
{
    return atomic_load_explicit(&generation, memory_order_relaxed);
}
