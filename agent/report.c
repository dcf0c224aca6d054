/*
 * report.c: what `kiln run --stats` prints and `--heatmap FILE.json` writes
 * at exit: the script's final heat map, read through kiln.h as any
 * embedder would.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

const char *const report_tier_names[] = {"cold", "warm", "hot"};

static const char *tier_name(kiln_tier t) {
  return (unsigned)t < 3 ? report_tier_names[t] : "?";
}

/* "$name (func N)" or "func N", as trap lines name functions. */
static void region_label(char *dst, size_t n, const kiln_region *r) {
  if (r->loop != KILN_NO_LOOP)
    snprintf(dst, n, "  loop at +%u", r->loop);
  else if (r->name[0])
    snprintf(dst, n, "$%s (func %u)", r->name, r->func);
  else
    snprintf(dst, n, "func %u", r->func);
}

void report_stats(FILE *out, const kiln_heatmap *h, const kiln_tier_change *ev, size_t nev,
                  size_t max_funcs) {
  fprintf(out, "kiln: stats: %llu samples, one per %u us of CPU (%.2f s)\n",
          (unsigned long long)h->samples, h->sample_us, (double)h->samples * h->sample_us / 1e6);
  fprintf(out, "  %-40s %14s %7s %5s  %s\n", "region", "calls/iters", "self", "tier",
          "tier changes");
  size_t shown = 0, skipped = 0;
  bool showing = false; /* the function the current loops belong to */
  for (size_t i = 0; i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    /* Regions under a tenth of a percent are noise here; the JSON has them. */
    bool worth = r->self_share >= 0.001 || (r->loop == KILN_NO_LOOP && r->tier != KILN_TIER_COLD);
    if (r->loop == KILN_NO_LOOP)
      showing = worth && shown < max_funcs;
    if (!showing || !worth) {
      skipped += r->loop == KILN_NO_LOOP;
      continue;
    }
    shown += r->loop == KILN_NO_LOOP;
    char label[160];
    region_label(label, sizeof label, r);
    fprintf(out, "  %-40.40s %14llu %6.1f%% %5s", label, (unsigned long long)r->count,
            r->self_share * 100, r->loop == KILN_NO_LOOP ? tier_name(r->tier) : "");
    const char *sep = "  ";
    for (size_t k = 0; r->loop == KILN_NO_LOOP && k < nev; k++) {
      const kiln_tier_change *e = &ev[k];
      if (e->func != r->func)
        continue;
      fprintf(out, "%s%s at %.2f s (%s)", sep, tier_name(e->tier), e->at_s, e->why);
      sep = "; ";
    }
    fputc('\n', out);
  }
  if (skipped)
    fprintf(out, "  (%zu more functions ran, each under 0.1%% self or past the first %zu)\n",
            skipped, max_funcs);
}

bool report_heatmap_json(const char *path, const char *module, const char *hash,
                         const kiln_heatmap *h, const kiln_tier_change *ev, size_t nev, char *err,
                         size_t n) {
  json_object *root = json_object_new_object();
  json_object_object_add(root, "module", json_object_new_string(module));
  json_object_object_add(root, "module_hash", json_object_new_string(hash));
  json_object_object_add(root, "samples", json_object_new_uint64(h->samples));
  json_object_object_add(root, "sample_us", json_object_new_int((int)h->sample_us));
  json_object *regions = json_object_new_array();
  for (size_t i = 0; i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "func", json_object_new_int64(r->func));
    if (r->loop != KILN_NO_LOOP)
      json_object_object_add(o, "loop", json_object_new_int64(r->loop));
    json_object_object_add(o, "name", json_object_new_string(r->name));
    json_object_object_add(o, r->loop == KILN_NO_LOOP ? "calls" : "iterations",
                           json_object_new_uint64(r->count));
    json_object_object_add(o, "self_samples", json_object_new_uint64(r->self_samples));
    json_object_object_add(o, "self_share", json_object_new_double(r->self_share));
    json_object_object_add(o, "heat", json_object_new_double(r->heat));
    json_object_object_add(o, "tier", json_object_new_string(tier_name(r->tier)));
    if (r->loop != KILN_NO_LOOP)
      json_object_object_add(o, "osr_entries", json_object_new_uint64(r->osr_entries));
    json_object_array_add(regions, o);
  }
  json_object_object_add(root, "regions", regions);
  json_object *edges = json_object_new_array();
  for (size_t i = 0; i < h->nedges; i++) {
    const kiln_edge *e = &h->edges[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "caller", json_object_new_int64(e->caller));
    json_object_object_add(o, "callee", json_object_new_int64(e->callee));
    json_object_object_add(o, "calls", json_object_new_uint64(e->count));
    if (e->indirect) {
      json_object_object_add(o, "indirect", json_object_new_boolean(1));
      json_object_object_add(o, "site", json_object_new_int64(e->site));
      json_object_object_add(o, "votes", json_object_new_int64(e->votes));
    }
    json_object_array_add(edges, o);
  }
  json_object_object_add(root, "edges", edges);
  json_object *branches = json_object_new_array();
  for (size_t i = 0; i < h->nbranches; i++) {
    const kiln_branch *b = &h->branches[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "func", json_object_new_int64(b->func));
    json_object_object_add(o, "offset", json_object_new_int64(b->offset));
    json_object_object_add(o, "true", json_object_new_uint64(b->true_count));
    json_object_object_add(o, "false", json_object_new_uint64(b->false_count));
    json_object_array_add(branches, o);
  }
  json_object_object_add(root, "branches", branches);
  json_object_object_add(root, "memory_pages", json_object_new_int64(h->memory_pages));
  json_object_object_add(root, "memory_grows", json_object_new_uint64(h->memory_grows));
  json_object *changes = json_object_new_array();
  for (size_t k = 0; k < nev; k++) {
    const kiln_tier_change *e = &ev[k];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "func", json_object_new_int64(e->func));
    json_object_object_add(o, "tier", json_object_new_string(tier_name(e->tier)));
    json_object_object_add(o, "at_s", json_object_new_double(e->at_s));
    json_object_object_add(o, "latency_ms", json_object_new_double(e->latency_ms));
    json_object_object_add(o, "compile_ms", json_object_new_double(e->compile_ms));
    json_object_object_add(o, "why", json_object_new_string(e->why));
    json_object_array_add(changes, o);
  }
  json_object_object_add(root, "tier_changes", changes);
  bool ok = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY) == 0;
  if (!ok)
    snprintf(err, n, "--heatmap %s: %s", path, strerror(errno));
  json_object_put(root);
  return ok;
}
