/*
 * control_panel.c: KvControlPanel (control_panel.h); its layout is
 * data/viewer/control.ui.
 */
#include "control_panel.h"

#include <string.h>

struct _KvControlPanel {
  GtkBox parent;
  GtkRange *hot, *warm;
  GtkDropDown *policy, *scope;
  GtkButton *apply;
  GtkInscription *reply;
  ControlClient *client;
  guint agent;
  bool loaded; /* the sliders show that agent's settings */
  /* What the operator moved since the last send or agent change; the rest
   * is not sent (kilnd keeps it, or takes the new policy's default). */
  bool hot_moved, warm_moved, policy_moved;
  bool setting; /* moving the controls from code: not the operator */
};

G_DEFINE_FINAL_TYPE(KvControlPanel, kv_control_panel, GTK_TYPE_BOX)

enum { SIGNAL_REPLIED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *const policies[] = {"coverage", "share"};

static void say(KvControlPanel *self, gboolean ok, const char *text) {
  gtk_inscription_set_text(self->reply, text);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->reply), text); /* if cut */
  gtk_widget_remove_css_class(GTK_WIDGET(self->reply), "dim-label");
  gtk_widget_remove_css_class(GTK_WIDGET(self->reply), ok ? "error" : "success");
  gtk_widget_add_css_class(GTK_WIDGET(self->reply), ok ? "success" : "error");
  g_signal_emit(self, signals[SIGNAL_REPLIED], 0, ok, text);
}

static void on_reply(const Kiln__ControlReply *r, const char *error, void *data) {
  KvControlPanel *self = data;
  if (!r) {
    say(self, FALSE, error);
    return;
  }
  char *text;
  if (!r->ok) {
    text = g_strdup_printf("kilnd refused: %s", r->reason);
  } else {
    char who[32] = "every agent";
    if (r->agent)
      g_snprintf(who, sizeof who, "agent %u", r->agent);
    text = g_strdup_printf("kilnd: %s now %s, hot %.0f%%, warm %.0f%%; %u partition%s recomputed",
                           who, r->policy, r->hot * 100, r->warm * 100, r->repartitioned,
                           r->repartitioned == 1 ? "" : "s");
  }
  if (r->ok) { /* the settings in effect now, defaults included */
    self->setting = true;
    gtk_range_set_value(self->hot, r->hot * 100);
    gtk_range_set_value(self->warm, r->warm * 100);
    gtk_drop_down_set_selected(self->policy, strcmp(r->policy, "share") == 0 ? 1 : 0);
    self->setting = false;
  }
  say(self, r->ok, text);
  g_free(text);
}

static void on_apply(GtkButton *b, gpointer data) {
  (void)b;
  KvControlPanel *self = data;
  Kiln__Control c = KILN__CONTROL__INIT;
  bool one = gtk_drop_down_get_selected(self->scope) == 1;
  if (one && !self->agent) {
    say(self, FALSE, "no agent selected: choose one in the sidebar, or apply to every agent");
    return;
  }
  c.agent = one ? self->agent : 0;
  guint p = gtk_drop_down_get_selected(self->policy);
  if (self->policy_moved && p < G_N_ELEMENTS(policies))
    c.policy = (char *)policies[p];
  if (self->hot_moved)
    c.hot_percent = (uint32_t)gtk_range_get_value(self->hot);
  if (self->warm_moved)
    c.warm_percent = (uint32_t)gtk_range_get_value(self->warm);
  if (!c.policy[0] && !c.hot_percent && !c.warm_percent) {
    say(self, FALSE, "nothing to change: move a threshold or the policy first");
    return;
  }
  if (!self->client) {
    say(self, FALSE, "not connected to kilnd");
    return;
  }
  gtk_inscription_set_text(self->reply, "sent; waiting for kilnd...");
  self->hot_moved = self->warm_moved = self->policy_moved = false;
  control_client_send(self->client, &c, on_reply, self);
}

static void on_hot(GtkRange *r, gpointer data) {
  (void)r;
  KvControlPanel *self = data;
  self->hot_moved |= !self->setting;
}

static void on_warm(GtkRange *r, gpointer data) {
  (void)r;
  KvControlPanel *self = data;
  self->warm_moved |= !self->setting;
}

static void on_policy(GObject *o, GParamSpec *p, gpointer data) {
  (void)o, (void)p;
  KvControlPanel *self = data;
  self->policy_moved |= !self->setting;
}

void kv_control_panel_set_client(KvControlPanel *self, ControlClient *client) {
  self->client = client;
}

void kv_control_panel_set_agent(KvControlPanel *self, guint agent, const char *policy, double hot,
                                double warm) {
  if (agent == self->agent && self->loaded)
    return;
  self->agent = agent;
  self->loaded = policy && *policy;
  if (!self->loaded)
    return; /* not heard yet: the agent's next change brings them */
  self->setting = true;
  gtk_range_set_value(self->hot, hot * 100);
  gtk_range_set_value(self->warm, warm * 100);
  gtk_drop_down_set_selected(self->policy, strcmp(policy, "share") == 0 ? 1 : 0);
  self->setting = false;
  self->hot_moved = self->warm_moved = self->policy_moved = false;
}

void kv_control_panel_move(KvControlPanel *self, guint hot_percent, guint warm_percent,
                           const char *policy, gboolean selected_agent_only) {
  /* Through the widgets themselves, so their handlers see an operator. */
  if (hot_percent) {
    gtk_range_set_value(self->hot, hot_percent);
    self->hot_moved = true; /* even when it already stood there */
  }
  if (warm_percent) {
    gtk_range_set_value(self->warm, warm_percent);
    self->warm_moved = true;
  }
  if (policy) {
    gtk_drop_down_set_selected(self->policy, strcmp(policy, "share") == 0 ? 1 : 0);
    self->policy_moved = true;
  }
  gtk_drop_down_set_selected(self->scope, selected_agent_only ? 1 : 0);
}

void kv_control_panel_apply(KvControlPanel *self) {
  /* What a click does; activating would first show the button pressed for
   * a quarter of a second. */
  g_signal_emit_by_name(self->apply, "clicked");
}

static void kv_control_panel_dispose(GObject *o) {
  gtk_widget_dispose_template(GTK_WIDGET(o), KV_TYPE_CONTROL_PANEL);
  G_OBJECT_CLASS(kv_control_panel_parent_class)->dispose(o);
}

static void kv_control_panel_class_init(KvControlPanelClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_control_panel_dispose;
  GtkWidgetClass *w = GTK_WIDGET_CLASS(c);
  gtk_widget_class_set_template_from_resource(w, "/org/kiln/Viewer/control.ui");
  gtk_widget_class_bind_template_child(w, KvControlPanel, hot);
  gtk_widget_class_bind_template_child(w, KvControlPanel, warm);
  gtk_widget_class_bind_template_child(w, KvControlPanel, policy);
  gtk_widget_class_bind_template_child(w, KvControlPanel, scope);
  gtk_widget_class_bind_template_child(w, KvControlPanel, apply);
  gtk_widget_class_bind_template_child(w, KvControlPanel, reply);
  signals[SIGNAL_REPLIED] =
      g_signal_new("replied", G_TYPE_FROM_CLASS(c), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_STRING);
}

static void kv_control_panel_init(KvControlPanel *self) {
  gtk_widget_init_template(GTK_WIDGET(self));
  g_signal_connect(self->apply, "clicked", G_CALLBACK(on_apply), self);
  g_signal_connect(self->hot, "value-changed", G_CALLBACK(on_hot), self);
  g_signal_connect(self->warm, "value-changed", G_CALLBACK(on_warm), self);
  g_signal_connect(self->policy, "notify::selected", G_CALLBACK(on_policy), self);
}
