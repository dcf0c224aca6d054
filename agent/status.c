/*
 * status.c: `kiln status` and `kiln control`, the operator's side of kilnd.
 *
 *   kiln status [--service ENDPOINT] [--json | --watch]
 *   kiln control [--service ENDPOINT] [--agent N] [--policy P] [--hot N] [--warm N]
 *
 * status subscribes to kilnd's feed (kilnd.feed beside kilnd.sock) and
 * prints what one round of it says: kilnd's stats, then each agent with its
 * hottest regions as bars. kilnd repeats the whole state once a second,
 * ending with ServiceStats, so status waits for a ServiceStats whose agents
 * it has all seen (at most two rounds). control sends one Control on the
 * client socket and prints kilnd's ControlReply.
 *
 * Exit status: 0; 1 when there is no kilnd or it refused; 2 for bad usage,
 * always with one "kiln: ..." line on stderr.
 */
#include "status.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "frame.h"

enum { EXIT_NO = 1, EXIT_USAGE = 2 };

/* A kilnd publishes stats every second; one silent this long is not there. */
#define FIRST_STATS_MS 3000
#define CONTROL_TIMEOUT_MS 5000
#define TOP_FUNCTIONS 8
#define BAR_WIDTH 20
/* Loops cooler than this are left out of the text: noise beside their
 * function (--json has them all). */
#define LOOP_MIN_HEAT 0.05

__attribute__((format(printf, 2, 3))) static int fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kiln: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return status;
}

/* "--opt VALUE" or "--opt=VALUE" at argv[*i], else NULL; *i moves past a
 * separate value, and a missing one sets *err. */
static const char *value_of(int argc, char **argv, int *i, const char *opt, int *err) {
  size_t n = strlen(opt);
  const char *arg = argv[*i];
  if (strncmp(arg, opt, n) != 0 || (arg[n] != '=' && arg[n] != '\0'))
    return NULL;
  if (arg[n] == '=')
    return arg + n + 1;
  if (*i + 1 >= argc) {
    *err = fail(EXIT_USAGE, "%s: missing value", opt);
    return NULL;
  }
  return argv[++*i];
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The endpoint to use; -1 after the line when it cannot be had. */
static int endpoint_of(const char *given, char *buf, size_t size, const char *cmd) {
  char err[512];
  if (given) {
    snprintf(buf, size, "%s", given);
    return 0;
  }
  if (kiln_default_endpoint(buf, size, err, sizeof err) != 0)
    return fail(EXIT_NO, "%s: %s", cmd, err), -1;
  return 0;
}

/* No socket file: nobody listens (ZeroMQ would only retry quietly). */
static bool nobody_at(const char *endpoint) {
  const char *path = kiln_ipc_path(endpoint);
  return path && access(path, F_OK) != 0;
}

/* --- what the feed says --------------------------------------------------- */

typedef struct {
  uint32_t id;
  Kiln__Envelope *seen, *heat, *part; /* the latest of each, owned */
} AgentView;

typedef struct {
  AgentView *agents;
  size_t n, cap;
  Kiln__Envelope *stats; /* the latest ServiceStats, owned */
} View;

static void replace(Kiln__Envelope **slot, Kiln__Envelope *env) {
  if (*slot)
    kiln__envelope__free_unpacked(*slot, NULL);
  *slot = env;
}

static void drop_agent(View *v, size_t i) {
  replace(&v->agents[i].seen, NULL);
  replace(&v->agents[i].heat, NULL);
  replace(&v->agents[i].part, NULL);
  v->agents[i] = v->agents[--v->n];
}

static AgentView *agent_view(View *v, uint32_t id) {
  for (size_t i = 0; i < v->n; i++)
    if (v->agents[i].id == id)
      return &v->agents[i];
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 8;
    AgentView *a = realloc(v->agents, cap * sizeof *a);
    if (!a)
      return NULL;
    v->agents = a;
    v->cap = cap;
  }
  AgentView *a = &v->agents[v->n++];
  *a = (AgentView){.id = id};
  return a;
}

static void view_free(View *v) {
  while (v->n)
    drop_agent(v, v->n - 1);
  free(v->agents);
  replace(&v->stats, NULL);
}

static bool listed(const Kiln__ServiceStats *st, uint32_t id) {
  for (size_t i = 0; i < st->n_agents; i++)
    if (st->agents[i] == id)
      return true;
  return false;
}

/* Takes env (owned from here). Returns true when it was a ServiceStats. */
static bool take(View *v, Kiln__Envelope *env) {
  const Kiln__FeedEvent *ev =
      env->body_case == KILN__ENVELOPE__BODY_FEED_EVENT ? env->feed_event : NULL;
  AgentView *a = NULL;
  switch (ev ? ev->event_case : KILN__FEED_EVENT__EVENT__NOT_SET) {
  case KILN__FEED_EVENT__EVENT_AGENT:
    if (ev->agent->gone) {
      for (size_t i = 0; i < v->n; i++)
        if (v->agents[i].id == ev->agent->agent)
          drop_agent(v, i);
      break;
    }
    if ((a = agent_view(v, ev->agent->agent)))
      replace(&a->seen, env), env = NULL;
    break;
  case KILN__FEED_EVENT__EVENT_HEAT_MAP:
    if (ev->heat_map->heat_map && (a = agent_view(v, ev->heat_map->agent)))
      replace(&a->heat, env), env = NULL;
    break;
  case KILN__FEED_EVENT__EVENT_PARTITION:
    if (ev->partition->partition && (a = agent_view(v, ev->partition->agent)))
      replace(&a->part, env), env = NULL;
    break;
  case KILN__FEED_EVENT__EVENT_STATS:
    /* Its list is who is there: the rest left. */
    for (size_t i = v->n; i-- > 0;)
      if (!listed(ev->stats, v->agents[i].id))
        drop_agent(v, i);
    replace(&v->stats, env);
    return true;
  default:
    break; /* compiles and controls: news, not state */
  }
  if (env)
    kiln__envelope__free_unpacked(env, NULL);
  return false;
}

/* Whether the view holds every agent the last stats list, each with its
 * heat map once it has sent one. */
static bool complete(const View *v) {
  const Kiln__ServiceStats *st = v->stats->feed_event->stats;
  for (size_t i = 0; i < st->n_agents; i++) {
    const AgentView *a = NULL;
    for (size_t k = 0; k < v->n; k++)
      if (v->agents[k].id == st->agents[i])
        a = &v->agents[k];
    if (!a || !a->seen || (a->seen->feed_event->agent->module_hash.len && !a->heat))
      return false;
  }
  return true;
}

/* --- printing ------------------------------------------------------------- */

static const char *name_of(const Kiln__FeedHeatMap *fh, uint32_t func) {
  for (size_t i = 0; i < fh->n_names; i++)
    if (fh->names[i]->function_index == func)
      return fh->names[i]->name;
  return NULL;
}

static int by_id(const void *x, const void *y) {
  uint32_t a = ((const AgentView *)x)->id, b = ((const AgentView *)y)->id;
  return (a > b) - (a < b);
}

static void duration(double s, char *buf, size_t n) {
  if (s < 60)
    snprintf(buf, n, "%.1f s", s);
  else if (s < 3600)
    snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else
    snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static void print_text(FILE *out, View *v, const char *endpoint) {
  const Kiln__ServiceStats *st = v->stats->feed_event->stats;
  char up[32];
  duration(st->uptime_s, up, sizeof up);
  fprintf(out, "kilnd %u at %s (kiln %s), up %s\n", st->pid, endpoint, st->server_version, up);
  fprintf(out,
          "  workers %u/%u busy, queue %u, %.1f compiles/s, cache hits %.0f%% (%llu of %llu), "
          "%zu agent%s\n",
          st->workers_busy, st->workers, st->queued, st->compiles_per_s, st->cache_hit_rate * 100,
          (unsigned long long)st->cache_hits, (unsigned long long)(st->cache_hits + st->compiles),
          st->n_agents, st->n_agents == 1 ? "" : "s");
  fprintf(out, "  settings: %s, hot %.0f%%, warm %.0f%%\n", st->policy, st->hot * 100,
          st->warm * 100);
  if (v->n) /* qsort may not be given NULL, even for nothing */
    qsort(v->agents, v->n, sizeof *v->agents, by_id);
  for (size_t i = 0; i < v->n; i++) {
    const AgentView *a = &v->agents[i];
    if (!a->seen)
      continue;
    const Kiln__AgentSeen *s = a->seen->feed_event->agent;
    char hex[65] = "-";
    if (s->module_hash.len == 32)
      kiln_hex(s->module_hash.data, 32, hex);
    duration(s->connected_s, up, sizeof up);
    fprintf(out, "\nagent %u: pid %u, %s, module %.12s, up %s, %s hot %.0f%% warm %.0f%%%s\n",
            s->agent, s->pid, s->client_name[0] ? s->client_name : "?", hex, up, s->policy,
            s->hot * 100, s->warm * 100, s->own_settings ? " (its own)" : "");
    if (a->part) {
      const Kiln__FeedPartition *fp = a->part->feed_event->partition;
      size_t count[4] = {0};
      for (size_t k = 0; k < fp->partition->n_placements; k++)
        count[fp->partition->placements[k]->tier & 3]++;
      fprintf(out, "  partition%s: %s hot %.0f%% warm %.0f%%: %zu hot, %zu warm, %zu cold\n",
              fp->control ? " (after a control, with its next heat map)" : "",
              fp->partition->policy, fp->partition->hot * 100, fp->partition->warm * 100,
              count[KILN__TIER__TIER_HOT], count[KILN__TIER__TIER_WARM],
              count[KILN__TIER__TIER_COLD] + count[0]);
    }
    if (!a->heat) {
      fprintf(out, "  (no heat map yet)\n");
      continue;
    }
    const Kiln__FeedHeatMap *fh = a->heat->feed_event->heat_map;
    fprintf(out, "  %-36s %-5s heat\n", "region", "tier");
    size_t funcs = 0;
    for (size_t k = 0; k < fh->heat_map->n_regions; k++) {
      const Kiln__Region *r = fh->heat_map->regions[k];
      if (!r->is_loop && ++funcs > TOP_FUNCTIONS)
        break;
      if (r->is_loop && r->heat < LOOP_MIN_HEAT)
        continue;
      char what[128], bar[BAR_WIDTH + 1];
      const char *name = name_of(fh, r->function_index);
      if (r->is_loop)
        snprintf(what, sizeof what, "  loop at +%u", r->loop_offset);
      else if (name)
        snprintf(what, sizeof what, "%.90s (func %u)", name, r->function_index);
      else
        snprintf(what, sizeof what, "func %u", r->function_index);
      double heat = r->heat < 0 ? 0 : r->heat > 1 ? 1 : r->heat;
      int filled = (int)(heat * BAR_WIDTH + 0.5);
      for (int c = 0; c < BAR_WIDTH; c++)
        bar[c] = c < filled ? '#' : '.';
      bar[BAR_WIDTH] = '\0';
      fprintf(out, "  %-36.36s %-5s %s %.2f\n", what, r->is_loop ? "" : kiln_tier_name(r->tier),
              bar, heat);
    }
    size_t total = 0;
    for (size_t k = 0; k < fh->heat_map->n_regions; k++)
      total += !fh->heat_map->regions[k]->is_loop;
    if (total > TOP_FUNCTIONS)
      fprintf(out, "  (%zu more functions ran)\n", total - TOP_FUNCTIONS);
  }
}

static json_object *percent(double fraction) {
  return json_object_new_double((double)(long)(fraction * 1000 + 0.5) / 10);
}

static void print_json(FILE *out, View *v, const char *endpoint, const char *feed) {
  const Kiln__ServiceStats *st = v->stats->feed_event->stats;
  json_object *root = json_object_new_object(), *svc = json_object_new_object();
  json_object_object_add(root, "endpoint", json_object_new_string(endpoint));
  json_object_object_add(root, "feed", json_object_new_string(feed));
  json_object_object_add(svc, "pid", json_object_new_int64(st->pid));
  json_object_object_add(svc, "version", json_object_new_string(st->server_version));
  json_object_object_add(svc, "uptime_s", json_object_new_double(st->uptime_s));
  json_object_object_add(svc, "workers", json_object_new_int64(st->workers));
  json_object_object_add(svc, "workers_busy", json_object_new_int64(st->workers_busy));
  json_object_object_add(svc, "queued", json_object_new_int64(st->queued));
  json_object_object_add(svc, "compiles_per_s", json_object_new_double(st->compiles_per_s));
  json_object_object_add(svc, "compiles", json_object_new_uint64(st->compiles));
  json_object_object_add(svc, "cache_hits", json_object_new_uint64(st->cache_hits));
  json_object_object_add(svc, "cache_hit_rate", json_object_new_double(st->cache_hit_rate));
  json_object_object_add(svc, "policy", json_object_new_string(st->policy));
  json_object_object_add(svc, "hot_percent", percent(st->hot));
  json_object_object_add(svc, "warm_percent", percent(st->warm));
  json_object_object_add(root, "service", svc);
  json_object *agents = json_object_new_array();
  if (v->n) /* qsort may not be given NULL, even for nothing */
    qsort(v->agents, v->n, sizeof *v->agents, by_id);
  for (size_t i = 0; i < v->n; i++) {
    const AgentView *a = &v->agents[i];
    if (!a->seen)
      continue;
    const Kiln__AgentSeen *s = a->seen->feed_event->agent;
    json_object *o = json_object_new_object();
    char hex[65] = "";
    if (s->module_hash.len == 32)
      kiln_hex(s->module_hash.data, 32, hex);
    json_object_object_add(o, "agent", json_object_new_int64(s->agent));
    json_object_object_add(o, "pid", json_object_new_int64(s->pid));
    json_object_object_add(o, "name", json_object_new_string(s->client_name));
    json_object_object_add(o, "module_hash", json_object_new_string(hex));
    json_object_object_add(o, "uptime_s", json_object_new_double(s->connected_s));
    json_object_object_add(o, "silent_s", json_object_new_double(s->silent_s));
    json_object_object_add(o, "policy", json_object_new_string(s->policy));
    json_object_object_add(o, "hot_percent", percent(s->hot));
    json_object_object_add(o, "warm_percent", percent(s->warm));
    json_object_object_add(o, "own_settings", json_object_new_boolean(s->own_settings));
    if (a->part) {
      const Kiln__FeedPartition *fp = a->part->feed_event->partition;
      json_object *p = json_object_new_object(), *pl = json_object_new_array();
      json_object_object_add(p, "policy", json_object_new_string(fp->partition->policy));
      json_object_object_add(p, "hot_percent", percent(fp->partition->hot));
      json_object_object_add(p, "warm_percent", percent(fp->partition->warm));
      json_object_object_add(p, "after_control", json_object_new_boolean(fp->control));
      for (size_t k = 0; k < fp->partition->n_placements; k++) {
        const Kiln__Placement *x = fp->partition->placements[k];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "function", json_object_new_int64(x->function_index));
        json_object_object_add(e, "tier", json_object_new_string(kiln_tier_name(x->tier)));
        json_object_object_add(e, "reason", json_object_new_string(x->reason));
        json_object_array_add(pl, e);
      }
      json_object_object_add(p, "placements", pl);
      json_object_object_add(p, "jobs", json_object_new_int64((int64_t)fp->partition->n_jobs));
      json_object_object_add(o, "partition", p);
    }
    json_object *regions = json_object_new_array();
    if (a->heat) {
      const Kiln__FeedHeatMap *fh = a->heat->feed_event->heat_map;
      json_object_object_add(o, "samples", json_object_new_uint64(fh->heat_map->samples));
      for (size_t k = 0; k < fh->heat_map->n_regions; k++) {
        const Kiln__Region *r = fh->heat_map->regions[k];
        json_object *e = json_object_new_object();
        const char *name = name_of(fh, r->function_index);
        json_object_object_add(e, "function", json_object_new_int64(r->function_index));
        if (name)
          json_object_object_add(e, "name", json_object_new_string(name));
        if (r->is_loop)
          json_object_object_add(e, "loop", json_object_new_int64(r->loop_offset));
        json_object_object_add(e, "tier", json_object_new_string(kiln_tier_name(r->tier)));
        json_object_object_add(e, "heat", json_object_new_double(r->heat));
        json_object_object_add(e, "count", json_object_new_uint64(r->count));
        json_object_object_add(e, "self_samples", json_object_new_uint64(r->self_samples));
        json_object_array_add(regions, e);
      }
    }
    json_object_object_add(o, "regions", regions);
    json_object_array_add(agents, o);
  }
  json_object_object_add(root, "agents", agents);
  fprintf(out, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
  json_object_put(root);
}

/* --- kiln status ------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static const char status_usage[] =
    "Usage: kiln status [--service ENDPOINT] [--json | --watch]\n"
    "\n"
    "Shows what kilnd is doing, from its feed: workers, queue, compiles and\n"
    "cache hits, then each agent with its hottest regions, their tiers and\n"
    "heat.\n"
    "\n"
    "  --service ENDPOINT  kilnd's endpoint (default\n"
    "                      ipc://$XDG_RUNTIME_DIR/kiln/kilnd.sock); its feed is\n"
    "                      beside it (kilnd.feed)\n"
    "  --json              print one JSON document instead, for scripts\n"
    "  --watch             redraw every second until q or Ctrl-C\n"
    "\n"
    "Exit status: 0; 1 when no kilnd answers; 2 for bad usage.\n";

int kiln_status_main(int argc, char **argv) {
  const char *service = NULL;
  bool json = false, watch = false;
  for (int i = 0; i < argc; i++) {
    int err = 0;
    const char *v;
    if ((v = value_of(argc, argv, &i, "--service", &err))) {
      if (!*v)
        return fail(EXIT_USAGE, "status: --service: empty endpoint");
      service = v;
    } else if (err) {
      return err;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (strcmp(argv[i], "--watch") == 0) {
      watch = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(status_usage, stdout);
      return 0;
    } else {
      return fail(EXIT_USAGE, "status: unknown option '%s'; try 'kiln status --help'", argv[i]);
    }
  }
  if (json && watch)
    return fail(EXIT_USAGE, "status: --json and --watch do not go together");
  char endpoint[4200], feed[4300];
  if (endpoint_of(service, endpoint, sizeof endpoint, "status") != 0)
    return EXIT_NO;
  if (kiln_feed_endpoint(endpoint, feed, sizeof feed) != 0)
    return fail(EXIT_USAGE, "status: endpoint too long");
  if (nobody_at(endpoint))
    return fail(EXIT_NO, "status: no kilnd at %s", endpoint);

  void *ctx = zmq_ctx_new(), *sub = ctx ? zmq_socket(ctx, ZMQ_SUB) : NULL;
  int64_t max = (int64_t)KILN_DEFAULT_MAX_MESSAGE * 2;
  int linger = 0, status = 0;
  if (!sub || zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) != 0 ||
      zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
      zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger) != 0 || zmq_connect(sub, feed) != 0) {
    status = fail(EXIT_NO, "status: cannot subscribe to %s: %s", feed, zmq_strerror(errno));
    goto out;
  }

  /* --watch: q quits, read a key at a time without echo. */
  struct termios saved;
  bool raw = watch && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  struct sigaction sa = {.sa_handler = on_sigint}, old_int;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);

  View v = {0};
  double deadline = now_ms() + FIRST_STATS_MS;
  bool done = false;
  int rounds = 0;
  while (!done && !interrupted) {
    int left = v.stats && watch ? 2000 : (int)(deadline - now_ms());
    if (left <= 0)
      break;
    zmq_pollitem_t items[2] = {{sub, 0, ZMQ_POLLIN, 0}, {NULL, STDIN_FILENO, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, raw ? 2 : 1, left);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0) {
      status = fail(EXIT_NO, "status: %s", zmq_strerror(errno));
      break;
    }
    if (raw && (items[1].revents & ZMQ_POLLIN)) {
      char c;
      if (read(STDIN_FILENO, &c, 1) != 1 || c == 'q' || c == 'Q')
        break;
    }
    for (int batch = 0; batch < 1000 && !done; batch++) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, sub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        break;
      }
      Kiln__Envelope *env;
      uint64_t rid;
      char err[256];
      KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), (size_t)max,
                                             &env, &rid, err, sizeof err);
      zmq_msg_close(&msg);
      if (st != KILN_FRAME_OK) {
        status = fail(EXIT_NO, "status: kilnd's feed at %s: %s", feed, err);
        done = true;
        break;
      }
      if (!take(&v, env))
        continue;
      rounds++;
      if (watch) {
        fputs("\033[H\033[2J", stdout); /* home, clear: like top */
        print_text(stdout, &v, endpoint);
        fputs("\n(q or Ctrl-C to quit)\n", stdout);
        fflush(stdout);
      } else if (complete(&v) || rounds >= 3) {
        /* The first round may have been joined halfway; by the second
         * every agent listed has been repeated. */
        done = true;
      }
    }
  }
  if (raw)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  sigaction(SIGINT, &old_int, NULL);
  if (status == 0 && !v.stats)
    status = fail(EXIT_NO, "status: no kilnd at %s (nothing on its feed %s in %d s)", endpoint,
                  feed, FIRST_STATS_MS / 1000);
  else if (status == 0 && !watch && json)
    print_json(stdout, &v, endpoint, feed);
  else if (status == 0 && !watch)
    print_text(stdout, &v, endpoint);
  view_free(&v);
out:
  if (sub)
    zmq_close(sub);
  if (ctx)
    zmq_ctx_term(ctx);
  return status;
}

/* --- kiln control ----------------------------------------------------------- */

static const char control_usage[] =
    "Usage: kiln control [--service ENDPOINT] [--agent N] [--policy P] [--hot N] [--warm N]\n"
    "\n"
    "Changes how kilnd's Partitioning Engine turns heat maps into tiers, while\n"
    "it runs: for agent N (the number kiln status shows), or for every agent\n"
    "and those to come. kilnd recomputes the partitions at once.\n"
    "\n"
    "  --policy coverage|share  coverage: the fewest functions covering hot% of\n"
    "                           self time are hot, warm% hot or warm (warm >= hot);\n"
    "                           share: each function's share against hot% and\n"
    "                           warm% (warm < hot)\n"
    "  --hot N, --warm N        thresholds in percent, 1 to 100 (not given: kept,\n"
    "                           or the new policy's defaults)\n"
    "\n"
    "Exit status: 0 when kilnd confirmed; 1 when it refused (the reason on\n"
    "stderr) or is not there; 2 for bad usage.\n";

static int percent_arg(const char *opt, const char *v, uint32_t *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < 1 || n > 100)
    return fail(EXIT_USAGE, "control: %s %s: expected a percentage from 1 to 100", opt, v);
  *out = (uint32_t)n;
  return 0;
}

int kiln_control_main(int argc, char **argv) {
  const char *service = NULL;
  Kiln__Control c = KILN__CONTROL__INIT;
  for (int i = 0; i < argc; i++) {
    int err = 0;
    const char *v;
    if ((v = value_of(argc, argv, &i, "--service", &err))) {
      if (!*v)
        return fail(EXIT_USAGE, "control: --service: empty endpoint");
      service = v;
    } else if ((v = value_of(argc, argv, &i, "--agent", &err))) {
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (errno || end == v || *end || n < 1 || n > UINT32_MAX)
        return fail(EXIT_USAGE, "control: --agent %s: expected an agent number (kiln status)", v);
      c.agent = (uint32_t)n;
    } else if ((v = value_of(argc, argv, &i, "--policy", &err))) {
      if (strcmp(v, "coverage") != 0 && strcmp(v, "share") != 0)
        return fail(EXIT_USAGE, "control: --policy %s: expected coverage or share", v);
      c.policy = (char *)v;
    } else if ((v = value_of(argc, argv, &i, "--hot", &err))) {
      if ((err = percent_arg("--hot", v, &c.hot_percent)))
        return err;
    } else if ((v = value_of(argc, argv, &i, "--warm", &err))) {
      if ((err = percent_arg("--warm", v, &c.warm_percent)))
        return err;
    } else if (err) {
      return err;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(control_usage, stdout);
      return 0;
    } else {
      return fail(EXIT_USAGE, "control: unknown option '%s'; try 'kiln control --help'", argv[i]);
    }
  }
  if (!c.policy[0] && !c.hot_percent && !c.warm_percent)
    return fail(EXIT_USAGE, "control: nothing to change: give --policy, --hot or --warm");
  char endpoint[4200];
  if (endpoint_of(service, endpoint, sizeof endpoint, "control") != 0)
    return EXIT_NO;
  if (nobody_at(endpoint))
    return fail(EXIT_NO, "control: no kilnd at %s", endpoint);

  void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
  int linger = 0, status = EXIT_NO;
  Kiln__Envelope req = KILN__ENVELOPE__INIT, *rep = NULL;
  req.request_id = 1;
  req.body_case = KILN__ENVELOPE__BODY_CONTROL;
  req.control = &c;
  if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_connect(sock, endpoint) != 0 || kiln_frame_send(sock, &req, 0) != 0) {
    fail(EXIT_NO, "control: cannot reach kilnd at %s: %s", endpoint, zmq_strerror(errno));
    goto out;
  }
  zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
  double deadline = now_ms() + CONTROL_TIMEOUT_MS;
  while (!rep) {
    int left = (int)(deadline - now_ms());
    if (left <= 0 || (zmq_poll(&item, 1, left) < 0 && errno != EINTR)) {
      fail(EXIT_NO, "control: no answer from kilnd at %s in %d s", endpoint,
           CONTROL_TIMEOUT_MS / 1000);
      goto out;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (!(item.revents & ZMQ_POLLIN) || zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      continue;
    }
    uint64_t rid;
    char err[256];
    KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                           KILN_DEFAULT_MAX_MESSAGE, &rep, &rid, err, sizeof err);
    zmq_msg_close(&msg);
    if (st != KILN_FRAME_OK) {
      fail(EXIT_NO, "control: kilnd at %s sent a bad reply: %s", endpoint, err);
      goto out;
    }
  }
  if (rep->body_case == KILN__ENVELOPE__BODY_ERROR) {
    fail(EXIT_NO, "control: kilnd answered: %s", rep->error->message);
  } else if (rep->body_case != KILN__ENVELOPE__BODY_CONTROL_REPLY) {
    fail(EXIT_NO, "control: kilnd at %s answered with an unexpected message", endpoint);
  } else if (!rep->control_reply->ok) {
    fail(EXIT_NO, "control: refused: %s", rep->control_reply->reason);
  } else {
    const Kiln__ControlReply *r = rep->control_reply;
    char who[32] = "every agent";
    if (r->agent)
      snprintf(who, sizeof who, "agent %u", r->agent);
    printf("kilnd: %s: policy %s, hot %.0f%%, warm %.0f%%; %u partition%s recomputed\n", who,
           r->policy, r->hot * 100, r->warm * 100, r->repartitioned,
           r->repartitioned == 1 ? "" : "s");
    status = 0;
  }
out:
  if (rep)
    kiln__envelope__free_unpacked(rep, NULL);
  if (sock)
    zmq_close(sock);
  if (ctx)
    zmq_ctx_term(ctx);
  return status;
}
