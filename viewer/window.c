/*
 * window.c: KvWindow (window.h).
 *
 * The sidebar has few rows (kilnd and a handful of agents), so it is
 * rebuilt whenever the agent list changes, keeping the selection by agent
 * number; each agent row updates its own labels on the agent's signals.
 */
#include "window.h"

#include "agent_list.h"
#include "detail_view.h"
#include "service_view.h"
#include "timeline.h"

struct _KvWindow {
  GtkApplicationWindow parent;
  GtkLabel *summary, *banner, *empty;
  GtkListBox *sidebar, *timeline;
  GtkStack *stack;
  KvHeatmapView *heatmap;
  KvServiceView *service_view;
  KvDetailView *detail;
  KvControlPanel *controls;
  KvFeedModel *model;
  guint shown_agent; /* 0: none, or the service row */
  guint wanted_agent; /* the one chosen, shown again if it comes back */
  guint chosen_agent, chosen_function; /* the last function selected, and whose */
  bool service_shown;
  bool rebuilding;
  guint agents_before; /* at the last rebuild */
  guint rows_timer; /* pending refresh of the agent rows' labels */
};

G_DEFINE_FINAL_TYPE(KvWindow, kv_window, GTK_TYPE_APPLICATION_WINDOW)

/* --- sidebar ---------------------------------------------------------------- */

static void duration(double s, char *buf, size_t n) {
  if (s < 60)
    g_snprintf(buf, n, "%.0f s", s);
  else if (s < 3600)
    g_snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else
    g_snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static char *agent_title(KvAgent *a) {
  const KvAgentInfo *i = kv_agent_info(a);
  return g_strdup_printf("%s (agent %u)", *i->client_name ? i->client_name : "?", i->id);
}

/* The window's title names the agent shown, as its row does. */
static void set_title(KvWindow *self, KvAgent *a) {
  char *t = a ? agent_title(a) : NULL, *title = g_strconcat("Kiln viewer", t ? ": " : "", t, NULL);
  gtk_window_set_title(GTK_WINDOW(self), title);
  g_free(title);
  g_free(t);
}

static void update_agent_row(GtkWidget *row, KvAgent *a) {
  const KvAgentInfo *i = kv_agent_info(a);
  GtkLabel *title = g_object_get_data(G_OBJECT(row), "title");
  GtkLabel *sub = g_object_get_data(G_OBJECT(row), "sub");
  KvHeatSummary s;
  kv_heat_model_summary(kv_agent_heat(a), &s);
  char up[32], *t = agent_title(a);
  gtk_label_set_text(title, t);
  g_free(t);
  duration(i->connected_s, up, sizeof up);
  if (s.heat_maps)
    t = g_strdup_printf("pid %u, module %.12s\nup %s, CPU %.0f%%, %zu hot %zu warm", i->pid,
                        *i->module_hex ? i->module_hex : "-", up, s.cpu_share * 100,
                        s.placed[KILN__TIER__TIER_HOT], s.placed[KILN__TIER__TIER_WARM]);
  else
    t = g_strdup_printf("pid %u, module %.12s\nup %s, no heat map yet", i->pid,
                        *i->module_hex ? i->module_hex : "-", up);
  gtk_label_set_text(sub, t);
  g_free(t);
}

/* Labels change size, and a size change lays the whole window out again:
 * rows are refreshed a few times a second at most, however often their
 * agents change, so the heat map keeps the frame to itself. */
#define ROWS_REFRESH_MS 100

static gboolean refresh_rows(gpointer data) {
  KvWindow *self = data;
  self->rows_timer = 0;
  for (int i = 1;; i++) {
    GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->sidebar, i);
    if (!row)
      break;
    if (g_object_get_data(G_OBJECT(row), "stale")) {
      g_object_set_data(G_OBJECT(row), "stale", NULL);
      KvAgent *a = g_object_get_data(G_OBJECT(row), "agent");
      update_agent_row(GTK_WIDGET(row), a);
      /* Its name can come after it was shown. */
      if (!self->service_shown && kv_agent_info(a)->id == self->shown_agent)
        set_title(self, a);
    }
  }
  return G_SOURCE_REMOVE;
}

static void on_agent_changed(gpointer instance, gpointer row) {
  (void)instance;
  KvAgent *a = g_object_get_data(G_OBJECT(row), "agent");
  KvWindow *self = g_object_get_data(G_OBJECT(row), "window");
  g_object_set_data(G_OBJECT(row), "stale", GINT_TO_POINTER(1));
  if (self && !self->rows_timer)
    self->rows_timer = g_timeout_add(ROWS_REFRESH_MS, refresh_rows, self);
  const KvAgentInfo *i = kv_agent_info(a);
  if (self && i->id == self->shown_agent && !self->service_shown)
    kv_control_panel_set_agent(self->controls, i->id, i->policy, i->hot, i->warm);
}

static GtkWidget *row_new(const char *title_text) {
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 1);
  gtk_widget_add_css_class(box, "agent-row");
  GtkWidget *title = gtk_label_new(title_text), *sub = gtk_label_new("");
  gtk_label_set_xalign(GTK_LABEL(title), 0);
  gtk_label_set_xalign(GTK_LABEL(sub), 0);
  gtk_label_set_ellipsize(GTK_LABEL(title), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class(title, "heading");
  gtk_widget_add_css_class(sub, "dim-label");
  gtk_box_append(GTK_BOX(box), title);
  gtk_box_append(GTK_BOX(box), sub);
  GtkWidget *row = gtk_list_box_row_new();
  gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), box);
  g_object_set_data(G_OBJECT(row), "title", title);
  g_object_set_data(G_OBJECT(row), "sub", sub);
  return row;
}

static void update_service_row(KvWindow *self) {
  GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->sidebar, 0);
  if (!row)
    return;
  const KvServiceInfo *s = kv_service_info(kv_feed_model_service(self->model));
  char *t = s->has_stats ? g_strdup_printf("pid %u, %u/%u workers busy, queue %u", s->pid,
                                           s->workers_busy, s->workers, s->queued)
                         : g_strdup(s->state == KV_SERVICE_LOST ? "went silent" : "waiting");
  gtk_label_set_text(g_object_get_data(G_OBJECT(row), "sub"), t);
  g_free(t);
}

static void show_agent(KvWindow *self, KvAgent *a) {
  self->service_shown = false;
  self->shown_agent = a ? kv_agent_info(a)->id : 0;
  KvHeatModel *heat = a ? kv_agent_heat(a) : NULL;
  kv_heatmap_view_set_model(self->heatmap, heat);
  kv_detail_view_show(self->detail, heat, KV_NO_FUNCTION);
  if (a) {
    const KvAgentInfo *i = kv_agent_info(a);
    kv_control_panel_set_agent(self->controls, i->id, i->policy, i->hot, i->warm);
  } else {
    kv_control_panel_set_agent(self->controls, 0, NULL, 0, 0);
  }
  gtk_stack_set_visible_child_name(self->stack, a ? "heatmap" : "empty");
  set_title(self, a);
  /* Back to an agent: back to its function too. */
  if (a && self->chosen_agent == self->shown_agent)
    kv_heatmap_view_select(self->heatmap, self->chosen_function);
}

static void on_row_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data) {
  (void)box;
  KvWindow *self = data;
  if (self->rebuilding || !row)
    return;
  KvAgent *a = g_object_get_data(G_OBJECT(row), "agent");
  if (a && !self->service_shown && kv_agent_info(a)->id == self->shown_agent)
    return; /* the same agent, reselected after a rebuild: keep its selection */
  if (a) {
    show_agent(self, a);
    self->wanted_agent = self->shown_agent;
    return;
  }
  self->wanted_agent = 0;
  self->service_shown = true;
  self->shown_agent = 0;
  kv_heatmap_view_set_model(self->heatmap, NULL);
  kv_detail_view_show(self->detail, NULL, KV_NO_FUNCTION);
  kv_control_panel_set_agent(self->controls, 0, NULL, 0, 0);
  gtk_stack_set_visible_child_name(self->stack, "service");
  gtk_window_set_title(GTK_WINDOW(self), "Kiln viewer: kilnd");
}

static void fill_sidebar(KvWindow *self) {
  self->rebuilding = true;
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->sidebar))))
    gtk_list_box_remove(self->sidebar, child);
  GtkWidget *service = row_new("kilnd (the service)");
  gtk_list_box_append(self->sidebar, service);
  GListModel *agents = G_LIST_MODEL(kv_feed_model_agents(self->model));
  guint n_agents = g_list_model_get_n_items(agents);
  /* kilnd's row stays chosen, unless it was only the one there was: the
   * first agent to come is what a window just opened should show. */
  GtkWidget *keep = self->service_shown && self->agents_before ? service : NULL;
  self->agents_before = n_agents;
  KvAgent *first = NULL;
  for (guint i = 0; i < n_agents; i++) {
    KvAgent *a = g_list_model_get_item(agents, i);
    GtkWidget *row = row_new("");
    /* The row holds the agent while it lives; its handlers go with it. */
    g_object_set_data_full(G_OBJECT(row), "agent", g_object_ref(a), g_object_unref);
    g_object_set_data(G_OBJECT(row), "window", self);
    g_signal_connect_object(a, "changed", G_CALLBACK(on_agent_changed), row, 0);
    g_signal_connect_object(kv_agent_heat(a), "changed", G_CALLBACK(on_agent_changed), row, 0);
    update_agent_row(row, a);
    gtk_list_box_append(self->sidebar, row);
    guint id = kv_agent_info(a)->id;
    if (id == self->wanted_agent || (id == self->shown_agent && !keep))
      keep = row;
    if (!first)
      first = a;
    g_object_unref(a);
  }
  update_service_row(self);
  self->rebuilding = false;
  if (keep) {
    gtk_list_box_select_row(self->sidebar, GTK_LIST_BOX_ROW(keep));
    return;
  }
  /* The agent shown left (or none was): show the first, so a window that
   * was just opened shows a heat map without a click. */
  show_agent(self, first);
  if (!self->wanted_agent && first)
    self->wanted_agent = self->shown_agent;
  self->rebuilding = true; /* shown already */
  gtk_list_box_select_row(self->sidebar,
                          gtk_list_box_get_row_at_index(self->sidebar, first ? 1 : 0));
  self->rebuilding = false;
  self->service_shown = !first;
  if (!first)
    gtk_stack_set_visible_child_name(self->stack, "service");
}

/* Rebuilding removes the rows: the keyboard, if it was on one (or nowhere
 * yet, as in a window opened before kilnd's first agent came), goes to the
 * selected row instead of being lost. */
static void rebuild_sidebar(KvWindow *self) {
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(self));
  bool in_sidebar = !focus || gtk_widget_is_ancestor(focus, GTK_WIDGET(self->sidebar));
  fill_sidebar(self);
  GtkListBoxRow *row = gtk_list_box_get_selected_row(self->sidebar);
  if (in_sidebar && row)
    gtk_widget_grab_focus(GTK_WIDGET(row));
}

static void on_agents_changed(GListModel *m, guint pos, guint removed, guint added, gpointer data) {
  (void)m, (void)pos, (void)removed, (void)added;
  rebuild_sidebar(data);
}

/* --- connection, summary ------------------------------------------------------ */

static void on_service_changed(KvService *svc, gpointer data) {
  KvWindow *self = data;
  const KvServiceInfo *s = kv_service_info(svc);
  char *t;
  if (s->state == KV_SERVICE_CONNECTED) {
    gtk_label_set_text(self->banner, "");
    gtk_widget_set_visible(GTK_WIDGET(self->banner), FALSE);
  } else {
    t = g_strdup_printf(s->state == KV_SERVICE_LOST
                            ? "kilnd went silent: waiting for kilnd at %s (its feed %s)"
                            : "waiting for kilnd at %s (its feed %s)",
                        s->endpoint, s->feed);
    gtk_label_set_text(self->banner, t);
    gtk_widget_set_visible(GTK_WIDGET(self->banner), TRUE);
    g_free(t);
  }
  if (s->has_stats)
    t = g_strdup_printf("kilnd %u: %u/%u workers busy, queue %u, %.1f compiles/s, cache hits "
                        "%.0f%%, %s hot %.0f%% warm %.0f%%",
                        s->pid, s->workers_busy, s->workers, s->queued, s->compiles_per_s,
                        s->cache_hit_rate * 100, s->policy, s->hot * 100, s->warm * 100);
  else
    t = g_strdup(s->feed);
  gtk_label_set_text(self->summary, t);
  g_free(t);
  update_service_row(self);
}

/* --- timeline -------------------------------------------------------------- */

static GtkWidget *timeline_row(gpointer item, gpointer data) {
  (void)data;
  KvEvent *e = item;
  char when[32] = "";
  if (kv_event_get_time(e) >= 0)
    g_snprintf(when, sizeof when, "%7.1f s", kv_event_get_time(e));
  char who[24] = "";
  if (kv_event_get_agent(e))
    g_snprintf(who, sizeof who, "agent %u", kv_event_get_agent(e));
  char *t = g_strdup_printf("%s  %-9s %-8s %s", when, kv_event_kind_name(kv_event_get_kind(e)), who,
                            kv_event_get_text(e));
  GtkWidget *l = gtk_label_new(t);
  gtk_widget_set_tooltip_text(l, kv_event_get_text(e)); /* the whole line, when cut */
  g_free(t);
  gtk_label_set_xalign(GTK_LABEL(l), 0);
  gtk_label_set_ellipsize(GTK_LABEL(l), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class(l, "timeline-row");
  switch (kv_event_get_kind(e)) {
  case KV_EVENT_ERROR:
  case KV_EVENT_REFUSED:
    gtk_widget_add_css_class(l, "error");
    break;
  case KV_EVENT_DEMOTION:
  case KV_EVENT_SERVICE:
    gtk_widget_add_css_class(l, "warning");
    break;
  default:
    break;
  }
  return l;
}

/* --- the rest ---------------------------------------------------------------- */

static void on_function_selected(KvHeatmapView *view, guint index, gpointer data) {
  KvWindow *self = data;
  GListModel *agents = G_LIST_MODEL(kv_feed_model_agents(self->model));
  KvAgent *a = kv_agent_list_lookup(KV_AGENT_LIST(agents), self->shown_agent);
  (void)view;
  if (a && index != KV_NO_FUNCTION) {
    self->chosen_agent = self->shown_agent;
    self->chosen_function = index;
  }
  kv_detail_view_show(self->detail, a ? kv_agent_heat(a) : NULL, index);
}

static void kv_window_dispose(GObject *o) {
  KvWindow *self = KV_WINDOW(o);
  if (self->rows_timer)
    g_source_remove(self->rows_timer);
  self->rows_timer = 0;
  if (self->model) {
    g_signal_handlers_disconnect_by_data(kv_feed_model_agents(self->model), self);
    g_signal_handlers_disconnect_by_data(kv_feed_model_service(self->model), self);
    g_clear_object(&self->model);
  }
  gtk_widget_dispose_template(GTK_WIDGET(o), KV_TYPE_WINDOW);
  G_OBJECT_CLASS(kv_window_parent_class)->dispose(o);
}

static void kv_window_class_init(KvWindowClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_window_dispose;
  GtkWidgetClass *w = GTK_WIDGET_CLASS(c);
  /* The template names these types: they must exist before it is read. */
  g_type_ensure(KV_TYPE_HEATMAP_VIEW);
  g_type_ensure(KV_TYPE_DETAIL_VIEW);
  g_type_ensure(KV_TYPE_SERVICE_VIEW);
  g_type_ensure(KV_TYPE_CONTROL_PANEL);
  gtk_widget_class_set_template_from_resource(w, "/org/kiln/Viewer/window.ui");
#define BIND(name) gtk_widget_class_bind_template_child(w, KvWindow, name)
  BIND(summary);
  BIND(banner);
  BIND(empty);
  BIND(sidebar);
  BIND(timeline);
  BIND(stack);
  BIND(heatmap);
  BIND(service_view);
  BIND(detail);
  BIND(controls);
#undef BIND
}

static gboolean apply_shortcut(GtkWidget *w, GVariant *args, gpointer data) {
  (void)args, (void)data;
  kv_control_panel_apply(KV_WINDOW(w)->controls);
  return TRUE;
}

static void kv_window_init(KvWindow *self) {
  gtk_widget_init_template(GTK_WIDGET(self));
  /* Ctrl+Return applies the controls from anywhere in the window. */
  GtkEventController *sc = gtk_shortcut_controller_new();
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(sc),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Return, GDK_CONTROL_MASK),
                       gtk_callback_action_new(apply_shortcut, NULL, NULL)));
  gtk_shortcut_controller_set_scope(GTK_SHORTCUT_CONTROLLER(sc), GTK_SHORTCUT_SCOPE_GLOBAL);
  gtk_widget_add_controller(GTK_WIDGET(self), sc);
  g_signal_connect(self->sidebar, "row-selected", G_CALLBACK(on_row_selected), self);
  g_signal_connect(self->heatmap, "selected", G_CALLBACK(on_function_selected), self);
}

KvWindow *kv_window_new(GtkApplication *app, KvFeedModel *model, ControlClient *control) {
  KvWindow *self = g_object_new(KV_TYPE_WINDOW, "application", app, NULL);
  self->model = g_object_ref(model);
  kv_control_panel_set_client(self->controls, control);
  kv_service_view_set_model(self->service_view, kv_feed_model_service(model));
  g_signal_connect(kv_feed_model_agents(model), "items-changed", G_CALLBACK(on_agents_changed),
                   self);
  g_signal_connect(kv_feed_model_service(model), "changed", G_CALLBACK(on_service_changed), self);
  gtk_list_box_bind_model(self->timeline, G_LIST_MODEL(kv_feed_model_timeline(model)), timeline_row,
                          NULL, NULL);
  rebuild_sidebar(self);
  on_service_changed(kv_feed_model_service(model), self);
  return self;
}

KvControlPanel *kv_window_controls(KvWindow *self) {
  return self->controls;
}

KvHeatmapView *kv_window_heatmap(KvWindow *self) {
  return self->heatmap;
}

KvDetailView *kv_window_detail(KvWindow *self) {
  return self->detail;
}

gboolean kv_window_select_agent(KvWindow *self, guint agent) {
  for (int i = 1;; i++) {
    GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->sidebar, i);
    if (!row)
      return FALSE;
    KvAgent *a = g_object_get_data(G_OBJECT(row), "agent");
    if (a && kv_agent_info(a)->id == agent) {
      gtk_list_box_select_row(self->sidebar, row); /* as a click does */
      return TRUE;
    }
  }
}

guint kv_window_selected_agent(KvWindow *self) {
  return self->shown_agent;
}

const char *kv_window_banner(KvWindow *self) {
  return gtk_label_get_text(self->banner);
}
