/*
 * partition.c: the Partitioning Engine (the rules are in partition.h).
 *
 * part_compute runs in five passes over one work array sorted by function
 * index: tiers by the policy (with hysteresis), demotions by compile cost,
 * inlining to a fixed point, packing into jobs, ordering the jobs. Every
 * sort ends its ties on the function index, so the result depends only on
 * the heat map's contents, never on its order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partition.h"

/* Share of an EMA step given to a new measure: a few compiles move the
 * estimate most of the way, one outlier does not. */
#define COST_ALPHA 0.25

/* Coverage sums are exact integers compared with fractions of them; this
 * keeps 0.95 * 100 from reading as 94.999... */
#define COVER_EPS 1e-9

/* Derived from the measured facts (PRODUCT.md): a libgccjit context costs
 * ~17 ms; 1.2 MB of QuickJS took 36 s at -O1 (3.0e-5 s/byte) and 54 s at
 * -O3 (4.5e-5), SQLite's 1.2 MB at -O3 ran past 60 s (over 5.0e-5); 100
 * small functions at -O3 took 610 ms, ~6 ms each, which at 5.0e-5 is 120
 * bytes a function, a plausible size. Hot takes the worse of the large
 * programs, so a job estimated within the limit does not run into it. */
void part_cost_default(PartCost *c) {
  c->hot_s_per_byte = 5.0e-5;
  c->warm_s_per_byte = 3.0e-5;
  c->hot_s_per_job = 0.017;
  c->warm_s_per_job = 0.017;
}

double part_cost_estimate(const PartCost *c, PartTier tier, uint64_t bytes) {
  if (tier == PART_HOT)
    return c->hot_s_per_job + (double)bytes * c->hot_s_per_byte;
  if (tier == PART_WARM)
    return c->warm_s_per_job + (double)bytes * c->warm_s_per_byte;
  return 0;
}

void part_cost_observe(PartCost *c, PartTier tier, uint64_t bytes, double seconds) {
  if ((tier != PART_HOT && tier != PART_WARM) || bytes == 0 || !isfinite(seconds) || seconds < 0)
    return;
  double *per_byte = tier == PART_HOT ? &c->hot_s_per_byte : &c->warm_s_per_byte;
  double per_job = tier == PART_HOT ? c->hot_s_per_job : c->warm_s_per_job;
  double seen = (seconds - per_job) / (double)bytes;
  if (seen < 0)
    seen = 0; /* faster than a context costs: all of it was the context */
  *per_byte += COST_ALPHA * (seen - *per_byte);
}

void part_config_default(PartConfig *c, PartPolicy policy) {
  memset(c, 0, sizeof *c);
  c->policy = policy;
  if (policy == PART_POLICY_SHARE) {
    c->hot = 0.8;
    c->warm = 0.2;
  } else {
    c->hot = 0.80;
    c->warm = 0.95;
  }
  c->hysteresis = 0.25;
  c->inline_max_bytes = 128;
  c->inline_min_edge_share = 0.5;
  c->min_samples = 2;
  c->job_limit_s = 60;
  c->alone_s = 0.5;
  c->keep_running = true;
}

const char *part_policy_name(PartPolicy policy) {
  return policy == PART_POLICY_SHARE ? "share" : "coverage";
}

bool part_policy_parse(const char *name, PartPolicy *policy) {
  if (strcmp(name, "coverage") == 0)
    *policy = PART_POLICY_COVERAGE;
  else if (strcmp(name, "share") == 0)
    *policy = PART_POLICY_SHARE;
  else
    return false;
  return true;
}

int part_config_check(const PartConfig *c, char *err, size_t size) {
  double hot = c->hot * 100, warm = c->warm * 100;
  if (!(c->hot > 0 && c->hot <= 1) || !(c->warm > 0 && c->warm <= 1))
    snprintf(err, size, "thresholds must be from 1%% to 100%% (hot %.0f%%, warm %.0f%%)", hot,
             warm);
  else if (c->policy == PART_POLICY_COVERAGE && c->warm < c->hot)
    snprintf(err, size,
             "for policy coverage, warm (%.0f%%) must be at least hot (%.0f%%): warm is the "
             "larger share of self time covered",
             warm, hot);
  else if (c->policy == PART_POLICY_SHARE && c->warm >= c->hot)
    snprintf(err, size,
             "for policy share, warm (%.0f%%) must be below hot (%.0f%%): warm is the lower bar",
             warm, hot);
  else
    return 0;
  return -1;
}

static const char *const reason_text[] = {
    [PART_WHY_NO_SAMPLES] = "no samples",
    [PART_WHY_FEW_SAMPLES] = "too few samples",
    [PART_WHY_COVERAGE_HOT] = "among the fewest covering the hot share of self time",
    [PART_WHY_COVERAGE_WARM] = "among the fewest covering the warm share of self time",
    [PART_WHY_COVERAGE_COLD] = "outside the warm share of self time",
    [PART_WHY_SHARE_HOT] = "share above hot",
    [PART_WHY_SHARE_WARM] = "share above warm",
    [PART_WHY_SHARE_COLD] = "share at most warm",
    [PART_WHY_KEPT_HOT] = "kept hot (hysteresis)",
    [PART_WHY_KEPT_WARM] = "kept warm (hysteresis)",
    [PART_WHY_STILL_RUNS_HOT] = "kept hot: still runs",
    [PART_WHY_STILL_RUNS_WARM] = "kept warm: still runs",
    [PART_WHY_INLINED] = "inlined into a hot caller",
    [PART_WHY_TOO_COSTLY_HOT] = "too costly for hot: warm first",
    [PART_WHY_TOO_COSTLY] = "too costly to compile: stays cold",
};

const char *part_reason_text(PartReason why) {
  if ((unsigned)why >= sizeof reason_text / sizeof reason_text[0])
    return "unknown";
  return reason_text[why];
}

int part_describe(const PartDecision *d, const PartConfig *cfg, char *buf, size_t size) {
  switch (d->why) {
  case PART_WHY_FEW_SAMPLES:
    return snprintf(buf, size, "too few samples (min %u)", (unsigned)cfg->min_samples);
  case PART_WHY_COVERAGE_HOT:
    return snprintf(buf, size, "among the fewest covering %g%% of self time", cfg->hot * 100);
  case PART_WHY_COVERAGE_WARM:
    return snprintf(buf, size, "among the fewest covering %g%% of self time", cfg->warm * 100);
  case PART_WHY_COVERAGE_COLD:
    return snprintf(buf, size, "outside the fewest covering %g%% of self time", cfg->warm * 100);
  case PART_WHY_SHARE_HOT:
    return snprintf(buf, size, "share %.2f > hot %.2f", d->share, cfg->hot);
  case PART_WHY_SHARE_WARM:
    return snprintf(buf, size, "share %.2f > warm %.2f", d->share, cfg->warm);
  case PART_WHY_SHARE_COLD:
    return snprintf(buf, size, "share %.2f <= warm %.2f", d->share, cfg->warm);
  case PART_WHY_INLINED:
    return snprintf(buf, size, "inlined into hot caller %u", (unsigned)d->via);
  default:
    return snprintf(buf, size, "%s", part_reason_text(d->why));
  }
}

void part_free(Partition *p) {
  free(p->funcs);
  free(p->jobs);
  memset(p, 0, sizeof *p);
}

/* --- part_compute ----------------------------------------------------------- */

typedef struct {
  const PartFunc *f;
  PartTier was; /* the tier it has now: the higher of prev's and f->current */
  PartTier tier;
  PartReason why;
  size_t via; /* index in the work array of the caller it was inlined into */
  uint32_t job;
  double share;
} Work;

typedef struct {
  PartTier tier;
  bool alone; /* a huge hot function's own job: others are not packed in */
  uint32_t nfuncs, first; /* first: lowest function index, for ties */
  uint64_t samples, bytes;
  double est;
  uint32_t rank; /* its number once ordered */
} Job;

static int by_func(const void *a, const void *b) {
  uint32_t x = (*(const PartFunc *const *)a)->func, y = (*(const PartFunc *const *)b)->func;
  return (x > y) - (x < y);
}

/* Hottest first; ties by function index. */
static int by_heat(const void *a, const void *b) {
  const Work *x = *(const Work *const *)a, *y = *(const Work *const *)b;
  if (x->f->self_samples != y->f->self_samples)
    return x->f->self_samples < y->f->self_samples ? 1 : -1;
  return (x->f->func > y->f->func) - (x->f->func < y->f->func);
}

/* Most self time per estimated second first (x/ex > y/ey, cross-multiplied
 * so a zero estimate divides nothing), then hot, smaller, lower index. */
static int by_payoff(const void *a, const void *b) {
  const Job *x = *(const Job *const *)a, *y = *(const Job *const *)b;
  double px = (double)x->samples * y->est, py = (double)y->samples * x->est;
  if (px != py)
    return px < py ? 1 : -1;
  if (x->tier != y->tier)
    return x->tier < y->tier ? 1 : -1;
  if (x->est != y->est)
    return x->est > y->est ? 1 : -1;
  return (x->first > y->first) - (x->first < y->first);
}

static size_t find_work(const Work *w, size_t n, uint32_t func) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w[mid].f->func < func)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && w[lo].f->func == func ? lo : SIZE_MAX;
}

PartTier part_tier_of(const Partition *p, uint32_t func) {
  size_t lo = 0, hi = p->nfuncs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->funcs[mid].func < func)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < p->nfuncs && p->funcs[lo].func == func ? p->funcs[lo].tier : PART_COLD;
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a + b < a ? UINT64_MAX : a + b;
}

static bool fraction(double x) {
  return x >= 0 && x <= 1; /* false for NaN */
}

static bool config_ok(const PartConfig *c) {
  return (c->policy == PART_POLICY_COVERAGE || c->policy == PART_POLICY_SHARE) &&
         fraction(c->hot) && fraction(c->warm) && fraction(c->hysteresis) &&
         fraction(c->inline_min_edge_share) && c->job_limit_s >= 0;
}

static bool cost_ok(const PartCost *c) {
  const double v[] = {c->hot_s_per_byte, c->warm_s_per_byte, c->hot_s_per_job, c->warm_s_per_job};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (!isfinite(v[i]) || v[i] < 0)
      return false;
  return true;
}

/* Pass 1, coverage: walks the functions hottest first, with `cum` the self
 * time of those before; a function is needed for a coverage c while they
 * cover less than c of the total. Functions under min_samples come last in
 * this order, so they never count toward what the others need. Hot counts
 * self_samples (interpreter time), warm now_samples (the time as it runs
 * now): once the hot set runs 4x faster, weighting it up would make the
 * rest look like a few percent when it takes a tenth of the time, and
 * leave functions of several percent each interpreted. */
static void tier_by_coverage(Work **heat, size_t n, uint64_t total, uint64_t total_now,
                             const PartConfig *cfg) {
  double t = (double)total, eps = COVER_EPS * t, h = cfg->hysteresis;
  double hot = cfg->hot * t - eps;
  double hot_kept = (cfg->hot + (1 - cfg->hot) * h) * t - eps;
  double tn = (double)total_now, eps_now = COVER_EPS * tn;
  double warm = cfg->warm * tn - eps_now;
  double warm_kept = (cfg->warm + (1 - cfg->warm) * h) * tn - eps_now;
  uint64_t cum = 0, cum_now = 0;
  for (size_t i = 0; i < n; i++) {
    Work *w = heat[i];
    double before = (double)cum, before_now = (double)cum_now;
    if (w->f->self_samples == 0 || w->f->self_samples < cfg->min_samples)
      continue; /* cold already */
    cum = sat_add(cum, w->f->self_samples);
    cum_now = sat_add(cum_now, w->f->now_samples);
    if (before < hot)
      w->tier = PART_HOT, w->why = PART_WHY_COVERAGE_HOT;
    else if (w->was == PART_HOT && before < hot_kept)
      w->tier = PART_HOT, w->why = PART_WHY_KEPT_HOT;
    else if (before_now < warm)
      w->tier = PART_WARM, w->why = PART_WHY_COVERAGE_WARM;
    else if (w->was >= PART_WARM && before_now < warm_kept)
      w->tier = PART_WARM, w->why = PART_WHY_KEPT_WARM;
    else
      w->why = PART_WHY_COVERAGE_COLD;
  }
}

/* Pass 1, share: the concept's pseudocode, strict comparisons as there. */
static void tier_by_share(Work *w, size_t n, const PartConfig *cfg) {
  double keep = 1 - cfg->hysteresis;
  for (size_t i = 0; i < n; i++, w++) {
    if (w->f->self_samples == 0 || w->f->self_samples < cfg->min_samples)
      continue;
    if (w->share > cfg->hot)
      w->tier = PART_HOT, w->why = PART_WHY_SHARE_HOT;
    else if (w->was == PART_HOT && w->share > cfg->hot * keep)
      w->tier = PART_HOT, w->why = PART_WHY_KEPT_HOT;
    else if (w->share > cfg->warm)
      w->tier = PART_WARM, w->why = PART_WHY_SHARE_WARM;
    else if (w->was >= PART_WARM && w->share > cfg->warm * keep)
      w->tier = PART_WARM, w->why = PART_WHY_KEPT_WARM;
    else
      w->why = PART_WHY_SHARE_COLD;
  }
}

/* Pass 3: small callees join their hot callers, round by round (each round
 * sees the hot set as the last one left it, so the scan order does not
 * matter) until none joins. Appends each to inl[] in the order they joined,
 * returning how many. ends[] holds each edge's caller and callee index. */
static size_t inline_callees(Work *w, size_t n, const size_t *ends, const uint64_t *count,
                             size_t nedges, const PartConfig *cfg, const PartCost *cost,
                             double alone, size_t *inl) {
  size_t ninl = 0;
  uint64_t *in = calloc(n * 3, sizeof *in); /* all calls in; calls from hot; heaviest */
  size_t *best = malloc(n * sizeof *best);
  if (!in || !best) {
    free(in), free(best);
    return SIZE_MAX;
  }
  uint64_t *from_hot = in + n, *heaviest = in + 2 * n;
  for (size_t e = 0; e < nedges; e++)
    in[ends[2 * e + 1]] = sat_add(in[ends[2 * e + 1]], count[e]);
  for (;;) {
    memset(from_hot, 0, 2 * n * sizeof *in);
    for (size_t i = 0; i < n; i++)
      best[i] = SIZE_MAX;
    for (size_t e = 0; e < nedges; e++) {
      size_t caller = ends[2 * e], callee = ends[2 * e + 1];
      if (w[caller].tier != PART_HOT)
        continue;
      from_hot[callee] = sat_add(from_hot[callee], count[e]);
      /* Edges come in any order: an equal count goes to the lower index. */
      if (count[e] > heaviest[callee] || (count[e] == heaviest[callee] && caller < best[callee]))
        heaviest[callee] = count[e], best[callee] = caller;
    }
    size_t joined = ninl;
    for (size_t i = 0; i < n; i++) {
      const PartFunc *f = w[i].f;
      if (w[i].tier == PART_HOT || f->code_bytes > cfg->inline_max_bytes || from_hot[i] == 0 ||
          part_cost_estimate(cost, PART_HOT, f->code_bytes) > alone)
        continue;
      uint64_t calls = f->calls > in[i] ? f->calls : in[i];
      double need = cfg->inline_min_edge_share;
      if (w[i].was == PART_HOT)
        need *= 1 - cfg->hysteresis;
      if ((double)from_hot[i] >= need * (double)calls)
        inl[ninl++] = i, w[i].via = best[i];
    }
    if (ninl == joined)
      break;
    for (size_t k = joined; k < ninl; k++)
      w[inl[k]].tier = PART_HOT, w[inl[k]].why = PART_WHY_INLINED;
  }
  free(in), free(best);
  return ninl;
}

/* Pass 4 helpers: jobs are opened in jobs[0..*njobs) as packing needs. */
static uint32_t job_open(Job *jobs, uint32_t *njobs, PartTier tier, bool alone, double per_job) {
  Job *j = &jobs[*njobs];
  memset(j, 0, sizeof *j);
  j->tier = tier, j->alone = alone, j->est = per_job, j->first = UINT32_MAX;
  return (*njobs)++;
}

static void job_add(Job *j, uint32_t index, Work *w, double est) {
  j->nfuncs++;
  j->samples = sat_add(j->samples, w->f->self_samples);
  j->bytes += w->f->code_bytes;
  j->est += est;
  if (w->f->func < j->first)
    j->first = w->f->func;
  w->job = index;
}

/* The first job of this tier, not a huge function's own, that has room. */
static uint32_t job_fit(const Job *jobs, uint32_t njobs, PartTier tier, double est, double budget) {
  for (uint32_t j = 0; j < njobs; j++)
    if (jobs[j].tier == tier && !jobs[j].alone && jobs[j].est + est <= budget)
      return j;
  return PART_NO_JOB;
}

bool part_compute(const PartHeatMap *hm, const PartConfig *cfg, const Partition *prev,
                  const PartCost *cost, Partition *out) {
  memset(out, 0, sizeof *out);
  if (!hm || !cfg || !cost || !config_ok(cfg) || !cost_ok(cost) || (hm->nfuncs && !hm->funcs) ||
      (hm->nedges && !hm->edges))
    return false;
  size_t n = hm->nfuncs, nedges = hm->nedges;
  if (n == 0)
    return true;
  if (n > UINT32_MAX)
    return false; /* indices are unique 32-bit numbers: a duplicate */

  bool ok = false;
  const PartFunc **sorted = malloc(n * sizeof *sorted);
  Work *w = calloc(n, sizeof *w);
  Work **heat = malloc(n * sizeof *heat);
  size_t *inl = malloc(n * sizeof *inl);
  size_t *ends = calloc(nedges ? nedges : 1, 2 * sizeof *ends); /* calloc: checks the product */
  uint64_t *count = calloc(nedges ? nedges : 1, sizeof *count);
  Job *jobs = malloc(n * sizeof *jobs);
  Job **order = malloc(n * sizeof *order);
  if (!sorted || !w || !heat || !inl || !ends || !count || !jobs || !order)
    goto done;

  /* The work array, by function index; a repeated index is an error. */
  for (size_t i = 0; i < n; i++)
    sorted[i] = &hm->funcs[i];
  qsort(sorted, n, sizeof *sorted, by_func);
  uint64_t total = 0, total_now = 0;
  for (size_t i = 0; i < n; i++) {
    const PartFunc *f = sorted[i];
    if ((i > 0 && f->func == sorted[i - 1]->func) || (unsigned)f->current > PART_HOT)
      goto done;
    PartTier was = f->current;
    if (prev) {
      PartTier p = part_tier_of(prev, f->func);
      if (p > was && p <= PART_HOT)
        was = p;
    }
    w[i] = (Work){.f = f, .was = was, .tier = PART_COLD, .job = PART_NO_JOB, .via = SIZE_MAX};
    w[i].why = f->self_samples == 0 ? PART_WHY_NO_SAMPLES : PART_WHY_FEW_SAMPLES;
    total = sat_add(total, f->self_samples);
    total_now = sat_add(total_now, f->now_samples);
    heat[i] = &w[i];
  }
  for (size_t i = 0; i < n; i++)
    w[i].share = total ? (double)w[i].f->self_samples / (double)total : 0;
  qsort(heat, n, sizeof *heat, by_heat);

  /* Pass 1: tiers by time. */
  if (total > 0) {
    if (cfg->policy == PART_POLICY_COVERAGE)
      tier_by_coverage(heat, n, total, total_now, cfg);
    else
      tier_by_share(w, n, cfg);
  }
  /* A compiled function that still runs keeps its tier: its share fell
   * because its code got faster, and going back would undo just that.
   * Only one that stopped running (fewer than min_samples) goes down. */
  for (size_t i = 0; cfg->keep_running && i < n; i++)
    if (w[i].was > w[i].tier && w[i].f->self_samples >= cfg->min_samples) {
      w[i].tier = w[i].was;
      w[i].why = w[i].was == PART_HOT ? PART_WHY_STILL_RUNS_HOT : PART_WHY_STILL_RUNS_WARM;
    }

  /* Pass 2: what cannot compile within the budget goes down a tier. */
  double budget = cfg->job_limit_s > 0 ? PART_JOB_BUDGET * cfg->job_limit_s : INFINITY;
  /* A big hot function compiles alone so the rest of the hot set comes
   * back without waiting for it: time to hot code matters more than
   * inlining into the one function that takes seconds anyway. */
  double alone = cfg->alone_s > 0 && cfg->alone_s < budget / 2 ? cfg->alone_s : budget / 2;
  for (size_t i = 0; i < n; i++) {
    if (w[i].tier == PART_HOT && part_cost_estimate(cost, PART_HOT, w[i].f->code_bytes) > budget)
      w[i].tier = PART_WARM, w[i].why = PART_WHY_TOO_COSTLY_HOT;
    if (w[i].tier == PART_WARM && part_cost_estimate(cost, PART_WARM, w[i].f->code_bytes) > budget)
      w[i].tier = PART_COLD, w[i].why = PART_WHY_TOO_COSTLY;
  }

  /* Pass 3: inlining. Edges naming an unknown function, or a function
   * calling itself, say nothing about callers. */
  size_t ne = 0;
  for (size_t e = 0; e < nedges; e++) {
    size_t caller = find_work(w, n, hm->edges[e].caller);
    size_t callee = find_work(w, n, hm->edges[e].callee);
    if (caller == SIZE_MAX || callee == SIZE_MAX || caller == callee)
      continue;
    ends[2 * ne] = caller, ends[2 * ne + 1] = callee, count[ne++] = hm->edges[e].count;
  }
  size_t ninl = inline_callees(w, n, ends, count, ne, cfg, cost, alone, inl);
  if (ninl == SIZE_MAX)
    goto done;

  /* Pass 4: jobs. Hot first by heat (inlined callees after, beside their
   * callers), then warm by heat. */
  uint32_t njobs = 0;
  for (size_t i = 0; i < n; i++) {
    Work *x = heat[i];
    if (x->tier != PART_HOT || x->why == PART_WHY_INLINED)
      continue;
    double one = part_cost_estimate(cost, PART_HOT, x->f->code_bytes);
    double add = one - cost->hot_s_per_job;
    uint32_t j = one > alone ? PART_NO_JOB : job_fit(jobs, njobs, PART_HOT, add, budget);
    if (j == PART_NO_JOB)
      j = job_open(jobs, &njobs, PART_HOT, one > alone, cost->hot_s_per_job);
    job_add(&jobs[j], j, x, add);
  }
  for (size_t k = 0; k < ninl; k++) {
    Work *x = &w[inl[k]];
    double add = part_cost_estimate(cost, PART_HOT, x->f->code_bytes) - cost->hot_s_per_job;
    uint32_t j = w[x->via].job;
    if (jobs[j].est + add > budget)
      j = job_fit(jobs, njobs, PART_HOT, add, budget);
    if (j == PART_NO_JOB)
      j = job_open(jobs, &njobs, PART_HOT, false, cost->hot_s_per_job);
    job_add(&jobs[j], j, x, add);
  }
  for (size_t i = 0; i < n; i++) {
    Work *x = heat[i];
    if (x->tier != PART_WARM)
      continue;
    double add = part_cost_estimate(cost, PART_WARM, x->f->code_bytes) - cost->warm_s_per_job;
    uint32_t j = job_fit(jobs, njobs, PART_WARM, add, budget);
    if (j == PART_NO_JOB)
      j = job_open(jobs, &njobs, PART_WARM, false, cost->warm_s_per_job);
    job_add(&jobs[j], j, x, add);
  }

  /* Pass 5: compile order, and the result. */
  for (uint32_t j = 0; j < njobs; j++)
    order[j] = &jobs[j];
  qsort(order, njobs, sizeof *order, by_payoff);
  out->funcs = malloc(n * sizeof *out->funcs);
  out->jobs = njobs ? malloc(njobs * sizeof *out->jobs) : NULL;
  if (!out->funcs || (njobs && !out->jobs)) {
    part_free(out);
    goto done;
  }
  for (uint32_t r = 0; r < njobs; r++) {
    const Job *j = order[r];
    order[r]->rank = r;
    out->jobs[r] = (PartJob){.tier = j->tier,
                             .nfuncs = j->nfuncs,
                             .self_samples = j->samples,
                             .code_bytes = j->bytes,
                             .est_s = j->est};
  }
  for (size_t i = 0; i < n; i++)
    out->funcs[i] = (PartDecision){
        .func = w[i].f->func,
        .tier = w[i].tier,
        .why = w[i].why,
        .job = w[i].job == PART_NO_JOB ? PART_NO_JOB : jobs[w[i].job].rank,
        .via = w[i].why == PART_WHY_INLINED ? w[w[i].via].f->func : PART_NO_FUNC,
        .share = w[i].share,
    };
  out->nfuncs = n;
  out->njobs = njobs;
  ok = true;
done:
  free(sorted), free(w), free(heat), free(inl), free(ends), free(count), free(jobs), free(order);
  return ok;
}
