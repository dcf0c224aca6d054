/*
 * u32_set.h: a set of function indices as a sorted array of uint32_t, the
 * way a compile request, a profile's lists and a package's functions
 * carry them: sorted once, then searched.
 */
#ifndef KILN_U32_SET_H
#define KILN_U32_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline int u32_compare(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static inline void u32_set_sort(uint32_t *set, size_t n) {
  if (n)
    qsort(set, n, sizeof *set, u32_compare);
}

static inline bool u32_set_has(const uint32_t *set, size_t n, uint32_t x) {
  return n && bsearch(&x, set, n, sizeof *set, u32_compare) != NULL;
}

#endif
