/*
 * timeline.c: KvTimeline and its KvEvent items (timeline.h).
 */
#include "timeline.h"

#include <stdarg.h>

struct _KvEvent {
  GObject parent;
  KvEventKind kind;
  double time_s;
  guint agent;
  char *text;
};

G_DEFINE_FINAL_TYPE(KvEvent, kv_event, G_TYPE_OBJECT)

static void kv_event_finalize(GObject *o) {
  g_free(KV_EVENT(o)->text);
  G_OBJECT_CLASS(kv_event_parent_class)->finalize(o);
}

static void kv_event_class_init(KvEventClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_event_finalize;
}

static void kv_event_init(KvEvent *self) {
  (void)self;
}

KvEventKind kv_event_get_kind(KvEvent *self) {
  return self->kind;
}

double kv_event_get_time(KvEvent *self) {
  return self->time_s;
}

guint kv_event_get_agent(KvEvent *self) {
  return self->agent;
}

const char *kv_event_get_text(KvEvent *self) {
  return self->text;
}

const char *kv_event_kind_name(KvEventKind kind) {
  static const char *const names[] = {
      [KV_EVENT_TIER] = "tier",   [KV_EVENT_DEMOTION] = "demotion", [KV_EVENT_COMPILE] = "compile",
      [KV_EVENT_OSR] = "osr",     [KV_EVENT_CONTROL] = "control",   [KV_EVENT_REFUSED] = "refused",
      [KV_EVENT_ERROR] = "error", [KV_EVENT_AGENT] = "agent",       [KV_EVENT_SERVICE] = "service",
  };
  return (unsigned)kind < G_N_ELEMENTS(names) ? names[kind] : "?";
}

struct _KvTimeline {
  GObject parent;
  GQueue events; /* KvEvent *, newest at the head */
};

static GType kv_timeline_item_type(GListModel *m) {
  (void)m;
  return KV_TYPE_EVENT;
}

static guint kv_timeline_n_items(GListModel *m) {
  return KV_TIMELINE(m)->events.length;
}

static gpointer kv_timeline_item(GListModel *m, guint i) {
  KvEvent *e = g_queue_peek_nth(&KV_TIMELINE(m)->events, i);
  return e ? g_object_ref(e) : NULL;
}

static void kv_timeline_list_init(GListModelInterface *iface) {
  iface->get_item_type = kv_timeline_item_type;
  iface->get_n_items = kv_timeline_n_items;
  iface->get_item = kv_timeline_item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE(KvTimeline, kv_timeline, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, kv_timeline_list_init))

static void kv_timeline_finalize(GObject *o) {
  g_queue_clear_full(&KV_TIMELINE(o)->events, g_object_unref);
  G_OBJECT_CLASS(kv_timeline_parent_class)->finalize(o);
}

static void kv_timeline_class_init(KvTimelineClass *c) {
  G_OBJECT_CLASS(c)->finalize = kv_timeline_finalize;
}

static void kv_timeline_init(KvTimeline *self) {
  g_queue_init(&self->events);
}

KvTimeline *kv_timeline_new(void) {
  return g_object_new(KV_TYPE_TIMELINE, NULL);
}

void kv_timeline_add(KvTimeline *self, KvEventKind kind, double time_s, guint agent,
                     const char *fmt, ...) {
  KvEvent *e = g_object_new(KV_TYPE_EVENT, NULL);
  e->kind = kind;
  e->time_s = time_s;
  e->agent = agent;
  va_list ap;
  va_start(ap, fmt);
  e->text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  /* Room first, so each change is told against the list as it stands. */
  while (self->events.length >= KV_TIMELINE_MAX) {
    g_object_unref(g_queue_pop_tail(&self->events));
    g_list_model_items_changed(G_LIST_MODEL(self), self->events.length, 1, 0);
  }
  g_queue_push_head(&self->events, e);
  g_list_model_items_changed(G_LIST_MODEL(self), 0, 0, 1);
}

guint kv_timeline_count(KvTimeline *self, KvEventKind kind) {
  guint n = 0;
  for (GList *l = self->events.head; l; l = l->next)
    n += KV_EVENT(l->data)->kind == kind;
  return n;
}
