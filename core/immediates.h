/*
 * immediates.h: which immediates follow each instruction opcode. The one
 * table of instruction shapes, shared by the decoder (skipping non-constant
 * instructions in constant expressions, with checked reads) and the
 * translator (skipping unreachable code in validated bodies, with unchecked
 * reads). It reads nothing itself, so each user keeps its own reader.
 */
#ifndef KILN_IMMEDIATES_H
#define KILN_IMMEDIATES_H

#include <stdint.h>

typedef enum {
  WASM_IMM_NONE,
  WASM_IMM_BLOCKTYPE, /* s33 block type */
  WASM_IMM_U32, /* one index */
  WASM_IMM_U32_U32, /* two indices, or a memarg (align, offset) */
  WASM_IMM_BYTE, /* one byte: memory index 0x00 or a reference type */
  WASM_IMM_BYTE_BYTE, /* memory.copy: two memory index bytes */
  WASM_IMM_U32_BYTE, /* memory.init: data index, memory index byte */
  WASM_IMM_BR_TABLE, /* vec(u32) then the default u32 */
  WASM_IMM_SELECT_T, /* vec(valtype): a count, then that many bytes */
  WASM_IMM_S32,
  WASM_IMM_S64,
  WASM_IMM_F32, /* 4 raw bytes */
  WASM_IMM_F64, /* 8 raw bytes */
  WASM_IMM_PREFIX_FC, /* a u32 sub-opcode follows: see wasm_imm_fc */
  WASM_IMM_ILLEGAL, /* not an opcode */
} WasmImm;

/* The immediates of a single-byte opcode. */
static inline WasmImm wasm_imm(uint8_t op) {
  if ((op >= 0x45 && op <= 0xc4) || op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b ||
      op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1)
    return WASM_IMM_NONE;
  if (op >= 0x28 && op <= 0x3e)
    return WASM_IMM_U32_U32; /* memarg */
  switch (op) {
  case 0x02:
  case 0x03:
  case 0x04:
    return WASM_IMM_BLOCKTYPE;
  case 0x0c:
  case 0x0d:
  case 0x10:
  case 0x20:
  case 0x21:
  case 0x22:
  case 0x23:
  case 0x24:
  case 0x25:
  case 0x26:
  case 0xd2:
    return WASM_IMM_U32;
  case 0x0e:
    return WASM_IMM_BR_TABLE;
  case 0x11:
    return WASM_IMM_U32_U32;
  case 0x1c:
    return WASM_IMM_SELECT_T;
  case 0x3f:
  case 0x40:
  case 0xd0:
    return WASM_IMM_BYTE;
  case 0x41:
    return WASM_IMM_S32;
  case 0x42:
    return WASM_IMM_S64;
  case 0x43:
    return WASM_IMM_F32;
  case 0x44:
    return WASM_IMM_F64;
  case 0xfc:
    return WASM_IMM_PREFIX_FC;
  default:
    return WASM_IMM_ILLEGAL;
  }
}

/* The immediates of the 0xfc-prefixed opcode with sub-opcode sub. */
static inline WasmImm wasm_imm_fc(uint32_t sub) {
  switch (sub) {
  case 0: /* i32/i64.trunc_sat_f32/f64_s/u */
  case 1:
  case 2:
  case 3:
  case 4:
  case 5:
  case 6:
  case 7:
    return WASM_IMM_NONE;
  case 8: /* memory.init */
    return WASM_IMM_U32_BYTE;
  case 9: /* data.drop */
  case 13: /* elem.drop */
  case 15: /* table.grow */
  case 16: /* table.size */
  case 17: /* table.fill */
    return WASM_IMM_U32;
  case 10: /* memory.copy */
    return WASM_IMM_BYTE_BYTE;
  case 11: /* memory.fill */
    return WASM_IMM_BYTE;
  case 12: /* table.init */
  case 14: /* table.copy */
    return WASM_IMM_U32_U32;
  default:
    return WASM_IMM_ILLEGAL;
  }
}

#endif
