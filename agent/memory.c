/*
 * memory.c: linear memories.
 *
 * A memory reserves its whole possible range up front as inaccessible
 * address space and makes pages accessible as it grows. Its base never
 * moves, so compiled code may keep it in a register across calls and
 * memory.grow. The reservation is 8 GiB and a page: 4 GiB of 32-bit address
 * space plus 4 GiB of guard, so any u32 address plus any u32 offset lands
 * inside it, and the page more covers the last bytes of an 8-byte access at
 * the very end. The hot tier then drops bounds checks and the fault becomes
 * a trap (guard.c).
 */
#include <sys/mman.h>

#include "runtime.h"

#define MEMORY_RESERVE MEMORY_GUARDED_RESERVE

static uint8_t *reserve(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Makes pages [from, to) of m readable and writable. */
static bool commit_pages(MemoryInst *m, uint32_t from, uint32_t to) {
  if (to == from)
    return true;
  size_t off = (size_t)from * WASM_PAGE_SIZE, len = (size_t)(to - from) * WASM_PAGE_SIZE;
  return mprotect(m->base + off, len, PROT_READ | PROT_WRITE) == 0;
}

/* Reserves the largest of: the full guarded range, the memory's maximum, its
 * initial size. Under a tight address-space limit (ulimit -v) a memory
 * still works; it just cannot grow past what was reserved, which the spec
 * allows (memory.grow returns -1); warm code keeps its bounds checks, and
 * hot packages, which have none, run such an instance's functions in the
 * interpreter (abi/kiln_package_abi.h). */
static bool reserve_range(MemoryInst *m, uint32_t min_pages, uint32_t max_pages) {
  size_t candidates[3] = {MEMORY_RESERVE, (size_t)max_pages * WASM_PAGE_SIZE,
                          (size_t)min_pages * WASM_PAGE_SIZE};
  for (int i = 0; i < 3; i++) {
    /* mmap refuses 0 bytes; the base must be a valid address all the same. */
    size_t bytes = candidates[i] ? candidates[i] : WASM_PAGE_SIZE;
    if (bytes < (size_t)min_pages * WASM_PAGE_SIZE)
      break;
    m->base = reserve(bytes);
    if (m->base) {
      m->reserved = bytes;
      return true;
    }
  }
  return false;
}

bool memory_init(MemoryInst *m, uint32_t min_pages, uint32_t max_pages) {
  *m = (MemoryInst){0};
  if (max_pages > WASM_MAX_PAGES)
    max_pages = WASM_MAX_PAGES;
  if (min_pages > max_pages || !reserve_range(m, min_pages, max_pages))
    return false;
  m->max_pages = max_pages;
  if (!commit_pages(m, 0, min_pages)) {
    memory_release(m);
    return false;
  }
  m->pages = min_pages;
  m->size = (uint64_t)min_pages * WASM_PAGE_SIZE;
  return true;
}

void memory_release(MemoryInst *m) {
  if (m->base)
    munmap(m->base, m->reserved);
  *m = (MemoryInst){0};
}

int64_t memory_grow(MemoryInst *m, uint32_t delta_pages) {
  __atomic_store_n(&m->grows, m->grows + 1, __ATOMIC_RELAXED); /* the heat map reads it */
  uint32_t old = m->pages;
  if ((uint64_t)old + delta_pages > m->max_pages)
    return -1;
  uint32_t new_pages = old + delta_pages;
  if ((uint64_t)new_pages * WASM_PAGE_SIZE > m->reserved)
    return -1;
  if (!commit_pages(m, old, new_pages))
    return -1; /* out of memory is a failed grow, never a crash */
  m->pages = new_pages;
  m->size = (uint64_t)new_pages * WASM_PAGE_SIZE;
  return old;
}
