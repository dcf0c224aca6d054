/*
 * service_view.h: KvServiceView, the service pane: kilnd's workers busy,
 * queue, compiles per second and cache hit rate, from a KvService.
 */
#ifndef KILN_VIEWER_SERVICE_VIEW_H
#define KILN_VIEWER_SERVICE_VIEW_H

#include <gtk/gtk.h>

#include "service_model.h"

G_BEGIN_DECLS

#define KV_TYPE_SERVICE_VIEW (kv_service_view_get_type())
G_DECLARE_FINAL_TYPE(KvServiceView, kv_service_view, KV, SERVICE_VIEW, GtkBox)

void kv_service_view_set_model(KvServiceView *self, KvService *service);

G_END_DECLS

#endif
