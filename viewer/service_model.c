/*
 * service_model.c: KvService (service_model.h).
 */
#include "service_model.h"

struct _KvService {
  GObject parent;
  KvServiceInfo info;
};

G_DEFINE_FINAL_TYPE(KvService, kv_service, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void kv_service_finalize(GObject *o) {
  KvServiceInfo *i = &KV_SERVICE(o)->info;
  g_free(i->endpoint);
  g_free(i->feed);
  g_free(i->version);
  g_free(i->policy);
  G_OBJECT_CLASS(kv_service_parent_class)->finalize(o);
}

static void kv_service_class_init(KvServiceClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_service_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(c), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void kv_service_init(KvService *self) {
  self->info.version = g_strdup("");
  self->info.policy = g_strdup("");
}

KvService *kv_service_new(const char *endpoint, const char *feed) {
  KvService *self = g_object_new(KV_TYPE_SERVICE, NULL);
  self->info.endpoint = g_strdup(endpoint ? endpoint : "");
  self->info.feed = g_strdup(feed ? feed : "");
  return self;
}

void kv_service_take_stats(KvService *self, const Kiln__ServiceStats *st) {
  KvServiceInfo *i = &self->info;
  i->has_stats = true;
  i->pid = st->pid;
  g_free(i->version);
  i->version = g_strdup(st->server_version ? st->server_version : "");
  i->uptime_s = st->uptime_s;
  i->workers = st->workers;
  i->workers_busy = st->workers_busy;
  i->queued = st->queued;
  i->compiles_per_s = st->compiles_per_s;
  i->compiles = st->compiles;
  i->cache_hits = st->cache_hits;
  i->cache_hit_rate = st->cache_hit_rate;
  i->agents = (guint)st->n_agents;
  g_free(i->policy);
  i->policy = g_strdup(st->policy ? st->policy : "");
  i->hot = st->hot;
  i->warm = st->warm;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

bool kv_service_set_state(KvService *self, KvServiceState state) {
  if (self->info.state == state)
    return false;
  self->info.state = state;
  if (state != KV_SERVICE_CONNECTED)
    self->info.has_stats = false;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
  return true;
}

const KvServiceInfo *kv_service_info(KvService *self) {
  return &self->info;
}
