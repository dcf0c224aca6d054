/*
 * translate.c: turns one validated function body into the cold tier's
 * three-address code (format in interp.h), once, at module load.
 *
 * The translator walks the body keeping a compile-time model of the operand
 * stack: for each value, where it lives right now (Val):
 *   V_TEMP   in its home slot (nl + height), written by an instruction;
 *   V_LOCAL  still in a local's slot: local.get emits nothing;
 *   V_CONST  a constant not yet written anywhere: i32.const emits nothing;
 *   V_ADDI   a slot plus a 32-bit constant, not yet added: `i32.add` of a
 *            constant emits nothing, so a load or store using it as its
 *            address folds the addition into its own _A form.
 * An instruction reads its operands wherever they are and writes its result
 * to the home slot of the result's height. Values are "materialized" into
 * their home slots only where code that runs later cannot know where they
 * are: at block/loop/if/else/end (every path into a label must agree), before
 * a branch (into the label's result slots), for call arguments (which must be
 * contiguous), and before local.set/tee of a local the stack still refers to.
 *
 * Peephole rules, each checked to keep the semantics exact:
 *   - `local.set x` right after the instruction that produced the value
 *     retargets that instruction's destination to x (no copy), when nothing
 *     on the stack still refers to x;
 *   - an integer operation with a constant right operand (or a constant left
 *     operand of a commutative operation or comparison) uses the _SI form;
 *   - `br_if` and `if` on a fresh integer comparison or eqz drop the
 *     comparison and emit one compare-and-branch instruction; i32.eqz of a
 *     fresh comparison becomes the opposite comparison;
 *   - i32.add of a fresh `i32.shl x, k` is one I32_ADDSHL (array
 *     addressing), and a load (or a store of a local) whose address that
 *     just computed takes it over in its _X form;
 *   - `call; local.set x` becomes CALL_R, which copies the result to x.
 * "Fresh" means the producing instruction is the last one emitted and its
 * result is the value on top of the stack: nothing else can have read it,
 * and no label lies between, so the instruction can be taken back.
 *
 * Unreachable code (after br, br_table, return, unreachable) is skipped up to
 * the matching else/end: it has been validated, so only its immediates need
 * to be stepped over.
 */
#include <assert.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code_reader.h"
#include "interp.h"
#include "runtime.h"

enum { V_TEMP, V_LOCAL, V_CONST, V_ADDI };
typedef struct {
  uint8_t kind;
  uint32_t slot; /* V_TEMP: home slot; V_LOCAL: the local's slot; V_ADDI: the base */
  uint64_t val; /* V_CONST: the bits; V_ADDI: the addend */
} Val;

enum { C_FUNC, C_BLOCK, C_LOOP, C_IF };
typedef struct {
  uint8_t kind;
  bool has_else;
  uint32_t height; /* operand stack height below the block's parameters */
  uint32_t nparams, nresults;
  uint32_t start; /* loop: position of its first instruction */
  uint32_t else_pos, else_field; /* if: the branch over the then-part */
  uint32_t pat_base; /* first entry of `pat` that may be ours */
} Ctrl;

/* A forward branch waiting for its label's position. */
typedef struct {
  uint32_t ci; /* index into ctl */
  uint32_t pos; /* the branching instruction */
  uint32_t field; /* absolute index of its 32-bit offset field */
} Patch;

/* The branch condition taken from the top of the stack. */
enum { K_NEZ32, K_EQZ32, K_EQZ64, K_REL32, K_REL64 };
typedef struct {
  uint8_t kind;
  uint8_t rel; /* K_REL*: relation index, wasm order (ops.h) */
  uint8_t form; /* 0 _SS, 1 _SI */
  uint32_t a, b;
} Cond;

typedef struct {
  jmp_buf oom;
  const Module *m;
  const WasmModule *w;
  const uint8_t *body; /* the function's body, read by rd */
  CodeReader rd;
  const void *const *handlers;

  InterpWord *code;
  uint32_t ncode, capcode, ninstr;

  Val *stk;
  uint32_t sh, scap, max_h;
  Ctrl *ctl;
  uint32_t nctl, ccap;
  Patch *pat;
  uint32_t npat, pcap;
  bool loop_headers; /* the monitor is on: OP_LOOP at every loop's header */
  InterpLoop *loops; /* every reachable loop, in body order */
  uint32_t nloops, lcap;
  InterpSite *sites; /* every reachable call, in body order */
  uint32_t nsites, sitecap;
  InterpBranch *branches; /* every counting branch, in body order */
  uint32_t nbranches, branchcap;
  uint32_t op_at; /* the instruction being translated: bytes from the body's start */
  uint32_t *nrefs; /* per local: V_LOCAL entries on the stack naming it */
  uint32_t nl, nparams, nresults;
  uint32_t zero_slot; /* a hidden local, zeroed on entry and never written */

  bool unreachable;
  uint32_t skip_depth; /* blocks opened inside unreachable code */

  /* Peephole state; both are cleared by every emission and label. */
  bool dst_valid; /* the last instruction wrote the value at height dst_h */
  uint32_t dst_field, dst_h;
  uint32_t dst_call; /* UINT32_MAX, or that instruction is a CALL at this position */
  unsigned last_op; /* the last instruction, OP_COUNT after a label or rewind */
  uint32_t last_pos, last_f[5];
  bool cmp_valid; /* ... and it was a comparison, described by cmp */
  uint32_t cmp_pos, cmp_h;
  Cond cmp;
} Tr;

/* --- growing arrays (out of memory unwinds to interp_translate) ----------- */

static void *grow(Tr *T, void *p, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap)
    return p;
  uint32_t n = *cap ? *cap : 16;
  while (n < need)
    n *= 2;
  void *q = realloc(p, (size_t)n * elem);
  if (!q)
    longjmp(T->oom, 1);
  *cap = n;
  return q;
}

/* --- reading the body (validated: core/code_reader.h) --------------------- */

/* A block type: 0x40 (empty), a value type (one result), or a type index. */
static void rd_blocktype(Tr *T, uint32_t *np, uint32_t *nr) {
  int64_t bt = code_sleb(&T->rd);
  if (bt == -64) {
    *np = *nr = 0;
  } else if (bt < 0) {
    *np = 0;
    *nr = 1;
  } else {
    const WasmFuncType *ft = &T->w->types[bt];
    *np = ft->nparams;
    *nr = ft->nresults;
  }
}

/* --- emitting ------------------------------------------------------------- */

static inline uint32_t field_index(uint32_t pos, uint32_t i) {
  return (pos + 1) * 2 + i;
}

static inline void set_field(Tr *T, uint32_t fidx, uint32_t v) {
  T->code[fidx / 2].u32[fidx & 1] = v;
}

static inline void clear_peephole(Tr *T) {
  T->dst_valid = T->cmp_valid = false;
  T->dst_call = UINT32_MAX;
  T->last_op = OP_COUNT;
}

/* The length of each op but BR_TABLE, from ops.h: dumps read code back by
 * it, so every emission is checked against it. */
static const uint8_t op_words_fixed[OP_COUNT] = {
#define KILN_OP_WORDS(name, fields, extra) INTERP_WORDS(fields, extra),
    KILN_OPS(KILN_OP_WORDS)
#undef KILN_OP_WORDS
};

/* One instruction: handler word, nf 32-bit fields, then `extra` zeroed 64-bit
 * words the caller fills. Returns its position. */
static uint32_t emit_ex(Tr *T, unsigned op, const uint32_t *f, unsigned nf, unsigned extra) {
  uint32_t words = INTERP_WORDS(nf, extra);
  assert(op == OP_BR_TABLE ? nf == 3 + f[1] && extra == 0 : words == op_words_fixed[op]);
  T->code = grow(T, T->code, &T->capcode, T->ncode + words, sizeof *T->code);
  uint32_t pos = T->ncode;
  if (T->handlers)
    T->code[pos].h = T->handlers[op];
  else
    T->code[pos].u64 = op;
  for (uint32_t i = 1; i < words; i++)
    T->code[pos + i].u64 = 0;
  for (unsigned i = 0; i < nf; i++)
    set_field(T, field_index(pos, i), f[i]);
  T->ncode += words;
  T->ninstr++;
  clear_peephole(T);
  T->last_op = op;
  T->last_pos = pos;
  for (unsigned i = 0; i < 5; i++)
    T->last_f[i] = i < nf ? f[i] : 0;
  return pos;
}

static uint32_t emit(Tr *T, unsigned op, const uint32_t *f, unsigned nf) {
  return emit_ex(T, op, f, nf, 0);
}

/* An instruction whose F0 is the destination of the value at height h. */
static uint32_t emit_dst(Tr *T, unsigned op, const uint32_t *f, unsigned nf, uint32_t h) {
  uint32_t pos = emit(T, op, f, nf);
  T->dst_valid = true;
  T->dst_field = field_index(pos, 0);
  T->dst_h = h;
  return pos;
}

#define EMIT(T, op, ...)                                                                           \
  emit((T), (op), (const uint32_t[]){__VA_ARGS__},                                                 \
       sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define EMIT_DST(T, h, op, ...)                                                                    \
  emit_dst((T), (op), (const uint32_t[]){__VA_ARGS__},                                             \
           sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), (h))

static void emit_const(Tr *T, uint32_t dst, uint64_t v) {
  if (v <= UINT32_MAX) {
    EMIT(T, OP_CONST32, dst, (uint32_t)v);
  } else {
    uint32_t pos = emit_ex(T, OP_CONST64, (const uint32_t[]){dst}, 1, 1);
    T->code[pos + 2].u64 = v;
  }
}

/* --- the compile-time operand stack --------------------------------------- */

static inline uint32_t home(const Tr *T, uint32_t h) {
  return T->nl + h;
}

/* Does the value still read a local's slot (so a write to it must wait)? */
static inline bool reads_local(const Tr *T, const Val *v) {
  return (v->kind == V_LOCAL || v->kind == V_ADDI) && v->slot < T->nl;
}

static void push(Tr *T, Val v) {
  T->stk = grow(T, T->stk, &T->scap, T->sh + 1, sizeof *T->stk);
  T->stk[T->sh++] = v;
  if (T->sh > T->max_h)
    T->max_h = T->sh;
  if (reads_local(T, &v))
    T->nrefs[v.slot]++;
}

static uint32_t push_temp(Tr *T) {
  uint32_t s = home(T, T->sh);
  push(T, (Val){V_TEMP, s, 0});
  return s;
}

static Val pop(Tr *T) {
  Val v = T->stk[--T->sh];
  if (reads_local(T, &v))
    T->nrefs[v.slot]--;
  return v;
}

/* Write a lazy value (V_CONST, V_ADDI) to slot dst; false if it has a slot. */
static bool emit_value_to(Tr *T, const Val *v, uint32_t dst) {
  if (v->kind == V_CONST)
    emit_const(T, dst, v->val);
  else if (v->kind == V_ADDI)
    EMIT(T, OP_I32_ADD_SI, dst, v->slot, (uint32_t)v->val);
  else
    return false;
  return true;
}

/* The slot holding a popped value that was at height h; a lazy value is
 * written to its home slot first (nothing above h is live any more). */
static uint32_t slot_of(Tr *T, Val v, uint32_t h) {
  if (!emit_value_to(T, &v, home(T, h)))
    return v.slot;
  return home(T, h);
}

static uint32_t pop_slot(Tr *T) {
  Val v = pop(T);
  return slot_of(T, v, T->sh);
}

static void materialize_at(Tr *T, uint32_t k) {
  Val *v = &T->stk[k];
  uint32_t dst = home(T, k);
  if (v->kind == V_TEMP)
    return;
  if (reads_local(T, v))
    T->nrefs[v->slot]--;
  if (v->kind == V_LOCAL)
    EMIT(T, OP_COPY, dst, v->slot);
  else
    emit_value_to(T, v, dst);
  v->kind = V_TEMP;
  v->slot = dst;
}

static void materialize_range(Tr *T, uint32_t from, uint32_t to) {
  for (uint32_t k = from; k < to; k++)
    materialize_at(T, k);
}

static void materialize_all(Tr *T) {
  materialize_range(T, 0, T->sh);
}

/* Before local x changes: values on the stack read from x get their copy. */
static void materialize_local(Tr *T, uint32_t x) {
  for (uint32_t k = 0; T->nrefs[x] && k < T->sh; k++)
    if (reads_local(T, &T->stk[k]) && T->stk[k].slot == x)
      materialize_at(T, k);
}

/* Drop everything above height h, then push n values in their home slots:
 * the state after a label, where all incoming paths put their values. */
static void reset_stack(Tr *T, uint32_t h, uint32_t n) {
  while (T->sh > h)
    pop(T);
  for (uint32_t i = 0; i < n; i++)
    push_temp(T);
}

/* --- labels and branches -------------------------------------------------- */

static uint32_t label_arity(const Ctrl *c) {
  return c->kind == C_LOOP ? c->nparams : c->nresults;
}

static uint32_t label_dest(const Tr *T, const Ctrl *c, uint32_t i) {
  return c->kind == C_FUNC ? i : home(T, c->height + i);
}

/* Do the branch values still have to be copied into the label's slots? */
static bool moves_needed(const Tr *T, const Ctrl *c) {
  uint32_t n = label_arity(c);
  for (uint32_t i = 0; i < n; i++) {
    const Val *v = &T->stk[T->sh - n + i];
    if (v->kind != V_TEMP || v->slot != label_dest(T, c, i))
      return true;
  }
  return false;
}

/* Copy the branch values into the label's slots, without changing the
 * model (a conditional branch's fall-through still sees them in place).
 * Ascending order is safe: a destination is never above its source, and a
 * later source is never an earlier destination (see prepare_return). */
static void emit_moves(Tr *T, const Ctrl *c) {
  uint32_t n = label_arity(c);
  for (uint32_t i = 0; i < n; i++) {
    const Val v = T->stk[T->sh - n + i];
    uint32_t d = label_dest(T, c, i);
    if (!emit_value_to(T, &v, d) && v.slot != d)
      EMIT(T, OP_COPY, d, v.slot);
  }
}

/* Results go to fp[0 ..), which may be a local the results still read:
 * such values are first copied to their home slots (above every result
 * slot), unconditionally, so both paths of a br_if agree on the model. */
static void prepare_return(Tr *T) {
  uint32_t n = T->nresults;
  if (n < 2)
    return; /* a single move cannot overwrite another source */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t k = T->sh - n + i;
    if (reads_local(T, &T->stk[k]) && T->stk[k].slot < n)
      materialize_at(T, k);
  }
}

static void emit_return(Tr *T) {
  prepare_return(T);
  if (T->nresults == 1) {
    Val v = T->stk[T->sh - 1];
    if (emit_value_to(T, &v, 0))
      EMIT(T, OP_RET, 0);
    else
      EMIT(T, OP_RET1, v.slot);
    return;
  }
  emit_moves(T, &T->ctl[0]);
  EMIT(T, OP_RET, 0);
}

/* Point the offset field of the branch at pos to label ci. */
static void link_label(Tr *T, uint32_t ci, uint32_t pos, uint32_t fidx) {
  const Ctrl *c = &T->ctl[ci];
  if (c->kind == C_LOOP) {
    set_field(T, fidx, c->start - pos);
  } else {
    T->pat = grow(T, T->pat, &T->pcap, T->npat + 1, sizeof *T->pat);
    T->pat[T->npat++] = (Patch){ci, pos, fidx};
  }
}

/* Resolve the pending branches to label ci at the current position. */
static bool resolve_label(Tr *T, uint32_t ci) {
  bool any = false;
  uint32_t out = T->ctl[ci].pat_base;
  for (uint32_t i = out; i < T->npat; i++) {
    Patch p = T->pat[i];
    if (p.ci == ci) {
      set_field(T, p.field, T->ncode - p.pos);
      any = true;
    } else {
      T->pat[out++] = p;
    }
  }
  T->npat = out;
  return any;
}

/* Unconditional branch to label ci (br, the end of if's then-part). */
static void emit_jump(Tr *T, uint32_t ci) {
  const Ctrl *c = &T->ctl[ci];
  if (c->kind == C_FUNC) {
    emit_return(T);
    return;
  }
  emit_moves(T, c);
  uint32_t pos = EMIT(T, OP_BR, 0);
  link_label(T, ci, pos, field_index(pos, 0));
}

/* Pop a branch condition. A comparison or eqz emitted just before, whose
 * result nothing else has seen, is taken back to be fused into the branch. */
static Cond take_cond(Tr *T) {
  Val v = pop(T);
  if (T->cmp_valid && v.kind == V_TEMP && T->sh == T->cmp_h) {
    T->ncode = T->cmp_pos;
    T->ninstr--;
    Cond c = T->cmp;
    clear_peephole(T);
    return c;
  }
  Cond c = {K_NEZ32, 0, 0, slot_of(T, v, T->sh), 0};
  return c;
}

/* wasm relation order: eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u */
static const uint8_t rel_negate[10] = {1, 0, 8, 9, 6, 7, 4, 5, 2, 3};
static const uint8_t rel_mirror[10] = {0, 1, 4, 5, 2, 3, 8, 9, 6, 7};

/* The counting forms are laid out like the plain ones (emit_cond_branch). */
_Static_assert(OP_BR_EQZ64 - OP_BR_NEZ32 == 3 && OP_BR_EQZ64_P - OP_BR_NEZ32_P == 3,
               "BR_NEZ32 .. BR_EQZ64 and their counting forms in one order");
_Static_assert(OP_BR_I64_GE_U_SI - OP_BR_I32_EQ_SS == OP_BR_I64_GE_U_SI_P - OP_BR_I32_EQ_SS_P,
               "compare-and-branch and their counting forms in one order");

/* The plain form of a counting branch. */
static unsigned plain_form(unsigned counting) {
  return counting < OP_BR_I32_EQ_SS_P ? counting - OP_BR_NEZ32_P + OP_BR_NEZ32
                                      : counting - OP_BR_I32_EQ_SS_P + OP_BR_I32_EQ_SS;
}

/* Emit a branch taken when the condition is `when` (true or false). Links
 * it to label ci, or, with ci < 0, returns its offset field for the caller
 * to patch. pos_out receives the instruction's position. */
static uint32_t emit_cond_branch(Tr *T, const Cond *c, bool when, int64_t ci, uint32_t *pos_out) {
  uint32_t pos, fidx;
  /* With the monitor on, the counting form, with its counter last. */
  bool counted = T->loop_headers;
  uint32_t site = counted ? T->nbranches : 0;
  switch (c->kind) {
  case K_REL32:
  case K_REL64: {
    unsigned rel = when ? c->rel : rel_negate[c->rel];
    unsigned base = c->kind == K_REL32 ? (counted ? OP_BR_I32_EQ_SS_P : OP_BR_I32_EQ_SS)
                                       : (counted ? OP_BR_I64_EQ_SS_P : OP_BR_I64_EQ_SS);
    pos = EMIT(T, base + rel * 2 + c->form, c->a, c->b, 0, site);
    fidx = field_index(pos, 2);
    break;
  }
  default: {
    /* NEZ32: branch if a != 0; EQZ*: the condition is a == 0. */
    bool nonzero = (c->kind == K_NEZ32) == when;
    unsigned op = c->kind == K_EQZ64 ? (nonzero ? OP_BR_NEZ64 : OP_BR_EQZ64)
                                     : (nonzero ? OP_BR_NEZ32 : OP_BR_EQZ32);
    pos = EMIT(T, counted ? op - OP_BR_NEZ32 + OP_BR_NEZ32_P : op, c->a, 0, site);
    fidx = field_index(pos, 1);
    break;
  }
  }
  if (counted) {
    T->branches = grow(T, T->branches, &T->branchcap, T->nbranches + 1, sizeof *T->branches);
    T->branches[T->nbranches++] = (InterpBranch){
        .offset = T->op_at, .jumps_when = when, .pos = pos, .plain = plain_form(T->last_op)};
  }
  if (ci >= 0)
    link_label(T, (uint32_t)ci, pos, fidx);
  if (pos_out)
    *pos_out = pos;
  return fidx;
}

static void t_br_if(Tr *T, uint32_t depth) {
  uint32_t ci = T->nctl - 1 - depth;
  Cond c = take_cond(T);
  const Ctrl *L = &T->ctl[ci];
  if (L->kind != C_FUNC && !moves_needed(T, L)) {
    emit_cond_branch(T, &c, true, ci, NULL);
    return;
  }
  /* Values must move first: skip over the moves when not taken. */
  if (L->kind == C_FUNC)
    prepare_return(T);
  uint32_t pos;
  uint32_t fidx = emit_cond_branch(T, &c, false, -1, &pos);
  emit_jump(T, ci);
  set_field(T, fidx, T->ncode - pos);
  clear_peephole(T);
}

static void t_br_table(Tr *T) {
  uint32_t n = code_u32(&T->rd);
  uint32_t *labels = malloc(((size_t)n + 1) * sizeof *labels);
  uint32_t *stub = malloc((size_t)T->nctl * sizeof *stub);
  if (!labels || !stub) {
    free(labels);
    free(stub);
    longjmp(T->oom, 1);
  }
  for (uint32_t i = 0; i <= n; i++)
    labels[i] = T->nctl - 1 - code_u32(&T->rd);
  for (uint32_t i = 0; i < T->nctl; i++)
    stub[i] = UINT32_MAX;

  uint32_t idx = pop_slot(T);
  for (uint32_t i = 0; i <= n; i++)
    if (T->ctl[labels[i]].kind == C_FUNC) {
      prepare_return(T);
      break;
    }
  /* BR_TABLE idx, n, offsets[n + 1]: emitted with zero offsets, then each
   * offset points at its label, or at a stub after the table that moves the
   * values and jumps (labels needing moves, and returns). */
  uint32_t nf = n + 3;
  uint32_t *f = calloc(nf, sizeof *f);
  if (!f) {
    free(labels);
    free(stub);
    longjmp(T->oom, 1);
  }
  f[0] = idx;
  f[1] = n;
  uint32_t pos = emit(T, OP_BR_TABLE, f, nf);
  free(f);
  for (uint32_t i = 0; i <= n; i++) {
    uint32_t ci = labels[i];
    uint32_t fidx = field_index(pos, 2 + i);
    const Ctrl *L = &T->ctl[ci];
    if (L->kind == C_FUNC || moves_needed(T, L)) {
      if (stub[ci] == UINT32_MAX) {
        stub[ci] = T->ncode;
        emit_jump(T, ci);
      }
      set_field(T, fidx, stub[ci] - pos);
    } else {
      link_label(T, ci, pos, fidx);
    }
  }
  free(labels);
  free(stub);
}

/* --- operations ----------------------------------------------------------- */

static void t_unary(Tr *T, unsigned op) {
  uint32_t a = pop_slot(T);
  uint32_t d = push_temp(T);
  EMIT_DST(T, T->sh - 1, op, d, a);
}

enum { B_COMMUTE = 1, B_DIV_S = 2, B_DIV_U = 4, B_NO_IMM = 8 };

/* May constant v be the immediate of a _SI form? */
static bool imm_ok(uint64_t v, bool is64, unsigned flags) {
  int64_t s = is64 ? (int64_t)v : (int64_t)(int32_t)v;
  if (flags & B_NO_IMM)
    return false;
  if (is64 && s != (int64_t)(int32_t)s)
    return false;
  if ((flags & B_DIV_S) && (s == 0 || s == -1))
    return false;
  if ((flags & B_DIV_U) && s == 0)
    return false;
  return true;
}

/* Binary operation with _SS at op and (unless B_NO_IMM) _SI at op + 1. For
 * a comparison, rel >= 0 is its relation, so operands can be mirrored and
 * the result fused into a following branch. */
static bool mem_address(Tr *T, Val a, uint32_t h, uint32_t *base, uint32_t *add);

static void t_binary(Tr *T, unsigned op, unsigned flags, bool is64, int rel) {
  Val b = pop(T), a = pop(T);
  uint32_t ha = T->sh, hb = T->sh + 1;
  if (a.kind == V_CONST && b.kind != V_CONST && (rel >= 0 || (flags & B_COMMUTE))) {
    Val tv = a;
    a = b;
    b = tv;
    uint32_t th = ha;
    ha = hb;
    hb = th;
    if (rel >= 0) {
      rel = rel_mirror[rel];
      op = (unsigned)((is64 ? OP_I64_EQ_SS : OP_I32_EQ_SS) + rel * 2);
    }
  }
  if ((op == OP_I32_ADD_SS || op == OP_I32_SUB_SS) && b.kind == V_CONST && a.kind != V_CONST &&
      (a.slot < T->nl || a.slot == home(T, T->sh))) {
    /* x + c stays lazy (V_ADDI): a load or store may fold it. Additions
     * chain: (x + c1) + c2 is x + (c1 + c2) in 32-bit wrap-around. The base
     * must be a local or the entry's own home slot (after a swap it may be
     * the slot above, which the next push overwrites). */
    uint32_t c = op == OP_I32_ADD_SS ? (uint32_t)b.val : 0u - (uint32_t)b.val;
    if (a.kind == V_ADDI)
      c += (uint32_t)a.val;
    push(T, (Val){V_ADDI, a.slot, c});
    return;
  }
  if (op == OP_I32_ADD_SS && T->last_op == OP_I32_SHL_SI && T->dst_valid) {
    /* base + (index << k), the shift just emitted: one I32_ADDSHL. The
     * shift's result is a temporary read only here, so it can go. A base
     * that is itself slot + c (or just c) gives the addend. */
    Val *sh = NULL, *other = NULL;
    uint32_t hother = 0;
    if (b.kind == V_TEMP && T->dst_h == hb && b.slot == T->last_f[0])
      sh = &b, other = &a, hother = ha;
    else if (a.kind == V_TEMP && T->dst_h == ha && a.slot == T->last_f[0])
      sh = &a, other = &b, hother = hb;
    if (sh) {
      /* The other operand needs no code of its own (a slot, or slot + c,
       * or c as the zero slot + c), so nothing overwrites the shift's
       * source between here and the ADDSHL. */
      uint32_t idx = T->last_f[1], k = T->last_f[2] & 31;
      T->ncode = T->last_pos;
      T->ninstr--;
      clear_peephole(T);
      uint32_t base, add;
      mem_address(T, *other, hother, &base, &add);
      uint32_t d = push_temp(T);
      if (add)
        EMIT_DST(T, T->sh - 1, OP_I32_ADDSHL_A, d, base, idx, k, add);
      else
        EMIT_DST(T, T->sh - 1, OP_I32_ADDSHL, d, base, idx, k);
      return;
    }
  }
  uint32_t sa = slot_of(T, a, ha);
  uint32_t sb, form = 0;
  if (b.kind == V_CONST && imm_ok(b.val, is64, flags)) {
    sb = (uint32_t)b.val;
    form = 1;
  } else {
    sb = slot_of(T, b, hb);
  }
  uint32_t d = push_temp(T);
  uint32_t pos = EMIT_DST(T, T->sh - 1, op + form, d, sa, sb);
  if (rel >= 0) {
    T->cmp_valid = true;
    T->cmp_pos = pos;
    T->cmp_h = T->sh - 1;
    T->cmp = (Cond){is64 ? K_REL64 : K_REL32, (uint8_t)rel, (uint8_t)form, sa, sb};
  }
}

static void t_float_binary(Tr *T, unsigned op) {
  bool f64 = op == OP_F64_ADD || op == OP_F64_SUB;
  if ((f64 || op == OP_F32_ADD || op == OP_F32_SUB) &&
      T->last_op == (f64 ? OP_F64_MUL : OP_F32_MUL) && T->dst_valid) {
    /* c +- (a * b) or (a * b) +- c with the product just computed: one
     * MULADD/MULSUB/SUBMUL. c must need no code of its own: a constant
     * written to its home slot could overwrite a factor. */
    const Val *b = &T->stk[T->sh - 1], *a = &T->stk[T->sh - 2];
    uint32_t hb = T->sh - 1, ha = T->sh - 2, prod = T->last_f[0];
    bool add = op == OP_F64_ADD || op == OP_F32_ADD;
    int which = 0; /* 1: a is the product, 2: b is */
    if (b->kind == V_TEMP && T->dst_h == hb && b->slot == prod && a->kind != V_CONST)
      which = 2;
    else if (a->kind == V_TEMP && T->dst_h == ha && a->slot == prod && b->kind != V_CONST)
      which = 1;
    if (which) {
      uint32_t c = which == 2 ? a->slot : b->slot;
      uint32_t x = T->last_f[1], y = T->last_f[2];
      unsigned fop = add ? OP_F32_MULADD : which == 1 ? OP_F32_MULSUB : OP_F32_SUBMUL;
      if (f64)
        fop += OP_F64_MULADD - OP_F32_MULADD;
      T->ncode = T->last_pos;
      T->ninstr--;
      clear_peephole(T);
      pop(T);
      pop(T);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, fop, d, x, y, c);
      return;
    }
  }
  t_binary(T, op, B_NO_IMM, false, -1);
}

static void t_eqz(Tr *T, bool is64) {
  const Val *top = &T->stk[T->sh - 1];
  if (!is64 && T->cmp_valid && top->kind == V_TEMP && T->sh - 1 == T->cmp_h) {
    /* i32.eqz of a fresh comparison: emit the opposite comparison instead. */
    Cond c = T->cmp;
    pop(T);
    T->ncode = T->cmp_pos;
    T->ninstr--;
    if (c.kind == K_REL32 || c.kind == K_REL64) {
      c.rel = rel_negate[c.rel];
    } else { /* eqz(eqz(x)) is x != 0 */
      c.kind = c.kind == K_EQZ32 ? K_REL32 : K_REL64;
      c.rel = 1; /* ne */
      c.form = 1;
      c.b = 0;
    }
    unsigned base = c.kind == K_REL32 ? OP_I32_EQ_SS : OP_I64_EQ_SS;
    uint32_t d = push_temp(T);
    uint32_t pos = EMIT_DST(T, T->sh - 1, base + c.rel * 2u + c.form, d, c.a, c.b);
    T->cmp_valid = true;
    T->cmp_pos = pos;
    T->cmp_h = T->sh - 1;
    T->cmp = c;
    return;
  }
  uint32_t a = pop_slot(T);
  uint32_t d = push_temp(T);
  uint32_t pos = EMIT_DST(T, T->sh - 1, is64 ? OP_I64_EQZ : OP_I32_EQZ, d, a);
  T->cmp_valid = true;
  T->cmp_pos = pos;
  T->cmp_h = T->sh - 1;
  T->cmp = (Cond){is64 ? K_EQZ64 : K_EQZ32, 0, 0, a, 0};
}

static void t_local_set(Tr *T, uint32_t x, bool tee) {
  Val *top = &T->stk[T->sh - 1];
  if (top->kind == V_LOCAL && top->slot == x) {
    if (!tee)
      pop(T);
    return;
  }
  if (top->kind == V_TEMP && T->dst_valid && T->dst_h == T->sh - 1 && T->nrefs[x] == 0) {
    /* The value was just computed: compute it into x instead. */
    set_field(T, T->dst_field, x);
    if (T->dst_call != UINT32_MAX) { /* a call's result: copied by CALL_R */
      if (T->handlers)
        T->code[T->dst_call].h = T->handlers[OP_CALL_R];
      else
        T->code[T->dst_call].u64 = OP_CALL_R;
    }
    pop(T);
    clear_peephole(T);
    if (tee)
      push(T, (Val){V_LOCAL, x, 0});
    return;
  }
  Val v = pop(T);
  materialize_local(T, x);
  if (!emit_value_to(T, &v, x))
    EMIT(T, OP_COPY, x, v.slot);
  if (tee)
    push(T, v.kind == V_CONST ? v : (Val){V_LOCAL, x, 0});
}

/* Call arguments must be contiguous at the top: the callee's frame starts
 * at the first one. */
static void t_call_args(Tr *T, uint32_t nparams) {
  materialize_range(T, T->sh - nparams, T->sh);
  for (uint32_t i = 0; i < nparams; i++)
    pop(T);
}

/* A call's counter for the monitor (caller-to-callee edges): the index
 * the call instruction carries. */
static uint32_t call_site(Tr *T, uint32_t body_offset, uint32_t callee) {
  T->sites = grow(T, T->sites, &T->sitecap, T->nsites + 1, sizeof *T->sites);
  T->sites[T->nsites] = (InterpSite){.offset = body_offset, .callee = callee};
  return T->nsites++;
}

/* CALL func, first, -, site: arguments are materialized into place. Its F2 is
 * room for CALL_R's result copy, so a following local.set can turn it into
 * CALL_R in place (t_local_set). */
static void t_call(Tr *T, uint32_t x, uint32_t np, uint32_t nr, uint32_t site) {
  t_call_args(T, np);
  uint32_t pos = EMIT(T, OP_CALL, x, home(T, T->sh), 0, site);
  for (uint32_t i = 0; i < nr; i++)
    push_temp(T);
  if (nr == 1) {
    T->dst_valid = true;
    T->dst_field = field_index(pos, 2);
    T->dst_h = T->sh - 1;
    T->dst_call = pos;
  }
}

/* The address operand of a load or store: a slot, or for the _A form
 * (returned true) a base slot and an addend. A constant address is the
 * zero slot plus the constant. */
static bool mem_address(Tr *T, Val a, uint32_t h, uint32_t *base, uint32_t *add) {
  if (a.kind == V_ADDI || a.kind == V_CONST) {
    *base = a.kind == V_ADDI ? a.slot : T->zero_slot;
    *add = (uint32_t)a.val;
    return true;
  }
  *base = slot_of(T, a, h);
  *add = 0;
  return false;
}

/* Is the address a = base + (index << k) that the last instruction
 * (I32_ADDSHL) just computed? Then take that instruction back: the _X form
 * of the access does its work. */
static bool take_addshl(Tr *T, Val a, uint32_t h, uint32_t *base, uint32_t *idx, uint32_t *k) {
  if (T->last_op != OP_I32_ADDSHL || !T->dst_valid || T->dst_h != h || a.kind != V_TEMP ||
      a.slot != T->last_f[0])
    return false;
  *base = T->last_f[1];
  *idx = T->last_f[2];
  *k = T->last_f[3];
  T->ncode = T->last_pos;
  T->ninstr--;
  clear_peephole(T);
  return true;
}

/* op is the plain form; the _A and _X forms are at fixed distances (ops.h
 * lists the forms in the same order). */
static void t_load(Tr *T, unsigned op) {
  code_u32(&T->rd); /* alignment: a hint only */
  uint32_t off = code_u32(&T->rd);
  Val a = pop(T);
  uint32_t base, add, idx, k;
  if (take_addshl(T, a, T->sh, &base, &idx, &k)) {
    uint32_t d = push_temp(T);
    EMIT_DST(T, T->sh - 1, op + (OP_LOAD32_X - OP_LOAD32), d, base, off, idx, k);
    return;
  }
  if (mem_address(T, a, T->sh, &base, &add))
    op += OP_LOAD32_A - OP_LOAD32;
  uint32_t d = push_temp(T);
  EMIT_DST(T, T->sh - 1, op, d, base, off, add);
}

static void t_store(Tr *T, unsigned op) {
  code_u32(&T->rd);
  uint32_t off = code_u32(&T->rd);
  Val v = pop(T), a = pop(T);
  uint32_t base, add, idx, k;
  /* Only a value already in a local: writing one to its home slot could
   * overwrite the address's operands, which may live at that height. */
  if (v.kind == V_LOCAL && take_addshl(T, a, T->sh, &base, &idx, &k)) {
    EMIT(T, op + (OP_LOAD32_X - OP_LOAD32), base, v.slot, off, idx, k);
    return;
  }
  uint32_t sv = slot_of(T, v, T->sh + 1);
  if (mem_address(T, a, T->sh, &base, &add))
    op += OP_LOAD32_A - OP_LOAD32;
  EMIT(T, op, base, sv, off, add);
}

/* Pop n operands into slots, first operand first. */
static void pop_slots(Tr *T, uint32_t *s, unsigned n) {
  Val v[5];
  for (unsigned i = n; i-- > 0;)
    v[i] = pop(T);
  for (unsigned i = 0; i < n; i++)
    s[i] = slot_of(T, v[i], T->sh + i);
}

/* --- opcode tables -------------------------------------------------------- */

/* Integer binary operations in opcode order (from WASM_OP_I32_ADD for i32,
 * WASM_OP_I64_ADD for i64). */
static const struct {
  uint16_t op32, op64;
  uint8_t flags;
} ibin[15] = {
    {OP_I32_ADD_SS, OP_I64_ADD_SS, B_COMMUTE},   {OP_I32_SUB_SS, OP_I64_SUB_SS, 0},
    {OP_I32_MUL_SS, OP_I64_MUL_SS, B_COMMUTE},   {OP_I32_DIV_S_SS, OP_I64_DIV_S_SS, B_DIV_S},
    {OP_I32_DIV_U_SS, OP_I64_DIV_U_SS, B_DIV_U}, {OP_I32_REM_S_SS, OP_I64_REM_S_SS, B_DIV_S},
    {OP_I32_REM_U_SS, OP_I64_REM_U_SS, B_DIV_U}, {OP_I32_AND_SS, OP_I64_AND_SS, B_COMMUTE},
    {OP_I32_OR_SS, OP_I64_OR_SS, B_COMMUTE},     {OP_I32_XOR_SS, OP_I64_XOR_SS, B_COMMUTE},
    {OP_I32_SHL_SS, OP_I64_SHL_SS, 0},           {OP_I32_SHR_S_SS, OP_I64_SHR_S_SS, 0},
    {OP_I32_SHR_U_SS, OP_I64_SHR_U_SS, 0},       {OP_I32_ROTL_SS, OP_I64_ROTL_SS, 0},
    {OP_I32_ROTR_SS, OP_I64_ROTR_SS, 0},
};

/* WASM_OP_F32_EQ..F64_GE: float comparisons; WASM_OP_F32_ABS..F64_COPYSIGN:
 * float arithmetic, in opcode order. Unary ones are marked by `un`. */
static const uint16_t fcmp[12] = {OP_F32_EQ, OP_F32_NE, OP_F32_LT, OP_F32_GT, OP_F32_LE, OP_F32_GE,
                                  OP_F64_EQ, OP_F64_NE, OP_F64_LT, OP_F64_GT, OP_F64_LE, OP_F64_GE};
static const struct {
  uint16_t op;
  bool un;
} farith[28] = {
    {OP_F32_ABS, 1},   {OP_F32_NEG, 1},      {OP_F32_CEIL, 1},  {OP_F32_FLOOR, 1},
    {OP_F32_TRUNC, 1}, {OP_F32_NEAREST, 1},  {OP_F32_SQRT, 1},  {OP_F32_ADD, 0},
    {OP_F32_SUB, 0},   {OP_F32_MUL, 0},      {OP_F32_DIV, 0},   {OP_F32_MIN, 0},
    {OP_F32_MAX, 0},   {OP_F32_COPYSIGN, 0}, {OP_F64_ABS, 1},   {OP_F64_NEG, 1},
    {OP_F64_CEIL, 1},  {OP_F64_FLOOR, 1},    {OP_F64_TRUNC, 1}, {OP_F64_NEAREST, 1},
    {OP_F64_SQRT, 1},  {OP_F64_ADD, 0},      {OP_F64_SUB, 0},   {OP_F64_MUL, 0},
    {OP_F64_DIV, 0},   {OP_F64_MIN, 0},      {OP_F64_MAX, 0},   {OP_F64_COPYSIGN, 0},
};

/* WASM_OP_I32_WRAP_I64..I64_EXTEND32_S: conversions and sign extension; OP_COUNT marks the
 * reinterpretations, which leave the bits (and so the slot) as they are. */
static const uint16_t conv[30] = {
    OP_I32_WRAP_I64,
    OP_I32_TRUNC_F32_S,
    OP_I32_TRUNC_F32_U,
    OP_I32_TRUNC_F64_S,
    OP_I32_TRUNC_F64_U,
    OP_I64_EXTEND32_S,
    OP_I64_EXTEND_I32_U,
    OP_I64_TRUNC_F32_S,
    OP_I64_TRUNC_F32_U,
    OP_I64_TRUNC_F64_S,
    OP_I64_TRUNC_F64_U,
    OP_F32_CONVERT_I32_S,
    OP_F32_CONVERT_I32_U,
    OP_F32_CONVERT_I64_S,
    OP_F32_CONVERT_I64_U,
    OP_F32_DEMOTE_F64,
    OP_F64_CONVERT_I32_S,
    OP_F64_CONVERT_I32_U,
    OP_F64_CONVERT_I64_S,
    OP_F64_CONVERT_I64_U,
    OP_F64_PROMOTE_F32,
    OP_COUNT,
    OP_COUNT,
    OP_COUNT,
    OP_COUNT,
    OP_I32_EXTEND8_S,
    OP_I32_EXTEND16_S,
    OP_I64_EXTEND8_S,
    OP_I64_EXTEND16_S,
    OP_I64_EXTEND32_S,
};

static const uint16_t loads[14] = {
    OP_LOAD32,       OP_LOAD64,       OP_LOAD32,       OP_LOAD64,      OP_I32_LOAD8_S,
    OP_LOAD8_U,      OP_I32_LOAD16_S, OP_LOAD16_U,     OP_I64_LOAD8_S, OP_LOAD8_U,
    OP_I64_LOAD16_S, OP_LOAD16_U,     OP_I64_LOAD32_S, OP_LOAD32,
};
static const uint16_t stores[9] = {OP_STORE32, OP_STORE64, OP_STORE32, OP_STORE64, OP_STORE8,
                                   OP_STORE16, OP_STORE8,  OP_STORE16, OP_STORE32};

static const uint16_t sat[8] = {
    OP_I32_TRUNC_SAT_F32_S, OP_I32_TRUNC_SAT_F32_U, OP_I32_TRUNC_SAT_F64_S, OP_I32_TRUNC_SAT_F64_U,
    OP_I64_TRUNC_SAT_F32_S, OP_I64_TRUNC_SAT_F32_U, OP_I64_TRUNC_SAT_F64_S, OP_I64_TRUNC_SAT_F64_U};

/* --- structured control --------------------------------------------------- */

static void push_ctrl(Tr *T, uint8_t kind, uint32_t np, uint32_t nr) {
  T->ctl = grow(T, T->ctl, &T->ccap, T->nctl + 1, sizeof *T->ctl);
  Ctrl *c = &T->ctl[T->nctl++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->height = T->sh - np;
  c->nparams = np;
  c->nresults = nr;
  c->start = T->ncode;
  c->pat_base = T->npat;
}

/* A loop's first instruction, where every back-edge lands: it counts the
 * iteration for the monitor and names the loop running. The whole operand
 * stack is in its home slots here (materialize_all), which is what lets an
 * activation leave the interpreter at this point. */
static void t_loop_header(Tr *T, uint32_t body_offset) {
  T->loops = grow(T, T->loops, &T->lcap, T->nloops + 1, sizeof *T->loops);
  T->loops[T->nloops] = (InterpLoop){.offset = body_offset, .height = T->sh};
  EMIT(T, OP_LOOP, T->nloops);
  T->nloops++;
}

static void t_else(Tr *T) {
  Ctrl *c = &T->ctl[T->nctl - 1];
  if (!T->unreachable) {
    materialize_all(T);
    uint32_t pos = EMIT(T, OP_BR, 0);
    link_label(T, T->nctl - 1, pos, field_index(pos, 0));
  }
  set_field(T, c->else_field, T->ncode - c->else_pos);
  c->has_else = true;
  reset_stack(T, c->height, c->nparams);
  T->unreachable = false;
  clear_peephole(T);
}

/* Returns false when the function's own end was reached. */
static bool t_end(Tr *T) {
  uint32_t ci = T->nctl - 1;
  Ctrl c = T->ctl[ci];
  bool reach = !T->unreachable;
  if (c.kind == C_FUNC) {
    if (reach)
      emit_return(T);
    return false;
  }
  if (reach)
    materialize_all(T);
  if (c.kind == C_IF && !c.has_else) {
    set_field(T, c.else_field, T->ncode - c.else_pos);
    reach = true;
  }
  if (resolve_label(T, ci))
    reach = true;
  reset_stack(T, c.height, c.nresults);
  T->nctl--;
  T->unreachable = !reach;
  clear_peephole(T);
  return true;
}

static void set_unreachable(Tr *T) {
  T->unreachable = true;
  T->skip_depth = 0;
}

/* --- the walk ------------------------------------------------------------- */

static void translate_body(Tr *T) {
  push_ctrl(T, C_FUNC, 0, T->nresults);
  for (;;) {
    if (T->rd.p >= T->rd.end)
      return; /* validated bodies end with `end`; stay safe anyway */
    T->op_at = (uint32_t)(T->rd.p - T->body);
    uint8_t op = code_u8(&T->rd);

    if (T->unreachable) {
      if (op == WASM_OP_BLOCK || op == WASM_OP_LOOP || op == WASM_OP_IF) {
        T->skip_depth++;
      } else if (op == WASM_OP_END && T->skip_depth > 0) {
        T->skip_depth--;
        continue;
      } else if (op == WASM_OP_ELSE && T->skip_depth == 0) {
        t_else(T);
        continue;
      } else if (op == WASM_OP_END) {
        if (!t_end(T))
          return;
        continue;
      }
      code_skip_immediates(&T->rd, op);
      continue;
    }

    switch (op) {
    case WASM_OP_UNREACHABLE:
      EMIT(T, OP_UNREACHABLE, 0);
      set_unreachable(T);
      break;
    case WASM_OP_NOP:
      break;
    case WASM_OP_BLOCK:
    case WASM_OP_LOOP: {
      uint32_t at = (uint32_t)(T->rd.p - 1 - T->body), np, nr;
      rd_blocktype(T, &np, &nr);
      materialize_all(T);
      push_ctrl(T, op == WASM_OP_BLOCK ? C_BLOCK : C_LOOP, np, nr);
      if (op == WASM_OP_LOOP && T->loop_headers)
        t_loop_header(T, at);
      clear_peephole(T);
      break;
    }
    case WASM_OP_IF: {
      uint32_t np, nr;
      rd_blocktype(T, &np, &nr);
      Cond c = take_cond(T);
      materialize_all(T);
      uint32_t pos;
      uint32_t fidx = emit_cond_branch(T, &c, false, -1, &pos);
      push_ctrl(T, C_IF, np, nr);
      T->ctl[T->nctl - 1].else_pos = pos;
      T->ctl[T->nctl - 1].else_field = fidx;
      clear_peephole(T);
      break;
    }
    case WASM_OP_ELSE:
      t_else(T);
      break;
    case WASM_OP_END:
      if (!t_end(T))
        return;
      break;
    case WASM_OP_BR:
      emit_jump(T, T->nctl - 1 - code_u32(&T->rd));
      set_unreachable(T);
      break;
    case WASM_OP_BR_IF:
      t_br_if(T, code_u32(&T->rd));
      break;
    case WASM_OP_BR_TABLE:
      t_br_table(T);
      set_unreachable(T);
      break;
    case WASM_OP_RETURN:
      emit_return(T);
      set_unreachable(T);
      break;
    case WASM_OP_CALL: {
      uint32_t at = (uint32_t)(T->rd.p - 1 - T->body);
      uint32_t x = code_u32(&T->rd);
      const WasmFuncType *ft = wasm_func_type(T->w, x);
      t_call(T, x, ft->nparams, ft->nresults, call_site(T, at, x));
      break;
    }
    case WASM_OP_CALL_INDIRECT: {
      uint32_t at = (uint32_t)(T->rd.p - 1 - T->body);
      uint32_t ti = code_u32(&T->rd), table = code_u32(&T->rd);
      const WasmFuncType *ft = &T->w->types[ti];
      uint32_t idx = pop_slot(T); /* read before the callee reuses its slot */
      t_call_args(T, ft->nparams);
      uint32_t pos = emit_ex(
          T, OP_CALL_INDIRECT,
          (const uint32_t[]){table, home(T, T->sh), idx, call_site(T, at, INTERP_INDIRECT)}, 4, 1);
      T->code[pos + 3].ptr = T->m->sigs[ti];
      for (uint32_t i = 0; i < ft->nresults; i++)
        push_temp(T);
      break;
    }
    case WASM_OP_DROP:
      pop(T);
      break;
    case WASM_OP_SELECT_T: /* the type changes nothing: values are slots */
      code_skip_immediates(&T->rd, op);
      /* fall through */
    case WASM_OP_SELECT: {
      uint32_t s[3];
      pop_slots(T, s, 3);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, OP_SELECT, d, s[0], s[1], s[2]);
      break;
    }
    case WASM_OP_LOCAL_GET:
      push(T, (Val){V_LOCAL, code_u32(&T->rd), 0});
      break;
    case WASM_OP_LOCAL_SET:
      t_local_set(T, code_u32(&T->rd), false);
      break;
    case WASM_OP_LOCAL_TEE:
      t_local_set(T, code_u32(&T->rd), true);
      break;
    case WASM_OP_GLOBAL_GET: {
      uint32_t g = code_u32(&T->rd);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, OP_GLOBAL_GET, d, g);
      break;
    }
    case WASM_OP_GLOBAL_SET: {
      uint32_t g = code_u32(&T->rd);
      uint32_t s = pop_slot(T);
      WasmValType ty = T->w->globals[g].type.type;
      EMIT(T, ty == WASM_I32 || ty == WASM_F32 ? OP_GLOBAL_SET32 : OP_GLOBAL_SET, g, s);
      break;
    }
    case WASM_OP_TABLE_GET: {
      uint32_t tab = code_u32(&T->rd);
      uint32_t i = pop_slot(T);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, OP_TABLE_GET, d, tab, i);
      break;
    }
    case WASM_OP_TABLE_SET: {
      uint32_t tab = code_u32(&T->rd), s[2];
      pop_slots(T, s, 2);
      EMIT(T, OP_TABLE_SET, tab, s[0], s[1]);
      break;
    }
    case WASM_OP_MEMORY_SIZE: {
      code_u8(&T->rd);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, OP_MEMORY_SIZE, d);
      break;
    }
    case WASM_OP_MEMORY_GROW:
      code_u8(&T->rd);
      t_unary(T, OP_MEMORY_GROW);
      break;
    case WASM_OP_I32_CONST:
      push(T, (Val){V_CONST, 0, (uint32_t)code_sleb(&T->rd)});
      break;
    case WASM_OP_I64_CONST:
      push(T, (Val){V_CONST, 0, (uint64_t)code_sleb(&T->rd)});
      break;
    case WASM_OP_F32_CONST:
      push(T, (Val){V_CONST, 0, code_fixed(&T->rd, 4)});
      break;
    case WASM_OP_F64_CONST:
      push(T, (Val){V_CONST, 0, code_fixed(&T->rd, 8)});
      break;
    case WASM_OP_I32_EQZ:
      t_eqz(T, false);
      break;
    case WASM_OP_I64_EQZ:
      t_eqz(T, true);
      break;
    case WASM_OP_I32_CLZ:
      t_unary(T, OP_I32_CLZ);
      break;
    case WASM_OP_I32_CTZ:
      t_unary(T, OP_I32_CTZ);
      break;
    case WASM_OP_I32_POPCNT:
      t_unary(T, OP_I32_POPCNT);
      break;
    case WASM_OP_I64_CLZ:
      t_unary(T, OP_I64_CLZ);
      break;
    case WASM_OP_I64_CTZ:
      t_unary(T, OP_I64_CTZ);
      break;
    case WASM_OP_I64_POPCNT:
      t_unary(T, OP_I64_POPCNT);
      break;
    case WASM_OP_REF_NULL: /* the type changes nothing: null is 0 */
      code_u8(&T->rd);
      push(T, (Val){V_CONST, 0, 0});
      break;
    case WASM_OP_REF_IS_NULL:
      t_unary(T, OP_REF_IS_NULL);
      break;
    case WASM_OP_REF_FUNC: {
      uint32_t x = code_u32(&T->rd);
      uint32_t d = push_temp(T);
      EMIT_DST(T, T->sh - 1, OP_REF_FUNC, d, x);
      break;
    }
    case WASM_OP_PREFIX_FC: {
      uint32_t sub = code_u32(&T->rd);
      uint32_t s[3];
      if (sub <= WASM_FC_I64_TRUNC_SAT_F64_U) {
        t_unary(T, sat[sub]);
        break;
      }
      switch (sub) {
      case WASM_FC_MEMORY_INIT: {
        uint32_t seg = code_u32(&T->rd);
        code_u8(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_MEMORY_INIT, seg, s[0], s[1], s[2]);
        break;
      }
      case WASM_FC_DATA_DROP:
        EMIT(T, OP_DATA_DROP, code_u32(&T->rd));
        break;
      case WASM_FC_MEMORY_COPY:
        code_u8(&T->rd);
        code_u8(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_MEMORY_COPY, s[0], s[1], s[2]);
        break;
      case WASM_FC_MEMORY_FILL:
        code_u8(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_MEMORY_FILL, s[0], s[1], s[2]);
        break;
      case WASM_FC_TABLE_INIT: { /* seg table */
        uint32_t seg = code_u32(&T->rd), tab = code_u32(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_TABLE_INIT, tab, seg, s[0], s[1], s[2]);
        break;
      }
      case WASM_FC_ELEM_DROP:
        EMIT(T, OP_ELEM_DROP, code_u32(&T->rd));
        break;
      case WASM_FC_TABLE_COPY: { /* dst src */
        uint32_t dt = code_u32(&T->rd), st = code_u32(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_TABLE_COPY, dt, st, s[0], s[1], s[2]);
        break;
      }
      case WASM_FC_TABLE_GROW: { /* init, n */
        uint32_t tab = code_u32(&T->rd);
        pop_slots(T, s, 2);
        uint32_t d = push_temp(T);
        EMIT_DST(T, T->sh - 1, OP_TABLE_GROW, d, tab, s[0], s[1]);
        break;
      }
      case WASM_FC_TABLE_SIZE: {
        uint32_t tab = code_u32(&T->rd);
        uint32_t d = push_temp(T);
        EMIT_DST(T, T->sh - 1, OP_TABLE_SIZE, d, tab);
        break;
      }
      case WASM_FC_TABLE_FILL: { /* i, val, n */
        uint32_t tab = code_u32(&T->rd);
        pop_slots(T, s, 3);
        EMIT(T, OP_TABLE_FILL, tab, s[0], s[1], s[2]);
        break;
      }
      default:
        break; /* not in a validated body */
      }
      break;
    }
    default:
      if (op >= WASM_OP_I32_LOAD && op <= WASM_OP_I64_LOAD32_U) {
        t_load(T, loads[op - WASM_OP_I32_LOAD]);
      } else if (op >= WASM_OP_I32_STORE && op <= WASM_OP_I64_STORE32) {
        t_store(T, stores[op - WASM_OP_I32_STORE]);
      } else if (op >= WASM_OP_I32_EQ && op <= WASM_OP_I32_GE_U) {
        int rel = op - WASM_OP_I32_EQ;
        t_binary(T, (unsigned)(OP_I32_EQ_SS + rel * 2), 0, false, rel);
      } else if (op >= WASM_OP_I64_EQ && op <= WASM_OP_I64_GE_U) {
        int rel = op - WASM_OP_I64_EQ;
        t_binary(T, (unsigned)(OP_I64_EQ_SS + rel * 2), 0, true, rel);
      } else if (op >= WASM_OP_F32_EQ && op <= WASM_OP_F64_GE) {
        t_float_binary(T, fcmp[op - WASM_OP_F32_EQ]);
      } else if (op >= WASM_OP_I32_ADD && op <= WASM_OP_I32_ROTR) {
        unsigned i = op - WASM_OP_I32_ADD;
        t_binary(T, ibin[i].op32, ibin[i].flags, false, -1);
      } else if (op >= WASM_OP_I64_ADD && op <= WASM_OP_I64_ROTR) {
        unsigned i = op - WASM_OP_I64_ADD;
        t_binary(T, ibin[i].op64, ibin[i].flags, true, -1);
      } else if (op >= WASM_OP_F32_ABS && op <= WASM_OP_F64_COPYSIGN) {
        unsigned i = op - WASM_OP_F32_ABS;
        if (farith[i].un)
          t_unary(T, farith[i].op);
        else
          t_float_binary(T, farith[i].op);
      } else if (op >= WASM_OP_I32_WRAP_I64 && op <= WASM_OP_I64_EXTEND32_S) {
        if (conv[op - WASM_OP_I32_WRAP_I64] != OP_COUNT)
          t_unary(T, conv[op - WASM_OP_I32_WRAP_I64]);
      }
      /* Anything else cannot occur in a validated body. */
      break;
    }
  }
}

/* --- entry points --------------------------------------------------------- */

InterpCode *interp_translate(const Module *m, uint32_t func_index) {
  const WasmModule *w = m->wasm;
  const WasmFunc *fn = &w->funcs[func_index];
  const WasmFuncType *ft = wasm_func_type(w, func_index);
  Tr *T = calloc(1, sizeof *T);
  if (!T)
    return NULL;
  T->m = m;
  T->loop_headers = !runtime_config(m->rt)->no_monitor;
  T->w = w;
  T->body = fn->body;
  T->rd = code_reader(fn->body, fn->body + fn->body_len);
  T->handlers = interp_handlers();
  clear_peephole(T);
  T->nparams = ft->nparams;
  T->nresults = ft->nresults;
  /* The hidden zero local comes after the declared ones. */
  T->zero_slot = ft->nparams + fn->nlocals;
  T->nl = T->zero_slot + 1;

  InterpCode *c = NULL;
  if (setjmp(T->oom) == 0) {
    T->nrefs = calloc((size_t)T->nl + 1, sizeof *T->nrefs);
    if (!T->nrefs)
      longjmp(T->oom, 1);
    translate_body(T);
    c = malloc(sizeof *c + (size_t)T->ncode * sizeof(InterpWord));
    if (c) {
      c->func_index = func_index;
      c->nparams = ft->nparams;
      c->nlocals = fn->nlocals + 1; /* the zero slot is zeroed with them */
      c->nresults = ft->nresults;
      /* Room for the deepest operand stack, and for results even when the
       * function's body never pushes them itself (it then traps first). */
      c->frame_slots = T->nl + T->max_h + ft->nresults + 1;
      if (c->frame_slots < ft->nparams + 4)
        c->frame_slots = ft->nparams + 4; /* interp_entry clears four slots */
      c->ncode = T->ncode;
      c->ninstr = T->ninstr;
      c->nloops = T->nloops;
      c->loops = T->loops;
      T->loops = NULL;
      c->nsites = T->nsites;
      c->sites = T->sites;
      T->sites = NULL;
      c->nbranches = T->nbranches;
      c->branches = T->branches;
      T->branches = NULL;
      memcpy(c->code, T->code, (size_t)T->ncode * sizeof(InterpWord));
    }
  }
  free(T->loops);
  free(T->sites);
  free(T->branches);
  free(T->code);
  free(T->stk);
  free(T->ctl);
  free(T->pat);
  free(T->nrefs);
  free(T);
  return c;
}

void interp_stop_counting(InterpCode *code) {
  const void *const *handlers = interp_handlers();
  for (uint32_t i = 0; i < code->nbranches; i++) {
    const InterpBranch *b = &code->branches[i];
    /* One aligned word each: a reader sees the old form or the new, and
     * both run the instruction the same way. */
    if (handlers)
      __atomic_store_n(&code->code[b->pos].h, handlers[b->plain], __ATOMIC_RELAXED);
    else
      __atomic_store_n(&code->code[b->pos].u64, b->plain, __ATOMIC_RELAXED);
  }
}

void interp_free(InterpCode *code) {
  if (code) {
    free(code->loops);
    free(code->sites);
    free(code->branches);
  }
  free(code);
}

/* --- reading code back (dumps and tests) ---------------------------------- */

static unsigned op_of(const InterpWord *w, const void *const *handlers) {
  if (!handlers)
    return (unsigned)w->u64;
  for (unsigned op = 0; op < OP_COUNT; op++)
    if (handlers[op] == w->h)
      return op;
  return OP_COUNT;
}

/* Words taken by the instruction at pc, whose op is op. */
static uint32_t op_words(const InterpWord *pc, unsigned op) {
  if (op == OP_BR_TABLE) /* index, n, then n + 1 offsets */
    return INTERP_WORDS(2 + pc[1].u32[1] + 1, 0);
  return op_words_fixed[op];
}

void interp_dump(const InterpCode *c, FILE *out) {
  const void *const *handlers = interp_handlers();
  fprintf(out, "func %u: %u params, %u locals, %u results, %u slots, %u instructions\n",
          c->func_index, c->nparams, c->nlocals, c->nresults, c->frame_slots, c->ninstr);
  for (uint32_t pos = 0; pos < c->ncode;) {
    unsigned op = op_of(&c->code[pos], handlers);
    if (op == OP_COUNT) {
      fprintf(out, "  %5u ???\n", pos);
      return;
    }
    uint32_t n = op_words(&c->code[pos], op);
    fprintf(out, "  %5u %-20s", pos, interp_op_name(op));
    for (uint32_t i = 1; i < n; i++)
      fprintf(out, " %d %d", (int32_t)c->code[pos + i].u32[0], (int32_t)c->code[pos + i].u32[1]);
    fputc('\n', out);
    pos += n;
  }
}
