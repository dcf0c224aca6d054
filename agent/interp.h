/*
 * interp.h: the cold tier's internal code format, shared by translate.c
 * (which writes it) and interp.c (which runs it). Internal to the agent.
 *
 * A function runs in a frame of 64-bit slots on the thread's operand stack:
 *
 *   fp[0 .. nparams)              parameters (the caller put them there)
 *   fp[nparams .. nl)             declared locals (zeroed on entry)
 *   fp[nl .. nl + max_height)     operand stack: the value at height h lives
 *                                 in slot nl + h (its "home" slot)
 *
 * Operand-stack heights are static in WebAssembly, so every instruction names
 * its operand and result slots explicitly (three-address code): `i32.add`
 * becomes `I32_ADD_SS dst, a, b` where a or b may be a local's slot directly.
 * Results are left at fp[0 .. nresults) on return; a callee's frame starts at
 * the slot of its first argument, inside the caller's operand area.
 *
 * Code is an array of 64-bit words. An instruction is one word holding its
 * handler (a label address under computed goto, else the OP_* number),
 * followed by its 32-bit operand fields packed two per word (F0, F1 in the
 * first, F2, F3 in the second, ...), followed by any 64-bit immediates.
 * Branch offsets are signed word counts from the branching instruction's
 * first word. ops.h gives each op's fields and extra words.
 */
#ifndef KILN_INTERP_H
#define KILN_INTERP_H

#include <stdint.h>
#include <stdio.h>

#include "ops.h"
#include "runtime.h"

/* Direct threading needs GCC's labels-as-values; anything else (or
 * -DKILN_NO_COMPUTED_GOTO) gets the portable switch. */
#if defined(__GNUC__) && !defined(KILN_NO_COMPUTED_GOTO)
#define KILN_COMPUTED_GOTO 1
/* translate.c: one line per instruction, for debugging and tests. */
void interp_dump(const InterpCode *c, FILE *out);

#endif

/* Words of an instruction with nf fields and `extra` 64-bit words. */
#define INTERP_WORDS(nf, extra) (1 + ((nf) + 1) / 2 + (extra))

typedef union {
  const void *h;
  uint64_t u64;
  uint32_t u32[2];
  const void *ptr;
} InterpWord;

enum {
#define KILN_OP_ENUM(name, fields, extra) OP_##name,
  KILN_OPS(KILN_OP_ENUM)
#undef KILN_OP_ENUM
      OP_COUNT
};

/* A loop of the body: where its `loop` instruction is (bytes from the
 * body's start) and the operand stack height at its header, loop
 * parameters included. */
typedef struct {
  uint32_t offset, height;
} InterpLoop;

/* A call of the body: where it is (bytes from the body's start) and whom
 * it calls; INTERP_INDIRECT for call_indirect. */
#define INTERP_INDIRECT UINT32_MAX
typedef struct {
  uint32_t offset, callee;
} InterpSite;

/* A conditional branch that counts (the monitor's branch bias): the br_if
 * or if it comes from (bytes from the body's start), and whether it jumps
 * when the WebAssembly condition is true (br_if) or false (if, to its
 * else; br_if over the values its target needs moved). */
typedef struct {
  uint32_t offset;
  bool jumps_when;
  uint16_t plain; /* its plain form (OP_*) */
  uint32_t pos; /* where it is in code[] */
} InterpBranch;

/* Branches count until their function has run this many calls, or one of
 * its loops this many iterations (a profile of its first runs): then its
 * counting branches become plain ones (interp_stop_counting), and the
 * interpreter runs at full speed again. */
#define INTERP_COUNTED_CALLS 10000
#define INTERP_COUNTED_ITERATIONS 1000000

/* translate.c: turns code's counting branches into plain ones, in place.
 * On the thread that runs code (or while none does). */
void interp_stop_counting(InterpCode *code);

struct InterpCode {
  uint32_t func_index;
  uint32_t nparams, nlocals, nresults; /* nlocals: declared, params excluded */
  uint32_t frame_slots; /* params + locals + deepest operand stack */
  uint32_t ncode; /* words in code[] */
  uint32_t ninstr; /* instructions in code[] (tests check fusion by it) */
  uint32_t nloops; /* OP_LOOP's F0 indexes loops[] */
  InterpLoop *loops;
  uint32_t nsites; /* calls' last field indexes sites[] */
  InterpSite *sites;
  uint32_t nbranches; /* a counting branch's last field indexes branches[] */
  InterpBranch *branches;
  InterpWord code[];
};

/* The index in c->loops of the loop at offset (they are in body order),
 * or UINT32_MAX (NO_LOOP). Safe in a signal handler. */
static inline uint32_t interp_loop_at(const InterpCode *c, uint32_t offset) {
  uint32_t lo = 0, hi = c->nloops;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->loops[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < c->nloops && c->loops[lo].offset == offset ? lo : UINT32_MAX;
}

/* interp.c: the handler address of each OP_*, or NULL when dispatch is a
 * switch (code words then hold OP_* numbers). */
const void *const *interp_handlers(void);

/* interp.c: name of an OP_* for dumps and tests. */
const char *interp_op_name(unsigned op);

/* translate.c: one line per instruction, for debugging and tests. */
void interp_dump(const InterpCode *c, FILE *out);

#endif
