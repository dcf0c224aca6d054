/*
 * test_interp.c: the cold tier (agent/translate.c, agent/interp.c): exact
 * numeric semantics and traps, control flow with multiple values, memory
 * addressing, calls, and that the translator's fusions happen (counted by
 * InterpCode.ninstr, shown by interp_dump).
 *
 * The module is tests/unit/interp/ops.wat, built by wat2wasm (as
 * interp-ops.wasm) into INTERP_WASM_DIR. The official suite covers far more;
 * these tests pin down the cases the translator's peephole rules could get
 * wrong.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "kiln.h"
#include "runtime.h"

#ifndef INTERP_WASM_DIR
#define INTERP_WASM_DIR "."
#endif

static kiln_runtime *rt;
static kiln_module *mod;
static kiln_instance *inst;

static void setup(void) {
  rt = kiln_runtime_new(NULL);
  ck_assert_ptr_nonnull(rt);
  mod = kiln_module_load(rt, INTERP_WASM_DIR "/interp-ops.wasm");
  ck_assert_msg(mod != NULL, "%s", kiln_error(rt));
  inst = kiln_instantiate(rt, mod, "ops");
  ck_assert_msg(inst != NULL, "%s", kiln_error(rt));
}

static void teardown(void) {
  kiln_runtime_free(rt);
}

/* Call export `name`; returns the status, results in res. */
static kiln_status call(const char *name, const kiln_value *args, uint32_t nargs, kiln_value *res,
                        uint32_t nres) {
  kiln_func *f = kiln_instance_func(inst, name);
  ck_assert_msg(f != NULL, "no export %s", name);
  return kiln_call(rt, f, args, nargs, res, nres);
}

static int32_t i32_1(const char *name, int32_t a) {
  kiln_value args[1] = {KILN_I32_VAL(a)}, r[1];
  kiln_status st = call(name, args, 1, r, 1);
  ck_assert_msg(st == KILN_OK, "%s(%d): %s", name, a, kiln_error(rt));
  return r[0].of.i32;
}

static int32_t i32_2(const char *name, int32_t a, int32_t b) {
  kiln_value args[2] = {KILN_I32_VAL(a), KILN_I32_VAL(b)}, r[1];
  kiln_status st = call(name, args, 2, r, 1);
  ck_assert_msg(st == KILN_OK, "%s(%d, %d): %s", name, a, b, kiln_error(rt));
  return r[0].of.i32;
}

/* Expect a trap whose message contains `what`. */
static void traps(const char *name, const kiln_value *args, uint32_t nargs, uint32_t nres,
                  const char *what) {
  kiln_value r[2];
  kiln_status st = call(name, args, nargs, r, nres);
  ck_assert_int_eq(st, KILN_TRAP);
  ck_assert_msg(strstr(kiln_error(rt), what) != NULL, "%s: got \"%s\", want \"%s\"", name,
                kiln_error(rt), what);
}

static const InterpCode *code_of(const char *name) {
  kiln_func *f = kiln_instance_func(inst, name);
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(f->code);
  return f->code;
}

/* --- numerics ------------------------------------------------------------- */

START_TEST(test_division) {
  ck_assert_int_eq(i32_2("div_s", -7, 2), -3);
  ck_assert_int_eq(i32_2("rem_s", -7, 2), -1);
  ck_assert_int_eq(i32_2("rem_s", INT32_MIN, -1), 0);
  ck_assert_int_eq(i32_1("rem_s_m1", INT32_MIN), 0);
  ck_assert_int_eq(i32_1("div_u_7", -1), (int32_t)(0xffffffffu / 7));
  kiln_value a[2] = {KILN_I32_VAL(1), KILN_I32_VAL(0)};
  traps("div_s", a, 2, 1, "integer divide by zero");
  traps("rem_s", a, 2, 1, "integer divide by zero");
  a[0] = KILN_I32_VAL(INT32_MIN);
  a[1] = KILN_I32_VAL(-1);
  traps("div_s", a, 2, 1, "integer overflow");
  /* The constant divisor -1 must not take the unchecked immediate form. */
  traps("div_s_m1", a, 1, 1, "integer overflow");
  kiln_value b[2] = {KILN_I64_VAL(INT64_MIN), KILN_I64_VAL(-1)};
  traps("div_s64", b, 2, 1, "integer overflow");
}
END_TEST

START_TEST(test_conversions) {
  kiln_value a[1] = {KILN_F64_VAL(-2147483648.9)}, r[1];
  ck_assert_int_eq(call("trunc_s", a, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i32, INT32_MIN);
  a[0] = KILN_F64_VAL(2147483648.0);
  traps("trunc_s", a, 1, 1, "integer overflow");
  a[0] = KILN_F64_VAL(NAN);
  traps("trunc_s", a, 1, 1, "invalid conversion to integer");
  ck_assert_int_eq(call("sat_s", a, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i32, 0);
  a[0] = KILN_F64_VAL(-1e300);
  ck_assert_int_eq(call("sat_s", a, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i32, INT32_MIN);
  kiln_value f[1] = {KILN_F32_VAL(-0.75f)};
  ck_assert_int_eq(call("trunc_u64", f, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i64, 0);
  f[0] = KILN_F32_VAL(-1.0f);
  traps("trunc_u64", f, 1, 1, "integer overflow");
}
END_TEST

START_TEST(test_float_rules) {
  kiln_value a[2] = {KILN_F64_VAL(0.0), KILN_F64_VAL(-0.0)}, r[1];
  ck_assert_int_eq(call("fmin", a, 2, r, 1), KILN_OK);
  ck_assert(signbit(r[0].of.f64));
  a[0] = KILN_F64_VAL(NAN);
  a[1] = KILN_F64_VAL(1.0);
  ck_assert_int_eq(call("fmin", a, 2, r, 1), KILN_OK);
  ck_assert(isnan(r[0].of.f64));
  kiln_value f[2] = {KILN_F32_VAL(-0.0f), KILN_F32_VAL(0.0f)};
  ck_assert_int_eq(call("fmax", f, 2, r, 1), KILN_OK);
  ck_assert(!signbit(r[0].of.f32));
  kiln_value n[1] = {KILN_F64_VAL(2.5)};
  ck_assert_int_eq(call("nearest", n, 1, r, 1), KILN_OK);
  ck_assert(r[0].of.f64 == 2.0);
  /* (1 + 2^-30)^2 rounds to 1 + 2^-29 before the subtraction: exactly 0,
   * where a fused multiply-add would give -2^-60. */
  kiln_value m[3] = {KILN_F64_VAL(1 + 0x1p-30), KILN_F64_VAL(1 + 0x1p-30),
                     KILN_F64_VAL(1 + 0x1p-29)};
  ck_assert_int_eq(call("submul", m, 3, r, 1), KILN_OK);
  ck_assert(r[0].of.f64 == 0.0);
  ck_assert_uint_eq(code_of("submul")->ninstr, 2);
  n[0] = KILN_F64_VAL(-3.5);
  ck_assert_int_eq(call("nearest", n, 1, r, 1), KILN_OK);
  ck_assert(r[0].of.f64 == -4.0);
}
END_TEST

START_TEST(test_bits) {
  ck_assert_int_eq(i32_2("rotl", (int32_t)0x80000001u, 33), 3);
  ck_assert_int_eq(i32_1("ext8", 0x80), -128);
  kiln_value a[1] = {KILN_I64_VAL(3)}, r[1];
  ck_assert_int_eq(call("shl_big", a, 1, r, 1), KILN_OK); /* shift counts wrap: 65 is 1 */
  ck_assert_int_eq(r[0].of.i64, 6);
  a[0] = KILN_I64_VAL(0);
  ck_assert_int_eq(call("clz", a, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i64, 64);
  /* 10 >= x with the constant on the left: mirrored into x <= 10. */
  ck_assert_int_eq(i32_1("ge_u_const_left", 10), 1);
  ck_assert_int_eq(i32_1("ge_u_const_left", 11), 0);
  ck_assert_int_eq(i32_1("ge_u_const_left", -1), 0);
  /* eqz of a comparison becomes the opposite comparison. */
  ck_assert_int_eq(i32_2("not_lt", 1, 2), 0);
  ck_assert_int_eq(i32_2("not_lt", 2, 2), 1);
}
END_TEST

/* --- control and calls ---------------------------------------------------- */

START_TEST(test_control) {
  ck_assert_int_eq(i32_1("fib", 20), 6765);
  ck_assert_int_eq(i32_1("count", 1000), 1000);
  ck_assert_int_eq(i32_1("count", -5), 1);
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(i32_1("switch", i), 100 + (i < 3 ? i + 1 : 4));
  ck_assert_int_eq(i32_2("mv", 3, 10), 7);
  kiln_value a[2] = {KILN_I32_VAL(1), KILN_I32_VAL(2)}, r[2];
  ck_assert_int_eq(call("swap", a, 2, r, 2), KILN_OK);
  ck_assert_int_eq(r[0].of.i32, 2);
  ck_assert_int_eq(r[1].of.i32, 1);
  ck_assert_int_eq(i32_1("tee_order", 10), 15);
  kiln_value none[1];
  ck_assert_int_eq(call("unreachable_after_br", NULL, 0, none, 1), KILN_OK);
  ck_assert_int_eq(none[0].of.i32, 7);
}
END_TEST

START_TEST(test_indirect) {
  ck_assert_int_eq(i32_2("icall", 1, 41), 42);
  ck_assert_int_eq(i32_2("icall", 0, 10), 55);
  kiln_value a[2] = {KILN_I32_VAL(2), KILN_I32_VAL(0)};
  traps("icall", a, 2, 1, "uninitialized element");
  a[0] = KILN_I32_VAL(4);
  traps("icall", a, 2, 1, "undefined element");
  ck_assert_int_eq(i32_1("is_null", 3), 1);
  ck_assert_int_eq(i32_1("is_null", 0), 0);
  a[0] = KILN_I32_VAL(4);
  traps("is_null", a, 1, 1, "out of bounds table access");
}
END_TEST

/* A call_indirect site's targets (runtime.h site_count_target): exact
 * for as many targets as it keeps, and a busy target that comes after the
 * slots are full takes a quiet one's place. */
START_TEST(test_site_targets) {
  CallSiteProfile s = {0};
  for (uint32_t i = 0; i < 1000; i++)
    site_count_target(&s, 10 + i % SITE_TARGETS);
  for (int k = 0; k < SITE_TARGETS; k++) {
    ck_assert_uint_eq(s.targets[k], 10 + (uint32_t)k);
    ck_assert_uint_eq(s.target_calls[k], 1000 / SITE_TARGETS);
  }
  site_count_target(&s, 10); /* one more for the first */
  ck_assert_uint_eq(s.target_calls[0], 1000 / SITE_TARGETS + 1);
  for (int i = 0; i < 2000; i++)
    site_count_target(&s, 99);
  int at = -1;
  for (int k = 0; k < SITE_TARGETS; k++)
    if (s.targets[k] == 99)
      at = k;
  ck_assert_int_ge(at, 0);
  ck_assert_uint_ge(s.target_calls[at], 2000);
  ck_assert_uint_eq(s.targets[0], 10); /* the busiest of the first four stays */
}
END_TEST

START_TEST(test_stack_exhaustion) {
  kiln_value a[1] = {KILN_I32_VAL(0)};
  traps("deep", a, 1, 1, "call stack exhausted");
  /* The runtime is still usable afterwards. */
  ck_assert_int_eq(i32_1("fib", 10), 55);
}
END_TEST

/* --- memory --------------------------------------------------------------- */

START_TEST(test_memory) {
  kiln_value a[2] = {KILN_I32_VAL(100), KILN_I32_VAL(-2)}, r[1];
  ck_assert_int_eq(call("store", a, 2, r, 0), KILN_OK);
  ck_assert_int_eq(i32_1("load", 100), -2);
  ck_assert_int_eq(i32_1("load8_s", 104), -2);
  ck_assert_int_eq(i32_1("load_wrap", 108), -2);
  kiln_value l[1] = {KILN_I32_VAL(104)};
  ck_assert_int_eq(call("load16_u64", l, 1, r, 1), KILN_OK);
  ck_assert_int_eq(r[0].of.i64, 0xfffe);
  /* base + (i << 2) */
  ck_assert_int_eq(i32_2("index", 4, 25), -2);
  ck_assert_int_eq(i32_2("index_a", -12, 25), -2); /* -12 + 16 wraps to 4 */
  ck_assert_int_eq(i32_1("index_c", 1), -2);
  ck_assert_uint_eq(code_of("index_a")->ninstr, 3);
  ck_assert_uint_eq(code_of("index_c")->ninstr, 3);
  /* The last 4 bytes are in bounds, one further is not. */
  ck_assert_int_eq(i32_1("load", 65536 - 8), 0);
  l[0] = KILN_I32_VAL(65536 - 7);
  traps("load", l, 1, 1, "out of bounds memory access");
  /* 0 - 4 wraps to 0xfffffffc, far out of bounds; no 64-bit folding. */
  l[0] = KILN_I32_VAL(0);
  traps("load_wrap", l, 1, 1, "out of bounds memory access");
  /* The offset does not wrap: 0xffffffff + 4 is out of bounds. */
  l[0] = KILN_I32_VAL(-1);
  traps("load", l, 1, 1, "out of bounds memory access");
}
END_TEST

START_TEST(test_memory_bulk) {
  ck_assert_int_eq(i32_1("grow", 1), 1);
  kiln_value none[1];
  ck_assert_int_eq(call("size", NULL, 0, none, 1), KILN_OK);
  ck_assert_int_eq(none[0].of.i32, 2);
  ck_assert_int_eq(i32_1("load", 65536 * 2 - 8), 0);
  kiln_value f[3] = {KILN_I32_VAL(10), KILN_I32_VAL(0xab), KILN_I32_VAL(4)};
  ck_assert_int_eq(call("fill", f, 3, none, 0), KILN_OK);
  ck_assert_int_eq(i32_1("load", 6), (int32_t)0xabababab);
  kiln_value c[3] = {KILN_I32_VAL(20), KILN_I32_VAL(10), KILN_I32_VAL(4)};
  ck_assert_int_eq(call("copy", c, 3, none, 0), KILN_OK);
  ck_assert_int_eq(i32_1("load", 16), (int32_t)0xabababab);
  /* Out of bounds even with n == 0 when the start is past the end. */
  kiln_value o[3] = {KILN_I32_VAL(65536 * 2 + 1), KILN_I32_VAL(0), KILN_I32_VAL(0)};
  traps("fill", o, 3, 0, "out of bounds memory access");
  kiln_value e[3] = {KILN_I32_VAL(65536 * 2), KILN_I32_VAL(0), KILN_I32_VAL(0)};
  ck_assert_int_eq(call("fill", e, 3, none, 0), KILN_OK);
  ck_assert_int_eq(i32_1("grow", 70000), -1);
}
END_TEST

/* --- the translator's fusions --------------------------------------------- */

START_TEST(test_fusion) {
  /* count: the loop header, add_si (retargeted into the local), br_lt_s
   * (fused), ret1. */
  ck_assert_uint_eq(code_of("count")->ninstr, 4);
  /* index: base + (i << 2) and the load are one instruction, plus ret1. */
  ck_assert_uint_eq(code_of("index")->ninstr, 2);
  /* load_wrap: the i32.add of a constant folds into the load. */
  ck_assert_uint_eq(code_of("load_wrap")->ninstr, 2);
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(out);
  interp_dump(code_of("count"), out);
  interp_dump(code_of("fib"), out);
  fclose(out);
  ck_assert_msg(strstr(buf, "BR_I32_LT_S_SS") != NULL, "%s", buf);
  ck_assert_msg(strstr(buf, "BR_I32_GE_S_SI") != NULL, "%s", buf); /* if (n < 2) */
  ck_assert_msg(strstr(buf, "I32_ADD_SI") != NULL, "%s", buf);
  free(buf);
}
END_TEST

static Suite *interp_suite(void) {
  Suite *s = suite_create("interp");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_division);
  tcase_add_test(tc, test_conversions);
  tcase_add_test(tc, test_float_rules);
  tcase_add_test(tc, test_bits);
  tcase_add_test(tc, test_control);
  tcase_add_test(tc, test_indirect);
  tcase_add_test(tc, test_site_targets);
  tcase_add_test(tc, test_stack_exhaustion);
  tcase_add_test(tc, test_memory);
  tcase_add_test(tc, test_memory_bulk);
  tcase_add_test(tc, test_fusion);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(interp_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
