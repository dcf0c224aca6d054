/*
 * control_client.c: a DEALER socket per request to kilnd's client socket,
 * watched through ZMQ_FD (edge-triggered: checked with ZMQ_EVENTS right
 * after sending, since the reply's edge may already have passed), with a
 * deadline.
 */
#include "control_client.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <unistd.h>
#include <zmq.h>

#include "frame.h"

#define REPLY_TIMEOUT_MS 5000

struct ControlClient {
  void *zctx, *sock;
  char *endpoint;
  guint fd_watch, timeout;
  uint64_t request_id;
  ControlDone done;
  void *data;
};

static void finish(ControlClient *cc, const Kiln__ControlReply *reply, const char *error) {
  if (cc->fd_watch)
    g_source_remove(cc->fd_watch);
  if (cc->timeout)
    g_source_remove(cc->timeout);
  cc->fd_watch = cc->timeout = 0;
  if (cc->sock)
    zmq_close(cc->sock);
  cc->sock = NULL;
  ControlDone done = cc->done;
  cc->done = NULL;
  if (done)
    done(reply, error, cc->data);
}

/* Reads what has come; finishes on the reply to our request. */
static void take_replies(ControlClient *cc) {
  while (cc->sock) {
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(cc->sock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
      return;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, cc->sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      return;
    }
    Kiln__Envelope *env;
    uint64_t rid;
    char why[256], line[512];
    KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                           KILN_DEFAULT_MAX_MESSAGE, &env, &rid, why, sizeof why);
    zmq_msg_close(&msg);
    if (st != KILN_FRAME_OK) {
      snprintf(line, sizeof line, "kilnd at %s sent a bad reply: %s", cc->endpoint, why);
      finish(cc, NULL, line);
      return;
    }
    if (rid != cc->request_id) { /* a late answer to one we gave up on */
      kiln__envelope__free_unpacked(env, NULL);
      continue;
    }
    if (env->body_case == KILN__ENVELOPE__BODY_CONTROL_REPLY) {
      finish(cc, env->control_reply, NULL);
    } else if (env->body_case == KILN__ENVELOPE__BODY_ERROR) {
      snprintf(line, sizeof line, "kilnd answered: %s", env->error->message);
      finish(cc, NULL, line);
    } else {
      snprintf(line, sizeof line, "kilnd at %s answered with an unexpected message", cc->endpoint);
      finish(cc, NULL, line);
    }
    kiln__envelope__free_unpacked(env, NULL);
  }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
  (void)fd, (void)cond;
  take_replies(data);
  return G_SOURCE_CONTINUE;
}

static gboolean on_timeout(gpointer data) {
  ControlClient *cc = data;
  cc->timeout = 0;
  char line[512];
  snprintf(line, sizeof line, "no answer from kilnd at %s in %d s", cc->endpoint,
           REPLY_TIMEOUT_MS / 1000);
  finish(cc, NULL, line);
  return G_SOURCE_REMOVE;
}

ControlClient *control_client_new(void *zctx, const char *endpoint) {
  ControlClient *cc = g_new0(ControlClient, 1);
  cc->zctx = zctx;
  cc->endpoint = g_strdup(endpoint);
  return cc;
}

void control_client_free(ControlClient *cc) {
  if (!cc)
    return;
  cc->done = NULL; /* nobody to tell any more */
  finish(cc, NULL, NULL);
  g_free(cc->endpoint);
  g_free(cc);
}

const char *control_client_endpoint(ControlClient *cc) {
  return cc->endpoint;
}

void control_client_send(ControlClient *cc, const Kiln__Control *c, ControlDone done, void *data) {
  if (cc->done)
    finish(cc, NULL, "replaced by a newer control");
  cc->done = done;
  cc->data = data;
  char line[512];
  /* No socket file: nobody listens, and ZeroMQ would only retry quietly. */
  const char *path = kiln_ipc_path(cc->endpoint);
  if (path && access(path, F_OK) != 0) {
    snprintf(line, sizeof line, "no kilnd at %s", cc->endpoint);
    finish(cc, NULL, line);
    return;
  }
  Kiln__Envelope req = KILN__ENVELOPE__INIT;
  req.request_id = ++cc->request_id;
  req.body_case = KILN__ENVELOPE__BODY_CONTROL;
  req.control = (Kiln__Control *)c;
  int linger = 0, fd = -1;
  size_t fdlen = sizeof fd;
  cc->sock = zmq_socket(cc->zctx, ZMQ_DEALER);
  if (!cc->sock || zmq_setsockopt(cc->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_connect(cc->sock, cc->endpoint) != 0 ||
      zmq_getsockopt(cc->sock, ZMQ_FD, &fd, &fdlen) != 0 ||
      kiln_frame_send(cc->sock, &req, ZMQ_DONTWAIT) != 0) {
    snprintf(line, sizeof line, "cannot reach kilnd at %s: %s", cc->endpoint, zmq_strerror(errno));
    finish(cc, NULL, line);
    return;
  }
  cc->fd_watch = g_unix_fd_add(fd, G_IO_IN, on_readable, cc);
  cc->timeout = g_timeout_add(REPLY_TIMEOUT_MS, on_timeout, cc);
  take_replies(cc);
}
