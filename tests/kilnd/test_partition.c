/*
 * test_partition.c: the Partitioning Engine (service/partition.c) on heat
 * maps made by hand, each example worked out in its comment. Every result
 * also goes through check_shape, which holds the rules that apply to any
 * partition: sorted, every compiled function in a job of its tier, no job
 * over the budget, jobs in payoff order.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partition.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static PartFunc fn(uint32_t func, uint64_t samples, uint32_t bytes) {
  return (PartFunc){.func = func,
                    .calls = samples,
                    .self_samples = samples,
                    .now_samples = samples,
                    .code_bytes = bytes};
}

/* A cost model with round numbers: hot 1 ms/byte, warm 0.1 ms/byte, 10 ms
 * a job. */
static PartCost round_cost(void) {
  return (PartCost){.hot_s_per_byte = 1e-3,
                    .warm_s_per_byte = 1e-4,
                    .hot_s_per_job = 0.01,
                    .warm_s_per_job = 0.01};
}

static void check_shape(const Partition *p, const PartConfig *cfg) {
  uint32_t *count = calloc(p->njobs ? p->njobs : 1, sizeof *count);
  ck_assert_ptr_nonnull(count);
  for (size_t i = 0; i < p->nfuncs; i++) {
    const PartDecision *d = &p->funcs[i];
    if (i > 0)
      ck_assert_uint_lt(p->funcs[i - 1].func, d->func);
    if (d->tier == PART_COLD) {
      ck_assert_uint_eq(d->job, PART_NO_JOB);
      continue;
    }
    ck_assert_uint_lt(d->job, p->njobs);
    ck_assert_int_eq(p->jobs[d->job].tier, d->tier);
    count[d->job]++;
    ck_assert((d->why == PART_WHY_INLINED) == (d->via != PART_NO_FUNC));
  }
  for (uint32_t j = 0; j < p->njobs; j++) {
    const PartJob *job = &p->jobs[j];
    ck_assert_uint_eq(count[j], job->nfuncs);
    ck_assert_uint_gt(job->nfuncs, 0);
    if (cfg->job_limit_s > 0)
      ck_assert_msg(job->est_s <= PART_JOB_BUDGET * cfg->job_limit_s, "job %u: %g s", j,
                    job->est_s);
    if (j > 0) { /* samples per estimated second never rises */
      const PartJob *a = &p->jobs[j - 1];
      ck_assert((double)a->self_samples * job->est_s >= (double)job->self_samples * a->est_s);
    }
  }
  free(count);
}

static Partition run(const PartFunc *f, size_t n, const PartEdge *e, size_t ne,
                     const PartConfig *cfg, const Partition *prev, const PartCost *cost) {
  PartHeatMap hm = {f, n, e, ne};
  Partition p;
  ck_assert(part_compute(&hm, cfg, prev, cost, &p));
  ck_assert_uint_eq(p.nfuncs, n);
  check_shape(&p, cfg);
  return p;
}

static const PartDecision *dec(const Partition *p, uint32_t func) {
  for (size_t i = 0; i < p->nfuncs; i++)
    if (p->funcs[i].func == func)
      return &p->funcs[i];
  ck_abort_msg("function %u not in the partition", func);
  return NULL;
}

static const char *describe(const Partition *p, uint32_t func, const PartConfig *cfg) {
  static char buf[128];
  part_describe(dec(p, func), cfg, buf, sizeof buf);
  return buf;
}

/* --- policies ---------------------------------------------------------------- */

/* share, hot 0.8 warm 0.2; self samples f:85 g:10 h:5, total 100:
 *   f: 0.85 > 0.8  -> hot
 *   g: 0.10 <= 0.2 -> cold
 *   h: 0.05 <= 0.2 -> cold */
START_TEST(test_share_hand_example) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_SHARE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(0, 85, 100), fn(1, 10, 100), fn(2, 5, 100)};
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 0)->why, PART_WHY_SHARE_HOT);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 2)->why, PART_WHY_SHARE_COLD);
  ck_assert_str_eq(describe(&p, 0, &cfg), "share 0.85 > hot 0.80");
  ck_assert_str_eq(describe(&p, 1, &cfg), "share 0.10 <= warm 0.20");
  ck_assert_uint_eq(p.njobs, 1);
  ck_assert_uint_eq(p.jobs[0].nfuncs, 1);
  part_free(&p);
}
END_TEST

/* share, hot 0.8 warm 0.2; a:50 b:30 c:15 d:5, total 100:
 *   a 0.50, b 0.30 > 0.2 -> warm (neither > 0.8); c 0.15, d 0.05 -> cold.
 * The comparisons are strict, as in the pseudocode; x:80 y:20:
 *   x: 0.8 is not > 0.8 -> warm; y: 0.2 is not > 0.2 -> cold. */
START_TEST(test_share_warm_example) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_SHARE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(0, 50, 100), fn(1, 30, 100), fn(2, 15, 100), fn(3, 5, 100)};
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->why, PART_WHY_SHARE_WARM);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 3)->tier, PART_COLD);
  ck_assert_str_eq(describe(&p, 1, &cfg), "share 0.30 > warm 0.20");
  ck_assert_uint_eq(p.njobs, 1); /* two small warm functions: one job */
  ck_assert_uint_eq(dec(&p, 0)->job, dec(&p, 1)->job);
  part_free(&p);

  PartFunc g[] = {fn(0, 80, 100), fn(1, 20, 100)};
  p = run(g, N(g), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_COLD);
  part_free(&p);
}
END_TEST

/* coverage, hot 0.80 warm 0.95; f:85 g:10 h:5, total 100. Hottest first,
 * with the time of those before each:
 *   f (0 < 80: needed for 80%) hot; g (85 < 95) warm; h (95, not < 95) cold.
 * And a:40 b:30 c:15 d:8 e:4 f:2 g:1 (100), indices 10..16 given shuffled:
 *   a (0), b (40), c (70) hot; d (85), e (93) warm; f (97), g (99) cold. */
START_TEST(test_coverage_example) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(0, 85, 100), fn(1, 10, 100), fn(2, 5, 100)};
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 0)->why, PART_WHY_COVERAGE_HOT);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->why, PART_WHY_COVERAGE_WARM);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 2)->why, PART_WHY_COVERAGE_COLD);
  ck_assert_str_eq(describe(&p, 0, &cfg), "among the fewest covering 80% of self time");
  ck_assert_str_eq(describe(&p, 2, &cfg), "outside the fewest covering 95% of self time");
  ck_assert_uint_eq(p.njobs, 2);
  part_free(&p);

  PartFunc g[] = {fn(15, 2, 100), fn(11, 30, 100), fn(13, 8, 100), fn(10, 40, 100),
                  fn(16, 1, 100), fn(14, 4, 100),  fn(12, 15, 100)};
  cfg.min_samples = 1;
  p = run(g, N(g), NULL, 0, &cfg, NULL, &cost);
  static const PartTier want[] = {PART_HOT,  PART_HOT,  PART_HOT, PART_WARM,
                                  PART_WARM, PART_COLD, PART_COLD};
  for (uint32_t i = 0; i < N(want); i++) {
    ck_assert_uint_eq(p.funcs[i].func, 10 + i);
    ck_assert_msg(p.funcs[i].tier == want[i], "function %u: tier %d", 10 + i, p.funcs[i].tier);
  }
  ck_assert_uint_eq(dec(&p, 10)->job, dec(&p, 12)->job); /* one hot package */
  ck_assert_double_eq_tol(dec(&p, 11)->share, 0.30, 1e-12);
  part_free(&p);
}
END_TEST

/* share: a lone function with 1 sample has share 1.0, yet stays cold under
 * min_samples 2. coverage a:3 b:1 (4): a covers only 75% of 80%, so b would
 * be needed, but 1 sample is below the minimum. With min_samples 1 both are
 * promoted, so it is the minimum that keeps them out. */
/* coverage, hot 0.80 warm 0.95, a live heat map: f0 runs hot, 100 samples
 * now, 400 in interpreter time; f1 and f2 are interpreted, 12 and 8.
 * Interpreter time (total 420): f0 alone covers 95.2%, so by that f1 and f2
 * would stay cold. Time now (total 120): before f1, 100 (83%), and before
 * f2, 112 (93%), both under 95%: both warm. */
START_TEST(test_coverage_warm_counts_time_now) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(0, 400, 100), fn(1, 12, 100), fn(2, 8, 100)};
  f[0].now_samples = 100, f[0].current = PART_HOT;
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->why, PART_WHY_COVERAGE_WARM);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_WARM);
  part_free(&p);
  /* The same times, all in one tier: f0 covers 95.2% and the rest stays cold. */
  f[0].now_samples = 400;
  p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_COLD);
  part_free(&p);
}
END_TEST

START_TEST(test_min_samples) {
  PartConfig cfg;
  PartCost cost;
  part_cost_default(&cost);
  part_config_default(&cfg, PART_POLICY_SHARE);
  PartFunc one[] = {fn(0, 1, 100)};
  Partition p = run(one, N(one), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 0)->why, PART_WHY_FEW_SAMPLES);
  ck_assert_str_eq(describe(&p, 0, &cfg), "too few samples (min 2)");
  ck_assert_uint_eq(p.njobs, 0);
  part_free(&p);
  cfg.min_samples = 1;
  p = run(one, N(one), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  part_free(&p);

  part_config_default(&cfg, PART_POLICY_COVERAGE);
  PartFunc two[] = {fn(0, 3, 100), fn(1, 1, 100)};
  p = run(two, N(two), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 1)->why, PART_WHY_FEW_SAMPLES);
  part_free(&p);
  cfg.min_samples = 1;
  p = run(two, N(two), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_HOT);
  part_free(&p);
}
END_TEST

/* --- hysteresis ---------------------------------------------------------------- */

/* share, hot 0.8, hysteresis 0.25 (kept hot while share > 0.6); f swings
 * between 0.82 and 0.78 against six cold functions. Each round gets the
 * last partition as prev. */
START_TEST(test_hysteresis_share_no_flap) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_SHARE);
  cfg.keep_running = false; /* hysteresis alone */
  part_cost_default(&cost);
  PartFunc up[] = {fn(0, 82, 100), fn(1, 3, 100), fn(2, 3, 100), fn(3, 3, 100),
                   fn(4, 3, 100),  fn(5, 3, 100), fn(6, 3, 100)};
  PartFunc down[] = {fn(0, 78, 100), fn(1, 4, 100), fn(2, 4, 100), fn(3, 4, 100),
                     fn(4, 4, 100),  fn(5, 4, 100), fn(6, 2, 100)};
  PartFunc fell[] = {fn(0, 55, 100), fn(1, 9, 100), fn(2, 9, 100), fn(3, 9, 100),
                     fn(4, 9, 100),  fn(5, 9, 100), fn(6, 0, 100)};

  /* Without memory it flaps: the control that makes this test mean something. */
  Partition a = run(up, N(up), NULL, 0, &cfg, NULL, &cost);
  Partition b = run(down, N(down), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&a, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&b, 0)->tier, PART_WARM);
  part_free(&a);
  part_free(&b);

  Partition prev = run(up, N(up), NULL, 0, &cfg, NULL, &cost);
  for (int round = 1; round <= 8; round++) {
    const PartFunc *f = round % 2 ? down : up;
    Partition next = run(f, N(up), NULL, 0, &cfg, &prev, &cost);
    ck_assert_msg(dec(&next, 0)->tier == PART_HOT, "round %d: tier %d", round, dec(&next, 0)->tier);
    ck_assert_int_eq(dec(&next, 0)->why, round % 2 ? PART_WHY_KEPT_HOT : PART_WHY_SHARE_HOT);
    for (uint32_t i = 1; i < N(up); i++)
      ck_assert_int_eq(dec(&next, i)->tier, PART_COLD);
    part_free(&prev);
    prev = next;
  }
  /* Falling past the band (0.55 <= 0.6) ends it: 0.55 > 0.2 is warm. */
  Partition next = run(fell, N(fell), NULL, 0, &cfg, &prev, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_WARM);
  ck_assert_int_eq(dec(&next, 0)->why, PART_WHY_SHARE_WARM);
  part_free(&next);
  part_free(&prev);

  /* PartFunc.current counts as much as prev does. */
  PartFunc cur[N(down)];
  memcpy(cur, down, sizeof cur);
  cur[0].current = PART_HOT;
  next = run(cur, N(cur), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_HOT);
  ck_assert_str_eq(describe(&next, 0, &cfg), "kept hot (hysteresis)");
  part_free(&next);

  /* Warm the same way: warm 0.2 keeps while share > 0.15. g at 0.18. */
  PartFunc w[] = {fn(0, 18, 100), fn(1, 82, 100)};
  w[0].current = PART_WARM;
  next = run(w, N(w), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_WARM);
  ck_assert_int_eq(dec(&next, 0)->why, PART_WHY_KEPT_WARM);
  part_free(&next);
  w[0].current = PART_COLD;
  next = run(w, N(w), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_COLD);
  part_free(&next);
}
END_TEST

/* coverage, hot 0.80, hysteresis 0.25: kept hot while those before cover
 * less than 0.80 + 0.20 * 0.25 = 0.85. b and c trade places:
 *   A: a:50 b:31 c:19  -> a (0), b (50) hot; c (81) warm
 *   B: a:50 c:31 b:19  -> a, c hot; b (81 < 85, was hot) kept hot
 * From B on all three stay hot. Then a:60 c:30 b:10: b at 90 is out of
 * the band, and warm (90 < 95). */
START_TEST(test_hysteresis_coverage_no_flap) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  cfg.keep_running = false; /* hysteresis alone */
  part_cost_default(&cost);
  PartFunc ra[] = {fn(0, 50, 100), fn(1, 31, 100), fn(2, 19, 100)};
  PartFunc rb[] = {fn(0, 50, 100), fn(1, 19, 100), fn(2, 31, 100)};
  PartFunc out[] = {fn(0, 60, 100), fn(1, 10, 100), fn(2, 30, 100)};

  Partition a = run(ra, N(ra), NULL, 0, &cfg, NULL, &cost);
  Partition b = run(rb, N(rb), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&a, 1)->tier, PART_HOT);
  ck_assert_int_eq(dec(&a, 2)->tier, PART_WARM);
  ck_assert_int_eq(dec(&b, 1)->tier, PART_WARM); /* the flap, without memory */
  ck_assert_int_eq(dec(&b, 2)->tier, PART_HOT);
  part_free(&b);

  Partition prev = a;
  for (int round = 1; round <= 8; round++) {
    const PartFunc *f = round % 2 ? rb : ra;
    Partition next = run(f, N(ra), NULL, 0, &cfg, &prev, &cost);
    for (uint32_t i = 0; i < 3; i++)
      ck_assert_msg(dec(&next, i)->tier == PART_HOT, "round %d: function %u tier %d", round, i,
                    dec(&next, i)->tier);
    ck_assert_int_eq(dec(&next, round % 2 ? 1 : 2)->why, PART_WHY_KEPT_HOT);
    ck_assert_uint_eq(next.njobs, 1);
    part_free(&prev);
    prev = next;
  }
  Partition next = run(out, N(out), NULL, 0, &cfg, &prev, &cost);
  ck_assert_int_eq(dec(&next, 1)->tier, PART_WARM);
  ck_assert_int_eq(dec(&next, 1)->why, PART_WHY_COVERAGE_WARM);
  part_free(&next);
  part_free(&prev);
}
END_TEST

/* --- inlining ------------------------------------------------------------------- */

/* coverage; main (0) is hot with 90 of 102 samples. Its callees:
 *   1: 40 bytes, all 1000 calls from main          -> joins, via main
 *   2: 16 bytes, all 800 calls from 1               -> joins next round, via 1
 *   3: 4000 bytes (> 128), 500 calls from main      -> too big, cold
 *   4: 30 bytes, 300 of 1000 calls from main (0.3 < 0.5), 700 from 5 (warm) -> cold
 * 1, 3, 4 have 1 sample each: min_samples does not hold back inlining. */
/* keep_running: a hot function whose share fell keeps its tier while it
 * has samples, and goes down once it has none. */
START_TEST(test_keep_while_running) {
  PartConfig cfg;
  part_config_default(&cfg, PART_POLICY_SHARE);
  PartCost cost = round_cost();
  PartFunc hot[] = {fn(0, 90, 100), fn(1, 10, 100)};
  Partition prev = run(hot, N(hot), NULL, 0, &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&prev, 0)->tier, PART_HOT);
  /* Compiled, it got fast: 10 of 100 samples now. */
  PartFunc faster[] = {fn(0, 10, 100), fn(1, 90, 100)};
  faster[0].current = PART_HOT;
  Partition next = run(faster, N(faster), NULL, 0, &cfg, &prev, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&next, 0)->why, PART_WHY_STILL_RUNS_HOT);
  ck_assert_str_eq(describe(&next, 0, &cfg), "kept hot: still runs");
  part_free(&next);
  /* Stopped: no samples, and it goes (below min_samples). */
  PartFunc stopped[] = {fn(0, 1, 100), fn(1, 99, 100)};
  stopped[0].current = PART_HOT;
  next = run(stopped, N(stopped), NULL, 0, &cfg, &prev, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_COLD);
  part_free(&next);
  /* Without the rule, share decides: 0.1 is cold. */
  cfg.keep_running = false;
  next = run(faster, N(faster), NULL, 0, &cfg, &prev, &cost);
  ck_assert_int_eq(dec(&next, 0)->tier, PART_COLD);
  part_free(&next);
  part_free(&prev);
}
END_TEST

START_TEST(test_inlining) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(0, 90, 5000), fn(1, 1, 40), fn(2, 0, 16),
                  fn(3, 1, 4000),  fn(4, 1, 30), fn(5, 9, 500)};
  f[1].calls = 1000, f[2].calls = 800, f[3].calls = 500, f[4].calls = 1000;
  PartEdge e[] = {{0, 1, 1000}, {1, 2, 800}, {0, 3, 500}, {0, 4, 300}, {5, 4, 700}, {0, 0, 99}};
  Partition p = run(f, N(f), e, N(e), &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 5)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 1)->why, PART_WHY_INLINED);
  ck_assert_uint_eq(dec(&p, 1)->via, 0);
  ck_assert_str_eq(describe(&p, 1, &cfg), "inlined into hot caller 0");
  ck_assert_int_eq(dec(&p, 2)->tier, PART_HOT);
  ck_assert_uint_eq(dec(&p, 2)->via, 1);
  ck_assert_uint_eq(dec(&p, 1)->job, dec(&p, 0)->job);
  ck_assert_uint_eq(dec(&p, 2)->job, dec(&p, 0)->job);
  ck_assert_int_eq(dec(&p, 3)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 4)->tier, PART_COLD);
  ck_assert_uint_eq(dec(&p, 0)->via, PART_NO_FUNC);
  part_free(&p);

  /* 4 at 400 of 1000 from main: short of 0.5, but inside the hysteresis
   * band (0.5 * 0.75 = 0.375) when it is hot already. */
  e[3].count = 400, e[4].count = 600;
  p = run(f, N(f), e, N(e), &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 4)->tier, PART_COLD);
  part_free(&p);
  f[4].current = PART_HOT;
  p = run(f, N(f), e, N(e), &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 4)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 4)->why, PART_WHY_INLINED);
  part_free(&p);

  /* Two hot callers with equal edges: via is the lower index, whatever
   * order the edges come in. */
  part_config_default(&cfg, PART_POLICY_SHARE);
  cfg.hot = 0.3;
  PartFunc two[] = {fn(0, 45, 500), fn(1, 45, 500), fn(2, 0, 20)};
  two[2].calls = 20;
  PartEdge tie[] = {{1, 2, 10}, {0, 2, 10}};
  p = run(two, N(two), tie, N(tie), &cfg, NULL, &cost);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_HOT);
  ck_assert_uint_eq(dec(&p, 2)->via, 0);
  part_free(&p);
}
END_TEST

/* --- compile cost and jobs -------------------------------------------------------- */

/* share with hot 0 (every sampled function is hot), round_cost, limit 10 s:
 * budget 5 s, a function over 2.5 s gets its own job. Hot estimates:
 *   0: 100 B   0.11 s   \ one job
 *   1: 200 B   0.21 s   /
 *   2: 3000 B  3.01 s   its own job
 *   3: 6000 B  6.01 s   over 5: warm first (warm 0.61 s)
 *   4: 60000 B 60.01 s  warm 6.01 s, over 5 too: cold
 * Payoff (samples per estimated second): {0,1} 20/0.31, {3} 10/0.61,
 * {2} 10/3.01, so that is the order. */
START_TEST(test_huge_alone_warm_first) {
  PartConfig cfg;
  part_config_default(&cfg, PART_POLICY_SHARE);
  cfg.hot = 0, cfg.warm = 0, cfg.job_limit_s = 10;
  cfg.alone_s = 0; /* alone: over half the budget */
  PartCost cost = round_cost();
  PartFunc f[] = {fn(0, 10, 100), fn(1, 10, 200), fn(2, 10, 3000), fn(3, 10, 6000),
                  fn(4, 10, 60000)};
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 3);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 1)->tier, PART_HOT);
  ck_assert_int_eq(dec(&p, 2)->tier, PART_HOT);
  ck_assert_uint_eq(dec(&p, 0)->job, 0);
  ck_assert_uint_eq(dec(&p, 1)->job, 0);
  ck_assert_uint_eq(dec(&p, 3)->job, 1);
  ck_assert_uint_eq(dec(&p, 2)->job, 2);
  ck_assert_uint_eq(p.jobs[2].nfuncs, 1);
  ck_assert_double_eq_tol(p.jobs[0].est_s, 0.31, 1e-9);
  ck_assert_double_eq_tol(p.jobs[2].est_s, 3.01, 1e-9);
  ck_assert_int_eq(dec(&p, 3)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 3)->why, PART_WHY_TOO_COSTLY_HOT);
  ck_assert_str_eq(describe(&p, 3, &cfg), "too costly for hot: warm first");
  ck_assert_int_eq(dec(&p, 4)->tier, PART_COLD);
  ck_assert_int_eq(dec(&p, 4)->why, PART_WHY_TOO_COSTLY);
  ck_assert_uint_eq(dec(&p, 4)->job, PART_NO_JOB);
  part_free(&p);

  /* No limit: everything hot, in one job. */
  cfg.job_limit_s = 0;
  p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 1);
  ck_assert_uint_eq(p.jobs[0].nfuncs, N(f));
  part_free(&p);

  /* alone_s 0.5 (the default): function 2 (3.01 s) alone, and 1 (0.21 s)
   * still with 0, whatever the budget. */
  cfg.job_limit_s = 60, cfg.alone_s = 0.5;
  p = run(f, 3, NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 2);
  ck_assert_uint_eq(dec(&p, 0)->job, dec(&p, 1)->job);
  ck_assert_uint_ne(dec(&p, 2)->job, dec(&p, 0)->job);
  ck_assert_uint_eq(p.jobs[dec(&p, 2)->job].nfuncs, 1);
  part_free(&p);
}
END_TEST

/* round_cost, limit 10 s (budget 5 s). 20 functions of 1000 bytes:
 *   warm, 0.1 s each: 0.01 + 20 * 0.1 = 2.01 s, one job;
 *   warm at 10x the cost (1 s each): four a job (4.01 s; five would be
 *   5.01), so five jobs;
 *   hot, 1 s each (under 2.5, so packed): five jobs of four, hottest four
 *   together. */
START_TEST(test_job_splitting) {
  PartConfig cfg;
  part_config_default(&cfg, PART_POLICY_SHARE);
  cfg.hot = 1, cfg.warm = 0, cfg.job_limit_s = 10; /* nothing > 1: all warm */
  cfg.alone_s = 0; /* alone: over half the budget */
  PartCost cost = round_cost();
  PartFunc f[20];
  for (uint32_t i = 0; i < N(f); i++)
    f[i] = fn(i, 100 - i, 1000); /* 0 hottest */
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 1);
  ck_assert_double_eq_tol(p.jobs[0].est_s, 2.01, 1e-9);
  part_free(&p);

  cost.warm_s_per_byte = 1e-3;
  p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 5);
  double est[5] = {0};
  for (size_t i = 0; i < p.nfuncs; i++) {
    ck_assert_int_eq(p.funcs[i].tier, PART_WARM);
    est[p.funcs[i].job] += 1.0;
  }
  for (uint32_t j = 0; j < 5; j++) {
    ck_assert_uint_eq(p.jobs[j].nfuncs, 4);
    ck_assert_double_eq_tol(p.jobs[j].est_s, 0.01 + est[j], 1e-9); /* from its members */
  }
  part_free(&p);

  cfg.hot = 0;
  p = run(f, N(f), NULL, 0, &cfg, NULL, &cost);
  ck_assert_uint_eq(p.njobs, 5);
  for (uint32_t i = 0; i < 4; i++) {
    ck_assert_int_eq(p.funcs[i].tier, PART_HOT);
    ck_assert_uint_eq(p.funcs[i].job, 0);
  }
  ck_assert_uint_eq(p.funcs[4].job, 1);
  part_free(&p);
}
END_TEST

/* --- edges of the input -------------------------------------------------------------- */

START_TEST(test_empty_heat_map) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&cost);
  PartHeatMap hm = {0};
  Partition p;
  ck_assert(part_compute(&hm, &cfg, NULL, &cost, &p));
  ck_assert_uint_eq(p.nfuncs, 0);
  ck_assert_uint_eq(p.njobs, 0);
  ck_assert_ptr_null(p.funcs);
  ck_assert_ptr_null(p.jobs);
  Partition again;
  ck_assert(part_compute(&hm, &cfg, &p, &cost, &again)); /* an empty prev too */
  part_free(&again);
  part_free(&p);
  part_free(&p); /* twice is harmless */
}
END_TEST

START_TEST(test_all_zero_samples) {
  PartCost cost;
  part_cost_default(&cost);
  for (int pol = PART_POLICY_COVERAGE; pol <= PART_POLICY_SHARE; pol++) {
    PartConfig cfg;
    part_config_default(&cfg, (PartPolicy)pol);
    PartFunc f[] = {fn(0, 0, 100), fn(1, 0, 10), fn(2, 0, 50)};
    f[1].current = PART_HOT; /* hysteresis keeps nothing without samples */
    f[1].calls = 5;
    PartEdge e[] = {{0, 1, 5}};
    Partition p = run(f, N(f), e, N(e), &cfg, NULL, &cost);
    for (size_t i = 0; i < N(f); i++) {
      ck_assert_int_eq(p.funcs[i].tier, PART_COLD);
      ck_assert_int_eq(p.funcs[i].why, PART_WHY_NO_SAMPLES);
      ck_assert(p.funcs[i].share == 0);
    }
    ck_assert_uint_eq(p.njobs, 0);
    ck_assert_str_eq(describe(&p, 0, &cfg), "no samples");
    part_free(&p);
  }
}
END_TEST

START_TEST(test_invalid_input) {
  PartConfig cfg;
  PartCost cost;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&cost);
  PartFunc f[] = {fn(3, 10, 100), fn(7, 5, 100), fn(3, 1, 100)};
  PartHeatMap hm = {f, N(f), NULL, 0};
  Partition p;
  ck_assert(!part_compute(&hm, &cfg, NULL, &cost, &p)); /* 3 twice */
  ck_assert_ptr_null(p.funcs);
  ck_assert_uint_eq(p.nfuncs, 0);
  hm.nfuncs = 2;
  ck_assert(part_compute(&hm, &cfg, NULL, &cost, &p));
  part_free(&p);

  PartConfig bad = cfg;
  bad.hot = 1.5;
  ck_assert(!part_compute(&hm, &bad, NULL, &cost, &p));
  bad = cfg, bad.hysteresis = NAN;
  ck_assert(!part_compute(&hm, &bad, NULL, &cost, &p));
  bad = cfg, bad.job_limit_s = -1;
  ck_assert(!part_compute(&hm, &bad, NULL, &cost, &p));
  bad = cfg, bad.policy = (PartPolicy)9;
  ck_assert(!part_compute(&hm, &bad, NULL, &cost, &p));
  PartCost badc = cost;
  badc.hot_s_per_byte = -1;
  ck_assert(!part_compute(&hm, &cfg, NULL, &badc, &p));
  f[0].current = (PartTier)7;
  ck_assert(!part_compute(&hm, &cfg, NULL, &cost, &p));
  f[0].current = PART_COLD;
  hm.edges = NULL, hm.nedges = 1;
  ck_assert(!part_compute(&hm, &cfg, NULL, &cost, &p));
  /* Edges naming unknown functions are ignored, not an error. */
  PartEdge e[] = {{3, 99, 10}, {99, 7, 10}};
  hm.edges = e, hm.nedges = N(e);
  ck_assert(part_compute(&hm, &cfg, NULL, &cost, &p));
  part_free(&p);
}
END_TEST

/* --- cost model ---------------------------------------------------------------------- */

START_TEST(test_cost_calibration) {
  PartCost c;
  part_cost_default(&c);
  double hot0 = c.hot_s_per_byte, warm0 = c.warm_s_per_byte;
  ck_assert_double_eq_tol(part_cost_estimate(&c, PART_HOT, 10000), 0.017 + 10000 * hot0, 1e-12);
  ck_assert(part_cost_estimate(&c, PART_COLD, 10000) == 0);

  /* 10000 bytes hot in 2.017 s: 2e-4 s/byte once the context is taken off. */
  part_cost_observe(&c, PART_HOT, 10000, 2.017);
  ck_assert(c.hot_s_per_byte > hot0 && c.hot_s_per_byte < 2e-4);
  ck_assert(c.warm_s_per_byte == warm0);
  for (int i = 0; i < 40; i++)
    part_cost_observe(&c, PART_HOT, 10000, 2.017);
  ck_assert_double_eq_tol(c.hot_s_per_byte, 2e-4, 2e-6);
  ck_assert_double_eq_tol(part_cost_estimate(&c, PART_HOT, 10000), 2.017, 0.02);

  /* Faster than expected moves it down, never below zero. */
  part_cost_observe(&c, PART_WARM, 10000, 0.001);
  ck_assert(c.warm_s_per_byte < warm0 && c.warm_s_per_byte >= 0);

  /* Meaningless measures change nothing. */
  PartCost before = c;
  part_cost_observe(&c, PART_HOT, 0, 5);
  part_cost_observe(&c, PART_HOT, 100, NAN);
  part_cost_observe(&c, PART_HOT, 100, -1);
  part_cost_observe(&c, PART_HOT, 100, INFINITY);
  part_cost_observe(&c, PART_COLD, 100, 5);
  ck_assert(memcmp(&c, &before, sizeof c) == 0);

  /* And it changes decisions: 100 KB estimated at 5 s goes hot; once hot
   * compiles of it are seen taking 40 s, it is too costly for the 30 s
   * budget of a 60 s limit, and goes warm first. */
  PartConfig cfg;
  part_config_default(&cfg, PART_POLICY_COVERAGE);
  part_cost_default(&c);
  PartFunc f[] = {fn(0, 100, 100000)};
  Partition p = run(f, N(f), NULL, 0, &cfg, NULL, &c);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_HOT);
  part_free(&p);
  for (int i = 0; i < 20; i++)
    part_cost_observe(&c, PART_HOT, 100000, 40);
  p = run(f, N(f), NULL, 0, &cfg, NULL, &c);
  ck_assert_int_eq(dec(&p, 0)->tier, PART_WARM);
  ck_assert_int_eq(dec(&p, 0)->why, PART_WHY_TOO_COSTLY_HOT);
  part_free(&p);
}
END_TEST

/* The defaults against the measured facts: a 1.2 MB program does not fit
 * one 60 s job hot (SQLite ran past it), and 100 small functions at -O3 in
 * one context come to about the 610 ms measured. */
START_TEST(test_cost_defaults) {
  PartCost c;
  part_cost_default(&c);
  ck_assert(part_cost_estimate(&c, PART_HOT, 1200000) > 54);
  ck_assert(part_cost_estimate(&c, PART_WARM, 1200000) > 30);
  double small = part_cost_estimate(&c, PART_HOT, 100 * 120);
  ck_assert_msg(small > 0.4 && small < 0.8, "%g", small);
}
END_TEST

/* --- determinism ---------------------------------------------------------------------- */

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

static void same(const Partition *a, const Partition *b) {
  ck_assert_uint_eq(a->nfuncs, b->nfuncs);
  ck_assert_uint_eq(a->njobs, b->njobs);
  for (size_t i = 0; i < a->nfuncs; i++) {
    const PartDecision *x = &a->funcs[i], *y = &b->funcs[i];
    ck_assert(x->func == y->func && x->tier == y->tier && x->why == y->why && x->job == y->job &&
              x->via == y->via && x->share == y->share);
  }
  for (uint32_t j = 0; j < a->njobs; j++) {
    const PartJob *x = &a->jobs[j], *y = &b->jobs[j];
    ck_assert(x->tier == y->tier && x->nfuncs == y->nfuncs && x->self_samples == y->self_samples &&
              x->code_bytes == y->code_bytes && x->est_s == y->est_s);
  }
}

/* 300 functions with many equal sample counts (ties everywhere), 900 edges,
 * and a cost that forces several jobs: the same partition every time, and
 * whatever order the functions and edges come in. */
START_TEST(test_determinism) {
  enum { NF = 300, NE = 900 };
  static PartFunc f[NF], g[NF];
  static PartEdge e[NE], h[NE];
  uint32_t s = 12345;
  for (uint32_t i = 0; i < NF; i++) { /* the first 30 run most, every fourth is small */
    f[i] = fn(i * 3, i < 30 ? lcg(&s) % 400 : lcg(&s) % 6, 10 + lcg(&s) % (i % 4 ? 3000 : 90));
    f[i].calls = lcg(&s) % 2000;
    f[i].current = (PartTier)(lcg(&s) % 3);
  }
  for (uint32_t i = 0; i < NE; i++) /* half the calls from the busy ones */
    e[i] = (PartEdge){(lcg(&s) % (i % 2 ? NF : 30)) * 3, (lcg(&s) % NF) * 3, lcg(&s) % 2000};
  memcpy(g, f, sizeof g);
  memcpy(h, e, sizeof h);
  for (uint32_t i = NF - 1; i > 0; i--) { /* Fisher-Yates */
    uint32_t k = lcg(&s) % (i + 1);
    PartFunc t = g[i];
    g[i] = g[k], g[k] = t;
  }
  for (uint32_t i = NE - 1; i > 0; i--) {
    uint32_t k = lcg(&s) % (i + 1);
    PartEdge t = h[i];
    h[i] = h[k], h[k] = t;
  }
  PartCost cost = round_cost();
  for (int pol = PART_POLICY_COVERAGE; pol <= PART_POLICY_SHARE; pol++) {
    PartConfig cfg;
    part_config_default(&cfg, (PartPolicy)pol);
    if (pol == PART_POLICY_SHARE)
      cfg.hot = 0.01, cfg.warm = 0.001;
    else
      cfg.warm = 0.99;
    cfg.job_limit_s = 8;
    Partition a = run(f, NF, e, NE, &cfg, NULL, &cost);
    Partition b = run(f, NF, e, NE, &cfg, NULL, &cost);
    Partition c = run(g, NF, h, NE, &cfg, NULL, &cost);
    same(&a, &b);
    same(&a, &c);
    ck_assert_uint_gt(a.njobs, 2);
    size_t inlined = 0, tiers[3] = {0};
    for (size_t i = 0; i < a.nfuncs; i++)
      inlined += a.funcs[i].why == PART_WHY_INLINED, tiers[a.funcs[i].tier]++;
    ck_assert_msg(tiers[PART_HOT] && tiers[PART_WARM] && tiers[PART_COLD] && inlined,
                  "policy %d: hot %zu warm %zu cold %zu inlined %zu", pol, tiers[PART_HOT],
                  tiers[PART_WARM], tiers[PART_COLD], inlined);
    Partition d = run(g, NF, h, NE, &cfg, &a, &cost); /* and with a prev */
    Partition d2 = run(f, NF, e, NE, &cfg, &a, &cost);
    same(&d, &d2);
    part_free(&a), part_free(&b), part_free(&c), part_free(&d), part_free(&d2);
  }
}
END_TEST

START_TEST(test_reason_text) {
  for (int i = PART_WHY_NO_SAMPLES; i <= PART_WHY_TOO_COSTLY; i++) {
    const char *t = part_reason_text((PartReason)i);
    ck_assert(t[0] != '\0' && strcmp(t, "unknown") != 0);
    for (int k = PART_WHY_NO_SAMPLES; k < i; k++)
      ck_assert_str_ne(t, part_reason_text((PartReason)k));
  }
  ck_assert_str_eq(part_reason_text((PartReason)99), "unknown");
}
END_TEST

static Suite *partition_suite(void) {
  Suite *s = suite_create("partition");
  TCase *tc = tcase_create("part_compute");
  tcase_add_test(tc, test_share_hand_example);
  tcase_add_test(tc, test_share_warm_example);
  tcase_add_test(tc, test_coverage_example);
  tcase_add_test(tc, test_coverage_warm_counts_time_now);
  tcase_add_test(tc, test_min_samples);
  tcase_add_test(tc, test_hysteresis_share_no_flap);
  tcase_add_test(tc, test_hysteresis_coverage_no_flap);
  tcase_add_test(tc, test_keep_while_running);
  tcase_add_test(tc, test_inlining);
  tcase_add_test(tc, test_huge_alone_warm_first);
  tcase_add_test(tc, test_job_splitting);
  tcase_add_test(tc, test_empty_heat_map);
  tcase_add_test(tc, test_all_zero_samples);
  tcase_add_test(tc, test_invalid_input);
  tcase_add_test(tc, test_cost_calibration);
  tcase_add_test(tc, test_cost_defaults);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_reason_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(partition_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
