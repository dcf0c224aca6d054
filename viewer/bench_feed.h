/*
 * bench_feed.h: synthetic feed frames for --bench-frames: one agent whose
 * heat map of many functions changes every frame (heat moving across the
 * functions, tiers following), packed and unpacked like kilnd's, so the
 * bench measures the path real frames take.
 */
#ifndef KILN_VIEWER_BENCH_FEED_H
#define KILN_VIEWER_BENCH_FEED_H

#include "feed_model.h"

/* The agent (number 1) and kilnd's stats, as a feed round starts. */
void bench_feed_start(KvFeedModel *model);
/* Heat map number `frame` of n functions. */
void bench_feed_heat_map(KvFeedModel *model, guint n, guint frame);

#endif
