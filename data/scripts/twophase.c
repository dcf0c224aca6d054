/*
 * twophase.c: a program whose hot functions change halfway.
 *
 * Phase 1 hashes generated keys and counts them in an open-addressing hash
 * table (hash_key, table_add). Phase 2 multiplies matrices of doubles
 * (mat_mul, mat_trace). Each phase runs long enough to be seen as hot on
 * its own, so a tiering engine has to notice that the heat moved. Prints one
 * line per phase.
 *
 * Usage: twophase [N]   (N = 200 by default: the work grows linearly with N)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* ---- phase 1: hashing ---- */

typedef struct {
  char key[16];
  uint32_t len;
  uint32_t count;
} Slot;

typedef struct {
  Slot *slots;
  uint32_t mask; /* capacity - 1; capacity is a power of two */
  uint32_t used;
} Table;

/* FNV-1a over the bytes, then a murmur3-style finalizer to spread the bits. */
static NOINLINE uint32_t hash_key(const char *key, uint32_t len) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < len; i++) {
    h ^= (uint8_t)key[i];
    h *= 16777619u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static NOINLINE void table_add(Table *t, const char *key, uint32_t len) {
  uint32_t i = hash_key(key, len) & t->mask;
  for (;;) {
    Slot *s = &t->slots[i];
    if (s->len == 0) {
      memcpy(s->key, key, len);
      s->len = len;
      s->count = 1;
      t->used++;
      return;
    }
    if (s->len == len && memcmp(s->key, key, len) == 0) {
      s->count++;
      return;
    }
    i = (i + 1) & t->mask;
  }
}

/* Writes the key for number x: a short word made of letters, length 3..12. */
static uint32_t make_key(uint32_t x, char *out) {
  static const char letters[] = "etaoinshrdlucmfwypvbgkjqxz";
  uint32_t len = 3 + x % 10;
  for (uint32_t i = 0; i < len; i++) {
    out[i] = letters[x % 26];
    x = x / 26 + (x % 7) * 40503u;
  }
  return len;
}

static int phase_hashing(long n) {
  /* Keys repeat: the generator cycles through fewer distinct values than it
   * draws, so the table sees both new keys and hits. */
  uint32_t distinct = (uint32_t)(n * 2000);
  uint32_t cap = 1;
  while (cap < distinct * 2)
    cap <<= 1;
  Table t = {calloc(cap, sizeof(Slot)), cap - 1, 0};
  if (!t.slots)
    return 0;
  uint32_t x = 12345;
  long draws = n * 20000;
  char key[16];
  for (long i = 0; i < draws; i++) {
    x = x * 1103515245u + 12345u;
    uint32_t len = make_key((x >> 8) % distinct, key);
    table_add(&t, key, len);
  }
  uint32_t max_count = 0;
  uint64_t digest = 0;
  for (uint32_t i = 0; i < cap; i++) {
    const Slot *s = &t.slots[i];
    if (s->len == 0)
      continue;
    if (s->count > max_count)
      max_count = s->count;
    digest += (uint64_t)hash_key(s->key, s->len) * s->count;
  }
  printf("phase 1 (hashing): %ld keys, %u distinct, most frequent seen %u times, digest %016llx\n",
         draws, t.used, max_count, (unsigned long long)digest);
  free(t.slots);
  return 1;
}

/* ---- phase 2: matrix math ---- */

static NOINLINE void mat_mul(const double *a, const double *b, double *c, int n) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++)
      c[i * n + j] = 0;
    for (int k = 0; k < n; k++) {
      double aik = a[i * n + k];
      for (int j = 0; j < n; j++)
        c[i * n + j] += aik * b[k * n + j];
    }
  }
}

static NOINLINE double mat_trace(const double *a, int n) {
  double t = 0;
  for (int i = 0; i < n; i++)
    t += a[i * n + i];
  return t;
}

static int phase_matrix(long n) {
  int dim = 120;
  int rounds = (int)(2 * n);
  size_t cells = (size_t)dim * dim;
  double *a = malloc(cells * sizeof *a), *b = malloc(cells * sizeof *b),
         *c = malloc(cells * sizeof *c);
  if (!a || !b || !c)
    return 0;
  /* A small stochastic-like matrix: powers of it stay bounded. */
  for (int i = 0; i < dim; i++)
    for (int j = 0; j < dim; j++)
      a[i * dim + j] = (double)((i * 7 + j * 13) % 17 + 1) / (dim * 9.0);
  memcpy(b, a, cells * sizeof *a);
  double sum = 0;
  for (int r = 0; r < rounds; r++) {
    mat_mul(a, b, c, dim); /* c = a * b, then b = c: b becomes a power of a */
    double *t = b;
    b = c;
    c = t;
    sum += mat_trace(b, dim);
  }
  printf("phase 2 (matrix): %d products of %dx%d, trace sum %.12e, corner %.12e\n", rounds, dim,
         dim, sum, b[cells - 1]);
  free(a);
  free(b);
  free(c);
  return 1;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200;
  if (n < 1 || n > 1000) {
    fprintf(stderr, "twophase: N must be 1..1000\n");
    return 2;
  }
  if (!phase_hashing(n) || !phase_matrix(n)) {
    fprintf(stderr, "twophase: out of memory\n");
    return 1;
  }
  return 0;
}
