/*
 * opcodes.h: the WebAssembly 2.0 instruction set (SIMD excluded) as one
 * table, one row per instruction: its name, its opcode and the immediates
 * that follow the opcode. Everything that reads function bodies names
 * opcodes from here: the decoder and validator (checked reads, reader.h),
 * the interpreter's translator and the compiler (validated bodies,
 * code_reader.h). The table reads nothing itself.
 *
 * Opcode ranges that code computes with (`op - WASM_OP_I32_EQ` as a
 * relation index, loads from WASM_OP_I32_LOAD) rely on the spec's order,
 * which the table keeps.
 */
#ifndef KILN_OPCODES_H
#define KILN_OPCODES_H

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
  WASM_IMM_PREFIX_FC, /* a u32 sub-opcode follows: see WASM_FC_OPCODES */
  WASM_IMM_ILLEGAL, /* not an opcode */
} WasmImm;

/* X(name, opcode, immediates): WASM_OP_<name> = opcode, WASM_IMM_<immediates>. */
/* clang-format off */
#define WASM_OPCODES(X)                                                                            \
  /* control */                                                                                    \
  X(UNREACHABLE,         0x00, NONE)                                                               \
  X(NOP,                 0x01, NONE)                                                               \
  X(BLOCK,               0x02, BLOCKTYPE)                                                          \
  X(LOOP,                0x03, BLOCKTYPE)                                                          \
  X(IF,                  0x04, BLOCKTYPE)                                                          \
  X(ELSE,                0x05, NONE)                                                               \
  X(END,                 0x0b, NONE)                                                               \
  X(BR,                  0x0c, U32)                                                                \
  X(BR_IF,               0x0d, U32)                                                                \
  X(BR_TABLE,            0x0e, BR_TABLE)                                                           \
  X(RETURN,              0x0f, NONE)                                                               \
  X(CALL,                0x10, U32)                                                                \
  X(CALL_INDIRECT,       0x11, U32_U32) /* type index, table index */                              \
  /* parametric */                                                                                 \
  X(DROP,                0x1a, NONE)                                                               \
  X(SELECT,              0x1b, NONE)                                                               \
  X(SELECT_T,            0x1c, SELECT_T)                                                           \
  /* variables */                                                                                  \
  X(LOCAL_GET,           0x20, U32)                                                                \
  X(LOCAL_SET,           0x21, U32)                                                                \
  X(LOCAL_TEE,           0x22, U32)                                                                \
  X(GLOBAL_GET,          0x23, U32)                                                                \
  X(GLOBAL_SET,          0x24, U32)                                                                \
  /* tables */                                                                                     \
  X(TABLE_GET,           0x25, U32)                                                                \
  X(TABLE_SET,           0x26, U32)                                                                \
  /* memory: a memarg (alignment, offset) */                                                       \
  X(I32_LOAD,            0x28, U32_U32)                                                            \
  X(I64_LOAD,            0x29, U32_U32)                                                            \
  X(F32_LOAD,            0x2a, U32_U32)                                                            \
  X(F64_LOAD,            0x2b, U32_U32)                                                            \
  X(I32_LOAD8_S,         0x2c, U32_U32)                                                            \
  X(I32_LOAD8_U,         0x2d, U32_U32)                                                            \
  X(I32_LOAD16_S,        0x2e, U32_U32)                                                            \
  X(I32_LOAD16_U,        0x2f, U32_U32)                                                            \
  X(I64_LOAD8_S,         0x30, U32_U32)                                                            \
  X(I64_LOAD8_U,         0x31, U32_U32)                                                            \
  X(I64_LOAD16_S,        0x32, U32_U32)                                                            \
  X(I64_LOAD16_U,        0x33, U32_U32)                                                            \
  X(I64_LOAD32_S,        0x34, U32_U32)                                                            \
  X(I64_LOAD32_U,        0x35, U32_U32)                                                            \
  X(I32_STORE,           0x36, U32_U32)                                                            \
  X(I64_STORE,           0x37, U32_U32)                                                            \
  X(F32_STORE,           0x38, U32_U32)                                                            \
  X(F64_STORE,           0x39, U32_U32)                                                            \
  X(I32_STORE8,          0x3a, U32_U32)                                                            \
  X(I32_STORE16,         0x3b, U32_U32)                                                            \
  X(I64_STORE8,          0x3c, U32_U32)                                                            \
  X(I64_STORE16,         0x3d, U32_U32)                                                            \
  X(I64_STORE32,         0x3e, U32_U32)                                                            \
  X(MEMORY_SIZE,         0x3f, BYTE)                                                               \
  X(MEMORY_GROW,         0x40, BYTE)                                                               \
  /* constants */                                                                                  \
  X(I32_CONST,           0x41, S32)                                                                \
  X(I64_CONST,           0x42, S64)                                                                \
  X(F32_CONST,           0x43, F32)                                                                \
  X(F64_CONST,           0x44, F64)                                                                \
  /* comparisons */                                                                                \
  X(I32_EQZ,             0x45, NONE)                                                               \
  X(I32_EQ,              0x46, NONE)                                                               \
  X(I32_NE,              0x47, NONE)                                                               \
  X(I32_LT_S,            0x48, NONE)                                                               \
  X(I32_LT_U,            0x49, NONE)                                                               \
  X(I32_GT_S,            0x4a, NONE)                                                               \
  X(I32_GT_U,            0x4b, NONE)                                                               \
  X(I32_LE_S,            0x4c, NONE)                                                               \
  X(I32_LE_U,            0x4d, NONE)                                                               \
  X(I32_GE_S,            0x4e, NONE)                                                               \
  X(I32_GE_U,            0x4f, NONE)                                                               \
  X(I64_EQZ,             0x50, NONE)                                                               \
  X(I64_EQ,              0x51, NONE)                                                               \
  X(I64_NE,              0x52, NONE)                                                               \
  X(I64_LT_S,            0x53, NONE)                                                               \
  X(I64_LT_U,            0x54, NONE)                                                               \
  X(I64_GT_S,            0x55, NONE)                                                               \
  X(I64_GT_U,            0x56, NONE)                                                               \
  X(I64_LE_S,            0x57, NONE)                                                               \
  X(I64_LE_U,            0x58, NONE)                                                               \
  X(I64_GE_S,            0x59, NONE)                                                               \
  X(I64_GE_U,            0x5a, NONE)                                                               \
  X(F32_EQ,              0x5b, NONE)                                                               \
  X(F32_NE,              0x5c, NONE)                                                               \
  X(F32_LT,              0x5d, NONE)                                                               \
  X(F32_GT,              0x5e, NONE)                                                               \
  X(F32_LE,              0x5f, NONE)                                                               \
  X(F32_GE,              0x60, NONE)                                                               \
  X(F64_EQ,              0x61, NONE)                                                               \
  X(F64_NE,              0x62, NONE)                                                               \
  X(F64_LT,              0x63, NONE)                                                               \
  X(F64_GT,              0x64, NONE)                                                               \
  X(F64_LE,              0x65, NONE)                                                               \
  X(F64_GE,              0x66, NONE)                                                               \
  /* integer arithmetic */                                                                         \
  X(I32_CLZ,             0x67, NONE)                                                               \
  X(I32_CTZ,             0x68, NONE)                                                               \
  X(I32_POPCNT,          0x69, NONE)                                                               \
  X(I32_ADD,             0x6a, NONE)                                                               \
  X(I32_SUB,             0x6b, NONE)                                                               \
  X(I32_MUL,             0x6c, NONE)                                                               \
  X(I32_DIV_S,           0x6d, NONE)                                                               \
  X(I32_DIV_U,           0x6e, NONE)                                                               \
  X(I32_REM_S,           0x6f, NONE)                                                               \
  X(I32_REM_U,           0x70, NONE)                                                               \
  X(I32_AND,             0x71, NONE)                                                               \
  X(I32_OR,              0x72, NONE)                                                               \
  X(I32_XOR,             0x73, NONE)                                                               \
  X(I32_SHL,             0x74, NONE)                                                               \
  X(I32_SHR_S,           0x75, NONE)                                                               \
  X(I32_SHR_U,           0x76, NONE)                                                               \
  X(I32_ROTL,            0x77, NONE)                                                               \
  X(I32_ROTR,            0x78, NONE)                                                               \
  X(I64_CLZ,             0x79, NONE)                                                               \
  X(I64_CTZ,             0x7a, NONE)                                                               \
  X(I64_POPCNT,          0x7b, NONE)                                                               \
  X(I64_ADD,             0x7c, NONE)                                                               \
  X(I64_SUB,             0x7d, NONE)                                                               \
  X(I64_MUL,             0x7e, NONE)                                                               \
  X(I64_DIV_S,           0x7f, NONE)                                                               \
  X(I64_DIV_U,           0x80, NONE)                                                               \
  X(I64_REM_S,           0x81, NONE)                                                               \
  X(I64_REM_U,           0x82, NONE)                                                               \
  X(I64_AND,             0x83, NONE)                                                               \
  X(I64_OR,              0x84, NONE)                                                               \
  X(I64_XOR,             0x85, NONE)                                                               \
  X(I64_SHL,             0x86, NONE)                                                               \
  X(I64_SHR_S,           0x87, NONE)                                                               \
  X(I64_SHR_U,           0x88, NONE)                                                               \
  X(I64_ROTL,            0x89, NONE)                                                               \
  X(I64_ROTR,            0x8a, NONE)                                                               \
  /* floating-point arithmetic */                                                                  \
  X(F32_ABS,             0x8b, NONE)                                                               \
  X(F32_NEG,             0x8c, NONE)                                                               \
  X(F32_CEIL,            0x8d, NONE)                                                               \
  X(F32_FLOOR,           0x8e, NONE)                                                               \
  X(F32_TRUNC,           0x8f, NONE)                                                               \
  X(F32_NEAREST,         0x90, NONE)                                                               \
  X(F32_SQRT,            0x91, NONE)                                                               \
  X(F32_ADD,             0x92, NONE)                                                               \
  X(F32_SUB,             0x93, NONE)                                                               \
  X(F32_MUL,             0x94, NONE)                                                               \
  X(F32_DIV,             0x95, NONE)                                                               \
  X(F32_MIN,             0x96, NONE)                                                               \
  X(F32_MAX,             0x97, NONE)                                                               \
  X(F32_COPYSIGN,        0x98, NONE)                                                               \
  X(F64_ABS,             0x99, NONE)                                                               \
  X(F64_NEG,             0x9a, NONE)                                                               \
  X(F64_CEIL,            0x9b, NONE)                                                               \
  X(F64_FLOOR,           0x9c, NONE)                                                               \
  X(F64_TRUNC,           0x9d, NONE)                                                               \
  X(F64_NEAREST,         0x9e, NONE)                                                               \
  X(F64_SQRT,            0x9f, NONE)                                                               \
  X(F64_ADD,             0xa0, NONE)                                                               \
  X(F64_SUB,             0xa1, NONE)                                                               \
  X(F64_MUL,             0xa2, NONE)                                                               \
  X(F64_DIV,             0xa3, NONE)                                                               \
  X(F64_MIN,             0xa4, NONE)                                                               \
  X(F64_MAX,             0xa5, NONE)                                                               \
  X(F64_COPYSIGN,        0xa6, NONE)                                                               \
  /* conversions */                                                                                \
  X(I32_WRAP_I64,        0xa7, NONE)                                                               \
  X(I32_TRUNC_F32_S,     0xa8, NONE)                                                               \
  X(I32_TRUNC_F32_U,     0xa9, NONE)                                                               \
  X(I32_TRUNC_F64_S,     0xaa, NONE)                                                               \
  X(I32_TRUNC_F64_U,     0xab, NONE)                                                               \
  X(I64_EXTEND_I32_S,    0xac, NONE)                                                               \
  X(I64_EXTEND_I32_U,    0xad, NONE)                                                               \
  X(I64_TRUNC_F32_S,     0xae, NONE)                                                               \
  X(I64_TRUNC_F32_U,     0xaf, NONE)                                                               \
  X(I64_TRUNC_F64_S,     0xb0, NONE)                                                               \
  X(I64_TRUNC_F64_U,     0xb1, NONE)                                                               \
  X(F32_CONVERT_I32_S,   0xb2, NONE)                                                               \
  X(F32_CONVERT_I32_U,   0xb3, NONE)                                                               \
  X(F32_CONVERT_I64_S,   0xb4, NONE)                                                               \
  X(F32_CONVERT_I64_U,   0xb5, NONE)                                                               \
  X(F32_DEMOTE_F64,      0xb6, NONE)                                                               \
  X(F64_CONVERT_I32_S,   0xb7, NONE)                                                               \
  X(F64_CONVERT_I32_U,   0xb8, NONE)                                                               \
  X(F64_CONVERT_I64_S,   0xb9, NONE)                                                               \
  X(F64_CONVERT_I64_U,   0xba, NONE)                                                               \
  X(F64_PROMOTE_F32,     0xbb, NONE)                                                               \
  X(I32_REINTERPRET_F32, 0xbc, NONE)                                                               \
  X(I64_REINTERPRET_F64, 0xbd, NONE)                                                               \
  X(F32_REINTERPRET_I32, 0xbe, NONE)                                                               \
  X(F64_REINTERPRET_I64, 0xbf, NONE)                                                               \
  X(I32_EXTEND8_S,       0xc0, NONE)                                                               \
  X(I32_EXTEND16_S,      0xc1, NONE)                                                               \
  X(I64_EXTEND8_S,       0xc2, NONE)                                                               \
  X(I64_EXTEND16_S,      0xc3, NONE)                                                               \
  X(I64_EXTEND32_S,      0xc4, NONE)                                                               \
  /* references */                                                                                 \
  X(REF_NULL,            0xd0, BYTE) /* reference type */                                          \
  X(REF_IS_NULL,         0xd1, NONE)                                                               \
  X(REF_FUNC,            0xd2, U32)                                                                \
  /* the prefix of WASM_FC_OPCODES */                                                              \
  X(PREFIX_FC,           0xfc, PREFIX_FC)

/* X(name, sub-opcode, immediates): the instructions after the prefix 0xfc,
 * WASM_FC_<name> = sub-opcode (a u32 LEB128). */
#define WASM_FC_OPCODES(X)                                                                         \
  X(I32_TRUNC_SAT_F32_S,  0, NONE)                                                                 \
  X(I32_TRUNC_SAT_F32_U,  1, NONE)                                                                 \
  X(I32_TRUNC_SAT_F64_S,  2, NONE)                                                                 \
  X(I32_TRUNC_SAT_F64_U,  3, NONE)                                                                 \
  X(I64_TRUNC_SAT_F32_S,  4, NONE)                                                                 \
  X(I64_TRUNC_SAT_F32_U,  5, NONE)                                                                 \
  X(I64_TRUNC_SAT_F64_S,  6, NONE)                                                                 \
  X(I64_TRUNC_SAT_F64_U,  7, NONE)                                                                 \
  X(MEMORY_INIT,          8, U32_BYTE) /* data index, memory index */                              \
  X(DATA_DROP,            9, U32)                                                                  \
  X(MEMORY_COPY,         10, BYTE_BYTE) /* destination, source memory */                           \
  X(MEMORY_FILL,         11, BYTE)                                                                 \
  X(TABLE_INIT,          12, U32_U32) /* element index, table index */                             \
  X(ELEM_DROP,           13, U32)                                                                  \
  X(TABLE_COPY,          14, U32_U32) /* destination, source table */                              \
  X(TABLE_GROW,          15, U32)                                                                  \
  X(TABLE_SIZE,          16, U32)                                                                  \
  X(TABLE_FILL,          17, U32)
/* clang-format on */

enum {
#define WASM_OP_ENUM(name, code, imm) WASM_OP_##name = code,
  WASM_OPCODES(WASM_OP_ENUM)
#undef WASM_OP_ENUM
  /* The SIMD prefix: not in the table, since SIMD is not supported (the
   * validator names it in its error; to the rest it is an illegal opcode). */
  WASM_OP_PREFIX_FD = 0xfd,
};

enum {
#define WASM_FC_ENUM(name, code, imm) WASM_FC_##name = code,
  WASM_FC_OPCODES(WASM_FC_ENUM)
#undef WASM_FC_ENUM
};

/* The immediates of a single-byte opcode. A row listed twice would be a
 * duplicate case label, so the compiler checks the table's opcodes. */
static inline WasmImm wasm_imm(uint8_t op) {
  switch (op) {
#define WASM_IMM_CASE(name, code, imm)                                                             \
  case code:                                                                                       \
    return WASM_IMM_##imm;
    WASM_OPCODES(WASM_IMM_CASE)
  default:
    return WASM_IMM_ILLEGAL;
  }
}

/* The immediates of the 0xfc-prefixed opcode with sub-opcode sub. */
static inline WasmImm wasm_imm_fc(uint32_t sub) {
  switch (sub) {
    WASM_FC_OPCODES(WASM_IMM_CASE)
#undef WASM_IMM_CASE
  default:
    return WASM_IMM_ILLEGAL;
  }
}

#endif
