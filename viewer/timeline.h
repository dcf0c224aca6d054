/*
 * timeline.h: KvTimeline, the events worth a line (tier changes, compiles,
 * OSR transfers, demotions, controls and refusals, errors, agents coming
 * and going, kilnd appearing and vanishing), newest first, as a GListModel
 * of KvEvent. Bounded: the oldest go once there are KV_TIMELINE_MAX.
 */
#ifndef KILN_VIEWER_TIMELINE_H
#define KILN_VIEWER_TIMELINE_H

#include <gio/gio.h>

G_BEGIN_DECLS

#define KV_TIMELINE_MAX 500

typedef enum {
  KV_EVENT_TIER, /* a function moved up */
  KV_EVENT_DEMOTION, /* a function moved down */
  KV_EVENT_COMPILE, /* a package compiled or served from the cache */
  KV_EVENT_OSR, /* activations moved into compiled code at a loop */
  KV_EVENT_CONTROL, /* settings changed, kilnd confirmed */
  KV_EVENT_REFUSED, /* kilnd refused a control */
  KV_EVENT_ERROR, /* a compile failed, a bad frame */
  KV_EVENT_AGENT, /* an agent came or went */
  KV_EVENT_SERVICE, /* kilnd appeared or went silent */
} KvEventKind;

#define KV_TYPE_EVENT (kv_event_get_type())
G_DECLARE_FINAL_TYPE(KvEvent, kv_event, KV, EVENT, GObject)

KvEventKind kv_event_get_kind(KvEvent *self);
double kv_event_get_time(KvEvent *self); /* kilnd's uptime, s; < 0: unknown */
guint kv_event_get_agent(KvEvent *self); /* 0: not one agent's */
const char *kv_event_get_text(KvEvent *self);
const char *kv_event_kind_name(KvEventKind kind); /* "tier", "compile", ... */

#define KV_TYPE_TIMELINE (kv_timeline_get_type())
G_DECLARE_FINAL_TYPE(KvTimeline, kv_timeline, KV, TIMELINE, GObject)

KvTimeline *kv_timeline_new(void);
void kv_timeline_add(KvTimeline *self, KvEventKind kind, double time_s, guint agent,
                     const char *fmt, ...) G_GNUC_PRINTF(5, 6);
/* How many of each kind it holds now. */
guint kv_timeline_count(KvTimeline *self, KvEventKind kind);

G_END_DECLS

#endif
