/*
 * vm.c: a branchy interpreter loop.
 *
 * A tiny register machine (16 registers, a word-addressed data memory, a
 * switch-dispatched loop) and an assembler with labels, running three small
 * programs: Collatz chain lengths, a sieve of Eratosthenes and Euclid's gcd
 * over a grid. What the host engine sees is one hot function full of
 * unpredictable indirect and conditional branches.
 *
 * Usage: vm [N]   (N = 400000 by default)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum {
  OP_HALT,
  OP_LI, /* ra = imm */
  OP_MOV, /* ra = rb */
  OP_ADD, /* ra = rb + rc */
  OP_SUB, /* ra = rb - rc */
  OP_MUL, /* ra = rb * rc */
  OP_DIV, /* ra = rb / rc */
  OP_MOD, /* ra = rb % rc */
  OP_AND, /* ra = rb & rc */
  OP_SHR, /* ra = rb >> imm */
  OP_ADDI, /* ra = rb + imm */
  OP_LD, /* ra = mem[rb + imm] */
  OP_ST, /* mem[rb + imm] = ra */
  OP_JMP, /* pc = imm */
  OP_JZ, /* if ra == 0: pc = imm */
  OP_JNZ, /* if ra != 0: pc = imm */
  OP_JLT, /* if ra < rb: pc = imm */
  OP_JGE, /* if ra >= rb: pc = imm */
  OP_OUT, /* output ra */
};

typedef struct {
  uint8_t op, a, b, c;
  int32_t imm;
} Insn;

#define MAX_CODE 256
#define MAX_LABELS 32
#define MAX_OUT 8

typedef struct {
  Insn code[MAX_CODE];
  int ncode;
  int label_at[MAX_LABELS]; /* instruction index, or -1 while unbound */
  int nlabels;
} Asm;

static void asm_init(Asm *as) {
  as->ncode = 0;
  as->nlabels = 0;
}

static int new_label(Asm *as) {
  if (as->nlabels == MAX_LABELS) {
    fprintf(stderr, "vm: too many labels\n");
    exit(2);
  }
  as->label_at[as->nlabels] = -1;
  return as->nlabels++;
}

static void bind(Asm *as, int label) {
  as->label_at[label] = as->ncode;
}

static void emit(Asm *as, int op, int a, int b, int c, int32_t imm) {
  if (as->ncode == MAX_CODE) {
    fprintf(stderr, "vm: program too long\n");
    exit(2);
  }
  as->code[as->ncode++] = (Insn){(uint8_t)op, (uint8_t)a, (uint8_t)b, (uint8_t)c, imm};
}

/* Jumps carry a label number until asm_link turns it into an address. */
static void jump(Asm *as, int op, int a, int b, int label) {
  emit(as, op, a, b, 0, label);
}

static void asm_link(Asm *as) {
  for (int i = 0; i < as->ncode; i++) {
    Insn *in = &as->code[i];
    if (in->op >= OP_JMP && in->op <= OP_JGE) {
      int at = as->label_at[in->imm];
      if (at < 0) {
        fprintf(stderr, "vm: unbound label %d\n", (int)in->imm);
        exit(2);
      }
      in->imm = at;
    }
  }
}

typedef struct {
  int64_t out[MAX_OUT];
  int nout;
  uint64_t steps;
} Result;

static Result run(const Insn *code, int64_t *mem, int64_t mem_size) {
  int64_t r[16] = {0};
  Result res = {{0}, 0, 0};
  int pc = 0;
  for (;;) {
    const Insn *in = &code[pc++];
    res.steps++;
    switch (in->op) {
    case OP_HALT:
      return res;
    case OP_LI:
      r[in->a] = in->imm;
      break;
    case OP_MOV:
      r[in->a] = r[in->b];
      break;
    case OP_ADD:
      r[in->a] = r[in->b] + r[in->c];
      break;
    case OP_SUB:
      r[in->a] = r[in->b] - r[in->c];
      break;
    case OP_MUL:
      r[in->a] = r[in->b] * r[in->c];
      break;
    case OP_DIV:
      r[in->a] = r[in->c] ? r[in->b] / r[in->c] : 0;
      break;
    case OP_MOD:
      r[in->a] = r[in->c] ? r[in->b] % r[in->c] : 0;
      break;
    case OP_AND:
      r[in->a] = r[in->b] & r[in->c];
      break;
    case OP_SHR:
      r[in->a] = r[in->b] >> in->imm;
      break;
    case OP_ADDI:
      r[in->a] = r[in->b] + in->imm;
      break;
    case OP_LD: {
      int64_t addr = r[in->b] + in->imm;
      r[in->a] = addr >= 0 && addr < mem_size ? mem[addr] : 0;
      break;
    }
    case OP_ST: {
      int64_t addr = r[in->b] + in->imm;
      if (addr >= 0 && addr < mem_size)
        mem[addr] = r[in->a];
      break;
    }
    case OP_JMP:
      pc = in->imm;
      break;
    case OP_JZ:
      if (r[in->a] == 0)
        pc = in->imm;
      break;
    case OP_JNZ:
      if (r[in->a] != 0)
        pc = in->imm;
      break;
    case OP_JLT:
      if (r[in->a] < r[in->b])
        pc = in->imm;
      break;
    case OP_JGE:
      if (r[in->a] >= r[in->b])
        pc = in->imm;
      break;
    case OP_OUT:
      if (res.nout < MAX_OUT)
        res.out[res.nout++] = r[in->a];
      break;
    default:
      fprintf(stderr, "vm: bad opcode %d at %d\n", in->op, pc - 1);
      exit(2);
    }
  }
}

/* Sum and maximum of the Collatz chain lengths of 1..n, and where the maximum
 * is reached. Registers: 1 i, 2 n, 3 x, 4 len, 5 total, 6 best, 7 best_i,
 * 8 one, 9 tmp, 10 three. */
static void collatz_program(Asm *as, int32_t n) {
  int loop = new_label(as), chain = new_label(as), odd = new_label(as), next = new_label(as),
      done = new_label(as), not_best = new_label(as);
  emit(as, OP_LI, 1, 0, 0, 1);
  emit(as, OP_LI, 2, 0, 0, n);
  emit(as, OP_LI, 5, 0, 0, 0);
  emit(as, OP_LI, 6, 0, 0, 0);
  emit(as, OP_LI, 7, 0, 0, 0);
  emit(as, OP_LI, 8, 0, 0, 1);
  emit(as, OP_LI, 10, 0, 0, 3);
  bind(as, loop);
  jump(as, OP_JLT, 2, 1, done); /* n < i */
  emit(as, OP_MOV, 3, 1, 0, 0);
  emit(as, OP_LI, 4, 0, 0, 0);
  bind(as, chain);
  emit(as, OP_SUB, 9, 3, 8, 0); /* x == 1? */
  jump(as, OP_JZ, 9, 0, next);
  emit(as, OP_ADDI, 4, 4, 0, 1);
  emit(as, OP_AND, 9, 3, 8, 0);
  jump(as, OP_JNZ, 9, 0, odd);
  emit(as, OP_SHR, 3, 3, 0, 1);
  jump(as, OP_JMP, 0, 0, chain);
  bind(as, odd);
  emit(as, OP_MUL, 3, 3, 10, 0);
  emit(as, OP_ADDI, 3, 3, 0, 1);
  jump(as, OP_JMP, 0, 0, chain);
  bind(as, next);
  emit(as, OP_ADD, 5, 5, 4, 0);
  jump(as, OP_JGE, 6, 4, not_best);
  emit(as, OP_MOV, 6, 4, 0, 0);
  emit(as, OP_MOV, 7, 1, 0, 0);
  bind(as, not_best);
  emit(as, OP_ADDI, 1, 1, 0, 1);
  jump(as, OP_JMP, 0, 0, loop);
  bind(as, done);
  emit(as, OP_OUT, 5, 0, 0, 0);
  emit(as, OP_OUT, 6, 0, 0, 0);
  emit(as, OP_OUT, 7, 0, 0, 0);
  emit(as, OP_HALT, 0, 0, 0, 0);
}

/* Number of primes below n and the largest of them, with a sieve in memory.
 * Registers: 1 i, 2 n, 3 j, 4 count, 5 last, 6 tmp, 7 i*i. */
static void sieve_program(Asm *as, int32_t n) {
  int outer = new_label(as), skip = new_label(as), mark = new_label(as), marked = new_label(as),
      count_loop = new_label(as), not_prime = new_label(as), counted = new_label(as);
  emit(as, OP_LI, 2, 0, 0, n);
  emit(as, OP_LI, 1, 0, 0, 2);
  bind(as, outer);
  emit(as, OP_MUL, 7, 1, 1, 0);
  jump(as, OP_JGE, 7, 2, marked); /* i * i >= n */
  emit(as, OP_LD, 6, 1, 0, 0);
  jump(as, OP_JNZ, 6, 0, skip); /* mem[i] != 0: composite */
  emit(as, OP_MOV, 3, 7, 0, 0);
  emit(as, OP_LI, 6, 0, 0, 1);
  bind(as, mark);
  jump(as, OP_JGE, 3, 2, skip);
  emit(as, OP_ST, 6, 3, 0, 0);
  emit(as, OP_ADD, 3, 3, 1, 0);
  jump(as, OP_JMP, 0, 0, mark);
  bind(as, skip);
  emit(as, OP_ADDI, 1, 1, 0, 1);
  jump(as, OP_JMP, 0, 0, outer);
  bind(as, marked);
  emit(as, OP_LI, 1, 0, 0, 2);
  emit(as, OP_LI, 4, 0, 0, 0);
  emit(as, OP_LI, 5, 0, 0, 0);
  bind(as, count_loop);
  jump(as, OP_JGE, 1, 2, counted);
  emit(as, OP_LD, 6, 1, 0, 0);
  jump(as, OP_JNZ, 6, 0, not_prime);
  emit(as, OP_ADDI, 4, 4, 0, 1);
  emit(as, OP_MOV, 5, 1, 0, 0);
  bind(as, not_prime);
  emit(as, OP_ADDI, 1, 1, 0, 1);
  jump(as, OP_JMP, 0, 0, count_loop);
  bind(as, counted);
  emit(as, OP_OUT, 4, 0, 0, 0);
  emit(as, OP_OUT, 5, 0, 0, 0);
  emit(as, OP_HALT, 0, 0, 0, 0);
}

/* Sum of gcd(a, b) for 1 <= a, b <= n by Euclid's remainders.
 * Registers: 1 a, 2 b, 3 n, 4 x, 5 y, 6 t, 7 sum. */
static void gcd_program(Asm *as, int32_t n) {
  int la = new_label(as), lb = new_label(as), euclid = new_label(as), found = new_label(as),
      next_a = new_label(as), done = new_label(as);
  emit(as, OP_LI, 3, 0, 0, n);
  emit(as, OP_LI, 7, 0, 0, 0);
  emit(as, OP_LI, 1, 0, 0, 1);
  bind(as, la);
  jump(as, OP_JLT, 3, 1, done);
  emit(as, OP_LI, 2, 0, 0, 1);
  bind(as, lb);
  jump(as, OP_JLT, 3, 2, next_a);
  emit(as, OP_MOV, 4, 1, 0, 0);
  emit(as, OP_MOV, 5, 2, 0, 0);
  bind(as, euclid);
  jump(as, OP_JZ, 5, 0, found);
  emit(as, OP_MOD, 6, 4, 5, 0);
  emit(as, OP_MOV, 4, 5, 0, 0);
  emit(as, OP_MOV, 5, 6, 0, 0);
  jump(as, OP_JMP, 0, 0, euclid);
  bind(as, found);
  emit(as, OP_ADD, 7, 7, 4, 0);
  emit(as, OP_ADDI, 2, 2, 0, 1);
  jump(as, OP_JMP, 0, 0, lb);
  bind(as, next_a);
  emit(as, OP_ADDI, 1, 1, 0, 1);
  jump(as, OP_JMP, 0, 0, la);
  bind(as, done);
  emit(as, OP_OUT, 7, 0, 0, 0);
  emit(as, OP_HALT, 0, 0, 0, 0);
}

static void print_result(const char *name, const Result *res) {
  printf("%s:", name);
  for (int i = 0; i < res->nout; i++)
    printf(" %lld", (long long)res->out[i]);
  printf(" (%llu steps)\n", (unsigned long long)res->steps);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 400000;
  if (n < 1 || n > 10000000) {
    fprintf(stderr, "vm: N must be 1..10000000\n");
    return 2;
  }
  static Asm as;
  Result res;

  asm_init(&as);
  collatz_program(&as, (int32_t)n);
  asm_link(&as);
  res = run(as.code, NULL, 0);
  print_result("collatz", &res);

  int32_t sieve_n = (int32_t)n * 4;
  int64_t *mem = calloc((size_t)sieve_n, sizeof *mem);
  if (!mem) {
    fprintf(stderr, "vm: out of memory\n");
    return 1;
  }
  asm_init(&as);
  sieve_program(&as, sieve_n);
  asm_link(&as);
  res = run(as.code, mem, sieve_n);
  print_result("sieve", &res);
  free(mem);

  int32_t grid = 1;
  while ((int64_t)(grid + 1) * (grid + 1) <= n * 2)
    grid++;
  asm_init(&as);
  gcd_program(&as, grid);
  asm_link(&as);
  res = run(as.code, NULL, 0);
  print_result("gcd", &res);
  return 0;
}
