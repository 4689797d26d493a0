/*
 * job.h - a job is a value: copied into a ring cell or deque slot, copied
 * out by the thread that runs it. Nothing to allocate or free per job.
 */
#ifndef RAIL_JOB_H
#define RAIL_JOB_H

#include "rail.h"

enum job_kind {
    JOB_PLAIN,  /* rail_submit*: owner is NULL */
    JOB_LATCH,  /* a group's or join's job: owner is its struct latch */
    JOB_HELPER, /* the library's own helper (parallel_for): owner is a latch;
                   never handed to on_discard */
    JOB_FUTURE, /* owner is the rail_future; fn/arg unused */
    JOB_VOID,   /* a ring position claimed by a submitter that then saw the
                   pool shutting down: skipped, counted in its level's voided */
};

struct job {
    rail_fn fn;
    void *arg;
    void *owner;
    unsigned char kind;
    unsigned char level;   /* an outside job's rail_priority (0: NORMAL) */
    unsigned char batched; /* an outside job a worker claimed in a batch and
                              keeps on its deque (worker.c) */
};

#endif
