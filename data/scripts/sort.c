/*
 * sort.c: integer sorting.
 *
 * Fills an array from a xorshift generator, sorts copies of it with a
 * quicksort (median of three, insertion sort for short runs), a top-down
 * mergesort and a heapsort, checks that all three agree and are ordered,
 * and prints checksums. Loads, stores, compares and data-dependent branches.
 *
 * Usage: sort [N]   (N = 3000000 elements by default)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_next(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return (uint32_t)(x >> 32);
}

static void insertion_sort(int32_t *a, long lo, long hi) {
  for (long i = lo + 1; i <= hi; i++) {
    int32_t v = a[i];
    long j = i - 1;
    while (j >= lo && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

static void swap(int32_t *a, long i, long j) {
  int32_t t = a[i];
  a[i] = a[j];
  a[j] = t;
}

static void quicksort(int32_t *a, long lo, long hi) {
  while (hi - lo > 16) {
    long mid = lo + (hi - lo) / 2;
    if (a[mid] < a[lo])
      swap(a, mid, lo);
    if (a[hi] < a[lo])
      swap(a, hi, lo);
    if (a[hi] < a[mid])
      swap(a, hi, mid);
    int32_t pivot = a[mid];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot)
        i++;
      while (a[j] > pivot)
        j--;
      if (i <= j)
        swap(a, i++, j--);
    }
    /* Recurse into the smaller side, loop on the larger: the depth stays
     * logarithmic whatever the data. */
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
  insertion_sort(a, lo, hi);
}

static void merge_sort(int32_t *a, int32_t *tmp, long lo, long hi) {
  if (hi - lo < 16) {
    insertion_sort(a, lo, hi);
    return;
  }
  long mid = lo + (hi - lo) / 2;
  merge_sort(a, tmp, lo, mid);
  merge_sort(a, tmp, mid + 1, hi);
  if (a[mid] <= a[mid + 1])
    return;
  long i = lo, j = mid + 1, k = lo;
  while (i <= mid && j <= hi)
    tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
  while (i <= mid)
    tmp[k++] = a[i++];
  while (j <= hi)
    tmp[k++] = a[j++];
  memcpy(a + lo, tmp + lo, (size_t)(hi - lo + 1) * sizeof *a);
}

static void sift_down(int32_t *a, long root, long n) {
  int32_t v = a[root];
  for (;;) {
    long child = 2 * root + 1;
    if (child >= n)
      break;
    if (child + 1 < n && a[child + 1] > a[child])
      child++;
    if (a[child] <= v)
      break;
    a[root] = a[child];
    root = child;
  }
  a[root] = v;
}

static void heap_sort(int32_t *a, long n) {
  for (long i = n / 2 - 1; i >= 0; i--)
    sift_down(a, i, n);
  for (long end = n - 1; end > 0; end--) {
    swap(a, 0, end);
    sift_down(a, 0, end);
  }
}

/* Order-sensitive: an array sorted differently gives another sum. */
static uint64_t checksum(const int32_t *a, long n) {
  uint64_t h = 1469598103934665603ull;
  for (long i = 0; i < n; i++)
    h = (h ^ (uint32_t)a[i]) * 1099511628211ull;
  return h;
}

static int is_sorted(const int32_t *a, long n) {
  for (long i = 1; i < n; i++)
    if (a[i - 1] > a[i])
      return 0;
  return 1;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 3000000;
  if (n < 1 || n > 50000000) {
    fprintf(stderr, "sort: N must be 1..50000000\n");
    return 2;
  }

  int32_t *orig = malloc((size_t)n * sizeof *orig);
  int32_t *a = malloc((size_t)n * sizeof *a);
  int32_t *b = malloc((size_t)n * sizeof *b);
  int32_t *tmp = malloc((size_t)n * sizeof *tmp);
  if (!orig || !a || !b || !tmp) {
    fprintf(stderr, "sort: out of memory\n");
    return 1;
  }
  /* Values in a range smaller than n, so there are duplicates to handle. */
  uint32_t range = (uint32_t)(n / 2 + 1);
  int64_t sum = 0;
  for (long i = 0; i < n; i++) {
    orig[i] = (int32_t)(rng_next() % range) - (int32_t)(range / 2);
    sum += orig[i];
  }
  printf("n = %ld, sum = %lld, input checksum = %016llx\n", n, (long long)sum,
         (unsigned long long)checksum(orig, n));

  memcpy(a, orig, (size_t)n * sizeof *a);
  quicksort(a, 0, n - 1);
  printf("quicksort: sorted = %d, checksum = %016llx\n", is_sorted(a, n),
         (unsigned long long)checksum(a, n));

  memcpy(b, orig, (size_t)n * sizeof *b);
  merge_sort(b, tmp, 0, n - 1);
  printf("mergesort: sorted = %d, checksum = %016llx\n", is_sorted(b, n),
         (unsigned long long)checksum(b, n));
  int agree = memcmp(a, b, (size_t)n * sizeof *a) == 0;

  memcpy(b, orig, (size_t)n * sizeof *b);
  heap_sort(b, n);
  printf("heapsort: sorted = %d, checksum = %016llx\n", is_sorted(b, n),
         (unsigned long long)checksum(b, n));
  agree = agree && memcmp(a, b, (size_t)n * sizeof *a) == 0;

  printf("min = %d, median = %d, max = %d\n", a[0], a[n / 2], a[n - 1]);
  printf("all sorts agree: %s\n", agree ? "yes" : "NO");

  free(orig);
  free(a);
  free(b);
  free(tmp);
  return agree ? 0 : 1;
}
