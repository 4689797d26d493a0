/*
 * fork.c - telling a pool's own process from a fork() child.
 *
 * A child has none of its parent's worker threads, and a pool lock held by
 * one of them at the fork stays locked forever in the child. So the child
 * must not touch a pool's locks at all: every entry point first compares the
 * generation the pool was created in with this process's, which a
 * pthread_atfork() child handler bumps. A plain load, no system call.
 */
#include "pool.h"

#include <stdatomic.h>

atomic_uint rail__generation;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    atomic_fetch_add_explicit(&rail__generation, 1, memory_order_relaxed);
}

static void register_handler(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

/* Once per pool, before its generation is read: a fork after this bumps
 * rail__generation, so pool_forked() itself needs no pthread_once (it is on
 * every join's path). */
unsigned rail__fork_generation(void)
{
    pthread_once(&registered, register_handler);
    return atomic_load_explicit(&rail__generation, memory_order_relaxed);
}
