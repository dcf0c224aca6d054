/*
 * callbacks.c: calls through function pointers.
 *
 * Sorts records with a merge sort and a comparator, by two keys in turn,
 * and runs an event loop that hands each event to a handler from a table
 * (most events are of one kind). Every hot loop calls through a pointer
 * (call_indirect in WebAssembly): the case for calling the usual target
 * directly, where the compiler can inline it.
 *
 * Usage: callbacks [N]   (N = 180 rounds by default)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS 20000
#define EVENTS 400000

typedef struct {
  uint32_t key, id;
  int32_t score;
} Record;

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rng_next(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return (uint32_t)(x >> 32);
}

static int by_key(const void *a, const void *b) {
  const Record *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int by_score(const void *a, const void *b) {
  const Record *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* A merge sort of our own rather than the C library's qsort: glibc's qsort
 * is a merge sort and wasi-libc's a smoothsort, so with qsort the native and
 * the WebAssembly builds would run two different algorithms. Like qsort, it
 * calls the comparator through a pointer. */
static void merge_sort(Record *r, Record *tmp, size_t n, int (*cmp)(const void *, const void *)) {
  if (n < 2)
    return;
  size_t half = n / 2, i = 0, j = half, k = 0;
  merge_sort(r, tmp, half, cmp);
  merge_sort(r + half, tmp, n - half, cmp);
  while (i < half && j < n)
    tmp[k++] = cmp(&r[j], &r[i]) < 0 ? r[j++] : r[i++];
  while (i < half)
    tmp[k++] = r[i++];
  memcpy(r, tmp, k * sizeof *r); /* what is left of the right half is in place */
}

typedef int64_t (*Handler)(int64_t acc, uint32_t value);

static int64_t on_add(int64_t acc, uint32_t value) {
  return acc + (value & 0xffff);
}

static int64_t on_mix(int64_t acc, uint32_t value) {
  return (acc ^ value) * 31 % 1000000007;
}

static int64_t on_halve(int64_t acc, uint32_t value) {
  return acc / 2 + (value & 7);
}

static int64_t on_reset(int64_t acc, uint32_t value) {
  return (acc & 0xfff) + value % 13;
}

static const Handler handlers[4] = {on_add, on_mix, on_halve, on_reset};

/* Nine events in ten are additions: one handler takes most calls. */
static int64_t run_events(uint32_t *kinds, uint32_t *values, int n) {
  int64_t acc = 1;
  for (int i = 0; i < n; i++)
    acc = handlers[kinds[i]](acc, values[i]);
  return acc;
}

static uint64_t checksum(const Record *r, int n) {
  uint64_t sum = 0;
  for (int i = 0; i < n; i++)
    sum = sum * 1000003 + r[i].id;
  return sum;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 180;
  Record *recs = malloc(RECORDS * sizeof *recs), *tmp = malloc(RECORDS * sizeof *tmp);
  uint32_t *kinds = malloc(EVENTS * sizeof *kinds), *values = malloc(EVENTS * sizeof *values);
  if (!recs || !tmp || !kinds || !values) {
    fprintf(stderr, "callbacks: out of memory\n");
    return 1;
  }
  uint64_t sorted = 0;
  int64_t events = 0;
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < RECORDS; i++)
      recs[i] = (Record){rng_next() % 5000, (uint32_t)i, (int32_t)(rng_next() % 2001) - 1000};
    merge_sort(recs, tmp, RECORDS, by_key);
    sorted ^= checksum(recs, RECORDS);
    merge_sort(recs, tmp, RECORDS, by_score);
    sorted += checksum(recs, RECORDS);
    for (int i = 0; i < EVENTS; i++) {
      uint32_t r = rng_next();
      kinds[i] = r % 10 ? 0 : 1 + r / 10 % 3;
      values[i] = rng_next();
    }
    events += run_events(kinds, values, EVENTS);
  }
  printf("callbacks: %d rounds, sorted checksum %016llx, events %lld\n", rounds,
         (unsigned long long)sorted, (long long)events);
  free(recs);
  free(tmp);
  free(kinds);
  free(values);
  return 0;
}
