/*
 * module.c: freeing a module and the small helpers that describe its parts
 * in messages.
 */
#include <stdio.h>
#include <stdlib.h>

#include "wasm.h"

static void free_name(WasmName *n) {
  free((char *)n->str);
}

/* Safe on a partly decoded module: every count covers only entries that
 * were allocated (zeroed) before the count was raised. */
void wasm_module_free(WasmModule *m) {
  if (!m)
    return;
  for (uint32_t i = 0; i < m->ntypes; i++)
    free(m->types[i].types);
  free(m->types);
  for (uint32_t i = 0; i < m->nimports; i++) {
    free_name(&m->imports[i].module);
    free_name(&m->imports[i].name);
  }
  free(m->imports);
  for (uint32_t i = 0; i < m->nfuncs; i++) {
    free(m->funcs[i].local_types);
    free_name(&m->funcs[i].name);
  }
  free(m->funcs);
  free(m->tables);
  free(m->memories);
  free(m->globals);
  for (uint32_t i = 0; i < m->nexports; i++)
    free_name(&m->exports[i].name);
  free(m->exports);
  for (uint32_t i = 0; i < m->nelems; i++)
    free(m->elems[i].items);
  free(m->elems);
  free(m->datas);
  free_name(&m->name);
  free(m->binary);
  free(m);
}

const WasmFuncType *wasm_func_type(const WasmModule *m, uint32_t func_index) {
  if (!m || func_index >= m->nfuncs)
    return NULL;
  uint32_t t = m->funcs[func_index].type_index;
  return t < m->ntypes ? &m->types[t] : NULL;
}

/* "func 7 ($parse)" or "func 7". Names come from the module, so control
 * characters are shown as '?' to keep the message on one line. */
void wasm_describe_func(const WasmModule *m, int64_t func_index, char *buf, size_t size) {
  if (!buf || size == 0)
    return;
  int n = snprintf(buf, size, "func %lld", (long long)func_index);
  if (n < 0 || (size_t)n >= size)
    return;
  if (!m || func_index < 0 || func_index >= m->nfuncs || !m->funcs[func_index].name.str)
    return;
  const WasmName *name = &m->funcs[func_index].name;
  size_t at = (size_t)n;
  const char *pre = " ($";
  for (const char *p = pre; *p && at + 1 < size; p++)
    buf[at++] = *p;
  for (uint32_t i = 0; i < name->len && at + 1 < size; i++) {
    unsigned char c = (unsigned char)name->str[i];
    buf[at++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (at + 1 < size)
    buf[at++] = ')';
  buf[at] = '\0';
}

void wasm_format_error(const WasmModule *m, const WasmError *err, char *buf, size_t size) {
  if (!buf || size == 0)
    return;
  if (!err) {
    snprintf(buf, size, "invalid module");
    return;
  }
  const char *what = err->kind == WASM_ERR_MALFORMED ? "malformed module" : "invalid module";
  if (err->func >= 0) {
    char fn[128];
    wasm_describe_func(m, err->func, fn, sizeof fn);
    snprintf(buf, size, "%s at 0x%zx in %s: %s", what, err->offset, fn, err->msg);
  } else {
    snprintf(buf, size, "%s at 0x%zx: %s", what, err->offset, err->msg);
  }
}

const char *wasm_type_name(WasmValType t) {
  switch (t) {
  case WASM_I32:
    return "i32";
  case WASM_I64:
    return "i64";
  case WASM_F32:
    return "f32";
  case WASM_F64:
    return "f64";
  case WASM_V128:
    return "v128";
  case WASM_FUNCREF:
    return "funcref";
  case WASM_EXTERNREF:
    return "externref";
  default:
    return "unknown";
  }
}
