/*
 * heat_model.c: KvHeatModel (heat_model.h).
 *
 * Functions live in a table by index for the whole life of the agent, so
 * their history survives heat maps in which they did not run; `order` is
 * the latest heat map's functions, most self time first, which is what the
 * layout and the tests read.
 */
#include "heat_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "u32_set.h"

struct _KvHeatModel {
  GObject parent;
  GHashTable *functions; /* index -> KvFunction * */
  GPtrArray *order; /* of functions, borrowed from the table */
  KvEdge *edges;
  size_t n_edges;
  KvHeatSummary summary;
  char *policy;
  GPtrArray *packages; /* of KvPackage *, oldest first */
  bool has_data;
  guint64 generation;
};

G_DEFINE_FINAL_TYPE(KvHeatModel, kv_heat_model, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void function_free(gpointer p) {
  KvFunction *f = p;
  g_free(f->name);
  g_free(f->loops);
  for (size_t i = 0; i < f->n_steps; i++)
    g_free(f->steps[i].why);
  g_free(f->steps);
  g_free(f->branches);
  g_free(f->reason);
  g_free(f);
}

static void package_free(gpointer p) {
  KvPackage *pkg = p;
  g_free(pkg->segment);
  g_free(pkg->functions);
  g_free(pkg);
}

static void kv_heat_model_finalize(GObject *o) {
  KvHeatModel *self = KV_HEAT_MODEL(o);
  g_ptr_array_unref(self->order);
  g_hash_table_unref(self->functions);
  g_free(self->edges);
  g_free(self->policy);
  g_ptr_array_unref(self->packages);
  G_OBJECT_CLASS(kv_heat_model_parent_class)->finalize(o);
}

static void kv_heat_model_class_init(KvHeatModelClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_heat_model_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(c), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void kv_heat_model_init(KvHeatModel *self) {
  self->functions = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, function_free);
  self->order = g_ptr_array_new();
  self->packages = g_ptr_array_new_with_free_func(package_free);
}

KvHeatModel *kv_heat_model_new(void) {
  return g_object_new(KV_TYPE_HEAT_MODEL, NULL);
}

int kv_heat_model_tier_rank(Kiln__Tier tier) {
  return tier == KILN__TIER__TIER_HOT ? 2 : tier == KILN__TIER__TIER_WARM ? 1 : 0;
}

static KvFunction *function_of(KvHeatModel *self, uint32_t index) {
  KvFunction *f = g_hash_table_lookup(self->functions, GUINT_TO_POINTER(index));
  if (!f) {
    f = g_new0(KvFunction, 1);
    f->index = index;
    f->tier = KILN__TIER__TIER_COLD;
    g_hash_table_insert(self->functions, GUINT_TO_POINTER(index), f);
  }
  return f;
}

static int most_self_first(gconstpointer x, gconstpointer y) {
  const KvFunction *a = *(KvFunction *const *)x, *b = *(KvFunction *const *)y;
  if (a->self_samples != b->self_samples)
    return a->self_samples < b->self_samples ? 1 : -1;
  return (a->index > b->index) - (a->index < b->index);
}

static void take_tier_changes(KvHeatModel *self, const Kiln__HeatMap *hm, KvTimeline *timeline,
                              guint agent, double time_s) {
  for (size_t i = 0; i < hm->n_tier_changes; i++) {
    const Kiln__TierChange *tc = hm->tier_changes[i];
    if (tc->function_index == UINT32_MAX) { /* no function: what stopped the tiering */
      if (timeline)
        kv_timeline_add(timeline, KV_EVENT_ERROR, time_s, agent, "tiering stopped at %.1f s: %s",
                        tc->at_s, tc->why ? tc->why : "");
      continue;
    }
    KvFunction *f = function_of(self, tc->function_index);
    f->steps = g_renew(KvTierStep, f->steps, f->n_steps + 1);
    f->steps[f->n_steps++] =
        (KvTierStep){tc->at_s,       tc->from,       tc->to,
                     tc->compile_ms, tc->latency_ms, g_strdup(tc->why ? tc->why : "")};
    if (!timeline)
      continue;
    char buf[32];
    const char *name = kv_heat_model_name(self, tc->function_index, buf, sizeof buf);
    bool down = kv_heat_model_tier_rank(tc->to) < kv_heat_model_tier_rank(tc->from);
    char cost[64] = "";
    if (!down && tc->compile_ms > 0)
      snprintf(cost, sizeof cost, ", compiled in %.1f ms", tc->compile_ms);
    else if (!down)
      snprintf(cost, sizeof cost, ", cached");
    kv_timeline_add(timeline, down ? KV_EVENT_DEMOTION : KV_EVENT_TIER, time_s, agent,
                    "%s: %s -> %s at %.1f s%s%s%s", name, kiln_tier_name(tc->from),
                    kiln_tier_name(tc->to), tc->at_s, cost, tc->why && *tc->why ? ": " : "",
                    tc->why ? tc->why : "");
  }
}

bool kv_heat_model_take_heat_map(KvHeatModel *self, const Kiln__FeedHeatMap *fh,
                                 KvTimeline *timeline, guint agent, double time_s) {
  const Kiln__HeatMap *hm = fh ? fh->heat_map : NULL;
  if (!hm)
    return false;
  if (self->has_data && hm->uptime_ms == self->summary.uptime_ms &&
      hm->samples == self->summary.samples && hm->final == self->summary.is_final)
    return false;

  for (size_t i = 0; i < fh->n_names; i++) {
    KvFunction *f = function_of(self, fh->names[i]->function_index);
    if (!f->name && fh->names[i]->name && *fh->names[i]->name)
      f->name = g_strdup(fh->names[i]->name);
  }

  for (guint i = 0; i < self->order->len; i++)
    ((KvFunction *)self->order->pdata[i])->present = false;
  g_ptr_array_set_size(self->order, 0);

  uint64_t total = 0;
  for (size_t i = 0; i < hm->n_regions; i++)
    if (!hm->regions[i]->is_loop)
      total += hm->regions[i]->self_samples;

  /* Each function is followed by its loops (kiln.proto). */
  KvFunction *cur = NULL;
  for (size_t i = 0; i < hm->n_regions; i++) {
    const Kiln__Region *r = hm->regions[i];
    if (!r->is_loop) {
      cur = function_of(self, r->function_index);
      cur->present = true;
      cur->calls = r->count;
      cur->self_samples = r->self_samples;
      cur->compiled_samples = r->compiled_samples;
      cur->heat = r->heat < 0 ? 0 : r->heat > 1 ? 1 : r->heat;
      cur->share = total ? (double)r->self_samples / (double)total : 0;
      cur->tier = r->tier ? r->tier : KILN__TIER__TIER_COLD;
      if (cur->n_history == KV_HISTORY)
        memmove(cur->history, cur->history + 1, (KV_HISTORY - 1) * sizeof cur->history[0]);
      else
        cur->n_history++;
      cur->history[cur->n_history - 1] = (float)cur->heat;
      g_ptr_array_add(self->order, cur);
      continue;
    }
    if (!cur || r->function_index != cur->index)
      continue; /* a loop without its function: ignored rather than misfiled */
    /* Loops keep their entry across heat maps, so the OSR count can be
     * compared with the one before. */
    KvLoop *old = NULL;
    for (size_t k = 0; k < cur->n_loops; k++)
      if (cur->loops[k].offset == r->loop_offset)
        old = &cur->loops[k];
    uint64_t before = old ? old->osr_entries : 0;
    if (old) {
      old->iterations = r->count;
      old->self_samples = r->self_samples;
      old->heat = r->heat;
      old->osr_entries = r->osr_entries;
    } else {
      cur->loops = g_renew(KvLoop, cur->loops, cur->n_loops + 1);
      cur->loops[cur->n_loops++] =
          (KvLoop){r->loop_offset, r->count, r->self_samples, r->osr_entries, r->heat};
    }
    if (timeline && r->osr_entries > before) {
      char buf[32];
      kv_timeline_add(timeline, KV_EVENT_OSR, time_s, agent,
                      "%s: %llu activation%s moved into compiled code at the loop at +%u",
                      kv_heat_model_name(self, cur->index, buf, sizeof buf),
                      (unsigned long long)(r->osr_entries - before),
                      r->osr_entries - before == 1 ? "" : "s", r->loop_offset);
    }
  }
  g_ptr_array_sort(self->order, most_self_first);

  take_tier_changes(self, hm, timeline, agent, time_s);

  /* Branch bias comes in heat maps of the functions' first runs only, so
   * a function keeps the last it had. Busiest first, as sent. */
  for (size_t i = 0; i < hm->n_branches; i++) {
    KvFunction *f = function_of(self, hm->branches[i]->function_index);
    g_clear_pointer(&f->branches, g_free);
    f->n_branches = 0;
  }
  for (size_t i = 0; i < hm->n_branches; i++) {
    const Kiln__BranchBias *b = hm->branches[i];
    KvFunction *f = function_of(self, b->function_index);
    f->branches = g_renew(KvBranch, f->branches, f->n_branches + 1);
    f->branches[f->n_branches++] = (KvBranch){b->offset, b->true_count, b->false_count};
  }

  g_free(self->edges);
  self->edges = hm->n_edges ? g_new(KvEdge, hm->n_edges) : NULL;
  self->n_edges = hm->n_edges;
  for (size_t i = 0; i < hm->n_edges; i++)
    self->edges[i] = (KvEdge){hm->edges[i]->caller, hm->edges[i]->callee, hm->edges[i]->count,
                              hm->edges[i]->indirect};

  KvHeatSummary *s = &self->summary;
  /* CPU between the last two heat maps: the samples are the run's total. */
  if (self->has_data && hm->uptime_ms > s->uptime_ms && hm->samples >= s->samples)
    s->cpu_share = (double)(hm->samples - s->samples) * hm->sample_us /
                   ((double)(hm->uptime_ms - s->uptime_ms) * 1000);
  else if (hm->uptime_ms)
    s->cpu_share = (double)hm->samples * hm->sample_us / ((double)hm->uptime_ms * 1000);
  s->samples = hm->samples;
  s->sample_us = hm->sample_us;
  s->uptime_ms = hm->uptime_ms;
  s->memory_pages = hm->memory_pages;
  s->memory_grows = hm->memory_grows;
  s->is_final = hm->final;
  s->heat_maps++;
  self->has_data = true;
  self->generation++;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
  return true;
}

void kv_heat_model_take_partition(KvHeatModel *self, const Kiln__Partition *p, bool control) {
  if (!p)
    return;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, self->functions);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    KvFunction *f = value;
    f->placed = 0;
    g_clear_pointer(&f->reason, g_free);
  }
  KvHeatSummary *s = &self->summary;
  memset(s->placed, 0, sizeof s->placed);
  for (size_t i = 0; i < p->n_placements; i++) {
    const Kiln__Placement *pl = p->placements[i];
    KvFunction *f = function_of(self, pl->function_index);
    f->placed = pl->tier ? pl->tier : KILN__TIER__TIER_COLD;
    f->reason = g_strdup(pl->reason ? pl->reason : "");
    s->placed[f->placed & 3]++;
  }
  g_free(self->policy);
  self->policy = g_strdup(p->policy ? p->policy : "");
  s->policy = self->policy;
  s->hot = p->hot;
  s->warm = p->warm;
  s->after_control = control;
  self->generation++;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

void kv_heat_model_take_package(KvHeatModel *self, const Kiln__CompileEvent *c) {
  if (c->state != KILN__COMPILE_STATE__COMPILE_DONE)
    return;
  KvPackage *p = g_new0(KvPackage, 1);
  p->segment = g_strdup(c->segment ? c->segment : "");
  p->tier = c->tier;
  p->size = c->size;
  p->duration_s = c->cache_hit ? 0 : c->duration_s;
  p->cache_hit = c->cache_hit;
  p->functions = g_memdup2(c->function_indices, c->n_function_indices * sizeof(uint32_t));
  p->n_functions = c->n_function_indices;
  if (self->packages->len == KV_PACKAGES_KEPT)
    g_ptr_array_remove_index(self->packages, 0);
  g_ptr_array_add(self->packages, p);
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

size_t kv_heat_model_packages_of(KvHeatModel *self, uint32_t index, const KvPackage **out,
                                 size_t max) {
  size_t n = 0;
  for (guint i = self->packages->len; i-- > 0 && n < max;) {
    const KvPackage *p = self->packages->pdata[i];
    if (u32_set_has(p->functions, p->n_functions, index))
      out[n++] = p;
  }
  return n;
}

bool kv_heat_model_has_data(KvHeatModel *self) {
  return self->has_data;
}

const KvFunction *const *kv_heat_model_functions(KvHeatModel *self, size_t *n) {
  *n = self->order->len;
  return (const KvFunction *const *)self->order->pdata;
}

const KvFunction *kv_heat_model_lookup(KvHeatModel *self, uint32_t index) {
  return g_hash_table_lookup(self->functions, GUINT_TO_POINTER(index));
}

const char *kv_heat_model_name(KvHeatModel *self, uint32_t index, char *buf, size_t size) {
  const KvFunction *f = kv_heat_model_lookup(self, index);
  if (f && f->name)
    return f->name;
  snprintf(buf, size, "func %u", index);
  return buf;
}

const KvEdge *kv_heat_model_edges(KvHeatModel *self, size_t *n) {
  *n = self->n_edges;
  return self->edges;
}

void kv_heat_model_summary(KvHeatModel *self, KvHeatSummary *out) {
  *out = self->summary;
}

guint64 kv_heat_model_generation(KvHeatModel *self) {
  return self->generation;
}

static bool busier_loop(const KvLoop *a, const KvLoop *b) {
  if (a->self_samples != b->self_samples)
    return a->self_samples > b->self_samples;
  if (a->iterations != b->iterations)
    return a->iterations > b->iterations;
  return a->offset < b->offset;
}

size_t kv_function_busiest_loops(const KvFunction *f, size_t *order, size_t max) {
  size_t n = 0;
  /* An insertion into the first max: a function has a few dozen loops. */
  for (size_t i = 0; i < f->n_loops; i++) {
    size_t at = n < max ? n++ : max;
    while (at > 0 && busier_loop(&f->loops[i], &f->loops[order[at - 1]])) {
      if (at < max)
        order[at] = order[at - 1];
      at--;
    }
    if (at < max)
      order[at] = i;
  }
  return n;
}
