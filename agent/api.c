/*
 * api.c: the embedding API (kiln.h) and the runtime that owns everything.
 *
 * A runtime holds the one Thread scripts run on, the table that interns
 * function signatures (so a type check is a pointer comparison), the
 * namespace of importable definitions, and every module, instance and host
 * function made through it; kiln_runtime_free releases them all. Nothing
 * here is global: two runtimes never share state.
 *
 * kiln_call is the boundary between the host and scripts: arguments go onto
 * the operand stack, a setjmp catches traps from any tier, and the trap's
 * line lands in kiln_error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp.h"
#include "monitor.h"
#include "runtime.h"
#include "service_client.h"

#define DEFAULT_VALUE_STACK ((size_t)8 << 20)
/* Native stack kept free below the limit: an interpreter frame plus
 * whatever a host function (printf, say) needs between two checks. */
#define NATIVE_STACK_MARGIN ((size_t)256 << 10)
/* Used when the thread's stack bounds cannot be found. */
#define NATIVE_STACK_FALLBACK ((size_t)1 << 20)

/* A host function: the FuncInst every tier calls, plus its name for
 * messages. A copy bound to each importer shares the original's label. */
typedef struct HostFunc {
  FuncInst f; /* first: a host FuncInst * is a HostFunc * */
  char *label; /* "\"module\" \"name\"" */
  bool owns_label;
  struct HostFunc *next;
} HostFunc;

/* One importable item under (module, name). Names are length-counted:
 * WebAssembly names may hold NUL. */
typedef struct {
  char *module, *name;
  size_t module_len, name_len;
  uint8_t kind; /* WASM_EXTERN_* */
  void *item;
} Definition;

/* A growable array of pointers (modules, instances). */
typedef struct {
  void **items;
  size_t len, cap;
} PtrList;

/* State that other parts of libkiln (WASI) hang on a runtime. */
typedef struct Cleanup {
  void (*fn)(void *data);
  void *data;
  struct Cleanup *next;
} Cleanup;

struct kiln_runtime {
  kiln_config config;
  Thread thread;
  /* Sig intern table: open addressing, power-of-two capacity. */
  Sig **sigs;
  size_t nsigs, sig_cap;
  Definition *defs;
  size_t ndefs, def_cap;
  PtrList modules, instances;
  HostFunc *host_funcs;
  Cleanup *cleanups; /* run last by kiln_runtime_free, newest first */
  struct ServiceClient *service;
  struct Monitor *monitor;
  double born; /* monotonic seconds when made: tier changes are timed from it */
  kiln_status error_status;
  char error[512];
};

struct kiln_caller {
  Thread *t;
  Instance *inst; /* the instance that imported the host function */
  FuncInst *f;
};

/* --- small helpers -------------------------------------------------------- */

static double monotonic_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void runtime_error(kiln_runtime *rt, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rt->error, sizeof rt->error, fmt, ap);
  va_end(ap);
  rt->error_status = KILN_ERROR;
}

void runtime_fail(kiln_runtime *rt, kiln_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rt->error, sizeof rt->error, fmt, ap);
  va_end(ap);
  rt->error_status = st;
}

const kiln_config *runtime_config(const kiln_runtime *rt) {
  return &rt->config;
}

struct ServiceClient **runtime_service(kiln_runtime *rt) {
  return &rt->service;
}

bool runtime_on_free(kiln_runtime *rt, void (*fn)(void *data), void *data) {
  Cleanup *c = malloc(sizeof *c);
  if (!c)
    return false;
  *c = (Cleanup){fn, data, rt->cleanups};
  rt->cleanups = c;
  return true;
}

static bool ptrlist_push(PtrList *l, void *p) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    void **items = realloc(l->items, cap * sizeof *items);
    if (!items)
      return false;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->len++] = p;
  return true;
}

static char *dup_bytes(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

static WasmValType wasm_type_of(kiln_type t) {
  switch (t) {
  case KILN_I32:
    return WASM_I32;
  case KILN_I64:
    return WASM_I64;
  case KILN_F32:
    return WASM_F32;
  case KILN_F64:
    return WASM_F64;
  case KILN_FUNCREF:
    return WASM_FUNCREF;
  case KILN_EXTERNREF:
    return WASM_EXTERNREF;
  }
  return 0;
}

static kiln_type kiln_type_of(WasmValType t) {
  switch (t) {
  case WASM_I64:
    return KILN_I64;
  case WASM_F32:
    return KILN_F32;
  case WASM_F64:
    return KILN_F64;
  case WASM_FUNCREF:
    return KILN_FUNCREF;
  case WASM_EXTERNREF:
    return KILN_EXTERNREF;
  default:
    return KILN_I32;
  }
}

/* Slots hold i32/f32 zero-extended, f64 as bits, references as pointers. */
static uint64_t slot_of(const kiln_value *v) {
  uint32_t u32;
  uint64_t u64;
  switch (v->type) {
  case KILN_I32:
    return (uint32_t)v->of.i32;
  case KILN_I64:
    return (uint64_t)v->of.i64;
  case KILN_F32:
    memcpy(&u32, &v->of.f32, 4);
    return u32;
  case KILN_F64:
    memcpy(&u64, &v->of.f64, 8);
    return u64;
  case KILN_FUNCREF:
    return (uintptr_t)v->of.func;
  case KILN_EXTERNREF:
    return (uintptr_t)v->of.ref;
  }
  return 0;
}

static kiln_value value_of(WasmValType t, uint64_t slot) {
  kiln_value v = {.type = kiln_type_of(t)};
  uint32_t u32 = (uint32_t)slot;
  switch (v.type) {
  case KILN_I32:
    v.of.i32 = (int32_t)u32;
    break;
  case KILN_I64:
    v.of.i64 = (int64_t)slot;
    break;
  case KILN_F32:
    memcpy(&v.of.f32, &u32, 4);
    break;
  case KILN_F64:
    memcpy(&v.of.f64, &slot, 8);
    break;
  case KILN_FUNCREF:
    v.of.func = (kiln_func *)(uintptr_t)slot;
    break;
  case KILN_EXTERNREF:
    v.of.ref = (void *)(uintptr_t)slot;
    break;
  }
  return v;
}

/* --- signature interning -------------------------------------------------- */

static uint64_t sig_hash(uint32_t np, uint32_t nr, const WasmValType *types) {
  uint64_t h = 1469598103934665603ull ^ np ^ ((uint64_t)nr << 32);
  for (uint32_t i = 0; i < np + nr; i++)
    h = (h ^ types[i]) * 1099511628211ull;
  return h;
}

static bool sig_equal(const Sig *s, uint32_t np, uint32_t nr, const WasmValType *types) {
  return s->nparams == np && s->nresults == nr &&
         (np + nr == 0 || memcmp(s->types, types, np + nr) == 0);
}

static bool sig_table_grow(kiln_runtime *rt) {
  size_t cap = rt->sig_cap ? rt->sig_cap * 2 : 64;
  Sig **sigs = calloc(cap, sizeof *sigs);
  if (!sigs)
    return false;
  for (size_t i = 0; i < rt->sig_cap; i++) {
    Sig *s = rt->sigs[i];
    if (!s)
      continue;
    size_t j = sig_hash(s->nparams, s->nresults, s->types) & (cap - 1);
    while (sigs[j])
      j = (j + 1) & (cap - 1);
    sigs[j] = s;
  }
  free(rt->sigs);
  rt->sigs = sigs;
  rt->sig_cap = cap;
  return true;
}

/* The runtime's one Sig for this type; NULL only when out of memory. */
static const Sig *intern_sig(kiln_runtime *rt, uint32_t np, uint32_t nr, const WasmValType *types) {
  if ((rt->nsigs + 1) * 2 > rt->sig_cap && !sig_table_grow(rt))
    return NULL;
  size_t j = sig_hash(np, nr, types) & (rt->sig_cap - 1);
  for (; rt->sigs[j]; j = (j + 1) & (rt->sig_cap - 1))
    if (sig_equal(rt->sigs[j], np, nr, types))
      return rt->sigs[j];
  /* The types live right behind the Sig, in the same allocation. */
  Sig *s = malloc(sizeof *s + np + nr);
  if (!s)
    return NULL;
  WasmValType *copy = (WasmValType *)(s + 1);
  if (np + nr)
    memcpy(copy, types, np + nr);
  *s = (Sig){.nparams = np, .nresults = nr, .types = copy};
  rt->sigs[j] = s;
  rt->nsigs++;
  return s;
}

/* --- definitions namespace ------------------------------------------------ */

static Definition *find_def(kiln_runtime *rt, const char *mod, size_t mod_len, const char *name,
                            size_t name_len) {
  for (size_t i = 0; i < rt->ndefs; i++) {
    Definition *d = &rt->defs[i];
    if (d->module_len == mod_len && d->name_len == name_len &&
        memcmp(d->module, mod, mod_len) == 0 && memcmp(d->name, name, name_len) == 0)
      return d;
  }
  return NULL;
}

/* Adds or replaces (module, name). */
static bool define(kiln_runtime *rt, const char *mod, size_t mod_len, const char *name,
                   size_t name_len, uint8_t kind, void *item) {
  Definition *d = find_def(rt, mod, mod_len, name, name_len);
  if (d) {
    d->kind = kind;
    d->item = item;
    return true;
  }
  if (rt->ndefs == rt->def_cap) {
    size_t cap = rt->def_cap ? rt->def_cap * 2 : 32;
    Definition *defs = realloc(rt->defs, cap * sizeof *defs);
    if (!defs)
      return false;
    rt->defs = defs;
    rt->def_cap = cap;
  }
  char *m = dup_bytes(mod, mod_len), *n = dup_bytes(name, name_len);
  if (!m || !n) {
    free(m);
    free(n);
    return false;
  }
  rt->defs[rt->ndefs++] = (Definition){m, n, mod_len, name_len, kind, item};
  return true;
}

bool runtime_resolve(kiln_runtime *rt, WasmName module, WasmName name, uint8_t *kind, void **item) {
  Definition *d = find_def(rt, module.str, module.len, name.str, name.len);
  if (!d)
    return false;
  *kind = d->kind;
  *item = d->item;
  return true;
}

/* --- runtime -------------------------------------------------------------- */

kiln_runtime *kiln_runtime_new(const kiln_config *config) {
  kiln_runtime *rt = calloc(1, sizeof *rt);
  if (!rt)
    return NULL;
  if (config)
    rt->config = *config;
  rt->config.service_endpoint = NULL;
  if (config && config->service_endpoint &&
      !(rt->config.service_endpoint = strdup(config->service_endpoint))) {
    free(rt);
    return NULL;
  }
  size_t bytes = rt->config.value_stack_bytes ? rt->config.value_stack_bytes : DEFAULT_VALUE_STACK;
  size_t slots = bytes / sizeof(uint64_t);
  if (slots < 16)
    slots = 16;
  rt->thread.rt = rt;
  rt->thread.stack = malloc(slots * sizeof(uint64_t));
  if (!rt->thread.stack) {
    free((char *)rt->config.service_endpoint);
    free(rt);
    return NULL;
  }
  rt->thread.stack_end = rt->thread.stack + slots;
  rt->thread.host_sp = rt->thread.stack;
  rt->born = monotonic_s();
  return rt;
}

double runtime_uptime_s(const kiln_runtime *rt) {
  return monotonic_s() - rt->born;
}

static void module_free(Module *m) {
  if (!m)
    return;
  if (m->code) {
    for (uint32_t i = 0; i < m->wasm->nfuncs - m->wasm->nfunc_imports; i++)
      if (m->code[i])
        interp_free(m->code[i]);
    free(m->code);
  }
  if (m->prof) {
    monitor_unmap_profiles(m->prof, m->wasm->nfuncs - m->wasm->nfunc_imports);
    for (uint32_t i = 0; i < m->wasm->nfuncs - m->wasm->nfunc_imports; i++) {
      free(m->prof[i].loops);
      free(m->prof[i].sites);
      free(m->prof[i].branches);
    }
    free(m->prof);
  }
  free(m->sigs);
  free(m->name);
  wasm_module_free(m->wasm);
  free(m);
}

void kiln_runtime_free(kiln_runtime *rt) {
  if (!rt)
    return;
  monitor_stop(rt->monitor);
  for (size_t i = 0; i < rt->instances.len; i++)
    instance_free(rt->instances.items[i]);
  free(rt->instances.items);
  for (size_t i = 0; i < rt->modules.len; i++)
    module_free(rt->modules.items[i]);
  free(rt->modules.items);
  for (HostFunc *h = rt->host_funcs, *next; h; h = next) {
    next = h->next;
    if (h->owns_label)
      free(h->label);
    free(h);
  }
  for (size_t i = 0; i < rt->ndefs; i++) {
    free(rt->defs[i].module);
    free(rt->defs[i].name);
  }
  free(rt->defs);
  for (size_t i = 0; i < rt->sig_cap; i++)
    free(rt->sigs[i]);
  free(rt->sigs);
  free(rt->thread.stack);
  service_close(rt->service);
  for (Cleanup *c = rt->cleanups, *next; c; c = next) {
    next = c->next;
    c->fn(c->data);
    free(c);
  }
  free((char *)rt->config.service_endpoint);
  free(rt);
}

const char *kiln_error(const kiln_runtime *rt) {
  return rt ? rt->error : "no runtime";
}

kiln_status kiln_error_status(const kiln_runtime *rt) {
  return rt ? rt->error_status : KILN_ERROR;
}

int kiln_exit_code(const kiln_runtime *rt) {
  return rt ? rt->thread.exit_code : 0;
}

void runtime_adopt_instance(kiln_runtime *rt, Instance *in) {
  /* Out of memory here only costs a leak warning's worth: keep the instance
   * alive rather than free what a table may point to. */
  if (!ptrlist_push(&rt->instances, in))
    fprintf(stderr, "kiln: out of memory keeping an instance\n");
}

/* --- the monitor's sampler ------------------------------------------------ */

kiln_status kiln_monitor_start(kiln_runtime *rt, unsigned sample_us) {
  if (rt->monitor)
    return KILN_OK;
  char err[256];
  rt->monitor = monitor_start(&rt->thread, sample_us, err, sizeof err);
  if (!rt->monitor) {
    runtime_error(rt, "monitor: %s", err);
    return KILN_ERROR;
  }
  return KILN_OK;
}

void kiln_monitor_stop(kiln_runtime *rt) {
  monitor_stop(rt->monitor);
  rt->monitor = NULL;
}

const Thread *runtime_thread(const kiln_runtime *rt) {
  return &rt->thread;
}

Thread *runtime_thread_of(kiln_runtime *rt) {
  return &rt->thread;
}

/* --- modules -------------------------------------------------------------- */

/* Interns the module's types and translates every defined function. */
static bool module_prepare(kiln_runtime *rt, Module *m) {
  const WasmModule *w = m->wasm;
  m->sigs = calloc(w->ntypes + 1, sizeof *m->sigs);
  m->code = calloc(w->nfuncs - w->nfunc_imports + 1, sizeof *m->code);
  if (!m->sigs || !m->code)
    return false;
  for (uint32_t i = 0; i < w->ntypes; i++) {
    const WasmFuncType *ft = &w->types[i];
    m->sigs[i] = intern_sig(rt, ft->nparams, ft->nresults, ft->types);
    if (!m->sigs[i])
      return false;
  }
  uint32_t ndef = w->nfuncs - w->nfunc_imports;
  m->prof = calloc(ndef + 1, sizeof *m->prof);
  if (!m->prof)
    return false;
  for (uint32_t i = 0; i < ndef; i++) {
    InterpCode *c = m->code[i] = interp_translate(m, w->nfunc_imports + i);
    if (!c)
      return false;
    m->prof[i].nloops = c->nloops;
    m->prof[i].loops = calloc(c->nloops + 1, sizeof *m->prof[i].loops);
    m->prof[i].nsites = c->nsites;
    m->prof[i].sites = calloc(c->nsites + 1, sizeof *m->prof[i].sites);
    m->prof[i].nbranches = c->nbranches;
    m->prof[i].branches = calloc(c->nbranches + 1, sizeof *m->prof[i].branches);
    if (!m->prof[i].loops || !m->prof[i].sites || !m->prof[i].branches)
      return false;
  }
  return true;
}

kiln_module *kiln_module_new(kiln_runtime *rt, const uint8_t *bytes, size_t len, const char *name) {
  if (!rt)
    return NULL;
  if (!name)
    name = "module";
  if (!bytes && len) {
    runtime_error(rt, "%s: no bytes given", name);
    return NULL;
  }
  WasmError err = {0};
  char why[400];
  WasmModule *w = wasm_decode(bytes ? bytes : (const uint8_t *)"", len, &err);
  if (!w || !wasm_validate(w, &err)) {
    wasm_format_error(w, &err, why, sizeof why);
    runtime_error(rt, "%s: %s", name, why);
    if (w)
      wasm_module_free(w);
    return NULL;
  }
  Module *m = calloc(1, sizeof *m);
  if (m) {
    m->rt = rt;
    m->wasm = w;
    m->name = strdup(name);
    wasm_hash_hex(w->hash, m->hash_hex);
  } else {
    wasm_module_free(w);
  }
  if (!m || !m->name || !module_prepare(rt, m) || !ptrlist_push(&rt->modules, m)) {
    runtime_error(rt, "%s: out of memory", name);
    module_free(m);
    return NULL;
  }
  return m;
}

kiln_module *kiln_module_load(kiln_runtime *rt, const char *path) {
  if (!rt)
    return NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    runtime_error(rt, "%s: %s", path, strerror(errno));
    return NULL;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        runtime_error(rt, "%s: out of memory", path);
        return NULL;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  bool failed = ferror(f);
  int saved = errno;
  fclose(f);
  if (failed) {
    free(buf);
    runtime_error(rt, "%s: %s", path, strerror(saved));
    return NULL;
  }
  kiln_module *m = kiln_module_new(rt, buf, len, path);
  free(buf);
  return m;
}

const char *kiln_module_hash(const kiln_module *m) {
  return m ? m->hash_hex : "";
}

/* --- host functions ------------------------------------------------------- */

const char *host_func_name(const FuncInst *f) {
  return f && f->host ? ((const HostFunc *)f)->label : NULL;
}

static HostFunc *host_new(kiln_runtime *rt) {
  HostFunc *h = calloc(1, sizeof *h);
  if (h) {
    h->next = rt->host_funcs;
    rt->host_funcs = h;
  }
  return h;
}

kiln_status kiln_define_func(kiln_runtime *rt, const char *module, const char *name,
                             const kiln_type *params, uint32_t nparams, const kiln_type *results,
                             uint32_t nresults, kiln_host_fn fn, void *data) {
  if (!rt)
    return KILN_ERROR;
  if (!module || !name || !fn || (nparams && !params) || (nresults && !results) || nparams > 1000 ||
      nresults > 1000) {
    runtime_error(rt, "kiln_define_func: invalid arguments");
    return KILN_ERROR;
  }
  WasmValType types[2000];
  for (uint32_t i = 0; i < nparams + nresults; i++) {
    kiln_type kt = i < nparams ? params[i] : results[i - nparams];
    types[i] = wasm_type_of(kt);
    if (!types[i]) {
      runtime_error(rt, "kiln_define_func: \"%s\" \"%s\": unknown value type %d", module, name,
                    (int)kt);
      return KILN_ERROR;
    }
  }
  const Sig *sig = intern_sig(rt, nparams, nresults, types);
  HostFunc *h = sig ? host_new(rt) : NULL;
  size_t label_len = strlen(module) + strlen(name) + 8;
  if (h && (h->label = malloc(label_len)) != NULL) {
    h->owns_label = true;
    snprintf(h->label, label_len, "\"%s\" \"%s\"", module, name);
    h->f = (FuncInst){.entry = host_entry, .sig = sig, .host = fn, .host_data = data};
    if (define(rt, module, strlen(module), name, strlen(name), WASM_EXTERN_FUNC, &h->f))
      return KILN_OK;
  }
  runtime_error(rt, "kiln_define_func: out of memory");
  return KILN_ERROR;
}

FuncInst *runtime_bind_import(kiln_runtime *rt, FuncInst *f, Instance *importer) {
  if (!f->host)
    return f;
  HostFunc *h = host_new(rt);
  if (!h)
    return NULL;
  h->f = *f;
  h->f.inst = importer;
  h->label = ((HostFunc *)f)->label;
  return &h->f;
}

kiln_status kiln_register(kiln_runtime *rt, const char *module, kiln_instance *in) {
  if (!rt)
    return KILN_ERROR;
  if (!module || !in) {
    runtime_error(rt, "kiln_register: invalid arguments");
    return KILN_ERROR;
  }
  const WasmModule *w = in->module->wasm;
  for (uint32_t i = 0; i < w->nexports; i++) {
    const WasmExport *e = &w->exports[i];
    uint8_t kind;
    void *item;
    if (!instance_export(in, e->name.str, e->name.len, &kind, &item) ||
        !define(rt, module, strlen(module), e->name.str, e->name.len, kind, item)) {
      runtime_error(rt, "kiln_register: out of memory");
      return KILN_ERROR;
    }
  }
  return KILN_OK;
}

/* --- the trap boundary ---------------------------------------------------- */

/* The lowest native stack address a script may reach from here. */
static uintptr_t native_limit(const kiln_runtime *rt) {
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  size_t budget = rt->config.native_stack_bytes;
  if (!budget) {
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &low, &size) != 0)
        low = NULL;
      pthread_attr_destroy(&attr);
    }
    /* Only when we run on that stack: a fiber's stack is elsewhere (such
     * embedders set native_stack_bytes). */
    if (low && (uintptr_t)low < here && here - (uintptr_t)low <= size) {
      /* A thread with a tiny stack keeps half of what is left as margin. */
      size_t left = here - (uintptr_t)low;
      return (uintptr_t)low + (left / 2 < NATIVE_STACK_MARGIN ? left / 2 : NATIVE_STACK_MARGIN);
    }
    budget = NATIVE_STACK_FALLBACK;
  }
  return here > budget ? here - budget : 0;
}

kiln_status runtime_protect(kiln_runtime *rt, void (*fn)(Thread *t, void *arg), void *arg) {
  Thread *t = &rt->thread;
  /* Saved before setjmp and not changed after it, so longjmp keeps them. */
  jmp_buf *saved_boundary = t->boundary;
  uintptr_t saved_limit = t->native_limit;
  uint64_t *saved_host_sp = t->host_sp;
  uint32_t saved_depth = t->compiled_depth; /* a trap skips the decrements (release.c) */
  Thread *saved_guard = guard_enter(t); /* a fault in hot code unwinds t */
  jmp_buf here;
  if (!saved_boundary) /* the outermost entry sets the native budget */
    t->native_limit = native_limit(rt);
  t->boundary = &here;
  t->trap = TRAP_NONE;
  kiln_status status;
  if (setjmp(here) == 0) {
    fn(t, arg);
    status = KILN_OK;
  } else {
    status = t->trap == TRAP_EXIT ? KILN_EXIT : KILN_TRAP;
  }
  t->boundary = saved_boundary;
  t->native_limit = saved_limit;
  t->host_sp = saved_host_sp;
  t->compiled_depth = saved_depth;
  guard_leave(saved_guard);
  release_point(t); /* back at the host: nothing of the script runs */
  if (status == KILN_TRAP)
    snprintf(rt->error, sizeof rt->error, "%s", t->message);
  else if (status == KILN_EXIT)
    snprintf(rt->error, sizeof rt->error, "exit with code %d", t->exit_code);
  if (status != KILN_OK)
    rt->error_status = status;
  return status;
}

uint64_t *runtime_stack_top(kiln_runtime *rt) {
  Thread *t = &rt->thread;
  return t->boundary ? t->host_sp : t->stack;
}

/* --- calls ---------------------------------------------------------------- */

typedef struct {
  FuncInst *f;
  uint64_t *sp;
} CallArgs;

static void run_call(Thread *t, void *arg) {
  CallArgs *c = arg;
  FuncEntry e = __atomic_load_n(&c->f->entry, __ATOMIC_ACQUIRE);
  if (e == interp_entry)
    interp_entry(t, c->f, c->sp);
  else
    release_call(t, e, c->f, c->sp);
}

static bool check_args(kiln_runtime *rt, const Sig *s, const kiln_value *args, uint32_t nargs,
                       uint32_t nresults) {
  if (nargs != s->nparams || nresults != s->nresults) {
    runtime_error(
        rt, "kiln_call: function takes %u arguments and returns %u results, called with %u and %u",
        s->nparams, s->nresults, nargs, nresults);
    return false;
  }
  for (uint32_t i = 0; i < nargs; i++) {
    if (wasm_type_of(args[i].type) != s->types[i]) {
      runtime_error(rt, "kiln_call: argument %u is %s, expected %s", i + 1,
                    wasm_type_name(wasm_type_of(args[i].type)), wasm_type_name(s->types[i]));
      return false;
    }
  }
  return true;
}

kiln_status kiln_call(kiln_runtime *rt, kiln_func *f, const kiln_value *args, uint32_t nargs,
                      kiln_value *results, uint32_t nresults) {
  if (!rt)
    return KILN_ERROR;
  if (!f || (nargs && !args) || (nresults && !results)) {
    runtime_error(rt, "kiln_call: invalid arguments");
    return KILN_ERROR;
  }
  const Sig *s = f->sig;
  if (!check_args(rt, s, args, nargs, nresults))
    return KILN_ERROR;
  uint64_t *sp = runtime_stack_top(rt);
  uint32_t slots = s->nparams > s->nresults ? s->nparams : s->nresults;
  if ((size_t)(rt->thread.stack_end - sp) < slots) {
    runtime_error(rt, "trap: %s", trap_text(TRAP_STACK_EXHAUSTED));
    return KILN_TRAP;
  }
  for (uint32_t i = 0; i < nargs; i++)
    sp[i] = slot_of(&args[i]);
  CallArgs c = {f, sp};
  kiln_status st = runtime_protect(rt, run_call, &c);
  if (st != KILN_OK)
    return st;
  for (uint32_t i = 0; i < nresults; i++)
    results[i] = value_of(s->types[s->nparams + i], sp[i]);
  return KILN_OK;
}

/* --- host function entry -------------------------------------------------- */

/* Runs the host function with args/results already as kiln_values. */
static kiln_status host_invoke(Thread *t, FuncInst *f, uint64_t *sp, kiln_value *args,
                               kiln_value *results) {
  const Sig *s = f->sig;
  for (uint32_t i = 0; i < s->nparams; i++)
    args[i] = value_of(s->types[i], sp[i]);
  for (uint32_t i = 0; i < s->nresults; i++)
    results[i] = value_of(s->types[s->nparams + i], 0);
  kiln_caller caller = {t, f->inst, f};
  uint64_t *saved = t->host_sp;
  /* A nested kiln_call from the host starts above our arguments and results. */
  t->host_sp = sp + (s->nparams > s->nresults ? s->nparams : s->nresults);
  t->message[0] = '\0';
  kiln_status st = f->host(&caller, f->host_data, args, results);
  t->host_sp = saved;
  if (st != KILN_OK)
    return st;
  for (uint32_t i = 0; i < s->nresults; i++) {
    WasmValType want = s->types[s->nparams + i];
    if (wasm_type_of(results[i].type) != want) {
      snprintf(t->message, sizeof t->message,
               "trap: host function %s returned %s for result %u, expected %s", host_func_name(f),
               wasm_type_name(wasm_type_of(results[i].type)), i + 1, wasm_type_name(want));
      return KILN_TRAP;
    }
    sp[i] = slot_of(&results[i]);
  }
  return KILN_OK;
}

void host_entry(Thread *t, FuncInst *f, uint64_t *sp) {
  const Sig *s = f->sig;
  kiln_value small[16];
  size_t n = (size_t)s->nparams + s->nresults;
  kiln_value *vals = n <= 16 ? small : malloc(n * sizeof *vals);
  if (!vals) {
    snprintf(t->message, sizeof t->message, "trap: out of memory calling host function %s",
             host_func_name(f));
    trap_raise(t, f, TRAP_HOST);
  }
  kiln_status st = host_invoke(t, f, sp, vals, vals + s->nparams);
  if (vals != small)
    free(vals); /* before any longjmp */
  if (st == KILN_EXIT)
    trap_raise(t, f, TRAP_EXIT);
  if (st != KILN_OK && t->message[0] == '\0') /* failed without saying why */
    snprintf(t->message, sizeof t->message, "trap: host function %s failed", host_func_name(f));
  if (st != KILN_OK)
    trap_raise(t, f, TRAP_HOST);
}

/* --- inside host functions ------------------------------------------------ */

uint8_t *kiln_caller_memory(kiln_caller *caller, uint64_t *size) {
  MemoryInst *m = caller && caller->inst ? caller->inst->mem0 : NULL;
  if (size)
    *size = m ? m->size : 0;
  return m ? m->base : NULL;
}

kiln_runtime *kiln_caller_runtime(kiln_caller *caller) {
  return caller ? caller->t->rt : NULL;
}

kiln_status kiln_caller_trap(kiln_caller *caller, const char *fmt, ...) {
  Thread *t = caller->t;
  int n = snprintf(t->message, sizeof t->message, "trap: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->message + n, sizeof t->message - (size_t)n, fmt, ap);
  va_end(ap);
  return KILN_TRAP;
}

kiln_status kiln_caller_exit(kiln_caller *caller, int code) {
  caller->t->exit_code = code;
  return KILN_EXIT;
}

/* --- exports -------------------------------------------------------------- */

kiln_func *kiln_instance_func(kiln_instance *in, const char *name) {
  uint8_t kind;
  void *item;
  if (!in || !name || !instance_export(in, name, strlen(name), &kind, &item) ||
      kind != WASM_EXTERN_FUNC)
    return NULL;
  return item;
}

kiln_status kiln_instance_global(kiln_instance *in, const char *name, kiln_value *out) {
  uint8_t kind;
  void *item;
  if (!in || !name || !out || !instance_export(in, name, strlen(name), &kind, &item) ||
      kind != WASM_EXTERN_GLOBAL) {
    if (in)
      runtime_error(in->rt, "%s: no exported global \"%s\"", in->name, name ? name : "");
    return KILN_ERROR;
  }
  const GlobalInst *g = item;
  *out = value_of(g->type, g->value);
  return KILN_OK;
}

uint8_t *kiln_instance_memory(kiln_instance *in, const char *name, uint64_t *size) {
  MemoryInst *m = NULL;
  uint8_t kind;
  void *item;
  if (in && !name)
    m = in->mem0;
  else if (in && instance_export(in, name, strlen(name), &kind, &item) &&
           kind == WASM_EXTERN_MEMORY)
    m = item;
  if (size)
    *size = m ? m->size : 0;
  return m ? m->base : NULL;
}

uint32_t kiln_func_param_count(const kiln_func *f) {
  return f ? f->sig->nparams : 0;
}
uint32_t kiln_func_result_count(const kiln_func *f) {
  return f ? f->sig->nresults : 0;
}

kiln_type kiln_func_param_type(const kiln_func *f, uint32_t i) {
  return f && i < f->sig->nparams ? kiln_type_of(f->sig->types[i]) : KILN_I32;
}

kiln_type kiln_func_result_type(const kiln_func *f, uint32_t i) {
  return f && i < f->sig->nresults ? kiln_type_of(f->sig->types[f->sig->nparams + i]) : KILN_I32;
}
