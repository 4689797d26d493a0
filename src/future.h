/*
 * future.h - the hooks of a future's job (future.c): how a worker runs,
 * finishes or drops one, and how rail_join (join.c) offers its second half
 * from an outside thread and takes it back.
 */
#ifndef RAIL_FUTURE_H
#define RAIL_FUTURE_H

#include "pool.h"

int rail__future_claim(rail_future *future);
int rail__future_drop(rail_future *future);
int rail__future_offer(rail_pool *pool, rail_fn fn, void *arg, rail_future **future);
int rail__future_take_back(rail_future *f);
void rail__future_taken_back(rail_future *f);
int rail__future_join(rail_future *f);
void rail__future_finish(rail_future *future, int status);
void rail__future_unclaimed_popped(rail_future *future);
void rail__future_run(rail_future *future);

#endif
