/*
 * feed_client.c: the feed's SUB socket in the GLib main loop.
 *
 * ZMQ_FD is edge-triggered: it becomes readable when the socket's state
 * changes, not while frames wait. So every wake-up drains until ZMQ_EVENTS
 * has no POLLIN left; a drain that stops early (to keep the window
 * responsive under a flood) continues from an idle callback, and a slow
 * timer drains too, in case an edge came between a check and a wait.
 */
#include "feed_client.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdbool.h>
#include <stdio.h>
#include <zmq.h>

#include "frame.h"

/* kilnd publishes ServiceStats every second: three missed is gone. */
#define SILENCE_US (3 * G_USEC_PER_SEC)
#define TIMER_MS 250
/* Frames taken per wake-up before giving the main loop a turn. */
#define BATCH 500

struct FeedClient {
  void *zctx, *sub;
  char *feed;
  KvFeedModel *model;
  guint fd_watch, timer, idle;
  gint64 last_frame; /* monotonic, us; 0: none since (re)subscribing */
};

static void drain(FeedClient *fc);

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
  (void)fd, (void)cond;
  drain(data);
  return G_SOURCE_CONTINUE;
}

static gboolean on_idle(gpointer data) {
  FeedClient *fc = data;
  fc->idle = 0;
  drain(fc);
  return G_SOURCE_REMOVE;
}

static void close_socket(FeedClient *fc) {
  if (fc->fd_watch)
    g_source_remove(fc->fd_watch);
  fc->fd_watch = 0;
  if (fc->sub)
    zmq_close(fc->sub);
  fc->sub = NULL;
}

static int open_socket(FeedClient *fc, char *err, size_t errsize) {
  fc->sub = zmq_socket(fc->zctx, ZMQ_SUB);
  int64_t max = (int64_t)KILN_DEFAULT_MAX_MESSAGE * 2;
  int linger = 0, fd = -1;
  size_t fdlen = sizeof fd;
  if (!fc->sub || zmq_setsockopt(fc->sub, ZMQ_SUBSCRIBE, "", 0) != 0 ||
      zmq_setsockopt(fc->sub, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
      zmq_setsockopt(fc->sub, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_connect(fc->sub, fc->feed) != 0 || zmq_getsockopt(fc->sub, ZMQ_FD, &fd, &fdlen) != 0) {
    snprintf(err, errsize, "cannot subscribe to kilnd's feed %s: %s", fc->feed,
             zmq_strerror(errno));
    close_socket(fc);
    return -1;
  }
  fc->fd_watch = g_unix_fd_add(fd, G_IO_IN, on_readable, fc);
  fc->last_frame = 0;
  return 0;
}

static void drain(FeedClient *fc) {
  for (int n = 0; fc->sub; n++) {
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(fc->sub, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
      return;
    if (n == BATCH) {
      if (!fc->idle)
        fc->idle = g_idle_add(on_idle, fc);
      return;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, fc->sub, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      return;
    }
    Kiln__Envelope *env;
    uint64_t rid;
    char why[256];
    KilnFrameStatus st =
        kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg),
                          (size_t)KILN_DEFAULT_MAX_MESSAGE * 2, &env, &rid, why, sizeof why);
    zmq_msg_close(&msg);
    fc->last_frame = g_get_monotonic_time();
    if (st != KILN_FRAME_OK) {
      kv_feed_model_bad_frame(fc->model, why);
      continue;
    }
    kv_feed_model_take(fc->model, env);
    kiln__envelope__free_unpacked(env, NULL);
  }
}

static gboolean on_timer(gpointer data) {
  FeedClient *fc = data;
  drain(fc);
  const KvServiceInfo *s = kv_service_info(kv_feed_model_service(fc->model));
  if (s->state == KV_SERVICE_CONNECTED && fc->last_frame &&
      g_get_monotonic_time() - fc->last_frame > SILENCE_US) {
    kv_feed_model_lost(fc->model);
    /* A fresh subscription, rather than trusting the old one to find a
     * kilnd that may have been replaced under the same path. */
    char err[512];
    close_socket(fc);
    if (open_socket(fc, err, sizeof err) != 0)
      kv_feed_model_bad_frame(fc->model, err);
  }
  if (!fc->sub) {
    char err[512];
    if (open_socket(fc, err, sizeof err) != 0)
      return G_SOURCE_CONTINUE; /* said once already; try again next tick */
  }
  return G_SOURCE_CONTINUE;
}

FeedClient *feed_client_new(void *zctx, const char *feed, KvFeedModel *model, char *err,
                            size_t errsize) {
  FeedClient *fc = g_new0(FeedClient, 1);
  fc->zctx = zctx;
  fc->feed = g_strdup(feed);
  fc->model = g_object_ref(model);
  if (open_socket(fc, err, errsize) != 0) {
    feed_client_free(fc);
    return NULL;
  }
  fc->timer = g_timeout_add(TIMER_MS, on_timer, fc);
  return fc;
}

void feed_client_free(FeedClient *fc) {
  if (!fc)
    return;
  close_socket(fc);
  if (fc->timer)
    g_source_remove(fc->timer);
  if (fc->idle)
    g_source_remove(fc->idle);
  g_object_unref(fc->model);
  g_free(fc->feed);
  g_free(fc);
}
