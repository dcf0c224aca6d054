/*
 * mainloop.c: a program whose every hot loop is in main.
 *
 * main is called once and never returns until the work is done, so an engine
 * that only switches a function to faster code when it is called again never
 * gets to: the loops have to be made fast while main is running. The work is
 * written straight into main (no helper functions, so nothing to inline or
 * not), in four phases, each printing one line:
 *
 *   sieve    integers: a sieve of Eratosthenes, primes and twin primes
 *   mix      integers: xorshift keys counted in a histogram, then its checksum
 *   mandel   doubles: a Mandelbrot set, points inside and total iterations
 *   heat     doubles: a 1-D heat equation stepped in place, then its sums
 *
 * Only +, -, *, / and sqrt on doubles, so native and WebAssembly print the
 * same digits.
 *
 * Usage: mainloop [N]   (N = 10 by default: the work grows linearly with N)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SIEVE_PER_N 13000000
#define SEGMENT 32768
#define BUCKETS 65536
#define CELLS 4096

static uint32_t marks[SEGMENT];
static uint32_t histogram[BUCKETS];
static double heat_a[CELLS], heat_b[CELLS];

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10;
  if (n < 1 || n > 200) {
    fprintf(stderr, "usage: mainloop [N]   (1 <= N <= 200)\n");
    return 2;
  }

  /* ---- phase 1: sieve ---- */
  /* The primes up to the square root of the limit, then the rest a segment
   * at a time. A segment's composites are marked with the segment's number,
   * so the marks never need clearing. */
  uint64_t limit = (uint64_t)SIEVE_PER_N * (uint64_t)n;
  uint32_t root = (uint32_t)sqrt((double)limit);
  while ((uint64_t)root * root > limit) {
    root--;
  }
  while ((uint64_t)(root + 1) * (root + 1) <= limit) {
    root++;
  }
  unsigned char *small = calloc(root + 1, 1);
  uint32_t *base = malloc(sizeof *base * (root / 2 + 2));
  if (!small || !base) {
    fprintf(stderr, "mainloop: out of memory\n");
    return 1;
  }
  uint32_t bases = 0;
  for (uint32_t i = 2; i <= root; i++) {
    if (!small[i]) {
      base[bases++] = i;
      for (uint32_t j = i * i; j <= root; j += i) {
        small[j] = 1;
      }
    }
  }
  uint64_t primes = 0, twins = 0, last = 0, prime_sum = 0;
  uint32_t segment_id = 0;
  for (uint64_t lo = 0; lo <= limit; lo += SEGMENT) {
    uint64_t hi = lo + SEGMENT - 1 < limit ? lo + SEGMENT - 1 : limit;
    segment_id++;
    for (uint32_t k = 0; k < bases; k++) {
      uint64_t p = base[k];
      uint64_t j = (lo + p - 1) / p * p;
      if (j < p * p) {
        j = p * p;
      }
      for (; j <= hi; j += p) {
        marks[j - lo] = segment_id;
      }
    }
    for (uint64_t i = lo < 2 ? 2 : lo; i <= hi; i++) {
      if (marks[i - lo] != segment_id) {
        primes++;
        prime_sum += i;
        if (last && i - last == 2) {
          twins++;
        }
        last = i;
      }
    }
  }
  free(small);
  free(base);
  printf("sieve   below %llu: %llu primes, %llu twin pairs, sum %llu, largest %llu\n",
         (unsigned long long)limit, (unsigned long long)primes, (unsigned long long)twins,
         (unsigned long long)prime_sum, (unsigned long long)last);

  /* ---- phase 2: xorshift keys into a histogram ---- */
  uint64_t x = 0x9e3779b97f4a7c15ull;
  uint32_t rounds = (uint32_t)(20000000 * n);
  for (uint32_t i = 0; i < rounds; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint32_t key = (uint32_t)(x * 0xff51afd7ed558ccdull >> 40);
    /* Skewed: low buckets get more, so the counts differ. */
    uint32_t bucket = (key & (BUCKETS - 1)) >> (key >> 28 & 7);
    histogram[bucket] += 1 + (key >> 20 & 3);
  }
  uint64_t mix = 0xcbf29ce484222325ull;
  uint32_t busiest = 0, empty = 0;
  for (uint32_t b = 0; b < BUCKETS; b++) {
    mix = (mix ^ histogram[b]) * 0x100000001b3ull;
    if (histogram[b] > histogram[busiest]) {
      busiest = b;
    }
    empty += histogram[b] == 0;
  }
  printf("mix     %u keys: checksum %016llx, busiest bucket %u (%u), %u empty\n", rounds,
         (unsigned long long)mix, busiest, histogram[busiest], empty);

  /* ---- phase 3: Mandelbrot ---- */
  int width = 640, height = (int)(80 * n), max_iter = 1024;
  long inside = 0, total_iter = 0;
  double escape_sum = 0.0;
  for (int py = 0; py < height; py++) {
    double ci = -1.25 + 2.5 * (double)py / (double)height;
    for (int px = 0; px < width; px++) {
      double cr = -2.0 + 2.75 * (double)px / (double)width;
      double zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
      int it = 0;
      while (it < max_iter && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        it++;
      }
      total_iter += it;
      if (it == max_iter) {
        inside++;
      } else {
        escape_sum += sqrt(zr2 + zi2);
      }
    }
  }
  printf("mandel  %dx%d: %ld inside, %ld iterations, escape radius sum %.6f\n", width, height,
         inside, total_iter, escape_sum);

  /* ---- phase 4: heat equation ---- */
  double *heat = heat_a, *next_heat = heat_b;
  for (int i = 0; i < CELLS; i++) {
    heat[i] = (i % 512 < 64) ? 100.0 : (double)(i % 7);
  }
  int steps = (int)(10000 * n);
  double alpha = 0.23;
  for (int s = 0; s < steps; s++) {
    next_heat[0] = heat[0] + alpha * (heat[1] - heat[0]);
    for (int i = 1; i < CELLS - 1; i++) {
      next_heat[i] = heat[i] + alpha * (heat[i - 1] - 2.0 * heat[i] + heat[i + 1]);
    }
    next_heat[CELLS - 1] = heat[CELLS - 1] + alpha * (heat[CELLS - 2] - heat[CELLS - 1]);
    /* A source that pulses, so the field never settles. */
    next_heat[CELLS / 3] += (s % 50 < 25) ? 1.5 : -0.5;
    double *swap = heat;
    heat = next_heat;
    next_heat = swap;
  }
  double total = 0.0, energy = 0.0, peak = heat[0];
  for (int i = 0; i < CELLS; i++) {
    total += heat[i];
    energy += heat[i] * heat[i];
    if (heat[i] > peak) {
      peak = heat[i];
    }
  }
  printf("heat    %d cells, %d steps: total %.6f, norm %.6f, peak %.9f, middle %.9f\n", CELLS,
         steps, total, sqrt(energy), peak, heat[CELLS / 2]);
  return 0;
}
