/*
 * abi_check.c: the agent's structs against the package ABI
 * (abi/kiln_package_abi.h). Compiled code reads and writes these members
 * at the ABI's offsets and cannot notice at run time that one moved, so a
 * change here that the ABI header does not follow stops the build instead.
 * A real change updates the ABI header and KILN_PACKAGE_ABI_VERSION.
 */
#include <stddef.h>
#include <stdint.h>

#include "kiln_package_abi.h"
#include "package_abi.h"
#include "runtime.h"

/* The member sits at the ABI's offset and is as wide as the type compiled
 * code uses for it. */
#define ABI_AT(type, member, offset, as)                                                           \
  _Static_assert(offsetof(type, member) == (offset),                                               \
                 #type "." #member " is not where abi/kiln_package_abi.h says");                   \
  _Static_assert(sizeof(((type *)0)->member) == sizeof(as),                                        \
                 #type "." #member " is not as wide as compiled code reads it")

ABI_AT(FuncInst, entry, KILN_ABI_FUNCINST_ENTRY, FuncEntry);
ABI_AT(FuncInst, sig, KILN_ABI_FUNCINST_SIG, void *);
ABI_AT(FuncInst, inst, KILN_ABI_FUNCINST_INST, void *);
ABI_AT(FuncInst, index, KILN_ABI_FUNCINST_INDEX, uint32_t);

ABI_AT(Instance, module, KILN_ABI_INSTANCE_MODULE, void *);
ABI_AT(Instance, funcs, KILN_ABI_INSTANCE_FUNCS, void *);
ABI_AT(Instance, tables, KILN_ABI_INSTANCE_TABLES, void *);
ABI_AT(Instance, globals, KILN_ABI_INSTANCE_GLOBALS, void *);
ABI_AT(Instance, elems, KILN_ABI_INSTANCE_ELEMS, void *);
ABI_AT(Instance, data_len, KILN_ABI_INSTANCE_DATA_LEN, void *);
ABI_AT(Instance, mem0, KILN_ABI_INSTANCE_MEM0, void *);
/* The arrays behind those pointers, indexed by compiled code. */
_Static_assert(sizeof(*((Instance *)0)->funcs) == sizeof(void *),
               "compiled code indexes Instance.funcs as an array of that width");
_Static_assert(sizeof(*((Instance *)0)->tables) == sizeof(void *),
               "compiled code indexes Instance.tables as an array of that width");
_Static_assert(sizeof(*((Instance *)0)->globals) == sizeof(void *),
               "compiled code indexes Instance.globals as an array of that width");
_Static_assert(sizeof(*((Instance *)0)->data_len) == sizeof(uint32_t),
               "compiled code indexes Instance.data_len as an array of that width");

ABI_AT(Module, sigs, KILN_ABI_MODULE_SIGS, void *);
_Static_assert(sizeof(*((Module *)0)->sigs) == sizeof(void *),
               "compiled code indexes Module.sigs as an array of that width");

ABI_AT(MemoryInst, base, KILN_ABI_MEMORYINST_BASE, void *);
ABI_AT(MemoryInst, size, KILN_ABI_MEMORYINST_SIZE, uint64_t);
ABI_AT(MemoryInst, pages, KILN_ABI_MEMORYINST_PAGES, uint32_t);
ABI_AT(MemoryInst, reserved, KILN_ABI_MEMORYINST_RESERVED, uint64_t);

ABI_AT(TableInst, size, KILN_ABI_TABLEINST_SIZE, uint32_t);
ABI_AT(TableInst, elems, KILN_ABI_TABLEINST_ELEMS, void *);

ABI_AT(GlobalInst, value, KILN_ABI_GLOBALINST_VALUE, uint64_t);

ABI_AT(ElemInst, len, KILN_ABI_ELEMINST_LEN, uint32_t);
_Static_assert(sizeof(ElemInst) == KILN_ABI_SIZEOF_ELEMINST,
               "ElemInst is not as large as abi/kiln_package_abi.h says");

ABI_AT(Thread, stack_end, KILN_ABI_THREAD_STACK_END, void *);
ABI_AT(Thread, native_limit, KILN_ABI_THREAD_NATIVE_LIMIT, uint64_t);
ABI_AT(Thread, guard_inst, KILN_ABI_THREAD_GUARD_INST, void *);
ABI_AT(Thread, guard_func, KILN_ABI_THREAD_GUARD_FUNC, uint32_t);
ABI_AT(Thread, compiled_loop, KILN_ABI_THREAD_COMPILED_LOOP, uint64_t);

/* Compiled code passes a TrapCode as an int. */
_Static_assert(sizeof(TrapCode) == sizeof(int), "TrapCode is not an int");

/* The imports struct is generated from the ABI's list; this checks that the
 * agent's C layout of it is the one the compiler builds. */
ABI_AT(KilnPackageImports, abi_version, 0, uint32_t);
#define IMPORT_AT(id, name, ...)                                                                   \
  ABI_AT(KilnPackageImports, name, KILN_ABI_IMPORT_OFFSET(id), void (*)(void));
KILN_ABI_IMPORTS(IMPORT_AT, ABI_T_CODE)
_Static_assert(sizeof(KilnPackageImports) == KILN_ABI_SIZEOF_IMPORTS,
               "KilnPackageImports is not as large as abi/kiln_package_abi.h says");
