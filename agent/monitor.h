/*
 * monitor.h: the Real-time Execution Monitor's sampler (monitor.c) and the
 * heat map built from its counters (heatmap.c). Internal to the agent.
 */
#ifndef KILN_MONITOR_H
#define KILN_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

/* One sample per millisecond of CPU: about a thousand a second is enough
 * to rank functions within the warm-up, and costs well under 1%. */
#define MONITOR_SAMPLE_US 1000

typedef struct Monitor Monitor;

/* Samples the calling thread's CPU time for t; every sample_us (0: the
 * default). NULL with one line in err when it cannot. */
Monitor *monitor_start(Thread *t, unsigned sample_us, char *err, size_t n);
/* Stops and frees; must run on the thread that started it. */
void monitor_stop(Monitor *mon);
/* It counts into t->samples and sets t->sample_us. */

/* Machine code in [lo, hi) is f's: samples there count for its profile,
 * and for the loop of it the code says it runs (Thread.compiled_loop).
 * False when the map is full (the samples then go to its caller). */
bool monitor_map_code(uintptr_t lo, uintptr_t hi, const FuncInst *f);
/* Forgets one range monitor_map_code made, before its code is unmapped. */
void monitor_unmap_code(uintptr_t lo, uintptr_t hi, const FuncProfile *prof);
/* Forgets every range of the n profiles from first (a module's), before
 * they are freed or the code is unmapped. */
void monitor_unmap_profiles(const FuncProfile *first, size_t n);

#endif
