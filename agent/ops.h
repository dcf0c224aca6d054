/*
 * ops.h: the cold tier's internal instruction set, as one X-macro list.
 *
 * The list is expanded twice: translate.c/interp.h turn it into the OP_*
 * enum, interp.c into the handler table (computed goto) or the case labels
 * (switch fallback). Every name needs a handler in interp.c; with computed
 * goto a missing one is a compile error, so there are no silent stubs.
 *
 * Naming: _SS takes both operands from frame slots, _SI takes the second
 * operand as a 32-bit immediate (sign-extended for 64-bit ops). BR_<cmp>
 * are compare-and-branch superinstructions. Operand layouts are documented
 * at each handler in interp.c and at each emitter in translate.c.
 *
 * The order inside KILN_RELS matters: it is the wasm opcode order of the
 * integer comparisons (eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u), so the
 * translator can compute an op from an opcode by arithmetic.
 */
#ifndef KILN_OPS_H
#define KILN_OPS_H

/* The lists are laid out by hand, one group per line. */
/* clang-format off */

#define KILN_RELS(X, M, T)                                                                         \
  M(X, T, EQ) M(X, T, NE) M(X, T, LT_S) M(X, T, LT_U) M(X, T, GT_S) M(X, T, GT_U) M(X, T, LE_S)    \
      M(X, T, LE_U) M(X, T, GE_S) M(X, T, GE_U)

/* Two forms (_SS, _SI) of one operation. */
#define KILN_FORMS2(X, T, N) X(T##_##N##_SS) X(T##_##N##_SI)
#define KILN_BRFORMS2(X, T, N) X(BR_##T##_##N##_SS) X(BR_##T##_##N##_SI)

/* Integer binary operations that have both forms, per type. */
#define KILN_IBINS(X, M, T)                                                                        \
  M(X, T, ADD) M(X, T, SUB) M(X, T, MUL) M(X, T, AND) M(X, T, OR) M(X, T, XOR) M(X, T, SHL)        \
      M(X, T, SHR_S) M(X, T, SHR_U) M(X, T, ROTL) M(X, T, ROTR) M(X, T, DIV_S) M(X, T, DIV_U)      \
          M(X, T, REM_S) M(X, T, REM_U)

#define KILN_FLOAT_OPS(X, T)                                                                       \
  X(T##_EQ) X(T##_NE) X(T##_LT) X(T##_GT) X(T##_LE) X(T##_GE) X(T##_ABS) X(T##_NEG) X(T##_CEIL)    \
      X(T##_FLOOR) X(T##_TRUNC) X(T##_NEAREST) X(T##_SQRT) X(T##_ADD) X(T##_SUB) X(T##_MUL)        \
          X(T##_DIV) X(T##_MIN) X(T##_MAX) X(T##_COPYSIGN)

/* Loads and stores, each in three forms: the address is a slot, or (_A) a
 * slot plus a 32-bit immediate, or (_X) base + (index << k): the i32.add
 * (and i32.shl) they replace, with the same 32-bit wrap-around. */
#define KILN_PLAIN(X, N) X(N)
#define KILN_ADDI(X, N) X(N##_A)
#define KILN_INDEX(X, N) X(N##_X)
#define KILN_MEMOPS(X, M)                                                                          \
  M(X, LOAD32) M(X, LOAD64) M(X, LOAD8_U) M(X, LOAD16_U) M(X, I32_LOAD8_S) M(X, I32_LOAD16_S)      \
      M(X, I64_LOAD8_S) M(X, I64_LOAD16_S) M(X, I64_LOAD32_S) M(X, STORE8) M(X, STORE16)           \
          M(X, STORE32) M(X, STORE64)

#define KILN_OPS(X)                                                                                \
  /* control */                                                                                    \
  X(UNREACHABLE) X(BR) X(BR_NEZ32) X(BR_EQZ32) X(BR_NEZ64) X(BR_EQZ64) X(BR_TABLE) X(RET)          \
  X(RET1) X(CALL) X(CALL_R) X(CALL_INDIRECT) X(LOOP)                                               \
  KILN_RELS(X, KILN_BRFORMS2, I32) KILN_RELS(X, KILN_BRFORMS2, I64)                                \
  /* data movement */                                                                              \
  X(COPY) X(CONST32) X(CONST64) X(SELECT) X(GLOBAL_GET) X(GLOBAL_SET) X(GLOBAL_SET32)              \
  /* tables and references */                                                                      \
  X(TABLE_GET) X(TABLE_SET) X(TABLE_SIZE) X(TABLE_GROW) X(TABLE_FILL) X(TABLE_COPY)                \
  X(TABLE_INIT) X(ELEM_DROP) X(REF_FUNC) X(REF_IS_NULL)                                            \
  /* memory */                                                                                     \
  KILN_MEMOPS(X, KILN_PLAIN) KILN_MEMOPS(X, KILN_ADDI) KILN_MEMOPS(X, KILN_INDEX)                  \
  X(MEMORY_SIZE) X(MEMORY_GROW) X(MEMORY_INIT) X(DATA_DROP) X(MEMORY_COPY) X(MEMORY_FILL)          \
  /* integer arithmetic */                                                                         \
  KILN_RELS(X, KILN_FORMS2, I32) KILN_RELS(X, KILN_FORMS2, I64)                                    \
  KILN_IBINS(X, KILN_FORMS2, I32) KILN_IBINS(X, KILN_FORMS2, I64)                                  \
  X(I32_EQZ) X(I32_CLZ) X(I32_CTZ) X(I32_POPCNT) X(I32_EXTEND8_S) X(I32_EXTEND16_S)                \
  X(I64_EQZ) X(I64_CLZ) X(I64_CTZ) X(I64_POPCNT) X(I64_EXTEND8_S) X(I64_EXTEND16_S)                \
  X(I64_EXTEND32_S) X(I32_WRAP_I64) X(I64_EXTEND_I32_U)                                            \
  X(I32_ADDSHL) X(I32_ADDSHL_A)                                                                    \
  /* floating point */                                                                             \
  KILN_FLOAT_OPS(X, F32) KILN_FLOAT_OPS(X, F64)                                                    \
  X(F32_MULADD) X(F32_MULSUB) X(F32_SUBMUL) X(F64_MULADD) X(F64_MULSUB) X(F64_SUBMUL)              \
  /* conversions */                                                                                \
  X(I32_TRUNC_F32_S) X(I32_TRUNC_F32_U) X(I32_TRUNC_F64_S) X(I32_TRUNC_F64_U)                      \
  X(I64_TRUNC_F32_S) X(I64_TRUNC_F32_U) X(I64_TRUNC_F64_S) X(I64_TRUNC_F64_U)                      \
  X(F32_CONVERT_I32_S) X(F32_CONVERT_I32_U) X(F32_CONVERT_I64_S) X(F32_CONVERT_I64_U)              \
  X(F32_DEMOTE_F64) X(F64_CONVERT_I32_S) X(F64_CONVERT_I32_U) X(F64_CONVERT_I64_S)                 \
  X(F64_CONVERT_I64_U) X(F64_PROMOTE_F32)                                                          \
  X(I32_TRUNC_SAT_F32_S) X(I32_TRUNC_SAT_F32_U) X(I32_TRUNC_SAT_F64_S) X(I32_TRUNC_SAT_F64_U)      \
  X(I64_TRUNC_SAT_F32_S) X(I64_TRUNC_SAT_F32_U) X(I64_TRUNC_SAT_F64_S) X(I64_TRUNC_SAT_F64_U)
/* clang-format on */

#endif
