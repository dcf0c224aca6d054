/*
 * feed_client.h: kilnd's feed, read inside the GLib main loop. A ZeroMQ
 * SUB socket on the feed endpoint; every frame decoded goes to a
 * KvFeedModel. It starts whether or not kilnd is there (ZeroMQ connects
 * when the endpoint appears) and notices kilnd going away by its silence:
 * kilnd sends ServiceStats every second.
 */
#ifndef KILN_VIEWER_FEED_CLIENT_H
#define KILN_VIEWER_FEED_CLIENT_H

#include <stddef.h>

#include "feed_model.h"

typedef struct FeedClient FeedClient;

/* Subscribes to feed with the ZeroMQ context zctx. NULL with a one-line
 * reason in err when the socket cannot be made. */
FeedClient *feed_client_new(void *zctx, const char *feed, KvFeedModel *model, char *err,
                            size_t errsize);
void feed_client_free(FeedClient *fc);

#endif
