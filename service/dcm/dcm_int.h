/*
 * dcm_int.h: what the parts of the compiler share (internal to service/dcm).
 *
 * dcm.c owns the libgccjit context, the package's exported globals and the
 * small generated helper functions; jit_body.c translates one function
 * body (control, calls, variables); jit_mem.c memory, tables and the 0xfc
 * prefix; jit_ops.c the numeric instructions.
 */
#ifndef KILN_DCM_INT_H
#define KILN_DCM_INT_H

#include <libgccjit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcm.h"
#include "kiln_package_abi.h"
#include "wasm.h"

/* Value classes of the compiler: one C type each. References are void *. */
enum { VC_I32, VC_I64, VC_F32, VC_F64, VC_REF, VC_COUNT };

/* Generated helpers (always inlined), made on first use. */
enum {
  H_CLZ32,
  H_CTZ32,
  H_CLZ64,
  H_CTZ64,
  H_FMIN32,
  H_FMAX32,
  H_FMIN64,
  H_FMAX64,
  H_CEIL32,
  H_FLOOR32,
  H_TRUNC32,
  H_NEAREST32,
  H_CEIL64,
  H_FLOOR64,
  H_TRUNC64,
  H_NEAREST64,
  H_SAT_I32_F32,
  H_SAT_U32_F32,
  H_SAT_I32_F64,
  H_SAT_U32_F64,
  H_SAT_I64_F32,
  H_SAT_U64_F32,
  H_SAT_I64_F64,
  H_SAT_U64_F64,
  H_PROMOTE,
  H_COUNT
};

typedef struct Dcm {
  gcc_jit_context *ctx;
  const WasmModule *m;
  DcmTier tier;
  gcc_jit_type *t_void, *t_bool, *t_u8, *t_i8, *t_u16, *t_i16, *t_u32, *t_i32, *t_u64, *t_i64,
      *t_f32, *t_f64, *t_vptr, *t_u8ptr, *t_u64ptr, *t_int, *t_long;
  gcc_jit_type *vc_type[VC_COUNT];
  gcc_jit_type *entry_ptr; /* FuncEntry */
  gcc_jit_lvalue *imports; /* the package's kiln_package_imports */
  /* Hot with a memory: loads and stores have no bounds checks and fault
   * into the guard region instead (agent/guard.c). guard_ready is the
   * package's flag for guard_package_ready. */
  bool unchecked;
  gcc_jit_lvalue *guard_ready;
  gcc_jit_field *imp_field[KILN_IMP_COUNT]; /* per KILN_ABI_IMPORTS entry */
  gcc_jit_function *helper[H_COUNT];
  gcc_jit_function *expect; /* __builtin_expect */
  gcc_jit_function *libc_memmove, *libc_memset;
  /* hot: per function index, the internal native-signature function of the
   * requested set (NULL outside it); warm: unused. */
  gcc_jit_function **internal;
  gcc_jit_function **entry; /* per function index: the exported FuncEntry */
  const char **symbol; /* per function index: its name, or NULL */
  const DcmProfile *profile; /* never NULL */
  /* hot: per function index, the address of its internal function when
   * a call_indirect of the package may call it (NULL elsewhere), so that
   * such a call takes the native convention, not the FuncEntry's slots;
   * NULL when no function of the request has a call_indirect. */
  gcc_jit_lvalue *itab;
  char *err;
  size_t errlen;
  bool failed;
} Dcm;

/* dcm.c */
void dcm_fail(Dcm *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dcm_vc(WasmValType t);
gcc_jit_function *dcm_helper(Dcm *d, int which);
gcc_jit_rvalue *dcm_u32(Dcm *d, uint32_t v);
gcc_jit_rvalue *dcm_u64(Dcm *d, uint64_t v);
gcc_jit_rvalue *dcm_cast(Dcm *d, gcc_jit_rvalue *v, gcc_jit_type *to);
gcc_jit_rvalue *dcm_bitcast(Dcm *d, gcc_jit_rvalue *v, gcc_jit_type *to);
gcc_jit_rvalue *dcm_call1(Dcm *d, gcc_jit_function *fn, gcc_jit_rvalue *a);
gcc_jit_rvalue *dcm_builtin1(Dcm *d, const char *name, gcc_jit_rvalue *a, gcc_jit_type *result);
/* *(type *)((char *)ptr + off) */
gcc_jit_lvalue *dcm_field(Dcm *d, gcc_jit_rvalue *ptr, size_t off, gcc_jit_type *type);
/* ((elem *)ptr)[index] */
gcc_jit_lvalue *dcm_index(Dcm *d, gcc_jit_rvalue *ptr, gcc_jit_type *elem, gcc_jit_rvalue *index);
gcc_jit_rvalue *dcm_import(Dcm *d, int which);

/* dcm_elf.c: fills each function's code_size from the package's dynamic
 * symbol table (left 0 when the file cannot be read). */
void dcm_measure_code(const char *path, DcmManifest *man);

/* jit_body.c: declares (pass 1, every function of the request first, so
 * they can call each other) and defines (pass 2) function `index`. A
 * function declared osr_body has its OSR entry for its one body: no
 * jit_define, and jit_define_osr_caller after its jit_define_osr. */
void jit_declare(Dcm *d, uint32_t index, bool osr_body);
/* After every jit_declare: d->itab, for the hot functions of funcs. */
void jit_declare_itab(Dcm *d, const uint32_t *funcs, uint32_t n);
void jit_define(Dcm *d, uint32_t index);
bool jit_has_loop(const WasmFunc *wf);
/* The function's OSR entry (package ABI), when it has loops, or NULL. */
gcc_jit_function *jit_define_osr(Dcm *d, uint32_t index);
/* The FuncEntry of an osr_body function: a call enters osr at the top. */
void jit_define_osr_caller(Dcm *d, uint32_t index, gcc_jit_function *osr);

#endif
