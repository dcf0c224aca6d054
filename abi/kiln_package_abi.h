/*
 * kiln_package_abi.h: the package ABI, the contract between compiled code
 * (an ELF shared object written by service/dcm/) and the agent that maps
 * it. Both sides build from this header and neither includes the other's:
 * the compiler knows the runtime's structs only as the offsets below, and
 * agent/abi_check.c stops the agent's build when its structs disagree.
 *
 * Compiled code trusts all of this blindly, so changing anything here that
 * a package reads, writes or calls needs a new KILN_PACKAGE_ABI_VERSION:
 * the loader refuses packages of another version, and the version is part
 * of every package's content key, so no cache serves one built to the old
 * layout.
 *
 * A package exports:
 * - KILN_PACKAGE_SYM_ABI (uint32_t): the KILN_PACKAGE_ABI_VERSION it was
 *   built for.
 * - KILN_PACKAGE_SYM_HASH (uint8_t[32]): the module hash it was built for;
 *   the loader refuses a package for another module.
 * - KILN_PACKAGE_SYM_IMPORTS (the struct of KILN_ABI_IMPORTS): zero in the
 *   file; the loader fills it right after dlopen, before any entry runs.
 *   Compiled code calls back into the runtime only through it, so a package
 *   needs no symbol of the agent (libm and libc only).
 * - one FuncEntry, void (*)(Thread *t, FuncInst *f, uint64_t *sp), per
 *   compiled function, named `kiln_f<index>_<name>`: <name> is the
 *   function's name from the name section reduced to [A-Za-z0-9_] (perf and
 *   gdb show script names with no setup); without a name, `kiln_f<index>`.
 */
#ifndef KILN_PACKAGE_ABI_H
#define KILN_PACKAGE_ABI_H

#include <stddef.h>
#include <stdint.h>

#define KILN_PACKAGE_ABI_VERSION 4

/* On-stack replacement: a package may export, for a function with loops,
 *   int kiln_o<index>(Thread *t, FuncInst *f, uint64_t *fp, uint32_t loop)
 * which takes over an interpreted activation at the header of the loop
 * whose `loop` instruction is at byte offset `loop` of the body. fp is the
 * interpreter's frame: local i (parameters first) in fp[i], the operand
 * stack value at height h (loop parameters included) in
 * fp[KILN_ABI_OSR_STACK_SLOT(nlocals) + h], each in its 64-bit slot form.
 * It runs the function to its end, leaves the results at fp[0..], and
 * returns 1; or returns 0 having done nothing (a loop it does not know,
 * or hot code that may not run unchecked here), and the interpreter goes
 * on. The interpreter keeps one hidden slot after the locals. Entered at
 * `loop` KILN_ABI_OSR_TOP it is a call: the parameters in fp[0..], the
 * other locals zero (the package's own FuncEntry of a function compiled
 * only as its OSR entry does that; the agent never asks for it). */
#define KILN_PACKAGE_OSR_PREFIX "kiln_o"
#define KILN_ABI_OSR_STACK_SLOT(nlocals) ((nlocals) + 1)
#define KILN_ABI_OSR_TOP UINT32_MAX

#define KILN_PACKAGE_SYM_ABI "kiln_package_abi_version"
#define KILN_PACKAGE_SYM_HASH "kiln_package_module_hash"
#define KILN_PACKAGE_SYM_IMPORTS "kiln_package_imports"

/* Why a script stopped. Compiled code passes these to trap_raise (as an
 * int), so the values are part of the ABI. The messages are the spec's
 * wording. */
typedef enum {
  TRAP_NONE = 0,
  TRAP_UNREACHABLE, /* "unreachable" */
  TRAP_INT_DIV_ZERO, /* "integer divide by zero" */
  TRAP_INT_OVERFLOW, /* "integer overflow" */
  TRAP_INVALID_CONVERSION, /* "invalid conversion to integer" */
  TRAP_MEMORY_OOB, /* "out of bounds memory access" */
  TRAP_TABLE_OOB, /* "out of bounds table access" */
  TRAP_UNDEFINED_ELEMENT, /* "undefined element" */
  TRAP_UNINITIALIZED_ELEMENT, /* "uninitialized element" */
  TRAP_INDIRECT_MISMATCH, /* "indirect call type mismatch" */
  TRAP_STACK_EXHAUSTED, /* "call stack exhausted" */
  TRAP_HOST, /* a host function trapped; message already set */
  TRAP_EXIT, /* proc_exit; not an error */
} TrapCode;

/* --- imports -----------------------------------------------------------------
 * The types of the imports' results and parameters, as codes that each side
 * expands to its own types: the agent to its structs (so the C compiler
 * checks every function it puts into the imports), the compiler to libgccjit
 * types (every pointer a void *, TrapCode an int; the platform passes them
 * the same way). */
typedef enum {
  ABI_T_VOID,
  ABI_T_U32, /* uint32_t */
  ABI_T_I64, /* int64_t */
  ABI_T_REF, /* void *: a reference value (FuncInst * or externref) */
  ABI_T_THREAD, /* Thread * */
  ABI_T_FUNC, /* FuncInst * */
  ABI_T_CONST_FUNC, /* const FuncInst * */
  ABI_T_MEMORY, /* MemoryInst * */
  ABI_T_TABLE, /* TableInst * */
  ABI_T_TRAP, /* TrapCode, an int */
  ABI_T_FLAG, /* int *: guard_package_ready's flag */
  ABI_T_SLOTS, /* uint64_t *: the operand stack, as for a FuncEntry */
} KilnAbiType;
/* For lists of the codes themselves: KILN_ABI_IMPORTS(X, ABI_T_CODE). */
#define ABI_T_CODE(code) ABI_T_##code

/* The package's imports struct is `uint32_t abi_version` (the loader writes
 * KILN_PACKAGE_ABI_VERSION) followed by one function pointer per entry of
 * this list, in its order: X(ID, field, result, parameters...), each type
 * written T(code).
 * - trap_raise unwinds to the boundary; it never returns.
 * - segment_*_init trap (out of bounds) through trap_raise, naming f.
 * - Hot packages have no bounds checks (agent/guard.c). Each exported entry
 *   calls guard_package_ready once per loaded package, which asks whether the
 *   loader registered its code with the fault handler, and runs the function
 *   through interp_entry instead when not, or when the instance's memory
 *   lacks MEMORY_GUARDED_RESERVE, so behaviour never depends on it. */
#define KILN_ABI_IMPORTS(X, T)                                                                     \
  X(TRAP, trap_raise, T(VOID), T(THREAD), T(CONST_FUNC), T(TRAP))                                  \
  X(MEMORY_GROW, memory_grow, T(I64), T(MEMORY), T(U32))                                           \
  X(TABLE_GROW, table_grow, T(I64), T(TABLE), T(U32), T(REF))                                      \
  X(MEMORY_INIT, segment_memory_init, T(VOID), T(THREAD), T(FUNC), T(U32), T(U32), T(U32), T(U32)) \
  X(TABLE_INIT, segment_table_init, T(VOID), T(THREAD), T(FUNC), T(U32), T(U32), T(U32), T(U32),   \
    T(U32))                                                                                        \
  X(GUARD_READY, guard_package_ready, T(VOID), T(FLAG))                                            \
  X(INTERP_ENTRY, interp_entry, T(VOID), T(THREAD), T(FUNC), T(SLOTS))

/* KILN_IMP_TRAP, ...: each import's place in the list. */
#define KILN_IMP_INDEX(id, ...) KILN_IMP_##id,
enum { KILN_ABI_IMPORTS(KILN_IMP_INDEX, ABI_T_CODE) KILN_IMP_COUNT };
#undef KILN_IMP_INDEX

/* Where the struct's C layout puts each import: abi_version padded to a
 * pointer, then the pointers. */
#define KILN_ABI_IMPORT_OFFSET(id) (sizeof(void *) * (1 + (size_t)KILN_IMP_##id))
#define KILN_ABI_SIZEOF_IMPORTS (sizeof(void *) * (1 + (size_t)KILN_IMP_COUNT))

/* --- what compiled code reads and writes in the runtime's structs --------------
 * Byte offsets on LP64 (x86-64, aarch64), each with the type compiled code
 * uses for the member. Compiled code writes only Thread's guard_inst,
 * guard_func and compiled_loop, and ElemInst's len and the data_len entries (elem.drop,
 * data.drop); everything else it only reads. */
#define KILN_ABI_FUNCINST_ENTRY 0 /* FuncEntry */
#define KILN_ABI_FUNCINST_SIG 8 /* const Sig *, compared by address */
#define KILN_ABI_FUNCINST_INST 16 /* Instance * */
#define KILN_ABI_FUNCINST_INDEX 24 /* uint32_t: in inst's function space (a host's: 0) */

#define KILN_ABI_INSTANCE_MODULE 8 /* Module * */
#define KILN_ABI_INSTANCE_FUNCS 24 /* FuncInst ** */
#define KILN_ABI_INSTANCE_TABLES 32 /* TableInst ** */
#define KILN_ABI_INSTANCE_GLOBALS 48 /* GlobalInst ** */
#define KILN_ABI_INSTANCE_ELEMS 56 /* ElemInst * */
#define KILN_ABI_INSTANCE_DATA_LEN 64 /* uint32_t * */
#define KILN_ABI_INSTANCE_MEM0 72 /* MemoryInst * */

#define KILN_ABI_MODULE_SIGS 24 /* const Sig **, per type index */

#define KILN_ABI_MEMORYINST_BASE 0 /* uint8_t * */
#define KILN_ABI_MEMORYINST_SIZE 8 /* uint64_t, bytes */
#define KILN_ABI_MEMORYINST_PAGES 16 /* uint32_t */
#define KILN_ABI_MEMORYINST_RESERVED 24 /* size_t, read as uint64_t */

#define KILN_ABI_TABLEINST_SIZE 4 /* uint32_t */
#define KILN_ABI_TABLEINST_ELEMS 16 /* void ** */

#define KILN_ABI_GLOBALINST_VALUE 0 /* uint64_t, a slot */

#define KILN_ABI_ELEMINST_LEN 0 /* uint32_t */
#define KILN_ABI_SIZEOF_ELEMINST 16

#define KILN_ABI_THREAD_STACK_END 16 /* uint64_t * */
#define KILN_ABI_THREAD_NATIVE_LIMIT 32 /* uintptr_t, read as uint64_t */
#define KILN_ABI_THREAD_GUARD_INST 568 /* Instance *, written volatile */
#define KILN_ABI_THREAD_GUARD_FUNC 576 /* uint32_t, written volatile */
/* uint64_t: the loop compiled code runs in, for the sampler, as
 * KILN_ABI_COMPILED_LOOP(function index, the loop's offset); each store
 * is kept where it is written by an empty volatile asm reading it. */
#define KILN_ABI_THREAD_COMPILED_LOOP 584
#define KILN_ABI_COMPILED_LOOP(index, offset) ((uint64_t)(index) << 32 | (uint32_t)(offset))
/* Its offset outside every loop of the function. */
#define KILN_ABI_NO_LOOP UINT32_MAX

/* --- hot code without bounds checks --------------------------------------------
 * The reservation behind a memory that code without bounds checks needs:
 * any u32 address plus u32 offset plus an access of up to 8 bytes stays
 * inside it (8 GiB and one 64 KiB WebAssembly page). */
#define MEMORY_GUARDED_RESERVE (((size_t)8 << 30) + 65536)

/* What guard_package_ready leaves in its flag. */
#define KILN_ABI_GUARD_READY 1 /* the package's code is registered: run it */
#define KILN_ABI_GUARD_REFUSED 2 /* it is not: run interpreted */

#endif
