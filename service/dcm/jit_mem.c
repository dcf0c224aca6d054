/*
 * jit_mem.c: linear memory, tables and references, and the 0xfc prefix
 * (bulk memory, table operations, saturating truncation). Bounds are
 * checked explicitly, in the interpreter's order, so traps are identical;
 * except loads and stores in the hot tier, which rely on the guard region
 * behind the memory (agent/guard.c): the access itself faults, at the same
 * point of the program as the interpreter's check would trap.
 */
#include <stddef.h>
#include <string.h>

#include "jit_fn.h"

/* --- memory -------------------------------------------------------------------------------- */

/* The address of an access of `size` bytes at addr + offset, after the
 * interpreter's bounds check (computed in 64 bits, it cannot wrap). Hot
 * code has no check: addr + offset < 8 GiB lies inside the guard
 * reservation, so an access beyond the memory's size faults. */
static gcc_jit_rvalue *mem_addr(Fn *fn, gcc_jit_rvalue *addr, uint32_t offset, uint32_t size,
                                gcc_jit_type *t) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *ea =
      gcc_jit_context_new_binary_op(fn->ctx, NULL, GCC_JIT_BINARY_OP_PLUS, d->t_u64,
                                    dcm_cast(d, addr, d->t_u64), dcm_u64(d, offset));
  if (!d->unchecked) {
    gcc_jit_lvalue *ea_local = gcc_jit_function_new_local(fn->fn, NULL, d->t_u64, "ea");
    fn_assign(fn, ea_local, ea);
    ea = rv(ea_local);
    gcc_jit_rvalue *end = gcc_jit_context_new_binary_op(fn->ctx, NULL, GCC_JIT_BINARY_OP_PLUS,
                                                        d->t_u64, ea, dcm_u64(d, size));
    fn_trap_if(
        fn,
        gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_GT, end, fn_memsize(fn)),
        TRAP_MEMORY_OOB);
  }
  gcc_jit_lvalue *byte = gcc_jit_context_new_array_access(fn->ctx, NULL, rv(fn->membase), ea);
  /* Accesses may be unaligned: tell gcc so it never assumes alignment. */
  gcc_jit_type *ut = gcc_jit_type_get_aligned(t, 1);
  return dcm_cast(d, gcc_jit_lvalue_get_address(byte, NULL), gcc_jit_type_get_pointer(ut));
}

typedef struct {
  uint8_t size;
  bool sign;
  WasmValType vt;
} MemOp;

static MemOp mem_op(uint8_t op) {
  static const MemOp ops[] = {/* I32_LOAD */ {4, false, WASM_I32},
                              {8, false, WASM_I64},
                              {4, false, WASM_F32},
                              {8, false, WASM_F64},
                              {1, true, WASM_I32},
                              {1, false, WASM_I32},
                              {2, true, WASM_I32},
                              {2, false, WASM_I32},
                              {1, true, WASM_I64},
                              {1, false, WASM_I64},
                              {2, true, WASM_I64},
                              {2, false, WASM_I64},
                              {4, true, WASM_I64},
                              {4, false, WASM_I64},
                              /* I32_STORE */ {4, false, WASM_I32},
                              {8, false, WASM_I64},
                              {4, false, WASM_F32},
                              {8, false, WASM_F64},
                              {1, false, WASM_I32},
                              {2, false, WASM_I32},
                              {1, false, WASM_I64},
                              {2, false, WASM_I64},
                              {4, false, WASM_I64}};
  return ops[op - WASM_OP_I32_LOAD];
}

static gcc_jit_type *mem_type(Dcm *d, MemOp mo) {
  if (mo.vt == WASM_F32)
    return d->t_f32;
  if (mo.vt == WASM_F64)
    return d->t_f64;
  switch (mo.size) {
  case 1:
    return mo.sign ? d->t_i8 : d->t_u8;
  case 2:
    return mo.sign ? d->t_i16 : d->t_u16;
  case 4:
    return mo.sign ? d->t_i32 : d->t_u32;
  default:
    return d->t_u64;
  }
}

void jit_load(Fn *fn, uint8_t op, uint32_t offset) {
  Dcm *d = fn->d;
  MemOp mo = mem_op(op);
  gcc_jit_type *mt = mem_type(d, mo);
  gcc_jit_rvalue *p = mem_addr(fn, fn_pop(fn), offset, mo.size, mt);
  gcc_jit_rvalue *v = rv(gcc_jit_rvalue_dereference(p, NULL));
  gcc_jit_type *vt = d->vc_type[dcm_vc(mo.vt)];
  if (mo.sign) /* sign-extend through the signed type of the full width */
    v = dcm_cast(d, dcm_cast(d, v, mo.vt == WASM_I64 ? d->t_i64 : d->t_i32), vt);
  else
    v = dcm_cast(d, v, vt);
  fn_assign(fn, fn_push(fn, mo.vt), v);
}

void jit_store(Fn *fn, uint8_t op, uint32_t offset) {
  Dcm *d = fn->d;
  MemOp mo = mem_op(op);
  gcc_jit_type *mt = mem_type(d, mo);
  gcc_jit_rvalue *v = fn_pop(fn);
  gcc_jit_rvalue *p = mem_addr(fn, fn_pop(fn), offset, mo.size, mt);
  fn_assign(fn, gcc_jit_rvalue_dereference(p, NULL), dcm_cast(d, v, mt));
}

void jit_memory_grow(Fn *fn) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *args[2] = {fn_mem0(fn), fn_pop(fn)};
  gcc_jit_rvalue *r = gcc_jit_context_new_call_through_ptr(
      fn->ctx, NULL, dcm_import(d, KILN_IMP_MEMORY_GROW), 2, args);
  fn_assign(fn, fn_push(fn, WASM_I32), dcm_cast(d, r, d->t_u32));
  fn_reload_memsize(fn);
}

/* n bytes at a and b both inside memory (the check comes first, even for
 * n == 0). */
static void check_range(Fn *fn, gcc_jit_rvalue *at, gcc_jit_rvalue *n, gcc_jit_rvalue *limit,
                        int code) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *end =
      gcc_jit_context_new_binary_op(fn->ctx, NULL, GCC_JIT_BINARY_OP_PLUS, d->t_u64,
                                    dcm_cast(d, at, d->t_u64), dcm_cast(d, n, d->t_u64));
  fn_trap_if(fn,
             gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_GT, end,
                                            dcm_cast(d, limit, d->t_u64)),
             code);
}

static gcc_jit_rvalue *mem_ptr(Fn *fn, gcc_jit_rvalue *at) {
  return gcc_jit_lvalue_get_address(
      gcc_jit_context_new_array_access(fn->ctx, NULL, rv(fn->membase), at), NULL);
}

/* memmove and memset of libc, declared as plain imports: gcc 12 crashes
 * folding the builtins on some constant ranges of linear memory, and a
 * call costs nothing next to a bulk operation. */
static gcc_jit_function *libc_fn(Dcm *d, const char *name) {
  bool set = strcmp(name, "memset") == 0;
  gcc_jit_function **cache = set ? &d->libc_memset : &d->libc_memmove;
  if (*cache)
    return *cache;
  gcc_jit_type *size_t_ = gcc_jit_context_get_type(d->ctx, GCC_JIT_TYPE_SIZE_T);
  gcc_jit_param *ps[3] = {gcc_jit_context_new_param(d->ctx, NULL, d->t_vptr, "d"),
                          gcc_jit_context_new_param(d->ctx, NULL, set ? d->t_int : d->t_vptr, "s"),
                          gcc_jit_context_new_param(d->ctx, NULL, size_t_, "n")};
  *cache = gcc_jit_context_new_function(d->ctx, NULL, GCC_JIT_FUNCTION_IMPORTED, d->t_vptr, name, 3,
                                        ps, 0);
  return *cache;
}

static gcc_jit_lvalue *tmp_u32(Fn *fn, gcc_jit_rvalue *v, const char *name) {
  gcc_jit_lvalue *l = gcc_jit_function_new_local(fn->fn, NULL, fn->d->t_u32, name);
  fn_assign(fn, l, v);
  return l;
}

static void op_memory_copy(Fn *fn) {
  Dcm *d = fn->d;
  gcc_jit_lvalue *n = tmp_u32(fn, fn_pop(fn), "n");
  gcc_jit_lvalue *s = tmp_u32(fn, fn_pop(fn), "s");
  gcc_jit_lvalue *dst = tmp_u32(fn, fn_pop(fn), "d");
  check_range(fn, rv(s), rv(n), fn_memsize(fn), TRAP_MEMORY_OOB);
  check_range(fn, rv(dst), rv(n), fn_memsize(fn), TRAP_MEMORY_OOB);
  gcc_jit_function *mm = libc_fn(d, "memmove");
  gcc_jit_rvalue *args[3] = {
      dcm_cast(d, mem_ptr(fn, rv(dst)), d->t_vptr), dcm_cast(d, mem_ptr(fn, rv(s)), d->t_vptr),
      dcm_cast(d, rv(n), gcc_jit_context_get_type(fn->ctx, GCC_JIT_TYPE_SIZE_T))};
  gcc_jit_block_add_eval(fn->cur, NULL, gcc_jit_context_new_call(fn->ctx, NULL, mm, 3, args));
}

static void op_memory_fill(Fn *fn) {
  Dcm *d = fn->d;
  gcc_jit_lvalue *n = tmp_u32(fn, fn_pop(fn), "n");
  gcc_jit_lvalue *v = tmp_u32(fn, fn_pop(fn), "v");
  gcc_jit_lvalue *dst = tmp_u32(fn, fn_pop(fn), "d");
  check_range(fn, rv(dst), rv(n), fn_memsize(fn), TRAP_MEMORY_OOB);
  gcc_jit_function *ms = libc_fn(d, "memset");
  gcc_jit_rvalue *args[3] = {
      dcm_cast(d, mem_ptr(fn, rv(dst)), d->t_vptr),
      dcm_cast(d, dcm_cast(d, rv(v), d->t_u8), d->t_int),
      dcm_cast(d, rv(n), gcc_jit_context_get_type(fn->ctx, GCC_JIT_TYPE_SIZE_T))};
  gcc_jit_block_add_eval(fn->cur, NULL, gcc_jit_context_new_call(fn->ctx, NULL, ms, 3, args));
}

static void op_memory_init(Fn *fn, uint32_t seg) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *n = fn_pop(fn), *s = fn_pop(fn), *dst = fn_pop(fn);
  gcc_jit_rvalue *args[6] = {fn->t, fn_self(fn), dcm_u32(d, seg), dst, s, n};
  gcc_jit_block_add_eval(fn->cur, NULL,
                         gcc_jit_context_new_call_through_ptr(
                             fn->ctx, NULL, dcm_import(d, KILN_IMP_MEMORY_INIT), 6, args));
}

/* --- tables and references -------------------------------------------------------------- */

static gcc_jit_lvalue *table_local(Fn *fn, uint32_t x) {
  gcc_jit_lvalue *tab = gcc_jit_function_new_local(fn->fn, NULL, fn->d->t_vptr, "tab");
  fn_assign(fn, tab, fn_table_inst(fn, x));
  return tab;
}
static gcc_jit_rvalue *tab_size(Fn *fn, gcc_jit_lvalue *tab) {
  return rv(ABI_FIELD(fn, rv(tab), TABLEINST_SIZE, fn->d->t_u32));
}
static gcc_jit_lvalue *tab_elem(Fn *fn, gcc_jit_lvalue *tab, gcc_jit_rvalue *i) {
  Dcm *d = fn->d;
  return dcm_index(d, rv(ABI_FIELD(fn, rv(tab), TABLEINST_ELEMS, d->t_vptr)), d->t_vptr, i);
}

void jit_table_get(Fn *fn, uint32_t x) {
  gcc_jit_lvalue *i = tmp_u32(fn, fn_pop(fn), "i");
  gcc_jit_lvalue *tab = table_local(fn, x);
  fn_trap_if(fn,
             gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_GE, rv(i),
                                            tab_size(fn, tab)),
             TRAP_TABLE_OOB);
  fn_assign(fn, fn_push(fn, fn->d->m->tables[x].type.elem_type), rv(tab_elem(fn, tab, rv(i))));
}

void jit_table_set(Fn *fn, uint32_t x) {
  gcc_jit_lvalue *v = gcc_jit_function_new_local(fn->fn, NULL, fn->d->t_vptr, "v");
  fn_assign(fn, v, fn_pop(fn));
  gcc_jit_lvalue *i = tmp_u32(fn, fn_pop(fn), "i");
  gcc_jit_lvalue *tab = table_local(fn, x);
  fn_trap_if(fn,
             gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_GE, rv(i),
                                            tab_size(fn, tab)),
             TRAP_TABLE_OOB);
  fn_assign(fn, tab_elem(fn, tab, rv(i)), rv(v));
}

static void op_table_grow(Fn *fn, uint32_t x) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *n = fn_pop(fn), *v = fn_pop(fn);
  gcc_jit_rvalue *args[3] = {fn_table_inst(fn, x), n, v};
  gcc_jit_rvalue *r = gcc_jit_context_new_call_through_ptr(
      fn->ctx, NULL, dcm_import(d, KILN_IMP_TABLE_GROW), 3, args);
  fn_assign(fn, fn_push(fn, WASM_I32), dcm_cast(d, r, d->t_u32));
}

/* table.fill: a loop, the check first. */
static void op_table_fill(Fn *fn, uint32_t x) {
  Dcm *d = fn->d;
  gcc_jit_lvalue *n = tmp_u32(fn, fn_pop(fn), "n");
  gcc_jit_lvalue *v = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "v");
  fn_assign(fn, v, fn_pop(fn));
  gcc_jit_lvalue *i = tmp_u32(fn, fn_pop(fn), "i");
  gcc_jit_lvalue *tab = table_local(fn, x);
  check_range(fn, rv(i), rv(n), tab_size(fn, tab), TRAP_TABLE_OOB);
  gcc_jit_lvalue *k = tmp_u32(fn, dcm_u32(d, 0), "k");
  gcc_jit_block *head = fn_block(fn), *loop = fn_block(fn), *done = fn_block(fn);
  gcc_jit_block_end_with_jump(fn->cur, NULL, head);
  gcc_jit_block_end_with_conditional(
      head, NULL,
      gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_LT, rv(k), rv(n)), loop,
      done);
  fn->cur = loop;
  fn_assign(fn,
            tab_elem(fn, tab,
                     gcc_jit_context_new_binary_op(fn->ctx, NULL, GCC_JIT_BINARY_OP_PLUS, d->t_u32,
                                                   rv(i), rv(k))),
            rv(v));
  gcc_jit_block_add_assignment_op(loop, NULL, k, GCC_JIT_BINARY_OP_PLUS, dcm_u32(d, 1));
  gcc_jit_block_end_with_jump(loop, NULL, head);
  fn->cur = done;
}

static void op_table_copy(Fn *fn, uint32_t dx, uint32_t sx) {
  Dcm *d = fn->d;
  gcc_jit_lvalue *n = tmp_u32(fn, fn_pop(fn), "n");
  gcc_jit_lvalue *s = tmp_u32(fn, fn_pop(fn), "s");
  gcc_jit_lvalue *dst = tmp_u32(fn, fn_pop(fn), "d");
  gcc_jit_lvalue *dt = table_local(fn, dx), *st = table_local(fn, sx);
  check_range(fn, rv(s), rv(n), tab_size(fn, st), TRAP_TABLE_OOB);
  check_range(fn, rv(dst), rv(n), tab_size(fn, dt), TRAP_TABLE_OOB);
  gcc_jit_function *mm = libc_fn(d, "memmove");
  gcc_jit_type *size_t_ = gcc_jit_context_get_type(fn->ctx, GCC_JIT_TYPE_SIZE_T);
  gcc_jit_rvalue *bytes = gcc_jit_context_new_binary_op(
      fn->ctx, NULL, GCC_JIT_BINARY_OP_MULT, size_t_, dcm_cast(d, rv(n), size_t_),
      gcc_jit_context_new_rvalue_from_int(fn->ctx, size_t_, (int)sizeof(void *)));
  gcc_jit_rvalue *args[3] = {
      dcm_cast(d, gcc_jit_lvalue_get_address(tab_elem(fn, dt, rv(dst)), NULL), d->t_vptr),
      dcm_cast(d, gcc_jit_lvalue_get_address(tab_elem(fn, st, rv(s)), NULL), d->t_vptr), bytes};
  gcc_jit_block_add_eval(fn->cur, NULL, gcc_jit_context_new_call(fn->ctx, NULL, mm, 3, args));
}

static void op_table_init(Fn *fn, uint32_t seg, uint32_t table) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *n = fn_pop(fn), *s = fn_pop(fn), *dst = fn_pop(fn);
  gcc_jit_rvalue *args[7] = {fn->t, fn_self(fn), dcm_u32(d, table), dcm_u32(d, seg), dst, s, n};
  gcc_jit_block_add_eval(fn->cur, NULL,
                         gcc_jit_context_new_call_through_ptr(
                             fn->ctx, NULL, dcm_import(d, KILN_IMP_TABLE_INIT), 7, args));
}

static void op_elem_drop(Fn *fn, uint32_t seg) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *elems = rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_ELEMS, d->t_vptr));
  fn_assign(fn,
            dcm_field(d, elems, seg * KILN_ABI_SIZEOF_ELEMINST + KILN_ABI_ELEMINST_LEN, d->t_u32),
            dcm_u32(d, 0));
}

static void op_data_drop(Fn *fn, uint32_t seg) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *lens = rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_DATA_LEN, d->t_vptr));
  fn_assign(fn, dcm_index(d, lens, d->t_u32, dcm_u32(d, seg)), dcm_u32(d, 0));
}

/* 0xfc prefix: saturating truncation, bulk memory, tables. */
bool jit_prefixed(Fn *fn, CodeReader *r) {
  Dcm *d = fn->d;
  uint32_t sub = code_u32(r);
  if (sub <= WASM_FC_I64_TRUNC_SAT_F64_U)
    return jit_sat(fn, sub);
  uint32_t a = 0, b = 0;
  switch (sub) {
  case WASM_FC_MEMORY_INIT:
    a = code_u32(r);
    code_u8(r); /* memory index */
    op_memory_init(fn, a);
    return true;
  case WASM_FC_DATA_DROP:
    op_data_drop(fn, code_u32(r));
    return true;
  case WASM_FC_MEMORY_COPY:
    code_u8(r); /* destination and source memory indices */
    code_u8(r);
    op_memory_copy(fn);
    return true;
  case WASM_FC_MEMORY_FILL:
    code_u8(r); /* memory index */
    op_memory_fill(fn);
    return true;
  case WASM_FC_TABLE_INIT:
    a = code_u32(r);
    b = code_u32(r);
    op_table_init(fn, a, b);
    return true;
  case WASM_FC_ELEM_DROP:
    op_elem_drop(fn, code_u32(r));
    return true;
  case WASM_FC_TABLE_COPY:
    a = code_u32(r);
    b = code_u32(r);
    op_table_copy(fn, a, b);
    return true;
  case WASM_FC_TABLE_GROW:
    op_table_grow(fn, code_u32(r));
    return true;
  case WASM_FC_TABLE_SIZE: {
    gcc_jit_lvalue *tab = table_local(fn, code_u32(r));
    fn_assign(fn, fn_push(fn, WASM_I32), tab_size(fn, tab));
    return true;
  }
  case WASM_FC_TABLE_FILL:
    op_table_fill(fn, code_u32(r));
    return true;
  default:
    dcm_fail(d, "opcode 0xfc %u not supported by the compiler yet", sub);
    return false;
  }
}
