/*
 * adapt.c: kilnd's side of adaptive tiering. An agent sends the heat map of
 * a module; kilnd runs the Partitioning Engine (partition.c) on it, with
 * that agent's previous partition of that module (hysteresis needs it),
 * answers with the partition, and starts every compile job of it at once:
 * by the time the agent asks for each package (an ordinary CompileRequest)
 * it is under way on a worker, or done, or in the package index already.
 *
 * Each agent's partition is its own (per-client optimization); two agents
 * whose partitions ask for the same function set at the same tier share one
 * package through its content key.
 *
 * Agents. A connection that says Hello is an agent, numbered for the feed.
 * ZeroMQ's monitor names a closed connection by its file descriptor, which
 * kilnd notes from the agent's Hello (ZMQ_SRCFD): that agent is gone. When
 * the descriptor is not known, an agent is taken for gone when there are
 * fewer connections than agents: one whose run is over (it sent its final
 * heat map), else one whose process is no more, else the one silent
 * longest; and after AGENT_SILENT_S without a request. One that speaks
 * again is back.
 *
 * Control. An operator changes the engine's settings for one agent or for
 * all. The agent only hears kilnd in replies to its own requests, so the
 * new settings reach it with the answer to its next heat map; meanwhile
 * kilnd recomputes each affected agent's partition from its last heat map
 * at once, publishes it on the feed and prefetches its jobs, so the
 * packages are there (or under way) when the agent asks.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kilnd.h"

/* Coverage a start partition's hot and warm tiers reach at least. */
#define START_HOT_COVERAGE 0.95
#define START_WARM_COVERAGE 0.995

/* Agents' partitions remembered; the oldest is forgotten past this. */
#define ADAPT_MAX_AGENT_MODULES 256
/* An agent not heard from for this long is taken for gone (an agent whose
 * script is busy sends a heat map every period, 250 ms by default). */
#define AGENT_SILENT_S 10.0
/* How long a gone agent's record stays, should it speak again. */
#define AGENT_FORGET_S 600.0

struct AgentModule {
  uint8_t client[256];
  size_t client_len;
  uint32_t agent; /* its Agent's id; 0: none (no Hello) */
  uint8_t hash[32];
  Partition prev;
  Kiln__HeatMap *hm; /* the last heat map, for a Control's new partition */
  Kiln__Partition *sent; /* the last partition, for the feed's snapshot */
  bool sent_by_control; /* `sent` was made by a Control, not yet the agent's */
  struct AgentModule *next; /* most recently used first */
};

static void agent_module_free(AgentModule *a) {
  part_free(&a->prev);
  if (a->hm)
    kiln__heat_map__free_unpacked(a->hm, NULL);
  if (a->sent)
    kiln__partition__free_unpacked(a->sent, NULL);
  free(a);
}

/* --- agents ---------------------------------------------------------------- */

static Agent *agent_of(Broker *b, const uint8_t *id, size_t idlen) {
  for (Agent *a = b->seen; a; a = a->next)
    if (a->client_len == idlen && memcmp(a->client, id, idlen) == 0)
      return a;
  return NULL;
}

static Agent *agent_by_id(Broker *b, uint32_t n) {
  for (Agent *a = b->seen; a; a = a->next)
    if (a->id == n)
      return a;
  return NULL;
}

uint32_t adapt_agent_number(Broker *b, const uint8_t *id, size_t idlen) {
  const Agent *a = agent_of(b, id, idlen);
  return a ? a->id : 0;
}

const PartConfig *adapt_config(const Broker *b, const Agent *a) {
  return a && a->own_cfg ? &a->cfg : &b->part_cfg;
}

void adapt_on_hello(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Hello *h, int fd) {
  Agent *a = agent_of(b, id, idlen);
  if (!a && (a = calloc(1, sizeof *a))) {
    a->id = ++b->next_agent_id;
    memcpy(a->client, id, idlen);
    a->client_len = idlen;
    a->hello_at = a->heard_at = kd_now();
    a->next = b->seen;
    b->seen = a;
  }
  if (!a)
    return; /* out of memory: it is served, only not on the feed */
  a->pid = h->pid;
  a->fd = fd;
  size_t j = 0;
  for (const char *c = h->client_name; c && *c && j + 1 < sizeof a->name; c++)
    a->name[j++] = (*c < 0x20 || *c == 0x7f) ? '?' : *c;
  a->name[j] = '\0';
  kd_log("agent %u is pid %u ('%s')", a->id, a->pid, a->name);
  feed_agent(b, a, false);
}

void adapt_heard(Broker *b, const uint8_t *id, size_t idlen) {
  Agent *a = agent_of(b, id, idlen);
  if (!a)
    return;
  a->heard_at = kd_now();
  if (a->gone) {
    a->gone = false;
    kd_log("agent %u is back", a->id);
    feed_agent(b, a, false);
  }
}

static void gone(Broker *b, Agent *a, const char *why) {
  a->gone = true;
  a->gone_at = kd_now();
  kd_log("agent %u (pid %u) is gone: %s", a->id, a->pid, why);
  feed_agent(b, a, false);
}

void adapt_closed(Broker *b, int fd) {
  for (Agent *a = b->seen; fd >= 0 && a; a = a->next)
    if (!a->gone && a->fd == fd) {
      a->fd = -1; /* the number may be another connection's next */
      gone(b, a, "its connection closed");
      return;
    }
}

/* Whether a's process has ended (kilnd and its agents share a machine). */
static bool process_ended(const Agent *a) {
  return a->pid && kill((pid_t)a->pid, 0) != 0 && errno == ESRCH;
}

void adapt_connections(Broker *b) {
  for (;;) {
    int live = 0;
    Agent *silent = NULL, *over = NULL, *ended = NULL;
    for (Agent *a = b->seen; a; a = a->next)
      if (!a->gone) {
        live++;
        if (!silent || a->heard_at < silent->heard_at)
          silent = a;
        if (a->leaving && !over)
          over = a;
      }
    if (live <= b->agents || !silent)
      return;
    for (Agent *a = b->seen; !over && !ended && a; a = a->next)
      if (!a->gone && process_ended(a))
        ended = a;
    if (!b->agents)
      gone(b, silent, "no connection left");
    else if (over)
      gone(b, over, "its run is over and a connection closed");
    else if (ended)
      gone(b, ended, "its process ended");
    else
      gone(b, silent, "a connection closed, and it was silent longest");
  }
}

void adapt_tick(Broker *b) {
  double now = kd_now();
  for (Agent **p = &b->seen; *p;) {
    Agent *a = *p;
    if (!a->gone && now - a->heard_at > AGENT_SILENT_S)
      gone(b, a, "silent for 10 s");
    if (a->gone && now - a->gone_at > AGENT_FORGET_S) {
      *p = a->next;
      free(a);
      continue;
    }
    p = &a->next;
  }
  if (!b->feed)
    return;
  /* The snapshot: what a subscriber that just joined needs. */
  for (Agent *a = b->seen; a; a = a->next) {
    if (a->gone)
      continue;
    feed_agent(b, a, true);
    for (AgentModule *am = b->adapted; am; am = am->next) {
      if (am->agent != a->id)
        continue;
      const WasmModule *m = store_find_module(b->store, am->hash, 32);
      if (m && am->hm)
        feed_heat_map(b, a->id, m, am->hm, true);
      if (am->sent)
        feed_partition(b, a->id, am->sent, am->sent_by_control, true);
    }
  }
}

static PartTier part_tier(Kiln__Tier t) {
  return t == KILN__TIER__TIER_HOT ? PART_HOT : t == KILN__TIER__TIER_WARM ? PART_WARM : PART_COLD;
}

static Kiln__Tier proto_tier(PartTier t) {
  return t == PART_HOT    ? KILN__TIER__TIER_HOT
         : t == PART_WARM ? KILN__TIER__TIER_WARM
                          : KILN__TIER__TIER_COLD;
}

/* Samples in compiled code stand for more interpreter time: a function
 * that got faster by being compiled must not look cold for it, or it would
 * be demoted and promoted in turn. bench/run measures the interpreter at
 * about 7x native, warm code at 1.2x and hot at 0.9x; these are rounded
 * well down, so that a function that really stopped mattering still goes. */
static uint64_t interpreter_equivalent(const Kiln__Region *r) {
  uint64_t compiled = r->compiled_samples < r->self_samples ? r->compiled_samples : r->self_samples;
  uint64_t speedup = r->tier == KILN__TIER__TIER_HOT ? 4 : r->tier == KILN__TIER__TIER_WARM ? 3 : 1;
  return r->self_samples - compiled + compiled * speedup;
}

/* The agent's entry for a module, made (and moved to the front) on use. */
static AgentModule *agent_module(Broker *b, const uint8_t *id, size_t idlen, const uint8_t *hash) {
  AgentModule **p = &b->adapted, *last_kept = NULL;
  size_t n = 0;
  for (; *p; p = &(*p)->next, n++) {
    AgentModule *a = *p;
    if (a->client_len == idlen && memcmp(a->client, id, idlen) == 0 &&
        memcmp(a->hash, hash, 32) == 0) {
      *p = a->next;
      a->next = b->adapted;
      b->adapted = a;
      return a;
    }
    last_kept = a;
  }
  if (n >= ADAPT_MAX_AGENT_MODULES && last_kept) {
    /* The least recently heard of goes: its agent starts over, without
     * hysteresis for one round. */
    AgentModule **q = &b->adapted;
    while ((*q)->next)
      q = &(*q)->next;
    agent_module_free(*q);
    *q = NULL;
  }
  AgentModule *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  memcpy(a->client, id, idlen);
  a->client_len = idlen;
  const Agent *ag = agent_of(b, id, idlen);
  a->agent = ag ? ag->id : 0;
  memcpy(a->hash, hash, 32);
  a->next = b->adapted;
  b->adapted = a;
  return a;
}

void adapt_free(Broker *b) {
  for (AgentModule *a = b->adapted, *next; a; a = next) {
    next = a->next;
    agent_module_free(a);
  }
  b->adapted = NULL;
  for (Agent *a = b->seen, *next; a; a = next) {
    next = a->next;
    free(a);
  }
  b->seen = NULL;
}

/* The heat map's functions, for the engine. False: a region names a
 * function the module does not define. A start's (not live) time is the
 * last run's as it came (measured: weighting compiled time as a live
 * partition does left more of a later SQLite run interpreted, 3.8 to 5.0 s
 * against 2.8 to 3.6). */
static bool heat_funcs(const WasmModule *m, const Kiln__HeatMap *hm, bool live, PartFunc *out,
                       size_t *n, char *err, size_t errlen) {
  *n = 0;
  for (size_t i = 0; i < hm->n_regions; i++) {
    const Kiln__Region *r = hm->regions[i];
    uint32_t x = r->function_index;
    if (x < m->nfunc_imports || x >= m->nfuncs) {
      snprintf(err, errlen, "heat map names function %u, which the module does not define", x);
      return false;
    }
    if (r->is_loop)
      continue; /* a function's self time includes its loops' */
    for (size_t k = 0; k < *n; k++)
      if (out[k].func == x) {
        snprintf(err, errlen, "heat map names function %u twice", x);
        return false;
      }
    out[(*n)++] = (PartFunc){
        .func = x,
        .calls = r->count,
        .self_samples = live ? interpreter_equivalent(r) : r->self_samples,
        .now_samples = r->self_samples,
        .code_bytes = (uint32_t)m->funcs[x].body_len,
        .current = part_tier(r->tier),
    };
  }
  return true;
}

static int by_func(const void *a, const void *b) {
  uint32_t x = ((const PartFunc *)a)->func, y = ((const PartFunc *)b)->func;
  return x < y ? -1 : x > y;
}

/* The tier the agent runs func in now (funcs sorted by function). */
static PartTier current_tier(const PartFunc *funcs, size_t n, uint32_t func) {
  PartFunc key = {.func = func};
  const PartFunc *f = bsearch(&key, funcs, n, sizeof *funcs, by_func);
  return f ? f->current : PART_COLD;
}

/* Starts the job's compile unless its package is known: no one waits on it
 * yet (the agent's CompileRequest joins it). */
static PackageProfile job_profile(const Kiln__PartitionJob *job) {
  return (PackageProfile){job->hints,         job->n_hints,      job->without_osr,
                          job->n_without_osr, job->branch_hints, job->n_branch_hints,
                          job->osr_body,      job->n_osr_body};
}

/* Whether job's package is in the store, its key in key. */
static bool job_compiled(Broker *b, const WasmModule *m, const Kiln__PartitionJob *job,
                         uint8_t key[32]) {
  PackageProfile profile = job_profile(job);
  store_package_key(m->hash, job->functions, job->n_functions, job->tier, &profile, key);
  Kiln__PackageReady *pkg = store_find_package(b->store, key);
  if (pkg)
    kiln__package_ready__free_unpacked(pkg, NULL);
  return pkg != NULL;
}

static void prefetch(Broker *b, const WasmModule *m, const Kiln__PartitionJob *job) {
  uint8_t key[32];
  if (job_compiled(b, m, job, key))
    return;
  PackageProfile profile = job_profile(job);
  pool_submit(b, m, key, job->functions, job->n_functions, job->tier, &profile, NULL, 0, 0);
}

/* A deep copy of a message, owned by protobuf-c's allocator: the request
 * it came in is freed once answered. NULL when out of memory. */
static Kiln__HeatMap *copy_heat_map(const Kiln__HeatMap *hm) {
  size_t len = kiln__heat_map__get_packed_size(hm);
  uint8_t *buf = malloc(len + 1);
  Kiln__HeatMap *copy =
      buf ? kiln__heat_map__unpack(NULL, kiln__heat_map__pack(hm, buf), buf) : NULL;
  free(buf);
  return copy;
}

static Kiln__Partition *copy_partition(const Kiln__Partition *p) {
  size_t len = kiln__partition__get_packed_size(p);
  uint8_t *buf = malloc(len + 1);
  Kiln__Partition *copy =
      buf ? kiln__partition__unpack(NULL, kiln__partition__pack(p, buf), buf) : NULL;
  free(buf);
  return copy;
}

/* Calls a call_indirect site must have made for its dominant target to
 * be worth a guarded direct call. */
#define HINT_MIN_CALLS 64

static bool member(const uint32_t *set, size_t n, uint32_t x) {
  for (size_t i = 0; i < n; i++) /* sets are small; they are sorted, but few are searched */
    if (set[i] == x)
      return true;
  return false;
}

/* Sorts the n pointers at ptrs by cmp and drops repeats (a heat map from
 * an agent is not trusted to name each site once); returns how many stay. */
static size_t sort_unique(void *ptrs, size_t n, int (*cmp)(const void *, const void *)) {
  char *p = ptrs;
  const size_t w = sizeof(void *);
  if (n)
    qsort(p, n, w, cmp);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || cmp(p + (u - 1) * w, p + i * w) != 0)
      memmove(p + u++ * w, p + i * w, w);
  return u;
}

/* The profile hints of a hot job: each call_indirect site of its functions
 * whose calls go mostly (the agent's vote: a margin over half its calls)
 * to a function of the same job. Written at out (room for every edge),
 * sorted by caller and site; returns how many. */
static size_t job_hints(const Kiln__HeatMap *hm, const Kiln__PartitionJob *job,
                        Kiln__CallHint *store, Kiln__CallHint **out) {
  size_t k = 0;
  for (size_t i = 0; i < hm->n_edges; i++) {
    const Kiln__CallEdge *e = hm->edges[i];
    if (!e->indirect || e->count < HINT_MIN_CALLS || 2 * (uint64_t)e->votes <= e->count ||
        !member(job->functions, job->n_functions, e->caller) ||
        !member(job->functions, job->n_functions, e->callee))
      continue;
    kiln__call_hint__init(&store[k]);
    store[k].caller = e->caller;
    store[k].site = e->site;
    store[k].callee = e->callee;
    out[k] = &store[k];
    k++;
  }
  return sort_unique(out, k, store_hint_order);
}

/* A branch is hinted when it went one way at least BRANCH_BIAS of the
 * time over at least BRANCH_MIN_RUNS runs. */
#define BRANCH_MIN_RUNS 1000
#define BRANCH_BIAS 0.9

static int by_branch(const void *a, const void *b) {
  const Kiln__BranchHint *x = *(Kiln__BranchHint *const *)a, *y = *(Kiln__BranchHint *const *)b;
  if (x->function_index != y->function_index)
    return x->function_index < y->function_index ? -1 : 1;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

/* The branch hints of a hot job: its functions' br_if and if that nearly
 * always go one way. Written at out (room for every branch of the heat
 * map), sorted by function and offset, one per branch; returns how many. */
static size_t job_branch_hints(const Kiln__HeatMap *hm, const Kiln__PartitionJob *job,
                               Kiln__BranchHint *store, Kiln__BranchHint **out) {
  size_t k = 0;
  for (size_t i = 0; i < hm->n_branches; i++) {
    const Kiln__BranchBias *b = hm->branches[i];
    uint64_t runs = b->true_count + b->false_count;
    uint64_t usual = b->true_count > b->false_count ? b->true_count : b->false_count;
    if (runs < BRANCH_MIN_RUNS || (double)usual < BRANCH_BIAS * (double)runs ||
        !member(job->functions, job->n_functions, b->function_index))
      continue;
    kiln__branch_hint__init(&store[k]);
    store[k].function_index = b->function_index;
    store[k].offset = b->offset;
    store[k].likely = b->true_count > b->false_count;
    out[k] = &store[k];
    k++;
  }
  return sort_unique(out, k, by_branch);
}

/* What a function's activations are like decides its entries. Short ones
 * (called at least OSR_MIN_CALLS times, its loops iterating under
 * OSR_LONG_ITERATIONS times a call) need no OSR entry: the next call
 * switches to the new code. Long ones of a function entered rarely (fewer
 * calls, more iterations a call: a main) are taken over by the OSR entry
 * while they run, and in a running program that entry is the one body
 * the function needs. */
#define OSR_MIN_CALLS 64
#define OSR_LONG_ITERATIONS 100000

typedef enum { ACTIVATIONS_OTHER, ACTIVATIONS_SHORT, ACTIVATIONS_LONG_AND_RARE } Activations;

static Activations activations(const Kiln__HeatMap *hm, uint32_t func) {
  uint64_t calls = 0, iterations = 0;
  bool loops = false;
  for (size_t i = 0; i < hm->n_regions; i++) {
    const Kiln__Region *r = hm->regions[i];
    if (r->function_index != func)
      continue;
    if (r->is_loop)
      loops = true, iterations += r->count;
    else
      calls = r->count;
  }
  if (!loops)
    return ACTIVATIONS_OTHER;
  uint64_t per_call = iterations / (calls ? calls : 1); /* its loops ran: it was entered */
  if (calls >= OSR_MIN_CALLS && per_call < OSR_LONG_ITERATIONS)
    return ACTIVATIONS_SHORT;
  if (calls < OSR_MIN_CALLS && per_call >= OSR_LONG_ITERATIONS)
    return ACTIVATIONS_LONG_AND_RARE;
  return ACTIVATIONS_OTHER;
}

/* Runs the engine on hm with cfg (prev: the partition the agent has, for
 * hysteresis; live: hm is of a running program, not a start). *part is the
 * engine's result, *out the Partition message (free with
 * kiln__partition__free_unpacked). False with a line in err. */
static bool compute(const WasmModule *m, const Kiln__HeatMap *hm, const PartConfig *cfg,
                    const Partition *prev, const PartCost *cost, bool live, Partition *part,
                    Kiln__Partition **out, char *err, size_t errlen) {
  *out = NULL;
  memset(part, 0, sizeof *part);
  PartFunc *funcs = calloc(hm->n_regions + 1, sizeof *funcs);
  if (!funcs) {
    snprintf(err, errlen, "out of memory");
    return false;
  }
  size_t n;
  if (!heat_funcs(m, hm, live, funcs, &n, err, errlen)) {
    free(funcs);
    return false;
  }
  qsort(funcs, n, sizeof *funcs, by_func);
  /* A start's previous partition is the tiers the last run ended with, so
   * that hysteresis keeps a function near a threshold where it was: else
   * one start leaves it out, the run after puts it back, and so on, each
   * change a new package to compile. The run itself begins interpreted. */
  Partition ran = {0};
  PartEdge *edges = calloc(hm->n_edges + 1, sizeof *edges);
  if (!edges || (!live && !(ran.funcs = calloc(n + 1, sizeof *ran.funcs)))) {
    free(funcs);
    free(edges);
    snprintf(err, errlen, "out of memory");
    return false;
  }
  for (size_t i = 0; !live && i < n; i++) {
    ran.funcs[ran.nfuncs++] = (PartDecision){.func = funcs[i].func, .tier = funcs[i].current};
    funcs[i].current = PART_COLD;
  }
  if (!live)
    prev = &ran;
  /* Edges as they come: the engine ignores ends it does not know. */
  for (size_t i = 0; i < hm->n_edges; i++)
    edges[i] = (PartEdge){hm->edges[i]->caller, hm->edges[i]->callee, hm->edges[i]->count};
  PartHeatMap in = {.funcs = funcs, .nfuncs = n, .edges = edges, .nedges = hm->n_edges};
  bool computed = part_compute(&in, cfg, prev, cost, part);
  free(edges);
  part_free(&ran);
  if (!computed) {
    free(funcs);
    snprintf(err, errlen, "the partitioning engine refused the heat map");
    return false;
  }

  /* The message: placements, then the jobs with their function sets. */
  Kiln__Placement *pl = calloc(part->nfuncs + 1, sizeof *pl);
  Kiln__Placement **plp = calloc(part->nfuncs + 1, sizeof *plp);
  char(*why)[96] = calloc(part->nfuncs + 1, sizeof *why);
  Kiln__PartitionJob *jobs = calloc(part->njobs + 1, sizeof *jobs);
  Kiln__PartitionJob **jobp = calloc(part->njobs + 1, sizeof *jobp);
  uint32_t *members = calloc(part->nfuncs + 1, sizeof *members);
  uint32_t *place = calloc(part->njobs + 1, sizeof *place); /* a job's index in the reply */
  /* Every hint is an edge of one hot job's caller: room for all edges. */
  Kiln__CallHint *hints = calloc(hm->n_edges + 1, sizeof *hints);
  Kiln__CallHint **hintp = calloc(hm->n_edges + 1, sizeof *hintp);
  size_t nhints = 0;
  /* without_osr and osr_body, job after job */
  uint32_t *plain = calloc(2 * part->nfuncs + 1, sizeof *plain);
  size_t nplain = 0;
  Kiln__BranchHint *branches = calloc(hm->n_branches + 1, sizeof *branches);
  Kiln__BranchHint **branchp = calloc(hm->n_branches + 1, sizeof *branchp);
  size_t nbranches = 0;
  size_t njobs = 0;
  if (pl && plp && why && jobs && jobp && members && place && hints && hintp && plain && branches &&
      branchp) {
    size_t at = 0;
    for (uint32_t j = 0; j < part->njobs; j++) {
      kiln__partition_job__init(&jobs[j]);
      jobs[j].tier = proto_tier(part->jobs[j].tier);
      jobs[j].estimated_s = part->jobs[j].est_s;
      jobs[j].functions = members + at;
      /* part->funcs is sorted by function, so each job's set comes out
       * sorted. Only functions whose tier changes are compiled: the rest
       * has its code already. */
      for (size_t i = 0; i < part->nfuncs; i++)
        if (part->funcs[i].job == j &&
            current_tier(funcs, n, part->funcs[i].func) != part->jobs[j].tier)
          members[at++] = part->funcs[i].func;
      jobs[j].n_functions = (size_t)(members + at - jobs[j].functions);
      jobs[j].without_osr = plain + nplain;
      for (size_t i = 0; i < jobs[j].n_functions; i++)
        if (activations(hm, jobs[j].functions[i]) == ACTIVATIONS_SHORT)
          plain[nplain + jobs[j].n_without_osr++] = jobs[j].functions[i];
      nplain += jobs[j].n_without_osr;
      /* A start partition's functions are entered by calls: both bodies. */
      jobs[j].osr_body = plain + nplain;
      for (size_t i = 0; live && i < jobs[j].n_functions; i++)
        if (activations(hm, jobs[j].functions[i]) == ACTIVATIONS_LONG_AND_RARE)
          plain[nplain + jobs[j].n_osr_body++] = jobs[j].functions[i];
      nplain += jobs[j].n_osr_body;
      if (jobs[j].tier == KILN__TIER__TIER_HOT) {
        jobs[j].hints = hintp + nhints;
        jobs[j].n_hints = job_hints(hm, &jobs[j], hints + nhints, hintp + nhints);
        nhints += jobs[j].n_hints;
        jobs[j].branch_hints = branchp + nbranches;
        jobs[j].n_branch_hints =
            job_branch_hints(hm, &jobs[j], branches + nbranches, branchp + nbranches);
        nbranches += jobs[j].n_branch_hints;
      }
      place[j] = (uint32_t)njobs;
      if (jobs[j].n_functions)
        jobp[njobs++] = &jobs[j];
    }
    for (size_t i = 0; i < part->nfuncs; i++) {
      const PartDecision *d = &part->funcs[i];
      kiln__placement__init(&pl[i]);
      pl[i].function_index = d->func;
      pl[i].tier = proto_tier(d->tier);
      part_describe(d, cfg, why[i], sizeof why[i]);
      pl[i].reason = why[i];
      pl[i].job = d->job == PART_NO_JOB ? 0 : place[d->job];
      plp[i] = &pl[i];
    }
    Kiln__Partition msg = KILN__PARTITION__INIT;
    msg.module_hash = hm->module_hash;
    msg.policy = (char *)part_policy_name(cfg->policy);
    msg.hot = cfg->hot;
    msg.warm = cfg->warm;
    msg.n_placements = part->nfuncs;
    msg.placements = plp;
    msg.n_jobs = njobs;
    msg.jobs = jobp;
    *out = copy_partition(&msg);
  }
  free(funcs);
  free(pl);
  free(plp);
  free(why);
  free(jobs);
  free(jobp);
  free(members);
  free(place);
  free(hints);
  free(hintp);
  free(plain);
  free(branches);
  free(branchp);
  if (!*out) {
    part_free(part);
    snprintf(err, errlen, "out of memory");
    return false;
  }
  return true;
}

/* One log line per partition: what the operator's settings made of it. */
static void log_partition(const WasmModule *m, uint32_t agent, const Kiln__HeatMap *hm,
                          const Kiln__Partition *p, const char *what) {
  size_t count[4] = {0};
  for (size_t i = 0; i < p->n_placements; i++)
    count[p->placements[i]->tier & 3]++;
  char hex[65];
  kiln_hex(m->hash, 32, hex);
  kd_log("%s of %.16s for agent %u from %llu samples (%s, hot %.0f%%, warm %.0f%%): %zu hot, "
         "%zu warm, %zu cold, %zu jobs",
         what, hex, agent, (unsigned long long)hm->samples, p->policy, p->hot * 100, p->warm * 100,
         count[KILN__TIER__TIER_HOT], count[KILN__TIER__TIER_WARM],
         p->n_placements - count[KILN__TIER__TIER_HOT] - count[KILN__TIER__TIER_WARM], p->n_jobs);
}

/* A start partition's settings: a function of the kept heat map alone
 * (the tiers its run ended with are in it; no calibration), so that the
 * one kilnd compiles when a run ends is the one the next run asks for,
 * and finds cached. And it reaches further: a whole run's heat map names
 * what a run needs, and compiling it costs the next run nothing (it is
 * done as this one ends); what stays cold costs that run twenty times its
 * native time. */
static void start_settings(const PartConfig *cfg, PartConfig *start_cfg, PartCost *start_cost) {
  part_cost_default(start_cost);
  *start_cfg = *cfg;
  /* What the last run ended with compiled stays so by hysteresis only: a
   * function that ran at all would keep it for good, the start partition
   * would grow with every run, and each new one is a new hot package, 18 s
   * of gcc for SQLite's. */
  start_cfg->keep_running = false;
  if (start_cfg->policy != PART_POLICY_COVERAGE)
    return;
  /* Hot too: a function a run spends 5% in and that stays warm, called
   * from hot code and calling it, cost a later twophase a fifth. */
  if (start_cfg->hot < START_HOT_COVERAGE)
    start_cfg->hot = START_HOT_COVERAGE;
  if (start_cfg->warm < START_WARM_COVERAGE)
    start_cfg->warm = START_WARM_COVERAGE;
}

/* Runs the engine on hm for agent module a, with a start partition's
 * settings or the agent's (and its previous partition). */
static bool partition_of(Broker *b, const WasmModule *m, const Kiln__HeatMap *hm,
                         const AgentModule *a, bool start, Partition *part, Kiln__Partition **reply,
                         char *err, size_t errlen) {
  const PartConfig *cfg = adapt_config(b, agent_by_id(b, a->agent));
  PartConfig start_cfg;
  PartCost start_cost;
  start_settings(cfg, &start_cfg, &start_cost);
  if (start)
    return compute(m, hm, &start_cfg, NULL, &start_cost, false, part, reply, err, errlen);
  return compute(m, hm, cfg, &a->prev, &b->part_cost, true, part, reply, err, errlen);
}

/* An agent starts with everything interpreted, whatever the last run ended
 * with. */
static void start_from(Kiln__HeatMap *hm) {
  for (size_t i = 0; i < hm->n_regions; i++) {
    hm->regions[i]->tier = KILN__TIER__TIER_COLD;
    hm->regions[i]->compiled_samples = 0;
  }
}

/* Answers with part (reply its message, both taken over), starts its
 * jobs, and keeps it and hm as the agent's (start: hm is the kept one the
 * agent starts from). */
static void send_partition(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                           const WasmModule *m, const Kiln__HeatMap *hm, AgentModule *a, bool start,
                           Partition part, Kiln__Partition *reply) {
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = rid;
  env.body_case = KILN__ENVELOPE__BODY_PARTITION;
  env.partition = reply;
  broker_send(b, id, idlen, &env);
  for (size_t k = 0; k < reply->n_jobs; k++)
    prefetch(b, m, reply->jobs[k]);
  log_partition(m, a->agent, hm, reply, "partition");
  feed_partition(b, a->agent, reply, false, false);
  if (a->sent)
    kiln__partition__free_unpacked(a->sent, NULL);
  a->sent = reply;
  a->sent_by_control = false;
  part_free(&a->prev);
  a->prev = part;
  /* Kept for a Control's new partition (a start's empty one is no use). */
  Kiln__HeatMap *copy = hm->n_regions ? copy_heat_map(hm) : NULL;
  if (copy && start)
    start_from(copy);
  if (copy) {
    if (a->hm)
      kiln__heat_map__free_unpacked(a->hm, NULL);
    a->hm = copy;
  }
}

/* Runs the engine on hm, a running program's, for agent module a and
 * answers with the partition. */
static void partition_reply(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                            const WasmModule *m, const Kiln__HeatMap *hm, AgentModule *a) {
  Partition part;
  Kiln__Partition *reply;
  char err[256];
  if (!partition_of(b, m, hm, a, false, &part, &reply, err, sizeof err)) {
    kd_log("refused a heat map: %s", err);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "%s", err);
    return;
  }
  send_partition(b, id, idlen, rid, m, hm, a, false, part, reply);
}

/* A start partition: the kept heat map it comes from (NULL: none, so
 * nothing compiled) and the engine's answer. */
typedef struct {
  Kiln__HeatMap *hm;
  Partition part;
  Kiln__Partition *reply;
} Start;

typedef enum { START_COMPILED, START_COMPILING, START_MISSING } StartState;

/* A heat map of m with nothing in it: a start partition compiles nothing. */
static Kiln__HeatMap empty_heat_map(const WasmModule *m) {
  Kiln__HeatMap none = KILN__HEAT_MAP__INIT;
  none.module_hash.data = (uint8_t *)m->hash;
  none.module_hash.len = 32;
  return none;
}

static void start_free(Start *s) {
  if (s->hm)
    kiln__heat_map__free_unpacked(s->hm, NULL);
  if (s->reply) {
    part_free(&s->part);
    kiln__partition__free_unpacked(s->reply, NULL);
  }
  memset(s, 0, sizeof *s);
}

/* hm's start partition for a, taking hm (NULL: the empty heat map). False
 * with the line in err when the engine refuses it. */
static bool start_of(Broker *b, const WasmModule *m, AgentModule *a, Kiln__HeatMap *hm, Start *s,
                     char *err, size_t errlen) {
  Kiln__HeatMap none = empty_heat_map(m);
  memset(s, 0, sizeof *s);
  s->hm = hm;
  if (partition_of(b, m, hm ? hm : &none, a, true, &s->part, &s->reply, err, errlen))
    return true;
  s->reply = NULL;
  start_free(s);
  return false;
}

/* Whether all of p's packages are compiled, some still compiling, or one
 * neither (never asked for, failed, or evicted). */
static StartState start_state(Broker *b, const WasmModule *m, const Kiln__Partition *p) {
  StartState st = START_COMPILED;
  uint8_t key[32];
  for (size_t k = 0; k < p->n_jobs; k++)
    if (!job_compiled(b, m, p->jobs[k], key)) {
      if (!pool_has(b, key))
        return START_MISSING;
      st = START_COMPILING;
    }
  return st;
}

/* Answers with s (taken) as a start partition. */
static void start_send(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                       const WasmModule *m, AgentModule *a, Start *s) {
  Kiln__HeatMap none = empty_heat_map(m);
  send_partition(b, id, idlen, rid, m, s->hm ? s->hm : &none, a, true, s->part, s->reply);
  s->reply = NULL; /* part and reply are send_partition's now */
  start_free(s);
}

/* The pending start partition (compiling for the runs to come) becomes the
 * ready one once all compiled, and is forgotten when one of its packages
 * will not come. Whether it still compiles; if so, it is in *s. */
static bool pending_compiles(Broker *b, const WasmModule *m, AgentModule *a, Start *s) {
  Kiln__HeatMap *hm = kept_read(b, m->hash, KEPT_PENDING);
  char err[256];
  if (!hm)
    return false;
  StartState st =
      start_of(b, m, a, hm, s, err, sizeof err) ? start_state(b, m, s->reply) : START_MISSING;
  if (st == START_COMPILING)
    return true;
  if (st == START_COMPILED)
    kept_write(b, s->hm, KEPT_READY);
  kept_remove(b, m->hash, KEPT_PENDING);
  start_free(s);
  return false;
}

/* The ready start partition, if it is all compiled; else, when pending
 * holds one still compiling, that one (taken), whose packages come first. */
static bool ready_start(Broker *b, const WasmModule *m, AgentModule *a, Start *pending, Start *s) {
  char err[256];
  Kiln__HeatMap *hm = kept_read(b, m->hash, KEPT_READY);
  if (hm && start_of(b, m, a, hm, s, err, sizeof err)) {
    if (start_state(b, m, s->reply) == START_COMPILED)
      return true;
    start_free(s);
  }
  if (!pending->reply)
    return false;
  *s = *pending;
  memset(pending, 0, sizeof *pending);
  return true;
}

/* What part would save of its heat map's run against other, as a share of
 * that run's self time: all the time of a function other leaves
 * interpreted (20 times slower than compiled) and part compiles, a quarter
 * of one other has warm and part hot (-O1 against -O3 on the samples). */
static double saved_over(const Partition *part, const Partition *other) {
  double saved = 0;
  for (size_t i = 0; i < part->nfuncs; i++) {
    const PartDecision *f = &part->funcs[i];
    PartTier was = part_tier_of(other, f->func);
    if (was < f->tier)
      saved += was == PART_COLD ? f->share : f->share / 4;
  }
  return saved;
}

/* Answers a run's final heat map, hm (taken; what the run could not see
 * kept from the runs before), with the next run's start partition, and
 * starts its compile, as nothing waits for it. Unless that would churn
 * (SQLite's start partitions change from run to run in a tail of small
 * functions, each change a new hot package, 15 s of gcc on both cores
 * while the next runs go on): while one start partition compiles no other
 * starts (runs back to back, each shorter than that compile, would each
 * queue one), and the ready one stays while a new one would save less
 * than --start-saving of the last run; the answer is then the ready one. */
static void start_reply(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                        const WasmModule *m, AgentModule *a, Kiln__HeatMap *hm) {
  double enough = (double)b->cfg->start_saving / 100;
  Start next, ready, pending = {0};
  bool compiling = enough > 0 && pending_compiles(b, m, a, &pending);
  char err[256], hex[65];
  kiln_hex(m->hash, 32, hex);
  if (!start_of(b, m, a, hm, &next, err, sizeof err)) {
    kd_log("refused a heat map: %s", err);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "%s", err);
    start_free(&pending);
    return;
  }
  if (start_state(b, m, next.reply) == START_COMPILED) {
    start_free(&pending);
    start_send(b, id, idlen, rid, m, a, &next);
    return;
  }
  bool have_ready = enough > 0 && ready_start(b, m, a, &pending, &ready);
  start_free(&pending);
  if (have_ready) {
    double saved = saved_over(&next.part, &ready.part);
    if (compiling || saved < enough) {
      if (compiling)
        kd_log("start partition of %.16s: the last new one still compiles; no other starts", hex);
      else
        kd_log("start partition of %.16s: a new one would save about %.1f%% of the last run; "
               "the ready one stays",
               hex, 100 * saved);
      start_free(&next);
      start_send(b, id, idlen, rid, m, a, &ready);
      return;
    }
    kd_log("start partition of %.16s: a new one would save about %.1f%% of the last run; "
           "compiling it",
           hex, 100 * saved);
    start_free(&ready);
  }
  if (enough > 0 && !compiling)
    kept_write(b, next.hm, KEPT_PENDING);
  start_send(b, id, idlen, rid, m, a, &next);
}

/* The stored module a request names and the asking agent's record of it;
 * false once the agent has been answered with why not (`what` names the
 * request: "heat map", "partition"). */
static bool module_of_request(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                              const ProtobufCBinaryData *hash, const char *what,
                              const WasmModule **m, AgentModule **a) {
  *m = store_find_module(b->store, hash->data, hash->len);
  if (!*m) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "%s of a module kilnd does not have (send HaveModule first)", what);
    return false;
  }
  *a = agent_module(b, id, idlen, (*m)->hash);
  if (!*a) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    return false;
  }
  return true;
}

void adapt_on_heat_map(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  const Kiln__HeatMap *hm = req->heat_map;
  uint64_t rid = req->request_id;
  const WasmModule *m;
  AgentModule *a;
  if (!module_of_request(b, id, idlen, rid, &hm->module_hash, "heat map", &m, &a))
    return;
  Agent *ag = agent_by_id(b, a->agent);
  if (ag) {
    ag->uptime_ms = hm->uptime_ms;
    memcpy(ag->hash, m->hash, 32);
    ag->has_hash = true;
  }
  feed_heat_map(b, a->agent, m, hm, false);
  if (hm->final && ag)
    ag->leaving = true;
  if (hm->interim) {
    /* The agent waits for its packages: this one is for the feed. */
    char hex[65];
    kiln_hex(m->hash, 32, hex);
    kd_log("interim heat map of %.16s from agent %u, %llu samples (it waits for packages)", hex,
           a->agent, (unsigned long long)hm->samples);
  } else if (hm->final) {
    /* The run is over: with what it could not see kept from the runs
     * before (kept.c), its heat map is what the next run starts from, and
     * the answer that run's start partition, compiled now, while nothing
     * waits for it. */
    Kiln__HeatMap *start = copy_heat_map(hm);
    Kiln__HeatMap *before = start ? kept_read(b, m->hash, KEPT_LAST) : NULL;
    if (before) {
      kept_carry_unseen(start, before, m->nfuncs);
      kiln__heat_map__free_unpacked(before, NULL);
    }
    if (start) {
      kept_write(b, start, KEPT_LAST);
      start_reply(b, id, idlen, rid, m, a, start);
    }
  } else {
    partition_reply(b, id, idlen, rid, m, hm, a);
  }
  /* One of a run's periodic heat maps (recent time only) stands in while
   * there is no final one, for a first run that never ends cleanly. */
  if (!hm->final && !kept_exists(b, m->hash))
    kept_write(b, hm, KEPT_LAST);
}

void adapt_on_partition_request(Broker *b, const uint8_t *id, size_t idlen,
                                const Kiln__Envelope *req) {
  uint64_t rid = req->request_id;
  const WasmModule *m;
  AgentModule *a;
  if (!module_of_request(b, id, idlen, rid, &req->partition_request->module_hash, "partition", &m,
                         &a))
    return;
  Start s, ready;
  char err[256], hex[65];
  kiln_hex(m->hash, 32, hex);
  if (!start_of(b, m, a, kept_read(b, m->hash, KEPT_LAST), &s, err, sizeof err)) {
    kd_log("refused a heat map: %s", err);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "%s", err);
    return;
  }
  /* A run that starts while its start partition still compiles (runs back
   * to back) would wait for it, interpreted: it starts from the last start
   * partition that was all compiled instead. */
  if (s.hm && start_state(b, m, s.reply) == START_COMPILED) {
    kept_write(b, s.hm, KEPT_READY);
  } else if (s.hm) {
    Start pending = {0};
    pending_compiles(b, m, a, &pending);
    bool have_ready = ready_start(b, m, a, &pending, &ready);
    start_free(&pending);
    if (have_ready) {
      kd_log("the start partition of %.16s's last heat map is not compiled: starting from the "
             "last one that is (or the one compiling)",
             hex);
      start_free(&s);
      s = ready;
    }
  }
  if (s.hm)
    kd_log("started %.16s from its last heat map (%zu regions)", hex, s.hm->n_regions);
  start_send(b, id, idlen, rid, m, a, &s);
}

/* --- Control ---------------------------------------------------------------- */

/* The settings c asks for, from base. False with the reason in err. */
static bool new_settings(const Kiln__Control *c, const PartConfig *base, PartConfig *out, char *err,
                         size_t n) {
  *out = *base;
  PartPolicy policy = base->policy;
  if (!c->policy[0] && !c->hot_percent && !c->warm_percent) {
    snprintf(err, n, "nothing to change: give a policy, hot or warm");
    return false;
  }
  if (c->policy[0] && !part_policy_parse(c->policy, &policy)) {
    char name[65];
    snprintf(name, sizeof name, "%s", c->policy);
    for (char *p = name; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = '?';
    snprintf(err, n, "unknown policy '%s' (expected coverage or share)", name);
    return false;
  }
  if (c->hot_percent > 100 || c->warm_percent > 100) {
    snprintf(err, n, "%s must be from 1 to 100 percent, not %u",
             c->hot_percent > 100 ? "hot" : "warm",
             c->hot_percent > 100 ? c->hot_percent : c->warm_percent);
    return false;
  }
  if (policy != base->policy) {
    /* Another policy's thresholds mean something else: those not given
     * are the new policy's defaults, not the old policy's values. */
    part_config_default(out, policy);
    out->job_limit_s = base->job_limit_s;
  }
  if (c->hot_percent)
    out->hot = c->hot_percent / 100.0;
  if (c->warm_percent)
    out->warm = c->warm_percent / 100.0;
  return part_config_check(out, err, n) == 0;
}

/* The agents' partitions after a Control, from their last heat maps: on the
 * feed, and their jobs under way. Returns how many. */
static uint32_t repartition(Broker *b, uint32_t agent) {
  uint32_t n = 0;
  for (AgentModule *a = b->adapted; a; a = a->next) {
    Agent *ag = agent_by_id(b, a->agent);
    if (!a->hm || !ag || ag->gone || (agent && a->agent != agent))
      continue;
    const WasmModule *m = store_find_module(b->store, a->hash, 32);
    Partition part;
    Kiln__Partition *p;
    char err[256];
    if (!m || !compute(m, a->hm, adapt_config(b, ag), &a->prev, &b->part_cost, true, &part, &p, err,
                       sizeof err))
      continue;
    /* prev stays the partition the agent has: hysteresis is about what it
     * runs, and it has not seen this one yet. */
    part_free(&part);
    for (size_t k = 0; k < p->n_jobs; k++)
      prefetch(b, m, p->jobs[k]);
    log_partition(m, a->agent, a->hm, p, "new partition");
    feed_partition(b, a->agent, p, true, false);
    if (a->sent)
      kiln__partition__free_unpacked(a->sent, NULL);
    a->sent = p;
    a->sent_by_control = true;
    n++;
  }
  return n;
}

void adapt_on_control(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  const Kiln__Control *c = req->control;
  Kiln__ControlReply r = KILN__CONTROL_REPLY__INIT;
  char reason[256] = "";
  r.agent = c->agent;
  Agent *ag = c->agent ? agent_by_id(b, c->agent) : NULL;
  const PartConfig *now = adapt_config(b, ag);
  PartConfig next;
  if (c->agent && (!ag || ag->gone)) {
    snprintf(reason, sizeof reason, "no agent %u is connected (kiln status lists them)", c->agent);
    now = &b->part_cfg;
  } else if (new_settings(c, now, &next, reason, sizeof reason)) {
    r.ok = true;
    if (ag) {
      ag->cfg = next;
      ag->own_cfg = true;
    } else {
      b->part_cfg = next; /* every agent, and those to come */
      for (Agent *a = b->seen; a; a = a->next)
        a->own_cfg = false;
    }
    now = &next;
  }
  r.reason = reason;
  r.policy = (char *)part_policy_name(now->policy);
  r.hot = now->hot;
  r.warm = now->warm;
  if (r.ok) {
    char who[32];
    snprintf(who, sizeof who, ag ? "agent %u" : "every agent", c->agent);
    kd_log("control: %s now %s, hot %.0f%%, warm %.0f%%", who, r.policy, r.hot * 100, r.warm * 100);
    r.repartitioned = repartition(b, c->agent);
  } else {
    kd_log("control refused: %s", reason);
  }
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = req->request_id;
  env.body_case = KILN__ENVELOPE__BODY_CONTROL_REPLY;
  env.control_reply = &r;
  broker_send(b, id, idlen, &env);
  feed_control(b, c, &r);
}
