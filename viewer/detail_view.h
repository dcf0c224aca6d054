/*
 * detail_view.h: KvDetailView, the detail pane of one function: calls,
 * self time, loops, callers and callees (from the heat map's call edges),
 * heat over time as a small line, tier history with compile times, and why
 * the partition put it where it is. What a heat map does not carry says
 * so instead of showing a blank.
 */
#ifndef KILN_VIEWER_DETAIL_VIEW_H
#define KILN_VIEWER_DETAIL_VIEW_H

#include <gtk/gtk.h>

#include "heat_model.h"

G_BEGIN_DECLS

#define KV_TYPE_DETAIL_VIEW (kv_detail_view_get_type())
G_DECLARE_FINAL_TYPE(KvDetailView, kv_detail_view, KV, DETAIL_VIEW, GtkBox)

/* model NULL or index KV_NO_FUNCTION: nothing selected. */
void kv_detail_view_show(KvDetailView *self, KvHeatModel *model, guint index);
/* Its heading: the function's name and index, or "No function selected". */
const char *kv_detail_view_title(KvDetailView *self);

G_END_DECLS

#endif
