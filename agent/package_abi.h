/*
 * package_abi.h: the agent's side of the package ABI
 * (abi/kiln_package_abi.h): the imports struct in the agent's own types,
 * and what the loader puts into it.
 *
 * Hot packages let out-of-bounds accesses fault (guard.c). A loader calls
 * guard_register_package(handle) before the package first runs and
 * guard_forget_package(handle) before its dlclose, so that the fault
 * handler knows that address range as package code exactly while loaded.
 */
#ifndef KILN_AGENT_PACKAGE_ABI_H
#define KILN_AGENT_PACKAGE_ABI_H

#include <stdint.h>

#include "kiln_package_abi.h"
#include "runtime.h"

/* The ABI's type codes as the agent's types: the C compiler then checks
 * every function kiln_package_imports_default puts into the struct against
 * the ABI's list. */
#define AGENT_ABI_T(code) AGENT_ABI_T_##code
#define AGENT_ABI_T_VOID void
#define AGENT_ABI_T_U32 uint32_t
#define AGENT_ABI_T_I64 int64_t
#define AGENT_ABI_T_REF void *
#define AGENT_ABI_T_THREAD Thread *
#define AGENT_ABI_T_FUNC FuncInst *
#define AGENT_ABI_T_CONST_FUNC const FuncInst *
#define AGENT_ABI_T_MEMORY MemoryInst *
#define AGENT_ABI_T_TABLE TableInst *
#define AGENT_ABI_T_TRAP TrapCode
#define AGENT_ABI_T_FLAG int *
#define AGENT_ABI_T_SLOTS uint64_t *

#define AGENT_IMPORT_FIELD(id, name, result, ...) result (*name)(__VA_ARGS__);
typedef struct {
  uint32_t abi_version;
  KILN_ABI_IMPORTS(AGENT_IMPORT_FIELD, AGENT_ABI_T)
} KilnPackageImports;
#undef AGENT_IMPORT_FIELD

/* What the agent puts into a package's kiln_package_imports: each import is
 * the agent function of the same name. */
#define AGENT_IMPORT_INIT(id, name, ...) .name = name,
static inline KilnPackageImports kiln_package_imports_default(void) {
  KilnPackageImports im = {.abi_version = KILN_PACKAGE_ABI_VERSION,
                           KILN_ABI_IMPORTS(AGENT_IMPORT_INIT, AGENT_ABI_T)};
  return im;
}
#undef AGENT_IMPORT_INIT

/* loader.c: the package's own checks (ABI version, module hash) on a
 * dlopen'ed package for module wm; fills its imports. False: one line in
 * err. */
bool package_adopt(void *dl_handle, const WasmModule *wm, char *err, size_t errlen);

#endif
