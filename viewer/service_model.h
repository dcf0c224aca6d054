/*
 * service_model.h: KvService, kilnd itself: whether the viewer hears it,
 * and its latest ServiceStats (workers, queue, compiles, cache, settings).
 */
#ifndef KILN_VIEWER_SERVICE_MODEL_H
#define KILN_VIEWER_SERVICE_MODEL_H

#include <glib-object.h>
#include <stdbool.h>

#include "kiln.pb-c.h"

G_BEGIN_DECLS

typedef enum {
  KV_SERVICE_WAITING, /* nothing heard yet at the endpoint */
  KV_SERVICE_CONNECTED, /* its stats come once a second */
  KV_SERVICE_LOST, /* it went silent: gone or restarting */
} KvServiceState;

typedef struct {
  KvServiceState state;
  char *endpoint; /* kilnd's, where controls go */
  char *feed; /* the feed beside it, listened to */
  bool has_stats;
  guint pid;
  char *version;
  double uptime_s;
  guint workers, workers_busy, queued;
  double compiles_per_s;
  guint64 compiles, cache_hits;
  double cache_hit_rate;
  guint agents;
  char *policy; /* the global settings, which new agents get */
  double hot, warm;
} KvServiceInfo;

#define KV_TYPE_SERVICE (kv_service_get_type())
G_DECLARE_FINAL_TYPE(KvService, kv_service, KV, SERVICE, GObject)

KvService *kv_service_new(const char *endpoint, const char *feed);
void kv_service_take_stats(KvService *self, const Kiln__ServiceStats *st);
/* Sets the state; returns whether it changed. */
bool kv_service_set_state(KvService *self, KvServiceState state);
const KvServiceInfo *kv_service_info(KvService *self);

G_END_DECLS

#endif
