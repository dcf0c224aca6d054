/*
 * bench_feed.c: synthetic feed frames (bench_feed.h).
 */
#include "bench_feed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "frame.h"

static uint8_t HASH[32] = {0x6b, 0x69, 0x6c, 0x6e};

static void feed(KvFeedModel *model, Kiln__FeedEvent *ev) {
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_FEED_EVENT;
  env.feed_event = ev;
  size_t len;
  uint8_t *buf = kiln_frame_pack(&env, &len);
  Kiln__Envelope *got = NULL;
  uint64_t rid;
  char err[128];
  if (buf && kiln_frame_unpack(buf, len, KILN_DEFAULT_MAX_MESSAGE, &got, &rid, err, sizeof err) ==
                 KILN_FRAME_OK) {
    kv_feed_model_take(model, got);
    kiln__envelope__free_unpacked(got, NULL);
  }
  free(buf);
}

void bench_feed_start(KvFeedModel *model) {
  Kiln__AgentSeen s = KILN__AGENT_SEEN__INIT;
  s.agent = 1;
  s.pid = 1;
  s.client_name = "bench";
  s.module_hash.data = HASH;
  s.module_hash.len = 32;
  s.policy = "coverage";
  s.hot = 0.8;
  s.warm = 0.95;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_AGENT;
  ev.agent = &s;
  feed(model, &ev);
}

void bench_feed_heat_map(KvFeedModel *model, guint n, guint frame) {
  /* Each function followed by one loop: 2n regions. */
  Kiln__Region *reg = calloc(2 * n, sizeof *reg);
  Kiln__Region **rp = calloc(2 * n, sizeof *rp);
  Kiln__FunctionName *names = calloc(n, sizeof *names);
  Kiln__FunctionName **np = calloc(n, sizeof *np);
  char(*text)[24] = calloc(n, sizeof *text);
  if (!reg || !rp || !names || !np || !text)
    goto out;
  size_t nr = 0;
  for (guint i = 0; i < n; i++) {
    /* Zipf-like weights whose peak wanders, so every frame changes most
     * cells and the layout. */
    double phase = fmod((double)i + frame * 0.37 * n / 100.0, (double)n);
    uint64_t self = (uint64_t)(100000.0 / (1.0 + phase)) + 1;
    double heat = 1.0 / (1.0 + phase / 3.0);
    Kiln__Tier tier = heat > 0.5   ? KILN__TIER__TIER_HOT
                      : heat > 0.1 ? KILN__TIER__TIER_WARM
                                   : KILN__TIER__TIER_COLD;
    Kiln__Region *r = &reg[nr];
    kiln__region__init(r);
    r->function_index = i;
    r->count = 1000 + frame;
    r->self_samples = self;
    r->heat = heat;
    r->tier = tier;
    rp[nr++] = r;
    r = &reg[nr];
    kiln__region__init(r);
    r->function_index = i;
    r->is_loop = true;
    r->loop_offset = 10 + i % 50;
    r->count = 10000 + frame;
    r->self_samples = self / 2;
    r->heat = heat * 0.9;
    r->tier = tier;
    rp[nr++] = r;
    kiln__function_name__init(&names[i]);
    names[i].function_index = i;
    snprintf(text[i], sizeof text[i], "function_%u", i);
    names[i].name = text[i];
    np[i] = &names[i];
  }
  Kiln__HeatMap hm = KILN__HEAT_MAP__INIT;
  hm.module_hash.data = HASH;
  hm.module_hash.len = 32;
  hm.samples = 1000 * (uint64_t)(frame + 1);
  hm.sample_us = 1000;
  hm.uptime_ms = 16 * (uint64_t)(frame + 1);
  hm.n_regions = nr;
  hm.regions = rp;
  Kiln__FeedHeatMap fh = KILN__FEED_HEAT_MAP__INIT;
  fh.agent = 1;
  fh.heat_map = &hm;
  fh.n_names = n;
  fh.names = np;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_HEAT_MAP;
  ev.heat_map = &fh;
  feed(model, &ev);
out:
  free(reg);
  free(rp);
  free(names);
  free(np);
  free(text);
}
