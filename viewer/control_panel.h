/*
 * control_panel.h: KvControlPanel, the hot and warm threshold sliders and
 * the policy, for every agent or the selected one, sent to kilnd as a
 * Control; kilnd's confirmation or refusal is shown under them. Only what
 * the operator moved is sent, so a new policy alone gets its defaults.
 */
#ifndef KILN_VIEWER_CONTROL_PANEL_H
#define KILN_VIEWER_CONTROL_PANEL_H

#include <gtk/gtk.h>

#include "control_client.h"

G_BEGIN_DECLS

#define KV_TYPE_CONTROL_PANEL (kv_control_panel_get_type())
G_DECLARE_FINAL_TYPE(KvControlPanel, kv_control_panel, KV, CONTROL_PANEL, GtkBox)

/* The client is borrowed: it outlives the panel's window. */
void kv_control_panel_set_client(KvControlPanel *self, ControlClient *client);
/* The agent "the selected agent" means (0: none), and the settings to start
 * the sliders from, once per agent (policy NULL or "": not known yet). */
void kv_control_panel_set_agent(KvControlPanel *self, guint agent, const char *policy, double hot,
                                double warm);
/* Moves the controls as the operator would (0 or NULL: leave one). */
void kv_control_panel_move(KvControlPanel *self, guint hot_percent, guint warm_percent,
                           const char *policy, gboolean selected_agent_only);
/* Presses Apply. */
void kv_control_panel_apply(KvControlPanel *self);

/* "replied" (gboolean ok, const char *text): kilnd's answer, or why none. */

G_END_DECLS

#endif
