/*
 * jit_ops.c: numeric instructions, with the interpreter's exact semantics
 * (agent/interp.c is the reference): integer division traps, trapping
 * float-to-integer bounds, min/max and rounding through the helpers of
 * dcm.c, sign operations on bits so NaN payloads pass untouched.
 */
#include "jit_fn.h"

typedef enum gcc_jit_binary_op BinOp;
typedef enum gcc_jit_comparison CmpOp;

static gcc_jit_rvalue *bin(Fn *fn, BinOp op, gcc_jit_type *t, gcc_jit_rvalue *a,
                           gcc_jit_rvalue *b) {
  return gcc_jit_context_new_binary_op(fn->ctx, NULL, op, t, a, b);
}
static gcc_jit_rvalue *cmp(Fn *fn, CmpOp op, gcc_jit_rvalue *a, gcc_jit_rvalue *b) {
  return gcc_jit_context_new_comparison(fn->ctx, NULL, op, a, b);
}
static gcc_jit_rvalue *cast(Fn *fn, gcc_jit_rvalue *v, gcc_jit_type *t) {
  return gcc_jit_context_new_cast(fn->ctx, NULL, v, t);
}
static gcc_jit_rvalue *k32(Fn *fn, uint32_t v) {
  return dcm_u32(fn->d, v);
}
static gcc_jit_rvalue *k64(Fn *fn, uint64_t v) {
  return dcm_u64(fn->d, v);
}

gcc_jit_rvalue *jit_f32_bits(Fn *fn, uint32_t bits) {
  return dcm_bitcast(fn->d, k32(fn, bits), fn->d->t_f32);
}
gcc_jit_rvalue *jit_f64_bits(Fn *fn, uint64_t bits) {
  return dcm_bitcast(fn->d, k64(fn, bits), fn->d->t_f64);
}

/* --- integers ---------------------------------------------------------------- */

/* Comparisons: 0 eq, 1 ne, 2 lt_s, 3 lt_u, 4 gt_s, 5 gt_u, 6 le_s, 7 le_u,
 * 8 ge_s, 9 ge_u (the opcode order). */
static void int_rel(Fn *fn, bool wide, unsigned rel) {
  static const CmpOp ops[] = {GCC_JIT_COMPARISON_EQ, GCC_JIT_COMPARISON_NE, GCC_JIT_COMPARISON_LT,
                              GCC_JIT_COMPARISON_LT, GCC_JIT_COMPARISON_GT, GCC_JIT_COMPARISON_GT,
                              GCC_JIT_COMPARISON_LE, GCC_JIT_COMPARISON_LE, GCC_JIT_COMPARISON_GE,
                              GCC_JIT_COMPARISON_GE};
  Dcm *d = fn->d;
  gcc_jit_rvalue *b = fn_pop(fn), *a = fn_pop(fn);
  if (rel >= 2 && rel % 2 == 0) {
    gcc_jit_type *st = wide ? d->t_i64 : d->t_i32;
    a = cast(fn, a, st);
    b = cast(fn, b, st);
  }
  fn_assign(fn, fn_push(fn, WASM_I32), cast(fn, cmp(fn, ops[rel], a, b), d->t_u32));
}

static void int_eqz(Fn *fn, bool wide) {
  gcc_jit_rvalue *a = fn_pop(fn);
  gcc_jit_rvalue *z = wide ? k64(fn, 0) : k32(fn, 0);
  fn_assign(fn, fn_push(fn, WASM_I32),
            cast(fn, cmp(fn, GCC_JIT_COMPARISON_EQ, a, z), fn->d->t_u32));
}

static void int_unary(Fn *fn, bool wide, unsigned which) {
  Dcm *d = fn->d;
  WasmValType vt = wide ? WASM_I64 : WASM_I32;
  gcc_jit_type *t = wide ? d->t_u64 : d->t_u32;
  gcc_jit_rvalue *a = fn_pop(fn), *r;
  switch (which) {
  case 0:
    r = dcm_call1(d, dcm_helper(d, wide ? H_CLZ64 : H_CLZ32), a);
    break;
  case 1:
    r = dcm_call1(d, dcm_helper(d, wide ? H_CTZ64 : H_CTZ32), a);
    break;
  default:
    r = dcm_builtin1(d, wide ? "__builtin_popcountll" : "__builtin_popcount", a, t);
    break;
  }
  fn_assign(fn, fn_push(fn, vt), r);
}

/* rotl: (x << n) | (x >> ((bits - n) & (bits - 1))), gcc sees a rotate. */
static gcc_jit_rvalue *rotate(Fn *fn, gcc_jit_type *t, unsigned bits, gcc_jit_rvalue *a,
                              gcc_jit_rvalue *b, bool left) {
  gcc_jit_rvalue *mask = bits == 64 ? k64(fn, 63) : k32(fn, 31);
  gcc_jit_rvalue *width = bits == 64 ? k64(fn, 64) : k32(fn, 32);
  gcc_jit_rvalue *n = bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, t, b, mask);
  gcc_jit_rvalue *m = bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, t,
                          bin(fn, GCC_JIT_BINARY_OP_MINUS, t, width, n), mask);
  BinOp first = left ? GCC_JIT_BINARY_OP_LSHIFT : GCC_JIT_BINARY_OP_RSHIFT;
  BinOp second = left ? GCC_JIT_BINARY_OP_RSHIFT : GCC_JIT_BINARY_OP_LSHIFT;
  return bin(fn, GCC_JIT_BINARY_OP_BITWISE_OR, t, bin(fn, first, t, a, n),
             bin(fn, second, t, a, m));
}

/* Division and remainder (which: 0 div_s, 1 div_u, 2 rem_s, 3 rem_u). */
static gcc_jit_rvalue *int_div(Fn *fn, bool wide, unsigned which, gcc_jit_rvalue *a,
                               gcc_jit_rvalue *b) {
  Dcm *d = fn->d;
  gcc_jit_type *ut = wide ? d->t_u64 : d->t_u32, *st = wide ? d->t_i64 : d->t_i32;
  gcc_jit_rvalue *zero = gcc_jit_context_zero(fn->ctx, ut);
  fn_trap_if(fn, cmp(fn, GCC_JIT_COMPARISON_EQ, b, zero), TRAP_INT_DIV_ZERO);
  if (which == 1 || which == 3)
    return bin(fn, which == 1 ? GCC_JIT_BINARY_OP_DIVIDE : GCC_JIT_BINARY_OP_MODULO, ut, a, b);
  gcc_jit_rvalue *minus1 = wide ? k64(fn, UINT64_MAX) : k32(fn, UINT32_MAX);
  gcc_jit_rvalue *min = wide ? k64(fn, (uint64_t)1 << 63) : k32(fn, 1u << 31);
  gcc_jit_rvalue *is_m1 = cmp(fn, GCC_JIT_COMPARISON_EQ, b, minus1);
  if (which == 0) {
    gcc_jit_rvalue *ovf =
        gcc_jit_context_new_binary_op(fn->ctx, NULL, GCC_JIT_BINARY_OP_LOGICAL_AND, d->t_bool,
                                      cmp(fn, GCC_JIT_COMPARISON_EQ, a, min), is_m1);
    fn_trap_if(fn, ovf, TRAP_INT_OVERFLOW);
    return cast(fn, bin(fn, GCC_JIT_BINARY_OP_DIVIDE, st, cast(fn, a, st), cast(fn, b, st)), ut);
  }
  /* INT_MIN % -1 is 0 in wasm and undefined in C: divide by 1 instead. */
  gcc_jit_lvalue *div = gcc_jit_function_new_local(fn->fn, NULL, st, "div");
  fn_assign(fn, div, cast(fn, b, st));
  gcc_jit_block *fix = fn_block(fn), *go = fn_block(fn);
  gcc_jit_block_end_with_conditional(fn->cur, NULL, is_m1, fix, go);
  gcc_jit_block_add_assignment(fix, NULL, div, gcc_jit_context_one(fn->ctx, st));
  gcc_jit_block_end_with_jump(fix, NULL, go);
  fn->cur = go;
  return cast(fn,
              bin(fn, GCC_JIT_BINARY_OP_MODULO, st, cast(fn, a, st), gcc_jit_lvalue_as_rvalue(div)),
              ut);
}

/* From WASM_OP_I32_ADD / I64_ADD: add sub mul div_s div_u rem_s rem_u and
 * or xor shl shr_s shr_u rotl rotr. */
static void int_binary(Fn *fn, bool wide, unsigned which) {
  Dcm *d = fn->d;
  gcc_jit_type *ut = wide ? d->t_u64 : d->t_u32, *st = wide ? d->t_i64 : d->t_i32;
  unsigned bits = wide ? 64 : 32;
  gcc_jit_rvalue *b = fn_pop(fn), *a = fn_pop(fn), *r;
  gcc_jit_rvalue *shmask = wide ? k64(fn, 63) : k32(fn, 31);
  gcc_jit_rvalue *sh = bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, ut, b, shmask);
  switch (which) {
  case 0:
    r = bin(fn, GCC_JIT_BINARY_OP_PLUS, ut, a, b);
    break;
  case 1:
    r = bin(fn, GCC_JIT_BINARY_OP_MINUS, ut, a, b);
    break;
  case 2:
    r = bin(fn, GCC_JIT_BINARY_OP_MULT, ut, a, b);
    break;
  case 3:
  case 4:
  case 5:
  case 6:
    r = int_div(fn, wide, which - 3, a, b);
    break;
  case 7:
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, ut, a, b);
    break;
  case 8:
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_OR, ut, a, b);
    break;
  case 9:
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_XOR, ut, a, b);
    break;
  case 10:
    r = bin(fn, GCC_JIT_BINARY_OP_LSHIFT, ut, a, sh);
    break;
  case 11:
    r = cast(fn, bin(fn, GCC_JIT_BINARY_OP_RSHIFT, st, cast(fn, a, st), cast(fn, sh, st)), ut);
    break;
  case 12:
    r = bin(fn, GCC_JIT_BINARY_OP_RSHIFT, ut, a, sh);
    break;
  case 13:
    r = rotate(fn, ut, bits, a, b, true);
    break;
  default:
    r = rotate(fn, ut, bits, a, b, false);
    break;
  }
  fn_assign(fn, fn_push(fn, wide ? WASM_I64 : WASM_I32), r);
}

/* --- floats ------------------------------------------------------------------ */

static void float_rel(Fn *fn, unsigned rel) { /* eq ne lt gt le ge */
  static const CmpOp ops[] = {GCC_JIT_COMPARISON_EQ, GCC_JIT_COMPARISON_NE, GCC_JIT_COMPARISON_LT,
                              GCC_JIT_COMPARISON_GT, GCC_JIT_COMPARISON_LE, GCC_JIT_COMPARISON_GE};
  gcc_jit_rvalue *b = fn_pop(fn), *a = fn_pop(fn);
  fn_assign(fn, fn_push(fn, WASM_I32), cast(fn, cmp(fn, ops[rel], a, b), fn->d->t_u32));
}

/* abs, neg and copysign work on the bits. */
static gcc_jit_rvalue *sign_op(Fn *fn, bool wide, unsigned which, gcc_jit_rvalue *a,
                               gcc_jit_rvalue *b) {
  Dcm *d = fn->d;
  gcc_jit_type *ut = wide ? d->t_u64 : d->t_u32, *ft = wide ? d->t_f64 : d->t_f32;
  gcc_jit_rvalue *sign = wide ? k64(fn, 1ull << 63) : k32(fn, 1u << 31);
  gcc_jit_rvalue *rest = wide ? k64(fn, ~(1ull << 63)) : k32(fn, ~(1u << 31));
  gcc_jit_rvalue *ab = dcm_bitcast(d, a, ut), *r;
  if (which == 0)
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, ut, ab, rest);
  else if (which == 1)
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_XOR, ut, ab, sign);
  else
    r = bin(fn, GCC_JIT_BINARY_OP_BITWISE_OR, ut,
            bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, ut, ab, rest),
            bin(fn, GCC_JIT_BINARY_OP_BITWISE_AND, ut, dcm_bitcast(d, b, ut), sign));
  return dcm_bitcast(d, r, ft);
}

/* From WASM_OP_F32_ABS / F64_ABS: abs neg ceil floor trunc nearest sqrt add
 * sub mul div min max copysign. */
static void float_op(Fn *fn, bool wide, unsigned which) {
  Dcm *d = fn->d;
  gcc_jit_type *ft = wide ? d->t_f64 : d->t_f32;
  WasmValType vt = wide ? WASM_F64 : WASM_F32;
  static const int round_h[2][4] = {{H_CEIL32, H_FLOOR32, H_TRUNC32, H_NEAREST32},
                                    {H_CEIL64, H_FLOOR64, H_TRUNC64, H_NEAREST64}};
  gcc_jit_rvalue *r;
  if (which <= 6) { /* unary */
    gcc_jit_rvalue *a = fn_pop(fn);
    if (which <= 1)
      r = sign_op(fn, wide, which, a, NULL);
    else if (which <= 5)
      r = dcm_call1(d, dcm_helper(d, round_h[wide][which - 2]), a);
    else
      r = dcm_builtin1(d, wide ? "__builtin_sqrt" : "__builtin_sqrtf", a, ft);
    fn_assign(fn, fn_push(fn, vt), r);
    return;
  }
  gcc_jit_rvalue *b = fn_pop(fn), *a = fn_pop(fn);
  switch (which) {
  case 7:
    r = bin(fn, GCC_JIT_BINARY_OP_PLUS, ft, a, b);
    break;
  case 8:
    r = bin(fn, GCC_JIT_BINARY_OP_MINUS, ft, a, b);
    break;
  case 9:
    r = bin(fn, GCC_JIT_BINARY_OP_MULT, ft, a, b);
    break;
  case 10:
    r = bin(fn, GCC_JIT_BINARY_OP_DIVIDE, ft, a, b);
    break;
  case 11:
  case 12: {
    int h = which == 11 ? (wide ? H_FMIN64 : H_FMIN32) : (wide ? H_FMAX64 : H_FMAX32);
    gcc_jit_rvalue *args[2] = {a, b};
    r = gcc_jit_context_new_call(fn->ctx, NULL, dcm_helper(d, h), 2, args);
    break;
  }
  default:
    r = sign_op(fn, wide, 2, a, b);
    break;
  }
  fn_assign(fn, fn_push(fn, vt), r);
}

/* --- conversions --------------------------------------------------------------- */

/* Trapping truncation: NaN is an invalid conversion, anything outside
 * (lo, hi) an overflow (interp.c TRUNC). */
static void trunc_op(Fn *fn, WasmValType from, WasmValType to, bool is_signed) {
  Dcm *d = fn->d;
  bool f64 = from == WASM_F64, i64 = to == WASM_I64;
  gcc_jit_type *ft = f64 ? d->t_f64 : d->t_f32;
  double lo, hi;
  if (!is_signed) {
    lo = -1.0;
    hi = i64 ? 18446744073709551616.0 : 4294967296.0;
  } else if (i64) {
    lo = f64 ? -9223372036854777856.0 : -9223373136366403584.0;
    hi = 9223372036854775808.0;
  } else {
    lo = f64 ? -2147483649.0 : -2147483904.0;
    hi = 2147483648.0;
  }
  gcc_jit_lvalue *x = gcc_jit_function_new_local(fn->fn, NULL, ft, "tx");
  fn_assign(fn, x, fn_pop(fn));
  gcc_jit_rvalue *xv = gcc_jit_lvalue_as_rvalue(x);
  fn_trap_if(fn, cmp(fn, GCC_JIT_COMPARISON_NE, xv, xv), TRAP_INVALID_CONVERSION);
  gcc_jit_rvalue *in = gcc_jit_context_new_binary_op(
      fn->ctx, NULL, GCC_JIT_BINARY_OP_LOGICAL_AND, d->t_bool,
      cmp(fn, GCC_JIT_COMPARISON_GT, xv, gcc_jit_context_new_rvalue_from_double(fn->ctx, ft, lo)),
      cmp(fn, GCC_JIT_COMPARISON_LT, xv, gcc_jit_context_new_rvalue_from_double(fn->ctx, ft, hi)));
  fn_trap_if(
      fn,
      gcc_jit_context_new_unary_op(fn->ctx, NULL, GCC_JIT_UNARY_OP_LOGICAL_NEGATE, d->t_bool, in),
      TRAP_INT_OVERFLOW);
  gcc_jit_type *it = is_signed ? (i64 ? d->t_i64 : d->t_i32) : (i64 ? d->t_u64 : d->t_u32);
  gcc_jit_type *ut = i64 ? d->t_u64 : d->t_u32;
  fn_assign(fn, fn_push(fn, to), cast(fn, cast(fn, xv, it), ut));
}

static void convert(Fn *fn, WasmValType from, bool is_signed, WasmValType to) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *a = fn_pop(fn);
  if (is_signed)
    a = cast(fn, a, from == WASM_I64 ? d->t_i64 : d->t_i32);
  fn_assign(fn, fn_push(fn, to), cast(fn, a, to == WASM_F64 ? d->t_f64 : d->t_f32));
}

/* Sign extension: extend the low `from` bytes (1, 2, 4) to the full width. */
static void sign_extend(Fn *fn, bool wide, int from) {
  Dcm *d = fn->d;
  gcc_jit_type *narrow = from == 1 ? d->t_i8 : from == 2 ? d->t_i16 : d->t_i32;
  gcc_jit_type *st = wide ? d->t_i64 : d->t_i32, *ut = wide ? d->t_u64 : d->t_u32;
  gcc_jit_rvalue *a = fn_pop(fn);
  fn_assign(fn, fn_push(fn, wide ? WASM_I64 : WASM_I32),
            cast(fn, cast(fn, cast(fn, a, narrow), st), ut));
}

static void reinterpret(Fn *fn, WasmValType to) {
  gcc_jit_rvalue *a = fn_pop(fn);
  fn_assign(fn, fn_push(fn, to), dcm_bitcast(fn->d, a, fn->d->vc_type[dcm_vc(to)]));
}

static bool conversion(Fn *fn, uint8_t op) {
  Dcm *d = fn->d;
  switch (op) {
  case WASM_OP_I32_WRAP_I64: {
    gcc_jit_rvalue *a = fn_pop(fn);
    fn_assign(fn, fn_push(fn, WASM_I32), cast(fn, a, d->t_u32));
    return true;
  }
  case WASM_OP_I32_TRUNC_F32_S:
    trunc_op(fn, WASM_F32, WASM_I32, true);
    return true;
  case WASM_OP_I32_TRUNC_F32_U:
    trunc_op(fn, WASM_F32, WASM_I32, false);
    return true;
  case WASM_OP_I32_TRUNC_F64_S:
    trunc_op(fn, WASM_F64, WASM_I32, true);
    return true;
  case WASM_OP_I32_TRUNC_F64_U:
    trunc_op(fn, WASM_F64, WASM_I32, false);
    return true;
  case WASM_OP_I64_EXTEND_I32_S:
    sign_extend(fn, true, 4);
    return true;
  case WASM_OP_I64_EXTEND_I32_U: {
    gcc_jit_rvalue *a = fn_pop(fn);
    fn_assign(fn, fn_push(fn, WASM_I64), cast(fn, a, d->t_u64));
    return true;
  }
  case WASM_OP_I64_TRUNC_F32_S:
    trunc_op(fn, WASM_F32, WASM_I64, true);
    return true;
  case WASM_OP_I64_TRUNC_F32_U:
    trunc_op(fn, WASM_F32, WASM_I64, false);
    return true;
  case WASM_OP_I64_TRUNC_F64_S:
    trunc_op(fn, WASM_F64, WASM_I64, true);
    return true;
  case WASM_OP_I64_TRUNC_F64_U:
    trunc_op(fn, WASM_F64, WASM_I64, false);
    return true;
  case WASM_OP_F32_CONVERT_I32_S:
    convert(fn, WASM_I32, true, WASM_F32);
    return true;
  case WASM_OP_F32_CONVERT_I32_U:
    convert(fn, WASM_I32, false, WASM_F32);
    return true;
  case WASM_OP_F32_CONVERT_I64_S:
    convert(fn, WASM_I64, true, WASM_F32);
    return true;
  case WASM_OP_F32_CONVERT_I64_U:
    convert(fn, WASM_I64, false, WASM_F32);
    return true;
  case WASM_OP_F32_DEMOTE_F64:
    convert(fn, WASM_F64, false, WASM_F32);
    return true;
  case WASM_OP_F64_CONVERT_I32_S:
    convert(fn, WASM_I32, true, WASM_F64);
    return true;
  case WASM_OP_F64_CONVERT_I32_U:
    convert(fn, WASM_I32, false, WASM_F64);
    return true;
  case WASM_OP_F64_CONVERT_I64_S:
    convert(fn, WASM_I64, true, WASM_F64);
    return true;
  case WASM_OP_F64_CONVERT_I64_U:
    convert(fn, WASM_I64, false, WASM_F64);
    return true;
  case WASM_OP_F64_PROMOTE_F32: {
    gcc_jit_rvalue *a = fn_pop(fn);
    fn_assign(fn, fn_push(fn, WASM_F64), dcm_call1(d, dcm_helper(d, H_PROMOTE), a));
    return true;
  }
  case WASM_OP_I32_REINTERPRET_F32:
    reinterpret(fn, WASM_I32);
    return true;
  case WASM_OP_I64_REINTERPRET_F64:
    reinterpret(fn, WASM_I64);
    return true;
  case WASM_OP_F32_REINTERPRET_I32:
    reinterpret(fn, WASM_F32);
    return true;
  case WASM_OP_F64_REINTERPRET_I64:
    reinterpret(fn, WASM_F64);
    return true;
  case WASM_OP_I32_EXTEND8_S:
    sign_extend(fn, false, 1);
    return true;
  case WASM_OP_I32_EXTEND16_S:
    sign_extend(fn, false, 2);
    return true;
  case WASM_OP_I64_EXTEND8_S:
    sign_extend(fn, true, 1);
    return true;
  case WASM_OP_I64_EXTEND16_S:
    sign_extend(fn, true, 2);
    return true;
  case WASM_OP_I64_EXTEND32_S:
    sign_extend(fn, true, 4);
    return true;
  default:
    return false;
  }
}

bool jit_sat(Fn *fn, uint32_t sub) {
  static const int h[8] = {H_SAT_I32_F32, H_SAT_U32_F32, H_SAT_I32_F64, H_SAT_U32_F64,
                           H_SAT_I64_F32, H_SAT_U64_F32, H_SAT_I64_F64, H_SAT_U64_F64};
  if (sub > WASM_FC_I64_TRUNC_SAT_F64_U)
    return false;
  gcc_jit_rvalue *a = fn_pop(fn);
  fn_assign(fn, fn_push(fn, sub < 4 ? WASM_I32 : WASM_I64),
            dcm_call1(fn->d, dcm_helper(fn->d, h[sub]), a));
  return true;
}

bool jit_numeric(Fn *fn, uint8_t op) {
  if (op == WASM_OP_I32_EQZ || op == WASM_OP_I64_EQZ) {
    int_eqz(fn, op == WASM_OP_I64_EQZ);
  } else if (op >= WASM_OP_I32_EQ && op <= WASM_OP_I32_GE_U) {
    int_rel(fn, false, op - (unsigned)WASM_OP_I32_EQ);
  } else if (op >= WASM_OP_I64_EQ && op <= WASM_OP_I64_GE_U) {
    int_rel(fn, true, op - (unsigned)WASM_OP_I64_EQ);
  } else if (op >= WASM_OP_F32_EQ && op <= WASM_OP_F32_GE) {
    float_rel(fn, op - (unsigned)WASM_OP_F32_EQ);
  } else if (op >= WASM_OP_F64_EQ && op <= WASM_OP_F64_GE) {
    float_rel(fn, op - (unsigned)WASM_OP_F64_EQ);
  } else if (op >= WASM_OP_I32_CLZ && op <= WASM_OP_I32_POPCNT) {
    int_unary(fn, false, op - (unsigned)WASM_OP_I32_CLZ);
  } else if (op >= WASM_OP_I32_ADD && op <= WASM_OP_I32_ROTR) {
    int_binary(fn, false, op - (unsigned)WASM_OP_I32_ADD);
  } else if (op >= WASM_OP_I64_CLZ && op <= WASM_OP_I64_POPCNT) {
    int_unary(fn, true, op - (unsigned)WASM_OP_I64_CLZ);
  } else if (op >= WASM_OP_I64_ADD && op <= WASM_OP_I64_ROTR) {
    int_binary(fn, true, op - (unsigned)WASM_OP_I64_ADD);
  } else if (op >= WASM_OP_F32_ABS && op <= WASM_OP_F32_COPYSIGN) {
    float_op(fn, false, op - (unsigned)WASM_OP_F32_ABS);
  } else if (op >= WASM_OP_F64_ABS && op <= WASM_OP_F64_COPYSIGN) {
    float_op(fn, true, op - (unsigned)WASM_OP_F64_ABS);
  } else {
    return conversion(fn, op);
  }
  return true;
}
