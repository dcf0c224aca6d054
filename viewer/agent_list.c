/*
 * agent_list.c: KvAgentList (agent_list.h). A sorted array: there are a
 * handful of agents, and a linear search reads plainly.
 */
#include "agent_list.h"

/* Agents kilnd said were gone, kept in case it says they are back (it
 * guesses which connection closed): the newest few. */
#define DEPARTED_KEPT 16

struct _KvAgentList {
  GObject parent;
  GPtrArray *agents; /* KvAgent *, owned, ascending id */
  GPtrArray *departed; /* KvAgent *, owned, oldest first */
};

static GType item_type(GListModel *m) {
  (void)m;
  return KV_TYPE_AGENT;
}

static guint n_items(GListModel *m) {
  return KV_AGENT_LIST(m)->agents->len;
}

static gpointer item(GListModel *m, guint i) {
  GPtrArray *a = KV_AGENT_LIST(m)->agents;
  return i < a->len ? g_object_ref(a->pdata[i]) : NULL;
}

static void list_init(GListModelInterface *iface) {
  iface->get_item_type = item_type;
  iface->get_n_items = n_items;
  iface->get_item = item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE(KvAgentList, kv_agent_list, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_init))

static void kv_agent_list_finalize(GObject *o) {
  g_ptr_array_unref(KV_AGENT_LIST(o)->agents);
  g_ptr_array_unref(KV_AGENT_LIST(o)->departed);
  G_OBJECT_CLASS(kv_agent_list_parent_class)->finalize(o);
}

static void kv_agent_list_class_init(KvAgentListClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_agent_list_finalize;
}

static void kv_agent_list_init(KvAgentList *self) {
  self->agents = g_ptr_array_new_with_free_func(g_object_unref);
  self->departed = g_ptr_array_new_with_free_func(g_object_unref);
}

KvAgentList *kv_agent_list_new(void) {
  return g_object_new(KV_TYPE_AGENT_LIST, NULL);
}

/* Where id is, or where it would go (*found false). */
static guint position_of(KvAgentList *self, guint id, gboolean *found) {
  guint i = 0;
  for (; i < self->agents->len; i++) {
    guint have = kv_agent_info(self->agents->pdata[i])->id;
    if (have >= id) {
      *found = have == id;
      return i;
    }
  }
  *found = FALSE;
  return i;
}

KvAgent *kv_agent_list_lookup(KvAgentList *self, guint id) {
  gboolean found;
  guint i = position_of(self, id, &found);
  return found ? self->agents->pdata[i] : NULL;
}

KvAgent *kv_agent_list_ensure(KvAgentList *self, guint id) {
  gboolean found;
  guint i = position_of(self, id, &found);
  if (found)
    return self->agents->pdata[i];
  KvAgent *a = NULL;
  for (guint k = 0; k < self->departed->len && !a; k++)
    if (kv_agent_info(self->departed->pdata[k])->id == id)
      a = g_ptr_array_steal_index(self->departed, k); /* back, with its history */
  if (!a)
    a = kv_agent_new(id);
  g_ptr_array_insert(self->agents, (gint)i, a);
  g_list_model_items_changed(G_LIST_MODEL(self), i, 0, 1);
  return a;
}

gboolean kv_agent_list_remove(KvAgentList *self, guint id) {
  gboolean found;
  guint i = position_of(self, id, &found);
  if (!found)
    return FALSE;
  if (self->departed->len == DEPARTED_KEPT)
    g_ptr_array_remove_index(self->departed, 0);
  g_ptr_array_add(self->departed, g_ptr_array_steal_index(self->agents, i));
  g_list_model_items_changed(G_LIST_MODEL(self), i, 1, 0);
  return TRUE;
}

guint kv_agent_list_keep_only(KvAgentList *self, const guint32 *ids, size_t n) {
  guint removed = 0;
  for (guint i = self->agents->len; i-- > 0;) {
    guint id = kv_agent_info(self->agents->pdata[i])->id;
    gboolean listed = FALSE;
    for (size_t k = 0; k < n && !listed; k++)
      listed = ids[k] == id;
    if (!listed && kv_agent_list_remove(self, id))
      removed++;
  }
  return removed;
}

void kv_agent_list_clear(KvAgentList *self) {
  guint n = self->agents->len;
  if (!n)
    return;
  g_ptr_array_set_size(self->agents, 0);
  g_ptr_array_set_size(self->departed, 0); /* a new kilnd numbers from 1 again */
  g_list_model_items_changed(G_LIST_MODEL(self), 0, n, 0);
}
