/*
 * test_osr.c: on-stack replacement. Each export of osr.wat starts in the
 * interpreter and calls the host's test.switch at one iteration of a loop;
 * in the transfer runs, that gives every function compiled code (warm or
 * hot) with its OSR entries only, so the running activation moves into it
 * at its next loop header, with its locals and operand stack. Results and
 * trap lines must be the reference run's (no switch), and the interpreter
 * must have stopped counting iterations of that loop: the rest ran
 * compiled. Each transfer runs twice: into OSR entries alone, and into
 * functions compiled once as their OSR entry (osr_body), whose later calls
 * enter that same code at the top.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcm-run.h"
#include "kiln.h"

typedef struct {
  kiln_instance *in;
  DcmTier tier;
  bool transfer; /* false: the reference run */
  bool osr_body; /* functions compiled as their OSR entry, calls switched too */
  int switches;
} Run;

static kiln_status host_switch(kiln_caller *c, void *data, const kiln_value *args,
                               kiln_value *results) {
  (void)args, (void)results;
  Run *r = data;
  char err[512];
  r->switches++;
  if (r->transfer && r->switches == 1 &&
      !(r->osr_body ? dcm_switch_osr_body(r->in, r->tier, err, sizeof err)
                    : dcm_give_osr(r->in, r->tier, err, sizeof err)))
    return kiln_caller_trap(c, "no OSR code: %s", err);
  return KILN_OK;
}

typedef struct {
  kiln_status st;
  kiln_value result;
  char error[512];
  uint64_t interpreted; /* iterations the interpreter ran of the function's first loop */
} Outcome;

static Outcome run(const char *export, kiln_value arg, DcmTier tier, bool transfer, bool osr_body) {
  Outcome o = {0};
  kiln_runtime *rt = kiln_runtime_new(NULL);
  ck_assert_ptr_nonnull(rt);
  Run r = {.tier = tier, .transfer = transfer, .osr_body = osr_body};
  ck_assert_int_eq(kiln_define_func(rt, "test", "switch", NULL, 0, NULL, 0, host_switch, &r),
                   KILN_OK);
  kiln_module *m = kiln_module_load(rt, OSR_WASM);
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  r.in = kiln_instantiate(rt, m, "osr");
  ck_assert_msg(r.in != NULL, "%s", kiln_error(rt));
  kiln_func *f = kiln_instance_func(r.in, export);
  ck_assert_ptr_nonnull(f);
  o.st = kiln_call(rt, f, &arg, 1, &o.result, 1);
  snprintf(o.error, sizeof o.error, "%s", o.st == KILN_OK ? "" : kiln_error(rt));
  kiln_heatmap *h = kiln_instance_heatmap(r.in);
  ck_assert_ptr_nonnull(h);
  for (size_t i = 0; i + 1 < h->nregions; i++)
    if (strcmp(h->regions[i].name, export) == 0 && h->regions[i].loop == KILN_NO_LOOP) {
      o.interpreted = h->regions[i + 1].count;
      break;
    }
  kiln_heatmap_free(h);
  ck_assert_int_eq(r.switches > 0, 1);
  kiln_runtime_free(rt);
  return o;
}

static bool same_value(kiln_value a, kiln_value b) {
  if (a.type != b.type)
    return false;
  switch (a.type) {
  case KILN_I32:
    return a.of.i32 == b.of.i32;
  case KILN_I64:
    return a.of.i64 == b.of.i64;
  case KILN_F64:
    return memcmp(&a.of.f64, &b.of.f64, sizeof a.of.f64) == 0;
  default:
    return false;
  }
}

/* The export at both tiers against the reference; returns the reference. */
static Outcome check_transfer(const char *export, kiln_value arg, uint64_t full_iterations) {
  Outcome ref = run(export, arg, DCM_WARM, false, false);
  ck_assert_uint_eq(ref.interpreted, full_iterations);
  for (int k = 0; k < 4; k++) {
    DcmTier tier = k & 1 ? DCM_HOT : DCM_WARM;
    bool osr_body = k >= 2;
    Outcome o = run(export, arg, tier, true, osr_body);
    const char *name = (const char *[]){"warm", "hot", "warm, OSR body", "hot, OSR body"}[k];
    ck_assert_msg(o.st == ref.st, "%s %s: status %d, reference %d (%s)", export, name, o.st, ref.st,
                  o.error);
    ck_assert_msg(strcmp(o.error, ref.error) == 0, "%s %s: \"%s\", reference \"%s\"", export, name,
                  o.error, ref.error);
    if (ref.st == KILN_OK)
      ck_assert_msg(same_value(o.result, ref.result), "%s %s: another result", export, name);
    ck_assert_msg(o.interpreted < full_iterations,
                  "%s %s: the interpreter ran all %llu iterations: no transfer", export, name,
                  (unsigned long long)o.interpreted);
  }
  return ref;
}

START_TEST(test_every_value_type) {
  Outcome ref = check_transfer("types", KILN_I32_VAL(20), 20);
  ck_assert_int_eq(ref.st, KILN_OK);
  ck_assert(isfinite(ref.result.of.f64) && ref.result.of.f64 > 1000);
}
END_TEST

START_TEST(test_operand_stack_at_the_loop) {
  /* 100 + 7 + 3 * (20 + 19 + ... + 1) */
  Outcome ref = check_transfer("stack", KILN_I64_VAL(20), 20);
  ck_assert_int_eq(ref.result.of.i64, 100 + 7 + 3 * 210);
}
END_TEST

START_TEST(test_trap_after_the_transfer) {
  Outcome ref = check_transfer("trap", KILN_I32_VAL(10), 7);
  ck_assert_int_eq(ref.st, KILN_TRAP);
  ck_assert_msg(strstr(ref.error, "integer divide by zero in $trap") != NULL, "%s", ref.error);
}
END_TEST

START_TEST(test_recursive_activations) {
  /* rec(d) = 3 * 4 * rec(d - 1) + 6, rec(0) = 6: every activation moves
   * over at its own depth. The reference runs every iteration of every
   * activation: 4 + 4 * (4 + 4 * (4 + 4 * 4)) = 340 for rec(3). */
  Outcome ref = check_transfer("rec", KILN_I32_VAL(3), 340);
  ck_assert_int_eq(ref.result.of.i32, 12 * (12 * (12 * 6 + 6) + 6) + 6);
}
END_TEST

START_TEST(test_transfer_two_frames_down) {
  /* nested's own loop never transfers before its callee does; its loop
   * header is counted per call of stack. */
  Outcome ref = run("nested", KILN_I32_VAL(4), DCM_WARM, false, false);
  for (int k = 0; k < 4; k++) {
    Outcome o = run("nested", KILN_I32_VAL(4), k & 1 ? DCM_HOT : DCM_WARM, true, k >= 2);
    ck_assert_int_eq(o.st, KILN_OK);
    ck_assert_int_eq(o.result.of.i32, ref.result.of.i32);
    ck_assert_uint_lt(o.interpreted, ref.interpreted);
  }
}
END_TEST

static Suite *osr_suite(void) {
  Suite *s = suite_create("osr");
  TCase *tc = tcase_create("transfer");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_every_value_type);
  tcase_add_test(tc, test_operand_stack_at_the_loop);
  tcase_add_test(tc, test_trap_after_the_transfer);
  tcase_add_test(tc, test_recursive_activations);
  tcase_add_test(tc, test_transfer_two_frames_down);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(osr_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  dcm_release_all();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
