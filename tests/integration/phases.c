/*
 * phases.c: a test program (adaptive.py, case release) whose hot function
 * changes halfway while main, which does nearly nothing itself and so
 * stays interpreted, calls it again and again: compiled code is left at
 * every return, which is where an agent may unmap a package nobody uses.
 *
 * Usage: phases [N [SECONDS]]   N calls per phase (default 3000); phase
 * 2's function goes on being called until SECONDS of wall time have passed
 * since phase 2 began (default 0), its results not printed then, so that
 * the output is the same at any speed and any SECONDS. Phase 3 goes back to
 * phase 1's function (a tier-up again, after its package went), and goes on
 * for SECONDS / 6 more in the same way, so that its new package is mapped
 * long enough to be seen. The last line, "done", comes as the work is over.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

/* Phase 1: integer hashing. */
static NOINLINE uint32_t hash_block(uint32_t h) {
  for (uint32_t i = 0; i < 20000; i++) {
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h += i;
  }
  return h;
}

/* Phase 2: xorshift mixing. */
static NOINLINE uint64_t mix_block(uint64_t x) {
  for (uint64_t i = 0; i < 20000; i++) {
    x ^= x << 7;
    x ^= x >> 9;
    x += i * 0x9e3779b97f4a7c15ull;
  }
  return x;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 3000;
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  if (n < 1 || seconds < 0 || seconds > 600) {
    fprintf(stderr, "phases: N must be positive, SECONDS from 0 to 600\n");
    return 2;
  }
  uint32_t h = 1;
  for (long i = 0; i < n; i++)
    h = hash_block(h + (uint32_t)i);
  printf("phase 1: %08x\n", (unsigned)h);
  fflush(stdout);
  double start = now_s();
  uint64_t x = 1;
  for (long i = 0; i < n; i++)
    x = mix_block(x + (uint64_t)i);
  printf("phase 2: %016llx\n", (unsigned long long)x);
  fflush(stdout);
  uint64_t more = x;
  while (now_s() - start < seconds)
    more = mix_block(more);
  h = 3;
  start = now_s();
  for (long i = 0; i < n; i++)
    h = hash_block(h + (uint32_t)i);
  printf("phase 3: %08x\n", (unsigned)h);
  fflush(stdout);
  uint32_t again = h;
  while (now_s() - start < seconds / 6)
    again = hash_block(again);
  more += again;
  /* The line that says the script is over (the test reads maps until then). */
  printf("done\n");
  return more == 42 ? 1 : 0; /* keeps the calls; never 42 in practice */
}
