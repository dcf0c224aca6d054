/*
 * inlining.c: a test program (adaptive.py, case tier-up) whose hot function
 * calls a small one once for every 2,000 iterations of its own loop: the
 * small one never earns a tier by its share of the time, so when it goes
 * hot it is as a callee kilnd puts beside its hot caller for gcc to inline.
 *
 * Usage: inlining [N]   N calls of the hot function (default 20000).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE uint32_t finish(uint32_t h) {
  return h * 2654435761u + 1;
}

static NOINLINE uint32_t mix(uint32_t h) {
  for (uint32_t i = 0; i < 2000; i++) {
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h += i;
  }
  return finish(h);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  if (n < 1) {
    fprintf(stderr, "inlining: N must be positive\n");
    return 2;
  }
  uint32_t h = 1;
  for (long i = 0; i < n; i++)
    h = mix(h + (uint32_t)i);
  printf("%08x\n", (unsigned)h);
  return 0;
}
