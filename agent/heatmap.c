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

kiln_heatmap *kiln_instance_heatmap(kiln_instance *in) {
  const Module *m = in->module;
  const WasmModule *w = m->wasm;
  uint32_t ndef = w->nfuncs - w->nfunc_imports;
  Ranked *rank = calloc(ndef + 1, sizeof *rank);
  if (!rank) {
    runtime_error(in->rt, "%s: out of memory for the heat map", in->name);
    return NULL;
  }
  size_t nfuncs = 0, most = 0; /* regions: every function that ran and all its loops */
  uint64_t total = 0;
  for (uint32_t i = 0; i < ndef; i++) {
    Ranked f = {&m->prof[i], w->nfunc_imports + i, load(&m->prof[i].calls), load(&m->prof[i].self)};
    if (!f.calls && !f.self)
      continue;
    rank[nfuncs++] = f;
    most += 1 + f.prof->nloops;
    total += f.self;
  }
  /* One block: the map, its regions, then the names they point to. */
  kiln_heatmap *h = calloc(1, sizeof *h + most * sizeof(kiln_region) + nfuncs * NAME_MAX_BYTES);
  if (!h) {
    free(rank);
    runtime_error(in->rt, "%s: out of memory for the heat map", in->name);
    return NULL;
  }
  kiln_region *r = (kiln_region *)(h + 1);
  char *names = (char *)(r + most);
  qsort(rank, nfuncs, sizeof *rank, hotter_first);
  double hottest = nfuncs && rank[0].self ? (double)rank[0].self : 0;

  size_t n = 0;
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
      };
    }
  }
  free(rank);
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
