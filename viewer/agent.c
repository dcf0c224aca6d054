/*
 * agent.c: KvAgent (agent.h).
 */
#include "agent.h"

#include "frame.h"

struct _KvAgent {
  GObject parent;
  KvAgentInfo info;
  KvHeatModel *heat;
};

G_DEFINE_FINAL_TYPE(KvAgent, kv_agent, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void kv_agent_finalize(GObject *o) {
  KvAgent *self = KV_AGENT(o);
  g_free(self->info.client_name);
  g_free(self->info.policy);
  g_object_unref(self->heat);
  G_OBJECT_CLASS(kv_agent_parent_class)->finalize(o);
}

static void kv_agent_class_init(KvAgentClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_agent_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(c), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void kv_agent_init(KvAgent *self) {
  self->heat = kv_heat_model_new();
  self->info.client_name = g_strdup("");
  self->info.policy = g_strdup("");
}

KvAgent *kv_agent_new(guint id) {
  KvAgent *self = g_object_new(KV_TYPE_AGENT, NULL);
  self->info.id = id;
  return self;
}

void kv_agent_take_seen(KvAgent *self, const Kiln__AgentSeen *s) {
  KvAgentInfo *i = &self->info;
  i->pid = s->pid;
  g_free(i->client_name);
  i->client_name = g_strdup(s->client_name ? s->client_name : "");
  if (s->module_hash.len == 32)
    kiln_hex(s->module_hash.data, 32, i->module_hex);
  i->connected_s = s->connected_s;
  i->silent_s = s->silent_s;
  g_free(i->policy);
  i->policy = g_strdup(s->policy ? s->policy : "");
  i->hot = s->hot;
  i->warm = s->warm;
  i->own_settings = s->own_settings;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

const KvAgentInfo *kv_agent_info(KvAgent *self) {
  return &self->info;
}

KvHeatModel *kv_agent_heat(KvAgent *self) {
  return self->heat;
}
