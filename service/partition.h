/*
 * partition.h: the Partitioning Engine. From a heat map (self-time samples,
 * calls and call edges per function) it decides each function's tier (cold,
 * warm, hot), why, and which compile job builds it.
 *
 * A pure function of its arguments: no I/O, no globals, no protobuf. The
 * broker turns its messages into these arrays and the result into jobs.
 *
 * Tiers. Policy `coverage` (the default): functions sorted by self time,
 * hottest first; the fewest that cover `hot` of all self time are hot, the
 * fewest that cover `warm` are hot or warm. Policy `share` is the concept's
 * pseudocode: share = self / total; share > hot: hot, else share > warm:
 * warm, else cold. Either way a function with fewer than `min_samples` self
 * samples is not promoted by its time (one sample is noise).
 *
 * Hysteresis. A function that is hot now (in `prev`, or its `current`) stays
 * hot while it is within `hysteresis` of the threshold; warm likewise:
 *   share:    it keeps its tier while share > threshold * (1 - hysteresis);
 *   coverage: while the hotter functions before it cover less than
 *             threshold + (1 - threshold) * hysteresis of self time, i.e. the
 *             uncovered rest it may sit in shrinks by `hysteresis` (0.80
 *             becomes 0.85, 0.95 becomes 0.9625 at 0.25).
 * Promotion is never eased, so a function oscillating around a threshold
 * goes up once and stays.
 *
 * Inlining. A callee of at most `inline_max_bytes` whose calls come from hot
 * callers for at least `inline_min_edge_share` of all its calls joins the hot
 * set (repeatedly, so chains of small helpers follow), in its heaviest hot
 * caller's job, so gcc can inline it there. Call counts are exact, so
 * `min_samples` does not apply; hysteresis eases the edge share as above.
 *
 * Jobs. No job may be estimated to take more than PART_JOB_BUDGET of
 * `job_limit_s` (estimates are rough; the rest is the margin). Hot functions
 * share one job, so gcc inlines across them, except: a function whose hot
 * estimate alone is over half the budget gets a job of its own (the others
 * need not wait for it); one over the whole budget is warm instead ("warm
 * first"); one whose warm estimate is over the budget too stays cold. A hot
 * set too big for one job fills several, hottest first. Warm functions fill
 * as few jobs as the budget allows, hottest first. Cold functions have no
 * job. Jobs are numbered in the order to compile them: most self time per
 * estimated second first (what pays off soonest), ties hot first, then
 * smaller, then by lowest function index.
 *
 * Same input, same output: every tie is broken by function index.
 */
#ifndef KILN_PARTITION_H
#define KILN_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { PART_COLD, PART_WARM, PART_HOT } PartTier;
typedef enum { PART_POLICY_COVERAGE, PART_POLICY_SHARE } PartPolicy;

/* Why a function got its tier. */
typedef enum {
  PART_WHY_NO_SAMPLES, /* cold: never seen running */
  PART_WHY_FEW_SAMPLES, /* cold: fewer than min_samples */
  PART_WHY_COVERAGE_HOT, /* among the fewest covering `hot` */
  PART_WHY_COVERAGE_WARM, /* among the fewest covering `warm` */
  PART_WHY_COVERAGE_COLD, /* outside them */
  PART_WHY_SHARE_HOT, /* share > hot */
  PART_WHY_SHARE_WARM, /* share > warm */
  PART_WHY_SHARE_COLD, /* share <= warm */
  PART_WHY_KEPT_HOT, /* hysteresis */
  PART_WHY_KEPT_WARM, /* hysteresis */
  PART_WHY_STILL_RUNS_HOT, /* hot: it would go down, but it still runs (keep_running) */
  PART_WHY_STILL_RUNS_WARM,
  PART_WHY_INLINED, /* hot: joined its hot caller `via` */
  PART_WHY_TOO_COSTLY_HOT, /* warm: hot would not compile within the budget */
  PART_WHY_TOO_COSTLY, /* cold: neither would warm */
} PartReason;

#define PART_NO_JOB UINT32_MAX /* job of a cold function */
#define PART_NO_FUNC UINT32_MAX /* via of a function not inlined */
#define PART_JOB_BUDGET 0.5 /* of job_limit_s, the most one job is estimated to take */

typedef struct {
  uint32_t func; /* function index in the module; unique */
  /* self_samples: its self time in interpreter time (a live heat map's
   * compiled samples weighted up), which ranks functions and decides hot;
   * now_samples: as it runs now, unweighted, which decides warm: a cold
   * function's share of the time now is what compiling it saves. */
  uint64_t calls, self_samples, now_samples;
  uint32_t code_bytes; /* size of its body */
  PartTier current; /* the tier it runs in now */
} PartFunc;

typedef struct {
  uint32_t caller, callee; /* function indices; unknown ones are ignored */
  uint64_t count;
} PartEdge;

typedef struct {
  const PartFunc *funcs; /* any order */
  size_t nfuncs;
  const PartEdge *edges;
  size_t nedges;
} PartHeatMap;

typedef struct {
  PartPolicy policy;
  double hot, warm; /* fractions in [0, 1] */
  double hysteresis; /* relative, in [0, 1] */
  uint32_t inline_max_bytes;
  double inline_min_edge_share; /* in [0, 1] */
  uint32_t min_samples;
  double job_limit_s; /* a worker's time limit per job; 0: none */
  double alone_s; /* a hot function estimated above this compiles alone (0: half the budget) */
  bool keep_running; /* a compiled function goes down a tier only once it stops running */
} PartConfig;

/* coverage: hot 0.80, warm 0.95; share: hot 0.8, warm 0.2 (the concept's
 * pseudocode). Both: hysteresis 0.25, inline 128 bytes at edge share 0.5,
 * min_samples 2, job limit 60 s (kilnd's --job-timeout). */
void part_config_default(PartConfig *c, PartPolicy policy);

/* "coverage" or "share"; parse returns false for any other name. */
const char *part_policy_name(PartPolicy policy);
bool part_policy_parse(const char *name, PartPolicy *policy);
/* Whether the thresholds make sense together: each in (0, 1]; coverage
 * needs warm >= hot (warm is the larger share covered), share needs
 * warm < hot (warm is the lower bar). Returns 0, or -1 with one line in
 * err, in percent as an operator gives them. */
int part_config_check(const PartConfig *c, char *err, size_t size);

/* A compile's estimated time: s_per_job + bytes * s_per_byte of its tier. */
typedef struct {
  double hot_s_per_byte, warm_s_per_byte, hot_s_per_job, warm_s_per_job;
} PartCost;

void part_cost_default(PartCost *c);
/* Estimated seconds to compile `bytes` of code at `tier` in one job (0 for
 * cold). */
double part_cost_estimate(const PartCost *c, PartTier tier, uint64_t bytes);
/* Moves the tier's s_per_byte toward a measured compile of `bytes` that took
 * `seconds` (an exponential moving average). Meaningless measures (cold,
 * no bytes, negative or not finite) are ignored. */
void part_cost_observe(PartCost *c, PartTier tier, uint64_t bytes, double seconds);

typedef struct {
  uint32_t func;
  PartTier tier;
  PartReason why;
  uint32_t job; /* index into Partition.jobs, or PART_NO_JOB */
  uint32_t via; /* PART_WHY_INLINED: the hot caller; else PART_NO_FUNC */
  double share; /* its self samples / all self samples (0 when none) */
} PartDecision;

typedef struct {
  PartTier tier;
  uint32_t nfuncs;
  uint64_t self_samples, code_bytes;
  double est_s;
} PartJob;

typedef struct {
  PartDecision *funcs; /* one per heat map function, sorted by func */
  size_t nfuncs;
  PartJob *jobs; /* in compile order */
  uint32_t njobs;
} Partition;

/* Partitions hm. prev (may be NULL) is the last partition, for hysteresis.
 * Returns false, with *out empty, when an argument is invalid (a duplicate
 * function index, a fraction outside [0, 1], a cost not finite) or memory
 * runs out. Free *out with part_free. */
bool part_compute(const PartHeatMap *hm, const PartConfig *cfg, const Partition *prev,
                  const PartCost *cost, Partition *out);
void part_free(Partition *p);
/* The tier p gives func: cold when p does not name it. */
PartTier part_tier_of(const Partition *p, uint32_t func);

/* One short phrase without figures ("kept hot (hysteresis)"). */
const char *part_reason_text(PartReason why);
/* The phrase with its figures ("share 0.84 > hot 0.80", "inlined into hot
 * caller 12"), snprintf-style. */
int part_describe(const PartDecision *d, const PartConfig *cfg, char *buf, size_t size);

#endif
