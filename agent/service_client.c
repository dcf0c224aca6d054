/*
 * service_client.c: see service_client.h.
 */
#include "service_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "frame.h"

/* A kilnd that is there answers hello at once (its broker never blocks);
 * one that does not within this long is as good as absent. */
#define HELLO_TIMEOUT_MS 3000
#define DEFAULT_TIMEOUT_MS 120000

struct ServiceClient {
  void *ctx, *sock, *monitor;
  char endpoint[4200];
  int timeout_ms;
  uint64_t next_id;
  size_t max_message;
  bool connected; /* once: tells "went away" from "never there" */
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Waits for the reply to one of the requests lo..hi; *rid says which. Replies
 * to other (abandoned) requests are dropped. */
/* Waits timeout_ms at most for the reply to one of requests lo..hi. With
 * timed_out, running out of time is not kilnd's silence: *timed_out is
 * set, and the caller decides. */
static kiln_status recv_reply(ServiceClient *c, uint64_t lo, uint64_t hi, uint64_t *rid,
                              int timeout_ms, bool *timed_out, Kiln__Envelope **out, char *err,
                              size_t n) {
  double deadline = now_ms() + timeout_ms;
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left <= 0 && timed_out) {
      *timed_out = true;
      return KILN_ERROR;
    }
    if (left <= 0) {
      snprintf(err, n, "kilnd at %s did not answer in %d s", c->endpoint,
               (timeout_ms + 999) / 1000);
      return KILN_UNAVAILABLE;
    }
    zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->monitor, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, 2, left) < 0) {
      if (errno == EINTR)
        continue;
      snprintf(err, n, "kilnd at %s: %s", c->endpoint, zmq_strerror(errno));
      return KILN_UNAVAILABLE;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      int ev = kiln_monitor_event(c->monitor);
      if (ev == ZMQ_EVENT_CONNECTED)
        c->connected = true;
      if (ev == ZMQ_EVENT_DISCONNECTED || ev == ZMQ_EVENT_CONNECT_RETRIED) {
        if (c->connected)
          snprintf(err, n, "kilnd at %s went away", c->endpoint);
        else
          snprintf(err, n, "nothing answers at %s", c->endpoint);
        return KILN_UNAVAILABLE;
      }
    }
    if (!(items[0].revents & ZMQ_POLLIN))
      continue;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->sock, 0) < 0) {
      zmq_msg_close(&msg);
      continue;
    }
    Kiln__Envelope *env;
    uint64_t got;
    char why[256];
    KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), c->max_message,
                                           &env, &got, why, sizeof why);
    zmq_msg_close(&msg);
    if (st != KILN_FRAME_OK) {
      snprintf(err, n, "kilnd at %s sent a bad reply: %s", c->endpoint, why);
      return KILN_ERROR;
    }
    if (env->request_id < lo || env->request_id > hi) {
      kiln__envelope__free_unpacked(env, NULL);
      continue;
    }
    *rid = env->request_id;
    if (env->body_case == KILN__ENVELOPE__BODY_ERROR) {
      snprintf(err, n, "kilnd answered: %s", env->error->message ? env->error->message : "error");
      kiln__envelope__free_unpacked(env, NULL);
      return KILN_ERROR;
    }
    *out = env;
    return KILN_OK;
  }
}

/* Sends req with the next request id. */
static kiln_status send_request(ServiceClient *c, Kiln__Envelope *req, char *err, size_t n) {
  req->request_id = ++c->next_id;
  if (kiln_frame_send(c->sock, req, 0) != 0) {
    snprintf(err, n, "cannot send to kilnd at %s: %s", c->endpoint, zmq_strerror(errno));
    return KILN_UNAVAILABLE;
  }
  return KILN_OK;
}

/* Sends req and waits for its reply, which must have body `want` (any body
 * when want is KILN__ENVELOPE__BODY__NOT_SET). */
static kiln_status call(ServiceClient *c, Kiln__Envelope *req, int want, int timeout_ms,
                        Kiln__Envelope **out, char *err, size_t n) {
  kiln_status st = send_request(c, req, err, n);
  if (st != KILN_OK)
    return st;
  uint64_t rid;
  st = recv_reply(c, req->request_id, req->request_id, &rid, timeout_ms, NULL, out, err, n);
  if (st == KILN_OK && want != KILN__ENVELOPE__BODY__NOT_SET && (int)(*out)->body_case != want) {
    snprintf(err, n, "kilnd at %s answered with an unexpected message", c->endpoint);
    kiln__envelope__free_unpacked(*out, NULL);
    *out = NULL;
    return KILN_ERROR;
  }
  return st;
}

void service_close(ServiceClient *c) {
  if (!c)
    return;
  if (c->sock) {
    zmq_socket_monitor(c->sock, NULL, 0);
    zmq_close(c->sock);
  }
  if (c->monitor)
    zmq_close(c->monitor);
  if (c->ctx)
    zmq_ctx_term(c->ctx);
  free(c);
}

void service_set_timeout(ServiceClient *c, int timeout_ms) {
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

const char *service_endpoint(const ServiceClient *c) {
  return c->endpoint;
}

/* Opens the socket and its monitor; the connection itself is made by
 * ZeroMQ in the background. */
static bool open_socket(ServiceClient *c, char *err, size_t n) {
  int linger = 0;
  char inproc[64];
  snprintf(inproc, sizeof inproc, "inproc://kiln-service-%p", (void *)c);
  c->ctx = zmq_ctx_new();
  c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
  if (!c->sock) {
    snprintf(err, n, "cannot open a ZeroMQ socket: %s", zmq_strerror(errno));
    return false;
  }
  zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_socket_monitor(c->sock, inproc,
                         ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                             ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
      !(c->monitor = zmq_socket(c->ctx, ZMQ_PAIR)) || zmq_connect(c->monitor, inproc) != 0) {
    snprintf(err, n, "cannot monitor a ZeroMQ socket: %s", zmq_strerror(errno));
    return false;
  }
  zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_connect(c->sock, c->endpoint) != 0) {
    snprintf(err, n, "cannot connect to %s: %s", c->endpoint, zmq_strerror(errno));
    return false;
  }
  return true;
}

kiln_status service_connect(const char *endpoint, int timeout_ms, ServiceClient **out, char *err,
                            size_t n) {
  *out = NULL;
  ServiceClient *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, n, "out of memory");
    return KILN_ERROR;
  }
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
  c->max_message = KILN_DEFAULT_MAX_MESSAGE;
  if (endpoint) {
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
  } else if (kiln_default_endpoint(c->endpoint, sizeof c->endpoint, err, n) != 0) {
    free(c);
    return KILN_ERROR;
  }
  /* No socket file: nobody listens, and ZeroMQ would only retry quietly. */
  const char *path = kiln_ipc_path(c->endpoint);
  if (path && access(path, F_OK) != 0) {
    snprintf(err, n, "no kilnd is listening on %s", c->endpoint);
    free(c);
    return KILN_UNAVAILABLE;
  }
  if (!open_socket(c, err, n)) {
    service_close(c);
    return KILN_ERROR;
  }
  Kiln__Hello hello = KILN__HELLO__INIT;
  hello.pid = (uint32_t)getpid();
  hello.client_name = "libkiln";
  Kiln__Envelope req = KILN__ENVELOPE__INIT, *rep = NULL;
  req.body_case = KILN__ENVELOPE__BODY_HELLO;
  req.hello = &hello;
  kiln_status st = call(c, &req, KILN__ENVELOPE__BODY_HELLO_REPLY, HELLO_TIMEOUT_MS, &rep, err, n);
  if (st == KILN_OK && !rep->hello_reply->compiler_available) {
    snprintf(err, n, "kilnd at %s was built without its compiler", c->endpoint);
    st = KILN_ERROR;
  }
  if (st == KILN_OK && rep->hello_reply->max_message)
    c->max_message = rep->hello_reply->max_message;
  if (rep)
    kiln__envelope__free_unpacked(rep, NULL);
  if (st != KILN_OK) {
    service_close(c);
    return st;
  }
  *out = c;
  return KILN_OK;
}

/* HaveModule, and ModuleUpload if kilnd asks for it. */
static kiln_status ensure_module(ServiceClient *c, const WasmModule *m, char *err, size_t n) {
  Kiln__HaveModule have = KILN__HAVE_MODULE__INIT;
  have.module_hash.data = (uint8_t *)m->hash;
  have.module_hash.len = 32;
  Kiln__Envelope req = KILN__ENVELOPE__INIT, *rep = NULL;
  req.body_case = KILN__ENVELOPE__BODY_HAVE_MODULE;
  req.have_module = &have;
  kiln_status st = call(c, &req, KILN__ENVELOPE__BODY__NOT_SET, c->timeout_ms, &rep, err, n);
  if (st != KILN_OK)
    return st;
  Kiln__Envelope__BodyCase got = rep->body_case;
  kiln__envelope__free_unpacked(rep, NULL);
  if (got == KILN__ENVELOPE__BODY_MODULE_ACK)
    return KILN_OK;
  if (got != KILN__ENVELOPE__BODY_NEED_MODULE) {
    snprintf(err, n, "kilnd at %s answered with an unexpected message", c->endpoint);
    return KILN_ERROR;
  }
  if (m->binary_len + 64 > c->max_message) {
    snprintf(err, n, "module of %zu bytes is over kilnd's message limit", m->binary_len);
    return KILN_ERROR;
  }
  Kiln__ModuleUpload up = KILN__MODULE_UPLOAD__INIT;
  up.module.data = m->binary;
  up.module.len = m->binary_len;
  Kiln__Envelope upl = KILN__ENVELOPE__INIT;
  upl.body_case = KILN__ENVELOPE__BODY_MODULE_UPLOAD;
  upl.module_upload = &up;
  st = call(c, &upl, KILN__ENVELOPE__BODY_MODULE_ACK, c->timeout_ms, &rep, err, n);
  if (st == KILN_OK)
    kiln__envelope__free_unpacked(rep, NULL);
  return st;
}

kiln_status service_compile(ServiceClient *c, const WasmModule *m, const uint32_t *funcs,
                            size_t nfuncs, Kiln__Tier tier, Kiln__PackageReady **out, char *err,
                            size_t n) {
  *out = NULL;
  kiln_status st = ensure_module(c, m, err, n);
  if (st != KILN_OK)
    return st;
  Kiln__CompileRequest cr = KILN__COMPILE_REQUEST__INIT;
  cr.module_hash.data = (uint8_t *)m->hash;
  cr.module_hash.len = 32;
  cr.functions = (uint32_t *)funcs;
  cr.n_functions = nfuncs;
  cr.tier = tier;
  Kiln__Envelope req = KILN__ENVELOPE__INIT, *rep = NULL;
  req.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
  req.compile_request = &cr;
  st = call(c, &req, KILN__ENVELOPE__BODY_PACKAGE_READY, c->timeout_ms, &rep, err, n);
  if (st != KILN_OK)
    return st;
  /* Keep the body, free the envelope around it. */
  *out = rep->package_ready;
  rep->package_ready = NULL;
  rep->body_case = KILN__ENVELOPE__BODY__NOT_SET;
  kiln__envelope__free_unpacked(rep, NULL);
  return KILN_OK;
}

kiln_status service_partition(ServiceClient *c, const WasmModule *m, Kiln__HeatMap *hm,
                              Kiln__Partition **out, char *err, size_t n) {
  *out = NULL;
  kiln_status st = ensure_module(c, m, err, n);
  if (st != KILN_OK)
    return st;
  Kiln__PartitionRequest pr = KILN__PARTITION_REQUEST__INIT;
  pr.module_hash.data = (uint8_t *)m->hash;
  pr.module_hash.len = 32;
  Kiln__Envelope req = KILN__ENVELOPE__INIT, *rep = NULL;
  if (hm) {
    req.body_case = KILN__ENVELOPE__BODY_HEAT_MAP;
    req.heat_map = hm;
  } else {
    req.body_case = KILN__ENVELOPE__BODY_PARTITION_REQUEST;
    req.partition_request = &pr;
  }
  st = call(c, &req, KILN__ENVELOPE__BODY_PARTITION, c->timeout_ms, &rep, err, n);
  if (st != KILN_OK)
    return st;
  *out = rep->partition;
  rep->partition = NULL;
  rep->body_case = KILN__ENVELOPE__BODY__NOT_SET;
  kiln__envelope__free_unpacked(rep, NULL);
  return KILN_OK;
}

kiln_status service_send_heat_map(ServiceClient *c, Kiln__HeatMap *hm, char *err, size_t n) {
  Kiln__Envelope req = KILN__ENVELOPE__INIT;
  req.body_case = KILN__ENVELOPE__BODY_HEAT_MAP;
  req.heat_map = hm;
  return send_request(c, &req, err, n);
}

kiln_status service_compile_each(ServiceClient *c, const WasmModule *m, const ServiceJob *jobs,
                                 size_t njobs, ServiceReady ready, bool (*stop)(void *arg),
                                 void *arg, char *err, size_t n) {
  kiln_status st = ensure_module(c, m, err, n);
  if (st != KILN_OK || njobs == 0)
    return st;
  /* Every request first: kilnd's workers compile them side by side, and
   * each package is taken as soon as it is there. */
  uint64_t first = c->next_id + 1;
  for (size_t k = 0; k < njobs; k++) {
    Kiln__CompileRequest cr = KILN__COMPILE_REQUEST__INIT;
    cr.module_hash.data = (uint8_t *)m->hash;
    cr.module_hash.len = 32;
    cr.functions = (uint32_t *)jobs[k].funcs;
    cr.n_functions = jobs[k].nfuncs;
    cr.tier = jobs[k].tier;
    cr.hints = jobs[k].hints;
    cr.n_hints = jobs[k].nhints;
    cr.without_osr = jobs[k].without_osr;
    cr.n_without_osr = jobs[k].nwithout_osr;
    cr.osr_body = jobs[k].osr_body;
    cr.n_osr_body = jobs[k].nosr_body;
    cr.branch_hints = jobs[k].branch_hints;
    cr.n_branch_hints = jobs[k].nbranch_hints;
    Kiln__Envelope req = KILN__ENVELOPE__INIT;
    req.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
    req.compile_request = &cr;
    if ((st = send_request(c, &req, err, n)) != KILN_OK)
      return st;
  }
  uint64_t last = c->next_id;
  for (size_t left = njobs; left > 0; left--) {
    Kiln__Envelope *rep = NULL;
    uint64_t rid = 0;
    char why[480];
    /* In slices, so that a caller who stops need not wait for a compile
     * (a long one, or one at low priority) nobody will use. */
    double silent_ms = 0;
    bool timed_out;
    do {
      timed_out = false;
      st = recv_reply(c, first, last, &rid, STOP_CHECK_MS, &timed_out, &rep, why, sizeof why);
      silent_ms += STOP_CHECK_MS;
      if (timed_out && stop && stop(arg))
        return KILN_OK;
    } while (timed_out && silent_ms < c->timeout_ms);
    if (timed_out) {
      snprintf(err, n, "kilnd at %s did not answer in %d s", c->endpoint,
               (c->timeout_ms + 999) / 1000);
      return KILN_UNAVAILABLE;
    }
    if (st == KILN_UNAVAILABLE) {
      snprintf(err, n, "%s", why);
      return st;
    }
    size_t k = (size_t)(rid - first);
    if (st == KILN_OK && rep->body_case != KILN__ENVELOPE__BODY_PACKAGE_READY) {
      snprintf(why, sizeof why, "kilnd at %.300s answered with an unexpected message", c->endpoint);
      st = KILN_ERROR;
    }
    if (st == KILN_OK && !ready(arg, k, rep->package_ready, NULL))
      left = 1; /* the caller has had enough: stop here */
    if (st != KILN_OK && rid >= first)
      ready(arg, k, NULL, why);
    if (rep)
      kiln__envelope__free_unpacked(rep, NULL);
    if (st != KILN_OK && rid < first) {
      snprintf(err, n, "%s", why);
      return st;
    }
  }
  return KILN_OK;
}
