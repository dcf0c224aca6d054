/*
 * test_core.c: the decoder, validator, module helpers and hash of core/.
 *
 * Most modules are hand-written byte arrays, so error offsets can be stated
 * exactly; a few are built from text with wat2wasm (found through $WAT2WASM
 * or PATH; those tests are skipped when it is missing). The full spec suite
 * runs elsewhere (tests/spec); these pin down messages and edge cases.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wasm.h"

#define HEADER 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

/* ------------------------------------------------------------- helpers */

static WasmModule *decode_ok(const uint8_t *b, size_t n) {
  WasmError err;
  WasmModule *m = wasm_decode(b, n, &err);
  ck_assert_msg(m != NULL, "decode failed: %s at 0x%zx", err.msg, err.offset);
  return m;
}

/* Decode and validate; returns the error kind (0 when valid). */
static int check_bytes(const uint8_t *b, size_t n, WasmError *err, char *line, size_t size) {
  WasmModule *m = wasm_decode(b, n, err);
  if (!m) {
    wasm_format_error(NULL, err, line, size);
    return err->kind;
  }
  int kind = wasm_validate(m, err) ? 0 : err->kind;
  if (kind)
    wasm_format_error(m, err, line, size);
  wasm_module_free(m);
  return kind;
}

/* wat2wasm on a text module; NULL when the tool is not there. */
static uint8_t *wat(const char *text, size_t *len) {
  const char *tool = getenv("WAT2WASM");
  char src[] = "/tmp/kiln-test-core-XXXXXX";
  int fd = mkstemp(src);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  char out[64], cmd[512];
  snprintf(out, sizeof out, "%s.wasm", src);
  snprintf(cmd, sizeof cmd, "%s --enable-all --debug-names --no-check '%s' -o '%s' 2>/dev/null",
           tool ? tool : "wat2wasm", src, out);
  int rc = system(cmd);
  unlink(src);
  if (rc != 0) {
    unlink(out);
    /* 127: the shell found no such tool, so skip; any other failure is a
     * broken test module */
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 127, "wat2wasm failed on: %s", text);
    return NULL;
  }
  FILE *f = fopen(out, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  unlink(out);
  *len = (size_t)n;
  return b;
}

/* () -> i32 whose body is f64.const 0; end, and a name section naming
 * function 0 "f". The `end` sits at 0x21. */
static const uint8_t bad_result[] = {
    HEADER, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, /* type () -> i32 */
    0x03,   0x02, 0x01, 0x00, /* func 0: type 0 */
    0x0a,   0x0d, 0x01, 0x0b, 0x00, /* code, 1 body */
    0x44,   0,    0,    0,    0,    0,    0,    0,    0,    0x0b, /* f64.const 0 end */
    0x00,   0x0b, 0x04, 'n',  'a',  'm',  'e',  0x01, 0x04, 0x01, 0x00, 0x01, 'f',
};

/* --------------------------------------------------------------- tests */

START_TEST(test_empty_module) {
  static const uint8_t b[] = {HEADER};
  WasmModule *m = decode_ok(b, sizeof b);
  WasmError err;
  ck_assert(wasm_validate(m, &err));
  ck_assert_uint_eq(m->nfuncs, 0);
  ck_assert_ptr_null(m->name.str);
  ck_assert_uint_eq(m->binary_len, sizeof b);
  ck_assert(m->binary != b); /* a copy */
  char hex[65];
  wasm_hash_hex(m->hash, hex);
  ck_assert_str_eq(hex, "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476");
  wasm_module_free(m);
}
END_TEST

START_TEST(test_type_mismatch_offset) {
  WasmError err;
  char line[256];
  ck_assert_int_eq(check_bytes(bad_result, sizeof bad_result, &err, line, sizeof line),
                   WASM_ERR_INVALID);
  ck_assert_uint_eq(err.offset, 0x21);
  ck_assert_int_eq(err.func, 0);
  ck_assert_str_eq(err.msg, "type mismatch: expected i32, got f64");
  ck_assert_str_eq(line,
                   "invalid module at 0x21 in func 0 ($f): type mismatch: expected i32, got f64");
}
END_TEST

START_TEST(test_names_kept) {
  WasmModule *m = decode_ok(bad_result, sizeof bad_result);
  ck_assert_str_eq(m->funcs[0].name.str, "f");
  ck_assert_uint_eq(m->funcs[0].name.len, 1);
  char buf[64];
  wasm_describe_func(m, 0, buf, sizeof buf);
  ck_assert_str_eq(buf, "func 0 ($f)");
  wasm_describe_func(m, 5, buf, sizeof buf);
  ck_assert_str_eq(buf, "func 5");
  wasm_describe_func(NULL, 7, buf, sizeof buf);
  ck_assert_str_eq(buf, "func 7");
  wasm_module_free(m);
}
END_TEST

/* A name section with a bad subsection is ignored, never an error. */
START_TEST(test_malformed_name_section_ignored) {
  uint8_t b[sizeof bad_result];
  memcpy(b, bad_result, sizeof b);
  b[sizeof b - 1] = 0xff; /* the name "f" becomes invalid UTF-8 */
  WasmModule *m = decode_ok(b, sizeof b);
  ck_assert_ptr_null(m->funcs[0].name.str);
  wasm_module_free(m);
  memcpy(b, bad_result, sizeof b);
  b[sizeof b - 3] = 0x07; /* names function 7, which does not exist */
  m = decode_ok(b, sizeof b);
  ck_assert_ptr_null(m->funcs[0].name.str);
  wasm_module_free(m);
}
END_TEST

START_TEST(test_malformed_errors) {
  static const struct {
    const char *what;
    uint8_t bytes[32];
    size_t len;
    size_t offset;
    const char *msg;
  } cases[] = {
      {"magic", {0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0}, 8, 0, "magic header not detected"},
      {"version", {0x00, 0x61, 0x73, 0x6d, 2, 0, 0, 0}, 8, 4, "unknown binary version"},
      {"leb too long",
       {HEADER, 0x01, 0x06, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00},
       16,
       10,
       "integer representation too long"},
      {"leb too large",
       {HEADER, 0x01, 0x05, 0x80, 0x80, 0x80, 0x80, 0x10},
       15,
       10,
       "integer too large"},
      {"section id", {HEADER, 0x0d, 0x00}, 10, 8, "malformed section id"},
      {"size mismatch", {HEADER, 0x01, 0x02, 0x00, 0x00}, 12, 11, "section size mismatch"},
      {"order",
       {HEADER, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00},
       14,
       11,
       "unexpected content after last section"},
      {"custom name utf8", {HEADER, 0x00, 0x02, 0x01, 0xc0}, 12, 11, "malformed UTF-8 encoding"},
      {"func without code",
       {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00},
       18,
       18,
       "function and code section have inconsistent lengths"},
      {"huge count",
       {HEADER, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f},
       15,
       10,
       "length out of bounds"},
      {"too many locals",
       {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a,
        0x0a,   0x01, 0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b},
       30,
       23,
       "too many locals"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    WasmError err;
    char line[256];
    int kind = check_bytes(cases[i].bytes, cases[i].len, &err, line, sizeof line);
    ck_assert_msg(kind == WASM_ERR_MALFORMED, "%s: kind %d (%s)", cases[i].what, kind, line);
    ck_assert_msg(strcmp(err.msg, cases[i].msg) == 0, "%s: got '%s'", cases[i].what, err.msg);
    ck_assert_msg(err.offset == cases[i].offset, "%s: offset 0x%zx", cases[i].what, err.offset);
  }
}
END_TEST

/* Body-level errors: an illegal opcode and a missing data count section are
 * malformed, found while validating; unknown indices are invalid. */
START_TEST(test_body_errors) {
  static const struct {
    const char *what;
    uint8_t body[8];
    size_t len;
    int kind;
    size_t offset; /* from the start of the body */
    const char *msg;
  } cases[] = {
      {"illegal opcode", {0x00, 0x06, 0x0b}, 3, WASM_ERR_MALFORMED, 1, "illegal opcode 0x06"},
      {"no end", {0x00, 0x01}, 2, WASM_ERR_MALFORMED, 2, "unexpected end of section or function"},
      {"data.drop",
       {0x00, 0xfc, 0x09, 0x00, 0x0b},
       5,
       WASM_ERR_MALFORMED,
       1,
       "data count section required"},
      {"unknown local", {0x00, 0x20, 0x03, 0x1a, 0x0b}, 5, WASM_ERR_INVALID, 1, "unknown local 3"},
      {"unknown label", {0x00, 0x0c, 0x01, 0x0b}, 4, WASM_ERR_INVALID, 1, "unknown label 1"},
      {"empty stack",
       {0x00, 0x1a, 0x0b},
       3,
       WASM_ERR_INVALID,
       1,
       "type mismatch: expected a value, got nothing"},
      {"extra value",
       {0x00, 0x41, 0x00, 0x0b},
       4,
       WASM_ERR_INVALID,
       3,
       "type mismatch: 1 extra value at end of block"},
      {"unknown memory",
       {0x00, 0x3f, 0x00, 0x1a, 0x0b},
       5,
       WASM_ERR_INVALID,
       1,
       "unknown memory 0"},
      {"ref.func undeclared",
       {0x00, 0xd2, 0x00, 0x1a, 0x0b},
       5,
       WASM_ERR_INVALID,
       1,
       "undeclared function reference 0"},
      {"unreachable is polymorphic", {0x00, 0x00, 0x6a, 0x1a, 0x0b}, 5, 0, 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t b[64] = {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a};
    size_t n = 19;
    b[n++] = (uint8_t)(cases[i].len + 2);
    b[n++] = 0x01;
    b[n++] = (uint8_t)cases[i].len;
    size_t body = n + 1; /* after the local group count */
    memcpy(b + n, cases[i].body, cases[i].len);
    n += cases[i].len;
    WasmError err;
    char line[256];
    int kind = check_bytes(b, n, &err, line, sizeof line);
    ck_assert_msg(kind == cases[i].kind, "%s: kind %d (%s)", cases[i].what, kind, line);
    if (!kind)
      continue;
    ck_assert_msg(strcmp(err.msg, cases[i].msg) == 0, "%s: got '%s'", cases[i].what, err.msg);
    ck_assert_msg(err.offset == body + cases[i].offset - 1, "%s: offset 0x%zx", cases[i].what,
                  err.offset);
    ck_assert_int_eq(err.func, 0);
  }
}
END_TEST

/* Every prefix of a valid module decodes or fails cleanly (run under a
 * sanitizer build this also proves no out-of-bounds reads). */
START_TEST(test_truncation) {
  for (size_t n = 0; n < sizeof bad_result; n++) {
    WasmError err;
    WasmModule *m = wasm_decode(bad_result, n, &err);
    if (m) {
      wasm_validate(m, &err);
      wasm_module_free(m);
    } else {
      ck_assert_int_eq(err.kind, WASM_ERR_MALFORMED);
      ck_assert_uint_le(err.offset, n);
    }
  }
}
END_TEST

START_TEST(test_hash_differs) {
  static const uint8_t a[] = {HEADER};
  WasmModule *ma = decode_ok(a, sizeof a);
  WasmModule *mb = decode_ok(bad_result, sizeof bad_result);
  WasmModule *mb2 = decode_ok(bad_result, sizeof bad_result);
  ck_assert(memcmp(ma->hash, mb->hash, 32) != 0);
  ck_assert(memcmp(mb->hash, mb2->hash, 32) == 0);
  uint8_t h[32];
  wasm_module_hash(bad_result, sizeof bad_result, h);
  ck_assert(memcmp(h, mb->hash, 32) == 0);
  wasm_module_free(ma);
  wasm_module_free(mb);
  wasm_module_free(mb2);
}
END_TEST

START_TEST(test_format_error_without_module) {
  WasmError err = {WASM_ERR_MALFORMED, 0x1a3, -1, "unexpected end"};
  char line[128];
  wasm_format_error(NULL, &err, line, sizeof line);
  ck_assert_str_eq(line, "malformed module at 0x1a3: unexpected end");
  err.kind = WASM_ERR_INVALID;
  err.func = 7;
  wasm_format_error(NULL, &err, line, sizeof line);
  ck_assert_str_eq(line, "invalid module at 0x1a3 in func 7: unexpected end");
  ck_assert_str_eq(wasm_type_name(WASM_EXTERNREF), "externref");
  ck_assert_str_eq(wasm_type_name(WASM_F64), "f64");
}
END_TEST

/* A real module with every 2.0 feature the decoder handles. */
START_TEST(test_wat_module) {
  size_t n;
  uint8_t *b =
      wat("(module $demo\n"
          "  (type $t (func (param i32) (result i32 i32)))\n"
          "  (import \"env\" \"g\" (global $g i32))\n"
          "  (import \"env\" \"f\" (func $imp (param i32)))\n"
          "  (memory 1 2) (table $tab 4 funcref) (table $ext 1 externref)\n"
          "  (global $h (mut i64) (i64.const -1))\n"
          "  (elem (table $tab) (global.get $g) func $parse $imp)\n"
          "  (elem $pass funcref (ref.func $parse) (ref.null func))\n"
          "  (data (i32.const 8) \"hi\") (data $pd \"passive\")\n"
          "  (func $parse (export \"parse\") (type $t) (local f32 f32 externref)\n"
          "    local.get 0\n"
          "    block $b (param i32) (result i32 i32)\n"
          "      i32.extend8_s i32.const 1\n"
          "    end\n"
          "    (memory.init $pd (i32.const 0) (i32.const 0) (i32.const 2))\n"
          "    (data.drop $pd)\n"
          "    (table.init $tab $pass (i32.const 0) (i32.const 0) (i32.const 1))\n"
          "    (drop (table.grow $ext (ref.null extern) (i32.const 1)))\n"
          "    (drop (ref.is_null (ref.func $parse)))\n"
          "    (drop (i32.trunc_sat_f32_s (f32.const 1.5)))\n"
          "    (drop (select (result externref) (local.get 3) (ref.null extern) (i32.const 1)))\n"
          "    (global.set $h (i64.const 2)))\n"
          "  (start $init) (func $init))\n",
          &n);
  if (!b)
    return; /* no wat2wasm here */
  WasmModule *m = decode_ok(b, n);
  WasmError err;
  ck_assert_msg(wasm_validate(m, &err), "%s at 0x%zx", err.msg, err.offset);
  ck_assert_str_eq(m->name.str, "demo");
  ck_assert_uint_eq(m->nfuncs, 3);
  ck_assert_uint_eq(m->nfunc_imports, 1);
  ck_assert(m->funcs[0].imported);
  ck_assert_str_eq(m->funcs[1].name.str, "parse");
  ck_assert_str_eq(m->funcs[2].name.str, "init");
  ck_assert_uint_eq(m->funcs[1].nlocals, 3);
  ck_assert_uint_eq(m->funcs[1].local_types[2], WASM_EXTERNREF);
  ck_assert_uint_eq(m->funcs[1].body[m->funcs[1].body_len - 1], 0x0b);
  ck_assert_uint_eq(m->ntables, 2);
  ck_assert_uint_eq(m->tables[1].type.elem_type, WASM_EXTERNREF);
  ck_assert_uint_eq(m->nelems, 2);
  ck_assert_uint_eq(m->elems[0].offset.op, 0x23);
  ck_assert_uint_eq(m->elems[0].nitems, 2);
  ck_assert_uint_eq(m->elems[0].items[1].value, 0);
  ck_assert_uint_eq(m->elems[1].mode, WASM_SEG_PASSIVE);
  ck_assert_uint_eq(m->elems[1].items[1].op, 0xd0);
  ck_assert(m->has_data_count);
  ck_assert_uint_eq(m->ndatas, 2);
  ck_assert_uint_eq(m->datas[0].len, 2);
  ck_assert(memcmp(m->datas[0].bytes, "hi", 2) == 0);
  ck_assert_uint_eq(m->globals[1].init.value, UINT64_MAX);
  ck_assert(m->has_start);
  ck_assert_uint_eq(m->start, 2);
  ck_assert_str_eq(m->exports[0].name.str, "parse");
  const WasmFuncType *t = wasm_func_type(m, 1);
  ck_assert_uint_eq(t->nparams, 1);
  ck_assert_uint_eq(t->nresults, 2);
  wasm_module_free(m);
  free(b);
}
END_TEST

START_TEST(test_wat_invalid) {
  static const struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"(module (global i32 (i32.const 1)) (global i32 (global.get 0)))", "unknown global 0"},
      {"(module (global (import \"a\" \"b\") (mut i32)) (global i32 (global.get 0)))",
       "constant expression required: global 0 is mutable"},
      {"(module (func (export \"a\")) (func (export \"a\")))", "duplicate export name \"a\""},
      {"(module (memory 65537))", "memory size must be at most 65536 pages (4GiB)"},
      {"(module (func $f (param i32)) (start $f))",
       "start function must take no parameters and return nothing"},
      {"(module (memory 1) (func (drop (i32.load align=8 (i32.const 0)))))",
       "alignment must not be larger than natural"},
      {"(module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))",
       "global is immutable"},
      {"(module (table 1 externref) (func (call_indirect (i32.const 0))))",
       "type mismatch: call_indirect needs a funcref table"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n;
    uint8_t *b = wat(cases[i].text, &n);
    if (!b)
      return;
    WasmError err;
    char line[256];
    int kind = check_bytes(b, n, &err, line, sizeof line);
    ck_assert_msg(kind == WASM_ERR_INVALID, "%s: kind %d (%s)", cases[i].text, kind, line);
    ck_assert_msg(strcmp(err.msg, cases[i].msg) == 0, "%s: got '%s'", cases[i].text, err.msg);
    free(b);
  }
}
END_TEST

static Suite *core_suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("decode+validate");
  tcase_add_test(tc, test_empty_module);
  tcase_add_test(tc, test_type_mismatch_offset);
  tcase_add_test(tc, test_names_kept);
  tcase_add_test(tc, test_malformed_name_section_ignored);
  tcase_add_test(tc, test_malformed_errors);
  tcase_add_test(tc, test_body_errors);
  tcase_add_test(tc, test_truncation);
  tcase_add_test(tc, test_hash_differs);
  tcase_add_test(tc, test_format_error_without_module);
  tcase_add_test(tc, test_wat_module);
  tcase_add_test(tc, test_wat_invalid);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(core_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
