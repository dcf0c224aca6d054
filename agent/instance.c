/*
 * instance.c: instantiation (WebAssembly 2.0 semantics) and the bulk
 * segment operations the interpreter shares with it.
 *
 * The order follows the spec: resolve and type-check every import, allocate
 * functions, tables, memories and globals, evaluate element segments, then
 * apply active element segments and active data segments in order, then run
 * the start function. A segment out of bounds stops instantiation with a
 * trap, but what was written before it stays (imported tables and memories
 * see it), so from that point on the instance is kept alive by the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "runtime.h"

/* The instance and what it owns (its definitions; imports belong to others). */
typedef struct {
  Instance in; /* first: an Instance * is an InstanceBox * */
  FuncInst *funcs;
  TableInst *tables;
  MemoryInst *memories;
  GlobalInst *globals;
  uint32_t ntables_made, nmemories_made; /* initialized so far, for cleanup */
} InstanceBox;

/* --- freeing -------------------------------------------------------------- */

void instance_free(Instance *in) {
  if (!in)
    return;
  InstanceBox *b = (InstanceBox *)in;
  tiering_free(in);
  for (uint32_t i = 0; i < b->ntables_made; i++)
    table_release(&b->tables[i]);
  for (uint32_t i = 0; i < b->nmemories_made; i++)
    memory_release(&b->memories[i]);
  if (in->elems)
    for (uint32_t i = 0; i < in->module->wasm->nelems; i++)
      free(in->elems[i].items);
  free(b->funcs);
  free(b->tables);
  free(b->memories);
  free(b->globals);
  free(in->funcs);
  free(in->tables);
  free(in->memories);
  free(in->globals);
  free(in->elems);
  free(in->data_len);
  free(in->name);
  free(b);
}

/* --- exports -------------------------------------------------------------- */

static void *extern_item(const Instance *in, uint8_t kind, uint32_t index) {
  switch (kind) {
  case WASM_EXTERN_FUNC:
    return in->funcs[index];
  case WASM_EXTERN_TABLE:
    return in->tables[index];
  case WASM_EXTERN_MEMORY:
    return in->memories[index];
  case WASM_EXTERN_GLOBAL:
    return in->globals[index];
  }
  return NULL;
}

bool instance_export(const Instance *in, const char *name, size_t len, uint8_t *kind, void **item) {
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = 0; i < w->nexports; i++) {
    const WasmExport *e = &w->exports[i];
    if (e->name.len == len && memcmp(e->name.str, name, len) == 0) {
      *kind = e->kind;
      *item = extern_item(in, e->kind, e->index);
      return *item != NULL;
    }
  }
  return false;
}

/* --- imports -------------------------------------------------------------- */

/* Limits subtyping: the actual item is at least as large as required, and
 * bounded at least as tightly when the import asks for a maximum. */
static bool limits_match(uint64_t size, bool has_max, uint64_t max, const WasmLimits *want) {
  if (size < want->min)
    return false;
  return !want->has_max || (has_max && max <= want->max);
}

static bool import_matches(const Instance *in, const WasmImport *imp, void *item) {
  const WasmModule *w = in->module->wasm;
  switch (imp->kind) {
  case WASM_EXTERN_FUNC: {
    const FuncInst *f = item;
    return f->sig == in->module->sigs[w->funcs[imp->index].type_index];
  }
  case WASM_EXTERN_TABLE: {
    const TableInst *t = item;
    const WasmTableType *want = &w->tables[imp->index].type;
    return t->elem_type == want->elem_type &&
           limits_match(t->size, t->has_max, t->max, &want->limits);
  }
  case WASM_EXTERN_MEMORY: {
    const MemoryInst *m = item;
    return limits_match(m->pages, m->has_max, m->max_pages, &w->memories[imp->index].limits);
  }
  case WASM_EXTERN_GLOBAL: {
    const GlobalInst *g = item;
    const WasmGlobalType *want = &w->globals[imp->index].type;
    return g->type == want->type && g->mutable_ == want->mutable_;
  }
  }
  return false;
}

/* "\"mod\" \"name\"" of an import, fit for a one-line message. */
static const char *import_text(const WasmImport *imp, char *buf, size_t size) {
  char mod[120], name[120];
  snprintf(buf, size, "\"%s\" \"%s\"",
           trap_name_text(mod, sizeof mod, imp->module.str, imp->module.len),
           trap_name_text(name, sizeof name, imp->name.str, imp->name.len));
  return buf;
}

static bool link_import(Instance *in, const WasmImport *imp) {
  kiln_runtime *rt = in->rt;
  uint8_t kind;
  void *item;
  char what[256];
  const char *mod = in->module->name;
  if (!runtime_resolve(rt, imp->module, imp->name, &kind, &item)) {
    runtime_error(rt, "%s: unknown import: %s", mod, import_text(imp, what, sizeof what));
    return false;
  }
  if (kind != imp->kind || !import_matches(in, imp, item)) {
    runtime_error(rt, "%s: incompatible import type for %s", mod,
                  import_text(imp, what, sizeof what));
    return false;
  }
  switch (kind) {
  case WASM_EXTERN_FUNC:
    in->funcs[imp->index] = runtime_bind_import(rt, item, in);
    if (!in->funcs[imp->index]) {
      runtime_error(rt, "%s: out of memory", mod);
      return false;
    }
    break;
  case WASM_EXTERN_TABLE:
    in->tables[imp->index] = item;
    break;
  case WASM_EXTERN_MEMORY:
    in->memories[imp->index] = item;
    break;
  case WASM_EXTERN_GLOBAL:
    in->globals[imp->index] = item;
    break;
  }
  return true;
}

/* --- allocation ----------------------------------------------------------- */

static bool alloc_arrays(InstanceBox *b) {
  Instance *in = &b->in;
  const WasmModule *w = in->module->wasm;
  /* +1 everywhere: calloc(0) may return NULL, which would read as failure. */
  in->funcs = calloc(w->nfuncs + 1, sizeof *in->funcs);
  in->tables = calloc(w->ntables + 1, sizeof *in->tables);
  in->memories = calloc(w->nmemories + 1, sizeof *in->memories);
  in->globals = calloc(w->nglobals + 1, sizeof *in->globals);
  in->elems = calloc(w->nelems + 1, sizeof *in->elems);
  in->data_len = calloc(w->ndatas + 1, sizeof *in->data_len);
  b->funcs = calloc(w->nfuncs - w->nfunc_imports + 1, sizeof *b->funcs);
  b->tables = calloc(w->ntables - w->ntable_imports + 1, sizeof *b->tables);
  b->memories = calloc(w->nmemories - w->nmemory_imports + 1, sizeof *b->memories);
  b->globals = calloc(w->nglobals - w->nglobal_imports + 1, sizeof *b->globals);
  return in->funcs && in->tables && in->memories && in->globals && in->elems && in->data_len &&
         b->funcs && b->tables && b->memories && b->globals;
}

static void make_funcs(InstanceBox *b) {
  Instance *in = &b->in;
  const Module *m = in->module;
  const WasmModule *w = m->wasm;
  for (uint32_t i = w->nfunc_imports; i < w->nfuncs; i++) {
    FuncInst *f = &b->funcs[i - w->nfunc_imports];
    *f = (FuncInst){.entry = interp_entry,
                    .sig = m->sigs[w->funcs[i].type_index],
                    .inst = in,
                    .index = i,
                    .code = m->code[i - w->nfunc_imports],
                    .prof = &m->prof[i - w->nfunc_imports]};
    in->funcs[i] = f;
  }
}

static bool make_tables(InstanceBox *b) {
  Instance *in = &b->in;
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = w->ntable_imports; i < w->ntables; i++) {
    const WasmTableType *tt = &w->tables[i].type;
    TableInst *t = &b->tables[i - w->ntable_imports];
    uint32_t max = tt->limits.has_max ? tt->limits.max : UINT32_MAX;
    if (!table_init(t, tt->elem_type, tt->limits.min, max, NULL)) {
      runtime_error(in->rt, "%s: cannot allocate a table of %u elements", in->module->name,
                    tt->limits.min);
      return false;
    }
    t->has_max = tt->limits.has_max;
    b->ntables_made++;
    in->tables[i] = t;
  }
  return true;
}

static bool make_memories(InstanceBox *b) {
  Instance *in = &b->in;
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = w->nmemory_imports; i < w->nmemories; i++) {
    const WasmLimits *l = &w->memories[i].limits;
    MemoryInst *m = &b->memories[i - w->nmemory_imports];
    if (!memory_init(m, l->min, l->has_max ? l->max : WASM_MAX_PAGES)) {
      runtime_error(in->rt, "%s: cannot allocate a memory of %u pages", in->module->name, l->min);
      return false;
    }
    m->has_max = l->has_max;
    b->nmemories_made++;
    in->memories[i] = m;
  }
  in->mem0 = w->nmemories ? in->memories[0] : NULL;
  return true;
}

/* A validated constant expression's value as an operand-stack slot. */
static uint64_t eval_const(const Instance *in, const WasmConstExpr *e) {
  const WasmModule *w = in->module->wasm;
  switch (e->op) {
  case WASM_OP_I32_CONST:
  case WASM_OP_F32_CONST:
    return (uint32_t)e->value;
  case WASM_OP_I64_CONST:
  case WASM_OP_F64_CONST:
    return e->value;
  case WASM_OP_GLOBAL_GET:
    return e->value < w->nglobals && in->globals[e->value] ? in->globals[e->value]->value : 0;
  case WASM_OP_REF_FUNC:
    return e->value < w->nfuncs ? (uintptr_t)in->funcs[e->value] : 0;
  default:
    return 0; /* ref.null */
  }
}

static void make_globals(InstanceBox *b) {
  Instance *in = &b->in;
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = w->nglobal_imports; i < w->nglobals; i++) {
    GlobalInst *g = &b->globals[i - w->nglobal_imports];
    *g = (GlobalInst){.value = eval_const(in, &w->globals[i].init),
                      .type = w->globals[i].type.type,
                      .mutable_ = w->globals[i].type.mutable_};
    in->globals[i] = g;
  }
}

/* Evaluates every element segment's references. A declarative segment is
 * dropped from the start: only validation ever needed it. */
static bool make_elems(Instance *in) {
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = 0; i < w->nelems; i++) {
    const WasmElem *e = &w->elems[i];
    if (e->mode == WASM_SEG_DECLARATIVE || e->nitems == 0)
      continue;
    in->elems[i].items = malloc(e->nitems * sizeof(void *));
    if (!in->elems[i].items) {
      runtime_error(in->rt, "%s: out of memory", in->module->name);
      return false;
    }
    for (uint32_t j = 0; j < e->nitems; j++)
      in->elems[i].items[j] = (void *)(uintptr_t)eval_const(in, &e->items[j]);
    in->elems[i].len = e->nitems;
  }
  return true;
}

/* Data segments keep their bytes in the module; the instance only tracks
 * how much of each is left (all of it, until dropped). */
static void make_datas(Instance *in) {
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = 0; i < w->ndatas; i++)
    in->data_len[i] = w->datas[i].len;
}

/* --- bulk segment operations ---------------------------------------------- */

static void table_init_at(Thread *t, Instance *in, const FuncInst *where, uint32_t table_index,
                          uint32_t elem_index, uint32_t dst, uint32_t src, uint32_t n) {
  TableInst *tab = in->tables[table_index];
  ElemInst *e = &in->elems[elem_index];
  if ((uint64_t)src + n > e->len || (uint64_t)dst + n > tab->size)
    trap_raise(t, where, TRAP_TABLE_OOB);
  if (n)
    memcpy(tab->elems + dst, e->items + src, n * sizeof(void *));
}

static void memory_init_at(Thread *t, Instance *in, const FuncInst *where, uint32_t mem_index,
                           uint32_t data_index, uint32_t dst, uint32_t src, uint32_t n) {
  MemoryInst *m = in->memories[mem_index];
  if ((uint64_t)src + n > in->data_len[data_index] || (uint64_t)dst + n > m->size)
    trap_raise(t, where, TRAP_MEMORY_OOB);
  if (n)
    memcpy(m->base + dst, in->module->wasm->datas[data_index].bytes + src, n);
}

void segment_memory_init(Thread *t, FuncInst *f, uint32_t data_index, uint32_t dst, uint32_t src,
                         uint32_t n) {
  memory_init_at(t, f->inst, f, 0, data_index, dst, src, n);
}

void segment_table_init(Thread *t, FuncInst *f, uint32_t table_index, uint32_t elem_index,
                        uint32_t dst, uint32_t src, uint32_t n) {
  table_init_at(t, f->inst, f, table_index, elem_index, dst, src, n);
}

/* Active element segments, then active data segments, each dropped once
 * applied. Runs under a trap boundary: the first one out of bounds traps. */
static void apply_segments(Thread *t, void *arg) {
  Instance *in = arg;
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = 0; i < w->nelems; i++) {
    const WasmElem *e = &w->elems[i];
    if (e->mode != WASM_SEG_ACTIVE)
      continue;
    uint32_t dst = (uint32_t)eval_const(in, &e->offset);
    table_init_at(t, in, NULL, e->table_index, i, dst, 0, e->nitems);
    in->elems[i].len = 0;
  }
  for (uint32_t i = 0; i < w->ndatas; i++) {
    const WasmData *d = &w->datas[i];
    if (d->mode != WASM_SEG_ACTIVE)
      continue;
    uint32_t dst = (uint32_t)eval_const(in, &d->offset);
    memory_init_at(t, in, NULL, d->memory_index, i, dst, 0, d->len);
    in->data_len[i] = 0;
  }
}

static void run_start(Thread *t, void *arg) {
  Instance *in = arg;
  FuncInst *f = in->funcs[in->module->wasm->start];
  /* The start function takes and returns nothing; its frame still needs a
   * place on the operand stack. */
  FuncEntry e = __atomic_load_n(&f->entry, __ATOMIC_ACQUIRE);
  uint64_t *sp = runtime_stack_top(in->rt);
  if (e == interp_entry)
    interp_entry(t, f, sp);
  else
    release_call(t, e, f, sp); /* counted (release.c) */
}

/* --- instantiation -------------------------------------------------------- */

/* Everything up to, not including, the first write others may see. */
static bool build(InstanceBox *b) {
  Instance *in = &b->in;
  const WasmModule *w = in->module->wasm;
  if (!alloc_arrays(b) || !in->name) {
    runtime_error(in->rt, "%s: out of memory", in->module->name);
    return false;
  }
  for (uint32_t i = 0; i < w->nimports; i++)
    if (!link_import(in, &w->imports[i]))
      return false;
  make_funcs(b);
  if (!make_tables(b) || !make_memories(b))
    return false;
  make_globals(b);
  make_datas(in);
  return make_elems(in);
}

kiln_instance *kiln_instantiate(kiln_runtime *rt, kiln_module *m, const char *name) {
  if (!rt)
    return NULL;
  if (!m || m->rt != rt) {
    runtime_error(rt, "kiln_instantiate: %s", m ? "module of another runtime" : "no module");
    return NULL;
  }
  InstanceBox *b = calloc(1, sizeof *b);
  if (!b) {
    runtime_error(rt, "%s: out of memory", m->name);
    return NULL;
  }
  Instance *in = &b->in;
  in->rt = rt;
  in->module = m;
  in->name = strdup(name ? name : m->name);
  if (!build(b)) {
    instance_free(in); /* nothing of it is visible anywhere yet */
    return NULL;
  }
  /* From here on its functions may land in imported tables: keep it. */
  runtime_adopt_instance(rt, in);
  if (runtime_protect(rt, apply_segments, in) != KILN_OK)
    return NULL;
  if (m->wasm->has_start && runtime_protect(rt, run_start, in) != KILN_OK)
    return NULL;
  return in;
}
