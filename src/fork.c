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

static atomic_uint generation;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
}

static void register_handler(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

unsigned rail__fork_generation(void)
{
    pthread_once(&registered, register_handler);
    return atomic_load_explicit(&generation, memory_order_relaxed);
}
