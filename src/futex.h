/*
 * futex.h - wait on a 32-bit word until it changes; wake waiters on it.
 *
 * rail__futex_wait() returns when woken, spuriously, or at once if *word != expect
 * (0), or at the absolute CLOCK_MONOTONIC deadline (ETIMEDOUT). Callers
 * re-check their condition in a loop. rail__futex_wake() on an address whose
 * memory was freed or reused is harmless: at worst a spurious wakeup.
 */
#ifndef RAIL_FUTEX_H
#define RAIL_FUTEX_H

#include <stdatomic.h>
#include <time.h>

int rail__futex_wait(atomic_uint *word, unsigned expect, const struct timespec *deadline);
/* Returns how many waiters were woken (the fallback: 1 if any might be). */
int rail__futex_wake(atomic_uint *word, int count);

#define FUTEX_WAKE_ALL 0x7fffffff

#endif
