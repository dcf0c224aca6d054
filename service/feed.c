/*
 * feed.c: kilnd's feed. A PUB socket beside the client socket, on which
 * every agent seen, heat map received, partition sent, compile started or
 * finished, Control answered and, once a second, ServiceStats goes out as
 * one Envelope with a FeedEvent (kiln.proto).
 *
 * Publishing never blocks the broker: every send is ZMQ_DONTWAIT under a
 * small high-water mark, so a subscriber that stops reading loses events
 * rather than stall compiles. With no subscriber ZeroMQ drops each frame at
 * once; the cost left is packing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "kilnd.h"

/* Frames queued per subscriber before it loses events: a few seconds of a
 * busy kilnd. */
#define FEED_HWM 1000

int feed_open(Broker *b, const char *endpoint) {
  const char *path = kiln_ipc_path(endpoint);
  if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "kilnd: the feed '%s' is not an ipc:// path that fits a socket\n", endpoint);
    return -1;
  }
  snprintf(b->feed_endpoint, sizeof b->feed_endpoint, "%s", endpoint);
  b->feed = zmq_socket(b->zctx, ZMQ_PUB);
  int hwm = FEED_HWM, linger = 0;
  if (b->feed) {
    zmq_setsockopt(b->feed, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->feed, ZMQ_LINGER, &linger, sizeof linger);
  }
  if (!b->feed || zmq_bind(b->feed, endpoint) != 0) {
    fprintf(stderr, "kilnd: cannot publish the feed on %s: %s\n", endpoint, zmq_strerror(errno));
    if (b->feed)
      zmq_close(b->feed);
    b->feed = NULL;
    b->feed_endpoint[0] = '\0';
    return -1;
  }
  return 0;
}

void feed_close(Broker *b) {
  if (!b->feed)
    return;
  zmq_close(b->feed);
  b->feed = NULL;
  unlink(kiln_ipc_path(b->feed_endpoint));
}

static void publish(Broker *b, Kiln__FeedEvent *ev) {
  if (!b->feed)
    return;
  ev->time_s = kd_now() - b->started;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_FEED_EVENT;
  env.feed_event = ev;
  /* EAGAIN (a subscriber's queue is full) is the point of DONTWAIT: that
   * subscriber loses this event. */
  kiln_frame_send(b->feed, &env, ZMQ_DONTWAIT);
}

static void settings(const PartConfig *c, char **policy, double *hot, double *warm) {
  *policy = (char *)part_policy_name(c->policy);
  *hot = c->hot;
  *warm = c->warm;
}

void feed_agent(Broker *b, const Agent *a, bool snapshot) {
  Kiln__AgentSeen as = KILN__AGENT_SEEN__INIT;
  double now = kd_now();
  as.agent = a->id;
  as.pid = a->pid;
  as.client_name = (char *)a->name;
  if (a->has_hash) {
    as.module_hash.data = (uint8_t *)a->hash;
    as.module_hash.len = 32;
  }
  as.uptime_ms = a->uptime_ms;
  as.connected_s = now - a->hello_at;
  as.silent_s = now - a->heard_at;
  as.gone = a->gone;
  settings(adapt_config(b, a), &as.policy, &as.hot, &as.warm);
  as.own_settings = a->own_cfg;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.snapshot = snapshot;
  ev.event_case = KILN__FEED_EVENT__EVENT_AGENT;
  ev.agent = &as;
  publish(b, &ev);
}

void feed_heat_map(Broker *b, uint32_t agent, const WasmModule *m, const Kiln__HeatMap *hm,
                   bool snapshot) {
  if (!b->feed)
    return;
  /* Names from the module kilnd has, so that a subscriber needs nothing
   * but the feed. */
  Kiln__FunctionName *names = calloc(hm->n_regions + 1, sizeof *names);
  Kiln__FunctionName **np = calloc(hm->n_regions + 1, sizeof *np);
  size_t n = 0;
  for (size_t i = 0; names && np && i < hm->n_regions; i++) {
    const Kiln__Region *r = hm->regions[i];
    uint32_t x = r->function_index;
    if (r->is_loop || x >= m->nfuncs || !m->funcs[x].name.str)
      continue;
    kiln__function_name__init(&names[n]);
    names[n].function_index = x;
    names[n].name = (char *)m->funcs[x].name.str;
    np[n] = &names[n];
    n++;
  }
  Kiln__FeedHeatMap fh = KILN__FEED_HEAT_MAP__INIT;
  fh.agent = agent;
  fh.heat_map = (Kiln__HeatMap *)hm;
  fh.n_names = n;
  fh.names = np;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.snapshot = snapshot;
  ev.event_case = KILN__FEED_EVENT__EVENT_HEAT_MAP;
  ev.heat_map = &fh;
  publish(b, &ev);
  free(names);
  free(np);
}

void feed_partition(Broker *b, uint32_t agent, const Kiln__Partition *p, bool control,
                    bool snapshot) {
  Kiln__FeedPartition fp = KILN__FEED_PARTITION__INIT;
  fp.agent = agent;
  fp.partition = (Kiln__Partition *)p;
  fp.control = control;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.snapshot = snapshot;
  ev.event_case = KILN__FEED_EVENT__EVENT_PARTITION;
  ev.partition = &fp;
  publish(b, &ev);
}

void feed_compile(Broker *b, Kiln__CompileState state, const Job *j, double duration_s,
                  const Kiln__PackageReady *pkg, const char *error) {
  if (state == KILN__COMPILE_STATE__COMPILE_DONE && pkg && pkg->cached) {
    b->cache_hits++;
  } else if (state == KILN__COMPILE_STATE__COMPILE_DONE) {
    b->compiles++;
    b->recent[b->recent_at]++;
  }
  if (!b->feed)
    return;
  Kiln__CompileEvent ce = KILN__COMPILE_EVENT__INIT;
  ce.state = state;
  ce.job = j->id;
  ce.module_hash.data = (uint8_t *)j->module->hash;
  ce.module_hash.len = 32;
  ce.tier = j->tier;
  ce.functions = (uint32_t)j->nfuncs;
  ce.n_function_indices = j->nfuncs;
  ce.function_indices = j->funcs;
  size_t nwaiting = 0;
  for (const Waiter *w = j->waiters; w; w = w->next)
    nwaiting++;
  uint32_t *agents = calloc(nwaiting ? nwaiting : 1, sizeof *agents);
  if (!agents)
    return;
  for (const Waiter *w = j->waiters; w; w = w->next) {
    uint32_t n = adapt_agent_number(b, w->client, w->client_len);
    bool listed = false;
    for (size_t i = 0; i < ce.n_agents && !listed; i++)
      listed = agents[i] == n;
    if (n && !listed) /* 0: a requester that never said Hello */
      agents[ce.n_agents++] = n;
  }
  ce.agents = agents;
  ce.duration_s = duration_s;
  if (pkg) {
    ce.cache_hit = pkg->cached;
    ce.segment = pkg->segment;
    ce.size = pkg->size;
  }
  ce.error = (char *)(error ? error : "");
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_COMPILE;
  ev.compile = &ce;
  publish(b, &ev);
  free(agents);
}

void feed_control(Broker *b, const Kiln__Control *c, const Kiln__ControlReply *r) {
  Kiln__ControlResult cr = KILN__CONTROL_RESULT__INIT;
  cr.control = (Kiln__Control *)c;
  cr.reply = (Kiln__ControlReply *)r;
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_CONTROL;
  ev.control = &cr;
  publish(b, &ev);
}

void feed_stats(Broker *b) {
  /* The rate covers the last five ticks (fewer just after the start). */
  size_t span = sizeof b->recent / sizeof b->recent[0];
  uint32_t finished = 0;
  for (size_t i = 0; i < span; i++)
    finished += b->recent[i];
  b->ticks++;
  double rate = (double)finished / (double)(b->ticks < span ? b->ticks : span);
  b->recent_at = (b->recent_at + 1) % (unsigned)span;
  b->recent[b->recent_at] = 0;
  if (!b->feed)
    return;
  Kiln__ServiceStats st = KILN__SERVICE_STATS__INIT;
  st.pid = (uint32_t)getpid();
  st.server_version = (char *)KILN_VERSION;
  st.uptime_s = kd_now() - b->started;
  st.workers = (uint32_t)b->nworkers;
  for (int i = 0; i < b->nworkers; i++)
    st.workers_busy += b->workers[i].job != NULL;
  st.queued = (uint32_t)b->nqueued;
  st.compiles_per_s = rate;
  st.compiles = b->compiles;
  st.cache_hits = b->cache_hits;
  uint64_t asked = b->compiles + b->cache_hits;
  st.cache_hit_rate = asked ? (double)b->cache_hits / (double)asked : 0;
  size_t n = 0;
  for (const Agent *a = b->seen; a; a = a->next)
    n += !a->gone;
  uint32_t *ids = calloc(n + 1, sizeof *ids);
  for (const Agent *a = b->seen; ids && a; a = a->next)
    if (!a->gone)
      ids[st.n_agents++] = a->id;
  st.agents = ids;
  settings(&b->part_cfg, &st.policy, &st.hot, &st.warm);
  Kiln__FeedEvent ev = KILN__FEED_EVENT__INIT;
  ev.event_case = KILN__FEED_EVENT__EVENT_STATS;
  ev.stats = &st;
  publish(b, &ev);
  free(ids);
}
