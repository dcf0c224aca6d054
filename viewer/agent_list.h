/*
 * agent_list.h: KvAgentList, the agents kilnd has now, by number, as a
 * GListModel of KvAgent (the sidebar binds to it).
 */
#ifndef KILN_VIEWER_AGENT_LIST_H
#define KILN_VIEWER_AGENT_LIST_H

#include <gio/gio.h>

#include "agent.h"

G_BEGIN_DECLS

#define KV_TYPE_AGENT_LIST (kv_agent_list_get_type())
G_DECLARE_FINAL_TYPE(KvAgentList, kv_agent_list, KV, AGENT_LIST, GObject)

KvAgentList *kv_agent_list_new(void);
/* The agent numbered id, or NULL (borrowed). */
KvAgent *kv_agent_list_lookup(KvAgentList *self, guint id);
/* The agent numbered id, added in order when new (borrowed); one that was
 * removed comes back as it was, history and all. */
KvAgent *kv_agent_list_ensure(KvAgentList *self, guint id);
/* Whether it was there. It is kept a while, in case kilnd says it is back. */
gboolean kv_agent_list_remove(KvAgentList *self, guint id);
/* Removes those not in ids (kilnd's list of who is connected); how many. */
guint kv_agent_list_keep_only(KvAgentList *self, const guint32 *ids, size_t n);
/* Forgets every agent, those kept too (a new kilnd numbers them anew). */
void kv_agent_list_clear(KvAgentList *self);

G_END_DECLS

#endif
