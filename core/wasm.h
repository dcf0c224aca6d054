/*
 * wasm.h: the WebAssembly module model shared by the agent and the service.
 *
 * A WasmModule is what the decoder makes of a binary: every section in plain
 * arrays, each index space (functions, tables, memories, globals) as one array
 * whose first entries are the imports. Function bodies are not decoded into
 * instructions here; they stay byte ranges into the module's own copy of the
 * binary, which the validator and the tiers walk themselves.
 *
 * No I/O and no global state: every function works on what it is given.
 */
#ifndef KILN_WASM_H
#define KILN_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types carry their binary encoding, so a type byte read from the
 * module is already a WasmValType. */
enum {
  WASM_I32 = 0x7f,
  WASM_I64 = 0x7e,
  WASM_F32 = 0x7d,
  WASM_F64 = 0x7c,
  WASM_V128 = 0x7b, /* recognised so the error says "SIMD", never executed */
  WASM_FUNCREF = 0x70,
  WASM_EXTERNREF = 0x6f,
};
typedef uint8_t WasmValType;

enum {
  WASM_EXTERN_FUNC = 0,
  WASM_EXTERN_TABLE = 1,
  WASM_EXTERN_MEMORY = 2,
  WASM_EXTERN_GLOBAL = 3
};

#define WASM_PAGE_SIZE 65536u
#define WASM_MAX_PAGES 65536u /* 4 GiB of 32-bit address space */
#define WASM_MAX_LOCALS 50000u /* per function, params included; as V8 and wabt */

/* Names are length-counted (they may hold any UTF-8, NUL included) and also
 * NUL-terminated for convenience. */
typedef struct {
  const char *str;
  uint32_t len;
} WasmName;

typedef struct {
  uint32_t nparams, nresults;
  WasmValType *types; /* nparams parameter types, then nresults result types */
} WasmFuncType;

typedef struct {
  uint32_t min, max;
  bool has_max;
} WasmLimits;

typedef struct {
  WasmValType elem_type; /* WASM_FUNCREF or WASM_EXTERNREF */
  WasmLimits limits;
} WasmTableType;

typedef struct {
  WasmValType type;
  bool mutable_;
} WasmGlobalType;

/* A constant expression of WebAssembly 2.0 is exactly one instruction before
 * `end`. op is that instruction's opcode (0x41 i32.const, 0x42 i64.const,
 * 0x43 f32.const, 0x44 f64.const, 0x23 global.get, 0xd0 ref.null, 0xd2
 * ref.func); value holds the constant's bits, the global or function index, or
 * the reference type of ref.null. */
typedef struct {
  uint8_t op;
  uint64_t value;
  size_t offset; /* of the instruction in the binary, for error messages */
} WasmConstExpr;

typedef struct {
  WasmName module, name;
  uint8_t kind; /* WASM_EXTERN_* */
  uint32_t index; /* its place in that kind's index space */
} WasmImport;

typedef struct {
  WasmName name;
  uint8_t kind;
  uint32_t index;
} WasmExport;

typedef struct {
  uint32_t type_index;
  bool imported;
  /* Defined functions only: */
  uint32_t nlocals; /* declared locals, params excluded */
  WasmValType *local_types; /* nlocals entries, expanded from the groups */
  const uint8_t *body; /* first instruction .. final `end` included */
  size_t body_len;
  size_t body_offset; /* of `body` in the binary, for error messages */
  WasmName name; /* from the name section; str NULL when absent */
} WasmFunc;

typedef struct {
  WasmTableType type;
  bool imported;
} WasmTable;

typedef struct {
  WasmLimits limits; /* in pages */
  bool imported;
} WasmMemory;

typedef struct {
  WasmGlobalType type;
  bool imported;
  WasmConstExpr init; /* defined globals only */
} WasmGlobal;

enum { WASM_SEG_ACTIVE = 0, WASM_SEG_PASSIVE = 1, WASM_SEG_DECLARATIVE = 2 };

typedef struct {
  uint8_t mode; /* WASM_SEG_* */
  WasmValType elem_type;
  uint32_t table_index; /* active only */
  WasmConstExpr offset; /* active only */
  uint32_t nitems;
  WasmConstExpr *items; /* function indices arrive as ref.func expressions */
} WasmElem;

typedef struct {
  uint8_t mode; /* WASM_SEG_ACTIVE or WASM_SEG_PASSIVE */
  uint32_t memory_index;
  WasmConstExpr offset;
  const uint8_t *bytes;
  uint32_t len;
} WasmData;

typedef struct WasmModule {
  uint8_t *binary; /* the module's own copy; bodies and data point into it */
  size_t binary_len;
  uint8_t hash[32]; /* SHA-256 of the binary: see wasm_module_hash */

  uint32_t ntypes;
  WasmFuncType *types;

  uint32_t nimports;
  WasmImport *imports;

  /* Index spaces: imports first, then definitions. */
  uint32_t nfuncs, nfunc_imports;
  WasmFunc *funcs;
  uint32_t ntables, ntable_imports;
  WasmTable *tables;
  uint32_t nmemories, nmemory_imports;
  WasmMemory *memories;
  uint32_t nglobals, nglobal_imports;
  WasmGlobal *globals;

  uint32_t nexports;
  WasmExport *exports;

  bool has_start;
  uint32_t start;

  uint32_t nelems;
  WasmElem *elems;

  bool has_data_count;
  uint32_t data_count;
  uint32_t ndatas;
  WasmData *datas;

  WasmName name; /* module name from the name section, str NULL when absent */
} WasmModule;

/* Why a module was refused. offset is a byte offset into the binary; func is
 * the function index the error lies in, or -1. */
enum { WASM_ERR_MALFORMED = 1, WASM_ERR_INVALID = 2 };
typedef struct {
  int kind;
  size_t offset;
  int64_t func;
  char msg[160];
} WasmError;

/* decode.c: parse a binary module. On failure returns NULL and fills err
 * (kind WASM_ERR_MALFORMED). The bytes are copied; the caller keeps its own. */
WasmModule *wasm_decode(const uint8_t *bytes, size_t len, WasmError *err);

/* validate.c: check a decoded module against the 2.0 validation rules
 * (SIMD excluded). Returns false and fills err (kind WASM_ERR_INVALID). */
bool wasm_validate(const WasmModule *m, WasmError *err);

/* module.c */
void wasm_module_free(WasmModule *m);
const WasmFuncType *wasm_func_type(const WasmModule *m, uint32_t func_index);
/* "in func 7 ($parse)" style description; writes at most size bytes. */
void wasm_describe_func(const WasmModule *m, int64_t func_index, char *buf, size_t size);
/* One-line message without the file name:
 * "invalid module at 0x1a3 in func 7 ($parse): type mismatch: expected i32, got f64" */
void wasm_format_error(const WasmModule *m, const WasmError *err, char *buf, size_t size);
const char *wasm_type_name(WasmValType t); /* "i32", "funcref", ... */

/* hash.c: the module's content hash, stable across runs and machines. */
void wasm_module_hash(const uint8_t *bytes, size_t len, uint8_t out[32]);
void wasm_hash_hex(const uint8_t hash[32], char out[65]);

#endif
