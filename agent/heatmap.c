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

typedef struct {
  const FuncProfile *prof;
  uint32_t func;
} Ranked;

static int hotter_first(const void *a, const void *b) {
  const Ranked *x = a, *y = b;
  if (x->prof->self != y->prof->self)
    return x->prof->self > y->prof->self ? -1 : 1;
  if (x->prof->calls != y->prof->calls)
    return x->prof->calls > y->prof->calls ? -1 : 1;
  return x->func < y->func ? -1 : x->func > y->func;
}

kiln_heatmap *kiln_instance_heatmap(kiln_instance *in) {
  const Module *m = in->module;
  const WasmModule *w = m->wasm;
  uint32_t ndef = w->nfuncs - w->nfunc_imports;
  size_t nfuncs = 0, nregions = 0;
  uint64_t total = 0;
  for (uint32_t i = 0; i < ndef; i++) {
    const FuncProfile *p = &m->prof[i];
    if (!p->calls && !p->self)
      continue;
    nfuncs++;
    nregions++;
    total += p->self;
    for (uint32_t l = 0; l < p->nloops; l++)
      nregions += p->loops[l].iterations || p->loops[l].self;
  }
  kiln_heatmap *h = calloc(1, sizeof *h);
  Ranked *rank = calloc(nfuncs + 1, sizeof *rank);
  kiln_region *r = calloc(nregions + 1, sizeof *r);
  char *names = calloc(nfuncs + 1, NAME_MAX_BYTES);
  if (!h || !rank || !r || !names) {
    free(h);
    free(rank);
    free(r);
    free(names);
    runtime_error(in->rt, "%s: out of memory for the heat map", in->name);
    return NULL;
  }
  size_t k = 0;
  for (uint32_t i = 0; i < ndef; i++)
    if (m->prof[i].calls || m->prof[i].self)
      rank[k++] = (Ranked){&m->prof[i], w->nfunc_imports + i};
  qsort(rank, nfuncs, sizeof *rank, hotter_first);
  double hottest = nfuncs && rank[0].prof->self ? (double)rank[0].prof->self : 0;

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
        .count = p->calls,
        .self_samples = p->self,
        .self_share = total ? (double)p->self / (double)total : 0,
        .heat = hottest ? (double)p->self / hottest : 0,
        .tier = tier,
    };
    const InterpCode *code = m->code[x - w->nfunc_imports];
    for (uint32_t l = 0; l < p->nloops; l++) {
      const LoopProfile *lp = &p->loops[l];
      if (!lp->iterations && !lp->self)
        continue;
      r[n++] = (kiln_region){
          .func = x,
          .loop = code->loops[l].offset,
          .name = name,
          .count = lp->iterations,
          .self_samples = lp->self,
          .self_share = total ? (double)lp->self / (double)total : 0,
          .heat = hottest ? (double)lp->self / hottest : 0,
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
  /* The names live in one block owned by the heat map: freed through the
   * first region's pointer (kiln_heatmap_free). */
  if (n == 0)
    free(names);
  return h;
}

void kiln_heatmap_free(kiln_heatmap *h) {
  if (!h)
    return;
  if (h->nregions)
    free((char *)h->regions[0].name);
  free(h->regions);
  free(h);
}
