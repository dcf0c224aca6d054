/*
 * kept.c: the heat map kilnd keeps of each module, beside its packages, for
 * the module's next run to start from (adapt.c computes that run's start
 * partition from it).
 *
 * A run's heat map does not see all of the run. Compiled code counts no
 * calls and no edges, and a callee gcc inlined has no code of its own to
 * charge samples to: a function hot from the start of a run, inlined into
 * its caller, is not in that run's heat map at all. Kept as it came, the
 * next start partition would leave that callee interpreted, the run after
 * would see it again, and runs would alternate between the two partitions.
 * So what a run's heat map lacks, the kept one keeps from the runs before,
 * fading by half with every run that does not see it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kilnd.h"

static const char *const kept_suffix[] = {
    [KEPT_LAST] = "", [KEPT_READY] = ".ready", [KEPT_PENDING] = ".pending"};

/* Where the module's heat map of that kind is kept. */
static bool kept_path(const Broker *b, const uint8_t hash[32], KeptKind kind, char *path,
                      size_t n) {
  if (!b->cfg->cache)
    return false;
  char hex[65];
  kiln_hex(hash, 32, hex);
  return (size_t)snprintf(path, n, "%s/heat-%s%s.pb", b->cfg->cache, hex, kept_suffix[kind]) < n;
}

bool kept_exists(const Broker *b, const uint8_t hash[32]) {
  char path[4200];
  return kept_path(b, hash, KEPT_LAST, path, sizeof path) && access(path, F_OK) == 0;
}

/* One write and a rename, so a reader never sees half of one. A failure
 * costs the next run its start. */
void kept_write(const Broker *b, const Kiln__HeatMap *hm, KeptKind kind) {
  char path[4200];
  if (hm->module_hash.len != 32 || !kept_path(b, hm->module_hash.data, kind, path, sizeof path))
    return;
  uint8_t *buf = malloc(kiln__heat_map__get_packed_size(hm) + 1);
  if (!buf || !store_write_file(path, buf, kiln__heat_map__pack(hm, buf)))
    kd_log("cannot keep the heat map in %s: %s", path, buf ? strerror(errno) : "out of memory");
  free(buf);
}

Kiln__HeatMap *kept_read(const Broker *b, const uint8_t hash[32], KeptKind kind) {
  char path[4200];
  if (!kept_path(b, hash, kind, path, sizeof path))
    return NULL;
  size_t len;
  uint8_t *buf = store_read_file(path, (size_t)b->cfg->max_message, &len);
  Kiln__HeatMap *hm = buf ? kiln__heat_map__unpack(NULL, len, buf) : NULL;
  free(buf);
  if (hm && (hm->module_hash.len != 32 || memcmp(hm->module_hash.data, hash, 32) != 0)) {
    kiln__heat_map__free_unpacked(hm, NULL);
    hm = NULL;
  }
  return hm;
}

void kept_remove(const Broker *b, const uint8_t hash[32], KeptKind kind) {
  char path[4200];
  if (kept_path(b, hash, kind, path, sizeof path) && remove(path) != 0 && errno != ENOENT)
    kd_log("cannot remove %s: %s", path, strerror(errno));
}

static bool unseen(const bool *seen, uint32_t nfuncs, uint32_t func) {
  return func < nfuncs && !seen[func];
}

/* Whether hm's first n edges have e's (a callee hm has no region of may
 * still be called: compiled code it ran counts no calls). */
static bool has_edge(const Kiln__HeatMap *hm, size_t n, const Kiln__CallEdge *e) {
  for (size_t i = 0; i < n; i++) {
    const Kiln__CallEdge *x = hm->edges[i];
    if (x->caller == e->caller && x->callee == e->callee && x->indirect == e->indirect &&
        x->site == e->site)
      return true;
  }
  return false;
}

/* Moves old's regions of the functions hm has none of (with their loops)
 * and the edges from or to them into hm, their counts halved; one halved
 * to nothing stays behind. old keeps the rest, for its own free. Out of
 * memory, hm stays as it came. */
void kept_carry_unseen(Kiln__HeatMap *hm, Kiln__HeatMap *old, uint32_t nfuncs) {
  bool *seen = calloc(nfuncs ? nfuncs : 1, sizeof *seen);
  Kiln__Region **regions =
      realloc(hm->regions, (hm->n_regions + old->n_regions + 1) * sizeof *regions);
  if (regions)
    hm->regions = regions;
  Kiln__CallEdge **edges = realloc(hm->edges, (hm->n_edges + old->n_edges + 1) * sizeof *edges);
  if (edges)
    hm->edges = edges;
  if (!seen || !regions || !edges) {
    free(seen);
    return;
  }
  for (size_t i = 0; i < hm->n_regions; i++)
    if (hm->regions[i]->function_index < nfuncs)
      seen[hm->regions[i]->function_index] = true;
  size_t left = 0;
  for (size_t i = 0; i < old->n_regions; i++) {
    Kiln__Region *r = old->regions[i];
    r->count /= 2, r->self_samples /= 2, r->compiled_samples /= 2, r->osr_entries /= 2;
    if (unseen(seen, nfuncs, r->function_index) && (r->count || r->self_samples))
      hm->regions[hm->n_regions++] = r;
    else
      old->regions[left++] = r;
  }
  old->n_regions = left;
  left = 0;
  size_t had = hm->n_edges;
  for (size_t i = 0; i < old->n_edges; i++) {
    Kiln__CallEdge *e = old->edges[i];
    e->count /= 2, e->votes /= 2;
    if ((unseen(seen, nfuncs, e->caller) || unseen(seen, nfuncs, e->callee)) && e->count &&
        !has_edge(hm, had, e))
      hm->edges[hm->n_edges++] = e;
    else
      old->edges[left++] = e;
  }
  old->n_edges = left;
  free(seen);
}
