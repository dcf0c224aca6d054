/*
 * test_monitor.c: the Real-time Execution Monitor (agent/monitor.c,
 * agent/heatmap.c, the interpreter's counters): exact counts of calls and
 * loop iterations, self time charged to the loop that burns it, the heat
 * map's order and shares, call edges (a call_indirect site's targets
 * too), branch bias and its end after a function's first runs,
 * memory growth, and starting and stopping the sampler.
 *
 * The module is tests/unit/monitor/busy.wat, built by wat2wasm into
 * MONITOR_WASM_DIR.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#ifndef MONITOR_WASM_DIR
#define MONITOR_WASM_DIR "."
#endif

static kiln_runtime *rt;
static kiln_instance *inst;

static void setup(void) {
  rt = kiln_runtime_new(NULL);
  ck_assert_ptr_nonnull(rt);
  kiln_module *m = kiln_module_load(rt, MONITOR_WASM_DIR "/monitor-busy.wasm");
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  inst = kiln_instantiate(rt, m, "busy");
  ck_assert_msg(inst != NULL, "%s", kiln_error(rt));
}

static void teardown(void) {
  kiln_runtime_free(rt);
}

static int32_t nested(int32_t n) {
  kiln_value a[1] = {KILN_I32_VAL(n)}, r[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, "nested"), a, 1, r, 1), KILN_OK);
  return r[0].of.i32;
}

static int64_t spin(int64_t n) {
  kiln_value a[1] = {KILN_I64_VAL(n)}, r[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, "spin"), a, 1, r, 1), KILN_OK);
  return r[0].of.i64;
}

/* The region of function `name` (loop KILN_NO_LOOP), or its k-th loop. */
static const kiln_region *region(const kiln_heatmap *h, const char *name, int k) {
  for (size_t i = 0; i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    if (strcmp(r->name, name) != 0 || r->loop != KILN_NO_LOOP)
      continue;
    if (k < 0)
      return r;
    for (size_t j = i + 1; j < h->nregions && h->regions[j].loop != KILN_NO_LOOP; j++)
      if (k-- == 0)
        return &h->regions[j];
    return NULL;
  }
  return NULL;
}

static int32_t call1(const char *name, int32_t n) {
  kiln_value a[1] = {KILN_I32_VAL(n)}, r[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, name), a, 1, r, 1), KILN_OK);
  return r[0].of.i32;
}

/* The edge between functions named caller and callee, or NULL. */
static const kiln_edge *edge(const kiln_heatmap *h, const char *caller, const char *callee) {
  const kiln_region *from = region(h, caller, -1), *to = region(h, callee, -1);
  if (!from || !to)
    return NULL;
  for (size_t i = 0; i < h->nedges; i++)
    if (h->edges[i].caller == from->func && h->edges[i].callee == to->func)
      return &h->edges[i];
  return NULL;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_exact_counts) {
  ck_assert_int_eq(nested(10), 10 * 3 * (0 + 1 + 2 + 3 + 4));
  ck_assert_int_eq(nested(3), 3 * 3 * 10);
  kiln_heatmap *h = kiln_instance_heatmap(inst);
  ck_assert_ptr_nonnull(h);
  const kiln_region *f = region(h, "nested", -1), *leaf = region(h, "leaf", -1);
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(leaf);
  ck_assert_uint_eq(f->count, 2);
  ck_assert_uint_eq(leaf->count, 13 * 5);
  /* Loops in body order: the header runs once per entry and once per
   * back-edge. outer: 11 + 4 (the exit test runs at the header); inner: 5
   * per outer iteration. */
  const kiln_region *outer = region(h, "nested", 0), *inner = region(h, "nested", 1);
  ck_assert_ptr_nonnull(outer);
  ck_assert_ptr_nonnull(inner);
  ck_assert_uint_eq(outer->count, 11 + 4);
  ck_assert_uint_eq(inner->count, 13 * 5);
  ck_assert_uint_lt(outer->loop, inner->loop);
  ck_assert_ptr_null(region(h, "nested", 2));
  ck_assert_ptr_null(region(h, "spin", -1)); /* never ran: not in the map */
  ck_assert_int_eq(f->tier, KILN_TIER_COLD);
  /* Without the sampler there is no self time, and no share. */
  ck_assert_uint_eq(h->samples, 0);
  ck_assert_uint_eq(f->self_samples, 0);
  ck_assert(f->heat == 0 && f->self_share == 0);
  kiln_heatmap_free(h);
}
END_TEST

START_TEST(test_self_time_goes_to_the_busy_loop) {
  ck_assert_int_eq(kiln_monitor_start(rt, 500), KILN_OK);
  ck_assert_int_eq(kiln_monitor_start(rt, 500), KILN_OK); /* already running: kept */
  nested(1000);
  /* About 0.3 s of CPU in spin's loop, however fast the machine. */
  double until = cpu_seconds() + 0.3;
  int64_t first = spin(2000000);
  while (cpu_seconds() < until)
    ck_assert(spin(2000000) == first); /* sampling changes nothing the script sees */
  kiln_monitor_stop(rt);
  kiln_heatmap *h = kiln_instance_heatmap(inst);
  ck_assert_ptr_nonnull(h);
  ck_assert_uint_eq(h->sample_us, 500);
  /* 0.3 s at 500 us: some 600 samples; the kernel ticks at 100 to 1000 Hz,
   * overruns are counted, so at least half must be there. */
  ck_assert_uint_ge(h->samples, 300);
  const kiln_region *top = &h->regions[0];
  ck_assert_str_eq(top->name, "spin");
  ck_assert_uint_eq(top->loop, KILN_NO_LOOP);
  ck_assert(top->heat == 1.0);
  ck_assert_msg(top->self_share > 0.8, "spin's share %.3f", top->self_share);
  const kiln_region *l = region(h, "spin", 0);
  ck_assert_ptr_nonnull(l);
  ck_assert_uint_ge(l->self_samples, top->self_samples * 8 / 10);
  ck_assert_uint_le(l->self_samples, top->self_samples);
  /* Shares add up to one over the functions, heat is in [0, 1], and the
   * map is hottest first. */
  double sum = 0;
  uint64_t prev = UINT64_MAX;
  for (size_t i = 0; i < h->nregions; i++) {
    const kiln_region *r = &h->regions[i];
    ck_assert(r->heat >= 0 && r->heat <= 1);
    if (r->loop != KILN_NO_LOOP)
      continue;
    sum += r->self_share;
    ck_assert_uint_le(r->self_samples, prev);
    prev = r->self_samples;
  }
  ck_assert_msg(sum > 0.999 && sum < 1.001, "shares sum to %f", sum);
  kiln_heatmap_free(h);
  /* Stopped: spinning on adds no samples. */
  h = kiln_instance_heatmap(inst);
  uint64_t before = h->samples;
  kiln_heatmap_free(h);
  spin(20000000);
  h = kiln_instance_heatmap(inst);
  ck_assert_uint_eq(h->samples, before);
  kiln_heatmap_free(h);
  kiln_monitor_stop(rt); /* twice is harmless */
}
END_TEST

START_TEST(test_call_edges) {
  nested(10);
  nested(3);
  /* $leaf for i % 4 != 3, $twice for the rest: 0+3+6 + 6 + 12+15+18 + 14 */
  ck_assert_int_eq(call1("dispatch", 8), 74);
  kiln_heatmap *h = kiln_instance_heatmap(inst);
  ck_assert_ptr_nonnull(h);
  const kiln_edge *direct = edge(h, "nested", "leaf");
  ck_assert_ptr_nonnull(direct);
  ck_assert_uint_eq(direct->count, 13 * 5);
  ck_assert_int_eq(direct->indirect, 0);
  /* The site's eight calls: its busiest target has them all and the
   * margin of its six over the other two; $twice its own two, no votes. */
  const kiln_edge *indirect = edge(h, "dispatch", "leaf");
  ck_assert_ptr_nonnull(indirect);
  ck_assert_uint_eq(indirect->count, 8);
  ck_assert_int_eq(indirect->indirect, 1);
  ck_assert_uint_eq(indirect->votes, 6 - 2);
  const kiln_edge *other = edge(h, "dispatch", "twice");
  ck_assert_ptr_nonnull(other);
  ck_assert_uint_eq(other->count, 2);
  ck_assert_int_eq(other->indirect, 1);
  ck_assert_uint_eq(other->site, indirect->site);
  ck_assert_uint_eq(other->votes, 0);
  /* Busiest first. */
  ck_assert_ptr_eq(&h->edges[0], direct);
  ck_assert_uint_eq(h->nedges, 3);
  ck_assert_uint_eq(h->memory_pages, 1);
  ck_assert_uint_eq(h->memory_grows, 0);
  kiln_heatmap_free(h);

  ck_assert_int_eq(call1("grow", 2), 1);
  ck_assert_int_eq(call1("grow", 70000), -1); /* past the reservation: fails, still counted */
  h = kiln_instance_heatmap(inst);
  ck_assert_uint_eq(h->memory_pages, 3);
  ck_assert_uint_eq(h->memory_grows, 2);
  kiln_heatmap_free(h);
}
END_TEST

/* The branches of function `name`, busiest first, into out[0..max). */
static size_t branches_of(const kiln_heatmap *h, const char *name, kiln_branch *out, size_t max) {
  const kiln_region *f = region(h, name, -1);
  size_t n = 0;
  for (size_t i = 0; f && i < h->nbranches && n < max; i++)
    if (h->branches[i].func == f->func)
      out[n++] = h->branches[i];
  return n;
}

START_TEST(test_branch_bias) {
  nested(10);
  nested(3);
  kiln_heatmap *h = kiln_instance_heatmap(inst);
  kiln_branch b[4];
  ck_assert_uint_eq(branches_of(h, "nested", b, 4), 2);
  /* br_if $inner (j < 5): true 4 times in 5, 13 outer iterations; then
   * br_if $done (i >= n): false 13 times, true once a call. */
  ck_assert_uint_eq(b[0].true_count, 13 * 4);
  ck_assert_uint_eq(b[0].false_count, 13);
  ck_assert_uint_eq(b[1].true_count, 2);
  ck_assert_uint_eq(b[1].false_count, 13);
  ck_assert_uint_gt(b[0].offset, b[1].offset); /* the inner loop's comes later in the body */
  kiln_heatmap_free(h);

  /* spin's loop runs two million times, but its branch counts only until
   * the millionth iteration (INTERP_COUNTED_ITERATIONS): 999,999 times. The
   * result is still right. */
  uint64_t want = 7;
  for (uint64_t n = 1; n <= 2000000; n++)
    want += n * n;
  ck_assert_uint_eq((uint64_t)spin(2000000), want);
  h = kiln_instance_heatmap(inst);
  ck_assert_uint_eq(branches_of(h, "spin", b, 4), 1);
  ck_assert_uint_eq(b[0].true_count + b[0].false_count, 999999);
  ck_assert_uint_eq(b[0].false_count, 0);
  kiln_heatmap_free(h);
}
END_TEST

START_TEST(test_free_while_sampling) {
  /* kiln_runtime_free stops the sampler itself (teardown). */
  ck_assert_int_eq(kiln_monitor_start(rt, 0), KILN_OK);
  spin(5000000);
}
END_TEST

static Suite *monitor_suite(void) {
  Suite *s = suite_create("monitor");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_exact_counts);
  tcase_add_test(tc, test_self_time_goes_to_the_busy_loop);
  tcase_add_test(tc, test_call_edges);
  tcase_add_test(tc, test_branch_bias);
  tcase_add_test(tc, test_free_while_sampling);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(monitor_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
