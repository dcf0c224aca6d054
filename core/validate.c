/*
 * validate.c: WebAssembly 2.0 validation (SIMD excluded).
 *
 * Module-level rules first, then every function body with the algorithm of
 * the spec's appendix: an operand stack of value types, a control stack of
 * blocks, and "Unknown" for values that unreachable code conjures up. Bodies
 * are read here for the first time, so encoding errors inside them (illegal
 * opcodes, bad LEB128, missing `end`) are reported as malformed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "reader.h"
#include "wasm.h"

/* The spec's Unknown: any type, produced by popping an empty stack in
 * unreachable code. No value type is encoded as 0. */
#define UNKNOWN ((WasmValType)0)

/* A cap on the operand stack: a call can push many results from one byte,
 * so without it a small body could make the stack grow without bound. */
#define MAX_OPERANDS (1u << 22)

typedef struct {
  uint8_t op; /* WASM_OP_BLOCK (also the function's own frame), _LOOP, _IF, _ELSE */
  bool unreachable;
  uint32_t height; /* operand stack height at entry */
  uint32_t nparams, nresults;
  const WasmValType *params;
  const WasmValType *results; /* NULL with nresults 1: the type is `one` */
  WasmValType one;
} Frame;

typedef struct {
  const WasmModule *m;
  WasmError *err;
  bool failed;
  Reader r;
  int64_t func; /* function being checked, or -1 */
  size_t instr_off; /* where the current instruction starts */
  const WasmFuncType *ftype; /* of the function being checked */
  const WasmFunc *fn;
  WasmValType *vals;
  uint32_t nvals, cap_vals;
  Frame *ctrls;
  uint32_t nctrls, cap_ctrls;
  uint8_t *refs; /* C.refs: functions that ref.func may name */
} V;

/* ----------------------------------------------------------------- errors */

static bool report(V *v, int kind, size_t off, const char *fmt, va_list ap) {
  if (v->failed)
    return false;
  v->failed = true;
  v->err->kind = kind;
  v->err->offset = off;
  v->err->func = v->func;
  vsnprintf(v->err->msg, sizeof v->err->msg, fmt, ap);
  return false;
}

/* invalid: a rule of validation is broken at the current instruction */
static bool fail(V *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(v, WASM_ERR_INVALID, v->instr_off, fmt, ap);
  va_end(ap);
  return false;
}

static bool fail_at(V *v, size_t off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(v, WASM_ERR_INVALID, off, fmt, ap);
  va_end(ap);
  return false;
}

/* malformed: the bytes of a body do not encode instructions */
static bool malformed(V *v, size_t off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(v, WASM_ERR_MALFORMED, off, fmt, ap);
  va_end(ap);
  return false;
}

static const char *tname(WasmValType t) {
  return wasm_type_name(t);
}

/* A function type's results; NULL (never offset) when it has no types. */
static const WasmValType *type_results(const WasmFuncType *t) {
  return t->types ? t->types + t->nparams : NULL;
}

static bool is_num(WasmValType t) {
  return t == WASM_I32 || t == WASM_I64 || t == WASM_F32 || t == WASM_F64 || t == UNKNOWN;
}

static bool is_ref(WasmValType t) {
  return t == WASM_FUNCREF || t == WASM_EXTERNREF || t == UNKNOWN;
}

/* --------------------------------------------------- operand/control stack */

static Frame *top(V *v) {
  return &v->ctrls[v->nctrls - 1];
}

static const WasmValType *results_of(const Frame *f) {
  return f->results ? f->results : &f->one;
}

/* A branch to a loop goes back to its start, so it carries the parameters. */
static uint32_t label_arity(const Frame *f) {
  return f->op == WASM_OP_LOOP ? f->nparams : f->nresults;
}

static const WasmValType *label_types(const Frame *f) {
  return f->op == WASM_OP_LOOP ? f->params : results_of(f);
}

static bool push(V *v, WasmValType t) {
  if (v->nvals == v->cap_vals) {
    if (v->cap_vals >= MAX_OPERANDS)
      return fail(v, "operand stack deeper than %u values", MAX_OPERANDS);
    uint32_t cap = v->cap_vals ? v->cap_vals * 2 : 64;
    WasmValType *p = realloc(v->vals, cap);
    if (!p)
      return fail(v, "out of memory");
    v->vals = p;
    v->cap_vals = cap;
  }
  v->vals[v->nvals++] = t;
  return true;
}

static bool push_n(V *v, const WasmValType *ts, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!push(v, ts[i]))
      return false;
  return true;
}

/* Pop any value; *got is UNKNOWN when unreachable code pops an empty stack. */
static bool pop_any(V *v, WasmValType *got) {
  Frame *f = top(v);
  if (v->nvals == f->height) {
    *got = UNKNOWN;
    return f->unreachable ? true : fail(v, "type mismatch: expected a value, got nothing");
  }
  *got = v->vals[--v->nvals];
  return true;
}

static bool pop(V *v, WasmValType want) {
  Frame *f = top(v);
  if (v->nvals == f->height)
    return f->unreachable ? true : fail(v, "type mismatch: expected %s, got nothing", tname(want));
  WasmValType got = v->vals[--v->nvals];
  if (got != want && got != UNKNOWN && want != UNKNOWN)
    return fail(v, "type mismatch: expected %s, got %s", tname(want), tname(got));
  return true;
}

static bool pop_n(V *v, const WasmValType *ts, uint32_t n) {
  for (uint32_t i = n; i-- > 0;)
    if (!pop(v, ts[i]))
      return false;
  return true;
}

/* Check the top n values against ts without popping them (br_table checks
 * every target against the same operands). */
static bool peek_n(V *v, const WasmValType *ts, uint32_t n) {
  Frame *f = top(v);
  for (uint32_t i = 0; i < n; i++) {
    WasmValType want = ts[n - 1 - i];
    if (v->nvals - f->height <= i)
      return f->unreachable ? true
                            : fail(v, "type mismatch: expected %s, got nothing", tname(want));
    WasmValType got = v->vals[v->nvals - 1 - i];
    if (got != want && got != UNKNOWN)
      return fail(v, "type mismatch: expected %s, got %s", tname(want), tname(got));
  }
  return true;
}

static bool push_ctrl(V *v, const Frame *sig) {
  if (v->nctrls == v->cap_ctrls) {
    uint32_t cap = v->cap_ctrls ? v->cap_ctrls * 2 : 16;
    Frame *p = realloc(v->ctrls, cap * sizeof *p);
    if (!p)
      return fail(v, "out of memory");
    v->ctrls = p;
    v->cap_ctrls = cap;
  }
  Frame *f = &v->ctrls[v->nctrls++];
  *f = *sig;
  f->height = v->nvals;
  f->unreachable = false;
  return push_n(v, f->params, f->nparams);
}

static bool pop_ctrl(V *v, Frame *out) {
  Frame *f = top(v);
  if (!pop_n(v, results_of(f), f->nresults))
    return false;
  if (v->nvals != f->height) {
    uint32_t extra = v->nvals - f->height;
    return fail(v, "type mismatch: %u extra value%s at end of block", extra, extra == 1 ? "" : "s");
  }
  *out = *f;
  v->nctrls--;
  return true;
}

static void set_unreachable(V *v) {
  Frame *f = top(v);
  v->nvals = f->height;
  f->unreachable = true;
}

/* ------------------------------------------------------------- immediates */

static uint32_t imm_u32(V *v) {
  return rd_u32(&v->r);
}

/* The reserved byte of memory instructions (a memory index to be). */
static bool zero_byte(V *v) {
  size_t off = rd_off(&v->r);
  uint8_t b = rd_u8(&v->r);
  if (!rd_ok(&v->r))
    return false;
  return b == 0 ? true : malformed(v, off, "zero byte expected");
}

static bool valtype_ok(V *v, size_t off, uint8_t b) {
  if (b == WASM_V128)
    return fail_at(v, off, "SIMD (v128) is not supported");
  if (is_num(b) && b != UNKNOWN)
    return true;
  if (b == WASM_FUNCREF || b == WASM_EXTERNREF)
    return true;
  return malformed(v, off, "malformed value type");
}

/* blocktype ::= 0x40 | valtype | typeidx as s33 */
static bool read_blocktype(V *v, Frame *f) {
  memset(f, 0, sizeof *f);
  size_t off = rd_off(&v->r);
  int64_t bt = rd_s33(&v->r);
  if (!rd_ok(&v->r))
    return false;
  if (bt == -64)
    return true;
  if (bt < 0) {
    uint8_t b = (uint8_t)(bt & 0x7f);
    if (bt < -64)
      return malformed(v, off, "malformed value type");
    if (!valtype_ok(v, off, b))
      return false;
    f->nresults = 1;
    f->one = b;
    return true;
  }
  if ((uint64_t)bt >= v->m->ntypes)
    return fail(v, "unknown type %lld", (long long)bt);
  const WasmFuncType *t = &v->m->types[bt];
  f->nparams = t->nparams;
  f->params = t->types;
  f->nresults = t->nresults;
  f->results = type_results(t);
  return true;
}

/* ------------------------------------------------------------ instructions */

typedef struct {
  uint8_t lo, hi;
  WasmValType in1, in2, out; /* in2 UNKNOWN: unary */
} NumOps;

#define I32 WASM_I32
#define I64 WASM_I64
#define F32 WASM_F32
#define F64 WASM_F64

/* Opcode ranges lo..hi of one operand shape. */
#define R(lo, hi) WASM_OP_##lo, WASM_OP_##hi

/* I32_EQZ..I64_EXTEND32_S: comparisons, arithmetic, conversions, sign
 * extension */
static const NumOps numeric_ops[] = {
    {R(I32_EQZ, I32_EQZ), I32, 0, I32},
    {R(I32_EQ, I32_GE_U), I32, I32, I32},
    {R(I64_EQZ, I64_EQZ), I64, 0, I32},
    {R(I64_EQ, I64_GE_U), I64, I64, I32},
    {R(F32_EQ, F32_GE), F32, F32, I32},
    {R(F64_EQ, F64_GE), F64, F64, I32},
    {R(I32_CLZ, I32_POPCNT), I32, 0, I32},
    {R(I32_ADD, I32_ROTR), I32, I32, I32},
    {R(I64_CLZ, I64_POPCNT), I64, 0, I64},
    {R(I64_ADD, I64_ROTR), I64, I64, I64},
    {R(F32_ABS, F32_SQRT), F32, 0, F32},
    {R(F32_ADD, F32_COPYSIGN), F32, F32, F32},
    {R(F64_ABS, F64_SQRT), F64, 0, F64},
    {R(F64_ADD, F64_COPYSIGN), F64, F64, F64},
    {R(I32_WRAP_I64, I32_WRAP_I64), I64, 0, I32},
    {R(I32_TRUNC_F32_S, I32_TRUNC_F32_U), F32, 0, I32},
    {R(I32_TRUNC_F64_S, I32_TRUNC_F64_U), F64, 0, I32},
    {R(I64_EXTEND_I32_S, I64_EXTEND_I32_U), I32, 0, I64},
    {R(I64_TRUNC_F32_S, I64_TRUNC_F32_U), F32, 0, I64},
    {R(I64_TRUNC_F64_S, I64_TRUNC_F64_U), F64, 0, I64},
    {R(F32_CONVERT_I32_S, F32_CONVERT_I32_U), I32, 0, F32},
    {R(F32_CONVERT_I64_S, F32_CONVERT_I64_U), I64, 0, F32},
    {R(F32_DEMOTE_F64, F32_DEMOTE_F64), F64, 0, F32},
    {R(F64_CONVERT_I32_S, F64_CONVERT_I32_U), I32, 0, F64},
    {R(F64_CONVERT_I64_S, F64_CONVERT_I64_U), I64, 0, F64},
    {R(F64_PROMOTE_F32, F64_PROMOTE_F32), F32, 0, F64},
    {R(I32_REINTERPRET_F32, I32_REINTERPRET_F32), F32, 0, I32},
    {R(I64_REINTERPRET_F64, I64_REINTERPRET_F64), F64, 0, I64},
    {R(F32_REINTERPRET_I32, F32_REINTERPRET_I32), I32, 0, F32},
    {R(F64_REINTERPRET_I64, F64_REINTERPRET_I64), I64, 0, F64},
    {R(I32_EXTEND8_S, I32_EXTEND16_S), I32, 0, I32},
    {R(I64_EXTEND8_S, I64_EXTEND32_S), I64, 0, I64},
};
#undef R

/* I32_LOAD..I64_STORE32: natural alignment (log2) and value type; stores
 * from I32_STORE */
static const struct {
  uint8_t align;
  WasmValType type;
} mem_ops[] = {
    {2, I32}, {3, I64}, {2, F32}, {3, F64}, {0, I32}, {0, I32}, {1, I32}, {1, I32},
    {0, I64}, {0, I64}, {1, I64}, {1, I64}, {2, I64}, {2, I64}, {2, I32}, {3, I64},
    {2, F32}, {3, F64}, {0, I32}, {1, I32}, {0, I64}, {1, I64}, {2, I64},
};

/* 0xfc I32_TRUNC_SAT_F32_S..I64_TRUNC_SAT_F64_U: saturating float-to-int
 * conversions */
static const WasmValType trunc_sat_ops[8][2] = {
    {F32, I32}, {F32, I32}, {F64, I32}, {F64, I32}, {F32, I64}, {F32, I64}, {F64, I64}, {F64, I64},
};

static bool unop(V *v, WasmValType in, WasmValType out) {
  return pop(v, in) && push(v, out);
}

static bool binop(V *v, WasmValType in, WasmValType out) {
  return pop(v, in) && pop(v, in) && push(v, out);
}

static bool numeric(V *v, uint8_t op) {
  for (size_t i = 0; i < sizeof numeric_ops / sizeof numeric_ops[0]; i++) {
    const NumOps *n = &numeric_ops[i];
    if (op >= n->lo && op <= n->hi)
      return n->in2 ? binop(v, n->in1, n->out) : unop(v, n->in1, n->out);
  }
  return malformed(v, v->instr_off, "illegal opcode 0x%02x", op);
}

static bool need_memory(V *v, uint32_t idx) {
  return idx < v->m->nmemories ? true : fail(v, "unknown memory %u", idx);
}

static bool need_table(V *v, uint32_t idx) {
  return idx < v->m->ntables ? true : fail(v, "unknown table %u", idx);
}

static bool need_func(V *v, uint32_t idx) {
  return idx < v->m->nfuncs ? true : fail(v, "unknown function %u", idx);
}

static bool need_data_count(V *v) {
  return v->m->has_data_count ? true : malformed(v, v->instr_off, "data count section required");
}

static bool memory_op(V *v, uint8_t op) {
  uint32_t align = imm_u32(v);
  imm_u32(v); /* offset: any u32 */
  if (!rd_ok(&v->r) || !need_memory(v, 0))
    return false;
  WasmValType t = mem_ops[op - WASM_OP_I32_LOAD].type;
  if (align > mem_ops[op - WASM_OP_I32_LOAD].align)
    return fail(v, "alignment must not be larger than natural");
  if (op >= WASM_OP_I32_STORE)
    return pop(v, t) && pop(v, I32);
  return pop(v, I32) && push(v, t);
}

static WasmValType local_type(V *v, uint32_t x) {
  uint32_t np = v->ftype->nparams;
  return x < np ? v->ftype->types[x] : v->fn->local_types[x - np];
}

static bool local_op(V *v, uint8_t op) {
  uint32_t x = imm_u32(v);
  if (!rd_ok(&v->r))
    return false;
  if ((uint64_t)x >= (uint64_t)v->ftype->nparams + v->fn->nlocals)
    return fail(v, "unknown local %u", x);
  WasmValType t = local_type(v, x);
  switch (op) {
  case WASM_OP_LOCAL_GET:
    return push(v, t);
  case WASM_OP_LOCAL_SET:
    return pop(v, t);
  default:
    return pop(v, t) && push(v, t); /* local.tee */
  }
}

static bool global_op(V *v, uint8_t op) {
  uint32_t x = imm_u32(v);
  if (!rd_ok(&v->r))
    return false;
  if (x >= v->m->nglobals)
    return fail(v, "unknown global %u", x);
  const WasmGlobalType *g = &v->m->globals[x].type;
  if (op == WASM_OP_GLOBAL_GET)
    return push(v, g->type);
  if (!g->mutable_)
    return fail(v, "global is immutable");
  return pop(v, g->type);
}

static bool call_op(V *v, uint8_t op) {
  const WasmFuncType *t;
  if (op == WASM_OP_CALL) {
    uint32_t x = imm_u32(v);
    if (!rd_ok(&v->r) || !need_func(v, x))
      return false;
    t = wasm_func_type(v->m, x);
  } else {
    uint32_t ti = imm_u32(v), table = imm_u32(v);
    if (!rd_ok(&v->r) || !need_table(v, table))
      return false;
    if (v->m->tables[table].type.elem_type != WASM_FUNCREF)
      return fail(v, "type mismatch: call_indirect needs a funcref table");
    if (ti >= v->m->ntypes)
      return fail(v, "unknown type %u", ti);
    t = &v->m->types[ti];
    if (!pop(v, I32))
      return false;
  }
  return pop_n(v, t->types, t->nparams) && push_n(v, type_results(t), t->nresults);
}

static bool branch_op(V *v, uint8_t op) {
  uint32_t l = imm_u32(v);
  if (!rd_ok(&v->r))
    return false;
  if (l >= v->nctrls)
    return fail(v, "unknown label %u", l);
  if (op == WASM_OP_BR_IF && !pop(v, I32))
    return false;
  const Frame *f = &v->ctrls[v->nctrls - 1 - l];
  uint32_t n = label_arity(f);
  const WasmValType *ts = label_types(f);
  if (op == WASM_OP_BR) {
    if (!pop_n(v, ts, n))
      return false;
    set_unreachable(v);
    return true;
  }
  return pop_n(v, ts, n) && push_n(v, ts, n); /* br_if */
}

/* br_table: every target must take as many values as the default, and the
 * operands must suit each of them. */
static bool br_table_op(V *v) {
  uint32_t n = rd_count(&v->r, 1);
  const uint8_t *targets = v->r.p;
  for (uint32_t i = 0; i < n && rd_ok(&v->r); i++)
    imm_u32(v);
  uint32_t def = imm_u32(v);
  if (!rd_ok(&v->r))
    return false;
  if (def >= v->nctrls)
    return fail(v, "unknown label %u", def);
  if (!pop(v, I32))
    return false;
  const Frame *df = &v->ctrls[v->nctrls - 1 - def];
  uint32_t arity = label_arity(df);
  Reader again = rd_make(v->r.base, targets, v->r.p);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t l = rd_u32(&again);
    if (l >= v->nctrls)
      return fail(v, "unknown label %u", l);
    const Frame *f = &v->ctrls[v->nctrls - 1 - l];
    if (label_arity(f) != arity)
      return fail(v, "type mismatch: br_table targets take %u and %u values", label_arity(f),
                  arity);
    if (!peek_n(v, label_types(f), arity))
      return false;
  }
  if (!pop_n(v, label_types(df), arity))
    return false;
  set_unreachable(v);
  return true;
}

static bool select_op(V *v, uint8_t op) {
  if (op == WASM_OP_SELECT_T) { /* exactly one type in 2.0 */
    uint32_t n = rd_count(&v->r, 1);
    if (!rd_ok(&v->r))
      return false;
    if (n != 1)
      return fail(v, "invalid result arity: select takes one type, not %u", n);
    size_t off = rd_off(&v->r);
    uint8_t t = rd_u8(&v->r);
    if (!rd_ok(&v->r) || !valtype_ok(v, off, t))
      return false;
    return pop(v, I32) && pop(v, t) && pop(v, t) && push(v, t);
  }
  WasmValType t1, t2;
  if (!pop(v, I32) || !pop_any(v, &t1) || !pop_any(v, &t2))
    return false;
  if (!is_num(t1) || !is_num(t2))
    return fail(v, "type mismatch: select without a type needs numbers, got %s",
                tname(is_num(t1) ? t2 : t1));
  if (t1 != t2 && t1 != UNKNOWN && t2 != UNKNOWN)
    return fail(v, "type mismatch: select operands are %s and %s", tname(t2), tname(t1));
  return push(v, t1 == UNKNOWN ? t2 : t1);
}

static bool table_op(V *v, uint8_t op) {
  uint32_t x = imm_u32(v);
  if (!rd_ok(&v->r) || !need_table(v, x))
    return false;
  WasmValType t = v->m->tables[x].type.elem_type;
  if (op == WASM_OP_TABLE_GET)
    return pop(v, I32) && push(v, t);
  return pop(v, t) && pop(v, I32); /* table.set */
}

static bool memory_size_op(V *v, uint8_t op) {
  if (!zero_byte(v) || !need_memory(v, 0))
    return false;
  if (op == WASM_OP_MEMORY_SIZE)
    return push(v, I32);
  return pop(v, I32) && push(v, I32);
}

static bool ref_op(V *v, uint8_t op) {
  if (op == WASM_OP_REF_NULL) {
    size_t off = rd_off(&v->r);
    uint8_t t = rd_u8(&v->r);
    if (!rd_ok(&v->r))
      return false;
    if (t != WASM_FUNCREF && t != WASM_EXTERNREF)
      return malformed(v, off, "malformed reference type");
    return push(v, t);
  }
  if (op == WASM_OP_REF_IS_NULL) {
    WasmValType t;
    if (!pop_any(v, &t))
      return false;
    if (!is_ref(t))
      return fail(v, "type mismatch: expected a reference, got %s", tname(t));
    return push(v, I32);
  }
  uint32_t x = imm_u32(v); /* ref.func */
  if (!rd_ok(&v->r) || !need_func(v, x))
    return false;
  if (!v->refs[x])
    return fail(v, "undeclared function reference %u", x);
  return push(v, WASM_FUNCREF);
}

static bool pop3_i32(V *v) {
  return pop(v, I32) && pop(v, I32) && pop(v, I32);
}

/* 0xfc prefix: saturating conversions, bulk memory, table instructions */
static bool prefixed_op(V *v) {
  uint32_t sub = imm_u32(v);
  if (!rd_ok(&v->r))
    return false;
  const WasmModule *m = v->m;
  if (sub <= WASM_FC_I64_TRUNC_SAT_F64_U)
    return unop(v, trunc_sat_ops[sub][0], trunc_sat_ops[sub][1]);
  switch (sub) {
  case WASM_FC_MEMORY_INIT: {
    uint32_t x = imm_u32(v);
    if (!rd_ok(&v->r) || !zero_byte(v) || !need_data_count(v) || !need_memory(v, 0))
      return false;
    if (x >= m->data_count)
      return fail(v, "unknown data segment %u", x);
    return pop3_i32(v);
  }
  case WASM_FC_DATA_DROP: {
    uint32_t x = imm_u32(v);
    if (!rd_ok(&v->r) || !need_data_count(v))
      return false;
    return x < m->data_count ? true : fail(v, "unknown data segment %u", x);
  }
  case WASM_FC_MEMORY_COPY:
    return zero_byte(v) && zero_byte(v) && need_memory(v, 0) && pop3_i32(v);
  case WASM_FC_MEMORY_FILL:
    return zero_byte(v) && need_memory(v, 0) && pop3_i32(v);
  case WASM_FC_TABLE_INIT: { /* y x: element segment first */
    uint32_t y = imm_u32(v), x = imm_u32(v);
    if (!rd_ok(&v->r) || !need_table(v, x))
      return false;
    if (y >= m->nelems)
      return fail(v, "unknown elem segment %u", y);
    if (m->elems[y].elem_type != m->tables[x].type.elem_type)
      return fail(v, "type mismatch: elem segment %u holds %s, table %u %s", y,
                  tname(m->elems[y].elem_type), x, tname(m->tables[x].type.elem_type));
    return pop3_i32(v);
  }
  case WASM_FC_ELEM_DROP: {
    uint32_t x = imm_u32(v);
    if (!rd_ok(&v->r))
      return false;
    return x < m->nelems ? true : fail(v, "unknown elem segment %u", x);
  }
  case WASM_FC_TABLE_COPY: { /* dst src */
    uint32_t dst = imm_u32(v), src = imm_u32(v);
    if (!rd_ok(&v->r) || !need_table(v, dst) || !need_table(v, src))
      return false;
    if (m->tables[dst].type.elem_type != m->tables[src].type.elem_type)
      return fail(v, "type mismatch: table.copy from %s to %s",
                  tname(m->tables[src].type.elem_type), tname(m->tables[dst].type.elem_type));
    return pop3_i32(v);
  }
  case WASM_FC_TABLE_GROW:
  case WASM_FC_TABLE_SIZE:
  case WASM_FC_TABLE_FILL: {
    uint32_t x = imm_u32(v);
    if (!rd_ok(&v->r) || !need_table(v, x))
      return false;
    WasmValType t = m->tables[x].type.elem_type;
    if (sub == WASM_FC_TABLE_GROW)
      return pop(v, I32) && pop(v, t) && push(v, I32);
    if (sub == WASM_FC_TABLE_SIZE)
      return push(v, I32);
    return pop(v, I32) && pop(v, t) && pop(v, I32);
  }
  default:
    return malformed(v, v->instr_off, "illegal opcode 0xfc %u", sub);
  }
}

static bool block_op(V *v, uint8_t op) {
  Frame f;
  if (!read_blocktype(v, &f))
    return false;
  f.op = op;
  if (op == WASM_OP_IF && !pop(v, I32))
    return false;
  return pop_n(v, f.params, f.nparams) && push_ctrl(v, &f);
}

static bool else_op(V *v) {
  if (top(v)->op != WASM_OP_IF)
    return malformed(v, v->instr_off, "else without matching if");
  Frame f;
  if (!pop_ctrl(v, &f))
    return false;
  f.op = WASM_OP_ELSE;
  return push_ctrl(v, &f);
}

static bool end_op(V *v) {
  Frame f;
  if (!pop_ctrl(v, &f))
    return false;
  if (f.op == WASM_OP_IF) {
    /* no else: the missing branch passes the parameters through unchanged,
     * so they must match the results */
    f.op = WASM_OP_ELSE;
    if (!push_ctrl(v, &f) || !pop_ctrl(v, &f))
      return false;
  }
  return push_n(v, results_of(&f), f.nresults);
}

static bool instr(V *v, uint8_t op) {
  if (op >= WASM_OP_I32_EQZ && op <= WASM_OP_I64_EXTEND32_S)
    return numeric(v, op);
  if (op >= WASM_OP_I32_LOAD && op <= WASM_OP_I64_STORE32)
    return memory_op(v, op);
  switch (op) {
  case WASM_OP_UNREACHABLE:
    set_unreachable(v);
    return true;
  case WASM_OP_NOP:
    return true;
  case WASM_OP_BLOCK:
  case WASM_OP_LOOP:
  case WASM_OP_IF:
    return block_op(v, op);
  case WASM_OP_ELSE:
    return else_op(v);
  case WASM_OP_END:
    return end_op(v);
  case WASM_OP_BR:
  case WASM_OP_BR_IF:
    return branch_op(v, op);
  case WASM_OP_BR_TABLE:
    return br_table_op(v);
  case WASM_OP_RETURN: {
    const Frame *fn = &v->ctrls[0];
    if (!pop_n(v, results_of(fn), fn->nresults))
      return false;
    set_unreachable(v);
    return true;
  }
  case WASM_OP_CALL:
  case WASM_OP_CALL_INDIRECT:
    return call_op(v, op);
  case WASM_OP_DROP: {
    WasmValType t;
    return pop_any(v, &t);
  }
  case WASM_OP_SELECT:
  case WASM_OP_SELECT_T:
    return select_op(v, op);
  case WASM_OP_LOCAL_GET:
  case WASM_OP_LOCAL_SET:
  case WASM_OP_LOCAL_TEE:
    return local_op(v, op);
  case WASM_OP_GLOBAL_GET:
  case WASM_OP_GLOBAL_SET:
    return global_op(v, op);
  case WASM_OP_TABLE_GET:
  case WASM_OP_TABLE_SET:
    return table_op(v, op);
  case WASM_OP_MEMORY_SIZE:
  case WASM_OP_MEMORY_GROW:
    return memory_size_op(v, op);
  case WASM_OP_I32_CONST:
    rd_s32(&v->r);
    return rd_ok(&v->r) && push(v, I32);
  case WASM_OP_I64_CONST:
    rd_s64(&v->r);
    return rd_ok(&v->r) && push(v, I64);
  case WASM_OP_F32_CONST:
    rd_bytes(&v->r, 4);
    return rd_ok(&v->r) && push(v, F32);
  case WASM_OP_F64_CONST:
    rd_bytes(&v->r, 8);
    return rd_ok(&v->r) && push(v, F64);
  case WASM_OP_REF_NULL:
  case WASM_OP_REF_IS_NULL:
  case WASM_OP_REF_FUNC:
    return ref_op(v, op);
  case WASM_OP_PREFIX_FC:
    return prefixed_op(v);
  case WASM_OP_PREFIX_FD:
    return fail(v, "SIMD instructions are not supported");
  default:
    return malformed(v, v->instr_off, "illegal opcode 0x%02x", op);
  }
}

static bool check_body(V *v, uint32_t index) {
  const WasmModule *m = v->m;
  const WasmFunc *fn = &m->funcs[index];
  v->func = index;
  v->fn = fn;
  v->ftype = &m->types[fn->type_index];
  v->instr_off = fn->body_offset;
  for (uint32_t i = 0; i < fn->nlocals; i++)
    if (fn->local_types[i] == WASM_V128)
      return fail(v, "SIMD (v128) is not supported");
  v->r = rd_make(m->binary, fn->body, fn->body + fn->body_len);
  v->nvals = v->nctrls = 0;
  Frame f = {0};
  f.op = WASM_OP_BLOCK;
  f.nresults = v->ftype->nresults;
  f.results = type_results(v->ftype);
  if (!push_ctrl(v, &f))
    return false;
  while (v->nctrls > 0) {
    v->instr_off = rd_off(&v->r);
    if (rd_left(&v->r) == 0)
      return malformed(v, v->instr_off, "unexpected end of section or function");
    uint8_t op = rd_u8(&v->r);
    if (!instr(v, op)) {
      if (!rd_ok(&v->r))
        return malformed(v, v->r.err_off, "%s", v->r.err);
      return false;
    }
  }
  if (rd_left(&v->r) != 0)
    return malformed(v, rd_off(&v->r), "END opcode expected: operators after the function's end");
  return true;
}

/* ------------------------------------------------------------ module level */

/* Offset of the first section with this id, for module-level errors that
 * the model keeps no position for. 0 when there is none. */
static size_t section_offset(const WasmModule *m, uint8_t id) {
  Reader r = rd_make(m->binary, m->binary + 8, m->binary + m->binary_len);
  if (m->binary_len < 8)
    return 0;
  while (rd_ok(&r) && rd_left(&r) > 0) {
    size_t off = rd_off(&r);
    uint8_t sid = rd_u8(&r);
    uint32_t size = rd_u32(&r);
    if (!rd_ok(&r) || size > rd_left(&r))
      return 0;
    if (sid == id)
      return off;
    r.p += size;
  }
  return 0;
}

static bool fail_section(V *v, uint8_t id, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(v, WASM_ERR_INVALID, section_offset(v->m, id), fmt, ap);
  va_end(ap);
  return false;
}

static bool check_valtypes(V *v, const WasmValType *ts, uint32_t n, uint8_t section) {
  for (uint32_t i = 0; i < n; i++)
    if (ts[i] == WASM_V128)
      return fail_section(v, section, "SIMD (v128) is not supported");
  return true;
}

/* Table limits are any u32; memory limits are pages of a 32-bit space. */
static bool check_limits(V *v, const WasmLimits *l, bool memory, uint8_t sec) {
  if (memory && (l->min > WASM_MAX_PAGES || (l->has_max && l->max > WASM_MAX_PAGES)))
    return fail_section(v, sec, "memory size must be at most 65536 pages (4GiB)");
  if (l->has_max && l->min > l->max)
    return fail_section(v, sec, "size minimum must not be greater than maximum");
  return true;
}

/* A constant expression of type want. global.get may name only imported
 * globals (nglobals of them): the 2.0 test suite holds element and data
 * offsets to this too, not just global initializers. */
static bool check_const(V *v, const WasmConstExpr *e, WasmValType want, uint32_t nglobals) {
  const WasmModule *m = v->m;
  WasmValType got;
  v->instr_off = e->offset;
  switch (e->op) {
  case KILN_CONST_EMPTY:
    return fail(v, "type mismatch: expected %s, got nothing", tname(want));
  case KILN_CONST_TOO_MANY:
    return fail(v, "type mismatch: constant expression leaves more than one value");
  case WASM_OP_I32_CONST:
    got = I32;
    break;
  case WASM_OP_I64_CONST:
    got = I64;
    break;
  case WASM_OP_F32_CONST:
    got = F32;
    break;
  case WASM_OP_F64_CONST:
    got = F64;
    break;
  case WASM_OP_GLOBAL_GET:
    if (e->value >= nglobals)
      return fail(v, "unknown global %llu", (unsigned long long)e->value);
    if (m->globals[e->value].type.mutable_)
      return fail(v, "constant expression required: global %llu is mutable",
                  (unsigned long long)e->value);
    got = m->globals[e->value].type.type;
    break;
  case WASM_OP_REF_NULL:
    got = (WasmValType)e->value;
    break;
  case WASM_OP_REF_FUNC:
    if (e->value >= m->nfuncs)
      return fail(v, "unknown function %llu", (unsigned long long)e->value);
    got = WASM_FUNCREF;
    break;
  default: /* KILN_CONST_NOT_CONST */
    return fail(v, "constant expression required");
  }
  if (got != want)
    return fail(v, "type mismatch: expected %s, got %s", tname(want), tname(got));
  return true;
}

/* C.refs: every function named by ref.func outside function bodies, or
 * exported, may be referenced by ref.func inside them. */
static void collect_refs(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
    if (m->globals[i].init.op == WASM_OP_REF_FUNC && m->globals[i].init.value < m->nfuncs)
      v->refs[m->globals[i].init.value] = 1;
  for (uint32_t i = 0; i < m->nelems; i++)
    for (uint32_t k = 0; k < m->elems[i].nitems; k++) {
      const WasmConstExpr *e = &m->elems[i].items[k];
      if (e->op == WASM_OP_REF_FUNC && e->value < m->nfuncs)
        v->refs[e->value] = 1;
    }
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == WASM_EXTERN_FUNC && m->exports[i].index < m->nfuncs)
      v->refs[m->exports[i].index] = 1;
}

static bool check_types(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = 0; i < m->ntypes; i++)
    if (!check_valtypes(v, m->types[i].types, m->types[i].nparams + m->types[i].nresults, 1))
      return false;
  for (uint32_t i = 0; i < m->nfuncs; i++)
    if (m->funcs[i].type_index >= m->ntypes)
      return fail_section(v, m->funcs[i].imported ? 2 : 3, "unknown type %u",
                          m->funcs[i].type_index);
  return true;
}

static bool check_tables_memories(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = 0; i < m->ntables; i++)
    if (!check_limits(v, &m->tables[i].type.limits, false, m->tables[i].imported ? 2 : 4))
      return false;
  for (uint32_t i = 0; i < m->nmemories; i++)
    if (!check_limits(v, &m->memories[i].limits, true, m->memories[i].imported ? 2 : 5))
      return false;
  if (m->nmemories > 1)
    return fail_section(v, m->nmemory_imports > 1 ? 2 : 5, "multiple memories");
  return true;
}

static bool check_globals(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = 0; i < m->nglobals; i++) {
    const WasmGlobal *g = &m->globals[i];
    if (!check_valtypes(v, &g->type.type, 1, g->imported ? 2 : 6))
      return false;
    if (!g->imported && !check_const(v, &g->init, g->type.type, m->nglobal_imports))
      return false;
  }
  return true;
}

static bool check_elems(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = 0; i < m->nelems; i++) {
    const WasmElem *e = &m->elems[i];
    if (e->mode == WASM_SEG_ACTIVE) {
      if (e->table_index >= m->ntables) {
        v->instr_off = e->offset.offset;
        return fail(v, "unknown table %u", e->table_index);
      }
      if (!check_const(v, &e->offset, I32, m->nglobal_imports))
        return false;
      if (m->tables[e->table_index].type.elem_type != e->elem_type)
        return fail(v, "type mismatch: elem segment %u holds %s, table %u %s", i,
                    tname(e->elem_type), e->table_index,
                    tname(m->tables[e->table_index].type.elem_type));
    }
    for (uint32_t k = 0; k < e->nitems; k++)
      if (!check_const(v, &e->items[k], e->elem_type, m->nglobal_imports))
        return false;
  }
  return true;
}

static bool check_datas(V *v) {
  const WasmModule *m = v->m;
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const WasmData *d = &m->datas[i];
    if (d->mode != WASM_SEG_ACTIVE)
      continue;
    v->instr_off = d->offset.offset;
    if (d->memory_index >= m->nmemories)
      return fail(v, "unknown memory %u", d->memory_index);
    if (!check_const(v, &d->offset, I32, m->nglobal_imports))
      return false;
  }
  return true;
}

static bool check_start(V *v) {
  const WasmModule *m = v->m;
  if (!m->has_start)
    return true;
  if (m->start >= m->nfuncs)
    return fail_section(v, 8, "unknown function %u", m->start);
  const WasmFuncType *t = wasm_func_type(m, m->start);
  if (t->nparams || t->nresults)
    return fail_section(v, 8, "start function must take no parameters and return nothing");
  return true;
}

static int cmp_export(const void *a, const void *b) {
  const WasmName *x = &(*(const WasmExport *const *)a)->name;
  const WasmName *y = &(*(const WasmExport *const *)b)->name;
  uint32_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->str, y->str, n) : 0;
  if (c)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}

static bool check_exports(V *v) {
  const WasmModule *m = v->m;
  static const char *const kinds[] = {"function", "table", "memory", "global"};
  for (uint32_t i = 0; i < m->nexports; i++) {
    const WasmExport *e = &m->exports[i];
    uint32_t n = e->kind == WASM_EXTERN_FUNC     ? m->nfuncs
                 : e->kind == WASM_EXTERN_TABLE  ? m->ntables
                 : e->kind == WASM_EXTERN_MEMORY ? m->nmemories
                                                 : m->nglobals;
    if (e->index >= n)
      return fail_section(v, 7, "unknown %s %u", kinds[e->kind & 3], e->index);
  }
  if (m->nexports < 2)
    return true;
  /* sorting finds duplicates in n log n, even for huge export lists */
  const WasmExport **sorted = malloc(m->nexports * sizeof *sorted);
  if (!sorted)
    return fail_section(v, 7, "out of memory");
  for (uint32_t i = 0; i < m->nexports; i++)
    sorted[i] = &m->exports[i];
  qsort(sorted, m->nexports, sizeof *sorted, cmp_export);
  bool ok = true;
  for (uint32_t i = 1; i < m->nexports && ok; i++)
    if (cmp_export(&sorted[i - 1], &sorted[i]) == 0)
      ok = fail_section(v, 7, "duplicate export name \"%.60s\"", sorted[i]->name.str);
  free(sorted);
  return ok;
}

static bool check_module(V *v) {
  const WasmModule *m = v->m;
  if (!check_types(v) || !check_tables_memories(v) || !check_globals(v) || !check_elems(v) ||
      !check_datas(v) || !check_start(v) || !check_exports(v))
    return false;
  for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++)
    if (!check_body(v, i))
      return false;
  return true;
}

bool wasm_validate(const WasmModule *m, WasmError *err) {
  WasmError scratch;
  V v = {0};
  v.m = m;
  v.err = err ? err : &scratch;
  v.func = -1;
  v.refs = calloc(m->nfuncs ? m->nfuncs : 1, 1);
  if (!v.refs) {
    v.failed = true;
    v.err->kind = WASM_ERR_INVALID;
    v.err->offset = 0;
    v.err->func = -1;
    snprintf(v.err->msg, sizeof v.err->msg, "out of memory");
    return false;
  }
  collect_refs(&v);
  bool ok = check_module(&v);
  free(v.refs);
  free(v.vals);
  free(v.ctrls);
  return ok;
}
