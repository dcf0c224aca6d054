/*
 * dcm.h: the Differential Compilation Module (service side).
 *
 * Translates validated WebAssembly functions with libgccjit into one ELF
 * shared object (a "package", abi/kiln_package_abi.h). After dlopen, each
 * listed function has an exported FuncEntry that behaves exactly like the
 * interpreter: same results, same traps with the same TrapCodes.
 *
 * One call is one libgccjit context (about 17 ms of fixed cost), so callers
 * batch every function of a request into one dcm_compile.
 */
#ifndef KILN_DCM_H
#define KILN_DCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasm.h"

/* The generation of the code this compiler writes. Raised with every change
 * to the generated code. 2: hot code without bounds checks (guard pages).
 * 4: hot call_indirect calls a target of its package natively.
 * 5: an OSR entry entered at KILN_ABI_OSR_TOP is a call (osr_body).
 * 6: linked without the C runtime (libc binds at dlopen).
 * 7: warm code allocates registers in one region (-fira-region=one). */
#define DCM_CODEGEN_VERSION 7

/* A request with a function body this large (bytes of wasm) compiles with
 * the passes whose cost grows fastest with a function's size left out.
 * Real programs have a few: SQLite's largest, sqlite3VdbeExec, is 50 KB;
 * our samples' largest is printf's, 9 KB. */
#define DCM_BIG_BODY_BYTES 16384

typedef enum {
  DCM_WARM, /* -O1: each function calls others through the instance's table */
  DCM_HOT, /* -O3 -funroll-loops: the set in one unit, direct internal calls */
} DcmTier;

typedef struct {
  uint32_t index; /* in the module's function index space */
  char symbol[96]; /* the exported FuncEntry: kiln_f<index>_<safe name> */
  uint64_t code_size; /* bytes of its exported entry (st_size); 0 if unknown */
} DcmFunc;

typedef struct {
  DcmTier tier;
  uint32_t nfuncs;
  DcmFunc *funcs; /* nfuncs entries, in request order; free with dcm_manifest_free */
  double compile_ms; /* the whole context: translation, gcc, as, ld */
  uint64_t package_size; /* bytes of the written .so */
} DcmManifest;

/* A profile hint: the call_indirect at byte offset `site` of caller's body
 * calls `callee` most of the time. Hot code then calls callee directly
 * (gcc may inline it) when the table element is callee, and checks and
 * calls through the table otherwise. A hint that does not apply (no such
 * site, a callee outside the request or of another type) is ignored. */
typedef struct {
  uint32_t caller, site, callee;
} DcmCallHint;

/* What the profile says of a request: its call hints (hot only, sorted by
 * caller and site), the functions that get no OSR entry (sorted; each
 * activation is short, so the next call switches: an OSR entry costs about
 * as much compile time as its function), the functions whose one body is
 * their OSR entry (sorted; entered rarely, each activation long, and one
 * running now, which only the OSR entry can take over: their FuncEntry
 * calls it from the top, and gcc compiles them once instead of twice),
 * and its branch hints. */
/* A br_if or if (at byte offset `site` of func's body) whose condition
 * is nearly always `likely`: hot code says so to gcc (__builtin_expect). */
typedef struct {
  uint32_t func, site;
  bool likely;
} DcmBranchHint;

typedef struct {
  const DcmCallHint *hints;
  size_t nhints;
  const uint32_t *without_osr;
  size_t nwithout_osr;
  const uint32_t *osr_body;
  size_t nosr_body;
  const DcmBranchHint *branches; /* hot only, sorted by func and site */
  size_t nbranches;
} DcmProfile;

/* Compiles funcs[0..nfuncs) (defined functions of m, which must be valid) at
 * `tier` into the shared object out_path, with profile (NULL: none; every
 * function with loops gets its OSR entry). On failure returns false with
 * one line in err (for example "opcode 0xfd not supported by the compiler
 * yet") and writes nothing usable. */
bool dcm_compile(const WasmModule *m, const uint32_t *funcs, uint32_t nfuncs, DcmTier tier,
                 const DcmProfile *profile, const char *out_path, DcmManifest *out, char *err,
                 size_t errlen);

void dcm_manifest_free(DcmManifest *man);

const char *dcm_tier_name(DcmTier tier);

/* KILN_PACKAGE_ABI_VERSION and DCM_CODEGEN_VERSION in one number: part of
 * every package's content key, so that no cache serves a package that an
 * older compiler wrote or an older agent would read. */
uint32_t dcm_package_generation(void);

#endif
