/*
 * heatmap_view.h: KvHeatmapView, the heat map drawn with cairo: one cell
 * per function, area by self time (treemap.c), colour by heat (viridis,
 * with a legend), the tier as a badge letter and a border style so it reads
 * without colour, loops as a band inside their function, names where they
 * fit, a tooltip everywhere. It observes a KvHeatModel and redraws at most
 * once per frame however often the model changes.
 *
 * Keyboard: arrows move the selection through the cells (heaviest first),
 * Home/End to the ends, Escape clears it.
 */
#ifndef KILN_VIEWER_HEATMAP_VIEW_H
#define KILN_VIEWER_HEATMAP_VIEW_H

#include <gtk/gtk.h>

#include "heat_model.h"

G_BEGIN_DECLS

#define KV_NO_FUNCTION G_MAXUINT

#define KV_TYPE_HEATMAP_VIEW (kv_heatmap_view_get_type())
G_DECLARE_FINAL_TYPE(KvHeatmapView, kv_heatmap_view, KV, HEATMAP_VIEW, GtkWidget)

GtkWidget *kv_heatmap_view_new(void);
/* NULL: nothing to show. The view keeps a reference. */
void kv_heatmap_view_set_model(KvHeatmapView *self, KvHeatModel *model);
/* The selected function's index, or KV_NO_FUNCTION; "selected" (guint)
 * tells when it changes. */
guint kv_heatmap_view_get_selected(KvHeatmapView *self);
void kv_heatmap_view_select(KvHeatmapView *self, guint index);
/* What the last snapshot cost (layout and drawing), in microseconds, and
 * how many cells it drew: for the frame-time bench. */
gint64 kv_heatmap_view_last_draw_us(KvHeatmapView *self);
guint kv_heatmap_view_cells(KvHeatmapView *self);

G_END_DECLS

#endif
