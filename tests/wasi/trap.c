/* trap.c MODE: how scripts end badly, and how deep recursion does not.
 *   unreachable  prints a line, then executes `unreachable`
 *   runaway      recurses without end: must trap "call stack exhausted"
 *   deep N       recurses N levels deep, legitimately, and prints the sum */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

/* noinline and a use after the call keep it a real recursion. */
__attribute__((noinline)) static long long depth_sum(long n) {
  if (n == 0)
    return 0;
  long long r = n + depth_sum(n - 1);
  sink = (int)r;
  return r;
}

/* The test on n is never true in practice; it keeps the compiler from
 * calling this an infinite recursion. */
__attribute__((noinline)) static long runaway(long n) {
  if (n < 0)
    return 0;
  long r = runaway(n + 1) + 1;
  sink = (int)r;
  return r;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return 100;
  if (strcmp(argv[1], "unreachable") == 0) {
    printf("about to trap\n");
    fflush(stdout);
    __builtin_trap();
  }
  if (strcmp(argv[1], "runaway") == 0)
    return (int)runaway(0);
  if (strcmp(argv[1], "deep") == 0 && argc > 2) {
    long n = atol(argv[2]);
    printf("sum of 1..%ld = %lld\n", n, depth_sum(n));
    return 0;
  }
  return 100;
}
