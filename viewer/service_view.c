/*
 * service_view.c: KvServiceView (service_view.h); its layout is
 * data/viewer/service.ui.
 */
#include "service_view.h"

struct _KvServiceView {
  GtkBox parent;
  GtkLabel *title, *busy, *queue, *compiles, *hits, *agents, *settings;
  GtkLevelBar *busy_bar, *hit_bar;
  KvService *service;
  gulong changed_id;
};

G_DEFINE_FINAL_TYPE(KvServiceView, kv_service_view, GTK_TYPE_BOX)

static void set(GtkLabel *l, char *text) {
  gtk_label_set_text(l, text);
  g_free(text);
}

static void refresh(KvServiceView *self) {
  const KvServiceInfo *s = kv_service_info(self->service);
  if (!s->has_stats) {
    set(self->title,
        g_strdup_printf(s->state == KV_SERVICE_LOST ? "kilnd went silent; waiting for kilnd at %s"
                                                    : "waiting for kilnd at %s",
                        s->endpoint));
    return;
  }
  set(self->title,
      g_strdup_printf("kilnd %u (kiln %s), up %.0f s", s->pid, s->version, s->uptime_s));
  gtk_level_bar_set_max_value(self->busy_bar, s->workers ? s->workers : 1);
  gtk_level_bar_set_value(self->busy_bar, s->workers_busy);
  set(self->busy, g_strdup_printf("%u of %u", s->workers_busy, s->workers));
  set(self->queue,
      g_strdup_printf("%u job%s waiting for a worker", s->queued, s->queued == 1 ? "" : "s"));
  set(self->compiles, g_strdup_printf("%.1f per second (last 5 s); %llu since start",
                                      s->compiles_per_s, (unsigned long long)s->compiles));
  gtk_level_bar_set_value(self->hit_bar, s->cache_hit_rate);
  set(self->hits, g_strdup_printf("%.0f%% (%llu of %llu)", s->cache_hit_rate * 100,
                                  (unsigned long long)s->cache_hits,
                                  (unsigned long long)(s->cache_hits + s->compiles)));
  set(self->agents, g_strdup_printf("%u connected", s->agents));
  set(self->settings,
      g_strdup_printf("%s, hot %.0f%%, warm %.0f%%", s->policy, s->hot * 100, s->warm * 100));
}

static void on_changed(KvService *s, gpointer data) {
  (void)s;
  refresh(data);
}

void kv_service_view_set_model(KvServiceView *self, KvService *service) {
  if (self->service) {
    g_signal_handler_disconnect(self->service, self->changed_id);
    g_object_unref(self->service);
  }
  self->service = g_object_ref(service);
  self->changed_id = g_signal_connect(service, "changed", G_CALLBACK(on_changed), self);
  refresh(self);
}

static void kv_service_view_dispose(GObject *o) {
  KvServiceView *self = KV_SERVICE_VIEW(o);
  if (self->service) {
    g_signal_handler_disconnect(self->service, self->changed_id);
    g_clear_object(&self->service);
  }
  gtk_widget_dispose_template(GTK_WIDGET(o), KV_TYPE_SERVICE_VIEW);
  G_OBJECT_CLASS(kv_service_view_parent_class)->dispose(o);
}

static void kv_service_view_class_init(KvServiceViewClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_service_view_dispose;
  GtkWidgetClass *w = GTK_WIDGET_CLASS(c);
  gtk_widget_class_set_template_from_resource(w, "/org/kiln/Viewer/service.ui");
#define BIND(name) gtk_widget_class_bind_template_child(w, KvServiceView, name)
  BIND(title);
  BIND(busy);
  BIND(queue);
  BIND(compiles);
  BIND(hits);
  BIND(agents);
  BIND(settings);
  BIND(busy_bar);
  BIND(hit_bar);
#undef BIND
}

static void kv_service_view_init(KvServiceView *self) {
  gtk_widget_init_template(GTK_WIDGET(self));
}
