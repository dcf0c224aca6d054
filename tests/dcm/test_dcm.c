/*
 * test_dcm.c: the compiler against the interpreter.
 *
 * Every case calls an export of ops.wat in a fresh runtime per tier: cold
 * (the interpreter, the reference), warm and hot (every function compiled
 * with dcm_switch_instance). The lines "name(args): results" or
 * "name(args): trap line" must be identical in every tier, and a few are
 * also checked against known values so the reference itself is sane.
 * Hot code with profile hints (guarded direct calls at call_indirect
 * sites) must give the same lines too, whatever the table holds.
 */
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "code_reader.h"
#include "dcm-run.h"
#include "kiln_package_elf.h"
#include "runtime.h"

#define I32(v) KILN_I32_VAL(v)
#define I64(v) KILN_I64_VAL(v)
#define F32(v) KILN_F32_VAL(v)
#define F64(v) KILN_F64_VAL(v)

typedef struct {
  const char *name;
  uint32_t nargs;
  kiln_value args[3];
} Case;

static const Case cases[] = {
    {"add", 2, {I32(2), I32(40)}},
    {"sub", 2, {I32(2), I32(40)}},
    {"div_s", 2, {I32(-7), I32(2)}},
    {"div_s", 2, {I32(INT32_MIN), I32(-1)}},
    {"div_s", 2, {I32(1), I32(0)}},
    {"div_u", 2, {I32(-7), I32(2)}},
    {"div_u", 2, {I32(1), I32(0)}},
    {"rem_s", 2, {I32(INT32_MIN), I32(-1)}},
    {"rem_s", 2, {I32(-7), I32(3)}},
    {"rem_s", 2, {I32(7), I32(0)}},
    {"rem_u", 2, {I32(-7), I32(3)}},
    {"div_s64", 2, {I64(INT64_MIN), I64(-1)}},
    {"div_s64", 2, {I64(-9), I64(4)}},
    {"rem_s64", 2, {I64(INT64_MIN), I64(-1)}},
    {"div_u64", 2, {I64(-9), I64(0)}},
    {"bits", 1, {I32(0)}},
    {"bits", 1, {I32(0x00f0f000)}},
    {"bits64", 1, {I64(0)}},
    {"bits64", 1, {I64(0x0000100000f00000ll)}},
    {"shifts", 2, {I32(0x80000001), I32(33)}},
    {"shifts", 2, {I32(-12345), I32(7)}},
    {"shifts64", 2, {I64(-12345), I64(71)}},
    {"cmp", 2, {I32(-1), I32(1)}},
    {"cmp", 2, {I32(0), I32(0)}},
    {"ext", 1, {I64(0x1234567890abcdefll)}},
    {"ext", 1, {I64(0x80)}},
    {"fmin", 2, {F64(0.0), F64(-0.0)}},
    {"fmin", 2, {F64(NAN), F64(1.0)}},
    {"fmin", 2, {F64(3.0), F64(-2.5)}},
    {"fmax32", 2, {F32(-0.0f), F32(0.0f)}},
    {"fmax32", 2, {F32(1.0f), F32(-NAN)}},
    {"fround", 1, {F64(2.5)}},
    {"fround", 1, {F64(-3.5)}},
    {"fround", 1, {F64(NAN)}},
    {"fround32", 1, {F32(-1.5f)}},
    {"fround32", 1, {F32(0.5f)}},
    {"nearest", 1, {F64(-0.5)}},
    {"nearest", 1, {F64(4503599627370497.0)}},
    {"trunc_s", 1, {F64(-2147483648.9)}},
    {"trunc_s", 1, {F64(2147483648.0)}},
    {"trunc_s", 1, {F64(NAN)}},
    {"trunc_u64", 1, {F32(-0.9f)}},
    {"trunc_u64", 1, {F32(-1.0f)}},
    {"trunc_u64", 1, {F32(1e19f)}},
    {"sat_s", 1, {F64(-1e300)}},
    {"sat_s", 1, {F64(NAN)}},
    {"sat_s", 1, {F64(123.9)}},
    {"sat_u64", 1, {F32(1e30f)}},
    {"sat_u64", 1, {F32(-5.0f)}},
    {"conv", 1, {I64(-1)}},
    {"conv", 1, {I64(0x7fffffffffffffffll)}},
    {"fac", 2, {I32(10), I32(0)}},
    {"fib", 1, {I32(90)}},
    {"switch", 1, {I32(0)}},
    {"switch", 1, {I32(2)}},
    {"switch", 1, {I32(3)}},
    {"switch", 1, {I32(-1)}},
    {"switch_val", 1, {I32(0)}},
    {"switch_val", 1, {I32(1)}},
    {"switch_val", 1, {I32(7)}},
    {"dispatch", 3, {I32(0), I32(5), I32(3)}},
    {"dispatch", 3, {I32(1), I32(5), I32(3)}},
    {"dispatch", 3, {I32(2), I32(5), I32(3)}},
    {"dispatch", 3, {I32(3), I32(5), I32(3)}},
    {"dispatch", 3, {I32(4), I32(5), I32(3)}},
    {"dispatch_bad", 1, {I32(0)}},
    {"load", 1, {I32(0)}},
    {"load", 1, {I32(65526)}},
    {"load", 1, {I32(-1)}},
    {"loadf", 1, {I32(8)}},
    {"store", 2, {I32(16), I64(0x1122334455667788ll)}},
    {"store", 2, {I32(65532), I64(1)}},
    {"grow", 1, {I32(1)}},
    {"grow", 1, {I32(5)}},
    {"bulk", 3, {I32(100), I32(200), I32(8)}},
    {"bulk", 3, {I32(100), I32(65530), I32(8)}},
    {"bulk", 3, {I32(65536), I32(0), I32(0)}},
    {"globals", 1, {I32(5)}},
    {"globals", 1, {I32(-20)}},
    {"multi", 2, {I32(10), I32(3)}},
    {"multi_out", 2, {I64(-4), F64(2.25)}},
    {"select", 3, {I32(1), F64(1.5), F64(-2.0)}},
    {"select", 3, {I32(0), F64(1.5), F64(-2.0)}},
    {"deep", 1, {I32(0)}},
    {"unreachable", 1, {I32(0)}},
    {"unreachable", 1, {I32(1)}},
    {"tables", 1, {I32(1)}},
    {"tables", 1, {I32(3)}},
    {"tables", 1, {I32(9)}},
    {"fsum", 1, {I32(1000)}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void format_value(char *out, size_t n, const kiln_value *v) {
  switch (v->type) {
  case KILN_I32:
    snprintf(out, n, " i32:%d", v->of.i32);
    break;
  case KILN_I64:
    snprintf(out, n, " i64:%lld", (long long)v->of.i64);
    break;
  case KILN_F32: {
    uint32_t b;
    memcpy(&b, &v->of.f32, 4);
    snprintf(out, n, " f32:%g/0x%08x", (double)v->of.f32, b);
    break;
  }
  case KILN_F64: {
    uint64_t b;
    memcpy(&b, &v->of.f64, 8);
    snprintf(out, n, " f64:%g/0x%016llx", v->of.f64, (unsigned long long)b);
    break;
  }
  default:
    snprintf(out, n, " ref:%s", v->of.ref ? "non-null" : "null");
    break;
  }
}

/* One case's line. */
static void run_case(kiln_runtime *rt, kiln_instance *in, const Case *c, char *line, size_t n) {
  kiln_func *f = kiln_instance_func(in, c->name);
  ck_assert_msg(f != NULL, "no export %s", c->name);
  kiln_value res[4];
  uint32_t nr = kiln_func_result_count(f);
  kiln_status st = kiln_call(rt, f, c->args, c->nargs, res, nr);
  int at = snprintf(line, n, "%s:", c->name);
  if (st != KILN_OK) {
    snprintf(line + at, n - (size_t)at, " %s", kiln_error(rt));
    return;
  }
  for (uint32_t i = 0; i < nr && (size_t)at < n; i++) {
    format_value(line + at, n - (size_t)at, &res[i]);
    at = (int)strlen(line);
  }
}

/* With this profile at this tier (run_tier's tier PROFILED). */
static DcmProfile tier_profile;
static DcmTier profile_tier;
#define PROFILED 100

/* All lines of one tier (cold: no compilation). */
static char (*run_tier(const char *tier_name, int tier))[256] {
  char(*lines)[256] = calloc(NCASES, sizeof *lines);
  kiln_runtime *rt = kiln_runtime_new(NULL);
  ck_assert_ptr_nonnull(rt);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  kiln_instance *in = kiln_instantiate(rt, m, NULL);
  ck_assert_msg(in != NULL, "%s", kiln_error(rt));
  char err[256];
  if (tier == PROFILED)
    ck_assert_msg(dcm_switch_profiled(in, profile_tier, &tier_profile, err, sizeof err), "%s: %s",
                  tier_name, err);
  else if (tier >= 0)
    ck_assert_msg(dcm_switch_instance(in, (DcmTier)tier, err, sizeof err), "%s: %s", tier_name,
                  err);
  for (size_t i = 0; i < NCASES; i++)
    run_case(rt, in, &cases[i], lines[i], sizeof lines[i]);
  kiln_runtime_free(rt);
  return lines;
}

static void same_as_cold(int tier, const char *name) {
  char(*cold)[256] = run_tier("cold", -1);
  char(*other)[256] = run_tier(name, tier);
  for (size_t i = 0; i < NCASES; i++)
    ck_assert_msg(strcmp(cold[i], other[i]) == 0, "case %zu, %s: cold \"%s\", %s \"%s\"", i, name,
                  cold[i], name, other[i]);
  free(cold);
  free(other);
  dcm_release_all();
}

START_TEST(reference_is_sane) {
  char(*cold)[256] = run_tier("cold", -1);
  ck_assert_str_eq(cold[0], "add: i32:42");
  ck_assert_str_eq(cold[3], "div_s: trap: integer overflow in func 2");
  free(cold);
}
END_TEST

START_TEST(warm_matches_interpreter) {
  same_as_cold(DCM_WARM, "warm");
}
END_TEST

START_TEST(hot_matches_interpreter) {
  same_as_cold(DCM_HOT, "hot");
}
END_TEST

/* The request is checked before anything is compiled. */
/* A fresh file name for a package, under $TMPDIR. */
static void temp_package(char *path, size_t size) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, size, "%s/kiln-dcm-test-XXXXXX.so", dir && *dir ? dir : P_tmpdir);
  int fd = mkstemps(path, 3);
  ck_assert_int_ge(fd, 0);
  close(fd);
}

static uint32_t export_index(const WasmModule *wm, const char *name) {
  for (uint32_t i = 0; i < wm->nexports; i++)
    if (wm->exports[i].name.len == strlen(name) &&
        memcmp(wm->exports[i].name.str, name, wm->exports[i].name.len) == 0)
      return wm->exports[i].index;
  ck_abort_msg("no export %s", name);
  return 0;
}

/* The byte offset of the first instruction `opcode` in function x's body. */
static uint32_t first_site(const WasmModule *wm, uint32_t x, uint8_t opcode) {
  const WasmFunc *f = &wm->funcs[x];
  CodeReader r = code_reader(f->body, f->body + f->body_len);
  while (r.p < r.end) {
    const uint8_t *at = r.p;
    uint8_t op = code_u8(&r);
    if (op == opcode)
      return (uint32_t)(at - f->body);
    code_skip_immediates(&r, op);
  }
  ck_abort_msg("function %u has no instruction 0x%02x", x, opcode);
  return 0;
}

/* dispatch's site hinted to $add: elements 0 (add, the direct call), 1
 * (sub), 2 (another type), 3 (null), 4 (none) all behave as interpreted.
 * dispatch_bad's site hinted to $add too, which has another type than the
 * site: the hint must be ignored (a direct call would skip the trap). A
 * hint at no call_indirect is ignored as well. Branch hints, right and
 * wrong (fib's br_if, fac's if, fsum's br_if), change no result. */
START_TEST(hinted_matches_interpreter) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_ptr_nonnull(m);
  const WasmModule *wm = ((Module *)m)->wasm;
  uint32_t add = export_index(wm, "add"), sub = export_index(wm, "sub");
  uint32_t d = export_index(wm, "dispatch"), bad = export_index(wm, "dispatch_bad");
  DcmCallHint hints[] = {{d, 0, sub},
                         {d, first_site(wm, d, WASM_OP_CALL_INDIRECT), add},
                         {bad, first_site(wm, bad, WASM_OP_CALL_INDIRECT), add}};
  ck_assert(d < bad);
  uint32_t fac = export_index(wm, "fac"), fib = export_index(wm, "fib");
  uint32_t fsum = export_index(wm, "fsum");
  ck_assert(fac < fib && fib < fsum);
  DcmBranchHint branches[] = {{fac, first_site(wm, fac, WASM_OP_IF), false},
                              {fib, first_site(wm, fib, WASM_OP_BR_IF), false},
                              {fsum, first_site(wm, fsum, WASM_OP_BR_IF), false}};
  tier_profile = (DcmProfile){.hints = hints,
                              .nhints = sizeof hints / sizeof *hints,
                              .branches = branches,
                              .nbranches = sizeof branches / sizeof *branches};
  profile_tier = DCM_HOT;
  same_as_cold(PROFILED, "hot with hints");
  kiln_runtime_free(rt);
}
END_TEST

START_TEST(rejects_imported_or_unknown_functions) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_ptr_nonnull(m);
  kiln_instance *in = kiln_instantiate(rt, m, NULL);
  ck_assert_ptr_nonnull(in);
  const WasmModule *wm = ((Instance *)in)->module->wasm;
  uint32_t bad = wm->nfuncs;
  DcmManifest man;
  char err[128];
  ck_assert(!dcm_compile(wm, &bad, 1, DCM_WARM, NULL, "/nonexistent/x.so", &man, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "not a defined function"));
  kiln_runtime_free(rt);
}
END_TEST

/* The manifest names each entry after the name section and knows its size. */
START_TEST(manifest_names_and_sizes) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_ptr_nonnull(m);
  const WasmModule *wm = ((Module *)m)->wasm;
  uint32_t funcs[2] = {0, 1};
  char path[4096];
  temp_package(path, sizeof path);
  DcmManifest man;
  char err[256];
  ck_assert_msg(dcm_compile(wm, funcs, 2, DCM_HOT, NULL, path, &man, err, sizeof err), "%s", err);
  unlink(path);
  ck_assert_uint_eq(man.nfuncs, 2);
  ck_assert_str_eq(man.funcs[0].symbol, "kiln_f0_add");
  ck_assert_str_eq(man.funcs[1].symbol, "kiln_f1_sub");
  ck_assert_uint_gt(man.funcs[0].code_size, 0);
  ck_assert_uint_gt(man.package_size, 0);
  dcm_manifest_free(&man);
  kiln_runtime_free(rt);
}
END_TEST

/* Functions the profile names in without_osr get no OSR entry; the others
 * with loops keep theirs. */
START_TEST(without_osr_drops_the_entry) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_ptr_nonnull(m);
  const WasmModule *wm = ((Module *)m)->wasm;
  uint32_t fib = export_index(wm, "fib"), fsum = export_index(wm, "fsum");
  uint32_t funcs[2] = {fib < fsum ? fib : fsum, fib < fsum ? fsum : fib};
  char path[4096];
  temp_package(path, sizeof path);
  DcmProfile profile = {.without_osr = &fib, .nwithout_osr = 1};
  DcmManifest man;
  char err[256];
  ck_assert_msg(dcm_compile(wm, funcs, 2, DCM_HOT, &profile, path, &man, err, sizeof err), "%s",
                err);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  unlink(path);
  ck_assert_msg(h != NULL, "%s", dlerror());
  char name[32];
  snprintf(name, sizeof name, "kiln_o%u", fib);
  ck_assert_ptr_null(dlsym(h, name));
  snprintf(name, sizeof name, "kiln_o%u", fsum);
  ck_assert_ptr_nonnull(dlsym(h, name));
  dlclose(h);
  dcm_manifest_free(&man);
  kiln_runtime_free(rt);
}
END_TEST

/* Bytes of code of the package at path, its symbol table's functions. */
static void add_code(const char *name, uint64_t value, uint64_t len, void *arg) {
  (void)name, (void)value;
  *(uint64_t *)arg += len;
}

static uint64_t code_bytes(const char *path) {
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  struct stat st;
  ck_assert_int_eq(fstat(fd, &st), 0);
  const uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  ck_assert(p != MAP_FAILED);
  uint64_t bytes = 0;
  ck_assert(kiln_elf_functions(p, (size_t)st.st_size, SHT_SYMTAB, add_code, &bytes));
  munmap((void *)p, (size_t)st.st_size);
  return bytes;
}

/* Functions in osr_body are compiled once, as their OSR entry, which
 * their FuncEntry enters at the top: every call gives the interpreter's
 * line at warm and hot, and the package holds one body where it held two. */
START_TEST(osr_body_matches_interpreter) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, DCM_WASM);
  ck_assert_ptr_nonnull(m);
  const WasmModule *wm = ((Module *)m)->wasm;
  uint32_t *all = malloc(wm->nfuncs * sizeof *all);
  ck_assert_ptr_nonnull(all);
  for (uint32_t i = 0; i < wm->nfuncs; i++)
    all[i] = i;
  tier_profile = (DcmProfile){.osr_body = all, .nosr_body = wm->nfuncs};
  profile_tier = DCM_WARM;
  same_as_cold(PROFILED, "warm, OSR bodies");
  profile_tier = DCM_HOT;
  same_as_cold(PROFILED, "hot, OSR bodies");

  uint32_t fib = export_index(wm, "fib"), fsum = export_index(wm, "fsum");
  uint32_t funcs[2] = {fib < fsum ? fib : fsum, fib < fsum ? fsum : fib};
  uint64_t size[2];
  for (int once = 0; once < 2; once++) {
    char path[4096], err[256];
    temp_package(path, sizeof path);
    DcmProfile profile = {.osr_body = funcs, .nosr_body = once ? 2 : 0};
    DcmManifest man;
    ck_assert_msg(dcm_compile(wm, funcs, 2, DCM_HOT, &profile, path, &man, err, sizeof err), "%s",
                  err);
    size[once] = code_bytes(path);
    unlink(path);
    dcm_manifest_free(&man);
  }
  ck_assert_msg(size[1] < size[0], "code with OSR bodies %llu bytes, with both bodies %llu",
                (unsigned long long)size[1], (unsigned long long)size[0]);
  free(all);
  kiln_runtime_free(rt);
}
END_TEST

/* big.wasm's $big (big_wat.py) is over DCM_BIG_BODY_BYTES, so it compiles
 * with the options for big functions: in every tier it must give the
 * interpreter's result, its trap, and the memory it leaves at the trap. */
typedef struct {
  char ok[256], trap[256];
  uint8_t mem[4096];
} BigRun;

static void run_big(int tier, BigRun *out) {
  kiln_runtime *rt = kiln_runtime_new(NULL);
  kiln_module *m = kiln_module_load(rt, BIG_WASM);
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  const WasmModule *wm = ((Module *)m)->wasm;
  ck_assert_uint_ge(wm->funcs[export_index(wm, "big")].body_len, DCM_BIG_BODY_BYTES);
  kiln_instance *in = kiln_instantiate(rt, m, NULL);
  ck_assert_msg(in != NULL, "%s", kiln_error(rt));
  char err[256];
  if (tier >= 0)
    ck_assert_msg(dcm_switch_instance(in, (DcmTier)tier, err, sizeof err), "%s", err);
  Case ok = {"big", 2, {I32(7), I32(0)}}, trap = {"big", 2, {I32(3), I32(65536)}};
  run_case(rt, in, &ok, out->ok, sizeof out->ok);
  run_case(rt, in, &trap, out->trap, sizeof out->trap);
  uint64_t size = 0;
  const uint8_t *mem = kiln_instance_memory(in, "mem", &size);
  ck_assert(mem != NULL && size >= sizeof out->mem);
  memcpy(out->mem, mem, sizeof out->mem);
  kiln_runtime_free(rt);
}

START_TEST(big_function_matches_interpreter) {
  BigRun cold, other;
  run_big(-1, &cold);
  ck_assert_msg(strstr(cold.trap, "out of bounds") != NULL, "%s", cold.trap);
  ck_assert_msg(strstr(cold.ok, "i32:") != NULL, "%s", cold.ok);
  for (int tier = DCM_WARM; tier <= DCM_HOT; tier++) {
    run_big(tier, &other);
    const char *name = dcm_tier_name((DcmTier)tier);
    ck_assert_msg(strcmp(cold.ok, other.ok) == 0, "%s: \"%s\", cold \"%s\"", name, other.ok,
                  cold.ok);
    ck_assert_msg(strcmp(cold.trap, other.trap) == 0, "%s: \"%s\", cold \"%s\"", name, other.trap,
                  cold.trap);
    ck_assert_msg(memcmp(cold.mem, other.mem, sizeof cold.mem) == 0,
                  "%s: memory at the trap differs from cold's", name);
  }
  dcm_release_all();
}
END_TEST

int main(void) {
  Suite *s = suite_create("dcm");
  TCase *tc = tcase_create("tiers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, reference_is_sane);
  tcase_add_test(tc, warm_matches_interpreter);
  tcase_add_test(tc, hot_matches_interpreter);
  tcase_add_test(tc, hinted_matches_interpreter);
  tcase_add_test(tc, rejects_imported_or_unknown_functions);
  tcase_add_test(tc, manifest_names_and_sizes);
  tcase_add_test(tc, without_osr_drops_the_entry);
  tcase_add_test(tc, osr_body_matches_interpreter);
  tcase_add_test(tc, big_function_matches_interpreter);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
