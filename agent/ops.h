/*
 * ops.h: the cold tier's internal instruction set, as one X-macro list.
 *
 * Each entry is X(name, fields, extra): how many 32-bit operand fields the
 * op has and how many 64-bit words of immediates follow them (the layout is
 * in interp.h), so the list is also the one record of each instruction's
 * length. BR_TABLE alone is longer: n + 1 branch offsets follow its two
 * fields (F1 = n).
 *
 * The list is expanded into the OP_* enum (interp.h), the handler table
 * (computed goto) and names (interp.c), and the instruction lengths
 * (translate.c, which checks every emission against them). Every name
 * needs a handler in interp.c; with computed goto a missing one is a
 * compile error, so there are no silent stubs.
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

/* Two forms (_SS, _SI) of one operation: dst, a, b; branches a, b, offset. */
#define KILN_FORMS2(X, T, N) X(T##_##N##_SS, 3, 0) X(T##_##N##_SI, 3, 0)
#define KILN_BRFORMS2(X, T, N) X(BR_##T##_##N##_SS, 3, 0) X(BR_##T##_##N##_SI, 3, 0)
/* The same, counting for the monitor: F3 indexes the function's branch counters. */
#define KILN_BRFORMS2_P(X, T, N) X(BR_##T##_##N##_SS_P, 4, 0) X(BR_##T##_##N##_SI_P, 4, 0)

/* Integer binary operations that have both forms, per type. */
#define KILN_IBINS(X, M, T)                                                                        \
  M(X, T, ADD) M(X, T, SUB) M(X, T, MUL) M(X, T, AND) M(X, T, OR) M(X, T, XOR) M(X, T, SHL)        \
      M(X, T, SHR_S) M(X, T, SHR_U) M(X, T, ROTL) M(X, T, ROTR) M(X, T, DIV_S) M(X, T, DIV_U)      \
          M(X, T, REM_S) M(X, T, REM_U)

/* Comparisons and binary operations take dst, a, b; unary ones dst, a. */
#define KILN_FLOAT_OPS(X, T)                                                                       \
  X(T##_EQ, 3, 0) X(T##_NE, 3, 0) X(T##_LT, 3, 0) X(T##_GT, 3, 0) X(T##_LE, 3, 0) X(T##_GE, 3, 0)  \
  X(T##_ABS, 2, 0) X(T##_NEG, 2, 0) X(T##_CEIL, 2, 0) X(T##_FLOOR, 2, 0) X(T##_TRUNC, 2, 0)        \
  X(T##_NEAREST, 2, 0) X(T##_SQRT, 2, 0) X(T##_ADD, 3, 0) X(T##_SUB, 3, 0) X(T##_MUL, 3, 0)        \
  X(T##_DIV, 3, 0) X(T##_MIN, 3, 0) X(T##_MAX, 3, 0) X(T##_COPYSIGN, 3, 0)

/* Loads and stores, each in three forms: the address is a slot, or (_A) a
 * slot plus a 32-bit immediate, or (_X) base + (index << k): the i32.add
 * (and i32.shl) they replace, with the same 32-bit wrap-around. A load is
 * dst, address, offset, addend (_X: offset, index, k); a store address,
 * value, then the same. */
#define KILN_PLAIN(X, N) X(N, 4, 0)
#define KILN_ADDI(X, N) X(N##_A, 4, 0)
#define KILN_INDEX(X, N) X(N##_X, 5, 0)
#define KILN_MEMOPS(X, M)                                                                          \
  M(X, LOAD32) M(X, LOAD64) M(X, LOAD8_U) M(X, LOAD16_U) M(X, I32_LOAD8_S) M(X, I32_LOAD16_S)      \
      M(X, I64_LOAD8_S) M(X, I64_LOAD16_S) M(X, I64_LOAD32_S) M(X, STORE8) M(X, STORE16)           \
          M(X, STORE32) M(X, STORE64)

/* Unary operations: dst, a. */
#define KILN_UNARY(X, N) X(N, 2, 0)

#define KILN_OPS(X)                                                                                \
  /* control */                                                                                    \
  X(UNREACHABLE, 1, 0) X(BR, 1, 0) X(BR_NEZ32, 3, 0) X(BR_EQZ32, 3, 0) X(BR_NEZ64, 3, 0)           \
  X(BR_EQZ64, 3, 0) X(BR_TABLE, 2, 0) X(RET, 1, 0) X(RET1, 1, 0) X(CALL, 4, 0) X(CALL_R, 4, 0)     \
  X(CALL_INDIRECT, 4, 1) X(LOOP, 1, 0)                                                             \
  KILN_RELS(X, KILN_BRFORMS2, I32) KILN_RELS(X, KILN_BRFORMS2, I64)                                \
  /* conditional branches that count (the monitor is on), laid out like the plain ones, whose  \
   * last field they use for their counter; the plain BR_NEZ32 .. BR_EQZ64 ignore it */          \
  X(BR_NEZ32_P, 3, 0) X(BR_EQZ32_P, 3, 0) X(BR_NEZ64_P, 3, 0) X(BR_EQZ64_P, 3, 0)                  \
  KILN_RELS(X, KILN_BRFORMS2_P, I32) KILN_RELS(X, KILN_BRFORMS2_P, I64)                            \
  /* data movement */                                                                              \
  X(COPY, 2, 0) X(CONST32, 2, 0) X(CONST64, 1, 1) X(SELECT, 4, 0) X(GLOBAL_GET, 2, 0)              \
  X(GLOBAL_SET, 2, 0) X(GLOBAL_SET32, 2, 0)                                                        \
  /* tables and references */                                                                      \
  X(TABLE_GET, 3, 0) X(TABLE_SET, 3, 0) X(TABLE_SIZE, 2, 0) X(TABLE_GROW, 4, 0)                    \
  X(TABLE_FILL, 4, 0) X(TABLE_COPY, 5, 0) X(TABLE_INIT, 5, 0) X(ELEM_DROP, 1, 0)                   \
  X(REF_FUNC, 2, 0) X(REF_IS_NULL, 2, 0)                                                           \
  /* memory */                                                                                     \
  KILN_MEMOPS(X, KILN_PLAIN) KILN_MEMOPS(X, KILN_ADDI) KILN_MEMOPS(X, KILN_INDEX)                  \
  X(MEMORY_SIZE, 1, 0) X(MEMORY_GROW, 2, 0) X(MEMORY_INIT, 4, 0) X(DATA_DROP, 1, 0)                \
  X(MEMORY_COPY, 3, 0) X(MEMORY_FILL, 3, 0)                                                        \
  /* integer arithmetic */                                                                         \
  KILN_RELS(X, KILN_FORMS2, I32) KILN_RELS(X, KILN_FORMS2, I64)                                    \
  KILN_IBINS(X, KILN_FORMS2, I32) KILN_IBINS(X, KILN_FORMS2, I64)                                  \
  KILN_UNARY(X, I32_EQZ) KILN_UNARY(X, I32_CLZ) KILN_UNARY(X, I32_CTZ) KILN_UNARY(X, I32_POPCNT)   \
  KILN_UNARY(X, I32_EXTEND8_S) KILN_UNARY(X, I32_EXTEND16_S)                                       \
  KILN_UNARY(X, I64_EQZ) KILN_UNARY(X, I64_CLZ) KILN_UNARY(X, I64_CTZ) KILN_UNARY(X, I64_POPCNT)   \
  KILN_UNARY(X, I64_EXTEND8_S) KILN_UNARY(X, I64_EXTEND16_S) KILN_UNARY(X, I64_EXTEND32_S)         \
  KILN_UNARY(X, I32_WRAP_I64) KILN_UNARY(X, I64_EXTEND_I32_U)                                      \
  X(I32_ADDSHL, 4, 0) X(I32_ADDSHL_A, 5, 0)                                                        \
  /* floating point */                                                                             \
  KILN_FLOAT_OPS(X, F32) KILN_FLOAT_OPS(X, F64)                                                    \
  X(F32_MULADD, 4, 0) X(F32_MULSUB, 4, 0) X(F32_SUBMUL, 4, 0)                                      \
  X(F64_MULADD, 4, 0) X(F64_MULSUB, 4, 0) X(F64_SUBMUL, 4, 0)                                      \
  /* conversions */                                                                                \
  KILN_UNARY(X, I32_TRUNC_F32_S) KILN_UNARY(X, I32_TRUNC_F32_U)                                    \
  KILN_UNARY(X, I32_TRUNC_F64_S) KILN_UNARY(X, I32_TRUNC_F64_U)                                    \
  KILN_UNARY(X, I64_TRUNC_F32_S) KILN_UNARY(X, I64_TRUNC_F32_U)                                    \
  KILN_UNARY(X, I64_TRUNC_F64_S) KILN_UNARY(X, I64_TRUNC_F64_U)                                    \
  KILN_UNARY(X, F32_CONVERT_I32_S) KILN_UNARY(X, F32_CONVERT_I32_U)                                \
  KILN_UNARY(X, F32_CONVERT_I64_S) KILN_UNARY(X, F32_CONVERT_I64_U)                                \
  KILN_UNARY(X, F32_DEMOTE_F64) KILN_UNARY(X, F64_CONVERT_I32_S)                                   \
  KILN_UNARY(X, F64_CONVERT_I32_U) KILN_UNARY(X, F64_CONVERT_I64_S)                                \
  KILN_UNARY(X, F64_CONVERT_I64_U) KILN_UNARY(X, F64_PROMOTE_F32)                                  \
  KILN_UNARY(X, I32_TRUNC_SAT_F32_S) KILN_UNARY(X, I32_TRUNC_SAT_F32_U)                            \
  KILN_UNARY(X, I32_TRUNC_SAT_F64_S) KILN_UNARY(X, I32_TRUNC_SAT_F64_U)                            \
  KILN_UNARY(X, I64_TRUNC_SAT_F32_S) KILN_UNARY(X, I64_TRUNC_SAT_F32_U)                            \
  KILN_UNARY(X, I64_TRUNC_SAT_F64_S) KILN_UNARY(X, I64_TRUNC_SAT_F64_U)
/* clang-format on */

#endif
