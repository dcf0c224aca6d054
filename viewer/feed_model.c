/*
 * feed_model.c: KvFeedModel (feed_model.h): one switch from each FeedEvent
 * to the model it changes, and the timeline line it is worth.
 */
#include "feed_model.h"

#include <string.h>

#include "frame.h"

struct _KvFeedModel {
  GObject parent;
  KvAgentList *agents;
  KvService *service;
  KvTimeline *timeline;
  double last_time_s; /* kilnd's uptime at its latest frame */
};

G_DEFINE_FINAL_TYPE(KvFeedModel, kv_feed_model, G_TYPE_OBJECT)

static void kv_feed_model_dispose(GObject *o) {
  KvFeedModel *self = KV_FEED_MODEL(o);
  g_clear_object(&self->agents);
  g_clear_object(&self->service);
  g_clear_object(&self->timeline);
  G_OBJECT_CLASS(kv_feed_model_parent_class)->dispose(o);
}

static void kv_feed_model_class_init(KvFeedModelClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_feed_model_dispose;
}

static void kv_feed_model_init(KvFeedModel *self) {
  self->agents = kv_agent_list_new();
  self->timeline = kv_timeline_new();
  self->last_time_s = -1;
}

KvFeedModel *kv_feed_model_new(const char *endpoint, const char *feed) {
  KvFeedModel *self = g_object_new(KV_TYPE_FEED_MODEL, NULL);
  self->service = kv_service_new(endpoint, feed);
  return self;
}

KvAgentList *kv_feed_model_agents(KvFeedModel *self) {
  return self->agents;
}

KvService *kv_feed_model_service(KvFeedModel *self) {
  return self->service;
}

KvTimeline *kv_feed_model_timeline(KvFeedModel *self) {
  return self->timeline;
}

/* The agent running the module of that hash, for compile events, which
 * name the module only; 0 when none or several. */
static guint agent_of_module(KvFeedModel *self, const ProtobufCBinaryData *hash) {
  if (hash->len != 32)
    return 0;
  char hex[65];
  kiln_hex(hash->data, 32, hex);
  guint found = 0, n = g_list_model_get_n_items(G_LIST_MODEL(self->agents));
  for (guint i = 0; i < n; i++) {
    KvAgent *a = g_list_model_get_item(G_LIST_MODEL(self->agents), i);
    const KvAgentInfo *info = kv_agent_info(a);
    if (strcmp(info->module_hex, hex) == 0)
      found = found ? G_MAXUINT : info->id;
    g_object_unref(a);
  }
  return found == G_MAXUINT ? 0 : found;
}

static void take_agent(KvFeedModel *self, const Kiln__FeedEvent *ev) {
  const Kiln__AgentSeen *s = ev->agent;
  if (s->gone) {
    if (kv_agent_list_remove(self->agents, s->agent))
      kv_timeline_add(self->timeline, KV_EVENT_AGENT, ev->time_s, s->agent,
                      "agent %u (pid %u) left", s->agent, s->pid);
    return;
  }
  bool known = kv_agent_list_lookup(self->agents, s->agent) != NULL;
  KvAgent *a = kv_agent_list_ensure(self->agents, s->agent);
  bool back = !known && kv_agent_info(a)->pid != 0; /* it was here before */
  kv_agent_take_seen(a, s);
  if (back)
    kv_timeline_add(self->timeline, KV_EVENT_AGENT, ev->time_s, s->agent,
                    "agent %u (pid %u) is back", s->agent, s->pid);
  else if (!known && !ev->snapshot)
    kv_timeline_add(self->timeline, KV_EVENT_AGENT, ev->time_s, s->agent,
                    "agent %u joined: %s, pid %u", s->agent,
                    s->client_name && *s->client_name ? s->client_name : "?", s->pid);
}

static void take_partition(KvFeedModel *self, const Kiln__FeedEvent *ev) {
  const Kiln__FeedPartition *fp = ev->partition;
  if (!fp->partition)
    return;
  KvHeatModel *heat = kv_agent_heat(kv_agent_list_ensure(self->agents, fp->agent));
  kv_heat_model_take_partition(heat, fp->partition, fp->control);
  if (fp->control && !ev->snapshot) {
    KvHeatSummary s;
    kv_heat_model_summary(heat, &s);
    kv_timeline_add(self->timeline, KV_EVENT_CONTROL, ev->time_s, fp->agent,
                    "agent %u re-partitioned (%s, hot %.0f%%, warm %.0f%%): %zu hot, %zu warm, "
                    "%zu cold",
                    fp->agent, s.policy, s.hot * 100, s.warm * 100, s.placed[KILN__TIER__TIER_HOT],
                    s.placed[KILN__TIER__TIER_WARM], s.placed[KILN__TIER__TIER_COLD]);
  }
}

static void take_compile(KvFeedModel *self, const Kiln__FeedEvent *ev) {
  const Kiln__CompileEvent *c = ev->compile;
  /* Each agent that waited for it maps it; the timeline names the first. */
  for (size_t i = 0; i < c->n_agents; i++) {
    KvAgent *a = kv_agent_list_lookup(self->agents, c->agents[i]);
    if (a)
      kv_heat_model_take_package(kv_agent_heat(a), c);
  }
  guint agent = c->n_agents ? c->agents[0] : agent_of_module(self, &c->module_hash);
  const char *tier = kiln_tier_name(c->tier);
  if (c->state == KILN__COMPILE_STATE__COMPILE_FAILED)
    kv_timeline_add(self->timeline, KV_EVENT_ERROR, ev->time_s, agent,
                    "%s package of %u function%s failed after %.2f s: %s", tier, c->functions,
                    c->functions == 1 ? "" : "s", c->duration_s, c->error ? c->error : "");
  else if (c->state == KILN__COMPILE_STATE__COMPILE_DONE && c->cache_hit)
    kv_timeline_add(self->timeline, KV_EVENT_COMPILE, ev->time_s, agent,
                    "%s package of %u function%s: cache hit (%llu bytes)", tier, c->functions,
                    c->functions == 1 ? "" : "s", (unsigned long long)c->size);
  else if (c->state == KILN__COMPILE_STATE__COMPILE_DONE)
    kv_timeline_add(self->timeline, KV_EVENT_COMPILE, ev->time_s, agent,
                    "%s package of %u function%s compiled in %.0f ms, cache miss (%llu bytes)",
                    tier, c->functions, c->functions == 1 ? "" : "s", c->duration_s * 1000,
                    (unsigned long long)c->size);
  /* Started: the done line says it all, with the duration. */
}

static void take_control(KvFeedModel *self, const Kiln__FeedEvent *ev) {
  const Kiln__ControlResult *cr = ev->control;
  if (!cr->reply)
    return;
  const Kiln__ControlReply *r = cr->reply;
  char who[32] = "every agent";
  if (r->agent)
    g_snprintf(who, sizeof who, "agent %u", r->agent);
  if (r->ok)
    kv_timeline_add(self->timeline, KV_EVENT_CONTROL, ev->time_s, r->agent,
                    "control for %s: %s, hot %.0f%%, warm %.0f%%; %u partition%s recomputed", who,
                    r->policy, r->hot * 100, r->warm * 100, r->repartitioned,
                    r->repartitioned == 1 ? "" : "s");
  else
    kv_timeline_add(self->timeline, KV_EVENT_REFUSED, ev->time_s, r->agent,
                    "control for %s refused: %s", who, r->reason ? r->reason : "");
}

void kv_feed_model_take(KvFeedModel *self, const Kiln__Envelope *env) {
  if (env->body_case != KILN__ENVELOPE__BODY_FEED_EVENT || !env->feed_event) {
    kv_feed_model_bad_frame(self, "a frame that is not a FeedEvent");
    return;
  }
  const Kiln__FeedEvent *ev = env->feed_event;
  self->last_time_s = ev->time_s;
  if (kv_service_set_state(self->service, KV_SERVICE_CONNECTED))
    kv_timeline_add(self->timeline, KV_EVENT_SERVICE, ev->time_s, 0, "kilnd is there (up %.0f s)",
                    ev->time_s);
  switch (ev->event_case) {
  case KILN__FEED_EVENT__EVENT_AGENT:
    take_agent(self, ev);
    break;
  case KILN__FEED_EVENT__EVENT_HEAT_MAP:
    if (ev->heat_map->heat_map)
      kv_heat_model_take_heat_map(
          kv_agent_heat(kv_agent_list_ensure(self->agents, ev->heat_map->agent)), ev->heat_map,
          self->timeline, ev->heat_map->agent, ev->time_s);
    break;
  case KILN__FEED_EVENT__EVENT_PARTITION:
    take_partition(self, ev);
    break;
  case KILN__FEED_EVENT__EVENT_COMPILE:
    take_compile(self, ev);
    break;
  case KILN__FEED_EVENT__EVENT_STATS:
    /* Its list is who is there: the rest left without a word. */
    kv_agent_list_keep_only(self->agents, ev->stats->agents, ev->stats->n_agents);
    kv_service_take_stats(self->service, ev->stats);
    break;
  case KILN__FEED_EVENT__EVENT_CONTROL:
    take_control(self, ev);
    break;
  default:
    break; /* a newer kilnd's event: nothing to show for it */
  }
}

void kv_feed_model_lost(KvFeedModel *self) {
  if (!kv_service_set_state(self->service, KV_SERVICE_LOST))
    return;
  kv_timeline_add(self->timeline, KV_EVENT_SERVICE, self->last_time_s, 0,
                  "kilnd went silent at %s; waiting for it",
                  kv_service_info(self->service)->endpoint);
  kv_agent_list_clear(self->agents);
}

void kv_feed_model_bad_frame(KvFeedModel *self, const char *why) {
  kv_timeline_add(self->timeline, KV_EVENT_ERROR, self->last_time_s, 0, "kilnd's feed: %s", why);
}
