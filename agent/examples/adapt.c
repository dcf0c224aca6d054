/*
 * adapt.c: a script's function tiering up while it runs, through kiln.h's
 * Real-time Execution Monitor and adaptive tiering.
 *
 *   adapt FILE.wasm [SECONDS] [--service ENDPOINT]
 *
 * Calls FILE.wasm's export "work" ([] -> [i32]) over and over for SECONDS
 * (default 3) while the monitor samples it and the tiering thread has the
 * compile service (kilnd, at ENDPOINT or the default one) compile what is
 * hot. It prints every tier change as it happens and, every 0.5 s, the calls
 * per second of that interval and how many functions run in each tier; at
 * the end, the hottest regions of the heat map. Every call must return what
 * the first one did: the tiers differ in speed only.
 *
 * It starts no kilnd. Without one the tiering says why (one warning line)
 * and the function runs on interpreted. Any failure prints one line and
 * exits 1.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define EXPORT "work"
#define REPORT_EVERY_S 0.5
#define TOP_REGIONS 5

static const char *const tier_names[] = {"cold", "warm", "hot"};

/* What the tiering thread's callback reads. The names are filled in before
 * the thread starts and only read after; warned is the thread's alone. */
typedef struct {
  char **names; /* by function index; NULL when the name section has none */
  uint32_t nnames;
  bool warned;
} Watch;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(kiln_runtime *rt) {
  fprintf(stderr, "adapt: %s\n", kiln_error(rt));
  return 1;
}

/* "checksum (func 3)", or "func 3" when the module has no name for it. */
static void func_label(const Watch *w, uint32_t func, char *out, size_t n) {
  if (func < w->nnames && w->names[func])
    snprintf(out, n, "%s (func %u)", w->names[func], func);
  else
    snprintf(out, n, "func %u", func);
}

/* On the tiering thread, as each change happens. */
static void tier_changed(const kiln_tier_change *c, void *data) {
  Watch *w = data;
  if (c->func == KILN_NO_FUNC) {
    /* Usually "no kilnd is listening on ...", retried now and then with the
     * same cause: one line says it all. */
    if (!w->warned)
      fprintf(stderr, "adapt: warning: %s; running on in the tiers it has\n", c->why);
    w->warned = true;
    return;
  }
  char label[96];
  func_label(w, c->func, label, sizeof label);
  printf("%6.2f s  %s: %s -> %s (%s)\n", c->at_s, label, tier_names[c->from], tier_names[c->tier],
         c->why[0] ? c->why : "no reason given");
}

/* The functions' names, from a heat map taken once each has run: the
 * callback cannot take one itself, since the runtime is this thread's. */
static bool learn_names(kiln_instance *in, Watch *w) {
  kiln_heatmap *h = kiln_instance_heatmap(in);
  if (!h)
    return false;
  for (size_t i = 0; i < h->nregions; i++)
    if (h->regions[i].func >= w->nnames)
      w->nnames = h->regions[i].func + 1;
  w->names = calloc(w->nnames + 1, sizeof *w->names);
  bool ok = w->names != NULL;
  for (size_t i = 0; ok && i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    if (r->loop == KILN_NO_LOOP && r->name[0])
      ok = (w->names[r->func] = strdup(r->name)) != NULL;
  }
  kiln_heatmap_free(h);
  return ok; /* names[] may be partly filled: main frees it */
}

/* How many of the functions that ran are in each tier now. */
static bool count_tiers(kiln_instance *in, unsigned counts[3]) {
  kiln_heatmap *h = kiln_instance_heatmap(in);
  if (!h)
    return false;
  counts[0] = counts[1] = counts[2] = 0;
  for (size_t i = 0; i < h->nregions; i++)
    if (h->regions[i].loop == KILN_NO_LOOP)
      counts[h->regions[i].tier]++;
  kiln_heatmap_free(h);
  return true;
}

static bool print_top(kiln_instance *in, const Watch *w) {
  kiln_heatmap *h = kiln_instance_heatmap(in);
  if (!h)
    return false;
  printf("hottest regions (%llu samples of %u us; counts are of interpreted runs only):\n",
         (unsigned long long)h->samples, h->sample_us);
  printf("  %-28s %12s %7s  %s\n", "region", "calls/iters", "self", "tier");
  for (size_t i = 0; i < h->nregions && i < TOP_REGIONS; i++) {
    const kiln_region *r = &h->regions[i];
    char label[96];
    func_label(w, r->func, label, sizeof label);
    if (r->loop != KILN_NO_LOOP) /* a loop follows its function: indent it */
      snprintf(label, sizeof label, "  loop at +%u", r->loop);
    printf("  %-28s %12llu %6.1f%%  %s\n", label, (unsigned long long)r->count, 100 * r->self_share,
           tier_names[r->tier]);
  }
  kiln_heatmap_free(h);
  return true;
}

static int run(kiln_runtime *rt, const char *file, double seconds, Watch *w) {
  double t0 = now_s(); /* about when rt was made: tier changes count from there */
  kiln_module *m = kiln_module_load(rt, file);
  kiln_instance *in = m ? kiln_instantiate(rt, m, "work") : NULL;
  if (!in)
    return fail(rt);
  kiln_func *f = kiln_instance_func(in, EXPORT);
  if (!f || kiln_func_param_count(f) != 0 || kiln_func_result_count(f) != 1 ||
      kiln_func_result_type(f, 0) != KILN_I32) {
    fprintf(stderr, "adapt: %s: no export \"" EXPORT "\" of type [] -> [i32]\n", file);
    return 1;
  }

  /* Self time is sampled on this thread: the one that calls the script. */
  if (kiln_monitor_start(rt, 0) != KILN_OK)
    return fail(rt);
  kiln_value result;
  if (kiln_call(rt, f, NULL, 0, &result, 1) != KILN_OK)
    return fail(rt);
  const int32_t expected = result.of.i32;
  if (!learn_names(in, w))
    return fail(rt);

  /* A warm-up of one whole report interval, so the first line shows the
   * interpreter's speed and the jump after it is plain to see. The event
   * count would end it sooner: each call runs half a million calls and loop
   * iterations, so only the time is to count. */
  kiln_adapt_config ac = {
      .warmup_ms = 500, .warmup_events = UINT64_MAX, .on_change = tier_changed, .data = w};
  if (kiln_instance_adapt(in, &ac) != KILN_OK)
    return fail(rt);

  printf("calling %s's \"" EXPORT "\" for %.1f s (the first call returned %d)\n", file, seconds,
         expected);
  double start = now_s(), end = start + seconds, last = start;
  double next = start + REPORT_EVERY_S;
  unsigned long long calls = 1, interval_calls = 0;
  for (;;) {
    if (kiln_call(rt, f, NULL, 0, &result, 1) != KILN_OK)
      return fail(rt);
    if (result.of.i32 != expected) {
      fprintf(stderr, "adapt: call %llu of \"" EXPORT "\" returned %d, the first returned %d\n",
              calls + 1, result.of.i32, expected);
      return 1;
    }
    calls++;
    interval_calls++;
    double t = now_s();
    if (t < next && t < end)
      continue;
    unsigned tiers[3];
    if (!count_tiers(in, tiers))
      return fail(rt);
    printf("%6.2f s  %8.1f calls/s   hot %u  warm %u  cold %u\n", t - t0,
           (double)interval_calls / (t - last), tiers[KILN_TIER_HOT], tiers[KILN_TIER_WARM],
           tiers[KILN_TIER_COLD]);
    if (t >= end)
      break;
    /* Fixed boundaries, so the last interval is a whole one too. */
    while (next <= t)
      next += REPORT_EVERY_S;
    last = t;
    interval_calls = 0;
  }

  /* Stopped before the report so no change prints in the middle of it. */
  kiln_instance_adapt_stop(in);
  kiln_monitor_stop(rt);
  printf("%llu calls, every one returned %d\n", calls, expected);
  return print_top(in, w) ? 0 : fail(rt);
}

int main(int argc, char **argv) {
  const char *file = NULL, *service = NULL, *secs = NULL;
  bool bad = false;
  for (int i = 1; i < argc && !bad; i++) {
    if (strcmp(argv[i], "--service") == 0 && i + 1 < argc)
      service = argv[++i];
    else if (argv[i][0] == '-')
      bad = true;
    else if (!file)
      file = argv[i];
    else if (!secs)
      secs = argv[i];
    else
      bad = true;
  }
  char *rest = NULL;
  double seconds = secs ? strtod(secs, &rest) : 3;
  if (bad || !file || (secs && (*rest || !(seconds > 0 && seconds <= 3600)))) {
    fprintf(stderr, "usage: adapt FILE.wasm [SECONDS (0-3600, default 3)] [--service ENDPOINT]\n");
    return 1;
  }
  /* Stdout may be a pipe; a line at a time keeps the changes, printed on the
   * tiering thread, in step with the progress lines. */
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* NULL service_endpoint: the default, ipc://$XDG_RUNTIME_DIR/kiln/kilnd.sock. */
  kiln_config cfg = {.service_endpoint = service};
  kiln_runtime *rt = kiln_runtime_new(&cfg);
  if (!rt) {
    fprintf(stderr, "adapt: out of memory\n");
    return 1;
  }
  Watch w = {0};
  int status = run(rt, file, seconds, &w);
  /* Frees the module and instance, and stops the tiering thread (which
   * reads w) if a failure left it running, so w goes last. */
  kiln_runtime_free(rt);
  for (uint32_t i = 0; w.names && i < w.nnames; i++)
    free(w.names[i]);
  free(w.names);
  return status;
}
