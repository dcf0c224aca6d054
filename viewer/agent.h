/*
 * agent.h: KvAgent, one agent as kilnd's feed describes it (AgentSeen),
 * with its KvHeatModel. "changed" tells observers (its sidebar row) that
 * the description moved; the heat model has its own signal.
 */
#ifndef KILN_VIEWER_AGENT_H
#define KILN_VIEWER_AGENT_H

#include <glib-object.h>
#include <stdbool.h>

#include "heat_model.h"
#include "kiln.pb-c.h"

G_BEGIN_DECLS

typedef struct {
  guint id; /* kilnd's number for it, never reused while kilnd runs */
  guint pid;
  char *client_name;
  char module_hex[65]; /* "" before its first heat map */
  double connected_s, silent_s;
  char *policy; /* the settings its next partition gets */
  double hot, warm;
  bool own_settings;
} KvAgentInfo;

#define KV_TYPE_AGENT (kv_agent_get_type())
G_DECLARE_FINAL_TYPE(KvAgent, kv_agent, KV, AGENT, GObject)

KvAgent *kv_agent_new(guint id);
void kv_agent_take_seen(KvAgent *self, const Kiln__AgentSeen *seen);
const KvAgentInfo *kv_agent_info(KvAgent *self);
KvHeatModel *kv_agent_heat(KvAgent *self); /* owned by the agent */

G_END_DECLS

#endif
