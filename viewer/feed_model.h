/*
 * feed_model.h: KvFeedModel, everything the viewer knows, built from
 * kilnd's feed alone: the agents (each with its heat model), kilnd's own
 * state and the timeline. It takes decoded frames, so the tests feed it
 * messages of their own and need neither kilnd nor a display.
 */
#ifndef KILN_VIEWER_FEED_MODEL_H
#define KILN_VIEWER_FEED_MODEL_H

#include <glib-object.h>

#include "agent_list.h"
#include "kiln.pb-c.h"
#include "service_model.h"
#include "timeline.h"

G_BEGIN_DECLS

#define KV_TYPE_FEED_MODEL (kv_feed_model_get_type())
G_DECLARE_FINAL_TYPE(KvFeedModel, kv_feed_model, KV, FEED_MODEL, GObject)

/* endpoint: kilnd's; feed: the feed beside it (what the viewer listens to). */
KvFeedModel *kv_feed_model_new(const char *endpoint, const char *feed);

KvAgentList *kv_feed_model_agents(KvFeedModel *self);
KvService *kv_feed_model_service(KvFeedModel *self);
KvTimeline *kv_feed_model_timeline(KvFeedModel *self);

/* One frame from the feed. Anything but a FeedEvent is noted as an error
 * in the timeline and otherwise ignored. */
void kv_feed_model_take(KvFeedModel *self, const Kiln__Envelope *env);

/* The feed went silent (kilnd gone or restarting): what it said is no
 * longer known, so the agents go; the next frame reconnects. */
void kv_feed_model_lost(KvFeedModel *self);

/* A frame that could not be read: one timeline line. */
void kv_feed_model_bad_frame(KvFeedModel *self, const char *why);

G_END_DECLS

#endif
