/*
 * tiering.c: adaptive tiering, the agent's loop of the concept: heat map
 * out, partition in, packages mapped, entries switched, while the script
 * runs on.
 *
 * Each adapted instance gets a thread of its own, with its own connection
 * to kilnd (a ZeroMQ socket belongs to one thread). After the warm-up and
 * then every period it reads the module's counters (heatmap.c, racing the
 * script's increments on purpose: a heat map is a snapshot in progress),
 * sends them, and applies kilnd's partition: functions the partition
 * demotes go back to the interpreter at once; every job with a function
 * not yet at the job's tier is asked for (kilnd started compiling all of
 * them when it answered, so they come back as they finish) and mapped,
 * switching all of its functions, which may run its code from their next
 * call on. The script never waits: everything here is off its thread, and
 * a switch is one atomic store per function (loader.c).
 *
 * After each round, a package none of whose functions runs from it any
 * more (demoted, or moved to a newer package) is posted to the script's
 * thread, which unmaps it once no compiled code runs (release.c); a later
 * round may map it again. kiln_instance_adapt_stop hands the rest to the
 * runtime, which unmaps them when it is freed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp.h"
#include "loader.h"
#include "release.h"
#include "runtime.h"
#include "service_client.h"

#define DEFAULT_WARMUP_MS 100
#define DEFAULT_WARMUP_EVENTS 20000000ull
#define DEFAULT_PERIOD_MS 250
/* After kilnd could not be reached, heat maps are skipped for this many
 * periods before the next try: a missing service costs nothing. */
#define RETRY_PERIODS 20
#define MAX_CHANGES 4096
/* What a round's heat map keeps of the one before: the partition follows
 * what the script does now (a new phase takes over within a few periods),
 * not what it did since it started. */
#define RECENT_DECAY 0.5
/* A function goes down a tier only after this long without running (or
 * since it was switched): one that a run's start compiled may not have
 * run yet, and nothing is won by taking code away from one that will. */
#define DEFAULT_DEMOTE_IDLE_MS 10000
#define FINAL_TIMEOUT_MS 2000

typedef struct Tiering Tiering;
struct Tiering {
  Instance *in;
  kiln_adapt_config cfg;
  pthread_t thread;
  pthread_mutex_t lock; /* the fields below */
  pthread_cond_t wake;
  bool stop;
  bool joined; /* stopped and waited for: the record stays readable */
  kiln_tier_change *changes;
  size_t nchanges;
  size_t nchanges_sent; /* the tiering thread's: those already in a heat map */
  LoadedPackage *packages; /* mapped and not posted for release */
  size_t npackages, cap_packages;
  size_t mapped; /* packages mapped in all */
  size_t released; /* of them unmapped again: written by the script's thread, atomically */
  /* The tiering thread's alone. */
  /* Per defined function, [2 * i] all its self samples, [2 * i + 1] those
   * in compiled code: as counted at the last round, and recent (decayed). */
  uint64_t *seen_self;
  double *recent_self;
  /* The same for every loop: function i's are from first_loop[i] on. */
  uint32_t *first_loop;
  uint64_t *seen_loop;
  double *recent_loop;
  double *active_s; /* per defined function: uptime when it last ran, or was switched */
  ServiceClient *client;
  bool asked_for_service;
  double asked_at_s; /* uptime when the heat map (or start request) being applied went out */
  unsigned skip_periods;
  double due_s; /* now_s() when the next heat map is due; 0 before the warm-up ends */
  char last_problem[120];
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits ms or until stopped; true when stopped. */
static bool nap(Tiering *tg, unsigned ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&tg->lock);
  while (!tg->stop && pthread_cond_timedwait(&tg->wake, &tg->lock, &until) != ETIMEDOUT)
    ;
  bool stop = tg->stop;
  pthread_mutex_unlock(&tg->lock);
  return stop;
}

static void record(Tiering *tg, uint32_t func, kiln_tier from, kiln_tier to, double compile_ms,
                   const char *why) {
  kiln_tier_change c = {.func = func, .from = from, .tier = to, .compile_ms = compile_ms};
  c.at_s = runtime_uptime_s(tg->in->rt);
  c.latency_ms = tg->asked_at_s > 0 ? (c.at_s - tg->asked_at_s) * 1000 : 0;
  if (func != KILN_NO_FUNC)
    tg->active_s[func - tg->in->module->wasm->nfunc_imports] = c.at_s;
  snprintf(c.why, sizeof c.why, "%s", why);
  pthread_mutex_lock(&tg->lock);
  if (tg->nchanges < MAX_CHANGES)
    tg->changes[tg->nchanges++] = c;
  pthread_mutex_unlock(&tg->lock);
  if (tg->cfg.on_change)
    tg->cfg.on_change(&c, tg->cfg.data);
}

/* One line about what stops the tiering, recorded once per new cause. */
static void problem(Tiering *tg, const char *what) {
  if (strcmp(tg->last_problem, what) == 0)
    return;
  snprintf(tg->last_problem, sizeof tg->last_problem, "%s", what);
  record(tg, KILN_NO_FUNC, KILN_TIER_COLD, KILN_TIER_COLD, 0, what);
}

static uint64_t events(const Module *m) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < m->wasm->nfuncs - m->wasm->nfunc_imports; i++) {
    const FuncProfile *p = &m->prof[i];
    n += __atomic_load_n(&p->calls, __ATOMIC_RELAXED);
    for (uint32_t l = 0; l < p->nloops; l++)
      n += __atomic_load_n(&p->loops[l].iterations, __ATOMIC_RELAXED);
  }
  return n;
}

static Kiln__Tier proto_tier(kiln_tier t) {
  return t == KILN_TIER_HOT    ? KILN__TIER__TIER_HOT
         : t == KILN_TIER_WARM ? KILN__TIER__TIER_WARM
                               : KILN__TIER__TIER_COLD;
}

static kiln_tier our_tier(Kiln__Tier t) {
  return t == KILN__TIER__TIER_HOT    ? KILN_TIER_HOT
         : t == KILN__TIER__TIER_WARM ? KILN_TIER_WARM
                                      : KILN_TIER_COLD;
}

static kiln_tier tier_of(const FuncInst *f) {
  return (kiln_tier)__atomic_load_n(&f->tier, __ATOMIC_RELAXED);
}

/* The connection, made on first use; kiln run may start a kilnd once. */
static bool connect_service(Tiering *tg) {
  if (tg->client)
    return true;
  const kiln_config *cfg = runtime_config(tg->in->rt);
  char err[480];
  kiln_status st =
      service_connect(cfg->service_endpoint, cfg->service_timeout_ms, &tg->client, err, sizeof err);
  if (st == KILN_UNAVAILABLE && !tg->asked_for_service && tg->cfg.on_unavailable) {
    tg->asked_for_service = true;
    tg->cfg.on_unavailable(tg->cfg.data);
    st = service_connect(cfg->service_endpoint, cfg->service_timeout_ms, &tg->client, err,
                         sizeof err);
  }
  if (st != KILN_OK) {
    tg->client = NULL;
    problem(tg, err);
    tg->skip_periods = RETRY_PERIODS;
    return false;
  }
  return true;
}

static void drop_service(Tiering *tg, const char *err) {
  problem(tg, err);
  service_close(tg->client);
  tg->client = NULL;
  tg->skip_periods = RETRY_PERIODS;
}

static bool keep_package(Tiering *tg, LoadedPackage pkg) {
  pthread_mutex_lock(&tg->lock);
  bool ok = true;
  if (tg->npackages == tg->cap_packages) {
    size_t cap = tg->cap_packages ? tg->cap_packages * 2 : 16;
    LoadedPackage *p = realloc(tg->packages, cap * sizeof *p);
    if (p) {
      tg->packages = p;
      tg->cap_packages = cap;
    } else {
      ok = false;
    }
  }
  if (ok) {
    tg->packages[tg->npackages++] = pkg;
    tg->mapped++;
  }
  pthread_mutex_unlock(&tg->lock);
  return ok;
}

/* On the script's thread, as a package goes (release.h). */
static void released(const PackageRelease *r) {
  Tiering *tg = r->data;
  __atomic_fetch_add(&tg->released, 1, __ATOMIC_RELAXED);
  if (tg->cfg.on_release) {
    kiln_package_release rel = {.segment = r->pkg.segment,
                                .functions = (uint32_t)r->pkg.nfuncs,
                                .at_s = runtime_uptime_s(tg->in->rt),
                                .why = r->why};
    tg->cfg.on_release(&rel, tg->cfg.data);
  }
}

/* Posts every package no function uses any more to the script's thread,
 * which unmaps it when no compiled code runs (release.c). Entries move
 * into a package only in package_load, after its dlopen: if this object
 * is loaded again (here, or by kiln_instance_compile), that load holds a
 * reference of its own, and this one's dlclose leaves it mapped. */
static void offer_unused(Tiering *tg) {
  Thread *t = runtime_thread_of(tg->in->rt);
  pthread_mutex_lock(&tg->lock);
  size_t kept = 0;
  for (size_t i = 0; i < tg->npackages; i++) {
    LoadedPackage *p = &tg->packages[i];
    PackageRelease *r = malloc(sizeof *r);
    if (r && package_unused(tg->in, p, r->why, sizeof r->why)) {
      r->pkg = *p;
      r->owner = tg;
      r->done = released;
      r->data = tg;
      release_post(t, r);
    } else {
      free(r); /* still used (or no memory to post it now: next round) */
      tg->packages[kept++] = *p;
    }
  }
  tg->npackages = kept;
  pthread_mutex_unlock(&tg->lock);
}

static const char *reason_of(const Kiln__Partition *p, uint32_t func) {
  for (size_t i = 0; i < p->n_placements; i++)
    if (p->placements[i]->function_index == func)
      return p->placements[i]->reason ? p->placements[i]->reason : "";
  return "";
}

/* What one round asks kilnd for, and how the answers are applied. */
typedef struct {
  Tiering *tg;
  const Kiln__Partition *part;
  ServiceJob *jobs;
  size_t njobs;
} Round;

static void send_due_heat_map(Tiering *tg);

/* Whether the tiering is stopping: then no package still to come is of use. */
static bool stopping(void *arg) {
  Tiering *tg = ((Round *)arg)->tg;
  send_due_heat_map(tg);
  return nap(tg, 0);
}

/* One package came (or a job failed): map it, switch its functions. */
static bool take_package(void *arg, size_t k, const Kiln__PackageReady *pkg, const char *err) {
  Round *r = arg;
  Tiering *tg = r->tg;
  Instance *in = tg->in;
  if (!pkg) {
    problem(tg, err); /* this job failed; the others may not */
    return true;
  }
  const ServiceJob *j = &r->jobs[k];
  kiln_tier tier = our_tier(j->tier);
  kiln_tier *before = calloc(j->nfuncs + 1, sizeof *before);
  for (size_t i = 0; before && i < j->nfuncs; i++)
    before[i] = tier_of(in->funcs[j->funcs[i]]);
  char why[480];
  LoadedPackage loaded;
  if (!before || !package_load(in, pkg, &loaded, why, sizeof why)) {
    problem(tg, before ? why : "out of memory");
  } else {
    if (!keep_package(tg, loaded)) /* its code may run already: mapped for good */
      problem(tg, "out of memory for the package list");
    double ms = pkg->cached ? 0 : (double)pkg->compile_time_us / 1000.0;
    for (size_t i = 0; i < j->nfuncs; i++)
      if (before[i] != tier)
        record(tg, j->funcs[i], before[i], tier, ms, reason_of(r->part, j->funcs[i]));
  }
  free(before);
  send_due_heat_map(tg);
  /* Stopping: the rest may still come, but nobody waits for it. */
  return !nap(tg, 0);
}

/* Whether func may go down a tier (kiln_adapt_config.demote_idle_ms). */
static bool idle(const Tiering *tg, uint32_t func) {
  double since = tg->active_s[func - tg->in->module->wasm->nfunc_imports];
  return (runtime_uptime_s(tg->in->rt) - since) * 1000 >= tg->cfg.demote_idle_ms;
}

/* Whether job j has a function not at its tier yet; its tier, maybe
 * lowered (hot code needs the full guard reservation: ulimit -v). */
static bool job_needed(Tiering *tg, const Kiln__PartitionJob *j, Kiln__Tier *tier) {
  Instance *in = tg->in;
  const WasmModule *wm = in->module->wasm;
  kiln_tier t = our_tier(j->tier);
  if (t == KILN_TIER_HOT && in->mem0 && !memory_guarded(in->mem0))
    t = KILN_TIER_WARM;
  *tier = proto_tier(t);
  bool needed = false;
  for (size_t i = 0; i < j->n_functions; i++) {
    uint32_t x = j->functions[i];
    if (x < wm->nfunc_imports || x >= wm->nfuncs)
      return false; /* not ours to trust: skip the job */
    kiln_tier now = tier_of(in->funcs[x]);
    needed |= now < t || (now > t && idle(tg, x));
  }
  return needed && t != KILN_TIER_COLD;
}

/* What to ask kilnd for a partition job, at tier (the job's, or warm for
 * hot where hot code cannot run): the profile hints only for hot code. */
static ServiceJob job_of(const Kiln__PartitionJob *j, Kiln__Tier tier) {
  bool as_asked = tier == j->tier;
  return (ServiceJob){.funcs = j->functions,
                      .nfuncs = j->n_functions,
                      .tier = tier,
                      .hints = as_asked ? j->hints : NULL,
                      .nhints = as_asked ? j->n_hints : 0,
                      .without_osr = j->without_osr,
                      .nwithout_osr = j->n_without_osr,
                      .osr_body = j->osr_body,
                      .nosr_body = j->n_osr_body,
                      .branch_hints = as_asked ? j->branch_hints : NULL,
                      .nbranch_hints = as_asked ? j->n_branch_hints : 0};
}

static void apply(Tiering *tg, const Kiln__Partition *p) {
  Instance *in = tg->in;
  const WasmModule *wm = in->module->wasm;
  /* Demotions first: they cost nothing and need no service. */
  for (size_t i = 0; i < p->n_placements; i++) {
    const Kiln__Placement *pl = p->placements[i];
    uint32_t x = pl->function_index;
    if (x < wm->nfunc_imports || x >= wm->nfuncs || our_tier(pl->tier) != KILN_TIER_COLD)
      continue;
    FuncInst *f = in->funcs[x];
    kiln_tier was = tier_of(f);
    if (was == KILN_TIER_COLD || !idle(tg, x))
      continue;
    __atomic_store_n(&f->osr, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&f->tier, KILN_TIER_COLD, __ATOMIC_RELAXED);
    __atomic_store_n(&f->entry, interp_entry, __ATOMIC_RELEASE);
    record(tg, x, was, KILN_TIER_COLD, 0, pl->reason ? pl->reason : "");
  }
  Round r = {tg, p, calloc(p->n_jobs + 1, sizeof *r.jobs), 0};
  if (!r.jobs)
    return;
  for (size_t k = 0; k < p->n_jobs; k++) {
    Kiln__Tier tier;
    if (job_needed(tg, p->jobs[k], &tier))
      r.jobs[r.njobs++] = job_of(p->jobs[k], tier);
  }
  char err[480];
  kiln_status st = service_compile_each(tg->client, wm, r.jobs, r.njobs, take_package, stopping, &r,
                                        err, sizeof err);
  if (st == KILN_UNAVAILABLE)
    drop_service(tg, err);
  else if (st != KILN_OK)
    problem(tg, err);
  free(r.jobs);
  offer_unused(tg);
}

/* What a heat map carries besides its regions: call edges, and the tier
 * changes since the last one that went out (for kilnd's feed). */
typedef struct {
  Kiln__CallEdge *edges, **ep;
  Kiln__BranchBias *branches, **bp;
  Kiln__TierChange *changes, **cp;
  kiln_tier_change *copies; /* the record's, taken under its lock */
  size_t nchanges, upto; /* upto: the record's count once these are sent */
} HeatMapExtras;

static void extras_free(HeatMapExtras *x) {
  free(x->edges);
  free(x->ep);
  free(x->branches);
  free(x->bp);
  free(x->changes);
  free(x->cp);
  free(x->copies);
}

static bool extras_new(Tiering *tg, const kiln_heatmap *h, HeatMapExtras *x) {
  pthread_mutex_lock(&tg->lock);
  x->upto = tg->nchanges;
  x->nchanges = tg->nchanges - tg->nchanges_sent;
  x->copies = malloc((x->nchanges + 1) * sizeof *x->copies);
  if (x->copies)
    memcpy(x->copies, tg->changes + tg->nchanges_sent, x->nchanges * sizeof *x->copies);
  pthread_mutex_unlock(&tg->lock);
  x->edges = calloc(h->nedges + 1, sizeof *x->edges);
  x->ep = calloc(h->nedges + 1, sizeof *x->ep);
  x->changes = calloc(x->nchanges + 1, sizeof *x->changes);
  x->cp = calloc(x->nchanges + 1, sizeof *x->cp);
  x->branches = calloc(h->nbranches + 1, sizeof *x->branches);
  x->bp = calloc(h->nbranches + 1, sizeof *x->bp);
  if (!x->copies || !x->edges || !x->ep || !x->changes || !x->cp || !x->branches || !x->bp)
    return false;
  for (size_t i = 0; i < h->nbranches; i++) {
    Kiln__BranchBias *b = &x->branches[i];
    kiln__branch_bias__init(b);
    b->function_index = h->branches[i].func;
    b->offset = h->branches[i].offset;
    b->true_count = h->branches[i].true_count;
    b->false_count = h->branches[i].false_count;
    x->bp[i] = b;
  }
  for (size_t i = 0; i < h->nedges; i++) {
    Kiln__CallEdge *e = &x->edges[i];
    kiln__call_edge__init(e);
    e->caller = h->edges[i].caller;
    e->callee = h->edges[i].callee;
    e->count = h->edges[i].count;
    e->indirect = h->edges[i].indirect;
    e->site = h->edges[i].site;
    e->votes = h->edges[i].votes;
    x->ep[i] = e;
  }
  for (size_t i = 0; i < x->nchanges; i++) {
    const kiln_tier_change *c = &x->copies[i];
    Kiln__TierChange *p = &x->changes[i];
    kiln__tier_change__init(p);
    p->function_index = c->func;
    p->from = proto_tier(c->from);
    p->to = proto_tier(c->tier);
    p->at_s = c->at_s;
    p->compile_ms = c->compile_ms;
    p->latency_ms = c->latency_ms;
    p->why = (char *)c->why;
    x->cp[i] = p;
  }
  return true;
}

/* A heat map to send, made from the module's counters (heat_map_make),
 * and what its message points into. */
typedef struct {
  kiln_heatmap *h;
  Kiln__Region *regions, **rp;
  HeatMapExtras x;
  Kiln__HeatMap hm;
} HeatMapOut;

static void heat_map_free(HeatMapOut *o) {
  free(o->regions);
  free(o->rp);
  extras_free(&o->x);
  kiln_heatmap_free(o->h);
}

/* The heat map now, the recent self time in it; the final one, as the
 * tiering stops, holds the whole run's instead. False when it is not worth
 * sending (nothing ran since the last) or cannot be (no memory, no kilnd);
 * true with o to send and then free with heat_map_free. */
static bool heat_map_make(Tiering *tg, bool final, HeatMapOut *o) {
  Instance *in = tg->in;
  memset(o, 0, sizeof *o);
  kiln_heatmap *h = o->h = kiln_instance_heatmap(in);
  if (!h)
    return false;
  uint64_t module_samples = 0;
  for (size_t i = 0; i < h->nregions; i++)
    if (h->regions[i].loop == KILN_NO_LOOP)
      module_samples += h->regions[i].self_samples;
  /* Self samples since the last heat map, decayed into the recent ones:
   * the heat map that leaves names what runs now. */
  const WasmModule *wm = in->module->wasm;
  double recent_total = 0;
  for (uint32_t i = 0; i < wm->nfuncs - wm->nfunc_imports; i++) {
    const FuncProfile *p = &in->module->prof[i];
    uint64_t now[2] = {__atomic_load_n(&p->self, __ATOMIC_RELAXED),
                       __atomic_load_n(&p->self_compiled, __ATOMIC_RELAXED)};
    for (int k = 0; k < 2; k++) {
      double *recent = &tg->recent_self[2 * i + k];
      *recent = *recent * RECENT_DECAY + (double)(now[k] - tg->seen_self[2 * i + k]);
      tg->seen_self[2 * i + k] = now[k];
    }
    recent_total += tg->recent_self[2 * i];
    if (tg->recent_self[2 * i] >= 0.5)
      tg->active_s[i] = runtime_uptime_s(in->rt);
    for (uint32_t l = 0; l < p->nloops; l++) {
      uint32_t k = tg->first_loop[i] + l;
      uint64_t self = __atomic_load_n(&p->loops[l].self, __ATOMIC_RELAXED);
      tg->recent_loop[k] = tg->recent_loop[k] * RECENT_DECAY + (double)(self - tg->seen_loop[k]);
      tg->seen_loop[k] = self;
    }
  }
  /* Worth sending: self time at all, and some of it since the last heat
   * map (else nothing ran, and nothing is to decide), or, the final one, a
   * kilnd already there to tell. */
  bool worth = module_samples > 0 && (final ? tg->client != NULL : recent_total >= 1);
  Kiln__Region *regions = o->regions = calloc(h->nregions + 1, sizeof *regions);
  Kiln__Region **rp = o->rp = calloc(h->nregions + 1, sizeof *rp);
  if (!worth || !regions || !rp || !extras_new(tg, h, &o->x) || !connect_service(tg)) {
    heat_map_free(o);
    return false;
  }
  for (size_t i = 0; i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    kiln__region__init(&regions[i]);
    regions[i].function_index = r->func;
    regions[i].is_loop = r->loop != KILN_NO_LOOP;
    regions[i].loop_offset = r->loop != KILN_NO_LOOP ? r->loop : 0;
    regions[i].count = r->count;
    if (r->loop == KILN_NO_LOOP && final) {
      regions[i].self_samples = r->self_samples;
      regions[i].compiled_samples = __atomic_load_n(
          &in->module->prof[r->func - wm->nfunc_imports].self_compiled, __ATOMIC_RELAXED);
    } else if (r->loop == KILN_NO_LOOP) {
      const double *recent = &tg->recent_self[2 * (r->func - wm->nfunc_imports)];
      regions[i].self_samples = (uint64_t)(recent[0] + 0.5);
      regions[i].compiled_samples = (uint64_t)(recent[1] + 0.5);
    } else if (final) {
      regions[i].self_samples = r->self_samples;
    } else {
      uint32_t x = r->func - wm->nfunc_imports;
      uint32_t l = interp_loop_at(in->module->code[x], r->loop);
      regions[i].self_samples =
          l == NO_LOOP ? 0 : (uint64_t)(tg->recent_loop[tg->first_loop[x] + l] + 0.5);
    }
    regions[i].tier = proto_tier(r->tier);
    regions[i].osr_entries = r->osr_entries;
    rp[i] = &regions[i];
  }
  /* A region's heat goes with the self time it is sent with (the recent,
   * but for the final map): relative to the hottest function's. */
  uint64_t hottest = 0;
  for (size_t i = 0; i < h->nregions; i++)
    if (!regions[i].is_loop && regions[i].self_samples > hottest)
      hottest = regions[i].self_samples;
  for (size_t i = 0; i < h->nregions; i++)
    regions[i].heat = hottest ? (double)regions[i].self_samples / (double)hottest : 0;
  Kiln__HeatMap *hm = &o->hm;
  kiln__heat_map__init(hm);
  hm->module_hash.data = (uint8_t *)in->module->wasm->hash;
  hm->module_hash.len = 32;
  hm->samples = h->samples;
  hm->sample_us = h->sample_us;
  hm->uptime_ms = (uint64_t)(runtime_uptime_s(in->rt) * 1000);
  hm->n_regions = h->nregions;
  hm->regions = rp;
  hm->final = final;
  hm->n_edges = h->nedges;
  hm->edges = o->x.ep;
  hm->n_tier_changes = o->x.nchanges;
  hm->tier_changes = o->x.cp;
  hm->memory_pages = h->memory_pages;
  hm->memory_grows = h->memory_grows;
  hm->n_branches = h->nbranches;
  hm->branches = o->x.bp;
  return true;
}

/* One heat map out, one partition in and applied. The final one's
 * partition is not applied, but kilnd keeps the heat map and compiles
 * what it asks for, for the next run (which starts from it). */
static void round_trip(Tiering *tg, bool final) {
  HeatMapOut o;
  if (!heat_map_make(tg, final, &o))
    return;
  char err[480];
  Kiln__Partition *part = NULL;
  tg->asked_at_s = runtime_uptime_s(tg->in->rt);
  kiln_status st =
      service_partition(tg->client, tg->in->module->wasm, &o.hm, &part, err, sizeof err);
  size_t upto = o.x.upto;
  heat_map_free(&o);
  if (st == KILN_UNAVAILABLE) {
    drop_service(tg, err);
    return;
  }
  if (st != KILN_OK) {
    problem(tg, err);
    return;
  }
  tg->nchanges_sent = upto;
  if (!final)
    apply(tg, part);
  kiln__partition__free_unpacked(part, NULL);
}

/* While a round waits for its packages (seconds, for a large function),
 * the heat maps that fall due go out all the same, as interim ones that
 * kilnd neither answers nor partitions: its feed, the viewer and kiln
 * status see the script live. The next round's heat map is partitioned. */
static void send_due_heat_map(Tiering *tg) {
  double now = now_s();
  if (!tg->due_s || now < tg->due_s || !tg->client)
    return;
  tg->due_s += tg->cfg.period_ms / 1000.0;
  if (tg->due_s <= now)
    tg->due_s = now + tg->cfg.period_ms / 1000.0;
  HeatMapOut o;
  if (!heat_map_make(tg, false, &o))
    return;
  o.hm.interim = true;
  char err[480];
  if (service_send_heat_map(tg->client, &o.hm, err, sizeof err) == KILN_OK)
    tg->nchanges_sent = o.x.upto;
  else
    problem(tg, err); /* the round's own wait sees kilnd gone, and drops it */
  heat_map_free(&o);
}

/* Ahead of time: a kilnd that is there already may know the module from
 * its last run, and then the script starts in the tiers that run ended
 * with. None is started for this: a short script never needs one. */
static void start_from_last_run(Tiering *tg) {
  const kiln_config *cfg = runtime_config(tg->in->rt);
  char err[480];
  if (service_connect(cfg->service_endpoint, cfg->service_timeout_ms, &tg->client, err,
                      sizeof err) != KILN_OK) {
    tg->client = NULL;
    return;
  }
  Kiln__Partition *part = NULL;
  tg->asked_at_s = runtime_uptime_s(tg->in->rt);
  kiln_status st =
      service_partition(tg->client, tg->in->module->wasm, NULL, &part, err, sizeof err);
  if (st == KILN_OK) {
    apply(tg, part);
    kiln__partition__free_unpacked(part, NULL);
  } else if (st == KILN_UNAVAILABLE) {
    drop_service(tg, err);
    tg->skip_periods = 0; /* the warm-up is long enough a wait */
  }
}

static void *tiering_main(void *arg) {
  Tiering *tg = arg;
  const Module *m = tg->in->module;
  start_from_last_run(tg);
  double until = now_s() + tg->cfg.warmup_ms / 1000.0;
  /* The warm-up: a short program tiers up on its event count already. */
  while (now_s() < until && events(m) < tg->cfg.warmup_events)
    if (nap(tg, 5))
      goto out;
  /* Periods keep their cadence from the end of the warm-up: a round trip
   * that waited for its compiles does not push the next heat map back by
   * as long (what it missed is what the next partition should see). */
  tg->due_s = now_s();
  for (;;) {
    /* The next heat map's time, before this round: heat maps that fall
     * due while it waits for packages go out then (send_due_heat_map). */
    tg->due_s += tg->cfg.period_ms / 1000.0;
    if (tg->skip_periods)
      tg->skip_periods--;
    else
      round_trip(tg, false);
    double left_ms = (tg->due_s - now_s()) * 1000;
    if (left_ms < 0)
      tg->due_s = now_s(), left_ms = 0;
    if (nap(tg, (unsigned)left_ms))
      break;
  }
  /* The script is over and its host waits: kilnd gets a moment to take
   * the final heat map, no more. */
  if (tg->client)
    service_set_timeout(tg->client, FINAL_TIMEOUT_MS);
  round_trip(tg, true);
out:
  service_close(tg->client);
  tg->client = NULL;
  return NULL;
}

kiln_status kiln_instance_adapt(kiln_instance *in, const kiln_adapt_config *cfg) {
  if (in->tiering && !in->tiering->joined) {
    runtime_error(in->rt, "%s: adaptive tiering already runs", in->name);
    return KILN_ERROR;
  }
  tiering_free(in); /* a stopped one's record goes */
  Tiering *tg = calloc(1, sizeof *tg);
  kiln_tier_change *changes = calloc(MAX_CHANGES, sizeof *changes);
  size_t ndef = in->module->wasm->nfuncs - in->module->wasm->nfunc_imports + 1;
  uint64_t *seen = calloc(2 * ndef, sizeof *seen);
  double *recent = calloc(2 * ndef, sizeof *recent);
  double *active = calloc(ndef, sizeof *active);
  uint32_t *first_loop = calloc(ndef, sizeof *first_loop);
  size_t nloops = 0;
  for (size_t i = 0; first_loop && i + 1 < ndef; i++) {
    first_loop[i] = (uint32_t)nloops;
    nloops += in->module->prof[i].nloops;
  }
  uint64_t *seen_loop = calloc(nloops + 1, sizeof *seen_loop);
  double *recent_loop = calloc(nloops + 1, sizeof *recent_loop);
  if (!tg || !changes || !seen || !recent || !active || !first_loop || !seen_loop || !recent_loop) {
    free(tg);
    free(changes);
    free(seen);
    free(recent);
    free(active);
    free(first_loop);
    free(seen_loop);
    free(recent_loop);
    runtime_error(in->rt, "%s: out of memory", in->name);
    return KILN_ERROR;
  }
  tg->in = in;
  tg->changes = changes;
  tg->seen_self = seen;
  tg->recent_self = recent;
  tg->active_s = active;
  tg->first_loop = first_loop;
  tg->seen_loop = seen_loop;
  tg->recent_loop = recent_loop;
  if (cfg)
    tg->cfg = *cfg;
  if (!tg->cfg.warmup_ms)
    tg->cfg.warmup_ms = DEFAULT_WARMUP_MS;
  if (!tg->cfg.warmup_events)
    tg->cfg.warmup_events = DEFAULT_WARMUP_EVENTS;
  if (!tg->cfg.period_ms)
    tg->cfg.period_ms = DEFAULT_PERIOD_MS;
  if (!tg->cfg.demote_idle_ms)
    tg->cfg.demote_idle_ms = DEFAULT_DEMOTE_IDLE_MS;
  pthread_mutex_init(&tg->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&tg->wake, &ca);
  pthread_condattr_destroy(&ca);
  /* The thread blocks SIGPROF: the sampler is the script thread's alone. */
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &prof, &old);
  int rc = pthread_create(&tg->thread, NULL, tiering_main, tg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_mutex_destroy(&tg->lock);
    pthread_cond_destroy(&tg->wake);
    free(changes);
    free(seen);
    free(recent);
    free(active);
    free(tg);
    runtime_error(in->rt, "%s: cannot start the tiering thread: %s", in->name, strerror(rc));
    return KILN_ERROR;
  }
  in->tiering = tg;
  return KILN_OK;
}

void kiln_instance_adapt_stop(kiln_instance *in) {
  Tiering *tg = in->tiering;
  if (!tg || tg->joined)
    return;
  pthread_mutex_lock(&tg->lock);
  tg->stop = true;
  pthread_cond_signal(&tg->wake);
  pthread_mutex_unlock(&tg->lock);
  pthread_join(tg->thread, NULL);
  tg->joined = true;
  /* What the script's thread has not released yet: this is that thread,
   * and outside the script it may go now. */
  release_withdraw(runtime_thread_of(in->rt), tg, in->rt);
  for (size_t i = 0; i < tg->npackages; i++)
    if (!package_keep(in->rt, tg->packages[i]))
      break; /* out of memory: the rest stays mapped for the process's life */
  tg->npackages = 0;
}

void tiering_free(Instance *in) {
  Tiering *tg = in->tiering;
  if (!tg)
    return;
  kiln_instance_adapt_stop(in);
  free(tg->packages);
  free(tg->changes);
  free(tg->seen_self);
  free(tg->recent_self);
  free(tg->active_s);
  free(tg->first_loop);
  free(tg->seen_loop);
  free(tg->recent_loop);
  pthread_mutex_destroy(&tg->lock);
  pthread_cond_destroy(&tg->wake);
  free(tg);
  in->tiering = NULL;
}

void kiln_instance_packages(kiln_instance *in, size_t *mapped, size_t *released) {
  Tiering *tg = in->tiering;
  size_t m = 0, r = 0;
  if (tg) {
    pthread_mutex_lock(&tg->lock);
    m = tg->mapped;
    pthread_mutex_unlock(&tg->lock);
    r = __atomic_load_n(&tg->released, __ATOMIC_RELAXED);
  }
  if (mapped)
    *mapped = m;
  if (released)
    *released = r;
}

size_t kiln_instance_tier_changes(kiln_instance *in, kiln_tier_change *out, size_t max) {
  Tiering *tg = in->tiering;
  if (!tg)
    return 0;
  pthread_mutex_lock(&tg->lock);
  size_t n = tg->nchanges;
  if (out && max)
    memcpy(out, tg->changes, (n < max ? n : max) * sizeof *out);
  pthread_mutex_unlock(&tg->lock);
  return n;
}
