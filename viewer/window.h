/*
 * window.h: KvWindow, kiln-viewer's main window (data/viewer/window.ui):
 * the sidebar of agents with a row for kilnd, the selected agent's heat
 * map (or the service pane), the detail pane, the controls and the
 * timeline, all observing one KvFeedModel.
 */
#ifndef KILN_VIEWER_WINDOW_H
#define KILN_VIEWER_WINDOW_H

#include <gtk/gtk.h>

#include "control_client.h"
#include "control_panel.h"
#include "detail_view.h"
#include "feed_model.h"
#include "heatmap_view.h"

G_BEGIN_DECLS

#define KV_TYPE_WINDOW (kv_window_get_type())
G_DECLARE_FINAL_TYPE(KvWindow, kv_window, KV, WINDOW, GtkApplicationWindow)

/* control may be NULL (the bench has no kilnd); it is borrowed. */
KvWindow *kv_window_new(GtkApplication *app, KvFeedModel *model, ControlClient *control);
KvControlPanel *kv_window_controls(KvWindow *self);
KvHeatmapView *kv_window_heatmap(KvWindow *self);
KvDetailView *kv_window_detail(KvWindow *self);
/* Shows that agent as choosing its row does; FALSE when it is not there. */
gboolean kv_window_select_agent(KvWindow *self, guint agent);
/* The agent shown (0: the service row or none). */
guint kv_window_selected_agent(KvWindow *self);
/* The banner's text: "" when connected. */
const char *kv_window_banner(KvWindow *self);

G_END_DECLS

#endif
