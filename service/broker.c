/*
 * broker.c: kilnd's one event loop. It owns the public ROUTER socket, and
 * waits in one zmq_poll on that socket, the worker socket (pool.c) and a
 * signalfd, so signals (SIGTERM, SIGINT, SIGHUP: stop; SIGCHLD: a worker
 * died) are ordinary events and nothing runs in a signal handler.
 *
 * Each client frame is answered by exactly one reply frame with the same
 * request_id, except a compile request, whose PackageReady or Error comes
 * later, when its worker is done; meanwhile the loop serves everyone else.
 * Clients use a DEALER socket and send one frame per request.
 *
 * --idle counts from the moment the last agent left (or the last request,
 * whichever is later): an agent stays connected while its script runs, so
 * a long-running script keeps its kilnd, and the adaptive loop can reach
 * it at any time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "kilnd.h"
#include "u32_set.h"

void broker_send(Broker *b, const uint8_t *client, size_t client_len, Kiln__Envelope *env) {
  if (client_len == 0)
    return; /* a prefetch: nobody asked yet */
  /* ROUTER drops (never blocks on) a reply to a client that is gone or not
   * reading; such a client asks again. */
  if (zmq_send(b->clients, client, client_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
      kiln_frame_send(b->clients, env, ZMQ_DONTWAIT) < 0) {
    if (errno != EAGAIN && errno != EHOSTUNREACH)
      kd_log("cannot send a reply: %s", zmq_strerror(errno));
  }
}

void broker_send_error(Broker *b, const uint8_t *client, size_t client_len, uint64_t request_id,
                       Kiln__ErrorCode code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  Kiln__Error e;
  Kiln__Envelope env;
  kiln_error_envelope(&env, &e, request_id, code, text);
  broker_send(b, client, client_len, &env);
}

/* A printable, bounded copy of a string from a client, for the log. */
static void sanitize(const char *in, char *out, size_t size) {
  size_t j = 0;
  for (size_t i = 0; in && in[i] && j + 1 < size; i++) {
    unsigned char c = (unsigned char)in[i];
    out[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  out[j] = '\0';
}

/* Hints a request may carry: a large program's hot set has hundreds of
 * call_indirect sites at most. */
#define MAX_HINTS 4096

/* A profile's list of functions: each of the request's set (funcs, n),
 * sorted and unique; NULL, or which of the two reasons it is refused for. */
static const char *check_list(const uint32_t *list, size_t len, const uint32_t *funcs, size_t n,
                              const char *outside, const char *unsorted) {
  for (size_t i = 0; i < len; i++) {
    if (!u32_set_has(funcs, n, list[i]))
      return outside;
    if (i > 0 && list[i - 1] >= list[i])
      return unsorted;
  }
  return NULL;
}

/* Puts cr's hints into sorted[] in their canonical order (by caller,
 * site), so that equal profiles share a key; NULL, or why they are refused
 * (written to why). */
static const char *check_hints(const Kiln__CompileRequest *cr, const uint32_t *funcs, size_t n,
                               Kiln__CallHint **sorted, char *why, size_t size) {
  if (cr->n_hints == 0)
    return NULL;
  if (cr->tier != KILN__TIER__TIER_HOT)
    return "profile hints are for the hot tier only";
  if (cr->n_hints > MAX_HINTS) {
    snprintf(why, size, "%zu profile hints (at most %d)", cr->n_hints, MAX_HINTS);
    return why;
  }
  memcpy(sorted, cr->hints, cr->n_hints * sizeof *sorted);
  qsort(sorted, cr->n_hints, sizeof *sorted, store_hint_order);
  for (size_t i = 0; i < cr->n_hints; i++) {
    const Kiln__CallHint *h = sorted[i];
    if (!u32_set_has(funcs, n, h->caller) || !u32_set_has(funcs, n, h->callee)) {
      snprintf(why, size, "hint at function %u site %u names a function outside the request",
               h->caller, h->site);
      return why;
    }
    if (i > 0 && store_hint_order(&sorted[i - 1], &sorted[i]) == 0) {
      snprintf(why, size, "two hints for function %u site %u", h->caller, h->site);
      return why;
    }
  }
  return NULL;
}

static void on_hello(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  char name[65];
  sanitize(req->hello->client_name, name, sizeof name);
  kd_log("hello from '%s' (pid %u)", name[0] ? name : "?", req->hello->pid);
  Kiln__HelloReply r = KILN__HELLO_REPLY__INIT;
  r.pid = (uint32_t)getpid();
  r.server_version = (char *)KILN_VERSION;
  r.max_message = (uint64_t)b->cfg->max_message;
  r.workers = (uint32_t)b->nworkers;
  r.compiler_available = worker_have_compiler();
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = req->request_id;
  env.body_case = KILN__ENVELOPE__BODY_HELLO_REPLY;
  env.hello_reply = &r;
  broker_send(b, id, idlen, &env);
}

static void send_module_ack(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                            const WasmModule *m) {
  Kiln__ModuleAck ack = KILN__MODULE_ACK__INIT;
  ack.module_hash.data = (uint8_t *)m->hash;
  ack.module_hash.len = 32;
  ack.function_count = m->nfuncs;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = rid;
  env.body_case = KILN__ENVELOPE__BODY_MODULE_ACK;
  env.module_ack = &ack;
  broker_send(b, id, idlen, &env);
}

static void send_need_module(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                             ProtobufCBinaryData hash) {
  Kiln__NeedModule need = KILN__NEED_MODULE__INIT;
  need.module_hash = hash;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = rid;
  env.body_case = KILN__ENVELOPE__BODY_NEED_MODULE;
  env.need_module = &need;
  broker_send(b, id, idlen, &env);
}

static void on_upload(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  ProtobufCBinaryData mod = req->module_upload->module;
  char err[256];
  size_t before = store_module_count(b->store);
  const WasmModule *m = store_add_module(b->store, mod.data, mod.len, err, sizeof err);
  if (!m) {
    kd_log("module refused (%zu bytes): %s", mod.len, err);
    broker_send_error(b, id, idlen, req->request_id, KILN__ERROR_CODE__ERROR_INVALID_MODULE, "%s",
                      err);
    return;
  }
  char hex[65];
  kiln_hex(m->hash, 32, hex);
  if (store_module_count(b->store) != before)
    kd_log("module %.16s stored (%zu bytes, %u functions)", hex, mod.len, m->nfuncs);
  send_module_ack(b, id, idlen, req->request_id, m);
}

static void on_have(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  ProtobufCBinaryData h = req->have_module->module_hash;
  if (h.len != 32) {
    broker_send_error(b, id, idlen, req->request_id, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "module hash must be 32 bytes (SHA-256), not %zu", h.len);
    return;
  }
  const WasmModule *m = store_find_module(b->store, h.data, h.len);
  if (m)
    send_module_ack(b, id, idlen, req->request_id, m);
  else
    send_need_module(b, id, idlen, req->request_id, h);
}

static void on_compile(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  const Kiln__CompileRequest *cr = req->compile_request;
  uint64_t rid = req->request_id;
  if (cr->module_hash.len != 32) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "module hash must be 32 bytes (SHA-256), not %zu", cr->module_hash.len);
    return;
  }
  const WasmModule *m = store_find_module(b->store, cr->module_hash.data, 32);
  if (!m) {
    send_need_module(b, id, idlen, rid, cr->module_hash);
    return;
  }
  if (cr->tier != KILN__TIER__TIER_WARM && cr->tier != KILN__TIER__TIER_HOT) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "tier must be warm or hot (got %d)", (int)cr->tier);
    return;
  }
  if (cr->n_functions == 0) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "compile request names no functions");
    return;
  }
  /* No compiler option exists yet; refusing unknown ones now keeps a typo
   * from silently creating a distinct package key later. */
  if (cr->n_options > 0) {
    char opt[65];
    sanitize(cr->options[0], opt, sizeof opt);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "unknown compiler option '%s'", opt);
    return;
  }
  for (size_t i = 0; i < cr->n_functions; i++) {
    uint32_t f = cr->functions[i];
    if (f < m->nfunc_imports || f >= m->nfuncs) {
      broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                        f < m->nfunc_imports
                            ? "function %u is an import and cannot be compiled"
                            : "function %u does not exist (the module has %u functions)",
                        f, m->nfuncs);
      return;
    }
  }
  /* The set is canonical (sorted, unique) so equal sets share one package. */
  uint32_t *funcs = malloc(cr->n_functions * sizeof *funcs);
  if (!funcs) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    return;
  }
  memcpy(funcs, cr->functions, cr->n_functions * sizeof *funcs);
  u32_set_sort(funcs, cr->n_functions);
  size_t n = 0;
  for (size_t i = 0; i < cr->n_functions; i++)
    if (n == 0 || funcs[n - 1] != funcs[i])
      funcs[n++] = funcs[i];
  char why[160];
  Kiln__CallHint **hints = malloc((cr->n_hints + 1) * sizeof *hints);
  const char *bad = hints ? check_hints(cr, funcs, n, hints, why, sizeof why) : "out of memory";
  if (bad) {
    free(funcs);
    broker_send_error(
        b, id, idlen, rid,
        hints ? KILN__ERROR_CODE__ERROR_BAD_REQUEST : KILN__ERROR_CODE__ERROR_INTERNAL, "%s", bad);
    free(hints);
    return;
  }
  /* without_osr and osr_body: functions of the set, sorted and unique
   * (what the partition sends), none in both; anything else is refused
   * rather than re-sorted. */
  bad = check_list(cr->without_osr, cr->n_without_osr, funcs, n,
                   "without_osr names a function outside the request",
                   "without_osr must be sorted and unique");
  if (!bad)
    bad = check_list(cr->osr_body, cr->n_osr_body, funcs, n,
                     "osr_body names a function outside the request",
                     "osr_body must be sorted and unique");
  for (size_t i = 0; !bad && cr->n_without_osr && i < cr->n_osr_body; i++)
    if (u32_set_has(cr->without_osr, cr->n_without_osr, cr->osr_body[i]))
      bad = "a function cannot be both without_osr and osr_body";
  /* Branch hints likewise: hot, in the set, by function and offset. */
  if (cr->n_branch_hints && cr->tier != KILN__TIER__TIER_HOT)
    bad = "profile hints are for the hot tier only";
  if (cr->n_branch_hints > MAX_HINTS)
    bad = "too many branch hints";
  for (size_t i = 0; !bad && i < cr->n_branch_hints; i++) {
    const Kiln__BranchHint *h = cr->branch_hints[i], *p = i ? cr->branch_hints[i - 1] : NULL;
    if (!u32_set_has(funcs, n, h->function_index))
      bad = "a branch hint names a function outside the request";
    else if (p && (p->function_index > h->function_index ||
                   (p->function_index == h->function_index && p->offset >= h->offset)))
      bad = "branch hints must be sorted by function and offset, one per branch";
  }
  if (bad) {
    free(funcs);
    free(hints);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "%s", bad);
    return;
  }
  PackageProfile profile = {hints,
                            cr->n_hints,
                            cr->without_osr,
                            cr->n_without_osr,
                            cr->branch_hints,
                            cr->n_branch_hints,
                            cr->osr_body,
                            cr->n_osr_body};
  uint8_t key[32];
  store_package_key(m->hash, funcs, n, cr->tier, &profile, key);
  Kiln__PackageReady *pkg = store_find_package(b->store, key);
  if (pkg) {
    char hex[65];
    kiln_hex(key, 32, hex);
    kd_log("compile answered from the package index: %.16s", hex);
    pkg->cached = true;
    Waiter asker = {.client_len = idlen, .request_id = rid};
    memcpy(asker.client, id, idlen);
    Job answered = {.module = m, .funcs = funcs, .nfuncs = n, .tier = cr->tier, .waiters = &asker};
    feed_compile(b, KILN__COMPILE_STATE__COMPILE_DONE, &answered, 0, pkg, NULL);
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    env.request_id = rid;
    env.body_case = KILN__ENVELOPE__BODY_PACKAGE_READY;
    env.package_ready = pkg;
    broker_send(b, id, idlen, &env);
    kiln__package_ready__free_unpacked(pkg, NULL);
  } else {
    pool_submit(b, m, key, funcs, n, cr->tier, &profile, id, idlen, rid);
  }
  free(funcs);
  free(hints);
}

/* Reads one request (routing id + frames) and answers it. Returns false when
 * nothing was waiting. */
static bool handle_client(Broker *b) {
  zmq_msg_t id, part;
  zmq_msg_init(&id);
  if (zmq_msg_recv(&id, b->clients, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&id);
    return false;
  }
  /* The routing id is at most 255 bytes (ZeroMQ's own limit). */
  uint8_t client[256];
  size_t idlen = zmq_msg_size(&id);
  if (idlen > sizeof client)
    idlen = sizeof client;
  memcpy(client, zmq_msg_data(&id), idlen);
  int more = zmq_msg_more(&id);
  zmq_msg_close(&id);
  if (!more)
    return true; /* a routing id without content: nothing to answer */

  zmq_msg_init(&part);
  int nparts = 0;
  bool got = false;
  while (more) {
    zmq_msg_t extra;
    zmq_msg_t *dst = got ? &extra : &part;
    if (got)
      zmq_msg_init(&extra);
    if (zmq_msg_recv(dst, b->clients, 0) < 0) {
      if (got)
        zmq_msg_close(&extra);
      break;
    }
    more = zmq_msg_more(dst);
    nparts++;
    if (got)
      zmq_msg_close(&extra);
    got = true;
  }
  if (nparts != 1) {
    zmq_msg_close(&part);
    kd_log("refused a request of %d frames", nparts);
    broker_send_error(b, client, idlen, 0, KILN__ERROR_CODE__ERROR_MALFORMED,
                      "malformed message: %d frames, expected exactly one", nparts);
    return true;
  }
  Kiln__Envelope *env;
  uint64_t rid;
  char err[256];
  KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&part), zmq_msg_size(&part),
                                         (size_t)b->cfg->max_message, &env, &rid, err, sizeof err);
  /* The connection it came on, which the monitor names when it closes. */
  int fd = zmq_msg_get(&part, ZMQ_SRCFD);
  zmq_msg_close(&part);
  if (st != KILN_FRAME_OK) {
    kd_log("refused a request: %s", err);
    broker_send_error(b, client, idlen, rid, kiln_frame_error_code(st), "%s", err);
    return true;
  }
  adapt_heard(b, client, idlen);
  switch (env->body_case) {
  case KILN__ENVELOPE__BODY_HELLO:
    on_hello(b, client, idlen, env);
    adapt_on_hello(b, client, idlen, env->hello, fd);
    break;
  case KILN__ENVELOPE__BODY_CONTROL:
    adapt_on_control(b, client, idlen, env);
    break;
  case KILN__ENVELOPE__BODY_MODULE_UPLOAD:
    on_upload(b, client, idlen, env);
    break;
  case KILN__ENVELOPE__BODY_HAVE_MODULE:
    on_have(b, client, idlen, env);
    break;
  case KILN__ENVELOPE__BODY_COMPILE_REQUEST:
    on_compile(b, client, idlen, env);
    break;
  case KILN__ENVELOPE__BODY_HEAT_MAP:
    adapt_on_heat_map(b, client, idlen, env);
    break;
  case KILN__ENVELOPE__BODY_PARTITION_REQUEST:
    adapt_on_partition_request(b, client, idlen, env);
    break;
  default:
    kd_log("refused a request: message %d is not a request", (int)env->body_case);
    broker_send_error(b, client, idlen, env->request_id, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "message type %d is not a request kilnd serves", (int)env->body_case);
    break;
  }
  kiln__envelope__free_unpacked(env, NULL);
  return true;
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  case SIGHUP:
    return "SIGHUP";
  default:
    return "a signal";
  }
}

/* Counts connections from the monitor's events. Returns whether an agent
 * left. */
static bool track_agents(Broker *b) {
  bool left = false;
  int fd;
  for (int event; (event = kiln_monitor_event_value(b->client_events, &fd)) != 0;) {
    if (event == ZMQ_EVENT_ACCEPTED)
      b->agents++;
    if (event == ZMQ_EVENT_DISCONNECTED && b->agents > 0) {
      b->agents--;
      adapt_closed(b, fd);
      left = true;
    }
  }
  if (left)
    adapt_connections(b);
  return left;
}

/* Something may remove the cache directory while kilnd runs (an rm -rf of
 * ~/.cache, a cleaner of old files); without it every heat map and package
 * kept from then on would be lost, so it is made again. */
static void keep_cache_dir(Broker *b) {
  if (b->cfg->cache)
    store_keep_cache_dir(b->cfg->cache, &b->cache_lost);
}

/* Takes the endpoint's lock file, so a second kilnd refuses to start rather
 * than unlink and steal the first one's socket (ZeroMQ's ipc bind replaces
 * an existing file). The lock file stays: removing it would let a starting
 * kilnd lock a file that no longer has a name. */
static int lock_endpoint(const char *path) {
  char lock[4200];
  snprintf(lock, sizeof lock, "%s.lock", path);
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "kilnd: cannot open %s: %s\n", lock, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      fprintf(stderr, "kilnd: another kilnd is already serving ipc://%s\n", path);
    else
      fprintf(stderr, "kilnd: cannot lock %s: %s\n", lock, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int broker_run(const KilndConfig *cfg) {
  Broker b;
  memset(&b, 0, sizeof b);
  b.cfg = cfg;
  char endpoint[4200], err[512];
  if (cfg->endpoint) {
    snprintf(endpoint, sizeof endpoint, "%s", cfg->endpoint); /* ipc://, checked by main */
  } else if (kiln_default_endpoint(endpoint, sizeof endpoint, err, sizeof err) != 0) {
    fprintf(stderr, "kilnd: %s\n", err);
    return 1;
  }
  const char *path = kiln_ipc_path(endpoint);
  if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "kilnd: the socket path '%s' is empty or longer than %zu bytes\n", path,
            sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return 1;
  }
  int lock_fd = lock_endpoint(path);
  if (lock_fd < 0)
    return 1;

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGCHLD);
  /* Blocked before ZeroMQ starts its threads, which inherit the mask, so
   * every one of these reaches the signalfd. */
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    fprintf(stderr, "kilnd: signalfd: %s\n", strerror(errno));
    close(lock_fd);
    return 1;
  }

  int rc = 1;
  b.zctx = zmq_ctx_new();
  b.clients = zmq_socket(b.zctx, ZMQ_ROUTER);
  /* Frames up to twice the limit are read and answered "too large"; beyond
   * that ZeroMQ drops the connection unread, so no client can make kilnd
   * buffer unbounded data. */
  int64_t hard = (int64_t)cfg->max_message * 2;
  int linger = 200; /* ms to flush the last replies at shutdown */
  zmq_setsockopt(b.clients, ZMQ_MAXMSGSIZE, &hard, sizeof hard);
  zmq_setsockopt(b.clients, ZMQ_LINGER, &linger, sizeof linger);
  b.client_events = zmq_socket(b.zctx, ZMQ_PAIR);
  if (zmq_socket_monitor(b.clients, "inproc://kilnd-clients",
                         ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
      zmq_connect(b.client_events, "inproc://kilnd-clients") != 0) {
    fprintf(stderr, "kilnd: cannot monitor the endpoint: %s\n", zmq_strerror(errno));
    goto out;
  }
  if (zmq_bind(b.clients, endpoint) != 0) {
    fprintf(stderr, "kilnd: cannot listen on %s: %s\n", endpoint, zmq_strerror(errno));
    goto out;
  }
  PartPolicy policy = PART_POLICY_COVERAGE;
  if (cfg->policy)
    part_policy_parse(cfg->policy, &policy); /* checked by config_check */
  part_config_default(&b.part_cfg, policy);
  if (cfg->hot)
    b.part_cfg.hot = (double)cfg->hot / 100;
  if (cfg->warm)
    b.part_cfg.warm = (double)cfg->warm / 100;
  b.part_cfg.job_limit_s = (double)cfg->job_timeout;
  part_cost_default(&b.part_cost);
  b.started = kd_now();
  char feed[4200];
  if (!cfg->feed && kiln_feed_endpoint(endpoint, feed, sizeof feed) != 0) {
    fprintf(stderr, "kilnd: the feed's path beside %s is too long\n", endpoint);
    goto out;
  }
  if ((!cfg->feed || strcmp(cfg->feed, "none") != 0) &&
      feed_open(&b, cfg->feed ? cfg->feed : feed) != 0)
    goto out;
  b.store = store_new();
  if (!b.store || pool_start(&b) != 0)
    goto out;
  kd_log("listening on %s (protocol %u, %d workers, compiler %s, cache %s, feed %s)", endpoint,
         KILN_PROTO_VERSION, b.nworkers, worker_have_compiler() ? "built in" : "not built",
         cfg->cache ? cfg->cache : "off", b.feed ? b.feed_endpoint : "off");
  kd_ready();

  double last_request = kd_now();
  int stop_sig = 0;
  b.next_tick = kd_now() + 1;
  while (!stop_sig) {
    int timeout = pool_timeout_ms(&b);
    /* Once a second: agents' silence, the feed's snapshot and stats. */
    double tick = b.next_tick - kd_now();
    int tick_ms = tick <= 0 ? 0 : (int)(tick * 1000) + 1;
    if (timeout < 0 || tick_ms < timeout)
      timeout = tick_ms;
    if (cfg->idle > 0 && !pool_busy(&b) && b.agents == 0) {
      double left = last_request + (double)cfg->idle - kd_now();
      int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
      if (timeout < 0 || ms < timeout)
        timeout = ms;
    }
    zmq_pollitem_t items[4] = {
        {NULL, sfd, ZMQ_POLLIN, 0},
        {b.clients, 0, ZMQ_POLLIN, 0},
        {b.workers_sock, 0, ZMQ_POLLIN, 0},
        {b.client_events, 0, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, 4, timeout) < 0) {
      if (errno == EINTR)
        continue;
      kd_log("poll failed: %s", zmq_strerror(errno));
      break;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
          pool_reap(&b);
        else
          stop_sig = (int)si.ssi_signo;
      }
    }
    /* Bounded batches, so a flood on one socket cannot starve the other. */
    if (items[1].revents & ZMQ_POLLIN) {
      for (int i = 0; i < 64 && handle_client(&b); i++)
        last_request = kd_now();
    }
    if (items[2].revents & ZMQ_POLLIN)
      pool_on_message(&b);
    if ((items[3].revents & ZMQ_POLLIN) && track_agents(&b))
      last_request = kd_now();
    pool_tick(&b);
    if (kd_now() >= b.next_tick) {
      keep_cache_dir(&b);
      adapt_tick(&b);
      feed_stats(&b);
      b.next_tick = kd_now() + 1;
    }
    if (cfg->idle > 0 && !pool_busy(&b) && b.agents == 0 &&
        kd_now() - last_request >= (double)cfg->idle) {
      kd_log("idle for %ld s: shutting down", cfg->idle);
      break;
    }
  }
  if (stop_sig)
    kd_log("shutdown on %s", signal_name(stop_sig));
  rc = 0;
  b.stopping = true;
  pool_stop(&b);
  store_remove_segments(b.store);
out:
  feed_close(&b);
  adapt_free(&b);
  store_free(b.store);
  if (b.workers_sock)
    zmq_close(b.workers_sock);
  zmq_socket_monitor(b.clients, NULL, 0);
  if (b.client_events)
    zmq_close(b.client_events);
  zmq_close(b.clients);
  zmq_ctx_term(b.zctx);
  /* ZeroMQ removes the socket files it bound; make sure, as clients take a
   * present file for a live kilnd. */
  if (rc == 0)
    unlink(path);
  if (b.worker_endpoint[0])
    unlink(kiln_ipc_path(b.worker_endpoint));
  close(sfd);
  close(lock_fd);
  if (rc == 0)
    kd_log("stopped");
  return rc;
}
