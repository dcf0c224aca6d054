/*
 * recursion.c: call-heavy integer workloads.
 *
 * Naive Fibonacci, Takeuchi's function, Ackermann's function and an N-queens
 * solution count: almost all of the time goes into calls and returns, which is
 * what a tier's calling convention is measured by.
 *
 * Usage: recursion [N]   (N = 42 by default; 20 runs in a blink)
 */
#include <stdio.h>
#include <stdlib.h>

static int fib(int n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int tak(int x, int y, int z) {
  if (y >= x)
    return z;
  return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y));
}

static int ack(int m, int n) {
  if (m == 0)
    return n + 1;
  if (n == 0)
    return ack(m - 1, 1);
  return ack(m - 1, ack(m, n - 1));
}

/* Counts the placements of queens on the remaining rows; the bit masks hold
 * the columns and both diagonals already attacked. */
static long queens(unsigned all, unsigned cols, unsigned left, unsigned right) {
  if (cols == all)
    return 1;
  long count = 0;
  unsigned free_ = all & ~(cols | left | right);
  while (free_) {
    unsigned bit = free_ & -free_;
    free_ -= bit;
    count += queens(all, cols | bit, (left | bit) << 1, (right | bit) >> 1);
  }
  return count;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 42;
  if (n < 4 || n > 44) {
    fprintf(stderr, "recursion: N must be 4..44\n");
    return 2;
  }

  printf("fib(%d) = %d\n", n, fib(n));

  int tx = n * 3 / 4, ty = tx * 2 / 3, tz = tx / 3;
  printf("tak(%d, %d, %d) = %d\n", tx, ty, tz, tak(tx, ty, tz));

  /* Ackermann's recursion depth doubles with its argument: keep it at a
   * depth every engine's default stack takes (about 4,000 frames), and
   * repeat it instead. */
  int am = n / 4 < 9 ? n / 4 : 9, reps = n / 4;
  long asum = 0;
  for (int i = 0; i < reps; i++)
    asum += ack(3, am - i % 2);
  printf("ack(3, %d..%d) x %d = %ld\n", am - 1, am, reps, asum);

  int q = n / 3;
  printf("queens(%d) = %ld\n", q, queens((1u << q) - 1, 0, 0, 0));
  return 0;
}
