/*
 * jit_fn.h: the state of one function's translation (jit_body.c, jit_ops.c).
 *
 * The WebAssembly operand stack becomes C locals: the value at depth k of
 * class c lives in the local s<k>_<c>, made on first use. Every instruction
 * assigns its result to the local of the depth it lands on, and gcc's SSA
 * passes remove the copies. Branches move the values they carry to the
 * depths the target expects. Locals are C locals too; the operand stack of
 * slots is only used to call other functions through their FuncEntry.
 */
#ifndef KILN_JIT_FN_H
#define KILN_JIT_FN_H

#include <stddef.h>

#include "code_reader.h"
#include "dcm_int.h"

enum { CTL_FUNC, CTL_BLOCK, CTL_LOOP, CTL_IF, CTL_ELSE };

typedef struct {
  uint8_t kind;
  bool dead; /* opened in unreachable code: only its end matters */
  uint32_t height; /* operand stack height below its parameters */
  uint32_t nparams, nresults;
  const WasmValType *params, *results;
  gcc_jit_block *target; /* loop: its header; others: the block after end (lazy) */
  gcc_jit_block *else_blk; /* if: where the false branch starts, until `else` */
  uint32_t at; /* loop: its offset in the body */
  bool loops_inside; /* a loop opened inside it (the sampler's note follows its end) */
} Ctl;

/* A loop an OSR entry can start at: its header and the operand stack
 * there (loop parameters included). */
typedef struct {
  uint32_t offset; /* of its `loop` in the body */
  gcc_jit_block *header;
  uint32_t height;
  WasmValType *types;
} OsrLoop;

typedef struct Fn {
  Dcm *d;
  gcc_jit_context *ctx;
  uint32_t index;
  const WasmFuncType *type;
  gcc_jit_function *fn;
  gcc_jit_block *cur; /* NULL while the code is unreachable */
  uint32_t at; /* the instruction being translated: byte offset in the body */
  gcc_jit_block *entry, *body;
  /* f is the FuncEntry's parameter (warm); hot internal functions get the
   * instance instead (every function of the set shares it), and the linear
   * memory's base, which never moves. */
  gcc_jit_rvalue *t, *f, *sp;
  gcc_jit_rvalue *membase_param;
  bool has_access; /* the body has loads or stores (hot: guard_func stores) */
  bool has_loops; /* the body has loops (the code keeps compiled_loop current) */
  gcc_jit_param **outs; /* hot internal: results 1.. by pointer */
  gcc_jit_lvalue *inst, *mem0, *membase, *memsize;
  uint32_t nlocals; /* params included */
  WasmValType *local_types;
  gcc_jit_lvalue **locals;
  WasmValType *stype; /* types on the operand stack */
  gcc_jit_lvalue **svar; /* [depth * VC_COUNT + class] */
  uint32_t sh, scap;
  Ctl *ctl;
  uint32_t nctl, ctlcap;
  gcc_jit_block *trap_blk[16];
  uint32_t max_out; /* slots the calls through FuncEntry need at sp */
  unsigned nblocks;
  /* The OSR entry (jit_define_osr): results go to slots, and every live
   * loop is recorded as a place to start. */
  bool osr;
  OsrLoop *loops;
  uint32_t nloops, loopcap;
} Fn;

/* A member of a runtime struct at its ABI offset, read or written as ctype:
 * ABI_FIELD(fn, inst, INSTANCE_MEM0, t) is *(t *)((char *)inst + KILN_ABI_INSTANCE_MEM0). */
#define ABI_FIELD(fn, ptr, what, ctype) dcm_field((fn)->d, (ptr), KILN_ABI_##what, (ctype))

static inline gcc_jit_rvalue *rv(gcc_jit_lvalue *l) {
  return gcc_jit_lvalue_as_rvalue(l);
}

/* jit_body.c */
gcc_jit_rvalue *fn_pop(Fn *fn);
gcc_jit_lvalue *fn_push(Fn *fn, WasmValType t);
void fn_assign(Fn *fn, gcc_jit_lvalue *dst, gcc_jit_rvalue *v);
void fn_trap_if(Fn *fn, gcc_jit_rvalue *cond, int code);
gcc_jit_block *fn_block(Fn *fn);
/* inst->funcs[x] and friends: element x of a pointer array at `off` in Instance. */
gcc_jit_rvalue *fn_inst_item(Fn *fn, size_t off, uint32_t x);
gcc_jit_rvalue *fn_table_inst(Fn *fn, uint32_t x);
/* After anything that can grow memory (calls, memory.grow). */
void fn_reload_memsize(Fn *fn);
/* The memory's current size in bytes (u64), and its MemoryInst. */
gcc_jit_rvalue *fn_memsize(Fn *fn);
gcc_jit_rvalue *fn_mem0(Fn *fn);
/* This function's FuncInst (for traps and the imports that take one). */
gcc_jit_rvalue *fn_self(Fn *fn);

/* jit_mem.c */
void jit_load(Fn *fn, uint8_t op, uint32_t offset);
void jit_store(Fn *fn, uint8_t op, uint32_t offset);
void jit_memory_grow(Fn *fn);
void jit_table_get(Fn *fn, uint32_t x);
void jit_table_set(Fn *fn, uint32_t x);
/* 0xfc prefix, after the prefix byte. False: not supported (err set). */
bool jit_prefixed(Fn *fn, CodeReader *r);

/* jit_ops.c: numeric instructions (WASM_OP_I32_EQZ..I64_EXTEND32_S) and the
 * saturating truncations (WASM_FC_I32_TRUNC_SAT_F32_S..I64_TRUNC_SAT_F64_U).
 * False: not a numeric opcode. */
bool jit_numeric(Fn *fn, uint8_t op);
bool jit_sat(Fn *fn, uint32_t sub);
/* Reinterprets and builds float constants from their bits. */
gcc_jit_rvalue *jit_f32_bits(Fn *fn, uint32_t bits);
gcc_jit_rvalue *jit_f64_bits(Fn *fn, uint64_t bits);

#endif
