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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kilnd.h"

/* Agents' partitions remembered; the oldest is forgotten past this. */
#define ADAPT_MAX_AGENT_MODULES 256

struct AgentModule {
  uint8_t client[256];
  size_t client_len;
  uint8_t hash[32];
  Partition prev;
  struct AgentModule *next; /* most recently used first */
};

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
    part_free(&(*q)->prev);
    free(*q);
    *q = NULL;
  }
  AgentModule *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  memcpy(a->client, id, idlen);
  a->client_len = idlen;
  memcpy(a->hash, hash, 32);
  a->next = b->adapted;
  b->adapted = a;
  return a;
}

void adapt_free(Broker *b) {
  for (AgentModule *a = b->adapted, *next; a; a = next) {
    next = a->next;
    part_free(&a->prev);
    free(a);
  }
  b->adapted = NULL;
}

/* The heat map's functions, for the engine. False: a region names a
 * function the module does not define. */
static bool heat_funcs(const WasmModule *m, const Kiln__HeatMap *hm, PartFunc *out, size_t *n,
                       char *err, size_t errlen) {
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
        .self_samples = interpreter_equivalent(r),
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
static void prefetch(Broker *b, const WasmModule *m, const uint32_t *funcs, size_t n,
                     Kiln__Tier tier) {
  uint8_t key[32];
  store_package_key(m->hash, funcs, n, tier, NULL, 0, key);
  Kiln__PackageReady *pkg = store_find_package(b->store, key);
  if (pkg) {
    kiln__package_ready__free_unpacked(pkg, NULL);
    return;
  }
  pool_submit(b, m, key, funcs, n, tier, NULL, 0, 0);
}

/* Where the module's last heat map is kept: beside the packages. */
static bool heat_map_path(const Broker *b, const uint8_t hash[32], char *path, size_t n) {
  if (!b->cfg->cache)
    return false;
  char hex[65];
  kiln_hex(hash, 32, hex);
  return (size_t)snprintf(path, n, "%s/heat-%s.pb", b->cfg->cache, hex) < n;
}

/* Keeps hm as the module's last heat map (one write and a rename, so a
 * reader never sees half of one). A failure costs the next run its start. */
static void persist(const Broker *b, const Kiln__HeatMap *hm) {
  char path[4200], tmp[4300];
  if (hm->module_hash.len != 32 || !heat_map_path(b, hm->module_hash.data, path, sizeof path))
    return;
  size_t len = kiln__heat_map__get_packed_size(hm);
  uint8_t *buf = malloc(len + 1);
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  FILE *f = buf ? fopen(tmp, "we") : NULL;
  bool ok = f && fwrite(buf, 1, kiln__heat_map__pack(hm, buf), f) == len;
  if (f && fclose(f) != 0)
    ok = false;
  if (!ok || rename(tmp, path) != 0) {
    kd_log("cannot keep the heat map in %s: %s", path, strerror(errno));
    unlink(tmp);
  }
  free(buf);
}

/* The module's last heat map, or NULL. */
static Kiln__HeatMap *persisted(const Broker *b, const uint8_t hash[32]) {
  char path[4200];
  if (!heat_map_path(b, hash, path, sizeof path))
    return NULL;
  FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  uint8_t *buf = malloc((size_t)b->cfg->max_message);
  size_t len = buf ? fread(buf, 1, (size_t)b->cfg->max_message, f) : 0;
  fclose(f);
  Kiln__HeatMap *hm = len ? kiln__heat_map__unpack(NULL, len, buf) : NULL;
  free(buf);
  if (hm && (hm->module_hash.len != 32 || memcmp(hm->module_hash.data, hash, 32) != 0)) {
    kiln__heat_map__free_unpacked(hm, NULL);
    hm = NULL;
  }
  return hm;
}

static void partition_reply(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                            const WasmModule *m, const Kiln__HeatMap *hm, AgentModule *a);

void adapt_on_heat_map(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req) {
  const Kiln__HeatMap *hm = req->heat_map;
  uint64_t rid = req->request_id;
  const WasmModule *m = store_find_module(b->store, hm->module_hash.data, hm->module_hash.len);
  if (!m) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "heat map of a module kilnd does not have (send HaveModule first)");
    return;
  }
  AgentModule *a = agent_module(b, id, idlen, m->hash);
  if (!a) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    return;
  }
  partition_reply(b, id, idlen, rid, m, hm, a);
  persist(b, hm);
}

void adapt_on_partition_request(Broker *b, const uint8_t *id, size_t idlen,
                                const Kiln__Envelope *req) {
  const Kiln__PartitionRequest *pr = req->partition_request;
  uint64_t rid = req->request_id;
  const WasmModule *m = store_find_module(b->store, pr->module_hash.data, pr->module_hash.len);
  if (!m) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
                      "partition of a module kilnd does not have (send HaveModule first)");
    return;
  }
  Kiln__HeatMap *hm = persisted(b, m->hash);
  Kiln__HeatMap none = KILN__HEAT_MAP__INIT;
  none.module_hash = pr->module_hash;
  /* The agent starts with everything interpreted, whatever the last run
   * ended with: every function is to be compiled. */
  for (size_t i = 0; hm && i < hm->n_regions; i++) {
    hm->regions[i]->tier = KILN__TIER__TIER_COLD;
    hm->regions[i]->compiled_samples = 0;
  }
  AgentModule *a = agent_module(b, id, idlen, m->hash);
  if (a)
    partition_reply(b, id, idlen, rid, m, hm ? hm : &none, a);
  else
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
  if (hm) {
    char hex[65];
    kiln_hex(m->hash, 32, hex);
    kd_log("started %.16s from its last heat map (%zu regions)", hex, hm->n_regions);
    kiln__heat_map__free_unpacked(hm, NULL);
  }
}

/* Runs the engine on hm for agent a and answers with the partition. */
static void partition_reply(Broker *b, const uint8_t *id, size_t idlen, uint64_t rid,
                            const WasmModule *m, const Kiln__HeatMap *hm, AgentModule *a) {
  PartFunc *funcs = calloc(hm->n_regions + 1, sizeof *funcs);
  if (!funcs) {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    return;
  }
  char err[256];
  size_t n;
  if (!heat_funcs(m, hm, funcs, &n, err, sizeof err)) {
    free(funcs);
    kd_log("refused a heat map: %s", err);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "%s", err);
    return;
  }
  PartHeatMap in = {.funcs = funcs, .nfuncs = n};
  Partition part;
  if (!part_compute(&in, &b->part_cfg, &a->prev, &b->part_cost, &part)) {
    free(funcs);
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL,
                      "the partitioning engine refused the heat map");
    return;
  }
  qsort(funcs, n, sizeof *funcs, by_func);

  /* The reply: placements, then the jobs with their function sets. */
  Kiln__Placement *pl = calloc(part.nfuncs + 1, sizeof *pl);
  Kiln__Placement **plp = calloc(part.nfuncs + 1, sizeof *plp);
  char(*why)[96] = calloc(part.nfuncs + 1, sizeof *why);
  Kiln__PartitionJob *jobs = calloc(part.njobs + 1, sizeof *jobs);
  Kiln__PartitionJob **jobp = calloc(part.njobs + 1, sizeof *jobp);
  uint32_t *members = calloc(part.nfuncs + 1, sizeof *members);
  uint32_t *place = calloc(part.njobs + 1, sizeof *place); /* a job's index in the reply */
  size_t hot = 0, warm = 0, njobs = 0;
  if (pl && plp && why && jobs && jobp && members && place) {
    size_t at = 0;
    for (uint32_t j = 0; j < part.njobs; j++) {
      kiln__partition_job__init(&jobs[j]);
      jobs[j].tier = proto_tier(part.jobs[j].tier);
      jobs[j].estimated_s = part.jobs[j].est_s;
      jobs[j].functions = members + at;
      /* part.funcs is sorted by function, so each job's set comes out
       * sorted. Only functions whose tier changes are compiled: the rest
       * has its code already. */
      for (size_t i = 0; i < part.nfuncs; i++)
        if (part.funcs[i].job == j &&
            current_tier(funcs, n, part.funcs[i].func) != part.jobs[j].tier)
          members[at++] = part.funcs[i].func;
      jobs[j].n_functions = (size_t)(members + at - jobs[j].functions);
      place[j] = (uint32_t)njobs;
      if (jobs[j].n_functions)
        jobp[njobs++] = &jobs[j];
    }
    for (size_t i = 0; i < part.nfuncs; i++) {
      const PartDecision *d = &part.funcs[i];
      kiln__placement__init(&pl[i]);
      pl[i].function_index = d->func;
      pl[i].tier = proto_tier(d->tier);
      part_describe(d, &b->part_cfg, why[i], sizeof why[i]);
      pl[i].reason = why[i];
      pl[i].job = d->job == PART_NO_JOB ? 0 : place[d->job];
      plp[i] = &pl[i];
      hot += d->tier == PART_HOT;
      warm += d->tier == PART_WARM;
    }
    Kiln__Partition reply = KILN__PARTITION__INIT;
    reply.module_hash = hm->module_hash;
    reply.policy = b->part_cfg.policy == PART_POLICY_SHARE ? "share" : "coverage";
    reply.hot = b->part_cfg.hot;
    reply.warm = b->part_cfg.warm;
    reply.n_placements = part.nfuncs;
    reply.placements = plp;
    reply.n_jobs = njobs;
    reply.jobs = jobp;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    env.request_id = rid;
    env.body_case = KILN__ENVELOPE__BODY_PARTITION;
    env.partition = &reply;
    broker_send(b, id, idlen, &env);
    for (size_t k = 0; k < njobs; k++)
      prefetch(b, m, jobp[k]->functions, jobp[k]->n_functions, jobp[k]->tier);
    char hex[65];
    kiln_hex(m->hash, 32, hex);
    kd_log("partition of %.16s from %llu samples: %zu hot, %zu warm, %zu cold, %zu jobs", hex,
           (unsigned long long)hm->samples, hot, warm, part.nfuncs - hot - warm, njobs);
  } else {
    broker_send_error(b, id, idlen, rid, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
  }
  free(funcs);
  free(pl);
  free(plp);
  free(why);
  free(jobs);
  free(jobp);
  free(members);
  free(place);
  part_free(&a->prev);
  a->prev = part;
}
