/*
 * heat_model.h: KvHeatModel, one agent's module as the feed shows it: its
 * functions with their counts, self time, heat, tier and loops from the
 * latest heat map, and what only successive heat maps tell (heat over time,
 * tier history, OSR transfers), plus the partition's tier and reason for
 * each. No widgets: the heat map view and the detail pane observe it
 * through the "changed" signal.
 *
 * kilnd repeats every agent's last heat map once a second (snapshot); a
 * heat map whose agent uptime is the one already taken is such a repeat
 * and changes nothing, so history grows only with new heat maps.
 */
#ifndef KILN_VIEWER_HEAT_MODEL_H
#define KILN_VIEWER_HEAT_MODEL_H

#include <glib-object.h>
#include <stdbool.h>
#include <stdint.h>

#include "kiln.pb-c.h"
#include "timeline.h"

G_BEGIN_DECLS

/* Heat maps remembered per function for the line of heat over time. */
#define KV_HISTORY 60

typedef struct {
  uint32_t offset; /* of the `loop` in the function's body */
  uint64_t iterations, self_samples, osr_entries;
  double heat;
} KvLoop;

typedef struct {
  uint32_t offset; /* of the br_if or if in the function's body */
  uint64_t true_count, false_count;
} KvBranch;

typedef struct {
  double at_s; /* the agent's uptime */
  Kiln__Tier from, to;
  double compile_ms; /* 0: cached, or a demotion */
  double latency_ms; /* heat map sent to the switch */
  char *why;
} KvTierStep;

typedef struct {
  uint32_t index;
  char *name; /* from the name section; NULL when it has none */
  bool present; /* in the latest heat map */
  uint64_t calls, self_samples, compiled_samples;
  double heat; /* [0, 1], relative to the hottest function */
  double share; /* of the latest heat map's self samples */
  Kiln__Tier tier;
  KvLoop *loops;
  size_t n_loops;
  float history[KV_HISTORY]; /* heat, oldest first */
  size_t n_history;
  KvTierStep *steps;
  size_t n_steps;
  KvBranch *branches; /* from the latest heat map that had them, busiest first */
  size_t n_branches;
  Kiln__Tier placed; /* in the latest partition; 0: not in one */
  char *reason; /* the partition's phrase for it, or NULL */
} KvFunction;

/* A package kilnd made for this agent, from the feed's compile event. */
typedef struct {
  char *segment;
  Kiln__Tier tier;
  uint64_t size;
  double duration_s; /* of the compile; 0 for a cache hit */
  bool cache_hit;
  uint32_t *functions; /* sorted */
  size_t n_functions;
} KvPackage;

typedef struct {
  uint32_t caller, callee;
  uint64_t count;
  bool indirect;
} KvEdge;

#define KV_TYPE_HEAT_MODEL (kv_heat_model_get_type())
G_DECLARE_FINAL_TYPE(KvHeatModel, kv_heat_model, KV, HEAT_MODEL, GObject)

KvHeatModel *kv_heat_model_new(void);

/* Takes a heat map from the feed; events worth a line (tier changes,
 * demotions, OSR transfers) go to timeline, if given, as agent's, at
 * kilnd's time_s. Returns false for a repeat, which changes nothing. */
bool kv_heat_model_take_heat_map(KvHeatModel *self, const Kiln__FeedHeatMap *fh,
                                 KvTimeline *timeline, guint agent, double time_s);

/* Takes a partition: each function's placed tier and reason. */
void kv_heat_model_take_partition(KvHeatModel *self, const Kiln__Partition *p, bool control);

/* A package this agent waited for is done (compiled or from the cache);
 * other states are ignored. The latest KV_PACKAGES_KEPT are kept. */
#define KV_PACKAGES_KEPT 256
void kv_heat_model_take_package(KvHeatModel *self, const Kiln__CompileEvent *c);
/* The packages that compiled function index, newest first: up to max of
 * them in out; returns how many. */
size_t kv_heat_model_packages_of(KvHeatModel *self, uint32_t index, const KvPackage **out,
                                 size_t max);

/* Whether any heat map has come. */
bool kv_heat_model_has_data(KvHeatModel *self);

/* The functions in the latest heat map, most self time first. Valid until
 * the next take. */
const KvFunction *const *kv_heat_model_functions(KvHeatModel *self, size_t *n);

/* Any function ever seen, by index; NULL when never. */
const KvFunction *kv_heat_model_lookup(KvHeatModel *self, uint32_t index);

/* The name to show: its own, or "func N" (in buf). */
const char *kv_heat_model_name(KvHeatModel *self, uint32_t index, char *buf, size_t size);

const KvEdge *kv_heat_model_edges(KvHeatModel *self, size_t *n);

/* Up to max of f's loops, busiest first (self time, then iterations):
 * their indices in f->loops, in order; returns how many. */
size_t kv_function_busiest_loops(const KvFunction *f, size_t *order, size_t max);

typedef struct {
  uint64_t samples; /* all CPU-time samples of the run */
  uint32_t sample_us;
  uint64_t uptime_ms;
  uint32_t memory_pages;
  uint64_t memory_grows;
  double cpu_share; /* of one CPU, between the last two heat maps */
  guint heat_maps; /* new ones taken */
  bool is_final; /* the latest was the run's last */
  const char *policy; /* of the latest partition; NULL: none yet */
  double hot, warm; /* its thresholds, fractions */
  bool after_control; /* it was recomputed after a Control */
  size_t placed[4]; /* functions per Kiln__Tier in it */
} KvHeatSummary;

void kv_heat_model_summary(KvHeatModel *self, KvHeatSummary *out);

/* Incremented by every take that changed something: a cheap "is what I
 * drew still current". */
guint64 kv_heat_model_generation(KvHeatModel *self);

/* 0 cold (TIER_UNSPECIFIED too: not compiled), 1 warm, 2 hot: for telling promotions from
 * demotions. */
int kv_heat_model_tier_rank(Kiln__Tier tier);

G_END_DECLS

#endif
