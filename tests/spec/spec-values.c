/*
 * spec-values.c: parsing, comparing and printing wast2json values.
 */
#include "spec-values.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *field_string(json_object *obj, const char *key) {
  json_object *v;
  return json_object_object_get_ex(obj, key, &v) ? json_object_get_string(v) : NULL;
}

static bool parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

static bool parse_type(const char *s, kiln_type *t) {
  static const struct {
    const char *name;
    kiln_type type;
  } types[] = {{"i32", KILN_I32}, {"i64", KILN_I64},         {"f32", KILN_F32},
               {"f64", KILN_F64}, {"funcref", KILN_FUNCREF}, {"externref", KILN_EXTERNREF}};
  for (size_t i = 0; s && i < sizeof types / sizeof types[0]; i++) {
    if (strcmp(s, types[i].name) == 0) {
      *t = types[i].type;
      return true;
    }
  }
  return false;
}

/* Fills v (type already set) from the decimal string s. */
static bool parse_payload(const char *s, kiln_value *v) {
  if ((v->type == KILN_FUNCREF || v->type == KILN_EXTERNREF) && s && strcmp(s, "null") == 0) {
    v->of.ref = NULL;
    v->of.func = NULL;
    return true;
  }
  uint64_t bits;
  if (!parse_u64(s, &bits))
    return false;
  uint32_t b32 = (uint32_t)bits;
  switch (v->type) {
  case KILN_I32:
    v->of.i32 = (int32_t)b32;
    return bits <= UINT32_MAX;
  case KILN_I64:
    v->of.i64 = (int64_t)bits;
    return true;
  case KILN_F32:
    memcpy(&v->of.f32, &b32, 4);
    return bits <= UINT32_MAX;
  case KILN_F64:
    memcpy(&v->of.f64, &bits, 8);
    return true;
  case KILN_EXTERNREF:
    v->of.ref = (void *)(uintptr_t)(bits + 1);
    return true;
  case KILN_FUNCREF:
    return false; /* only null can be written in a script */
  }
  return false;
}

bool spec_parse_value(json_object *obj, kiln_value *out, const char **why) {
  const char *type = field_string(obj, "type");
  *out = (kiln_value){0};
  if (!parse_type(type, &out->type)) {
    *why = "value of an unsupported type";
    return false;
  }
  if (!parse_payload(field_string(obj, "value"), out)) {
    *why = "malformed value";
    return false;
  }
  return true;
}

bool spec_parse_expected(json_object *obj, Expected *out, const char **why) {
  const char *type = field_string(obj, "type");
  const char *value = field_string(obj, "value");
  *out = (Expected){.kind = EXPECT_EXACT};
  if (!parse_type(type, &out->value.type)) {
    *why = "expected value of an unsupported type";
    return false;
  }
  bool is_ref = out->value.type == KILN_FUNCREF || out->value.type == KILN_EXTERNREF;
  bool is_float = out->value.type == KILN_F32 || out->value.type == KILN_F64;
  if (is_ref && !value) {
    out->kind = EXPECT_NON_NULL;
    return true;
  }
  if (is_float && value && strcmp(value, "nan:canonical") == 0) {
    out->kind = EXPECT_NAN_CANONICAL;
    return true;
  }
  if (is_float && value && strcmp(value, "nan:arithmetic") == 0) {
    out->kind = EXPECT_NAN_ARITHMETIC;
    return true;
  }
  if (!parse_payload(value, &out->value)) {
    *why = "malformed expected value";
    return false;
  }
  return true;
}

static uint32_t f32_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

static uint64_t f64_bits(double f) {
  uint64_t b;
  memcpy(&b, &f, 8);
  return b;
}

/* Canonical: only the quiet bit set in the payload, either sign.
 * Arithmetic: the quiet bit set, any payload. */
static bool nan_matches(ExpectKind kind, const kiln_value *got) {
  if (got->type == KILN_F32) {
    uint32_t b = f32_bits(got->of.f32) & 0x7fffffffu;
    return kind == EXPECT_NAN_CANONICAL ? b == 0x7fc00000u : (b & 0x7fc00000u) == 0x7fc00000u;
  }
  uint64_t b = f64_bits(got->of.f64) & 0x7fffffffffffffffull;
  return kind == EXPECT_NAN_CANONICAL ? b == 0x7ff8000000000000ull
                                      : (b & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
}

bool spec_value_matches(const Expected *e, const kiln_value *got) {
  if (e->value.type != got->type)
    return false;
  switch (e->kind) {
  case EXPECT_NAN_CANONICAL:
  case EXPECT_NAN_ARITHMETIC:
    return nan_matches(e->kind, got);
  case EXPECT_NON_NULL:
    return got->type == KILN_FUNCREF ? got->of.func != NULL : got->of.ref != NULL;
  case EXPECT_EXACT:
    break;
  }
  switch (got->type) {
  case KILN_I32:
    return e->value.of.i32 == got->of.i32;
  case KILN_I64:
    return e->value.of.i64 == got->of.i64;
  case KILN_F32:
    return f32_bits(e->value.of.f32) == f32_bits(got->of.f32);
  case KILN_F64:
    return f64_bits(e->value.of.f64) == f64_bits(got->of.f64);
  case KILN_FUNCREF:
    return e->value.of.func == got->of.func;
  case KILN_EXTERNREF:
    return e->value.of.ref == got->of.ref;
  }
  return false;
}

void spec_format_value(const kiln_value *v, char *buf, size_t size) {
  switch (v->type) {
  case KILN_I32:
    snprintf(buf, size, "i32:%" PRIu32, (uint32_t)v->of.i32);
    break;
  case KILN_I64:
    snprintf(buf, size, "i64:%" PRIu64, (uint64_t)v->of.i64);
    break;
  case KILN_F32:
    snprintf(buf, size, "f32:%.9g (0x%08" PRIx32 ")", (double)v->of.f32, f32_bits(v->of.f32));
    break;
  case KILN_F64:
    snprintf(buf, size, "f64:%.17g (0x%016" PRIx64 ")", v->of.f64, f64_bits(v->of.f64));
    break;
  case KILN_FUNCREF:
    if (v->of.func)
      snprintf(buf, size, "funcref:%p", (void *)v->of.func);
    else
      snprintf(buf, size, "funcref:null");
    break;
  case KILN_EXTERNREF:
    if (v->of.ref)
      snprintf(buf, size, "externref:%" PRIuPTR, (uintptr_t)v->of.ref - 1);
    else
      snprintf(buf, size, "externref:null");
    break;
  }
}

void spec_format_expected(const Expected *e, char *buf, size_t size) {
  const char *type = e->value.type == KILN_F32       ? "f32"
                     : e->value.type == KILN_F64     ? "f64"
                     : e->value.type == KILN_FUNCREF ? "funcref"
                                                     : "externref";
  switch (e->kind) {
  case EXPECT_NAN_CANONICAL:
    snprintf(buf, size, "%s:nan:canonical", type);
    return;
  case EXPECT_NAN_ARITHMETIC:
    snprintf(buf, size, "%s:nan:arithmetic", type);
    return;
  case EXPECT_NON_NULL:
    snprintf(buf, size, "%s:non-null", type);
    return;
  case EXPECT_EXACT:
    spec_format_value(&e->value, buf, size);
    return;
  }
}
