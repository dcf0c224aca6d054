/*
 * test_models.c: the viewer's models (viewer/feed_model.c and the models
 * it feeds), given feed frames built here, packed and unpacked as kilnd's
 * would be: cells and tiers out, heat over time, tier history, partition
 * reasons, agents that leave, timeline events, kilnd going silent.
 */
#include <stdlib.h>
#include <string.h>

#include "feed_model.h"
#include "frame.h"
#include "test_viewer.h"

/* --- frames --------------------------------------------------------------- */

/* Packs ev as kilnd does, unpacks it as the feed client does, feeds it. */
static void feed(KvFeedModel *m, Kiln__FeedEvent *ev) {
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_FEED_EVENT;
  env.feed_event = ev;
  size_t len;
  uint8_t *buf = kiln_frame_pack(&env, &len);
  ck_assert_ptr_nonnull(buf);
  Kiln__Envelope *got;
  uint64_t rid;
  char err[128];
  ck_assert_int_eq(kiln_frame_unpack(buf, len, 1 << 20, &got, &rid, err, sizeof err),
                   KILN_FRAME_OK);
  free(buf);
  kv_feed_model_take(m, got);
  kiln__envelope__free_unpacked(got, NULL);
}

static uint8_t HASH[32] = {0xab, 0xcd, 0xef, 0x01};

static void seen(KvFeedModel *m, uint32_t id, uint32_t pid, bool gone, bool snapshot) {
  Kiln__AgentSeen s = KILN__AGENT_SEEN__INIT;
  s.agent = id;
  s.pid = pid;
  s.client_name = "libkiln";
  s.module_hash.data = HASH;
  s.module_hash.len = 32;
  s.policy = "coverage";
  s.hot = 0.8;
  s.warm = 0.95;
  s.connected_s = 3.5;
  s.gone = gone;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.time_s = 10;
  ev.snapshot = snapshot;
  ev.event_case = KILN__FEED_EVENT__EVENT_AGENT;
  ev.agent = &s;
  feed(m, &ev);
}

/* A heat map of up to 8 regions: {function, is_loop, loop_offset, count,
 * self, heat, tier, osr}. */
typedef struct {
  uint32_t func;
  bool loop;
  uint32_t offset;
  uint64_t count, self;
  double heat;
  Kiln__Tier tier;
  uint64_t osr;
} R;

typedef struct {
  const R *regions;
  size_t n;
  uint64_t uptime_ms, samples;
  const Kiln__TierChange *changes;
  size_t n_changes;
  const Kiln__CallEdge *edges;
  size_t n_edges;
  bool snapshot;
  const Kiln__BranchBias *branches;
  size_t n_branches;
} HM;

static void heat_map(KvFeedModel *m, uint32_t agent, const HM *h) {
  Kiln__Region reg[8], *rp[8];
  for (size_t i = 0; i < h->n; i++) {
    kiln__region__init(&reg[i]);
    reg[i].function_index = h->regions[i].func;
    reg[i].is_loop = h->regions[i].loop;
    reg[i].loop_offset = h->regions[i].offset;
    reg[i].count = h->regions[i].count;
    reg[i].self_samples = h->regions[i].self;
    reg[i].heat = h->regions[i].heat;
    reg[i].tier = h->regions[i].tier;
    reg[i].osr_entries = h->regions[i].osr;
    rp[i] = &reg[i];
  }
  Kiln__TierChange *cp[8];
  for (size_t i = 0; i < h->n_changes; i++)
    cp[i] = (Kiln__TierChange *)&h->changes[i];
  Kiln__CallEdge *ep[8];
  for (size_t i = 0; i < h->n_edges; i++)
    ep[i] = (Kiln__CallEdge *)&h->edges[i];
  Kiln__HeatMap hm = KILN__HEAT_MAP__INIT;
  hm.module_hash.data = HASH;
  hm.module_hash.len = 32;
  hm.samples = h->samples;
  hm.sample_us = 1000;
  hm.uptime_ms = h->uptime_ms;
  hm.n_regions = h->n;
  hm.regions = rp;
  hm.n_tier_changes = h->n_changes;
  hm.tier_changes = cp;
  hm.n_edges = h->n_edges;
  hm.edges = ep;
  Kiln__BranchBias *bp[8];
  for (size_t i = 0; i < h->n_branches; i++)
    bp[i] = (Kiln__BranchBias *)&h->branches[i];
  hm.n_branches = h->n_branches;
  hm.branches = bp;
  Kiln__FunctionName names[2] = {KILN__FUNCTION_NAME__INIT, KILN__FUNCTION_NAME__INIT};
  names[0].function_index = 7;
  names[0].name = "mat_mul";
  names[1].function_index = 3;
  names[1].name = "main";
  Kiln__FunctionName *np[2] = {&names[0], &names[1]};
  Kiln__FeedHeatMap fh = KILN__FEED_HEAT_MAP__INIT;
  fh.agent = agent;
  fh.heat_map = &hm;
  fh.n_names = 2;
  fh.names = np;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.time_s = 11;
  ev.snapshot = h->snapshot;
  ev.event_case = KILN__FEED_EVENT__EVENT_HEAT_MAP;
  ev.heat_map = &fh;
  feed(m, &ev);
}

static void stats(KvFeedModel *m, const uint32_t *agents, size_t n) {
  Kiln__ServiceStats st = KILN__SERVICE_STATS__INIT;
  st.pid = 99;
  st.server_version = "0.1.0";
  st.workers = 2;
  st.workers_busy = 1;
  st.queued = 3;
  st.compiles_per_s = 0.4;
  st.compiles = 4;
  st.cache_hits = 1;
  st.cache_hit_rate = 0.2;
  st.n_agents = n;
  st.agents = (uint32_t *)agents;
  st.policy = "coverage";
  st.hot = 0.8;
  st.warm = 0.95;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.time_s = 12;
  ev.event_case = KILN__FEED_EVENT__EVENT_STATS;
  ev.stats = &st;
  feed(m, &ev);
}

static void count_changed(gpointer instance, gpointer data) {
  (void)instance;
  (*(int *)data)++;
}

/* main (3) calls mat_mul (7), which has a hot loop; helper (9) is barely seen. */
static const R FIRST[] = {
    {7, false, 0, 100, 60, 1.0, KILN__TIER__TIER_COLD, 0},
    {7, true, 42, 90000, 55, 0.9, KILN__TIER__TIER_COLD, 0},
    {3, false, 0, 1, 30, 0.5, KILN__TIER__TIER_COLD, 0},
    {9, false, 0, 5, 10, 0.1, 0, 0},
};
static const R SECOND[] = {
    {7, false, 0, 200, 80, 1.0, KILN__TIER__TIER_HOT, 0},
    {7, true, 42, 190000, 75, 0.95, KILN__TIER__TIER_HOT, 2},
    {3, false, 0, 1, 15, 0.2, KILN__TIER__TIER_WARM, 0},
    {9, false, 0, 9, 5, 0.05, KILN__TIER__TIER_COLD, 0},
};

/* --- tests ------------------------------------------------------------------ */

START_TEST(test_heat_map_cells_and_tiers) {
  KvFeedModel *m = kv_feed_model_new("ipc://x/kilnd.sock", "ipc://x/kilnd.feed");
  seen(m, 1, 4242, false, false);
  KvAgent *a = kv_agent_list_lookup(kv_feed_model_agents(m), 1);
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq(kv_agent_info(a)->pid, 4242);
  ck_assert_str_eq(kv_agent_info(a)->client_name, "libkiln");
  ck_assert_str_eq(kv_agent_info(a)->module_hex,
                   "abcdef0100000000000000000000000000000000000000000000000000000000");
  KvHeatModel *h = kv_agent_heat(a);
  ck_assert(!kv_heat_model_has_data(h));
  size_t n;
  kv_heat_model_functions(h, &n);
  ck_assert_uint_eq(n, 0); /* no data: nothing, and no crash */

  int changed = 0;
  g_signal_connect(h, "changed", G_CALLBACK(count_changed), &changed);
  heat_map(m, 1, &(HM){FIRST, 4, 2000, 100, NULL, 0, NULL, 0, false, NULL, 0});
  ck_assert_int_eq(changed, 1);
  ck_assert(kv_heat_model_has_data(h));
  const KvFunction *const *f = kv_heat_model_functions(h, &n);
  ck_assert_uint_eq(n, 3); /* loops belong to their function */
  ck_assert_uint_eq(f[0]->index, 7);
  ck_assert_str_eq(f[0]->name, "mat_mul");
  ck_assert_uint_eq(f[0]->calls, 100);
  ck_assert_uint_eq(f[0]->self_samples, 60);
  ck_assert_double_eq_tol(f[0]->share, 0.6, 1e-9);
  ck_assert_int_eq(f[0]->tier, KILN__TIER__TIER_COLD);
  ck_assert_uint_eq(f[0]->n_loops, 1);
  ck_assert_uint_eq(f[0]->loops[0].offset, 42);
  ck_assert_uint_eq(f[0]->loops[0].iterations, 90000);
  ck_assert_uint_eq(f[1]->index, 3);
  ck_assert_str_eq(f[1]->name, "main");
  ck_assert_uint_eq(f[2]->index, 9);
  ck_assert_ptr_null(f[2]->name);
  ck_assert_int_eq(f[2]->tier, KILN__TIER__TIER_COLD); /* unspecified: interpreted */
  char buf[32];
  ck_assert_str_eq(kv_heat_model_name(h, 9, buf, sizeof buf), "func 9");
  size_t ne;
  kv_heat_model_edges(h, &ne);
  ck_assert_uint_eq(ne, 0); /* the agent does not send edges yet: empty, fine */
  KvHeatSummary s;
  kv_heat_model_summary(h, &s);
  ck_assert_double_eq_tol(s.cpu_share, 100 * 1000 / (2000.0 * 1000), 1e-9);
  ck_assert_ptr_null(s.policy);

  /* kilnd's once-a-second repeat changes nothing */
  heat_map(m, 1, &(HM){FIRST, 4, 2000, 100, NULL, 0, NULL, 0, true, NULL, 0});
  ck_assert_int_eq(changed, 1);
  ck_assert_uint_eq(kv_heat_model_lookup(h, 7)->n_history, 1);

  /* the next: tiers move, heat over time grows, OSR counted */
  Kiln__TierChange tc[2] = {KILN__TIER_CHANGE__INIT, KILN__TIER_CHANGE__INIT};
  tc[0].function_index = 7;
  tc[0].from = KILN__TIER__TIER_COLD;
  tc[0].to = KILN__TIER__TIER_HOT;
  tc[0].at_s = 2.5;
  tc[0].compile_ms = 120;
  tc[0].why = "share 0.60 > hot 0.50";
  tc[1].function_index = 3;
  tc[1].from = KILN__TIER__TIER_HOT;
  tc[1].to = KILN__TIER__TIER_WARM;
  tc[1].at_s = 2.6;
  tc[1].why = "cooled";
  Kiln__CallEdge ed[1] = {KILN__CALL_EDGE__INIT};
  ed[0].caller = 3;
  ed[0].callee = 7;
  ed[0].count = 200;
  heat_map(m, 1, &(HM){SECOND, 4, 3000, 600, tc, 2, ed, 1, false, NULL, 0});
  ck_assert_uint_eq(kv_heat_model_lookup(h, 7)->n_branches, 0); /* none sent: none */
  ck_assert_int_eq(changed, 2);
  f = kv_heat_model_functions(h, &n);
  ck_assert_int_eq(f[0]->tier, KILN__TIER__TIER_HOT);
  ck_assert_uint_eq(f[0]->n_history, 2);
  ck_assert_float_eq_tol(f[0]->history[1], 1.0, 1e-6);
  ck_assert_uint_eq(f[0]->n_steps, 1);
  ck_assert_double_eq_tol(f[0]->steps[0].compile_ms, 120, 1e-9);
  ck_assert_str_eq(f[0]->steps[0].why, "share 0.60 > hot 0.50");
  ck_assert_uint_eq(f[0]->loops[0].osr_entries, 2);
  ck_assert_int_eq(kv_heat_model_lookup(h, 3)->tier, KILN__TIER__TIER_WARM);
  const KvEdge *e = kv_heat_model_edges(h, &ne);
  ck_assert_uint_eq(ne, 1);
  ck_assert_uint_eq(e[0].caller, 3);
  ck_assert_uint_eq(e[0].callee, 7);
  kv_heat_model_summary(h, &s);
  ck_assert_double_eq_tol(s.cpu_share, 500 * 1000 / (1000.0 * 1000), 1e-9);

  KvTimeline *t = kv_feed_model_timeline(m);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_TIER), 1);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_DEMOTION), 1);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_OSR), 1);
  /* newest first: the OSR line came before the tier lines of the same map */
  KvEvent *ev = g_list_model_get_item(G_LIST_MODEL(t), 0);
  ck_assert_int_eq(kv_event_get_kind(ev), KV_EVENT_DEMOTION);
  ck_assert_str_eq(kv_event_get_text(ev), "main: hot -> warm at 2.6 s: cooled");
  ck_assert_uint_eq(kv_event_get_agent(ev), 1);
  g_object_unref(ev);
  ev = g_list_model_get_item(G_LIST_MODEL(t), 1);
  ck_assert_str_eq(kv_event_get_text(ev),
                   "mat_mul: cold -> hot at 2.5 s, compiled in 120.0 ms: share 0.60 > hot 0.50");
  g_object_unref(ev);
  g_object_unref(m);
}
END_TEST

START_TEST(test_branches_and_stops) {
  KvFeedModel *m = kv_feed_model_new("e", "f");
  seen(m, 1, 10, false, false);
  Kiln__BranchBias b[2] = {KILN__BRANCH_BIAS__INIT, KILN__BRANCH_BIAS__INIT};
  b[0].function_index = 7;
  b[0].offset = 12;
  b[0].true_count = 95;
  b[0].false_count = 5;
  b[1].function_index = 7;
  b[1].offset = 40;
  b[1].false_count = 10;
  Kiln__TierChange stop = KILN__TIER_CHANGE__INIT;
  stop.function_index = UINT32_MAX;
  stop.at_s = 4;
  stop.why = "kilnd went away";
  heat_map(m, 1, &(HM){FIRST, 4, 2000, 100, &stop, 1, NULL, 0, false, b, 2});
  KvHeatModel *h = kv_agent_heat(kv_agent_list_lookup(kv_feed_model_agents(m), 1));
  const KvFunction *f = kv_heat_model_lookup(h, 7);
  ck_assert_uint_eq(f->n_branches, 2);
  ck_assert_uint_eq(f->branches[0].offset, 12);
  ck_assert_uint_eq(f->branches[0].true_count, 95);
  ck_assert_uint_eq(f->branches[1].false_count, 10);
  /* a later heat map without branches keeps them (they are counted early) */
  heat_map(m, 1, &(HM){SECOND, 4, 3000, 600, NULL, 0, NULL, 0, false, NULL, 0});
  ck_assert_uint_eq(kv_heat_model_lookup(h, 7)->n_branches, 2);
  /* the tier change of no function is not a function, but a line */
  ck_assert_ptr_null(kv_heat_model_lookup(h, UINT32_MAX));
  KvTimeline *t = kv_feed_model_timeline(m);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_ERROR), 1);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_TIER), 0);
  g_object_unref(m);
}
END_TEST

START_TEST(test_partition_reasons) {
  KvFeedModel *m = kv_feed_model_new("e", "f");
  seen(m, 2, 1, false, false);
  heat_map(m, 2, &(HM){FIRST, 4, 2000, 100, NULL, 0, NULL, 0, false, NULL, 0});
  Kiln__Placement pl[2] = {KILN__PLACEMENT__INIT, KILN__PLACEMENT__INIT};
  pl[0].function_index = 7;
  pl[0].tier = KILN__TIER__TIER_HOT;
  pl[0].reason = "share 0.60 > hot 0.50";
  pl[1].function_index = 3;
  pl[1].tier = KILN__TIER__TIER_COLD;
  pl[1].reason = "share 0.30 < warm 0.40";
  Kiln__Placement *pp[2] = {&pl[0], &pl[1]};
  Kiln__Partition p = KILN__PARTITION__INIT;
  p.policy = "share";
  p.hot = 0.5;
  p.warm = 0.4;
  p.n_placements = 2;
  p.placements = pp;
  Kiln__FeedPartition fp = KILN__FEED_PARTITION__INIT;
  fp.agent = 2;
  fp.partition = &p;
  fp.control = true;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_PARTITION;
  ev.partition = &fp;
  feed(m, &ev);
  KvHeatModel *h = kv_agent_heat(kv_agent_list_lookup(kv_feed_model_agents(m), 2));
  ck_assert_int_eq(kv_heat_model_lookup(h, 7)->placed, KILN__TIER__TIER_HOT);
  ck_assert_str_eq(kv_heat_model_lookup(h, 7)->reason, "share 0.60 > hot 0.50");
  ck_assert_str_eq(kv_heat_model_lookup(h, 3)->reason, "share 0.30 < warm 0.40");
  ck_assert_ptr_null(kv_heat_model_lookup(h, 9)->reason);
  KvHeatSummary s;
  kv_heat_model_summary(h, &s);
  ck_assert_str_eq(s.policy, "share");
  ck_assert_double_eq_tol(s.hot, 0.5, 1e-9);
  ck_assert(s.after_control);
  ck_assert_uint_eq(s.placed[KILN__TIER__TIER_HOT], 1);
  ck_assert_uint_eq(s.placed[KILN__TIER__TIER_COLD], 1);
  ck_assert_uint_eq(kv_timeline_count(kv_feed_model_timeline(m), KV_EVENT_CONTROL), 1);
  g_object_unref(m);
}
END_TEST

START_TEST(test_agents_come_and_go) {
  KvFeedModel *m = kv_feed_model_new("e", "f");
  KvAgentList *l = kv_feed_model_agents(m);
  seen(m, 3, 30, false, false);
  seen(m, 1, 10, false, true);
  seen(m, 2, 20, false, false);
  ck_assert_uint_eq(g_list_model_get_n_items(G_LIST_MODEL(l)), 3);
  KvAgent *first = g_list_model_get_item(G_LIST_MODEL(l), 0);
  ck_assert_uint_eq(kv_agent_info(first)->id, 1); /* in kilnd's order */
  g_object_unref(first);
  /* joins are news; an agent first seen in a snapshot is not */
  ck_assert_uint_eq(kv_timeline_count(kv_feed_model_timeline(m), KV_EVENT_AGENT), 2);

  seen(m, 2, 20, true, false);
  ck_assert_uint_eq(g_list_model_get_n_items(G_LIST_MODEL(l)), 2);
  ck_assert_ptr_null(kv_agent_list_lookup(l, 2));
  KvEvent *ev = g_list_model_get_item(G_LIST_MODEL(kv_feed_model_timeline(m)), 0);
  ck_assert_str_eq(kv_event_get_text(ev), "agent 2 (pid 20) left");
  g_object_unref(ev);

  /* kilnd guessed wrong and says it is back: the same agent, history kept */
  heat_map(m, 3, &(HM){FIRST, 4, 2000, 100, NULL, 0, NULL, 0, false, NULL, 0});
  seen(m, 3, 30, true, false);
  ck_assert_ptr_null(kv_agent_list_lookup(l, 3));
  seen(m, 3, 30, false, false);
  KvAgent *back = kv_agent_list_lookup(l, 3);
  ck_assert_ptr_nonnull(back);
  ck_assert(kv_heat_model_has_data(kv_agent_heat(back)));
  ev = g_list_model_get_item(G_LIST_MODEL(kv_feed_model_timeline(m)), 0);
  ck_assert_str_eq(kv_event_get_text(ev), "agent 3 (pid 30) is back");
  g_object_unref(ev);

  /* stats list who is there: agent 1 left without a word */
  uint32_t there[] = {3};
  stats(m, there, 1);
  ck_assert_uint_eq(g_list_model_get_n_items(G_LIST_MODEL(l)), 1);
  ck_assert_ptr_nonnull(kv_agent_list_lookup(l, 3));
  const KvServiceInfo *si = kv_service_info(kv_feed_model_service(m));
  ck_assert_int_eq(si->state, KV_SERVICE_CONNECTED);
  ck_assert_uint_eq(si->workers_busy, 1);
  ck_assert_uint_eq(si->queued, 3);
  ck_assert_double_eq_tol(si->cache_hit_rate, 0.2, 1e-9);

  /* silence: nothing known any more; the next frame reconnects */
  kv_feed_model_lost(m);
  ck_assert_int_eq(si->state, KV_SERVICE_LOST);
  ck_assert_uint_eq(g_list_model_get_n_items(G_LIST_MODEL(l)), 0);
  stats(m, there, 0);
  ck_assert_int_eq(si->state, KV_SERVICE_CONNECTED);
  ck_assert_uint_eq(kv_timeline_count(kv_feed_model_timeline(m), KV_EVENT_SERVICE), 3);
  g_object_unref(m);
}
END_TEST

START_TEST(test_compiles_controls_errors) {
  KvFeedModel *m = kv_feed_model_new("e", "f");
  seen(m, 1, 10, false, false);
  KvTimeline *t = kv_feed_model_timeline(m);
  Kiln__CompileEvent c = KILN__COMPILE_EVENT__INIT;
  c.module_hash.data = HASH;
  c.module_hash.len = 32;
  c.tier = KILN__TIER__TIER_HOT;
  c.functions = 3;
  uint32_t funcs[] = {2, 5, 9}, waiting[] = {1};
  c.function_indices = funcs;
  c.n_function_indices = 3;
  c.agents = waiting;
  c.n_agents = 1;
  c.segment = "kiln-hot.so";
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_COMPILE;
  ev.compile = &c;
  c.state = KILN__COMPILE_STATE__COMPILE_STARTED;
  feed(m, &ev);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_COMPILE), 0);
  c.state = KILN__COMPILE_STATE__COMPILE_DONE;
  c.duration_s = 0.25;
  c.size = 4096;
  feed(m, &ev);
  KvEvent *e = g_list_model_get_item(G_LIST_MODEL(t), 0);
  ck_assert_str_eq(kv_event_get_text(e),
                   "hot package of 3 functions compiled in 250 ms, cache miss (4096 bytes)");
  ck_assert_uint_eq(kv_event_get_agent(e), 1); /* the agent that waited */
  g_object_unref(e);
  KvHeatModel *heat = kv_agent_heat(kv_agent_list_lookup(kv_feed_model_agents(m), 1));
  const KvPackage *pkg[4];
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 5, pkg, 4), 1);
  ck_assert_str_eq(pkg[0]->segment, "kiln-hot.so");
  ck_assert_int_eq(pkg[0]->tier, KILN__TIER__TIER_HOT);
  ck_assert_uint_eq(pkg[0]->size, 4096);
  ck_assert_uint_eq(pkg[0]->n_functions, 3);
  ck_assert_double_eq(pkg[0]->duration_s, 0.25);
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 4, pkg, 4), 0); /* not in it */
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 9, pkg, 4), 1);

  /* a warm package of function 5 alone, from the cache, for agents 1 and 5 */
  seen(m, 5, 50, false, false);
  uint32_t alone[] = {5}, both[] = {5, 1};
  c.function_indices = alone;
  c.n_function_indices = 1;
  c.functions = 1;
  c.agents = both;
  c.n_agents = 2;
  c.tier = KILN__TIER__TIER_WARM;
  c.segment = "kiln-warm.so";
  c.cache_hit = true;
  feed(m, &ev);
  e = g_list_model_get_item(G_LIST_MODEL(t), 0);
  ck_assert_str_eq(kv_event_get_text(e), "warm package of 1 function: cache hit (4096 bytes)");
  ck_assert_uint_eq(kv_event_get_agent(e), 5);
  g_object_unref(e);
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 5, pkg, 4), 2);
  ck_assert_str_eq(pkg[0]->segment, "kiln-warm.so"); /* newest first */
  ck_assert(pkg[0]->cache_hit);
  ck_assert_double_eq(pkg[0]->duration_s, 0);
  ck_assert_str_eq(pkg[1]->segment, "kiln-hot.so");
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 5, pkg, 1), 1);
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 2, pkg, 4), 1);
  KvHeatModel *other = kv_agent_heat(kv_agent_list_lookup(kv_feed_model_agents(m), 5));
  ck_assert_uint_eq(kv_heat_model_packages_of(other, 5, pkg, 4), 1);
  ck_assert_uint_eq(kv_heat_model_packages_of(other, 2, pkg, 4), 0); /* not its package */

  /* started and failed compiles are no packages */
  c.state = KILN__COMPILE_STATE__COMPILE_STARTED;
  feed(m, &ev);
  c.state = KILN__COMPILE_STATE__COMPILE_FAILED;
  c.error = "job timed out";
  feed(m, &ev);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_ERROR), 1);
  ck_assert_uint_eq(kv_heat_model_packages_of(other, 5, pkg, 4), 1);

  /* only the latest KV_PACKAGES_KEPT are kept */
  c.state = KILN__COMPILE_STATE__COMPILE_DONE;
  c.agents = waiting;
  c.n_agents = 1;
  c.function_indices = funcs;
  c.n_function_indices = 3;
  c.functions = 3;
  c.tier = KILN__TIER__TIER_HOT;
  for (int i = 0; i < KV_PACKAGES_KEPT - 1; i++)
    feed(m, &ev);
  const KvPackage *all[KV_PACKAGES_KEPT + 1];
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 5, all, KV_PACKAGES_KEPT + 1),
                    KV_PACKAGES_KEPT); /* the warm one is the oldest left */
  ck_assert_int_eq(all[KV_PACKAGES_KEPT - 1]->tier, KILN__TIER__TIER_WARM);
  feed(m, &ev);
  ck_assert_uint_eq(kv_heat_model_packages_of(heat, 5, all, KV_PACKAGES_KEPT + 1),
                    KV_PACKAGES_KEPT);
  for (size_t i = 0; i < KV_PACKAGES_KEPT; i++)
    ck_assert_int_eq(all[i]->tier, KILN__TIER__TIER_HOT);

  Kiln__Control ctl = KILN__CONTROL__INIT;
  ctl.hot_percent = 50;
  ctl.warm_percent = 90;
  Kiln__ControlReply rep = KILN__CONTROL_REPLY__INIT;
  rep.ok = false;
  rep.reason = "warm (90%) must be below hot (50%) under share";
  Kiln__ControlResult cr = KILN__CONTROL_RESULT__INIT;
  cr.control = &ctl;
  cr.reply = &rep;
  ev.event_case = KILN__FEED_EVENT__EVENT_CONTROL;
  ev.control = &cr;
  feed(m, &ev);
  e = g_list_model_get_item(G_LIST_MODEL(t), 0);
  ck_assert_int_eq(kv_event_get_kind(e), KV_EVENT_REFUSED);
  ck_assert_str_eq(kv_event_get_text(e), "control for every agent refused: warm (90%) must be "
                                         "below hot (50%) under share");
  g_object_unref(e);

  /* something that is not a feed event: one error line, nothing else */
  Kiln__Envelope bad = KILN__ENVELOPE__INIT;
  Kiln__Error er = KILN__ERROR__INIT;
  bad.body_case = KILN__ENVELOPE__BODY_ERROR;
  bad.error = &er;
  kv_feed_model_take(m, &bad);
  ck_assert_uint_eq(kv_timeline_count(t, KV_EVENT_ERROR), 2);
  g_object_unref(m);
}
END_TEST

START_TEST(test_timeline_bounded) {
  KvTimeline *t = kv_timeline_new();
  for (int i = 0; i < KV_TIMELINE_MAX + 25; i++)
    kv_timeline_add(t, KV_EVENT_COMPILE, i, 0, "event %d", i);
  ck_assert_uint_eq(g_list_model_get_n_items(G_LIST_MODEL(t)), KV_TIMELINE_MAX);
  KvEvent *e = g_list_model_get_item(G_LIST_MODEL(t), KV_TIMELINE_MAX - 1);
  ck_assert_str_eq(kv_event_get_text(e), "event 25"); /* the oldest kept */
  g_object_unref(e);
  g_object_unref(t);
}
END_TEST

/* The detail pane and the tooltip show a function's busiest loops first:
 * by self time, then iterations (an interpreted loop's only count). */
START_TEST(test_busiest_loops) {
  KvLoop loops[] = {
      {.offset = 10, .iterations = 5, .self_samples = 0},
      {.offset = 20, .iterations = 900, .self_samples = 40},
      {.offset = 30, .iterations = 7, .self_samples = 0},
      {.offset = 40, .iterations = 100, .self_samples = 60},
      {.offset = 50, .iterations = 1000, .self_samples = 40},
  };
  KvFunction f = {.loops = loops, .n_loops = 5};
  size_t order[5];
  ck_assert_uint_eq(kv_function_busiest_loops(&f, order, 5), 5);
  const uint32_t want[] = {40, 50, 20, 30, 10};
  for (size_t i = 0; i < 5; i++)
    ck_assert_uint_eq(loops[order[i]].offset, want[i]);
  ck_assert_uint_eq(kv_function_busiest_loops(&f, order, 2), 2);
  ck_assert_uint_eq(loops[order[0]].offset, 40);
  ck_assert_uint_eq(loops[order[1]].offset, 50);
  ck_assert_uint_eq(kv_function_busiest_loops(&f, order, 0), 0);
  f.n_loops = 0;
  ck_assert_uint_eq(kv_function_busiest_loops(&f, order, 5), 0);
}
END_TEST

Suite *models_suite(void) {
  Suite *s = suite_create("models");
  TCase *tc = tcase_create("feed");
  tcase_add_test(tc, test_heat_map_cells_and_tiers);
  tcase_add_test(tc, test_branches_and_stops);
  tcase_add_test(tc, test_partition_reasons);
  tcase_add_test(tc, test_agents_come_and_go);
  tcase_add_test(tc, test_compiles_controls_errors);
  tcase_add_test(tc, test_timeline_bounded);
  tcase_add_test(tc, test_busiest_loops);
  suite_add_tcase(s, tc);
  return s;
}
