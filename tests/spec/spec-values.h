/*
 * spec-values.h: values as wast2json writes them, for kiln-spec.
 *
 * Numbers arrive as decimal strings of their bits (i64 unsigned, f32/f64 as
 * the integer of their bit pattern), expected floats may be a NaN pattern,
 * references are "null" or a number. externref N becomes the host pointer
 * N + 1, so that ref.extern 0 differs from ref.null.
 */
#ifndef KILN_SPEC_VALUES_H
#define KILN_SPEC_VALUES_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "kiln.h"

typedef enum {
  EXPECT_EXACT, /* the value, bit for bit */
  EXPECT_NAN_CANONICAL, /* "nan:canonical" */
  EXPECT_NAN_ARITHMETIC, /* "nan:arithmetic" */
  EXPECT_NON_NULL, /* a reference without a value: any non-null one */
} ExpectKind;

typedef struct {
  kiln_value value;
  ExpectKind kind;
} Expected;

/* Parses {"type": ..., "value": ...}. false (with why) on what kiln cannot
 * represent, such as v128. */
bool spec_parse_value(json_object *obj, kiln_value *out, const char **why);
bool spec_parse_expected(json_object *obj, Expected *out, const char **why);

bool spec_value_matches(const Expected *e, const kiln_value *got);

/* "i32:1", "f32:0x7fc00000 (nan)", "externref:3", "funcref:null". */
void spec_format_value(const kiln_value *v, char *buf, size_t size);
void spec_format_expected(const Expected *e, char *buf, size_t size);

#endif
