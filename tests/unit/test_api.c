/*
 * test_api.c: libkiln through its public header only, as an application
 * uses it: calls, host functions, traps and their messages, linking two
 * instances, bad modules, memory growth, deep recursion.
 *
 * The modules are the .wat files in tests/unit/api/, built by wat2wasm (with their
 * names kept) into API_WASM_DIR.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#ifndef API_WASM_DIR
#define API_WASM_DIR "."
#endif

/* --- fixtures ------------------------------------------------------------- */

static const char *wasm_path(char path[512], const char *name) {
  snprintf(path, 512, "%s/%s", API_WASM_DIR, name);
  return path;
}

static kiln_module *load(kiln_runtime *rt, const char *name) {
  char path[512];
  kiln_module *m = kiln_module_load(rt, wasm_path(path, name));
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  return m;
}

static kiln_status host_twice(kiln_caller *c, void *data, const kiln_value *args,
                              kiln_value *results) {
  /* Calls back into the script: add(x, x), a nested kiln_call. */
  kiln_func **add = data;
  if (*add) {
    kiln_value a[2] = {args[0], args[0]};
    kiln_status st = kiln_call(kiln_caller_runtime(c), *add, a, 2, results, 1);
    return st;
  }
  results[0] = KILN_I32_VAL(args[0].of.i32 * 2);
  return KILN_OK;
}

static kiln_status host_fail(kiln_caller *c, void *data, const kiln_value *args,
                             kiln_value *results) {
  (void)data, (void)results;
  if (args[0].of.i32 == 99)
    return kiln_caller_exit(c, 3);
  return kiln_caller_trap(c, "bad value %d", args[0].of.i32);
}

static kiln_status host_peek(kiln_caller *c, void *data, const kiln_value *args,
                             kiln_value *results) {
  (void)data;
  uint64_t size;
  uint8_t *mem = kiln_caller_memory(c, &size);
  uint32_t at = (uint32_t)args[0].of.i32;
  if (!mem || at >= size)
    return kiln_caller_trap(c, "peek out of range");
  results[0] = KILN_I32_VAL(mem[at]);
  return KILN_OK;
}

static kiln_func *nested_add; /* set by tests that want twice() to call back */

static void define_env(kiln_runtime *rt) {
  static const kiln_type i32[] = {KILN_I32};
  ck_assert_int_eq(kiln_define_func(rt, "env", "twice", i32, 1, i32, 1, host_twice, &nested_add),
                   KILN_OK);
  ck_assert_int_eq(kiln_define_func(rt, "env", "fail", i32, 1, NULL, 0, host_fail, NULL), KILN_OK);
  ck_assert_int_eq(kiln_define_func(rt, "env", "peek", i32, 1, i32, 1, host_peek, NULL), KILN_OK);
}

static kiln_runtime *rt;
static kiln_instance *basic;

static void setup_basic(void) {
  nested_add = NULL;
  rt = kiln_runtime_new(NULL);
  ck_assert_ptr_nonnull(rt);
  define_env(rt);
  basic = kiln_instantiate(rt, load(rt, "api-basic.wasm"), "basic");
  ck_assert_msg(basic != NULL, "%s", kiln_error(rt));
}

static void teardown(void) {
  kiln_runtime_free(rt);
  rt = NULL;
}

static kiln_func *func(kiln_instance *in, const char *name) {
  kiln_func *f = kiln_instance_func(in, name);
  ck_assert_msg(f != NULL, "no export %s", name);
  return f;
}

static int32_t call_i32(kiln_instance *in, const char *name, int32_t arg) {
  kiln_value a = KILN_I32_VAL(arg), r;
  ck_assert_int_eq(kiln_call(rt, func(in, name), &a, 1, &r, 1), KILN_OK);
  ck_assert_int_eq(r.type, KILN_I32);
  return r.of.i32;
}

static int32_t call_i32_noarg(kiln_instance *in, const char *name) {
  kiln_value r;
  kiln_status st = kiln_call(rt, func(in, name), NULL, 0, &r, 1);
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  return r.of.i32;
}

/* --- calls ---------------------------------------------------------------- */

START_TEST(test_call_add) {
  kiln_value args[2] = {KILN_I32_VAL(2), KILN_I32_VAL(3)}, res;
  kiln_func *add = func(basic, "add");
  ck_assert_uint_eq(kiln_func_param_count(add), 2);
  ck_assert_uint_eq(kiln_func_result_count(add), 1);
  ck_assert_int_eq(kiln_func_param_type(add, 1), KILN_I32);
  ck_assert_int_eq(kiln_call(rt, add, args, 2, &res, 1), KILN_OK);
  ck_assert_int_eq(res.of.i32, 5);
}
END_TEST

START_TEST(test_call_multi_value) {
  kiln_value args[3] = {KILN_I64_VAL(1LL << 40), KILN_F32_VAL(1.5f), KILN_F64_VAL(0.25)}, res[2];
  ck_assert_int_eq(kiln_call(rt, func(basic, "mix"), args, 3, res, 2), KILN_OK);
  ck_assert_int_eq(res[0].type, KILN_F64);
  ck_assert_msg(res[0].of.f64 == 1.75, "got %g", res[0].of.f64);
  ck_assert_int_eq(res[1].type, KILN_I64);
  ck_assert_int_eq(res[1].of.i64, 3LL << 40);
}
END_TEST

START_TEST(test_call_recursion) {
  kiln_value a = KILN_I64_VAL(20), r;
  ck_assert_int_eq(kiln_call(rt, func(basic, "fac"), &a, 1, &r, 1), KILN_OK);
  ck_assert_int_eq(r.of.i64, 2432902008176640000LL);
}
END_TEST

START_TEST(test_call_checks_arguments) {
  kiln_value args[2] = {KILN_I32_VAL(2), KILN_I64_VAL(3)}, res;
  ck_assert_int_eq(kiln_call(rt, func(basic, "add"), args, 2, &res, 1), KILN_ERROR);
  ck_assert_str_eq(kiln_error(rt), "kiln_call: argument 2 is i64, expected i32");
  ck_assert_int_eq(kiln_call(rt, func(basic, "add"), args, 1, &res, 1), KILN_ERROR);
  ck_assert_ptr_null(kiln_instance_func(basic, "no such export"));
  ck_assert_ptr_null(kiln_instance_func(basic, "mem")); /* not a function */
}
END_TEST

START_TEST(test_globals) {
  kiln_value v;
  ck_assert_int_eq(kiln_instance_global(basic, "answer", &v), KILN_OK);
  ck_assert_int_eq(v.type, KILN_I32);
  ck_assert_int_eq(v.of.i32, 42);
  ck_assert_int_eq(kiln_instance_global(basic, "pi", &v), KILN_OK);
  ck_assert(v.of.f64 == 3.25);
  ck_assert_int_eq(kiln_instance_global(basic, "add", &v), KILN_ERROR);
}
END_TEST

START_TEST(test_references) {
  /* A funcref result is a kiln_func the host can call. */
  kiln_value r, args[2] = {KILN_I32_VAL(40), KILN_I32_VAL(2)}, sum;
  ck_assert_int_eq(kiln_call(rt, func(basic, "get_add"), NULL, 0, &r, 1), KILN_OK);
  ck_assert_int_eq(r.type, KILN_FUNCREF);
  ck_assert_ptr_nonnull(r.of.func);
  ck_assert_int_eq(kiln_call(rt, r.of.func, args, 2, &sum, 1), KILN_OK);
  ck_assert_int_eq(sum.of.i32, 42);
  /* externref is the host's pointer, untouched. */
  int cookie;
  kiln_value ref = {.type = KILN_EXTERNREF, .of.ref = &cookie};
  ck_assert_int_eq(kiln_call(rt, func(basic, "id_ref"), &ref, 1, &r, 1), KILN_OK);
  ck_assert_int_eq(r.type, KILN_EXTERNREF);
  ck_assert_ptr_eq(r.of.ref, &cookie);
}
END_TEST

START_TEST(test_runtimes_are_independent) {
  /* No global state: a second runtime with the same module and host
   * functions neither sees nor disturbs the first. */
  kiln_runtime *other = kiln_runtime_new(NULL);
  define_env(other);
  char path[512];
  wasm_path(path, "api-basic.wasm");
  kiln_module *m = kiln_module_load(other, path);
  kiln_instance *in = m ? kiln_instantiate(other, m, "other") : NULL;
  ck_assert_msg(in != NULL, "%s", kiln_error(other));
  kiln_value a = KILN_I32_VAL(3), r;
  ck_assert_int_eq(kiln_call(other, kiln_instance_func(in, "grow"), &a, 1, &r, 1), KILN_OK);
  ck_assert_int_eq(call_i32_noarg(basic, "size"), 1);
  ck_assert_ptr_null(kiln_module_new(other, (const uint8_t *)"junk", 4, "junk.wasm"));
  ck_assert_str_eq(kiln_error(rt), "");
  kiln_runtime_free(other);
}
END_TEST

/* --- traps ---------------------------------------------------------------- */

START_TEST(test_trap_messages) {
  kiln_value args[2] = {KILN_I32_VAL(1), KILN_I32_VAL(0)}, res;
  ck_assert_int_eq(kiln_call(rt, func(basic, "div"), args, 2, &res, 1), KILN_TRAP);
  ck_assert_str_eq(kiln_error(rt), "trap: integer divide by zero in $div (func 4)");
  /* A function without a name in the name section. */
  ck_assert_int_eq(kiln_call(rt, func(basic, "boom"), NULL, 0, NULL, 0), KILN_TRAP);
  ck_assert_str_eq(kiln_error(rt), "trap: unreachable in func 14");
  /* The runtime is still usable after a trap. */
  ck_assert_int_eq(call_i32(basic, "call_twice", 21), 42);
}
END_TEST

START_TEST(test_deep_recursion_traps) {
  kiln_value a = KILN_I32_VAL(0), r;
  ck_assert_int_eq(kiln_call(rt, func(basic, "forever"), &a, 1, &r, 1), KILN_TRAP);
  ck_assert_msg(strncmp(kiln_error(rt), "trap: call stack exhausted", 26) == 0, "%s",
                kiln_error(rt));
  ck_assert_int_eq(call_i32(basic, "call_twice", 5), 10);
}
END_TEST

START_TEST(test_small_native_stack) {
  /* A configured native budget is honoured too. */
  kiln_config config = {.native_stack_bytes = 64 << 10};
  kiln_runtime *small = kiln_runtime_new(&config);
  define_env(small);
  char path[512];
  wasm_path(path, "api-basic.wasm");
  kiln_module *m = kiln_module_load(small, path);
  kiln_instance *in = m ? kiln_instantiate(small, m, "small") : NULL;
  ck_assert_msg(in != NULL, "%s", kiln_error(small));
  kiln_value a = KILN_I32_VAL(0), r;
  ck_assert_int_eq(kiln_call(small, kiln_instance_func(in, "forever"), &a, 1, &r, 1), KILN_TRAP);
  ck_assert_msg(strstr(kiln_error(small), "call stack exhausted"), "%s", kiln_error(small));
  kiln_runtime_free(small);
}
END_TEST

/* Runs "forever" on its own runtime; the result is the error line. */
static void *recurse_on_thread(void *arg) {
  char *out = arg;
  kiln_runtime *r = kiln_runtime_new(NULL);
  define_env(r);
  char path[512];
  wasm_path(path, "api-basic.wasm");
  kiln_module *m = kiln_module_load(r, path);
  kiln_instance *in = m ? kiln_instantiate(r, m, "thread") : NULL;
  kiln_value a = KILN_I32_VAL(0), res;
  if (in && kiln_call(r, kiln_instance_func(in, "forever"), &a, 1, &res, 1) == KILN_TRAP)
    snprintf(out, 512, "%s", kiln_error(r));
  else
    snprintf(out, 512, "no trap: %s", kiln_error(r));
  kiln_runtime_free(r);
  return NULL;
}

START_TEST(test_thread_with_small_stack) {
  /* The native limit comes from the calling thread's own stack, however
   * small: recursion still traps instead of overflowing it. */
  pthread_attr_t attr;
  pthread_t th;
  char out[512] = "";
  ck_assert_int_eq(pthread_attr_init(&attr), 0);
  ck_assert_int_eq(pthread_attr_setstacksize(&attr, 1 << 20), 0);
  ck_assert_int_eq(pthread_create(&th, &attr, recurse_on_thread, out), 0);
  pthread_join(th, NULL);
  pthread_attr_destroy(&attr);
  ck_assert_msg(strstr(out, "trap: call stack exhausted") == out, "%s", out);
}
END_TEST

/* --- host functions ------------------------------------------------------- */

START_TEST(test_host_import) {
  ck_assert_int_eq(call_i32(basic, "call_twice", 21), 42);
  ck_assert_int_eq(call_i32(basic, "call_peek", 16), 'k');
}
END_TEST

START_TEST(test_host_trap) {
  kiln_value a = KILN_I32_VAL(5);
  ck_assert_int_eq(kiln_call(rt, func(basic, "call_fail"), &a, 1, NULL, 0), KILN_TRAP);
  ck_assert_str_eq(kiln_error(rt), "trap: bad value 5");
}
END_TEST

START_TEST(test_host_exit) {
  kiln_value a = KILN_I32_VAL(99);
  ck_assert_int_eq(kiln_call(rt, func(basic, "call_fail"), &a, 1, NULL, 0), KILN_EXIT);
  ck_assert_int_eq(kiln_exit_code(rt), 3);
}
END_TEST

START_TEST(test_host_calls_back) {
  nested_add = func(basic, "add");
  ck_assert_int_eq(call_i32(basic, "call_twice", 8), 16);
  /* A trap inside the nested call, passed on by the host, ends the outer call. */
  nested_add = func(basic, "div");
  kiln_value a = KILN_I32_VAL(0), r;
  ck_assert_int_eq(kiln_call(rt, func(basic, "call_twice"), &a, 1, &r, 1), KILN_TRAP);
  ck_assert_str_eq(kiln_error(rt), "trap: integer divide by zero in $div (func 4)");
  nested_add = NULL;
  ck_assert_int_eq(call_i32(basic, "call_twice", 4), 8);
}
END_TEST

/* --- memory --------------------------------------------------------------- */

START_TEST(test_memory_grow) {
  uint64_t size;
  uint8_t *base = kiln_instance_memory(basic, "mem", &size);
  ck_assert_ptr_nonnull(base);
  ck_assert_uint_eq(size, 65536);
  ck_assert_int_eq(memcmp(base + 16, "kiln", 4), 0);
  ck_assert_int_eq(call_i32_noarg(basic, "size"), 1);
  ck_assert_int_eq(call_i32(basic, "grow", 2), 1);
  ck_assert_int_eq(call_i32_noarg(basic, "size"), 3);
  /* The base never moves; the new pages are zero and usable. */
  ck_assert_ptr_eq(kiln_instance_memory(basic, NULL, &size), base);
  ck_assert_uint_eq(size, 3 * 65536);
  base[2 * 65536 + 8] = 9;
  ck_assert_int_eq(call_i32(basic, "load", 2 * 65536 + 8), 9);
  ck_assert_int_eq(call_i32(basic, "grow", 2), -1); /* max is 4 pages */
  ck_assert_int_eq(call_i32(basic, "grow", 1), 3);
  kiln_value a = KILN_I32_VAL(4 * 65536 - 2), r;
  ck_assert_int_eq(kiln_call(rt, func(basic, "load"), &a, 1, &r, 1), KILN_TRAP);
  ck_assert_msg(strncmp(kiln_error(rt), "trap: out of bounds memory access", 33) == 0, "%s",
                kiln_error(rt));
}
END_TEST

/* --- linking -------------------------------------------------------------- */

START_TEST(test_link_two_instances) {
  kiln_instance *provider = kiln_instantiate(rt, load(rt, "api-provider.wasm"), "provider");
  ck_assert_ptr_nonnull(provider);
  ck_assert_int_eq(kiln_register(rt, "provider", provider), KILN_OK);
  kiln_instance *consumer = kiln_instantiate(rt, load(rt, "api-consumer.wasm"), "consumer");
  ck_assert_msg(consumer != NULL, "%s", kiln_error(rt));
  /* Shared memory: the consumer's data segment landed in the provider's. */
  ck_assert_int_eq(call_i32(provider, "read", 100), 42);
  ck_assert_int_eq(call_i32_noarg(consumer, "read_shared"), 42);
  /* Shared global. */
  ck_assert_int_eq(kiln_call(rt, func(consumer, "bump"), NULL, 0, NULL, 0), KILN_OK);
  ck_assert_int_eq(call_i32_noarg(provider, "get_counter"), 8);
  /* Shared table: one slot from each. */
  ck_assert_int_eq(call_i32(consumer, "call_slot", 0), 7);
  ck_assert_int_eq(call_i32(consumer, "call_slot", 1), 8);
}
END_TEST

START_TEST(test_failed_instantiation_keeps_writes) {
  kiln_instance *provider = kiln_instantiate(rt, load(rt, "api-provider.wasm"), "provider");
  ck_assert_int_eq(kiln_register(rt, "provider", provider), KILN_OK);
  ck_assert_ptr_null(kiln_instantiate(rt, load(rt, "api-oob.wasm"), "oob"));
  ck_assert_str_eq(kiln_error(rt), "trap: out of bounds memory access");
  ck_assert_int_eq(call_i32(provider, "read", 200), 1);
}
END_TEST

START_TEST(test_start_trap) {
  ck_assert_ptr_null(kiln_instantiate(rt, load(rt, "api-start_trap.wasm"), "start"));
  ck_assert_str_eq(kiln_error(rt), "trap: unreachable in $start (func 0)");
}
END_TEST

START_TEST(test_unknown_import) {
  kiln_runtime *bare = kiln_runtime_new(NULL);
  char path[512];
  wasm_path(path, "api-basic.wasm");
  kiln_module *m = kiln_module_load(bare, path);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_null(kiln_instantiate(bare, m, "basic"));
  char want[600];
  snprintf(want, sizeof want, "%s: unknown import: \"env\" \"twice\"", path);
  ck_assert_str_eq(kiln_error(bare), want);
  /* The right name with the wrong type. */
  static const kiln_type i64[] = {KILN_I64};
  kiln_define_func(bare, "env", "twice", i64, 1, i64, 1, host_twice, NULL);
  ck_assert_ptr_null(kiln_instantiate(bare, m, "basic"));
  snprintf(want, sizeof want, "%s: incompatible import type for \"env\" \"twice\"", path);
  ck_assert_str_eq(kiln_error(bare), want);
  kiln_runtime_free(bare);
}
END_TEST

/* --- bad modules ---------------------------------------------------------- */

START_TEST(test_malformed_module) {
  static const uint8_t truncated[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00};
  ck_assert_ptr_null(kiln_module_new(rt, truncated, sizeof truncated, "app.wasm"));
  ck_assert_msg(strncmp(kiln_error(rt), "app.wasm: malformed module at 0x", 32) == 0, "%s",
                kiln_error(rt));
  ck_assert_ptr_null(kiln_module_new(rt, NULL, 0, "empty.wasm"));
  ck_assert_msg(strncmp(kiln_error(rt), "empty.wasm: malformed module", 28) == 0, "%s",
                kiln_error(rt));
  ck_assert_ptr_null(kiln_module_load(rt, "/nonexistent/x.wasm"));
  ck_assert_str_eq(kiln_error(rt), "/nonexistent/x.wasm: No such file or directory");
}
END_TEST

START_TEST(test_invalid_module) {
  /* (func (result i32) (i64.const 0)) */
  static const uint8_t bad[] = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* header */
      0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, /* type: [] -> [i32] */
      0x03, 0x02, 0x01, 0x00, /* func 0: type 0 */
      0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x00, 0x0b, /* code: i64.const 0 */
  };
  ck_assert_ptr_null(kiln_module_new(rt, bad, sizeof bad, "app.wasm"));
  const char *e = kiln_error(rt);
  ck_assert_msg(strncmp(e, "app.wasm: invalid module at 0x", 30) == 0, "%s", e);
  ck_assert_msg(strstr(e, "in func 0") && strstr(e, "type mismatch"), "%s", e);
  ck_assert_msg(strncmp(e, "kiln: ", 6) != 0, "%s", e);
}
END_TEST

START_TEST(test_module_hash) {
  kiln_module *m = load(rt, "api-provider.wasm");
  const char *h = kiln_module_hash(m);
  ck_assert_uint_eq(strlen(h), 64);
  ck_assert_str_eq(h, kiln_module_hash(load(rt, "api-provider.wasm")));
}
END_TEST

static Suite *api_suite(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("api");
  tcase_add_checked_fixture(tc, setup_basic, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_call_add);
  tcase_add_test(tc, test_call_multi_value);
  tcase_add_test(tc, test_call_recursion);
  tcase_add_test(tc, test_call_checks_arguments);
  tcase_add_test(tc, test_globals);
  tcase_add_test(tc, test_references);
  tcase_add_test(tc, test_runtimes_are_independent);
  tcase_add_test(tc, test_trap_messages);
  tcase_add_test(tc, test_deep_recursion_traps);
  tcase_add_test(tc, test_small_native_stack);
  tcase_add_test(tc, test_thread_with_small_stack);
  tcase_add_test(tc, test_host_import);
  tcase_add_test(tc, test_host_trap);
  tcase_add_test(tc, test_host_exit);
  tcase_add_test(tc, test_host_calls_back);
  tcase_add_test(tc, test_memory_grow);
  tcase_add_test(tc, test_link_two_instances);
  tcase_add_test(tc, test_failed_instantiation_keeps_writes);
  tcase_add_test(tc, test_start_trap);
  tcase_add_test(tc, test_unknown_import);
  tcase_add_test(tc, test_malformed_module);
  tcase_add_test(tc, test_invalid_module);
  tcase_add_test(tc, test_module_hash);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(api_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
