/*
 * dcm.c: the Differential Compilation Module's driver.
 *
 * One dcm_compile is one libgccjit context: the package's exported globals
 * (abi/kiln_package_abi.h), the generated helpers every function may use, then
 * every requested function (declared first, so they can call each other
 * directly in the hot tier), compiled to a shared object in one go.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dcm_int.h"
#include "kiln_package_elf.h"
#include "u32_set.h"

const char *dcm_tier_name(DcmTier tier) {
  return tier == DCM_HOT ? "hot" : "warm";
}

void dcm_fail(Dcm *d, const char *fmt, ...) {
  if (d->failed)
    return; /* the first error is the one that explains the others */
  d->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err, d->errlen, fmt, ap);
  va_end(ap);
}

int dcm_vc(WasmValType t) {
  switch (t) {
  case WASM_I32:
    return VC_I32;
  case WASM_I64:
    return VC_I64;
  case WASM_F32:
    return VC_F32;
  case WASM_F64:
    return VC_F64;
  default:
    return VC_REF; /* funcref, externref: the validator admits nothing else */
  }
}

/* --- small expression builders -------------------------------------------- */

gcc_jit_rvalue *dcm_u32(Dcm *d, uint32_t v) {
  return gcc_jit_context_new_rvalue_from_long(d->ctx, d->t_u32, (long)v);
}
gcc_jit_rvalue *dcm_u64(Dcm *d, uint64_t v) {
  /* long is 64 bits on every target Kiln builds for; the bits carry over. */
  return gcc_jit_context_new_rvalue_from_long(d->ctx, d->t_u64, (long)v);
}
gcc_jit_rvalue *dcm_cast(Dcm *d, gcc_jit_rvalue *v, gcc_jit_type *to) {
  return gcc_jit_context_new_cast(d->ctx, NULL, v, to);
}
gcc_jit_rvalue *dcm_bitcast(Dcm *d, gcc_jit_rvalue *v, gcc_jit_type *to) {
  return gcc_jit_context_new_bitcast(d->ctx, NULL, v, to);
}
gcc_jit_rvalue *dcm_call1(Dcm *d, gcc_jit_function *fn, gcc_jit_rvalue *a) {
  return gcc_jit_context_new_call(d->ctx, NULL, fn, 1, &a);
}

/* Calls a GCC builtin of one argument, converting the argument and the
 * result: builtins take C's own types (unsigned int, unsigned long long),
 * which libgccjit keeps apart from uint32_t and uint64_t. */
gcc_jit_rvalue *dcm_builtin1(Dcm *d, const char *name, gcc_jit_rvalue *a, gcc_jit_type *result) {
  gcc_jit_function *fn = gcc_jit_context_get_builtin_function(d->ctx, name);
  gcc_jit_type *pt =
      gcc_jit_rvalue_get_type(gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn, 0)));
  gcc_jit_rvalue *r = dcm_call1(d, fn, dcm_cast(d, a, pt));
  return dcm_cast(d, r, result);
}

gcc_jit_lvalue *dcm_field(Dcm *d, gcc_jit_rvalue *ptr, size_t off, gcc_jit_type *type) {
  gcc_jit_rvalue *bytes = dcm_cast(d, ptr, d->t_u8ptr);
  gcc_jit_lvalue *at = gcc_jit_context_new_array_access(
      d->ctx, NULL, bytes, gcc_jit_context_new_rvalue_from_long(d->ctx, d->t_long, (long)off));
  gcc_jit_rvalue *p =
      dcm_cast(d, gcc_jit_lvalue_get_address(at, NULL), gcc_jit_type_get_pointer(type));
  return gcc_jit_rvalue_dereference(p, NULL);
}

gcc_jit_lvalue *dcm_index(Dcm *d, gcc_jit_rvalue *ptr, gcc_jit_type *elem, gcc_jit_rvalue *index) {
  gcc_jit_rvalue *p = dcm_cast(d, ptr, gcc_jit_type_get_pointer(elem));
  return gcc_jit_context_new_array_access(d->ctx, NULL, p, index);
}

gcc_jit_rvalue *dcm_import(Dcm *d, int which) {
  return gcc_jit_lvalue_as_rvalue(
      gcc_jit_lvalue_access_field(d->imports, NULL, d->imp_field[which]));
}

/* --- the package's exported globals --------------------------------------- */

static gcc_jit_type *fnptr(Dcm *d, gcc_jit_type *ret, int n, gcc_jit_type **params) {
  return gcc_jit_context_new_function_ptr_type(d->ctx, NULL, ret, n, params, 0);
}

/* An ABI type code as the type compiled code uses: it knows the runtime's
 * structs only as offsets, so every pointer to one is a void *. */
static gcc_jit_type *abi_type(Dcm *d, KilnAbiType code) {
  switch (code) {
  case ABI_T_VOID:
    return d->t_void;
  case ABI_T_U32:
    return d->t_u32;
  case ABI_T_I64:
    return d->t_i64;
  case ABI_T_TRAP:
    return d->t_int;
  case ABI_T_FLAG:
    return gcc_jit_type_get_pointer(d->t_int);
  case ABI_T_SLOTS:
    return d->t_u64ptr;
  case ABI_T_REF:
  case ABI_T_THREAD:
  case ABI_T_FUNC:
  case ABI_T_CONST_FUNC:
  case ABI_T_MEMORY:
  case ABI_T_TABLE:
    return d->t_vptr;
  }
  return NULL;
}

enum { IMPORT_MAX_PARAMS = 8 };
typedef struct {
  const char *name;
  uint8_t result, nparams, params[IMPORT_MAX_PARAMS];
} ImportSig;
#define IMPORT_SIG(id, name, result, ...)                                                          \
  [KILN_IMP_##id] = {#name, result, sizeof((uint8_t[]){__VA_ARGS__}), {__VA_ARGS__}},
static const ImportSig import_sigs[KILN_IMP_COUNT] = {KILN_ABI_IMPORTS(IMPORT_SIG, ABI_T_CODE)};
#undef IMPORT_SIG

/* kiln_package_imports: abi_version, then one function pointer per entry of
 * KILN_ABI_IMPORTS in its order, so gcc lays the struct out as the agent's
 * C compiler does (agent/abi_check.c checks that layout). */
static void make_imports(Dcm *d) {
  gcc_jit_field *fields[KILN_IMP_COUNT + 1];
  fields[0] = gcc_jit_context_new_field(d->ctx, NULL, d->t_u32, "abi_version");
  for (int i = 0; i < KILN_IMP_COUNT; i++) {
    const ImportSig *im = &import_sigs[i];
    gcc_jit_type *params[IMPORT_MAX_PARAMS];
    for (int k = 0; k < im->nparams; k++)
      params[k] = abi_type(d, im->params[k]);
    gcc_jit_type *type = fnptr(d, abi_type(d, im->result), im->nparams, params);
    d->imp_field[i] = gcc_jit_context_new_field(d->ctx, NULL, type, im->name);
    fields[i + 1] = d->imp_field[i];
  }
  gcc_jit_struct *st = gcc_jit_context_new_struct_type(d->ctx, NULL, "KilnPackageImports",
                                                       KILN_IMP_COUNT + 1, fields);
  d->imports = gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_EXPORTED,
                                          gcc_jit_struct_as_type(st), KILN_PACKAGE_SYM_IMPORTS);
  if (d->unchecked) {
    d->guard_ready = gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_INTERNAL, d->t_int,
                                                "kiln_guard_ready");
    gcc_jit_global_set_initializer_rvalue(d->guard_ready, gcc_jit_context_zero(d->ctx, d->t_int));
  }
}

uint32_t dcm_package_generation(void) {
  return (uint32_t)KILN_PACKAGE_ABI_VERSION << 16 | DCM_CODEGEN_VERSION;
}

static void make_identity(Dcm *d) {
  gcc_jit_lvalue *abi = gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_EXPORTED, d->t_u32,
                                                   KILN_PACKAGE_SYM_ABI);
  gcc_jit_global_set_initializer_rvalue(abi, dcm_u32(d, KILN_PACKAGE_ABI_VERSION));
  gcc_jit_type *h = gcc_jit_context_new_array_type(d->ctx, NULL, d->t_u8, 32);
  gcc_jit_lvalue *hash =
      gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_EXPORTED, h, KILN_PACKAGE_SYM_HASH);
  gcc_jit_global_set_initializer(hash, d->m->hash, 32);
}

static void make_types(Dcm *d) {
  gcc_jit_context *c = d->ctx;
  d->t_void = gcc_jit_context_get_type(c, GCC_JIT_TYPE_VOID);
  d->t_bool = gcc_jit_context_get_type(c, GCC_JIT_TYPE_BOOL);
  d->t_u8 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_UINT8_T);
  d->t_i8 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_INT8_T);
  d->t_u16 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_UINT16_T);
  d->t_i16 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_INT16_T);
  d->t_u32 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_UINT32_T);
  d->t_i32 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_INT32_T);
  d->t_u64 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_UINT64_T);
  d->t_i64 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_INT64_T);
  d->t_f32 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_FLOAT);
  d->t_f64 = gcc_jit_context_get_type(c, GCC_JIT_TYPE_DOUBLE);
  d->t_vptr = gcc_jit_context_get_type(c, GCC_JIT_TYPE_VOID_PTR);
  d->t_int = gcc_jit_context_get_type(c, GCC_JIT_TYPE_INT);
  d->t_long = gcc_jit_context_get_type(c, GCC_JIT_TYPE_LONG);
  d->t_u8ptr = gcc_jit_type_get_pointer(d->t_u8);
  d->t_u64ptr = gcc_jit_type_get_pointer(d->t_u64);
  d->vc_type[VC_I32] = d->t_u32;
  d->vc_type[VC_I64] = d->t_u64;
  d->vc_type[VC_F32] = d->t_f32;
  d->vc_type[VC_F64] = d->t_f64;
  d->vc_type[VC_REF] = d->t_vptr;
  gcc_jit_type *ep[] = {d->t_vptr, d->t_vptr, d->t_u64ptr};
  d->entry_ptr = fnptr(d, d->t_void, 3, ep);
  d->expect = gcc_jit_context_get_builtin_function(c, "__builtin_expect");
}

/* --- generated helpers ------------------------------------------------------
 * Small always-inlined functions for operations that need control flow
 * (libgccjit has no conditional expression). They repeat interp.c's helpers
 * exactly, so every tier computes the same bits. */

typedef struct {
  Dcm *d;
  gcc_jit_function *fn;
  gcc_jit_block *b;
  int n;
} HB;

static HB hb_start(Dcm *d, const char *name, gcc_jit_type *ret, int np, gcc_jit_type *pt) {
  gcc_jit_param *ps[2];
  static const char *const pn[2] = {"a", "b"};
  for (int i = 0; i < np; i++)
    ps[i] = gcc_jit_context_new_param(d->ctx, NULL, pt, pn[i]);
  HB h = {d,
          gcc_jit_context_new_function(d->ctx, NULL, GCC_JIT_FUNCTION_ALWAYS_INLINE, ret, name, np,
                                       ps, 0),
          NULL, 0};
  h.b = gcc_jit_function_new_block(h.fn, "entry");
  return h;
}
static gcc_jit_rvalue *hb_p(HB *h, int i) {
  return gcc_jit_param_as_rvalue(gcc_jit_function_get_param(h->fn, i));
}
/* if (cond) return v; and go on in a new block. */
static void hb_ret_if(HB *h, gcc_jit_rvalue *cond, gcc_jit_rvalue *v) {
  gcc_jit_block *yes = gcc_jit_function_new_block(h->fn, NULL);
  gcc_jit_block *no = gcc_jit_function_new_block(h->fn, NULL);
  gcc_jit_block_end_with_conditional(h->b, NULL, cond, yes, no);
  gcc_jit_block_end_with_return(yes, NULL, v);
  h->b = no;
}
static gcc_jit_rvalue *cmp(Dcm *d, enum gcc_jit_comparison op, gcc_jit_rvalue *a,
                           gcc_jit_rvalue *b) {
  return gcc_jit_context_new_comparison(d->ctx, NULL, op, a, b);
}
static gcc_jit_rvalue *bin(Dcm *d, enum gcc_jit_binary_op op, gcc_jit_type *t, gcc_jit_rvalue *a,
                           gcc_jit_rvalue *b) {
  return gcc_jit_context_new_binary_op(d->ctx, NULL, op, t, a, b);
}

/* x ? builtin(x) : bits, for clz and ctz. */
static gcc_jit_function *make_count(Dcm *d, const char *name, const char *builtin, gcc_jit_type *t,
                                    unsigned bits) {
  HB h = hb_start(d, name, t, 1, t);
  gcc_jit_rvalue *x = hb_p(&h, 0);
  gcc_jit_rvalue *zero = gcc_jit_context_zero(d->ctx, t);
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_EQ, x, zero),
            gcc_jit_context_new_rvalue_from_int(d->ctx, t, (int)bits));
  gcc_jit_block_end_with_return(h.b, NULL, dcm_builtin1(d, builtin, x, t));
  return h.fn;
}

static gcc_jit_rvalue *signbit(Dcm *d, gcc_jit_rvalue *x, gcc_jit_type *ft) {
  bool is32 = ft == d->t_f32;
  gcc_jit_type *it = is32 ? d->t_i32 : d->t_i64;
  return cmp(d, GCC_JIT_COMPARISON_LT, dcm_bitcast(d, x, it), gcc_jit_context_zero(d->ctx, it));
}

/* WebAssembly min/max (interp.c f32_min and friends). */
static gcc_jit_function *make_minmax(Dcm *d, const char *name, gcc_jit_type *ft, bool is_max) {
  HB h = hb_start(d, name, ft, 2, ft);
  gcc_jit_rvalue *a = hb_p(&h, 0), *b = hb_p(&h, 1);
  gcc_jit_rvalue *nan = gcc_jit_context_new_binary_op(
      d->ctx, NULL, GCC_JIT_BINARY_OP_LOGICAL_OR, d->t_bool, cmp(d, GCC_JIT_COMPARISON_NE, a, a),
      cmp(d, GCC_JIT_COMPARISON_NE, b, b));
  hb_ret_if(&h, nan, bin(d, GCC_JIT_BINARY_OP_PLUS, ft, a, b));
  /* a == b: the one with the sign bit is the minimum. */
  gcc_jit_block *eq = gcc_jit_function_new_block(h.fn, NULL);
  gcc_jit_block *ne = gcc_jit_function_new_block(h.fn, NULL);
  gcc_jit_block_end_with_conditional(h.b, NULL, cmp(d, GCC_JIT_COMPARISON_EQ, a, b), eq, ne);
  h.b = eq;
  hb_ret_if(&h, signbit(d, a, ft), is_max ? b : a);
  gcc_jit_block_end_with_return(h.b, NULL, is_max ? a : b);
  h.b = ne;
  hb_ret_if(&h, cmp(d, is_max ? GCC_JIT_COMPARISON_GT : GCC_JIT_COMPARISON_LT, a, b), a);
  gcc_jit_block_end_with_return(h.b, NULL, b);
  return h.fn;
}

/* NaN in gives a quiet NaN out (x + x), as interp.c's ROUNDING. */
static gcc_jit_function *make_round(Dcm *d, const char *name, const char *builtin,
                                    gcc_jit_type *ft) {
  HB h = hb_start(d, name, ft, 1, ft);
  gcc_jit_rvalue *x = hb_p(&h, 0);
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_NE, x, x), bin(d, GCC_JIT_BINARY_OP_PLUS, ft, x, x));
  gcc_jit_block_end_with_return(h.b, NULL, dcm_builtin1(d, builtin, x, ft));
  return h.fn;
}

static gcc_jit_rvalue *fconst(Dcm *d, gcc_jit_type *ft, double v) {
  return gcc_jit_context_new_rvalue_from_double(d->ctx, ft, v);
}

/* Saturating truncation (interp.c SAT): the result in a u32 or u64. */
static gcc_jit_function *make_sat(Dcm *d, const char *name, gcc_jit_type *ft, gcc_jit_type *it,
                                  double lo, double hi, uint64_t min, uint64_t max) {
  bool wide = gcc_jit_type_get_size(it) == 8;
  gcc_jit_type *ut = wide ? d->t_u64 : d->t_u32;
  HB h = hb_start(d, name, ut, 1, ft);
  gcc_jit_rvalue *x = hb_p(&h, 0);
  gcc_jit_rvalue *rmin = wide ? dcm_u64(d, min) : dcm_u32(d, (uint32_t)min);
  gcc_jit_rvalue *rmax = wide ? dcm_u64(d, max) : dcm_u32(d, (uint32_t)max);
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_NE, x, x), gcc_jit_context_zero(d->ctx, ut));
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_LE, x, fconst(d, ft, lo)), rmin);
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_GE, x, fconst(d, ft, hi)), rmax);
  gcc_jit_block_end_with_return(h.b, NULL, dcm_cast(d, dcm_cast(d, x, it), ut));
  return h.fn;
}

/* f64.promote_f32 with the NaN case spelled out: gcc folds
 * demote(promote(x)) to x even with -fsignaling-nans, which would hand a
 * signalling NaN back unquieted. The sum gives the hardware's quiet NaN. */
static gcc_jit_function *make_promote(Dcm *d) {
  HB h = hb_start(d, "kiln_promote", d->t_f64, 1, d->t_f32);
  gcc_jit_rvalue *x = hb_p(&h, 0);
  gcc_jit_rvalue *wide = dcm_cast(d, x, d->t_f64);
  hb_ret_if(&h, cmp(d, GCC_JIT_COMPARISON_NE, x, x),
            bin(d, GCC_JIT_BINARY_OP_PLUS, d->t_f64, wide, wide));
  gcc_jit_block_end_with_return(h.b, NULL, wide);
  return h.fn;
}

gcc_jit_function *dcm_helper(Dcm *d, int w) {
  if (d->helper[w])
    return d->helper[w];
  gcc_jit_type *f32 = d->t_f32, *f64 = d->t_f64;
  gcc_jit_function *fn = NULL;
  switch (w) {
  case H_CLZ32:
    fn = make_count(d, "kiln_clz32", "__builtin_clz", d->t_u32, 32);
    break;
  case H_CTZ32:
    fn = make_count(d, "kiln_ctz32", "__builtin_ctz", d->t_u32, 32);
    break;
  case H_CLZ64:
    fn = make_count(d, "kiln_clz64", "__builtin_clzll", d->t_u64, 64);
    break;
  case H_CTZ64:
    fn = make_count(d, "kiln_ctz64", "__builtin_ctzll", d->t_u64, 64);
    break;
  case H_FMIN32:
    fn = make_minmax(d, "kiln_fmin32", f32, false);
    break;
  case H_FMAX32:
    fn = make_minmax(d, "kiln_fmax32", f32, true);
    break;
  case H_FMIN64:
    fn = make_minmax(d, "kiln_fmin64", f64, false);
    break;
  case H_FMAX64:
    fn = make_minmax(d, "kiln_fmax64", f64, true);
    break;
  case H_CEIL32:
    fn = make_round(d, "kiln_ceil32", "__builtin_ceilf", f32);
    break;
  case H_FLOOR32:
    fn = make_round(d, "kiln_floor32", "__builtin_floorf", f32);
    break;
  case H_TRUNC32:
    fn = make_round(d, "kiln_trunc32", "__builtin_truncf", f32);
    break;
  case H_NEAREST32:
    fn = make_round(d, "kiln_nearest32", "__builtin_rintf", f32);
    break;
  case H_CEIL64:
    fn = make_round(d, "kiln_ceil64", "__builtin_ceil", f64);
    break;
  case H_FLOOR64:
    fn = make_round(d, "kiln_floor64", "__builtin_floor", f64);
    break;
  case H_TRUNC64:
    fn = make_round(d, "kiln_trunc64", "__builtin_trunc", f64);
    break;
  case H_NEAREST64:
    fn = make_round(d, "kiln_nearest64", "__builtin_rint", f64);
    break;
  case H_SAT_I32_F32:
    fn = make_sat(d, "kiln_sat_i32_f32", f32, d->t_i32, -2147483904.0, 2147483648.0,
                  (uint32_t)INT32_MIN, INT32_MAX);
    break;
  case H_SAT_U32_F32:
    fn = make_sat(d, "kiln_sat_u32_f32", f32, d->t_u32, -1.0, 4294967296.0, 0, UINT32_MAX);
    break;
  case H_SAT_I32_F64:
    fn = make_sat(d, "kiln_sat_i32_f64", f64, d->t_i32, -2147483649.0, 2147483648.0,
                  (uint32_t)INT32_MIN, INT32_MAX);
    break;
  case H_SAT_U32_F64:
    fn = make_sat(d, "kiln_sat_u32_f64", f64, d->t_u32, -1.0, 4294967296.0, 0, UINT32_MAX);
    break;
  case H_SAT_I64_F32:
    fn = make_sat(d, "kiln_sat_i64_f32", f32, d->t_i64, -9223373136366403584.0,
                  9223372036854775808.0, (uint64_t)INT64_MIN, INT64_MAX);
    break;
  case H_SAT_U64_F32:
    fn =
        make_sat(d, "kiln_sat_u64_f32", f32, d->t_u64, -1.0, 18446744073709551616.0, 0, UINT64_MAX);
    break;
  case H_SAT_I64_F64:
    fn = make_sat(d, "kiln_sat_i64_f64", f64, d->t_i64, -9223372036854777856.0,
                  9223372036854775808.0, (uint64_t)INT64_MIN, INT64_MAX);
    break;
  case H_SAT_U64_F64:
    fn =
        make_sat(d, "kiln_sat_u64_f64", f64, d->t_u64, -1.0, 18446744073709551616.0, 0, UINT64_MAX);
    break;
  case H_PROMOTE:
    fn = make_promote(d);
    break;
  }
  d->helper[w] = fn;
  return fn;
}

/* --- symbols ---------------------------------------------------------------- */

/* kiln_f<index>_<name>: the name section's name reduced to [A-Za-z0-9_]
 * and cut, so perf and gdb show the script's names. */
static void make_symbol(const WasmModule *m, uint32_t index, char *out, size_t size) {
  int n = snprintf(out, size, KILN_PACKAGE_ENTRY_PREFIX "%u", index);
  const WasmFunc *f = &m->funcs[index];
  if (!f->name.str || n < 0 || (size_t)n + 2 >= size)
    return;
  size_t at = (size_t)n;
  out[at++] = '_';
  for (uint32_t i = 0; i < f->name.len && at + 1 < size && i < 64; i++) {
    char c = f->name.str[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out[at++] = ok ? c : '_';
  }
  out[at] = '\0';
}

/* --- the context -------------------------------------------------------------- */

static size_t largest_body(const WasmModule *m, const uint32_t *funcs, uint32_t n) {
  size_t most = 0;
  for (uint32_t i = 0; i < n; i++)
    if (m->funcs[funcs[i]].body_len > most)
      most = m->funcs[funcs[i]].body_len;
  return most;
}

static void set_options(Dcm *d, size_t largest) {
  gcc_jit_context *c = d->ctx;
  gcc_jit_context_set_int_option(c, GCC_JIT_INT_OPTION_OPTIMIZATION_LEVEL,
                                 d->tier == DCM_HOT ? 3 : 1);
  /* Translated code leaves blocks no branch reaches (after br, return). */
  gcc_jit_context_set_bool_allow_unreachable_blocks(c, 1);
  /* Linear memory is read and written as every type at every address, and
   * WebAssembly rounds each operation: no type-based aliasing, no fused
   * multiply-add, no errno (sqrt must stay one instruction). */
  gcc_jit_context_add_command_line_option(c, "-fno-strict-aliasing");
  gcc_jit_context_add_command_line_option(c, "-ffp-contract=off");
  gcc_jit_context_add_command_line_option(c, "-fno-math-errno");
  /* x - 0, x * 1, x / -1 must still quiet a signalling NaN: no folding. */
  gcc_jit_context_add_command_line_option(c, "-fsignaling-nans");
  gcc_jit_context_add_command_line_option(c, "-fno-semantic-interposition");
  /* Recursion must stay recursion: a tail call or gcc's turning of
   * recursion into a loop would skip the native stack check, and an
   * unbounded recursion would spin instead of trapping "call stack
   * exhausted" like the interpreter. */
  gcc_jit_context_add_command_line_option(c, "-fno-optimize-sibling-calls");
  /* At -O1, gcc allocates registers region by region over the loop tree,
   * which on a function with many loops and thousands of values is most of
   * its time: SQLite's sqlite3VdbeExec (50 KB of wasm) took 35 to 46 s
   * warm, 55% of it in IRA, and takes 10 to 13 s with one region. Hot
   * (-O3) spends 1 s there, and keeps gcc's default but for a big one. */
  bool big_hot = d->tier == DCM_HOT && largest >= DCM_BIG_BODY_BYTES;
  if (d->tier == DCM_HOT)
    gcc_jit_context_add_command_line_option(c, "-funroll-loops");
  if (d->tier != DCM_HOT || big_hot)
    gcc_jit_context_add_command_line_option(c, "-fira-region=one");
  /* Hot, a big function spends a quarter of its compile in RTL's global
   * CSE (PRE, and load CSE after reload) and more in IRA's regions:
   * sqlite3VdbeExec took 14 to 15 s at -O3, and takes 8 to 10 s without
   * them. */
  if (big_hot) {
    gcc_jit_context_add_command_line_option(c, "-fno-gcse");
    gcc_jit_context_add_command_line_option(c, "-fno-gcse-after-reload");
  }
  if (d->unchecked) {
    /* An access without bounds check is the check, so gcc must not drop
     * one whose value is unused ((drop (i32.load ...)) must still trap):
     * instructions that may trap count as throwing, and dead code
     * elimination keeps those. */
    gcc_jit_context_add_command_line_option(c, "-fexceptions");
    gcc_jit_context_add_command_line_option(c, "-fnon-call-exceptions");
    /* A trap must find memory as the interpreter leaves it: every store
     * before the faulting access done, none after it. Merged or vectorized
     * stores fault as a whole (losing the bytes before the end of memory),
     * and post-allocation scheduling may move a store past a faulting
     * access, so those stay off (measured: no loss on the samples). */
    gcc_jit_context_add_command_line_option(c, "-fno-store-merging");
    gcc_jit_context_add_command_line_option(c, "-fno-tree-slp-vectorize");
    gcc_jit_context_add_command_line_option(c, "-fno-tree-loop-vectorize");
    gcc_jit_context_add_command_line_option(c, "-fno-schedule-insns2");
  }
#if defined(__x86_64__)
  /* A branch that crosses or ends on a 32-byte boundary is slow on some
   * x86 cores (Intel's JCC erratum; on the AMD EPYC we measured, the vm
   * sample's one dispatch jump took twice the time when a shift of 16 bytes
   * earlier in the package put it across one). The assembler pads instead,
   * so speed no longer depends on where a function happens to land.
   * (-falign-functions would too, but libgccjit 12 keeps a pointer to that
   * option's string past the context: a use after free.) */
  gcc_jit_context_add_driver_option(c, "-Wa,-mbranches-within-32B-boundaries");
#endif
  /* No C runtime: a package has no constructors, and the libc functions
   * it calls (memmove, memset) bind to the agent's at dlopen, as libc is
   * in every process. Linking libc's script and start files took 5 to
   * 10 ms of each package's compile.
   * libgcc stays, for the helpers gcc may call (__popcountdi2 on baseline
   * x86-64); ceil, floor, trunc and rint are libm calls there. */
  gcc_jit_context_add_driver_option(c, "-nostdlib");
  gcc_jit_context_add_driver_option(c, "-lgcc");
  gcc_jit_context_add_driver_option(c, "-lm");
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool check_request(const WasmModule *m, const uint32_t *funcs, uint32_t n, char *err,
                          size_t errlen) {
  for (uint32_t i = 0; i < n; i++) {
    if (funcs[i] >= m->nfuncs || m->funcs[funcs[i]].imported) {
      snprintf(err, errlen, "function %u is not a defined function of the module", funcs[i]);
      return false;
    }
  }
  return true;
}

static void fill_manifest(Dcm *d, const uint32_t *funcs, uint32_t n, DcmManifest *out) {
  out->tier = d->tier;
  out->nfuncs = n;
  out->funcs = calloc(n ? n : 1, sizeof *out->funcs);
  for (uint32_t i = 0; out->funcs && i < n; i++) {
    out->funcs[i].index = funcs[i];
    snprintf(out->funcs[i].symbol, sizeof out->funcs[i].symbol, "%s", d->symbol[funcs[i]]);
  }
}

/* Whether x is compiled once, as its OSR entry: the profile says so and
 * it has loops (without, it has no OSR entry to be). */
static bool osr_body(const Dcm *d, uint32_t x) {
  const DcmProfile *p = d->profile;
  return u32_set_has(p->osr_body, p->nosr_body, x) && jit_has_loop(&d->m->funcs[x]);
}

static bool translate_all(Dcm *d, const uint32_t *funcs, uint32_t n) {
  const DcmProfile *p = d->profile;
  bool *once = calloc(n ? n : 1, sizeof *once); /* osr_body, asked once per function */
  if (!once) {
    dcm_fail(d, "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n && !d->failed; i++) {
    once[i] = osr_body(d, funcs[i]);
    jit_declare(d, funcs[i], once[i]);
  }
  if (d->tier == DCM_HOT && !d->failed)
    jit_declare_itab(d, funcs, n);
  for (uint32_t i = 0; i < n && !d->failed; i++)
    if (!once[i])
      jit_define(d, funcs[i]);
  for (uint32_t i = 0; i < n && !d->failed; i++) {
    if (once[i])
      jit_define_osr_caller(d, funcs[i], jit_define_osr(d, funcs[i]));
    else if (!u32_set_has(p->without_osr, p->nwithout_osr, funcs[i]))
      jit_define_osr(d, funcs[i]);
  }
  free(once);
  return !d->failed;
}

static bool compile_ctx(Dcm *d, const char *out_path) {
  gcc_jit_context_compile_to_file(d->ctx, GCC_JIT_OUTPUT_KIND_DYNAMIC_LIBRARY, out_path);
  const char *e = gcc_jit_context_get_first_error(d->ctx);
  if (e) {
    dcm_fail(d, "libgccjit: %s", e);
    return false;
  }
  return true;
}

bool dcm_compile(const WasmModule *m, const uint32_t *funcs, uint32_t nfuncs, DcmTier tier,
                 const DcmProfile *profile, const char *out_path, DcmManifest *out, char *err,
                 size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!check_request(m, funcs, nfuncs, err, errlen))
    return false;
  double t0 = now_ms();
  Dcm d = {.m = m, .tier = tier, .err = err, .errlen = errlen};
  static const DcmProfile none;
  d.profile = profile ? profile : &none;
  d.unchecked = tier == DCM_HOT && m->nmemories > 0;
  d.ctx = gcc_jit_context_acquire();
  d.internal = calloc(m->nfuncs, sizeof *d.internal);
  d.entry = calloc(m->nfuncs, sizeof *d.entry);
  d.symbol = calloc(m->nfuncs, sizeof *d.symbol);
  char *names = calloc(nfuncs ? nfuncs : 1, sizeof out->funcs[0].symbol);
  bool ok = d.ctx && d.internal && d.entry && d.symbol && names;
  if (!ok)
    snprintf(err, errlen, "out of memory");
  if (ok) {
    for (uint32_t i = 0; i < nfuncs; i++) {
      char *s = names + (size_t)i * sizeof out->funcs[0].symbol;
      make_symbol(m, funcs[i], s, sizeof out->funcs[0].symbol);
      d.symbol[funcs[i]] = s;
    }
    set_options(&d, largest_body(m, funcs, nfuncs));
    make_types(&d);
    make_imports(&d);
    make_identity(&d);
    ok = translate_all(&d, funcs, nfuncs) && compile_ctx(&d, out_path);
  }
  if (ok) {
    fill_manifest(&d, funcs, nfuncs, out);
    out->compile_ms = now_ms() - t0;
    if (out->funcs)
      dcm_measure_code(out_path, out);
    struct stat st;
    if (stat(out_path, &st) == 0)
      out->package_size = (uint64_t)st.st_size;
  } else {
    remove(out_path);
  }
  if (d.ctx)
    gcc_jit_context_release(d.ctx);
  free(d.internal);
  free(d.entry);
  free(d.symbol);
  free(names);
  return ok && out->funcs;
}

void dcm_manifest_free(DcmManifest *man) {
  free(man->funcs);
  man->funcs = NULL;
  man->nfuncs = 0;
}
