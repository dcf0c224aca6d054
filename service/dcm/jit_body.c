/*
 * jit_body.c: one WebAssembly function body to libgccjit.
 *
 * Warm: the function is its exported FuncEntry; parameters come from the
 * slots at sp, results go back there, and every call goes through the
 * callee's FuncInst.entry. Hot: the body is an internal function with a
 * native signature (parameters as C parameters, the first result returned,
 * the others through pointers) and calls to functions of the same package
 * are direct, so gcc can inline them; the exported FuncEntry only unpacks
 * the slots. Either way the body reads the runtime's structs at the package
 * ABI's offsets (abi/kiln_package_abi.h) and traps through the imports.
 *
 * Hot internal functions receive the instance and the memory's base rather
 * than their FuncInst: all functions of a package share both, so inlined
 * and direct calls pass them on in registers instead of reloading them
 * through pointer chains. Their loads and stores have no bounds checks
 * (jit_mem.c); the exported FuncEntry is the gate that decides whether that
 * code may run (guard_gate).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit_fn.h"
#include "kiln_package_elf.h"

/* --- the operand stack --------------------------------------------------------- */

static gcc_jit_lvalue *svar(Fn *fn, uint32_t depth, WasmValType t) {
  int c = dcm_vc(t);
  if (depth >= fn->scap) {
    uint32_t cap = fn->scap ? fn->scap * 2 : 16;
    while (cap <= depth)
      cap *= 2;
    fn->stype = realloc(fn->stype, cap * sizeof *fn->stype);
    fn->svar = realloc(fn->svar, (size_t)cap * VC_COUNT * sizeof *fn->svar);
    memset(fn->svar + (size_t)fn->scap * VC_COUNT, 0,
           (size_t)(cap - fn->scap) * VC_COUNT * sizeof *fn->svar);
    fn->scap = cap;
  }
  gcc_jit_lvalue **v = &fn->svar[(size_t)depth * VC_COUNT + c];
  if (!*v) {
    char name[32];
    snprintf(name, sizeof name, "s%u_%d", depth, c);
    *v = gcc_jit_function_new_local(fn->fn, NULL, fn->d->vc_type[c], name);
  }
  return *v;
}

gcc_jit_rvalue *fn_pop(Fn *fn) {
  fn->sh--;
  return gcc_jit_lvalue_as_rvalue(svar(fn, fn->sh, fn->stype[fn->sh]));
}

gcc_jit_lvalue *fn_push(Fn *fn, WasmValType t) {
  gcc_jit_lvalue *v = svar(fn, fn->sh, t); /* grows stype too */
  fn->stype[fn->sh++] = t;
  return v;
}

static WasmValType top_type(Fn *fn, uint32_t below) {
  return fn->stype[fn->sh - 1 - below];
}

void fn_assign(Fn *fn, gcc_jit_lvalue *dst, gcc_jit_rvalue *v) {
  gcc_jit_block_add_assignment(fn->cur, NULL, dst, v);
}

gcc_jit_block *fn_block(Fn *fn) {
  return gcc_jit_function_new_block(fn->fn, NULL);
}

/* --- traps ------------------------------------------------------------------------- */

static void end_with_dummy_return(Fn *fn, gcc_jit_block *b) {
  gcc_jit_type *rt = gcc_jit_function_get_return_type(fn->fn);
  if (rt == fn->d->t_void)
    gcc_jit_block_end_with_void_return(b, NULL);
  else if (rt == fn->d->t_vptr)
    gcc_jit_block_end_with_return(b, NULL, gcc_jit_context_null(fn->ctx, rt));
  else
    gcc_jit_block_end_with_return(b, NULL, gcc_jit_context_zero(fn->ctx, rt));
}

/* One block per trap code and function; the import never returns. */
static gcc_jit_block *trap_block(Fn *fn, int code) {
  if (fn->trap_blk[code])
    return fn->trap_blk[code];
  gcc_jit_block *b = fn_block(fn);
  gcc_jit_rvalue *args[3] = {fn->t, fn_self(fn),
                             gcc_jit_context_new_rvalue_from_int(fn->ctx, fn->d->t_int, code)};
  gcc_jit_block_add_eval(b, NULL,
                         gcc_jit_context_new_call_through_ptr(
                             fn->ctx, NULL, dcm_import(fn->d, KILN_IMP_TRAP), 3, args));
  end_with_dummy_return(fn, b);
  fn->trap_blk[code] = b;
  return b;
}

static void trap_now(Fn *fn, int code) {
  gcc_jit_block_end_with_jump(fn->cur, NULL, trap_block(fn, code));
  fn->cur = NULL;
}

void fn_trap_if(Fn *fn, gcc_jit_rvalue *cond, int code) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *args[2] = {dcm_cast(d, cond, d->t_long),
                             gcc_jit_context_zero(fn->ctx, d->t_long)};
  gcc_jit_rvalue *exp = gcc_jit_context_new_call(fn->ctx, NULL, d->expect, 2, args);
  gcc_jit_rvalue *taken = gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE, exp,
                                                         gcc_jit_context_zero(fn->ctx, d->t_long));
  gcc_jit_block *go = fn_block(fn);
  gcc_jit_block_end_with_conditional(fn->cur, NULL, taken, trap_block(fn, code), go);
  fn->cur = go;
}

/* --- runtime structs ------------------------------------------------------------- */

/* inst->funcs[x] and friends: element x of a pointer array field of Instance. */
gcc_jit_rvalue *fn_inst_item(Fn *fn, size_t off, uint32_t x) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *arr = rv(dcm_field(d, rv(fn->inst), off, d->t_vptr));
  return rv(dcm_index(d, arr, d->t_vptr, dcm_u32(d, x)));
}
static gcc_jit_rvalue *func_inst(Fn *fn, uint32_t x) {
  return fn_inst_item(fn, KILN_ABI_INSTANCE_FUNCS, x);
}
gcc_jit_rvalue *fn_table_inst(Fn *fn, uint32_t x) {
  return fn_inst_item(fn, KILN_ABI_INSTANCE_TABLES, x);
}

gcc_jit_rvalue *fn_self(Fn *fn) {
  return fn->f ? fn->f : func_inst(fn, fn->index);
}

/* Warm caches the size in a local (its checks need it at every access);
 * hot reads it where a bulk operation needs it. */
void fn_reload_memsize(Fn *fn) {
  if (fn->memsize)
    fn_assign(fn, fn->memsize, rv(ABI_FIELD(fn, rv(fn->mem0), MEMORYINST_SIZE, fn->d->t_u64)));
}

gcc_jit_rvalue *fn_memsize(Fn *fn) {
  if (fn->memsize)
    return rv(fn->memsize);
  return rv(ABI_FIELD(fn, fn_mem0(fn), MEMORYINST_SIZE, fn->d->t_u64));
}

/* Warm loads it once; hot, which has the base as a parameter, where it is
 * needed (memory.size, memory.grow, bulk operations), since a load nobody
 * uses still stays in code that treats every load as one that may fault. */
gcc_jit_rvalue *fn_mem0(Fn *fn) {
  if (fn->membase_param)
    return rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_MEM0, fn->d->t_vptr));
  return rv(fn->mem0);
}

/* Hot code without bounds checks tells the fault handler where it is: the
 * function whose accesses come next (after entry and after every call,
 * which may have changed it) and, after calls leaving the package, the
 * instance. Volatile, so gcc neither drops nor moves the stores past the
 * accesses they describe. */
static void guard_note(Fn *fn, bool inst_too) {
  Dcm *d = fn->d;
  if (!d->unchecked || !fn->has_access || !fn->cur)
    return;
  gcc_jit_type *vu32 = gcc_jit_type_get_volatile(d->t_u32);
  fn_assign(fn, ABI_FIELD(fn, fn->t, THREAD_GUARD_FUNC, vu32), dcm_u32(d, fn->index));
  if (inst_too)
    fn_assign(fn, ABI_FIELD(fn, fn->t, THREAD_GUARD_INST, gcc_jit_type_get_volatile(d->t_vptr)),
              rv(fn->inst));
}

/* The loop the code is in, for the sampler (agent/monitor.c): at = the
 * loop's offset, or KILN_ABI_NO_LOOP. libgccjit drops a volatile qualifier
 * reached through a cast pointer, and gcc then keeps only the last of
 * these stores: an empty volatile asm that reads the field after each one
 * keeps it, where it is, and touches nothing else. */
static void store_loop(Fn *fn, uint32_t at) {
  Dcm *d = fn->d;
  if (!fn->has_loops || !fn->cur)
    return;
  gcc_jit_lvalue *field = ABI_FIELD(fn, fn->t, THREAD_COMPILED_LOOP, d->t_u64);
  fn_assign(fn, field, dcm_u64(d, KILN_ABI_COMPILED_LOOP(fn->index, at)));
  gcc_jit_extended_asm *keep = gcc_jit_block_add_extended_asm(fn->cur, NULL, "");
  gcc_jit_extended_asm_set_volatile_flag(keep, 1);
  gcc_jit_extended_asm_add_input_operand(keep, NULL, "m", rv(field));
}

/* Names the innermost loop open here: at entry, on entering a loop, after
 * the end of a construct with loops inside, after calls (whose loops were
 * named last). Never at a loop's header: the store and its asm in the
 * loop would keep gcc from vectorising it. */
static void loop_note(Fn *fn) {
  uint32_t at = KILN_ABI_NO_LOOP;
  for (uint32_t i = fn->nctl; i-- > 0 && at == KILN_ABI_NO_LOOP;)
    if (fn->ctl[i].kind == CTL_LOOP)
      at = fn->ctl[i].at;
  store_loop(fn, at);
}

/* Hot internal functions: t, inst, sp and, with unchecked memory, the
 * memory's base come before the WebAssembly parameters. */
static uint32_t internal_fixed(const Dcm *d) {
  return d->unchecked ? 4 : 3;
}

/* --- slots ------------------------------------------------------------------------ */

static gcc_jit_lvalue *slot(Fn *fn, gcc_jit_rvalue *base, uint32_t i) {
  return dcm_index(fn->d, base, fn->d->t_u64, dcm_u32(fn->d, i));
}

/* A slot holds i32/f32 zero-extended, f64 as bits, references as pointers. */
static gcc_jit_rvalue *from_slot(Fn *fn, gcc_jit_rvalue *s, WasmValType t) {
  Dcm *d = fn->d;
  switch (dcm_vc(t)) {
  case VC_I32:
    return dcm_cast(d, s, d->t_u32);
  case VC_I64:
    return s;
  case VC_F32:
    return dcm_bitcast(d, dcm_cast(d, s, d->t_u32), d->t_f32);
  case VC_F64:
    return dcm_bitcast(d, s, d->t_f64);
  default:
    return dcm_bitcast(d, s, d->t_vptr);
  }
}
static gcc_jit_rvalue *to_slot(Fn *fn, gcc_jit_rvalue *v, WasmValType t) {
  Dcm *d = fn->d;
  switch (dcm_vc(t)) {
  case VC_I32:
    return dcm_cast(d, v, d->t_u64);
  case VC_I64:
    return v;
  case VC_F32:
    return dcm_cast(d, dcm_bitcast(d, v, d->t_u32), d->t_u64);
  default:
    return dcm_bitcast(d, v, d->t_u64);
  }
}

/* --- control ------------------------------------------------------------------------ */

static Ctl *ctl_push(Fn *fn, uint8_t kind) {
  if (fn->nctl == fn->ctlcap) {
    fn->ctlcap = fn->ctlcap ? fn->ctlcap * 2 : 16;
    fn->ctl = realloc(fn->ctl, fn->ctlcap * sizeof *fn->ctl);
  }
  Ctl *c = &fn->ctl[fn->nctl++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  return c;
}

/* A block type: empty (-64), a value type (one result, whose type is the
 * byte itself), or a type index. */
static void block_type(Fn *fn, CodeReader *r, Ctl *c) {
  const WasmModule *m = fn->d->m;
  const uint8_t *at = r->p;
  int64_t bt = code_sleb(r);
  if (bt == -64) {
    /* no parameters, no results */
  } else if (bt < 0) {
    c->nresults = 1;
    c->results = at;
  } else {
    const WasmFuncType *ft = &m->types[bt];
    c->nparams = ft->nparams;
    c->params = ft->types;
    c->nresults = ft->nresults;
    c->results = ft->types + ft->nparams;
  }
}

/* Where a branch to c goes, made on first use. */
static gcc_jit_block *label_block(Fn *fn, Ctl *c) {
  if (!c->target)
    c->target = fn_block(fn);
  return c->target;
}

/* Moves the top n values to the depths from `height` up (a branch's
 * values to where its target expects them). */
static void move_values(Fn *fn, gcc_jit_block *b, uint32_t height, uint32_t n,
                        const WasmValType *types) {
  for (uint32_t i = 0; i < n; i++) {
    uint32_t src = fn->sh - n + i, dst = height + i;
    if (src != dst)
      gcc_jit_block_add_assignment(b, NULL, svar(fn, dst, types[i]), rv(svar(fn, src, types[i])));
  }
}

static uint32_t label_arity(const Ctl *c, const WasmValType **types) {
  if (c->kind == CTL_LOOP) {
    *types = c->params;
    return c->nparams;
  }
  *types = c->results;
  return c->nresults;
}

/* Ends b with a branch to label l (values moved first). */
static void branch_from(Fn *fn, gcc_jit_block *b, uint32_t l) {
  Ctl *c = &fn->ctl[fn->nctl - 1 - l];
  const WasmValType *types;
  uint32_t n = label_arity(c, &types);
  move_values(fn, b, c->height, n, types);
  gcc_jit_block_end_with_jump(b, NULL, label_block(fn, c));
}

static bool branch_moves(Fn *fn, uint32_t l) {
  Ctl *c = &fn->ctl[fn->nctl - 1 - l];
  const WasmValType *types;
  uint32_t n = label_arity(c, &types);
  return n && fn->sh - n != c->height;
}

static int by_branch_site(const void *key, const void *elem) {
  const DcmBranchHint *k = key, *h = elem;
  if (k->func != h->func)
    return k->func < h->func ? -1 : 1;
  return (k->site > h->site) - (k->site < h->site);
}

/* The condition value != 0 of the br_if or if at `at`, with the profile's
 * word on which way it goes (hot): __builtin_expect(value != 0, likely). */
static gcc_jit_rvalue *branch_cond(Fn *fn, uint32_t at, gcc_jit_rvalue *value) {
  Dcm *d = fn->d;
  gcc_jit_rvalue *cond =
      gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE, value, dcm_u32(d, 0));
  const DcmProfile *p = d->profile;
  DcmBranchHint key = {.func = fn->index, .site = at};
  const DcmBranchHint *h = d->tier == DCM_HOT && p->nbranches
                               ? bsearch(&key, p->branches, p->nbranches, sizeof *h, by_branch_site)
                               : NULL;
  if (!h)
    return cond;
  gcc_jit_rvalue *args[2] = {dcm_cast(d, cond, d->t_long),
                             h->likely ? gcc_jit_context_one(fn->ctx, d->t_long)
                                       : gcc_jit_context_zero(fn->ctx, d->t_long)};
  return gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE,
                                        gcc_jit_context_new_call(fn->ctx, NULL, d->expect, 2, args),
                                        gcc_jit_context_zero(fn->ctx, d->t_long));
}

static void op_br_if(Fn *fn, uint32_t l) {
  gcc_jit_rvalue *cond = branch_cond(fn, fn->at, fn_pop(fn));
  gcc_jit_block *go = fn_block(fn);
  gcc_jit_block *yes;
  if (branch_moves(fn, l)) {
    yes = fn_block(fn);
    branch_from(fn, yes, l);
  } else {
    yes = label_block(fn, &fn->ctl[fn->nctl - 1 - l]);
  }
  gcc_jit_block_end_with_conditional(fn->cur, NULL, cond, yes, go);
  fn->cur = go;
}

static void op_br_table(Fn *fn, CodeReader *r) {
  uint32_t n = code_u32(r);
  uint32_t *labels = malloc(((size_t)n + 1) * sizeof *labels);
  for (uint32_t i = 0; i <= n; i++)
    labels[i] = code_u32(r);
  gcc_jit_rvalue *index = fn_pop(fn);
  /* One block per distinct label (moving its values), cases point at them. */
  gcc_jit_block **via = calloc(fn->nctl, sizeof *via);
  gcc_jit_case **cases = malloc(((size_t)n + 1) * sizeof *cases);
  uint32_t ncases = 0;
  for (uint32_t i = 0; i <= n; i++) {
    uint32_t l = labels[i];
    if (!via[l]) {
      if (branch_moves(fn, l)) {
        via[l] = fn_block(fn);
        branch_from(fn, via[l], l);
      } else {
        via[l] = label_block(fn, &fn->ctl[fn->nctl - 1 - l]);
      }
    }
    if (i < n) {
      gcc_jit_rvalue *k = dcm_u32(fn->d, i);
      cases[ncases++] = gcc_jit_context_new_case(fn->ctx, k, k, via[l]);
    }
  }
  gcc_jit_block_end_with_switch(fn->cur, NULL, index, via[labels[n]], (int)ncases, cases);
  fn->cur = NULL;
  free(cases);
  free(via);
  free(labels);
}

static void note_loop(Fn *fn, uint32_t offset, gcc_jit_block *header) {
  if (fn->nloops == fn->loopcap) {
    fn->loopcap = fn->loopcap ? 2 * fn->loopcap : 8;
    fn->loops = realloc(fn->loops, fn->loopcap * sizeof *fn->loops);
  }
  OsrLoop *l = &fn->loops[fn->nloops++];
  l->offset = offset;
  l->header = header;
  l->height = fn->sh;
  l->types = malloc((fn->sh ? fn->sh : 1) * sizeof *l->types);
  if (fn->sh)
    memcpy(l->types, fn->stype, fn->sh * sizeof *l->types);
}

static void op_block(Fn *fn, CodeReader *r, uint8_t kind) {
  uint32_t at = (uint32_t)(r->p - 1 - fn->d->m->funcs[fn->index].body);
  Ctl tmp = {0};
  block_type(fn, r, &tmp);
  if (!fn->cur) { /* unreachable: only its end matters */
    Ctl *c = ctl_push(fn, kind);
    c->dead = true;
    return;
  }
  gcc_jit_rvalue *cond = NULL;
  if (kind == CTL_IF)
    cond = branch_cond(fn, at, fn_pop(fn));
  Ctl *c = ctl_push(fn, kind);
  c->nparams = tmp.nparams;
  c->params = tmp.params;
  c->nresults = tmp.nresults;
  c->results = tmp.results;
  c->height = fn->sh - c->nparams;
  if (kind == CTL_LOOP) {
    c->at = at;
    for (uint32_t i = 0; i + 1 < fn->nctl; i++)
      fn->ctl[i].loops_inside = true;
    loop_note(fn);
    c->target = fn_block(fn);
    gcc_jit_block_end_with_jump(fn->cur, NULL, c->target);
    fn->cur = c->target;
    if (fn->osr)
      note_loop(fn, at, c->target);
  } else if (kind == CTL_IF) {
    gcc_jit_block *then = fn_block(fn);
    c->else_blk = fn_block(fn);
    gcc_jit_block_end_with_conditional(fn->cur, NULL, cond, then, c->else_blk);
    fn->cur = then;
  }
}

static void reset_stack(Fn *fn, Ctl *c, uint32_t n, const WasmValType *types) {
  fn->sh = c->height;
  for (uint32_t i = 0; i < n; i++)
    fn_push(fn, types[i]);
}

static void op_else(Fn *fn) {
  Ctl *c = &fn->ctl[fn->nctl - 1];
  if (c->dead)
    return;
  if (fn->cur)
    gcc_jit_block_end_with_jump(fn->cur, NULL, label_block(fn, c));
  fn->cur = c->else_blk;
  c->else_blk = NULL;
  c->kind = CTL_ELSE;
  reset_stack(fn, c, c->nparams, c->params);
}

static void emit_return_block(Fn *fn, gcc_jit_block *b);

/* Returns true at the function's final end. */
static bool op_end(Fn *fn) {
  Ctl *c = &fn->ctl[fn->nctl - 1];
  if (c->dead) {
    fn->nctl--;
    return false;
  }
  if (c->kind == CTL_LOOP) {
    /* falls through in the current block */
  } else {
    if (fn->cur)
      gcc_jit_block_end_with_jump(fn->cur, NULL, label_block(fn, c));
    if (c->else_blk) /* an if without else: the parameters are the results */
      gcc_jit_block_end_with_jump(c->else_blk, NULL, label_block(fn, c));
    fn->cur = c->target;
  }
  reset_stack(fn, c, c->nresults, c->results);
  if (c->kind == CTL_FUNC) {
    if (fn->cur)
      emit_return_block(fn, fn->cur);
    fn->cur = NULL;
    fn->nctl--;
    return true;
  }
  bool left_loop = c->kind == CTL_LOOP || c->loops_inside;
  fn->nctl--;
  if (left_loop)
    loop_note(fn);
  return false;
}

/* --- function boundaries ---------------------------------------------------------- */

/* The results sit at depths 0..nresults. */
static void emit_return_block(Fn *fn, gcc_jit_block *b) {
  const WasmFuncType *ft = fn->type;
  const WasmValType *res = ft->types + ft->nparams;
  if (fn->d->tier == DCM_WARM || fn->osr) {
    for (uint32_t i = 0; i < ft->nresults; i++)
      gcc_jit_block_add_assignment(b, NULL, slot(fn, fn->sp, i),
                                   to_slot(fn, rv(svar(fn, i, res[i])), res[i]));
    if (fn->osr) /* ran to the end */
      gcc_jit_block_end_with_return(b, NULL, gcc_jit_context_one(fn->ctx, fn->d->t_int));
    else
      gcc_jit_block_end_with_void_return(b, NULL);
    return;
  }
  for (uint32_t i = 1; i < ft->nresults; i++)
    gcc_jit_block_add_assignment(
        b, NULL, gcc_jit_rvalue_dereference(gcc_jit_param_as_rvalue(fn->outs[i]), NULL),
        rv(svar(fn, i, res[i])));
  if (ft->nresults)
    gcc_jit_block_end_with_return(b, NULL, rv(svar(fn, 0, res[0])));
  else
    gcc_jit_block_end_with_void_return(b, NULL);
}

/* Calls `callee` (a FuncInst *) through its entry, the arguments in the
 * slots at sp: the way to any function outside this package. */
static void call_through_entry(Fn *fn, gcc_jit_rvalue *callee, const WasmFuncType *ft) {
  Dcm *d = fn->d;
  uint32_t np = ft->nparams, nr = ft->nresults;
  uint32_t need = np > nr ? np : nr;
  if (need > fn->max_out)
    fn->max_out = need;
  gcc_jit_lvalue *cv = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "callee");
  fn_assign(fn, cv, callee);
  for (uint32_t i = 0; i < np; i++) {
    WasmValType t = ft->types[i];
    fn_assign(fn, slot(fn, fn->sp, i), to_slot(fn, rv(svar(fn, fn->sh - np + i, t)), t));
  }
  fn->sh -= np;
  gcc_jit_rvalue *entry = rv(ABI_FIELD(fn, rv(cv), FUNCINST_ENTRY, d->entry_ptr));
  gcc_jit_rvalue *args[3] = {fn->t, rv(cv), fn->sp};
  gcc_jit_block_add_eval(fn->cur, NULL,
                         gcc_jit_context_new_call_through_ptr(fn->ctx, NULL, entry, 3, args));
  for (uint32_t i = 0; i < nr; i++) {
    WasmValType t = ft->types[np + i];
    fn_assign(fn, fn_push(fn, t), from_slot(fn, rv(slot(fn, fn->sp, i)), t));
  }
  fn_reload_memsize(fn);
  guard_note(fn, true);
  loop_note(fn);
}

/* Hot: a call of an internal function, x's (ptr NULL), or the one ptr
 * points to, of type ft. */
static void call_internal(Fn *fn, uint32_t x, gcc_jit_rvalue *ptr, const WasmFuncType *ft) {
  Dcm *d = fn->d;
  uint32_t np = ft->nparams, nr = ft->nresults, fixed = internal_fixed(d);
  size_t nargs = fixed + np + (nr > 1 ? nr - 1 : 0);
  gcc_jit_rvalue **args = malloc(nargs * sizeof *args);
  gcc_jit_lvalue **outs = calloc(nr ? nr : 1, sizeof *outs);
  args[0] = fn->t;
  args[1] = rv(fn->inst);
  args[2] = fn->sp;
  if (d->unchecked)
    args[3] = rv(fn->membase);
  for (uint32_t i = 0; i < np; i++)
    args[fixed + i] = rv(svar(fn, fn->sh - np + i, ft->types[i]));
  for (uint32_t i = 1; i < nr; i++) {
    outs[i] =
        gcc_jit_function_new_local(fn->fn, NULL, d->vc_type[dcm_vc(ft->types[np + i])], "out");
    args[fixed + np + i - 1] = gcc_jit_lvalue_get_address(outs[i], NULL);
  }
  fn->sh -= np;
  gcc_jit_rvalue *call =
      ptr ? gcc_jit_context_new_call_through_ptr(fn->ctx, NULL, ptr, (int)nargs, args)
          : gcc_jit_context_new_call(fn->ctx, NULL, d->internal[x], (int)nargs, args);
  if (nr)
    fn_assign(fn, fn_push(fn, ft->types[np]), call);
  else
    gcc_jit_block_add_eval(fn->cur, NULL, call);
  for (uint32_t i = 1; i < nr; i++)
    fn_assign(fn, fn_push(fn, ft->types[np + i]), rv(outs[i]));
  guard_note(fn, false);
  loop_note(fn);
  free(args);
  free(outs);
}

static void op_call(Fn *fn, uint32_t x) {
  const WasmFuncType *ft = wasm_func_type(fn->d->m, x);
  if (fn->d->tier == DCM_HOT && fn->d->internal[x])
    call_internal(fn, x, NULL, ft);
  else
    call_through_entry(fn, func_inst(fn, x), ft);
}

/* The signature of the internal function of WebAssembly type ft: t, inst,
 * sp (and, unchecked, the memory's base), the parameters, then pointers
 * for results 1..; returns the result type and *n, the parameters' count,
 * with their types in a malloc'ed array (NULL: out of memory). */
static gcc_jit_type **internal_signature(Dcm *d, const WasmFuncType *ft, size_t *n,
                                         gcc_jit_type **ret) {
  uint32_t np = ft->nparams, nr = ft->nresults, fixed = internal_fixed(d);
  *n = fixed + np + (nr > 1 ? nr - 1 : 0);
  *ret = nr ? d->vc_type[dcm_vc(ft->types[np])] : d->t_void;
  gcc_jit_type **ts = malloc(*n * sizeof *ts);
  if (!ts)
    return NULL;
  ts[0] = d->t_vptr, ts[1] = d->t_vptr, ts[2] = d->t_u64ptr;
  if (d->unchecked)
    ts[3] = d->t_u8ptr;
  for (uint32_t i = 0; i < np; i++)
    ts[fixed + i] = d->vc_type[dcm_vc(ft->types[i])];
  for (uint32_t i = 1; i < nr; i++)
    ts[fixed + np + i - 1] = gcc_jit_type_get_pointer(d->vc_type[dcm_vc(ft->types[np + i])]);
  return ts;
}

/* The internal functions' type for WebAssembly type ft, as a pointer. */
static gcc_jit_type *internal_ptr_type(Dcm *d, const WasmFuncType *ft) {
  size_t n;
  gcc_jit_type *ret, **ts = internal_signature(d, ft, &n, &ret);
  if (!ts) {
    dcm_fail(d, "out of memory");
    return d->t_vptr;
  }
  gcc_jit_type *t = gcc_jit_context_new_function_ptr_type(d->ctx, NULL, ret, (int)n, ts, 0);
  free(ts);
  return t;
}

/* A checked call_indirect's callee (of the site's type by now): when it is
 * a function of this instance that this package has (d->itab), its
 * internal function is called natively, arguments in registers; any other
 * goes through its FuncEntry. A host function's FuncInst names the
 * importer and index 0, which is then an import: never in the table. */
static void call_native_or_entry(Fn *fn, gcc_jit_lvalue *callee, uint32_t typeidx) {
  Dcm *d = fn->d;
  const WasmFuncType *ft = &d->m->types[typeidx];
  gcc_jit_lvalue *native = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "native");
  gcc_jit_block *lookup = fn_block(fn), *have = fn_block(fn), *entry = fn_block(fn);
  gcc_jit_block *join = fn_block(fn);
  gcc_jit_rvalue *ours = gcc_jit_context_new_comparison(
      fn->ctx, NULL, GCC_JIT_COMPARISON_EQ, rv(ABI_FIELD(fn, rv(callee), FUNCINST_INST, d->t_vptr)),
      rv(fn->inst));
  gcc_jit_block_end_with_conditional(fn->cur, NULL, ours, lookup, entry);
  fn->cur = lookup;
  gcc_jit_rvalue *index = rv(ABI_FIELD(fn, rv(callee), FUNCINST_INDEX, d->t_u32));
  fn_assign(fn, native, rv(gcc_jit_context_new_array_access(fn->ctx, NULL, rv(d->itab), index)));
  gcc_jit_block_end_with_conditional(
      fn->cur, NULL,
      gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE, rv(native),
                                     gcc_jit_context_null(fn->ctx, d->t_vptr)),
      have, entry);
  uint32_t sh = fn->sh; /* both ways leave the results in the same variables */
  fn->cur = have;
  call_internal(fn, 0,
                gcc_jit_context_new_cast(fn->ctx, NULL, rv(native), internal_ptr_type(d, ft)), ft);
  gcc_jit_block_end_with_jump(fn->cur, NULL, join);
  fn->sh = sh;
  fn->cur = entry;
  call_through_entry(fn, rv(callee), ft);
  gcc_jit_block_end_with_jump(fn->cur, NULL, join);
  fn->cur = join;
}

static bool same_type(const WasmFuncType *a, const WasmFuncType *b) {
  size_t n = a->nparams + a->nresults; /* types is NULL for [] -> [] */
  return a->nparams == b->nparams && a->nresults == b->nresults &&
         (n == 0 || memcmp(a->types, b->types, n * sizeof *a->types) == 0);
}

static int by_site(const void *key, const void *elem) {
  const DcmCallHint *k = key, *h = elem;
  if (k->caller != h->caller)
    return k->caller < h->caller ? -1 : 1;
  return (k->site > h->site) - (k->site < h->site);
}

/* The hinted target of the call_indirect being translated, when it is in
 * this package with the site's type (then a direct call of it is exactly
 * the indirect call, whenever the element is it); else UINT32_MAX. */
static uint32_t hinted_target(Fn *fn, uint32_t typeidx) {
  Dcm *d = fn->d;
  DcmCallHint key = {.caller = fn->index, .site = fn->at};
  const DcmProfile *p = d->profile;
  const DcmCallHint *h = d->tier == DCM_HOT && p->nhints
                             ? bsearch(&key, p->hints, p->nhints, sizeof *h, by_site)
                             : NULL;
  if (!h || h->callee >= d->m->nfuncs || !d->internal[h->callee] ||
      !same_type(wasm_func_type(d->m, h->callee), &d->m->types[typeidx]))
    return UINT32_MAX;
  return h->callee;
}

/* The interpreter's checks, in its order: undefined, uninitialized, type.
 * With a profile hint (hot), the element is first compared with the
 * target the site calls most, which is then called directly: no type
 * check (it has the site's type), and gcc may inline it. */
static void op_call_indirect(Fn *fn, uint32_t typeidx, uint32_t table) {
  Dcm *d = fn->d;
  uint32_t target = hinted_target(fn, typeidx);
  gcc_jit_rvalue *i = fn_pop(fn);
  gcc_jit_lvalue *tab = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "tab");
  fn_assign(fn, tab, fn_table_inst(fn, table));
  gcc_jit_rvalue *size = rv(ABI_FIELD(fn, rv(tab), TABLEINST_SIZE, d->t_u32));
  fn_trap_if(fn, gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_GE, i, size),
             TRAP_UNDEFINED_ELEMENT);
  gcc_jit_rvalue *elems = rv(ABI_FIELD(fn, rv(tab), TABLEINST_ELEMS, d->t_vptr));
  gcc_jit_lvalue *callee = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "icallee");
  fn_assign(fn, callee, rv(dcm_index(d, elems, d->t_vptr, i)));
  gcc_jit_block *join = NULL;
  if (target != UINT32_MAX) {
    gcc_jit_rvalue *is = gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_EQ,
                                                        rv(callee), func_inst(fn, target));
    gcc_jit_rvalue *args[2] = {dcm_cast(d, is, d->t_long), gcc_jit_context_one(fn->ctx, d->t_long)};
    gcc_jit_rvalue *likely =
        gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE,
                                       gcc_jit_context_new_call(fn->ctx, NULL, d->expect, 2, args),
                                       gcc_jit_context_zero(fn->ctx, d->t_long));
    gcc_jit_block *direct = fn_block(fn), *checked = fn_block(fn);
    join = fn_block(fn);
    gcc_jit_block_end_with_conditional(fn->cur, NULL, likely, direct, checked);
    uint32_t sh = fn->sh; /* both ways leave the results in the same variables */
    fn->cur = direct;
    call_internal(fn, target, NULL, &d->m->types[typeidx]);
    gcc_jit_block_end_with_jump(fn->cur, NULL, join);
    fn->sh = sh;
    fn->cur = checked;
  }
  fn_trap_if(fn,
             gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_EQ, rv(callee),
                                            gcc_jit_context_null(fn->ctx, d->t_vptr)),
             TRAP_UNINITIALIZED_ELEMENT);
  /* The expected Sig: f->inst->module->sigs[typeidx]. */
  gcc_jit_rvalue *module = rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_MODULE, d->t_vptr));
  gcc_jit_rvalue *sigs = rv(ABI_FIELD(fn, module, MODULE_SIGS, d->t_vptr));
  gcc_jit_rvalue *want = rv(dcm_index(d, sigs, d->t_vptr, dcm_u32(d, typeidx)));
  gcc_jit_rvalue *have = rv(ABI_FIELD(fn, rv(callee), FUNCINST_SIG, d->t_vptr));
  fn_trap_if(fn, gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_NE, have, want),
             TRAP_INDIRECT_MISMATCH);
  if (d->itab)
    call_native_or_entry(fn, callee, typeidx);
  else
    call_through_entry(fn, rv(callee), &d->m->types[typeidx]);
  if (join) {
    gcc_jit_block_end_with_jump(fn->cur, NULL, join);
    fn->cur = join;
  }
}

/* --- variables -------------------------------------------------------------------------- */

/* A global's value as a slot (from_slot/to_slot convert). */
static gcc_jit_lvalue *global_value(Fn *fn, uint32_t x) {
  gcc_jit_rvalue *g = fn_inst_item(fn, KILN_ABI_INSTANCE_GLOBALS, x);
  return ABI_FIELD(fn, g, GLOBALINST_VALUE, fn->d->t_u64);
}

static void op_global_get(Fn *fn, uint32_t x) {
  WasmValType t = fn->d->m->globals[x].type.type;
  gcc_jit_rvalue *v = from_slot(fn, rv(global_value(fn, x)), t);
  fn_assign(fn, fn_push(fn, t), v);
}

static void op_global_set(Fn *fn, uint32_t x) {
  WasmValType t = fn->d->m->globals[x].type.type;
  gcc_jit_rvalue *v = fn_pop(fn);
  fn_assign(fn, global_value(fn, x), to_slot(fn, v, t));
}

static void op_select(Fn *fn) {
  gcc_jit_rvalue *c = fn_pop(fn), *b = fn_pop(fn);
  (void)fn_pop(fn);
  WasmValType t = fn->stype[fn->sh];
  gcc_jit_lvalue *dst = fn_push(fn, t); /* the same local as a: keep a unless c is 0 */
  gcc_jit_block *take_b = fn_block(fn), *join = fn_block(fn);
  gcc_jit_block_end_with_conditional(
      fn->cur, NULL,
      gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_EQ, c, dcm_u32(fn->d, 0)),
      take_b, join);
  gcc_jit_block_add_assignment(take_b, NULL, dst, b);
  gcc_jit_block_end_with_jump(take_b, NULL, join);
  fn->cur = join;
}

/* --- the instruction loop ---------------------------------------------------------------- */

/* An instruction in unreachable code: only its immediates are skipped, but
 * structure (block, loop, if, else, end) is still followed. */
static void skip_dead(Fn *fn, CodeReader *r, uint8_t op) {
  if (wasm_imm(op) == WASM_IMM_BLOCKTYPE)
    ctl_push(fn, CTL_BLOCK)->dead = true;
  code_skip_immediates(r, op);
}

/* Whether the body loads or stores (hot code then keeps guard_func
 * current; functions without accesses need not). */
static bool body_has_access(const WasmFunc *wf) {
  CodeReader r = code_reader(wf->body, wf->body + wf->body_len);
  while (r.p < r.end) {
    uint8_t op = code_u8(&r);
    if (op >= WASM_OP_I32_LOAD && op <= WASM_OP_I64_STORE32)
      return true;
    code_skip_immediates(&r, op);
  }
  return false;
}

static void local_get(Fn *fn, uint32_t x) {
  WasmValType t = fn->local_types[x];
  fn_assign(fn, fn_push(fn, t), rv(fn->locals[x]));
}

/* One live instruction. False on an opcode the compiler lacks. */
static bool step(Fn *fn, CodeReader *r, uint8_t op) {
  Dcm *d = fn->d;
  uint32_t x, y;
  switch (op) {
  case WASM_OP_UNREACHABLE:
    trap_now(fn, TRAP_UNREACHABLE);
    return true;
  case WASM_OP_NOP:
    return true;
  case WASM_OP_BLOCK:
    op_block(fn, r, CTL_BLOCK);
    return true;
  case WASM_OP_LOOP:
    op_block(fn, r, CTL_LOOP);
    return true;
  case WASM_OP_IF:
    op_block(fn, r, CTL_IF);
    return true;
  case WASM_OP_BR:
    branch_from(fn, fn->cur, code_u32(r));
    fn->cur = NULL;
    return true;
  case WASM_OP_BR_IF:
    op_br_if(fn, code_u32(r));
    return true;
  case WASM_OP_BR_TABLE:
    op_br_table(fn, r);
    return true;
  case WASM_OP_RETURN:
    branch_from(fn, fn->cur, fn->nctl - 1);
    fn->cur = NULL;
    return true;
  case WASM_OP_CALL:
    op_call(fn, code_u32(r));
    return true;
  case WASM_OP_CALL_INDIRECT:
    x = code_u32(r);
    y = code_u32(r);
    op_call_indirect(fn, x, y);
    return true;
  case WASM_OP_DROP:
    fn->sh--;
    return true;
  case WASM_OP_SELECT:
    op_select(fn);
    return true;
  case WASM_OP_SELECT_T:
    code_skip_immediates(r, op); /* the type: the operands have theirs */
    op_select(fn);
    return true;
  case WASM_OP_LOCAL_GET:
    local_get(fn, code_u32(r));
    return true;
  case WASM_OP_LOCAL_SET:
    x = code_u32(r);
    fn_assign(fn, fn->locals[x], fn_pop(fn));
    return true;
  case WASM_OP_LOCAL_TEE:
    x = code_u32(r);
    fn_assign(fn, fn->locals[x], rv(svar(fn, fn->sh - 1, top_type(fn, 0))));
    return true;
  case WASM_OP_GLOBAL_GET:
    op_global_get(fn, code_u32(r));
    return true;
  case WASM_OP_GLOBAL_SET:
    op_global_set(fn, code_u32(r));
    return true;
  case WASM_OP_TABLE_GET:
    jit_table_get(fn, code_u32(r));
    return true;
  case WASM_OP_TABLE_SET:
    jit_table_set(fn, code_u32(r));
    return true;
  case WASM_OP_MEMORY_SIZE:
    code_u8(r); /* memory index */
    fn_assign(fn, fn_push(fn, WASM_I32),
              rv(ABI_FIELD(fn, fn_mem0(fn), MEMORYINST_PAGES, d->t_u32)));
    return true;
  case WASM_OP_MEMORY_GROW:
    code_u8(r);
    jit_memory_grow(fn);
    return true;
  case WASM_OP_I32_CONST:
    fn_assign(fn, fn_push(fn, WASM_I32), dcm_u32(d, (uint32_t)code_sleb(r)));
    return true;
  case WASM_OP_I64_CONST:
    fn_assign(fn, fn_push(fn, WASM_I64), dcm_u64(d, (uint64_t)code_sleb(r)));
    return true;
  case WASM_OP_F32_CONST: {
    uint32_t bits = (uint32_t)code_fixed(r, 4);
    fn_assign(fn, fn_push(fn, WASM_F32), jit_f32_bits(fn, bits));
    return true;
  }
  case WASM_OP_F64_CONST: {
    uint64_t bits = code_fixed(r, 8);
    fn_assign(fn, fn_push(fn, WASM_F64), jit_f64_bits(fn, bits));
    return true;
  }
  case WASM_OP_REF_NULL: {
    WasmValType t = code_u8(r);
    fn_assign(fn, fn_push(fn, t), gcc_jit_context_null(fn->ctx, d->t_vptr));
    return true;
  }
  case WASM_OP_REF_IS_NULL: {
    gcc_jit_rvalue *a = fn_pop(fn);
    fn_assign(fn, fn_push(fn, WASM_I32),
              dcm_cast(d,
                       gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_EQ, a,
                                                      gcc_jit_context_null(fn->ctx, d->t_vptr)),
                       d->t_u32));
    return true;
  }
  case WASM_OP_REF_FUNC:
    fn_assign(fn, fn_push(fn, WASM_FUNCREF), func_inst(fn, code_u32(r)));
    return true;
  case WASM_OP_PREFIX_FC:
    return jit_prefixed(fn, r);
  default:
    break;
  }
  if (op >= WASM_OP_I32_LOAD && op <= WASM_OP_I64_LOAD32_U) {
    code_u32(r); /* alignment: a hint only */
    jit_load(fn, op, code_u32(r));
    return true;
  }
  if (op >= WASM_OP_I32_STORE && op <= WASM_OP_I64_STORE32) {
    code_u32(r);
    jit_store(fn, op, code_u32(r));
    return true;
  }
  if (jit_numeric(fn, op))
    return true;
  dcm_fail(d, "opcode 0x%02x not supported by the compiler yet", op);
  return false;
}

static bool translate_body(Fn *fn) {
  const WasmFunc *wf = &fn->d->m->funcs[fn->index];
  CodeReader r = code_reader(wf->body, wf->body + wf->body_len);
  Ctl *c = ctl_push(fn, CTL_FUNC);
  c->nresults = fn->type->nresults;
  c->results = fn->type->types + fn->type->nparams;
  c->height = 0;
  while (r.p < r.end) {
    uint8_t op = code_u8(&r);
    bool dead = fn->cur == NULL;
    if (op == WASM_OP_END) {
      if (op_end(fn))
        return true;
    } else if (op == WASM_OP_ELSE) {
      op_else(fn);
    } else if (dead) {
      skip_dead(fn, &r, op);
    } else {
      fn->at = (uint32_t)(r.p - 1 - wf->body);
      if (!step(fn, &r, op))
        return false;
    }
  }
  return true;
}

/* --- prologue ------------------------------------------------------------------------------- */

/* Native stack (deep recursion) and operand stack (the slots its calls
 * write) checks, then where hot code is for the fault handler. */
static void emit_stack_checks(Fn *fn) {
  Dcm *d = fn->d;
  gcc_jit_lvalue *probe = gcc_jit_function_new_local(fn->fn, NULL, d->t_u64, "probe");
  gcc_jit_rvalue *here = dcm_bitcast(d, gcc_jit_lvalue_get_address(probe, NULL), d->t_u64);
  gcc_jit_rvalue *limit = rv(ABI_FIELD(fn, fn->t, THREAD_NATIVE_LIMIT, d->t_u64));
  fn_trap_if(fn, gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_LT, here, limit),
             TRAP_STACK_EXHAUSTED);
  if (fn->max_out) {
    gcc_jit_rvalue *end =
        dcm_bitcast(d, rv(ABI_FIELD(fn, fn->t, THREAD_STACK_END, d->t_vptr)), d->t_u64);
    gcc_jit_rvalue *room = gcc_jit_context_new_binary_op(
        fn->ctx, NULL, GCC_JIT_BINARY_OP_MINUS, d->t_u64, end, dcm_bitcast(d, fn->sp, d->t_u64));
    fn_trap_if(fn,
               gcc_jit_context_new_comparison(fn->ctx, NULL, GCC_JIT_COMPARISON_LT, room,
                                              dcm_u64(d, (uint64_t)fn->max_out * 8)),
               TRAP_STACK_EXHAUSTED);
  }
  guard_note(fn, false);
  loop_note(fn); /* none: an earlier activation's loop may still be named */
}

/* The locals' first values: the first `from_slots` from the frame's slots
 * (the parameters from params instead, if given), the others zero. */
static void load_locals(Fn *fn, gcc_jit_param **params, uint32_t from_slots) {
  Dcm *d = fn->d;
  for (uint32_t i = 0; i < fn->nlocals; i++) {
    WasmValType t = fn->local_types[i];
    gcc_jit_rvalue *v;
    if (params && i < fn->type->nparams)
      v = gcc_jit_param_as_rvalue(params[i]);
    else if (i < from_slots)
      v = from_slot(fn, rv(slot(fn, fn->sp, i)), t);
    else if (dcm_vc(t) == VC_REF)
      v = gcc_jit_context_null(fn->ctx, d->t_vptr);
    else
      v = gcc_jit_context_zero(fn->ctx, d->vc_type[dcm_vc(t)]);
    fn_assign(fn, fn->locals[i], v);
  }
}

/* The runtime pointers first (traps name the function through the
 * instance), native stack (deep recursion) and operand stack (slots the
 * calls write) checks, then parameters and zeroed locals. */
static void emit_prologue(Fn *fn, gcc_jit_param **params) {
  Dcm *d = fn->d;
  fn->cur = fn->entry;
  if (fn->f)
    fn_assign(fn, fn->inst, rv(ABI_FIELD(fn, fn->f, FUNCINST_INST, d->t_vptr)));
  else
    fn_assign(fn, fn->inst, gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn->fn, 1)));
  if (fn->membase_param) {
    fn_assign(fn, fn->membase, fn->membase_param);
  } else if (fn->mem0) {
    fn_assign(fn, fn->mem0, rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_MEM0, d->t_vptr)));
    fn_assign(fn, fn->membase, rv(ABI_FIELD(fn, rv(fn->mem0), MEMORYINST_BASE, d->t_u8ptr)));
    fn_reload_memsize(fn);
  }
  emit_stack_checks(fn);
  load_locals(fn, params, fn->type->nparams);
  gcc_jit_block_end_with_jump(fn->cur, NULL, fn->body);
}

/* --- declaring and defining ------------------------------------------------------------------ */

static gcc_jit_function *new_entry(Dcm *d, const char *name, enum gcc_jit_function_kind kind) {
  gcc_jit_param *ps[3] = {gcc_jit_context_new_param(d->ctx, NULL, d->t_vptr, "t"),
                          gcc_jit_context_new_param(d->ctx, NULL, d->t_vptr, "f"),
                          gcc_jit_context_new_param(d->ctx, NULL, d->t_u64ptr, "sp")};
  return gcc_jit_context_new_function(d->ctx, NULL, kind, d->t_void, name, 3, ps, 0);
}

/* Hot: kiln_i<index>(t, inst, sp, [membase,] params..., &result1, ...)
 * returning result 0. */
static gcc_jit_function *new_internal(Dcm *d, uint32_t index) {
  const WasmFuncType *ft = wasm_func_type(d->m, index);
  uint32_t np = ft->nparams, fixed = internal_fixed(d);
  size_t n;
  gcc_jit_type *ret, **ts = internal_signature(d, ft, &n, &ret);
  gcc_jit_param **ps = malloc(n * sizeof *ps);
  static const char *const fixed_names[] = {"t", "inst", "sp", "membase"};
  char name[32];
  for (size_t i = 0; ts && ps && i < n; i++) {
    if (i < fixed)
      snprintf(name, sizeof name, "%s", fixed_names[i]);
    else if (i < fixed + np)
      snprintf(name, sizeof name, "p%u", (unsigned)(i - fixed));
    else
      snprintf(name, sizeof name, "r%u", (unsigned)(i - fixed - np + 1));
    ps[i] = gcc_jit_context_new_param(d->ctx, NULL, ts[i], name);
  }
  snprintf(name, sizeof name, KILN_PACKAGE_INTERNAL_PREFIX "%u", index);
  gcc_jit_function *fn = ts && ps
                             ? gcc_jit_context_new_function(d->ctx, NULL, GCC_JIT_FUNCTION_INTERNAL,
                                                            ret, name, (int)n, ps, 0)
                             : NULL;
  if (!ts || !ps)
    dcm_fail(d, "out of memory");
  free(ts);
  free(ps);
  return fn;
}

/* The types of the call_indirect sites of function x, added to want[]
 * (per type index). */
static void indirect_types(const Dcm *d, uint32_t x, bool *want) {
  const WasmFunc *wf = &d->m->funcs[x];
  CodeReader r = code_reader(wf->body, wf->body + wf->body_len);
  while (r.p < r.end) {
    uint8_t op = code_u8(&r);
    if (op == WASM_OP_CALL_INDIRECT) {
      want[code_u32(&r)] = true;
      (void)code_u32(&r); /* the table */
    } else {
      code_skip_immediates(&r, op);
    }
  }
}

void jit_declare_itab(Dcm *d, const uint32_t *funcs, uint32_t n) {
  const WasmModule *m = d->m;
  bool *want = calloc(m->ntypes + 1, sizeof *want);
  gcc_jit_rvalue **addr = calloc(m->nfuncs + 1, sizeof *addr);
  bool any = false;
  for (uint32_t i = 0; want && i < n; i++)
    indirect_types(d, funcs[i], want);
  /* Only functions a site may call: taking the address of every one would
   * keep gcc from dropping those it inlined everywhere. */
  for (uint32_t i = 0; want && addr && i < n; i++) {
    const WasmFuncType *ft = wasm_func_type(m, funcs[i]);
    if (!d->internal[funcs[i]]) /* an osr_body function: called through its entry */
      continue;
    for (uint32_t t = 0; t < m->ntypes && !addr[funcs[i]]; t++)
      if (want[t] && same_type(&m->types[t], ft)) {
        addr[funcs[i]] = gcc_jit_context_new_cast(
            d->ctx, NULL, gcc_jit_function_get_address(d->internal[funcs[i]], NULL), d->t_vptr);
        any = true;
      }
  }
  if (any) {
    for (uint32_t i = 0; i < m->nfuncs; i++)
      if (!addr[i])
        addr[i] = gcc_jit_context_null(d->ctx, d->t_vptr);
    gcc_jit_type *at = gcc_jit_context_new_array_type(d->ctx, NULL, d->t_vptr, (int)m->nfuncs);
    d->itab = gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_INTERNAL, at, "kiln_itab");
    gcc_jit_global_set_initializer_rvalue(
        d->itab, gcc_jit_context_new_array_constructor(d->ctx, NULL, at, m->nfuncs, addr));
  }
  free(want);
  free(addr);
}

void jit_declare(Dcm *d, uint32_t index, bool osr_body) {
  d->entry[index] = new_entry(d, d->symbol[index], GCC_JIT_FUNCTION_EXPORTED);
  if (d->tier == DCM_HOT && !osr_body)
    d->internal[index] = new_internal(d, index);
}

static gcc_jit_rvalue *is_not(Dcm *d, gcc_jit_rvalue *v, int value) {
  return gcc_jit_context_new_comparison(
      d->ctx, NULL, GCC_JIT_COMPARISON_NE, v,
      gcc_jit_context_new_rvalue_from_int(d->ctx, d->t_int, value));
}

static gcc_jit_rvalue *unlikely(Dcm *d, gcc_jit_rvalue *cond) {
  gcc_jit_rvalue *args[2] = {dcm_cast(d, cond, d->t_long), gcc_jit_context_zero(d->ctx, d->t_long)};
  return gcc_jit_context_new_comparison(d->ctx, NULL, GCC_JIT_COMPARISON_NE,
                                        gcc_jit_context_new_call(d->ctx, NULL, d->expect, 2, args),
                                        gcc_jit_context_zero(d->ctx, d->t_long));
}

/* Unchecked code may run only once the package's code is registered with
 * the fault handler and when the instance's memory has the full guard
 * reservation; otherwise the interpreter runs the function (a FuncEntry),
 * or goes on (an OSR entry declines), with the same results, so nothing
 * depends on it but speed. Leaves fn->cur where the compiled function may
 * run, and returns the block for the other case, for the caller to end. */
static gcc_jit_block *guard_gate(Fn *fn) {
  Dcm *d = fn->d;
  gcc_jit_block *slow = fn_block(fn), *ready = fn_block(fn), *fallback = fn_block(fn);
  gcc_jit_block *go = fn_block(fn);
  gcc_jit_rvalue *flag = rv(d->guard_ready);
  gcc_jit_block_end_with_conditional(
      fn->cur, NULL, unlikely(d, is_not(d, flag, KILN_ABI_GUARD_READY)), slow, ready);
  gcc_jit_rvalue *flag_addr = gcc_jit_lvalue_get_address(d->guard_ready, NULL);
  gcc_jit_block_add_eval(slow, NULL,
                         gcc_jit_context_new_call_through_ptr(
                             d->ctx, NULL, dcm_import(d, KILN_IMP_GUARD_READY), 1, &flag_addr));
  gcc_jit_block_end_with_conditional(slow, NULL, is_not(d, flag, KILN_ABI_GUARD_READY), fallback,
                                     ready);
  gcc_jit_rvalue *reserved = rv(ABI_FIELD(fn, rv(fn->mem0), MEMORYINST_RESERVED, d->t_u64));
  gcc_jit_rvalue *small = gcc_jit_context_new_comparison(
      d->ctx, NULL, GCC_JIT_COMPARISON_LT, reserved, dcm_u64(d, MEMORY_GUARDED_RESERVE));
  gcc_jit_block_end_with_conditional(ready, NULL, unlikely(d, small), fallback, go);
  fn->cur = go;
  gcc_jit_lvalue *gi =
      ABI_FIELD(fn, fn->t, THREAD_GUARD_INST, gcc_jit_type_get_volatile(d->t_vptr));
  fn_assign(fn, gi, rv(fn->inst));
  return fallback;
}

/* Hot: the exported FuncEntry unpacks the slots and calls the internal
 * function. */
static void define_wrapper(Dcm *d, uint32_t index) {
  const WasmFuncType *ft = wasm_func_type(d->m, index);
  uint32_t np = ft->nparams, nr = ft->nresults, fixed = internal_fixed(d);
  gcc_jit_function *w = d->entry[index];
  Fn fn = {.d = d, .ctx = d->ctx, .index = index, .type = ft, .fn = w};
  fn.t = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 0));
  fn.f = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 1));
  fn.sp = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 2));
  fn.cur = fn_block(&fn);
  fn.inst = gcc_jit_function_new_local(w, NULL, d->t_vptr, "inst");
  fn_assign(&fn, fn.inst, rv(ABI_FIELD(&fn, fn.f, FUNCINST_INST, d->t_vptr)));
  if (d->unchecked) {
    fn.mem0 = gcc_jit_function_new_local(w, NULL, d->t_vptr, "mem0");
    fn_assign(&fn, fn.mem0, rv(ABI_FIELD(&fn, rv(fn.inst), INSTANCE_MEM0, d->t_vptr)));
    gcc_jit_block *fallback = guard_gate(&fn);
    gcc_jit_rvalue *args[3] = {fn.t, fn.f, fn.sp};
    gcc_jit_block_add_eval(fallback, NULL,
                           gcc_jit_context_new_call_through_ptr(
                               d->ctx, NULL, dcm_import(d, KILN_IMP_INTERP_ENTRY), 3, args));
    gcc_jit_block_end_with_void_return(fallback, NULL);
  }
  size_t nargs = fixed + np + (nr > 1 ? nr - 1 : 0);
  gcc_jit_rvalue **args = malloc(nargs * sizeof *args);
  gcc_jit_lvalue **outs = calloc(nr ? nr : 1, sizeof *outs);
  args[0] = fn.t;
  args[1] = rv(fn.inst);
  args[2] = fn.sp;
  if (d->unchecked)
    args[3] = rv(ABI_FIELD(&fn, rv(fn.mem0), MEMORYINST_BASE, d->t_u8ptr));
  for (uint32_t i = 0; i < np; i++)
    args[fixed + i] = from_slot(&fn, rv(slot(&fn, fn.sp, i)), ft->types[i]);
  for (uint32_t i = 1; i < nr; i++) {
    outs[i] = gcc_jit_function_new_local(w, NULL, d->vc_type[dcm_vc(ft->types[np + i])], "out");
    args[fixed + np + i - 1] = gcc_jit_lvalue_get_address(outs[i], NULL);
  }
  gcc_jit_rvalue *call =
      gcc_jit_context_new_call(d->ctx, NULL, d->internal[index], (int)nargs, args);
  if (nr) {
    gcc_jit_lvalue *r0 =
        gcc_jit_function_new_local(w, NULL, d->vc_type[dcm_vc(ft->types[np])], "r0");
    fn_assign(&fn, r0, call);
    fn_assign(&fn, slot(&fn, fn.sp, 0), to_slot(&fn, rv(r0), ft->types[np]));
  } else {
    gcc_jit_block_add_eval(fn.cur, NULL, call);
  }
  for (uint32_t i = 1; i < nr; i++)
    fn_assign(&fn, slot(&fn, fn.sp, i), to_slot(&fn, rv(outs[i]), ft->types[np + i]));
  gcc_jit_block_end_with_void_return(fn.cur, NULL);
  free(args);
  free(outs);
}

static void fn_free(Fn *fn) {
  for (uint32_t i = 0; i < fn->nloops; i++)
    free(fn->loops[i].types);
  free(fn->loops);
  free(fn->local_types);
  free(fn->locals);
  free(fn->stype);
  free(fn->svar);
  free(fn->ctl);
  free(fn->outs);
}

static void setup_locals(Fn *fn) {
  const WasmFunc *wf = &fn->d->m->funcs[fn->index];
  fn->nlocals = fn->type->nparams + wf->nlocals;
  fn->local_types = malloc((fn->nlocals ? fn->nlocals : 1) * sizeof *fn->local_types);
  fn->locals = malloc((fn->nlocals ? fn->nlocals : 1) * sizeof *fn->locals);
  if (fn->type->nparams) /* types is NULL for a [] -> [] function */
    memcpy(fn->local_types, fn->type->types, fn->type->nparams);
  if (wf->nlocals)
    memcpy(fn->local_types + fn->type->nparams, wf->local_types, wf->nlocals);
  for (uint32_t i = 0; i < fn->nlocals; i++) {
    char name[24];
    snprintf(name, sizeof name, "l%u", i);
    fn->locals[i] =
        gcc_jit_function_new_local(fn->fn, NULL, fn->d->vc_type[dcm_vc(fn->local_types[i])], name);
  }
}

/* What every body needs before its first instruction: the entry and body
 * blocks, the instance and memory variables, the locals; then it is
 * translated into the body block. */
static void frame(Fn *fn) {
  Dcm *d = fn->d;
  fn->entry = fn_block(fn);
  fn->body = fn_block(fn);
  fn->inst = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "inst");
  if (d->m->nmemories) {
    fn->mem0 = gcc_jit_function_new_local(fn->fn, NULL, d->t_vptr, "mem0");
    fn->membase = gcc_jit_function_new_local(fn->fn, NULL, d->t_u8ptr, "membase");
    if (!d->unchecked)
      fn->memsize = gcc_jit_function_new_local(fn->fn, NULL, d->t_u64, "memsize");
  }
  setup_locals(fn);
  fn->cur = fn->body;
}

void jit_define(Dcm *d, uint32_t index) {
  bool hot = d->tier == DCM_HOT;
  Fn fn = {.d = d, .ctx = d->ctx, .index = index, .type = wasm_func_type(d->m, index)};
  fn.fn = hot ? d->internal[index] : d->entry[index];
  fn.t = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn.fn, 0));
  if (!hot)
    fn.f = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn.fn, 1));
  fn.sp = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn.fn, 2));
  fn.has_access = body_has_access(&d->m->funcs[index]);
  fn.has_loops = jit_has_loop(&d->m->funcs[index]);
  gcc_jit_param **params = NULL;
  if (hot) {
    uint32_t np = fn.type->nparams, nr = fn.type->nresults, fixed = internal_fixed(d);
    params = malloc((np + 1) * sizeof *params);
    fn.outs = calloc(nr ? nr : 1, sizeof *fn.outs);
    for (uint32_t i = 0; i < np; i++)
      params[i] = gcc_jit_function_get_param(fn.fn, (int)(fixed + i));
    for (uint32_t i = 1; i < nr; i++)
      fn.outs[i] = gcc_jit_function_get_param(fn.fn, (int)(fixed + np + i - 1));
    if (d->unchecked)
      fn.membase_param = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(fn.fn, 3));
  }
  frame(&fn);
  if (translate_body(&fn))
    emit_prologue(&fn, params);
  if (hot && !d->failed)
    define_wrapper(d, index);
  free(params);
  fn_free(&fn);
}

/* --- on-stack replacement ----------------------------------------------------------------- */

bool jit_has_loop(const WasmFunc *wf) {
  CodeReader r = code_reader(wf->body, wf->body + wf->body_len);
  while (r.p < r.end) {
    uint8_t op = code_u8(&r);
    if (op == WASM_OP_LOOP)
      return true;
    code_skip_immediates(&r, op);
  }
  return false;
}

/* The interpreter's frame becomes this code's state: every local from its
 * slot, then, at the loop named, the operand stack from its home slots;
 * then a jump to that loop's header. An unknown loop declines. */
static void emit_osr_prologue(Fn *fn, gcc_jit_rvalue *loop) {
  Dcm *d = fn->d;
  fn->cur = fn->entry;
  fn_assign(fn, fn->inst, rv(ABI_FIELD(fn, fn->f, FUNCINST_INST, d->t_vptr)));
  if (fn->mem0) {
    fn_assign(fn, fn->mem0, rv(ABI_FIELD(fn, rv(fn->inst), INSTANCE_MEM0, d->t_vptr)));
    fn_assign(fn, fn->membase, rv(ABI_FIELD(fn, rv(fn->mem0), MEMORYINST_BASE, d->t_u8ptr)));
    fn_reload_memsize(fn);
  }
  if (d->unchecked) /* declines: the interpreter goes on */
    gcc_jit_block_end_with_return(guard_gate(fn), NULL, gcc_jit_context_zero(d->ctx, d->t_int));
  emit_stack_checks(fn);
  /* KILN_ABI_OSR_TOP is a call: the parameters in their slots, the other
   * locals zero (the FuncEntry of an osr_body function; the agent never
   * asks for it). */
  gcc_jit_block *call = fn_block(fn), *dispatch = fn_block(fn);
  gcc_jit_rvalue *top = dcm_u32(d, KILN_ABI_OSR_TOP);
  gcc_jit_block_end_with_conditional(
      fn->cur, NULL, gcc_jit_context_new_comparison(d->ctx, NULL, GCC_JIT_COMPARISON_EQ, loop, top),
      call, dispatch);
  fn->cur = call;
  load_locals(fn, NULL, fn->type->nparams);
  gcc_jit_block_end_with_jump(fn->cur, NULL, fn->body);
  fn->cur = dispatch;
  load_locals(fn, NULL, fn->nlocals);
  dispatch = fn->cur;
  uint32_t base = KILN_ABI_OSR_STACK_SLOT(fn->nlocals);
  gcc_jit_block *decline = fn_block(fn);
  gcc_jit_block_end_with_return(decline, NULL, gcc_jit_context_zero(d->ctx, d->t_int));
  gcc_jit_case **cases = malloc((fn->nloops + 1) * sizeof *cases);
  for (uint32_t k = 0; k < fn->nloops; k++) {
    const OsrLoop *l = &fn->loops[k];
    fn->cur = fn_block(fn);
    for (uint32_t h = 0; h < l->height; h++)
      fn_assign(fn, svar(fn, h, l->types[h]),
                from_slot(fn, rv(slot(fn, fn->sp, base + h)), l->types[h]));
    store_loop(fn, l->offset);
    gcc_jit_block_end_with_jump(fn->cur, NULL, l->header);
    gcc_jit_rvalue *at = dcm_u32(d, l->offset);
    cases[k] = gcc_jit_context_new_case(d->ctx, at, at, fn->cur);
  }
  gcc_jit_block_end_with_switch(dispatch, NULL, loop, decline, (int)fn->nloops, cases);
  free(cases);
  fn->cur = NULL;
}

/* kiln_o<index>(t, f, fp, loop): the function once more, entered at one
 * of its loops with the interpreter's frame (package ABI). */
gcc_jit_function *jit_define_osr(Dcm *d, uint32_t index) {
  if (!jit_has_loop(&d->m->funcs[index]))
    return NULL;
  char name[48];
  snprintf(name, sizeof name, KILN_PACKAGE_OSR_PREFIX "%u", index);
  gcc_jit_param *ps[4] = {gcc_jit_context_new_param(d->ctx, NULL, d->t_vptr, "t"),
                          gcc_jit_context_new_param(d->ctx, NULL, d->t_vptr, "f"),
                          gcc_jit_context_new_param(d->ctx, NULL, d->t_u64ptr, "fp"),
                          gcc_jit_context_new_param(d->ctx, NULL, d->t_u32, "loop")};
  Fn fn = {.d = d, .ctx = d->ctx, .index = index, .type = wasm_func_type(d->m, index), .osr = true};
  fn.fn = gcc_jit_context_new_function(d->ctx, NULL, GCC_JIT_FUNCTION_EXPORTED, d->t_int, name, 4,
                                       ps, 0);
  fn.t = gcc_jit_param_as_rvalue(ps[0]);
  fn.f = gcc_jit_param_as_rvalue(ps[1]);
  fn.sp = gcc_jit_param_as_rvalue(ps[2]);
  fn.has_access = body_has_access(&d->m->funcs[index]);
  fn.has_loops = jit_has_loop(&d->m->funcs[index]);
  frame(&fn);
  if (translate_body(&fn))
    emit_osr_prologue(&fn, gcc_jit_param_as_rvalue(ps[3]));
  fn_free(&fn);
  return fn.fn;
}

/* entry(t, f, sp): kiln_o<index>(t, f, sp, KILN_ABI_OSR_TOP), or the
 * interpreter when that declines. The call goes through a pointer gcc
 * cannot follow, so that it neither inlines nor clones the body for it:
 * that would be the second body an osr_body function does without. */
void jit_define_osr_caller(Dcm *d, uint32_t index, gcc_jit_function *osr) {
  gcc_jit_function *w = d->entry[index];
  gcc_jit_rvalue *t = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 0));
  gcc_jit_rvalue *f = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 1));
  gcc_jit_rvalue *sp = gcc_jit_param_as_rvalue(gcc_jit_function_get_param(w, 2));
  gcc_jit_rvalue *addr = gcc_jit_function_get_address(osr, NULL);
  /* The address sits in an exported variable: code outside the package
   * could change it, so gcc cannot see the target. */
  char name[48];
  snprintf(name, sizeof name, "kiln_osr_call%u", index);
  gcc_jit_lvalue *p =
      gcc_jit_context_new_global(d->ctx, NULL, GCC_JIT_GLOBAL_EXPORTED, d->t_vptr, name);
  gcc_jit_global_set_initializer_rvalue(p, gcc_jit_context_new_cast(d->ctx, NULL, addr, d->t_vptr));
  gcc_jit_block *b = gcc_jit_function_new_block(w, NULL),
                *ran = gcc_jit_function_new_block(w, NULL);
  gcc_jit_block *declined = gcc_jit_function_new_block(w, NULL);
  gcc_jit_rvalue *args[4] = {t, f, sp, dcm_u32(d, KILN_ABI_OSR_TOP)};
  gcc_jit_rvalue *r = gcc_jit_context_new_call_through_ptr(
      d->ctx, NULL, dcm_bitcast(d, rv(p), gcc_jit_rvalue_get_type(addr)), 4, args);
  gcc_jit_block_end_with_conditional(
      b, NULL,
      gcc_jit_context_new_comparison(d->ctx, NULL, GCC_JIT_COMPARISON_NE, r,
                                     gcc_jit_context_zero(d->ctx, d->t_int)),
      ran, declined);
  gcc_jit_block_end_with_void_return(ran, NULL);
  gcc_jit_block_add_eval(declined, NULL,
                         gcc_jit_context_new_call_through_ptr(
                             d->ctx, NULL, dcm_import(d, KILN_IMP_INTERP_ENTRY), 3, args));
  gcc_jit_block_end_with_void_return(declined, NULL);
}
