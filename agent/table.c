/*
 * table.c: tables of references (FuncInst * or the host's externref).
 *
 * A table's storage may move when it grows: nothing outside keeps a pointer
 * into it, every access goes through TableInst.
 */
#include <stdlib.h>

#include "runtime.h"

/* The spec lets an engine refuse to grow a table; ours refuses beyond this
 * many entries (V8's limit too), so a script cannot make us allocate and
 * fill tens of gigabytes. */
#define TABLE_MAX_ELEMS 10000000u

static void fill_range(void **elems, uint32_t from, uint32_t to, void *fill) {
  for (uint32_t i = from; i < to; i++)
    elems[i] = fill;
}

bool table_init(TableInst *t, WasmValType elem_type, uint32_t size, uint32_t max, void *fill) {
  *t = (TableInst){.elem_type = elem_type, .max = max};
  if (size > max || size > TABLE_MAX_ELEMS)
    return false;
  /* Always allocate, so elems is never NULL even for an empty table. */
  t->elems = malloc(((size_t)size + 1) * sizeof *t->elems);
  if (!t->elems)
    return false;
  fill_range(t->elems, 0, size, fill);
  t->size = size;
  return true;
}

void table_release(TableInst *t) {
  free(t->elems);
  t->elems = NULL;
  t->size = 0;
}

int64_t table_grow(TableInst *t, uint32_t delta, void *fill) {
  uint32_t old = t->size;
  uint64_t want = (uint64_t)old + delta;
  /* max is UINT32_MAX without a declared maximum: a table index is a u32. */
  if (want > t->max || want > TABLE_MAX_ELEMS)
    return -1;
  void **elems = realloc(t->elems, ((size_t)want + 1) * sizeof *elems);
  if (!elems)
    return -1;
  fill_range(elems, old, (uint32_t)want, fill);
  t->elems = elems;
  t->size = (uint32_t)want;
  return old;
}
