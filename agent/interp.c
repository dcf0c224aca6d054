/*
 * interp.c: the cold tier's dispatch loop.
 *
 * Runs the three-address code that translate.c makes (format in interp.h).
 * Each handler reads its operand fields F0.. from the words after the
 * handler word, works on frame slots fp[...], and moves pc past itself.
 * fp, pc, the memory base and the memory size are plain locals so gcc keeps
 * them in registers; the memory size is reloaded after anything that can
 * grow memory (calls and memory.grow), the base never moves (runtime.h).
 *
 * Dispatch is direct threading with GCC's computed goto: the handler word
 * holds the label address, so moving to the next instruction is one load and
 * one indirect jump, and each handler gets its own branch-predictor entry.
 * Without computed goto (or with -DKILN_NO_COMPUTED_GOTO) the same handler
 * bodies become the cases of a switch.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "interp.h"
#include "runtime.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* --- value helpers ---------------------------------------------------------
 * A slot is 64 bits; i32 and f32 live in its low half. Writers of 32-bit
 * values store them zero-extended (a full 64-bit store, so a later 64-bit
 * copy of the slot never waits on a partial store); readers only look at
 * the low half. */

static inline float f32_of(uint64_t s) {
  uint32_t u = (uint32_t)s;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static inline uint64_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static inline double f64_of(uint64_t s) {
  double d;
  memcpy(&d, &s, sizeof d);
  return d;
}
static inline uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

/* WebAssembly min/max: any NaN operand gives a NaN (a + b propagates it,
 * quieted), and -0 is smaller than +0, which C's < does not see. */
static inline float f32_min(float a, float b) {
  if (a != a || b != b)
    return a + b;
  if (a == b)
    return signbit(a) ? a : b;
  return a < b ? a : b;
}
static inline float f32_max(float a, float b) {
  if (a != a || b != b)
    return a + b;
  if (a == b)
    return signbit(a) ? b : a;
  return a > b ? a : b;
}
static inline double f64_min(double a, double b) {
  if (a != a || b != b)
    return a + b;
  if (a == b)
    return signbit(a) ? a : b;
  return a < b ? a : b;
}
static inline double f64_max(double a, double b) {
  if (a != a || b != b)
    return a + b;
  if (a == b)
    return signbit(a) ? b : a;
  return a > b ? a : b;
}

/* Rounding functions: libm hands a signalling NaN back unchanged, but wasm
 * wants an arithmetic (quiet) NaN, which any arithmetic on it gives. */
#define ROUNDING(NAME, T, FN)                                                                      \
  static inline T NAME(T x) {                                                                      \
    return x != x ? x + x : FN(x);                                                                 \
  }
ROUNDING(w_ceilf, float, ceilf)
ROUNDING(w_floorf, float, floorf)
ROUNDING(w_truncf, float, truncf)
ROUNDING(w_rintf, float, rintf)
ROUNDING(w_ceil, double, ceil)
ROUNDING(w_floor, double, floor)
ROUNDING(w_trunc, double, trunc)
ROUNDING(w_rint, double, rint)
#undef ROUNDING

static inline uint32_t rotl32(uint32_t x, uint32_t n) {
  n &= 31;
  return (x << n) | (x >> ((32 - n) & 31));
}
static inline uint32_t rotr32(uint32_t x, uint32_t n) {
  n &= 31;
  return (x >> n) | (x << ((32 - n) & 31));
}
static inline uint64_t rotl64(uint64_t x, uint64_t n) {
  n &= 63;
  return (x << n) | (x >> ((64 - n) & 63));
}
static inline uint64_t rotr64(uint64_t x, uint64_t n) {
  n &= 63;
  return (x >> n) | (x << ((64 - n) & 63));
}

/* Saturating truncation (0xFC 0..7): NaN is 0, out of range clamps. The
 * bounds are the first values outside the target range, exactly
 * representable in the source type. */
#define SAT(NAME, FT, IT, LO, HI, MIN, MAX)                                                        \
  static inline IT NAME(FT x) {                                                                    \
    if (x != x)                                                                                    \
      return 0;                                                                                    \
    if (!(x > (LO)))                                                                               \
      return MIN;                                                                                  \
    if (!(x < (HI)))                                                                               \
      return MAX;                                                                                  \
    return (IT)x;                                                                                  \
  }
SAT(sat_i32_f32, float, int32_t, -2147483904.0f, 2147483648.0f, INT32_MIN, INT32_MAX)
SAT(sat_u32_f32, float, uint32_t, -1.0f, 4294967296.0f, 0, UINT32_MAX)
SAT(sat_i32_f64, double, int32_t, -2147483649.0, 2147483648.0, INT32_MIN, INT32_MAX)
SAT(sat_u32_f64, double, uint32_t, -1.0, 4294967296.0, 0, UINT32_MAX)
SAT(sat_i64_f32, float, int64_t, -9223373136366403584.0f, 9223372036854775808.0f, INT64_MIN,
    INT64_MAX)
SAT(sat_u64_f32, float, uint64_t, -1.0f, 18446744073709551616.0f, 0, UINT64_MAX)
SAT(sat_i64_f64, double, int64_t, -9223372036854777856.0, 9223372036854775808.0, INT64_MIN,
    INT64_MAX)
SAT(sat_u64_f64, double, uint64_t, -1.0, 18446744073709551616.0, 0, UINT64_MAX)
#undef SAT

/* --- names ---------------------------------------------------------------- */

const char *interp_op_name(unsigned op) {
  static const char *const names[] = {
#define KILN_OP_NAME(name, fields, extra) #name,
      KILN_OPS(KILN_OP_NAME)
#undef KILN_OP_NAME
  };
  return op < OP_COUNT ? names[op] : "?";
}

/* --- the loop ------------------------------------------------------------- */

/* Operand fields of the current instruction (interp.h). */
#define F0 (pc[1].u32[0])
#define F1 (pc[1].u32[1])
#define F2 (pc[2].u32[0])
#define F3 (pc[2].u32[1])
#define F4 (pc[3].u32[0])
#define FIELD(k) (pc[1 + (k) / 2].u32[(k)&1])

/* Slot accessors by type. */
#define U32(s) ((uint32_t)fp[s])
#define I32(s) ((int32_t)(uint32_t)fp[s])
#define U64(s) (fp[s])
#define I64(s) ((int64_t)fp[s])
#define F32(s) f32_of(fp[s])
#define F64(s) f64_of(fp[s])
/* 32-bit immediates: zero-extended for i32 and unsigned use, sign-extended
 * to 64 bits for i64 operations. */
#define IMM_U64(v) ((uint64_t)(int64_t)(int32_t)(v))

#define TRAP(code) trap_raise(t, f, (code))
/* The C type behind F32()/F64(), named by pasting (handler macros below). */
#define F32_T float
#define F64_T double

#ifdef KILN_COMPUTED_GOTO
#define vmcase(op) L_##op:
#define vmdispatch() goto * pc->h
#else
#define vmcase(op) case OP_##op:
#define vmdispatch() goto dispatch
#endif
/* Move past an instruction of n words, or take a branch of offset off. */
#define vmnext(n)                                                                                  \
  do {                                                                                             \
    pc += (n);                                                                                     \
    vmdispatch();                                                                                  \
  } while (0)
#define vmjump(off) vmnext((int32_t)(off))

/* Memory access: effective address is the u32 address plus the u32 offset,
 * computed in 64 bits so it cannot wrap. */
#define MEM_CHECK(ea, size)                                                                        \
  if (UNLIKELY((ea) + (size) > memsize))                                                           \
    TRAP(TRAP_MEMORY_OOB);
#define MEM_EA(ea, addr_slot, size)                                                                \
  uint64_t ea = (uint64_t)U32(addr_slot) + F2;                                                     \
  MEM_CHECK(ea, size)
/* _X forms: the address is slot + (F3 slot << F4), wrapping likewise (an
 * I32_ADDSHL_A with an addend stays a separate instruction: the extra add
 * here would cost every array access more than it saves). */
#define MEM_EA_X(ea, addr_slot, size)                                                              \
  uint64_t ea = (uint64_t)(uint32_t)(U32(addr_slot) + (U32(F3) << F4)) + F2;                       \
  MEM_CHECK(ea, size)
/* _A forms: the address is slot + F3, wrapping at 32 bits like i32.add. */
#define MEM_EA_A(ea, addr_slot, size)                                                              \
  uint64_t ea = (uint64_t)(uint32_t)(U32(addr_slot) + F3) + F2;                                    \
  MEM_CHECK(ea, size)

#define RELOAD_MEMSIZE() (memsize = mem0 ? mem0->size : 0)

/* Space-Saving's step (runtime.h CallSiteProfile): the callee's slot, a
 * free one, or the least called one's place. Out of line: the interpreter's
 * hot path keeps only site_count_target's first compare. */
__attribute__((noinline)) void site_count_other(CallSiteProfile *s, uint32_t callee) {
  int least = 0;
  for (int k = 0; k < SITE_TARGETS; k++) {
    if (s->target_calls[k] && s->targets[k] == callee) {
      s->target_calls[k]++;
      return;
    }
    if (s->target_calls[k] < s->target_calls[least])
      least = k;
  }
  s->targets[least] = callee;
  s->target_calls[least]++;
}

/* interp_entry is the loop itself, so a call costs one C call, not two.
 * interp_handlers() asks it for its label table with a Thread that has no
 * runtime and a native stack limit no stack is below, so the request costs
 * ordinary calls nothing; the answer goes to fp[0]. */
void interp_entry(Thread *t, FuncInst *f, uint64_t *fp) {
#ifdef KILN_COMPUTED_GOTO
  static const void *const handlers[OP_COUNT] = {
#define KILN_OP_LABEL(name, fields, extra) &&L_##name,
      KILN_OPS(KILN_OP_LABEL)
#undef KILN_OP_LABEL
  };
#else
  static const void *const *const handlers = NULL;
#endif
  /* trap_check_native_stack, with the table request on its cold path. */
  {
    char probe;
    if (UNLIKELY((uintptr_t)&probe < t->native_limit)) {
      if (t->rt == NULL) {
        const void *const *out = handlers;
        memcpy(fp, &out, sizeof out);
        return;
      }
      trap_raise(t, f, TRAP_STACK_EXHAUSTED);
    }
  }
  /* A call boundary of the interpreter, where no entry pointer is held:
   * packages nobody uses go here when no compiled frame is below
   * (release.c), so that a script that went back to the interpreter for
   * good still lets them go. */
  release_point(t);
  const InterpCode *const code = f->code;
  FuncProfile *const prof = f->prof;
  if (UNLIKELY(++prof->calls == INTERP_COUNTED_CALLS))
    interp_stop_counting(f->code);
  t->running = f;
  t->running_loop = NO_LOOP;
  if (UNLIKELY((size_t)(t->stack_end - fp) < code->frame_slots))
    trap_raise(t, f, TRAP_STACK_EXHAUSTED);
  /* Declared locals start at zero; parameters are already in place. Four
   * slots are always cleared with plain stores (the frame has room for them,
   * translate.c, and at entry nothing above the parameters is live): most
   * functions need no more, and neither a call to memset nor a jump table
   * on the count is cheap for them. */
  {
    uint64_t *l = fp + code->nparams;
    l[0] = l[1] = l[2] = l[3] = 0;
    if (UNLIKELY(code->nlocals > 4))
      memset(l + 4, 0, (size_t)(code->nlocals - 4) * sizeof *l);
  }

  Instance *const inst = f->inst;
  MemoryInst *const mem0 = inst->mem0;
  uint8_t *const mem = mem0 ? mem0->base : NULL;
  uint64_t memsize;
  RELOAD_MEMSIZE();
  const InterpWord *pc = code->code;

#ifdef KILN_COMPUTED_GOTO
  vmdispatch();
  {
#else
dispatch:
  switch ((unsigned)pc->u64) {
#endif

    /* --- control ---------------------------------------------------------- */

    vmcase(UNREACHABLE) TRAP(TRAP_UNREACHABLE);

    vmcase(BR) vmjump(F0); /* F0 offset */

    vmcase(BR_NEZ32) { /* F0 cond, F1 offset (F2: the counting form's) */
      if (U32(F0) != 0)
        vmjump(F1);
      vmnext(3);
    }
    vmcase(BR_EQZ32) {
      if (U32(F0) == 0)
        vmjump(F1);
      vmnext(3);
    }
    vmcase(BR_NEZ64) {
      if (U64(F0) != 0)
        vmjump(F1);
      vmnext(3);
    }
    vmcase(BR_EQZ64) {
      if (U64(F0) == 0)
        vmjump(F1);
      vmnext(3);
    }

    /* The counting forms (the monitor is on): the last field indexes
     * prof->branches, whose n[1] counts jumps and n[0] falls-through. */
#define BR_COUNTED(name, cond, offset, site)                                                       \
  vmcase(name) {                                                                                   \
    bool jump_ = (cond);                                                                           \
    prof->branches[site].n[jump_]++;                                                               \
    if (jump_)                                                                                     \
      vmjump(offset);                                                                              \
    vmnext(3);                                                                                     \
  }
    BR_COUNTED(BR_NEZ32_P, U32(F0) != 0, F1, F2)
    BR_COUNTED(BR_EQZ32_P, U32(F0) == 0, F1, F2)
    BR_COUNTED(BR_NEZ64_P, U64(F0) != 0, F1, F2)
    BR_COUNTED(BR_EQZ64_P, U64(F0) == 0, F1, F2)
#undef BR_COUNTED

    vmcase(BR_TABLE) { /* F0 index, F1 n, F2 .. F(2+n) offsets, the last is the default */
      uint32_t i = U32(F0), n = F1;
      if (i > n)
        i = n;
      vmjump(FIELD(2 + i));
    }

    vmcase(RET) return; /* results already at fp[0 ..) */

    vmcase(RET1) { /* F0 the single result */
      fp[0] = fp[F0];
      return;
    }

/* Calls go through the callee's entry; when that is the interpreter, a
 * direct call is predicted better than the indirect one (same effect). The
 * entry may be switched by the tiering thread at any time (one atomic
 * store, tiering.c), so it is read once, atomically, right before the
 * call; any other entry is counted in compiled_depth while it runs
 * (release.c). Back from the call, this function is the one running again. */
#define CALL_ENTRY(callee, sp)                                                                     \
  do {                                                                                             \
    FuncEntry entry_ = __atomic_load_n(&(callee)->entry, __ATOMIC_ACQUIRE);                        \
    if (LIKELY(entry_ == interp_entry))                                                            \
      interp_entry(t, (callee), (sp));                                                             \
    else                                                                                           \
      release_call(t, entry_, (callee), (sp));                                                     \
    t->running = f;                                                                                \
    t->running_loop = NO_LOOP;                                                                     \
  } while (0)

    /* F0 the loop: index into code->loops and prof->loops. Once the
     * function has compiled code with an OSR entry, this activation moves
     * into it here, with its frame as it is (on-stack replacement), and
     * leaves the interpreter when the compiled code has run to the end. */
    vmcase(LOOP) {
      if (UNLIKELY(++prof->loops[F0].iterations == INTERP_COUNTED_ITERATIONS))
        interp_stop_counting(f->code);
      t->running_loop = F0;
      OsrEntry osr = __atomic_load_n(&f->osr, __ATOMIC_ACQUIRE);
      if (UNLIKELY(osr != NULL)) {
        /* Counted before the transfer, which may run for the rest of the
         * script, so the heat map shows it now; taken back if declined.
         * The transfer is a call into compiled code (release.c). */
        prof->loops[F0].osr_entries++;
        t->compiled_depth++;
        int done = osr(t, f, fp, code->loops[F0].offset);
        if (--t->compiled_depth == 0)
          release_point(t);
        if (done)
          return;
        prof->loops[F0].osr_entries--;
      }
      vmnext(2);
    }

    /* F3 of every call: its counter (prof->sites), the monitor's edges. */
    vmcase(CALL) { /* F0 function, F1 first argument (F2: room for CALL_R), F3 site */
      FuncInst *callee = inst->funcs[F0];
      prof->sites[F3].calls++;
      CALL_ENTRY(callee, fp + F1);
      RELOAD_MEMSIZE();
      vmnext(3);
    }
    vmcase(CALL_R) { /* as CALL, then the first result goes to F2 too (call; local.set) */
      FuncInst *callee = inst->funcs[F0];
      prof->sites[F3].calls++;
      CALL_ENTRY(callee, fp + F1);
      fp[F2] = fp[F1];
      RELOAD_MEMSIZE();
      vmnext(3);
    }

    vmcase(
        CALL_INDIRECT) { /* F0 table, F1 first argument, F2 element index, F3 site; word 3: Sig */
      TableInst *tab = inst->tables[F0];
      uint32_t i = U32(F2);
      if (UNLIKELY(i >= tab->size))
        TRAP(TRAP_UNDEFINED_ELEMENT);
      FuncInst *callee = tab->elems[i];
      if (UNLIKELY(callee == NULL))
        TRAP(TRAP_UNINITIALIZED_ELEMENT);
      if (UNLIKELY(callee->sig != (const Sig *)pc[3].ptr))
        TRAP(TRAP_INDIRECT_MISMATCH);
      if (callee->inst == inst) {
        prof->sites[F3].calls++;
        site_count_target(&prof->sites[F3], callee->index);
      }
      CALL_ENTRY(callee, fp + F1);
      RELOAD_MEMSIZE();
      vmnext(4);
    }

    /* Compare-and-branch: F0 a, F1 b (slot, or immediate for _SI), F2 offset. */
#define BRCMP(T, R, CT, OP, IMMCONV)                                                               \
  vmcase(BR_##T##_##R##_SS) {                                                                      \
    if ((CT)fp[F0] OP(CT) fp[F1])                                                                  \
      vmjump(F2);                                                                                  \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(BR_##T##_##R##_SI) {                                                                      \
    if ((CT)fp[F0] OP(CT) IMMCONV(F1))                                                             \
      vmjump(F2);                                                                                  \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(BR_##T##_##R##_SS_P) {                                                                    \
    bool jump_ = (CT)fp[F0] OP(CT) fp[F1];                                                         \
    prof->branches[F3].n[jump_]++;                                                                 \
    if (jump_)                                                                                     \
      vmjump(F2);                                                                                  \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(BR_##T##_##R##_SI_P) {                                                                    \
    bool jump_ = (CT)fp[F0] OP(CT) IMMCONV(F1);                                                    \
    prof->branches[F3].n[jump_]++;                                                                 \
    if (jump_)                                                                                     \
      vmjump(F2);                                                                                  \
    vmnext(3);                                                                                     \
  }
#define CMP(T, R, CT, OP, IMMCONV)                                                                 \
  vmcase(T##_##R##_SS) {                                                                           \
    fp[F0] = (CT)fp[F1] OP(CT) fp[F2];                                                             \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(T##_##R##_SI) {                                                                           \
    fp[F0] = (CT)fp[F1] OP(CT) IMMCONV(F2);                                                        \
    vmnext(3);                                                                                     \
  }
#define IMM32(v) (v)
#define RELS(M)                                                                                    \
  M(I32, EQ, uint32_t, ==, IMM32)                                                                  \
  M(I32, NE, uint32_t, !=, IMM32)                                                                  \
  M(I32, LT_S, int32_t, <, IMM32)                                                                  \
  M(I32, LT_U, uint32_t, <, IMM32)                                                                 \
  M(I32, GT_S, int32_t, >, IMM32)                                                                  \
  M(I32, GT_U, uint32_t, >, IMM32)                                                                 \
  M(I32, LE_S, int32_t, <=, IMM32)                                                                 \
  M(I32, LE_U, uint32_t, <=, IMM32)                                                                \
  M(I32, GE_S, int32_t, >=, IMM32)                                                                 \
  M(I32, GE_U, uint32_t, >=, IMM32)                                                                \
  M(I64, EQ, uint64_t, ==, IMM_U64)                                                                \
  M(I64, NE, uint64_t, !=, IMM_U64)                                                                \
  M(I64, LT_S, int64_t, <, IMM_U64)                                                                \
  M(I64, LT_U, uint64_t, <, IMM_U64)                                                               \
  M(I64, GT_S, int64_t, >, IMM_U64)                                                                \
  M(I64, GT_U, uint64_t, >, IMM_U64)                                                               \
  M(I64, LE_S, int64_t, <=, IMM_U64)                                                               \
  M(I64, LE_U, uint64_t, <=, IMM_U64)                                                              \
  M(I64, GE_S, int64_t, >=, IMM_U64)                                                               \
  M(I64, GE_U, uint64_t, >=, IMM_U64)
    RELS(BRCMP)
    RELS(CMP)
#undef BRCMP
#undef CMP

    /* --- data movement ---------------------------------------------------- */

    vmcase(COPY) { /* F0 dst, F1 src */
      fp[F0] = fp[F1];
      vmnext(2);
    }
    vmcase(CONST32) { /* F0 dst, F1 value (zero-extended) */
      fp[F0] = F1;
      vmnext(2);
    }
    vmcase(CONST64) { /* F0 dst; word 2 value */
      fp[F0] = pc[2].u64;
      vmnext(3);
    }
    vmcase(SELECT) { /* F0 dst, F1 a, F2 b, F3 cond */
      fp[F0] = U32(F3) ? fp[F1] : fp[F2];
      vmnext(3);
    }
    vmcase(GLOBAL_GET) { /* F0 dst, F1 global */
      fp[F0] = inst->globals[F1]->value;
      vmnext(2);
    }
    vmcase(GLOBAL_SET) { /* F0 global, F1 src */
      inst->globals[F0]->value = fp[F1];
      vmnext(2);
    }
    vmcase(GLOBAL_SET32) { /* as GLOBAL_SET; i32/f32 globals hold their value zero-extended */
      inst->globals[F0]->value = U32(F1);
      vmnext(2);
    }

    /* --- tables and references -------------------------------------------- */

    vmcase(TABLE_GET) { /* F0 dst, F1 table, F2 index */
      TableInst *tab = inst->tables[F1];
      uint32_t i = U32(F2);
      if (UNLIKELY(i >= tab->size))
        TRAP(TRAP_TABLE_OOB);
      fp[F0] = (uint64_t)(uintptr_t)tab->elems[i];
      vmnext(3);
    }
    vmcase(TABLE_SET) { /* F0 table, F1 index, F2 value */
      TableInst *tab = inst->tables[F0];
      uint32_t i = U32(F1);
      if (UNLIKELY(i >= tab->size))
        TRAP(TRAP_TABLE_OOB);
      tab->elems[i] = (void *)(uintptr_t)fp[F2];
      vmnext(3);
    }
    vmcase(TABLE_SIZE) { /* F0 dst, F1 table */
      fp[F0] = inst->tables[F1]->size;
      vmnext(2);
    }
    vmcase(TABLE_GROW) { /* F0 dst, F1 table, F2 init value, F3 delta */
      int64_t r = table_grow(inst->tables[F1], U32(F3), (void *)(uintptr_t)fp[F2]);
      fp[F0] = (uint32_t)r;
      vmnext(3);
    }
    vmcase(TABLE_FILL) { /* F0 table, F1 start, F2 value, F3 count */
      TableInst *tab = inst->tables[F0];
      uint32_t i = U32(F1), n = U32(F3);
      if (UNLIKELY((uint64_t)i + n > tab->size))
        TRAP(TRAP_TABLE_OOB);
      void *v = (void *)(uintptr_t)fp[F2];
      for (uint32_t k = 0; k < n; k++)
        tab->elems[i + k] = v;
      vmnext(3);
    }
    vmcase(TABLE_COPY) { /* F0 dst table, F1 src table, F2 d, F3 s, F4 n */
      TableInst *dt = inst->tables[F0], *st = inst->tables[F1];
      uint32_t d = U32(F2), s = U32(F3), n = U32(F4);
      if (UNLIKELY((uint64_t)s + n > st->size || (uint64_t)d + n > dt->size))
        TRAP(TRAP_TABLE_OOB);
      if (n)
        memmove(dt->elems + d, st->elems + s, (size_t)n * sizeof *dt->elems);
      vmnext(4);
    }
    vmcase(TABLE_INIT) { /* F0 table, F1 segment, F2 d, F3 s, F4 n */
      segment_table_init(t, f, F0, F1, U32(F2), U32(F3), U32(F4));
      vmnext(4);
    }
    vmcase(ELEM_DROP) { /* F0 segment */
      inst->elems[F0].len = 0;
      vmnext(2);
    }
    vmcase(REF_FUNC) { /* F0 dst, F1 function */
      fp[F0] = (uint64_t)(uintptr_t)inst->funcs[F1];
      vmnext(2);
    }
    vmcase(REF_IS_NULL) { /* F0 dst, F1 ref */
      fp[F0] = fp[F1] == 0;
      vmnext(2);
    }

    /* --- memory: loads F0 dst, F1 address, F2 offset; stores F0 address, F1
     * value, F2 offset; _A forms add F3 to the address --------------------- */

#define LOAD(NAME, CT, CONV)                                                                       \
  vmcase(NAME) {                                                                                   \
    MEM_EA(ea, F1, sizeof(CT));                                                                    \
    CT v_;                                                                                         \
    memcpy(&v_, mem + ea, sizeof v_);                                                              \
    fp[F0] = CONV(v_);                                                                             \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(NAME##_A) {                                                                               \
    MEM_EA_A(ea, F1, sizeof(CT));                                                                  \
    CT v_;                                                                                         \
    memcpy(&v_, mem + ea, sizeof v_);                                                              \
    fp[F0] = CONV(v_);                                                                             \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(NAME##_X) {                                                                               \
    MEM_EA_X(ea, F1, sizeof(CT));                                                                  \
    CT v_;                                                                                         \
    memcpy(&v_, mem + ea, sizeof v_);                                                              \
    fp[F0] = CONV(v_);                                                                             \
    vmnext(4);                                                                                     \
  }
#define ZX(v) ((uint64_t)(v))
#define SX32(v) ((uint64_t)(uint32_t)(int32_t)(v))
#define SX64(v) ((uint64_t)(int64_t)(v))
    LOAD(LOAD32, uint32_t, ZX)
    LOAD(LOAD64, uint64_t, ZX)
    LOAD(LOAD8_U, uint8_t, ZX)
    LOAD(LOAD16_U, uint16_t, ZX)
    LOAD(I32_LOAD8_S, int8_t, SX32)
    LOAD(I32_LOAD16_S, int16_t, SX32)
    LOAD(I64_LOAD8_S, int8_t, SX64)
    LOAD(I64_LOAD16_S, int16_t, SX64)
    LOAD(I64_LOAD32_S, int32_t, SX64)
#undef LOAD

#define STORE(NAME, CT)                                                                            \
  vmcase(NAME) {                                                                                   \
    MEM_EA(ea, F0, sizeof(CT));                                                                    \
    CT v_ = (CT)fp[F1];                                                                            \
    memcpy(mem + ea, &v_, sizeof v_);                                                              \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(NAME##_A) {                                                                               \
    MEM_EA_A(ea, F0, sizeof(CT));                                                                  \
    CT v_ = (CT)fp[F1];                                                                            \
    memcpy(mem + ea, &v_, sizeof v_);                                                              \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(NAME##_X) {                                                                               \
    MEM_EA_X(ea, F0, sizeof(CT));                                                                  \
    CT v_ = (CT)fp[F1];                                                                            \
    memcpy(mem + ea, &v_, sizeof v_);                                                              \
    vmnext(4);                                                                                     \
  }
    STORE(STORE8, uint8_t)
    STORE(STORE16, uint16_t)
    STORE(STORE32, uint32_t)
    STORE(STORE64, uint64_t)
#undef STORE

    vmcase(MEMORY_SIZE) { /* F0 dst */
      fp[F0] = mem0->pages;
      vmnext(2);
    }
    vmcase(MEMORY_GROW) { /* F0 dst, F1 delta in pages */
      int64_t r = memory_grow(mem0, U32(F1));
      fp[F0] = (uint32_t)r;
      RELOAD_MEMSIZE();
      vmnext(2);
    }
    vmcase(MEMORY_INIT) { /* F0 segment, F1 d, F2 s, F3 n */
      segment_memory_init(t, f, F0, U32(F1), U32(F2), U32(F3));
      vmnext(3);
    }
    vmcase(DATA_DROP) { /* F0 segment */
      inst->data_len[F0] = 0;
      vmnext(2);
    }
    vmcase(MEMORY_COPY) { /* F0 d, F1 s, F2 n; bounds first, even for n == 0 */
      uint32_t d = U32(F0), s = U32(F1), n = U32(F2);
      if (UNLIKELY((uint64_t)s + n > memsize || (uint64_t)d + n > memsize))
        TRAP(TRAP_MEMORY_OOB);
      if (n)
        memmove(mem + d, mem + s, n);
      vmnext(3);
    }
    vmcase(MEMORY_FILL) { /* F0 d, F1 byte, F2 n */
      uint32_t d = U32(F0), n = U32(F2);
      if (UNLIKELY((uint64_t)d + n > memsize))
        TRAP(TRAP_MEMORY_OOB);
      if (n)
        memset(mem + d, (int)(uint8_t)fp[F1], n);
      vmnext(3);
    }

    /* --- integer arithmetic: F0 dst, F1 a, F2 b (slot, or immediate for _SI) */

#define IBIN32(N, EXPR)                                                                            \
  vmcase(I32_##N##_SS) {                                                                           \
    uint32_t a = U32(F1), b = U32(F2);                                                             \
    fp[F0] = (uint32_t)(EXPR);                                                                     \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(I32_##N##_SI) {                                                                           \
    uint32_t a = U32(F1), b = F2;                                                                  \
    fp[F0] = (uint32_t)(EXPR);                                                                     \
    vmnext(3);                                                                                     \
  }
#define IBIN64(N, EXPR)                                                                            \
  vmcase(I64_##N##_SS) {                                                                           \
    uint64_t a = U64(F1), b = U64(F2);                                                             \
    fp[F0] = (uint64_t)(EXPR);                                                                     \
    vmnext(3);                                                                                     \
  }                                                                                                \
  vmcase(I64_##N##_SI) {                                                                           \
    uint64_t a = U64(F1), b = IMM_U64(F2);                                                         \
    fp[F0] = (uint64_t)(EXPR);                                                                     \
    vmnext(3);                                                                                     \
  }
    IBIN32(ADD, a + b)
    IBIN32(SUB, a - b)
    IBIN32(MUL, a * b)
    IBIN32(AND, a & b)
    IBIN32(OR, a | b)
    IBIN32(XOR, a ^ b)
    IBIN32(SHL, a << (b & 31))
    IBIN32(SHR_S, (int32_t)a >> (b & 31))
    IBIN32(SHR_U, a >> (b & 31))
    IBIN32(ROTL, rotl32(a, b))
    IBIN32(ROTR, rotr32(a, b))
    IBIN64(ADD, a + b)
    IBIN64(SUB, a - b)
    IBIN64(MUL, a * b)
    IBIN64(AND, a & b)
    IBIN64(OR, a | b)
    IBIN64(XOR, a ^ b)
    IBIN64(SHL, a << (b & 63))
    IBIN64(SHR_S, (int64_t)a >> (b & 63))
    IBIN64(SHR_U, a >> (b & 63))
    IBIN64(ROTL, rotl64(a, b))
    IBIN64(ROTR, rotr64(a, b))
#undef IBIN32
#undef IBIN64

    vmcase(I32_ADDSHL) { /* F0 dst, F1 base, F2 index, F3 shift: array addressing */
      fp[F0] = (uint32_t)(U32(F1) + (U32(F2) << F3));
      vmnext(3);
    }
    vmcase(I32_ADDSHL_A) { /* as I32_ADDSHL, plus F4 */
      fp[F0] = (uint32_t)(U32(F1) + (U32(F2) << F3) + F4);
      vmnext(4);
    }

    /* Division. The _SI forms are only made for divisors other than 0 and
     * -1 (translate.c), so they need no checks. */
    vmcase(I32_DIV_S_SS) {
      int32_t a = I32(F1), b = I32(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      if (UNLIKELY(a == INT32_MIN && b == -1))
        TRAP(TRAP_INT_OVERFLOW);
      fp[F0] = (uint32_t)(a / b);
      vmnext(3);
    }
    vmcase(I32_DIV_S_SI) {
      fp[F0] = (uint32_t)(I32(F1) / (int32_t)F2);
      vmnext(3);
    }
    vmcase(I32_DIV_U_SS) {
      uint32_t b = U32(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = U32(F1) / b;
      vmnext(3);
    }
    vmcase(I32_DIV_U_SI) {
      fp[F0] = U32(F1) / F2;
      vmnext(3);
    }
    vmcase(I32_REM_S_SS) { /* INT_MIN % -1 is 0 in wasm, undefined in C */
      int32_t a = I32(F1), b = I32(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = b == -1 ? 0 : (uint32_t)(a % b);
      vmnext(3);
    }
    vmcase(I32_REM_S_SI) {
      fp[F0] = (uint32_t)(I32(F1) % (int32_t)F2);
      vmnext(3);
    }
    vmcase(I32_REM_U_SS) {
      uint32_t b = U32(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = U32(F1) % b;
      vmnext(3);
    }
    vmcase(I32_REM_U_SI) {
      fp[F0] = U32(F1) % F2;
      vmnext(3);
    }
    vmcase(I64_DIV_S_SS) {
      int64_t a = I64(F1), b = I64(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      if (UNLIKELY(a == INT64_MIN && b == -1))
        TRAP(TRAP_INT_OVERFLOW);
      fp[F0] = (uint64_t)(a / b);
      vmnext(3);
    }
    vmcase(I64_DIV_S_SI) {
      fp[F0] = (uint64_t)(I64(F1) / (int64_t)(int32_t)F2);
      vmnext(3);
    }
    vmcase(I64_DIV_U_SS) {
      uint64_t b = U64(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = U64(F1) / b;
      vmnext(3);
    }
    vmcase(I64_DIV_U_SI) {
      fp[F0] = U64(F1) / IMM_U64(F2);
      vmnext(3);
    }
    vmcase(I64_REM_S_SS) {
      int64_t a = I64(F1), b = I64(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = b == -1 ? 0 : (uint64_t)(a % b);
      vmnext(3);
    }
    vmcase(I64_REM_S_SI) {
      fp[F0] = (uint64_t)(I64(F1) % (int64_t)(int32_t)F2);
      vmnext(3);
    }
    vmcase(I64_REM_U_SS) {
      uint64_t b = U64(F2);
      if (UNLIKELY(b == 0))
        TRAP(TRAP_INT_DIV_ZERO);
      fp[F0] = U64(F1) % b;
      vmnext(3);
    }
    vmcase(I64_REM_U_SI) {
      fp[F0] = U64(F1) % IMM_U64(F2);
      vmnext(3);
    }

    /* Integer unary: F0 dst, F1 a. */
#define UN(NAME, EXPR)                                                                             \
  vmcase(NAME) {                                                                                   \
    fp[F0] = (EXPR);                                                                               \
    vmnext(2);                                                                                     \
  }
    UN(I32_EQZ, U32(F1) == 0)
    UN(I32_CLZ, U32(F1) ? (uint32_t)__builtin_clz(U32(F1)) : 32u)
    UN(I32_CTZ, U32(F1) ? (uint32_t)__builtin_ctz(U32(F1)) : 32u)
    UN(I32_POPCNT, (uint32_t)__builtin_popcount(U32(F1)))
    UN(I32_EXTEND8_S, (uint32_t)(int32_t)(int8_t)U32(F1))
    UN(I32_EXTEND16_S, (uint32_t)(int32_t)(int16_t)U32(F1))
    UN(I64_EQZ, U64(F1) == 0)
    UN(I64_CLZ, U64(F1) ? (uint64_t)__builtin_clzll(U64(F1)) : 64u)
    UN(I64_CTZ, U64(F1) ? (uint64_t)__builtin_ctzll(U64(F1)) : 64u)
    UN(I64_POPCNT, (uint64_t)__builtin_popcountll(U64(F1)))
    UN(I64_EXTEND8_S, (uint64_t)(int64_t)(int8_t)U64(F1))
    UN(I64_EXTEND16_S, (uint64_t)(int64_t)(int16_t)U64(F1))
    UN(I64_EXTEND32_S, (uint64_t)(int64_t)(int32_t)U64(F1))
    UN(I32_WRAP_I64, U32(F1))
    UN(I64_EXTEND_I32_U, U32(F1))

    /* --- floating point: F0 dst, F1 a, F2 b. Sign operations work on bits so
     * NaN payloads pass through untouched, as the spec requires. ------------ */

#define FBIN(NAME, GET, PUT, EXPR)                                                                 \
  vmcase(NAME) {                                                                                   \
    GET##_T a = GET(F1), b = GET(F2);                                                              \
    fp[F0] = PUT(EXPR);                                                                            \
    vmnext(3);                                                                                     \
  }
#define FCMP(NAME, GET, OP)                                                                        \
  vmcase(NAME) {                                                                                   \
    fp[F0] = GET(F1) OP GET(F2);                                                                   \
    vmnext(3);                                                                                     \
  }
#define FUN(NAME, GET, PUT, FN)                                                                    \
  vmcase(NAME) {                                                                                   \
    fp[F0] = PUT(FN(GET(F1)));                                                                     \
    vmnext(2);                                                                                     \
  }
    FCMP(F32_EQ, F32, ==)
    FCMP(F32_NE, F32, !=)
    FCMP(F32_LT, F32, <)
    FCMP(F32_GT, F32, >)
    FCMP(F32_LE, F32, <=)
    FCMP(F32_GE, F32, >=)
    FCMP(F64_EQ, F64, ==)
    FCMP(F64_NE, F64, !=)
    FCMP(F64_LT, F64, <)
    FCMP(F64_GT, F64, >)
    FCMP(F64_LE, F64, <=)
    FCMP(F64_GE, F64, >=)
    FBIN(F32_ADD, F32, f32_bits, a + b)
    FBIN(F32_SUB, F32, f32_bits, a - b)
    FBIN(F32_MUL, F32, f32_bits, a * b)
    FBIN(F32_DIV, F32, f32_bits, a / b)
    FBIN(F32_MIN, F32, f32_bits, f32_min(a, b))
    FBIN(F32_MAX, F32, f32_bits, f32_max(a, b))
    FBIN(F64_ADD, F64, f64_bits, a + b)
    FBIN(F64_SUB, F64, f64_bits, a - b)
    FBIN(F64_MUL, F64, f64_bits, a * b)
    FBIN(F64_DIV, F64, f64_bits, a / b)
    FBIN(F64_MIN, F64, f64_bits, f64_min(a, b))
    FBIN(F64_MAX, F64, f64_bits, f64_max(a, b))
    /* Multiply then add or subtract (F0 dst, F1 a, F2 b, F3 c): two
     * instructions in one dispatch, still rounded twice as WebAssembly
     * requires. The product goes through its bit pattern, so even a build
     * allowing contraction into fused multiply-add cannot merge them. */
#define FMULOP(NAME, GET, PUT, EXPR)                                                               \
  vmcase(NAME) {                                                                                   \
    GET##_T p_ = GET(F1) * GET(F2);                                                                \
    uint64_t pb_ = PUT(p_);                                                                        \
    GET##_T m = GET##_BITS(pb_), c = GET(F3);                                                      \
    fp[F0] = PUT(EXPR);                                                                            \
    vmnext(3);                                                                                     \
  }
#define F32_BITS f32_of
#define F64_BITS f64_of
    FMULOP(F32_MULADD, F32, f32_bits, m + c)
    FMULOP(F32_MULSUB, F32, f32_bits, m - c)
    FMULOP(F32_SUBMUL, F32, f32_bits, c - m)
    FMULOP(F64_MULADD, F64, f64_bits, m + c)
    FMULOP(F64_MULSUB, F64, f64_bits, m - c)
    FMULOP(F64_SUBMUL, F64, f64_bits, c - m)
#undef FMULOP
#undef F32_BITS
#undef F64_BITS
    FUN(F32_CEIL, F32, f32_bits, w_ceilf)
    FUN(F32_FLOOR, F32, f32_bits, w_floorf)
    FUN(F32_TRUNC, F32, f32_bits, w_truncf)
    FUN(F32_NEAREST, F32, f32_bits, w_rintf) /* default rounding: ties to even */
    FUN(F32_SQRT, F32, f32_bits, sqrtf)
    FUN(F64_CEIL, F64, f64_bits, w_ceil)
    FUN(F64_FLOOR, F64, f64_bits, w_floor)
    FUN(F64_TRUNC, F64, f64_bits, w_trunc)
    FUN(F64_NEAREST, F64, f64_bits, w_rint)
    FUN(F64_SQRT, F64, f64_bits, sqrt)
    UN(F32_ABS, U32(F1) & 0x7fffffffu)
    UN(F32_NEG, U32(F1) ^ 0x80000000u)
    vmcase(F32_COPYSIGN) {
      fp[F0] = (U32(F1) & 0x7fffffffu) | (U32(F2) & 0x80000000u);
      vmnext(3);
    }
    UN(F64_ABS, U64(F1) & 0x7fffffffffffffffull)
    UN(F64_NEG, U64(F1) ^ 0x8000000000000000ull)
    vmcase(F64_COPYSIGN) {
      fp[F0] = (U64(F1) & 0x7fffffffffffffffull) | (U64(F2) & 0x8000000000000000ull);
      vmnext(3);
    }
#undef FBIN
#undef FCMP
#undef FUN

    /* --- conversions: F0 dst, F1 a. Trapping truncation accepts exactly the
     * values whose truncation fits: the bounds are the nearest values outside
     * the range, exact in the source type. ---------------------------------- */

#define TRUNC(NAME, GET, LO, HI, CONV)                                                             \
  vmcase(NAME) {                                                                                   \
    GET##_T x = GET(F1);                                                                           \
    if (UNLIKELY(x != x))                                                                          \
      TRAP(TRAP_INVALID_CONVERSION);                                                               \
    if (UNLIKELY(!(x > (LO) && x < (HI))))                                                         \
      TRAP(TRAP_INT_OVERFLOW);                                                                     \
    fp[F0] = CONV(x);                                                                              \
    vmnext(2);                                                                                     \
  }
#define TO_I32(x) ((uint32_t)(int32_t)(x))
#define TO_U32(x) ((uint32_t)(x))
#define TO_I64(x) ((uint64_t)(int64_t)(x))
#define TO_U64(x) ((uint64_t)(x))
    TRUNC(I32_TRUNC_F32_S, F32, -2147483904.0f, 2147483648.0f, TO_I32)
    TRUNC(I32_TRUNC_F32_U, F32, -1.0f, 4294967296.0f, TO_U32)
    TRUNC(I32_TRUNC_F64_S, F64, -2147483649.0, 2147483648.0, TO_I32)
    TRUNC(I32_TRUNC_F64_U, F64, -1.0, 4294967296.0, TO_U32)
    TRUNC(I64_TRUNC_F32_S, F32, -9223373136366403584.0f, 9223372036854775808.0f, TO_I64)
    TRUNC(I64_TRUNC_F32_U, F32, -1.0f, 18446744073709551616.0f, TO_U64)
    TRUNC(I64_TRUNC_F64_S, F64, -9223372036854777856.0, 9223372036854775808.0, TO_I64)
    TRUNC(I64_TRUNC_F64_U, F64, -1.0, 18446744073709551616.0, TO_U64)
#undef TRUNC
    UN(I32_TRUNC_SAT_F32_S, (uint32_t)sat_i32_f32(F32(F1)))
    UN(I32_TRUNC_SAT_F32_U, sat_u32_f32(F32(F1)))
    UN(I32_TRUNC_SAT_F64_S, (uint32_t)sat_i32_f64(F64(F1)))
    UN(I32_TRUNC_SAT_F64_U, sat_u32_f64(F64(F1)))
    UN(I64_TRUNC_SAT_F32_S, (uint64_t)sat_i64_f32(F32(F1)))
    UN(I64_TRUNC_SAT_F32_U, sat_u64_f32(F32(F1)))
    UN(I64_TRUNC_SAT_F64_S, (uint64_t)sat_i64_f64(F64(F1)))
    UN(I64_TRUNC_SAT_F64_U, sat_u64_f64(F64(F1)))
    UN(F32_CONVERT_I32_S, f32_bits((float)I32(F1)))
    UN(F32_CONVERT_I32_U, f32_bits((float)U32(F1)))
    UN(F32_CONVERT_I64_S, f32_bits((float)I64(F1)))
    UN(F32_CONVERT_I64_U, f32_bits((float)U64(F1)))
    UN(F32_DEMOTE_F64, f32_bits((float)F64(F1)))
    UN(F64_CONVERT_I32_S, f64_bits((double)I32(F1)))
    UN(F64_CONVERT_I32_U, f64_bits((double)U32(F1)))
    UN(F64_CONVERT_I64_S, f64_bits((double)I64(F1)))
    UN(F64_CONVERT_I64_U, f64_bits((double)U64(F1)))
    UN(F64_PROMOTE_F32, f64_bits((double)F32(F1)))
#undef UN

#ifndef KILN_COMPUTED_GOTO
  default:
    __builtin_unreachable();
#endif
  }
}

const void *const *interp_handlers(void) {
  const void *const *table;
  uint64_t buf[1];
  Thread probe = {.rt = NULL, .native_limit = UINTPTR_MAX};
  interp_entry(&probe, NULL, buf);
  memcpy(&table, buf, sizeof table);
  return table;
}
