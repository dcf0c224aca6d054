/*
 * heatmap.c: the monitor's counters of a module, as the heat map that
 * leaves the process (kiln.h): per function and per loop its counts, share
 * of self time, heat and tier.
 *
 * Shares are taken over the samples charged to the module, so that time
 * the script spends in the host (WASI calls count for their caller) or
 * another module does not thin every share out. Heat is relative to the
 * hottest function: the viewer and `kiln run --stats` show ranks, not
 * absolute time.
 */
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "monitor.h"
#include "runtime.h"

/* Longest function name kept, terminator included. */
#define NAME_MAX_BYTES 96
/* Edges kept, the busiest: enough for the inlining decisions of a large
 * program, small enough to send four times a second. */
#define MAX_EDGES 2048
/* Branches kept, the busiest: about a big program's hot set's. */
#define MAX_BRANCHES 4096

/* A function that ran, as one snapshot of its counters: the script may
 * be running (the tiering thread reads the map), and what decides the
 * map's order and size must not move while it is built. */
typedef struct {
  const FuncProfile *prof;
  uint32_t func;
  uint64_t calls, self;
} Ranked;

static int hotter_first(const void *a, const void *b) {
  const Ranked *x = a, *y = b;
  if (x->self != y->self)
    return x->self > y->self ? -1 : 1;
  if (x->calls != y->calls)
    return x->calls > y->calls ? -1 : 1;
  return x->func < y->func ? -1 : x->func > y->func;
}

static uint64_t load(const uint64_t *counter) {
  return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static int by_ends(const void *a, const void *b) {
  const kiln_edge *x = a, *y = b;
  if (x->caller != y->caller)
    return x->caller < y->caller ? -1 : 1;
  if (x->callee != y->callee)
    return x->callee < y->callee ? -1 : 1;
  if (x->indirect != y->indirect)
    return x->indirect - y->indirect;
  return x->site < y->site ? -1 : x->site > y->site;
}

static int busiest_first(const void *a, const void *b) {
  const kiln_edge *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return by_ends(a, b);
}

/* The calls of function x's sites to functions that ran (ran[] by defined
 * index), appended at e; returns how many (at most SITE_TARGETS a site).
 * An indirect site is an edge of its own per callee: its busiest with all
 * the site's calls and, as votes, the margin of its calls over the others'
 * (votes over half the calls: it takes more than three in four); each other
 * callee with its own calls and no votes. */
static size_t site_edges(const Module *m, uint32_t x, const bool *ran, kiln_edge *e) {
  const WasmModule *w = m->wasm;
  const FuncProfile *p = &m->prof[x - w->nfunc_imports];
  const InterpCode *code = m->code[x - w->nfunc_imports];
  size_t n = 0;
  for (uint32_t s = 0; s < p->nsites; s++) {
    const CallSiteProfile *site = &p->sites[s];
    uint64_t calls = load(&site->calls);
    if (!calls)
      continue;
    if (code->sites[s].callee != INTERP_INDIRECT) {
      uint32_t callee = code->sites[s].callee;
      if (callee >= w->nfunc_imports && callee < w->nfuncs && ran[callee - w->nfunc_imports])
        e[n++] = (kiln_edge){.caller = x, .callee = callee, .count = calls};
      continue;
    }
    uint32_t targets[SITE_TARGETS];
    uint64_t counts[SITE_TARGETS];
    int busiest = 0;
    for (int k = 0; k < SITE_TARGETS; k++) {
      targets[k] = __atomic_load_n(&site->targets[k], __ATOMIC_RELAXED);
      counts[k] = load(&site->target_calls[k]);
      if (counts[k] > counts[busiest])
        busiest = k;
    }
    for (int k = 0; k < SITE_TARGETS; k++) {
      uint32_t callee = targets[k];
      if (!counts[k] || callee < w->nfunc_imports || callee >= w->nfuncs ||
          !ran[callee - w->nfunc_imports])
        continue;
      uint64_t margin = k == busiest && 2 * counts[k] > calls ? 2 * counts[k] - calls : 0;
      e[n++] = (kiln_edge){.caller = x,
                           .callee = callee,
                           .count = k == busiest ? calls : counts[k],
                           .indirect = 1,
                           .site = code->sites[s].offset,
                           .votes = margin < UINT32_MAX ? (uint32_t)margin : UINT32_MAX};
    }
  }
  return n;
}

/* Function x's branches that ran, appended at out; returns how many. */
static size_t branch_bias(const Module *m, uint32_t x, kiln_branch *out) {
  const WasmModule *w = m->wasm;
  const FuncProfile *p = &m->prof[x - w->nfunc_imports];
  const InterpCode *code = m->code[x - w->nfunc_imports];
  size_t n = 0;
  for (uint32_t b = 0; b < p->nbranches; b++) {
    uint64_t jumped = load(&p->branches[b].n[1]), fell = load(&p->branches[b].n[0]);
    if (!jumped && !fell)
      continue;
    bool when = code->branches[b].jumps_when;
    out[n++] = (kiln_branch){.func = x,
                             .offset = code->branches[b].offset,
                             .true_count = when ? jumped : fell,
                             .false_count = when ? fell : jumped};
  }
  return n;
}

static int busier_branch(const void *a, const void *b) {
  const kiln_branch *x = a, *y = b;
  uint64_t nx = x->true_count + x->false_count, ny = y->true_count + y->false_count;
  if (nx != ny)
    return nx > ny ? -1 : 1;
  if (x->func != y->func)
    return x->func < y->func ? -1 : 1;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Sums the direct edges of equal ends (one function calling another from
 * several sites) and keeps the busiest MAX_EDGES. */
static size_t merge_edges(kiln_edge *e, size_t n) {
  qsort(e, n, sizeof *e, by_ends);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && by_ends(&e[k - 1], &e[i]) == 0)
      e[k - 1].count += e[i].count;
    else
      e[k++] = e[i];
  }
  qsort(e, k, sizeof *e, busiest_first);
  return k < MAX_EDGES ? k : MAX_EDGES;
}

kiln_heatmap *kiln_instance_heatmap(kiln_instance *in) {
  const Module *m = in->module;
  const WasmModule *w = m->wasm;
  uint32_t ndef = w->nfuncs - w->nfunc_imports;
  Ranked *rank = calloc(ndef + 1, sizeof *rank);
  bool *ran = calloc(ndef + 1, sizeof *ran);
  if (!rank || !ran) {
    free(rank);
    free(ran);
    runtime_error(in->rt, "%s: out of memory for the heat map", in->name);
    return NULL;
  }
  size_t nfuncs = 0, most = 0; /* regions: every function that ran and all its loops */
  size_t nsites = 0, nbranch_sites = 0;
  uint64_t total = 0;
  for (uint32_t i = 0; i < ndef; i++) {
    Ranked f = {&m->prof[i], w->nfunc_imports + i, load(&m->prof[i].calls), load(&m->prof[i].self)};
    if (!f.calls && !f.self)
      continue;
    rank[nfuncs++] = f;
    ran[i] = true;
    most += 1 + f.prof->nloops;
    /* An edge a direct site, SITE_TARGETS an indirect one. */
    const InterpCode *code = m->code[i];
    for (uint32_t k = 0; k < f.prof->nsites; k++)
      nsites += code->sites[k].callee == INTERP_INDIRECT ? SITE_TARGETS : 1;
    nbranch_sites += f.prof->nbranches;
    total += f.self;
  }
  /* One block: the map, its regions, its edges, its branches, then the
   * names the regions point to. */
  kiln_heatmap *h = calloc(1, sizeof *h + most * sizeof(kiln_region) + nsites * sizeof(kiln_edge) +
                                  nbranch_sites * sizeof(kiln_branch) + nfuncs * NAME_MAX_BYTES);
  if (!h) {
    free(rank);
    free(ran);
    runtime_error(in->rt, "%s: out of memory for the heat map", in->name);
    return NULL;
  }
  kiln_region *r = (kiln_region *)(h + 1);
  kiln_edge *edges = (kiln_edge *)(r + most);
  kiln_branch *branches = (kiln_branch *)(edges + nsites);
  char *names = (char *)(branches + nbranch_sites);
  qsort(rank, nfuncs, sizeof *rank, hotter_first);
  double hottest = nfuncs && rank[0].self ? (double)rank[0].self : 0;

  size_t n = 0, nedges = 0, nbranches = 0;
  for (size_t i = 0; i < nfuncs; i++) {
    const FuncProfile *p = rank[i].prof;
    uint32_t x = rank[i].func;
    const WasmName *wn = &w->funcs[x].name;
    char *name = names + i * NAME_MAX_BYTES;
    if (wn->str)
      trap_name_text(name, NAME_MAX_BYTES, wn->str, wn->len);
    kiln_tier tier = (kiln_tier)__atomic_load_n(&in->funcs[x]->tier, __ATOMIC_RELAXED);
    r[n++] = (kiln_region){
        .func = x,
        .loop = KILN_NO_LOOP,
        .name = name,
        .count = rank[i].calls,
        .self_samples = rank[i].self,
        .self_share = total ? (double)rank[i].self / (double)total : 0,
        .heat = hottest ? (double)rank[i].self / hottest : 0,
        .tier = tier,
    };
    nedges += site_edges(m, x, ran, edges + nedges);
    nbranches += branch_bias(m, x, branches + nbranches);
    const InterpCode *code = m->code[x - w->nfunc_imports];
    for (uint32_t l = 0; l < p->nloops; l++) {
      uint64_t iterations = load(&p->loops[l].iterations), self = load(&p->loops[l].self);
      if (!iterations && !self)
        continue;
      r[n++] = (kiln_region){
          .func = x,
          .loop = code->loops[l].offset,
          .name = name,
          .count = iterations,
          .self_samples = self,
          .self_share = total ? (double)self / (double)total : 0,
          .heat = hottest ? (double)self / hottest : 0,
          .tier = tier,
          .osr_entries = load(&p->loops[l].osr_entries),
      };
    }
  }
  free(rank);
  free(ran);
  h->nedges = merge_edges(edges, nedges);
  h->edges = edges;
  qsort(branches, nbranches, sizeof *branches, busier_branch);
  h->nbranches = nbranches < MAX_BRANCHES ? nbranches : MAX_BRANCHES;
  h->branches = branches;
  const MemoryInst *mem = in->mem0;
  if (mem) {
    h->memory_pages = __atomic_load_n(&mem->pages, __ATOMIC_RELAXED);
    h->memory_grows = load(&mem->grows);
  }
  const Thread *t = runtime_thread(in->rt);
  h->samples = __atomic_load_n(&t->samples, __ATOMIC_RELAXED);
  h->sample_us = t->sample_us ? t->sample_us : MONITOR_SAMPLE_US;
  h->nregions = n;
  h->regions = r;
  return h;
}

void kiln_heatmap_free(kiln_heatmap *h) {
  free(h);
}
