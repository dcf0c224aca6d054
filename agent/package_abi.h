/*
 * package_abi.h: the contract between a compiled package (an ELF shared
 * object written by the service's Differential Compilation Module) and the
 * agent that maps it.
 *
 * A package exports:
 * - `kiln_package_abi_version` (uint32_t): KILN_PACKAGE_ABI_VERSION of the
 *   headers it was built from. The loader refuses any other value, because
 *   compiled code reads runtime structs at offsets fixed at compile time.
 * - `kiln_package_module_hash` (uint8_t[32]): the module hash it was built
 *   for; the loader refuses a package for another module.
 * - `kiln_package_imports` (KilnPackageImports): zero in the file; the loader
 *   fills it right after dlopen, before any entry runs. Compiled code calls
 *   back into the runtime only through it, so a package needs no symbol of
 *   the agent (libm and libc only).
 * - one FuncEntry per compiled function, named `kiln_f<index>_<name>` where
 *   <name> is the function's name from the name section reduced to
 *   [A-Za-z0-9_] (perf and gdb show script names with no setup).
 *
 * Compiled code reads Thread, FuncInst, Instance, MemoryInst, TableInst and
 * GlobalInst (runtime.h) directly by offset, and writes Thread's guard_inst
 * and guard_func: change any of them, MEMORY_GUARDED_RESERVE, or this
 * table, and bump KILN_PACKAGE_ABI_VERSION.
 *
 * Hot packages let out-of-bounds accesses fault (guard.c). A loader calls
 * guard_register_package(handle) before the package first runs and
 * guard_forget_package(handle) before its dlclose, so that the fault
 * handler knows that address range as package code exactly while loaded.
 */
#ifndef KILN_PACKAGE_ABI_H
#define KILN_PACKAGE_ABI_H

#include <stdint.h>

#include "runtime.h"

#define KILN_PACKAGE_ABI_VERSION 2

#define KILN_PACKAGE_SYM_ABI "kiln_package_abi_version"
#define KILN_PACKAGE_SYM_HASH "kiln_package_module_hash"
#define KILN_PACKAGE_SYM_IMPORTS "kiln_package_imports"

/* The order of the fields is part of the ABI (the compiler builds the same
 * struct field by field). */
typedef struct {
  uint32_t abi_version; /* the loader writes KILN_PACKAGE_ABI_VERSION */
  /* Unwinds to the boundary; never returns. */
  void (*trap_raise)(Thread *t, const FuncInst *where, TrapCode code);
  int64_t (*memory_grow)(MemoryInst *m, uint32_t delta_pages);
  int64_t (*table_grow)(TableInst *t, uint32_t delta, void *fill);
  void (*segment_memory_init)(Thread *t, FuncInst *f, uint32_t data_index, uint32_t dst,
                              uint32_t src, uint32_t n);
  void (*segment_table_init)(Thread *t, FuncInst *f, uint32_t table_index, uint32_t elem_index,
                             uint32_t dst, uint32_t src, uint32_t n);
  /* Hot packages have no bounds checks (guard.c). Each exported entry calls
   * guard_package_ready once per loaded package (which asks whether the
   * loader registered its code with the fault handler), and runs the
   * function in the interpreter instead when not, or when the instance's
   * memory lacks the full guard reservation (memory_guarded), so behaviour
   * never depends on it. */
  void (*guard_package_ready)(int *flag);
  void (*interp_entry)(Thread *t, FuncInst *f, uint64_t *sp);
} KilnPackageImports;

/* What the agent puts into a package's kiln_package_imports. */
static inline KilnPackageImports kiln_package_imports_default(void) {
  KilnPackageImports im = {
      .abi_version = KILN_PACKAGE_ABI_VERSION,
      .trap_raise = trap_raise,
      .memory_grow = memory_grow,
      .table_grow = table_grow,
      .segment_memory_init = segment_memory_init,
      .segment_table_init = segment_table_init,
      .guard_package_ready = guard_package_ready,
      .interp_entry = interp_entry,
  };
  return im;
}

/* loader.c: the package's own checks (ABI version, module hash) on a
 * dlopen'ed package for module wm; fills its imports. False: one line in
 * err. */
bool package_adopt(void *dl_handle, const WasmModule *wm, char *err, size_t errlen);

#endif
