/*
 * model_dump.c: --dump-model's JSON (model_dump.h).
 */
#include "model_dump.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "heatmap_view.h"

static json_object *percent(double fraction) {
  return json_object_new_double((double)(long)(fraction * 1000 + 0.5) / 10);
}

static json_object *agent_json(KvAgent *a) {
  const KvAgentInfo *i = kv_agent_info(a);
  KvHeatModel *h = kv_agent_heat(a);
  KvHeatSummary s;
  kv_heat_model_summary(h, &s);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "agent", json_object_new_int64(i->id));
  json_object_object_add(o, "pid", json_object_new_int64(i->pid));
  json_object_object_add(o, "name", json_object_new_string(i->client_name));
  json_object_object_add(o, "module_hash", json_object_new_string(i->module_hex));
  json_object_object_add(o, "policy", json_object_new_string(i->policy));
  json_object_object_add(o, "hot_percent", percent(i->hot));
  json_object_object_add(o, "warm_percent", percent(i->warm));
  json_object_object_add(o, "heat_maps", json_object_new_int64(s.heat_maps));
  json_object_object_add(o, "cpu_share", json_object_new_double(s.cpu_share));
  if (s.policy) {
    json_object *p = json_object_new_object();
    json_object_object_add(p, "policy", json_object_new_string(s.policy));
    json_object_object_add(p, "hot_percent", percent(s.hot));
    json_object_object_add(p, "warm_percent", percent(s.warm));
    json_object_object_add(p, "after_control", json_object_new_boolean(s.after_control));
    json_object_object_add(p, "hot",
                           json_object_new_int64((int64_t)s.placed[KILN__TIER__TIER_HOT]));
    json_object_object_add(p, "warm",
                           json_object_new_int64((int64_t)s.placed[KILN__TIER__TIER_WARM]));
    json_object_object_add(p, "cold",
                           json_object_new_int64((int64_t)s.placed[KILN__TIER__TIER_COLD]));
    json_object_object_add(o, "partition", p);
  }
  json_object *fs = json_object_new_array();
  size_t n;
  const KvFunction *const *f = kv_heat_model_functions(h, &n);
  for (size_t k = 0; k < n; k++) {
    json_object *e = json_object_new_object();
    json_object_object_add(e, "function", json_object_new_int64(f[k]->index));
    if (f[k]->name)
      json_object_object_add(e, "name", json_object_new_string(f[k]->name));
    json_object_object_add(e, "tier", json_object_new_string(kiln_tier_name(f[k]->tier)));
    json_object_object_add(e, "heat", json_object_new_double(f[k]->heat));
    json_object_object_add(e, "share", json_object_new_double(f[k]->share));
    json_object_object_add(e, "calls", json_object_new_uint64(f[k]->calls));
    json_object_object_add(e, "loops", json_object_new_int64((int64_t)f[k]->n_loops));
    size_t busiest;
    if (kv_function_busiest_loops(f[k], &busiest, 1)) {
      const KvLoop *l = &f[k]->loops[busiest];
      json_object *b = json_object_new_object();
      json_object_object_add(b, "offset", json_object_new_int64(l->offset));
      json_object_object_add(b, "self_samples", json_object_new_uint64(l->self_samples));
      json_object_object_add(b, "heat", json_object_new_double(l->heat));
      json_object_object_add(e, "busiest_loop", b);
    }
    json_object_object_add(e, "history", json_object_new_int64((int64_t)f[k]->n_history));
    json_object_object_add(e, "tier_changes", json_object_new_int64((int64_t)f[k]->n_steps));
    json_object_object_add(e, "branches", json_object_new_int64((int64_t)f[k]->n_branches));
    const KvPackage *pkgs[8];
    size_t npkgs = kv_heat_model_packages_of(h, f[k]->index, pkgs, G_N_ELEMENTS(pkgs));
    json_object *ps = json_object_new_array();
    for (size_t j = 0; j < npkgs; j++) {
      json_object *p = json_object_new_object();
      json_object_object_add(p, "tier", json_object_new_string(kiln_tier_name(pkgs[j]->tier)));
      json_object_object_add(p, "segment", json_object_new_string(pkgs[j]->segment));
      json_object_object_add(p, "functions", json_object_new_int64((int64_t)pkgs[j]->n_functions));
      json_object_object_add(p, "cache_hit", json_object_new_boolean(pkgs[j]->cache_hit));
      json_object_array_add(ps, p);
    }
    json_object_object_add(e, "packages", ps); /* newest first */
    if (f[k]->reason) {
      json_object_object_add(e, "placed", json_object_new_string(kiln_tier_name(f[k]->placed)));
      json_object_object_add(e, "reason", json_object_new_string(f[k]->reason));
    }
    json_object_array_add(fs, e);
  }
  json_object_object_add(o, "functions", fs);
  return o;
}

int model_dump_write(KvFeedModel *model, const ModelDumpView *view, const char *path, char *err,
                     size_t errsize) {
  json_object *root = json_object_new_object(), *svc = json_object_new_object();
  const KvServiceInfo *s = kv_service_info(kv_feed_model_service(model));
  static const char *const states[] = {"waiting", "connected", "lost"};
  json_object_object_add(svc, "state", json_object_new_string(states[s->state]));
  json_object_object_add(svc, "endpoint", json_object_new_string(s->endpoint));
  json_object_object_add(svc, "feed", json_object_new_string(s->feed));
  if (s->has_stats) {
    json_object_object_add(svc, "pid", json_object_new_int64(s->pid));
    json_object_object_add(svc, "workers", json_object_new_int64(s->workers));
    json_object_object_add(svc, "workers_busy", json_object_new_int64(s->workers_busy));
    json_object_object_add(svc, "queued", json_object_new_int64(s->queued));
    json_object_object_add(svc, "compiles_per_s", json_object_new_double(s->compiles_per_s));
    json_object_object_add(svc, "cache_hit_rate", json_object_new_double(s->cache_hit_rate));
    json_object_object_add(svc, "policy", json_object_new_string(s->policy));
    json_object_object_add(svc, "hot_percent", percent(s->hot));
    json_object_object_add(svc, "warm_percent", percent(s->warm));
  }
  json_object_object_add(root, "service", svc);
  json_object *agents = json_object_new_array();
  GListModel *list = G_LIST_MODEL(kv_feed_model_agents(model));
  for (guint i = 0, n = g_list_model_get_n_items(list); i < n; i++) {
    KvAgent *a = g_list_model_get_item(list, i);
    json_object_array_add(agents, agent_json(a));
    g_object_unref(a);
  }
  json_object_object_add(root, "agents", agents);
  json_object *tl = json_object_new_array();
  GListModel *events = G_LIST_MODEL(kv_feed_model_timeline(model));
  for (guint i = 0, n = g_list_model_get_n_items(events); i < n; i++) {
    KvEvent *e = g_list_model_get_item(events, i);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "kind",
                           json_object_new_string(kv_event_kind_name(kv_event_get_kind(e))));
    json_object_object_add(o, "time_s", json_object_new_double(kv_event_get_time(e)));
    json_object_object_add(o, "agent", json_object_new_int64(kv_event_get_agent(e)));
    json_object_object_add(o, "text", json_object_new_string(kv_event_get_text(e)));
    json_object_array_add(tl, o);
    g_object_unref(e);
  }
  json_object_object_add(root, "timeline", tl);
  json_object *w = json_object_new_object();
  json_object_object_add(w, "banner", json_object_new_string(view->banner ? view->banner : ""));
  json_object_object_add(w, "selected_agent", json_object_new_int64(view->selected_agent));
  json_object_object_add(w, "heatmap_cells", json_object_new_int64(view->heatmap_cells));
  json_object_object_add(w, "controls_answered", json_object_new_int64(view->controls_sent));
  if (view->last_reply) {
    json_object_object_add(w, "last_reply_ok", json_object_new_boolean(view->last_reply_ok));
    json_object_object_add(w, "last_reply", json_object_new_string(view->last_reply));
  }
  /* Where the keyboard is and what it (or a click) selected, so a test
   * can follow keys typed into the window. */
  json_object_object_add(w, "focus", json_object_new_string(view->focus ? view->focus : ""));
  json_object_object_add(w, "selected_function",
                         view->selected_function == KV_NO_FUNCTION
                             ? NULL
                             : json_object_new_int64(view->selected_function));
  json_object_object_add(w, "detail_title",
                         json_object_new_string(view->detail_title ? view->detail_title : ""));
  json_object_object_add(root, "window", w);
  int rc = 0;
  if (json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY) != 0) {
    snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
    rc = -1;
  }
  json_object_put(root);
  return rc;
}
