/*
 * code_reader.h: an unchecked reader of function bodies that passed
 * validation, shared by the interpreter's translator and the compiler.
 *
 * Validation has proven every encoding well-formed, so the reads check
 * nothing but `end`: a byte read there is 0 and moves nothing, so even a
 * broken invariant cannot read past the body. The decoder and validator
 * read untrusted bytes with reader.h instead, which reports errors.
 */
#ifndef KILN_CODE_READER_H
#define KILN_CODE_READER_H

#include <stdint.h>

#include "opcodes.h"

typedef struct {
  const uint8_t *p, *end;
} CodeReader;

static inline CodeReader code_reader(const uint8_t *p, const uint8_t *end) {
  CodeReader r = {p, end};
  return r;
}

static inline uint8_t code_u8(CodeReader *r) {
  return r->p < r->end ? *r->p++ : 0;
}

/* LEB128 of up to 64 bits; a valid encoding has at most 10 bytes. */
static inline uint64_t code_uleb(CodeReader *r) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    uint8_t b = code_u8(r);
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80))
      break;
  }
  return v;
}

/* Signed LEB128 (s32, s33 block types, s64), sign-extended from its last
 * byte's bit 6. */
static inline int64_t code_sleb(CodeReader *r) {
  uint64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    b = code_u8(r);
    v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while ((b & 0x80) && shift < 70);
  if (shift < 64 && (b & 0x40))
    v |= ~(uint64_t)0 << shift;
  return (int64_t)v;
}

static inline uint32_t code_u32(CodeReader *r) {
  return (uint32_t)code_uleb(r);
}

/* Little-endian fixed-width values (float constants), as raw bits. */
static inline uint64_t code_fixed(CodeReader *r, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v |= (uint64_t)code_u8(r) << (8 * i);
  return v;
}

/* Step over the immediates of the instruction whose opcode byte was just
 * read (and for 0xfc its sub-opcode too), by the shapes of opcodes.h: what
 * unreachable code and scans of a whole body need. A memory index or a
 * reference type byte is below 0x80, so reading it as a byte is exact. */
static inline void code_skip_immediates(CodeReader *r, uint8_t op) {
  WasmImm k = wasm_imm(op);
  if (k == WASM_IMM_PREFIX_FC)
    k = wasm_imm_fc(code_u32(r));
  switch (k) {
  case WASM_IMM_BLOCKTYPE:
  case WASM_IMM_S32:
  case WASM_IMM_S64:
    code_sleb(r);
    break;
  case WASM_IMM_U32:
    code_uleb(r);
    break;
  case WASM_IMM_BYTE:
    code_u8(r);
    break;
  case WASM_IMM_U32_U32:
    code_uleb(r);
    code_uleb(r);
    break;
  case WASM_IMM_BYTE_BYTE:
    code_u8(r);
    code_u8(r);
    break;
  case WASM_IMM_U32_BYTE:
    code_uleb(r);
    code_u8(r);
    break;
  case WASM_IMM_BR_TABLE: {
    uint32_t n = code_u32(r);
    for (uint32_t i = 0; i <= n; i++)
      code_uleb(r);
    break;
  }
  case WASM_IMM_SELECT_T: {
    uint32_t n = code_u32(r);
    for (uint32_t i = 0; i < n; i++)
      code_u8(r);
    break;
  }
  case WASM_IMM_F32:
    code_fixed(r, 4);
    break;
  case WASM_IMM_F64:
    code_fixed(r, 8);
    break;
  case WASM_IMM_NONE:
  case WASM_IMM_PREFIX_FC:
  case WASM_IMM_ILLEGAL: /* not in a validated body */
    break;
  }
}

#endif
