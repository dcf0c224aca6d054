/*
 * runtime.h: what the agent's parts share inside libkiln (never installed).
 *
 * The shape every tier relies on (PRODUCT.md, "Design choices"):
 * - Every function, whatever runs it, is a FuncInst whose `entry` has one
 *   signature. Callers always go through `entry`, so switching a function to
 *   another tier is one pointer store.
 * - Arguments and results travel on one operand stack of 64-bit slots: the
 *   caller puts the arguments at sp[0..nparams), the callee leaves its
 *   results at sp[0..nresults). i32/f32 live in the low 32 bits, f64 as its
 *   bits, references as pointers (funcref: FuncInst *; externref: the host's
 *   pointer; null is 0).
 * - A trap longjmps to the boundary where the host entered (kiln_call), so no
 *   tier holds anything that needs cleanup when a trap unwinds it.
 * - A linear memory reserves its largest possible range up front, so its
 *   base never moves, even across memory.grow.
 * - Compiled packages read members of these structs at fixed offsets
 *   (abi/kiln_package_abi.h); abi_check.c stops the build when a change
 *   here moves one of them.
 */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"
#include "kiln_package_abi.h" /* TrapCode, MEMORY_GUARDED_RESERVE */
#include "wasm.h"

typedef struct Thread Thread;
typedef struct kiln_func FuncInst;
typedef struct kiln_instance Instance;
typedef struct kiln_module Module;
typedef struct InterpCode InterpCode;

typedef void (*FuncEntry)(Thread *t, FuncInst *f, uint64_t *sp);
/* A compiled function's way in at a loop header (on-stack replacement,
 * abi/kiln_package_abi.h): 1 when it ran the function to its end. */
typedef int (*OsrEntry)(Thread *t, FuncInst *f, uint64_t *fp, uint32_t loop_offset);

/* A function signature, interned per runtime: two functions have the same
 * type exactly when their Sig pointers are equal (call_indirect relies on
 * this). */
typedef struct Sig {
  uint32_t nparams, nresults;
  const WasmValType *types; /* params, then results */
} Sig;

/* What the Real-time Execution Monitor (monitor.c) counts of one defined
 * function. Counters are per module, shared by its instances: the heat map
 * is the module's. Only the thread running the script writes them (the
 * interpreter, and the sampling signal on that thread); readers elsewhere
 * take them as they are, a snapshot in progress. */
typedef struct {
  uint64_t iterations; /* times its header ran: entries plus back-edges */
  uint64_t self; /* CPU-time samples taken while it was the innermost loop */
  uint64_t osr_entries; /* interpreted activations that moved into compiled code here */
} LoopProfile;

/* A call_indirect site's targets kept with their calls. */
#define SITE_TARGETS 4

/* A call of the body (InterpCode.sites), counted in the interpreter. For
 * call_indirect, the SITE_TARGETS busiest callees with their calls, by
 * Space-Saving (a callee not kept takes the least called one's place and
 * count, plus one): exact while the site has no more callees than that,
 * and any callee of more than a SITE_TARGETS-th of the calls is kept.
 * A table handler's callbacks (one site, several targets) each show up. */
typedef struct {
  uint64_t calls;
  uint32_t targets[SITE_TARGETS]; /* function indices in the caller's module */
  uint64_t target_calls[SITE_TARGETS]; /* 0: the slot is free */
} CallSiteProfile;

/* Counts one call of site s to function `callee` (call_indirect): inline
 * when it is the site's first target, as most calls of most sites are;
 * interp.c's site_count_other otherwise. */
void site_count_other(CallSiteProfile *s, uint32_t callee);
static inline void site_count_target(CallSiteProfile *s, uint32_t callee) {
  if (s->targets[0] == callee && s->target_calls[0])
    s->target_calls[0]++;
  else
    site_count_other(s, callee);
}

typedef struct {
  uint64_t calls; /* entries into the interpreter's code of it */
  uint64_t self; /* CPU-time samples taken while it ran, its loops included */
  uint64_t self_compiled; /* those of them in its compiled code */
  uint32_t nloops; /* as InterpCode.loops */
  LoopProfile *loops;
  uint32_t nsites; /* as InterpCode.sites */
  CallSiteProfile *sites;
  uint32_t nbranches; /* as InterpCode.branches */
  struct {
    uint64_t n[2]; /* [1]: the branch jumped, [0]: it fell through */
  } * branches;
} FuncProfile;

struct kiln_func {
  FuncEntry entry;
  const Sig *sig;
  Instance *inst; /* defining instance; for a host function, the importer */
  uint32_t index; /* in inst's module function space (host: 0) */
  InterpCode *code; /* cold tier: the translated body (owned by the module) */
  kiln_host_fn host; /* host functions only */
  void *host_data;
  FuncProfile *prof; /* defined functions: the module's counters of it */
  uint8_t tier; /* kiln_tier of the code entry runs (loader.c switches both) */
  /* The compiled code's OSR entry, or NULL: an interpreted activation of
   * this function moves into it at its next loop header (interp.c). */
  OsrEntry osr;
};

typedef struct {
  uint8_t *base; /* never moves */
  uint64_t size; /* in bytes: pages * WASM_PAGE_SIZE */
  uint32_t pages, max_pages;
  size_t reserved; /* bytes of address space behind base */
  bool has_max; /* declared with a maximum (import matching needs it) */
  uint64_t grows; /* memory.grow executed, failed ones too (the monitor's) */
} MemoryInst;

typedef struct {
  WasmValType elem_type;
  uint32_t size, max; /* max is UINT32_MAX when the table has none */
  void **elems; /* FuncInst * or externref */
  bool has_max; /* declared with a maximum (import matching needs it) */
} TableInst;

typedef struct {
  uint64_t value;
  WasmValType type;
  bool mutable_;
} GlobalInst;

/* An element segment as this instance sees it: its references evaluated.
 * Dropped (elem.drop, or after an active/declarative segment is applied)
 * means len 0. */
typedef struct {
  uint32_t len;
  void **items;
} ElemInst;

struct kiln_module {
  kiln_runtime *rt;
  WasmModule *wasm;
  char *name; /* for messages: "app.wasm" */
  const Sig **sigs; /* per type index */
  InterpCode **code; /* per defined function: code[i - nfunc_imports] */
  FuncProfile *prof; /* per defined function, likewise */
  char hash_hex[65];
};

struct kiln_instance {
  kiln_runtime *rt;
  Module *module;
  char *name;
  FuncInst **funcs; /* index spaces: imports first */
  TableInst **tables;
  MemoryInst **memories;
  GlobalInst **globals;
  ElemInst *elems; /* per element segment */
  uint32_t *data_len; /* per data segment; 0 once dropped */
  MemoryInst *mem0; /* memories[0] or NULL: the one 2.0 code can address */
  struct Tiering *tiering; /* adaptive tiering's thread and record, or NULL */
};

/* Execution state of a runtime. One per runtime: a runtime runs on one
 * thread at a time. */
struct Thread {
  kiln_runtime *rt;
  uint64_t *stack, *stack_end; /* the operand stack for every frame */
  uint64_t *host_sp; /* where a nested kiln_call from a host function may start */
  uintptr_t native_limit; /* trap before the native stack goes below this */
  jmp_buf *boundary; /* where traps unwind to */
  TrapCode trap;
  int exit_code;
  char message[512]; /* the trap's line */
  /* Where hot compiled code (which has no bounds checks, guard.c) runs: the
   * instance it entered and the function whose accesses come next. The code
   * keeps both current so that a fault names the same function as the
   * interpreter would, inlining or not. */
  Instance *guard_inst;
  uint32_t guard_func;
  /* The loop compiled code is in, KILN_ABI_COMPILED_LOOP(function, loop
   * offset), kept by the code at function entry, loop entry, loop exit and
   * after calls: compiled code's samples go to loops by it (monitor.c). */
  volatile uint64_t compiled_loop;
  /* What the interpreter runs right now, for the sampling timer (monitor.c)
   * on this same thread: volatile, so each store happens where it is
   * written. running_loop indexes running->prof->loops, or is NO_LOOP. */
  FuncInst *volatile running;
  volatile uint32_t running_loop;
  uint64_t samples; /* taken while a script ran, since the runtime was made */
  unsigned sample_us; /* the sampler's period; 0 until it first starts */
  /* Releasing packages (release.c). compiled_depth counts the calls from
   * the interpreter or the host into anything but the interpreter
   * (compiled code, host functions) that have not returned: at 0 no frame
   * of compiled code is on this thread's stack. releasable is the list of
   * packages the tiering threads found unused, for this thread to unmap
   * at such a point; they push, it takes (atomically). */
  uint32_t compiled_depth;
  struct PackageRelease *releasable;
};
#define NO_LOOP UINT32_MAX

/* trap.c */
const char *trap_text(TrapCode code);
/* Unwinds to the boundary; `where` names the function in the message
 * ("integer divide by zero in $f (func 12)"); NULL when unknown. */
_Noreturn void trap_raise(Thread *t, const FuncInst *where, TrapCode code);
/* A WebAssembly name (any bytes) made fit for a one-line message: control
 * characters become '?', and it is cut to fit size. Returns dst. */
char *trap_name_text(char *dst, size_t size, const char *name, size_t len);
/* Every tier calls this on function entry: deep recursion must trap, never
 * overflow the C stack. */
static inline void trap_check_native_stack(Thread *t, const FuncInst *f) {
  char probe;
  if ((uintptr_t)&probe < t->native_limit)
    trap_raise(t, f, TRAP_STACK_EXHAUSTED);
}

/* memory.c */
/* On a smaller reservation than MEMORY_GUARDED_RESERVE (ulimit -v) hot
 * packages run the instance's functions in the interpreter instead. */
static inline bool memory_guarded(const MemoryInst *m) {
  return m->reserved >= MEMORY_GUARDED_RESERVE;
}
bool memory_init(MemoryInst *m, uint32_t min_pages, uint32_t max_pages); /* false: no space */
void memory_release(MemoryInst *m);
int64_t memory_grow(MemoryInst *m, uint32_t delta_pages); /* old page count or -1 */

/* guard.c: faults of hot compiled code in a memory's guard region become
 * TRAP_MEMORY_OOB. Code ranges are registered per loaded package; the
 * fault handler is installed on the first registration. */
/* The interrupted instruction of a signal's context (0 on targets without
 * package code, where samples then go to the interpreted caller). */
uintptr_t signal_pc(const void *uctx);
/* Makes t the thread's current Thread (the one a fault unwinds); returns
 * the previous one for guard_leave. */
Thread *guard_enter(Thread *t);
void guard_leave(Thread *prev);
/* Code in [lo, hi) may fault on purpose. False: the table is full. */
bool guard_register_code(uintptr_t lo, uintptr_t hi);
void guard_unregister_code(uintptr_t lo, uintptr_t hi);
/* Registers the executable segments of a loaded object (dlopen handle)
 * for as long as the loader holds it; guard_forget_package, before its
 * dlclose, ends that. A shared object loaded by several runtimes stays
 * registered until the last forgets it. False: not registered at all. */
bool guard_register_package(void *dl_handle);
void guard_forget_package(void *dl_handle);
/* A package's import, called once per loaded object before its first
 * unchecked access: sets flag to KILN_ABI_GUARD_READY if the loader
 * registered the object's code, else to KILN_ABI_GUARD_REFUSED (the
 * package then never runs unchecked code). */
void guard_package_ready(int *flag);

/* table.c */
bool table_init(TableInst *t, WasmValType elem_type, uint32_t size, uint32_t max, void *fill);
void table_release(TableInst *t);
int64_t table_grow(TableInst *t, uint32_t delta, void *fill); /* old size or -1 */

/* instance.c: bulk operations shared by the interpreter and instantiation.
 * Each traps (out of bounds) through trap_raise with `f` as the place. */
void segment_memory_init(Thread *t, FuncInst *f, uint32_t data_index, uint32_t dst, uint32_t src,
                         uint32_t n);
void segment_table_init(Thread *t, FuncInst *f, uint32_t table_index, uint32_t elem_index,
                        uint32_t dst, uint32_t src, uint32_t n);

/* interp.c / translate.c: the cold tier. */
/* Translate one validated function body; NULL only when out of memory. */
InterpCode *interp_translate(const Module *m, uint32_t func_index);
void interp_free(InterpCode *code);
/* The FuncEntry of interpreted functions. */
void interp_entry(Thread *t, FuncInst *f, uint64_t *sp);

/* release.c: packages unmapped by the thread that runs their code, at a
 * point where it cannot be running it. A package's code is reached only
 * through FuncInst entries and OSR entries, loaded right before the call
 * (interp.c, api.c, instance.c, and compiled code, which has no call
 * between the two either), so once a package is releasable (none of them
 * points into it any more, tiering.c) a frame that has not entered it yet
 * never will; what may still run it is a frame entered before, and while
 * one is on the stack compiled_depth is above 0. Hence the points:
 * leaving compiled code (compiled_depth back to 0) and entering the
 * interpreter, each checking one pointer; a trap's unwinding resets
 * compiled_depth at the boundary (runtime_protect). */
/* Unmaps the releasable packages when compiled_depth is 0; the slow path
 * of release_point. */
void release_run(Thread *t);
/* Where nothing is pending, one load and a branch never taken. The depth
 * is tested here too, not only in release_run: a package may wait long
 * (compiled code that never returns), and meanwhile every interpreted
 * call it makes passes here. */
static inline void release_point(Thread *t) {
  if (__builtin_expect(__atomic_load_n(&t->releasable, __ATOMIC_RELAXED) != NULL, 0) &&
      t->compiled_depth == 0)
    release_run(t);
}
/* Calls entry e of f when it is not the interpreter's (compiled code or a
 * host function), counting it in compiled_depth. */
static inline void release_call(Thread *t, FuncEntry e, FuncInst *f, uint64_t *sp) {
  t->compiled_depth++;
  e(t, f, sp);
  if (--t->compiled_depth == 0)
    release_point(t);
}

/* api.c: seconds since rt was made. */
double runtime_uptime_s(const kiln_runtime *rt);
/* api.c: the Thread scripts of rt run on. */
const Thread *runtime_thread(const kiln_runtime *rt);
/* The same, to post packages to (release.h). */
Thread *runtime_thread_of(kiln_runtime *rt);

/* api.c: FuncEntry of host functions. */
void host_entry(Thread *t, FuncInst *f, uint64_t *sp);

/* --- api.c and instance.c between themselves ------------------------------ */
/* "\"module\" \"name\"" of a host function, for trap messages. */
const char *host_func_name(const FuncInst *f);
/* One error line into kiln_error(rt). */
void runtime_error(kiln_runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with another status than KILN_ERROR (KILN_UNAVAILABLE). */
void runtime_fail(kiln_runtime *rt, kiln_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The runtime's configuration, its strings owned by the runtime. */
const kiln_config *runtime_config(const kiln_runtime *rt);
/* The runtime's connection to the compile service: NULL until first used;
 * kiln_runtime_free closes it (service_client.h). */
struct ServiceClient **runtime_service(kiln_runtime *rt);
/* Calls fn(data) when rt is freed, after every instance: for state that host
 * functions defined in rt use (WASI's open files). False: out of memory. */
bool runtime_on_free(kiln_runtime *rt, void (*fn)(void *data), void *data);
/* Looks up a definition; false when there is none. *kind is WASM_EXTERN_*,
 * *item the FuncInst / TableInst / MemoryInst / GlobalInst. */
bool runtime_resolve(kiln_runtime *rt, WasmName module, WasmName name, uint8_t *kind, void **item);
/* The FuncInst an instance uses for an imported function: host functions
 * get a copy bound to the importer (so kiln_caller_memory is the importer's
 * memory), owned by the runtime; others are used as they are. */
FuncInst *runtime_bind_import(kiln_runtime *rt, FuncInst *f, Instance *importer);
/* The runtime keeps every instance, even one whose instantiation failed:
 * its functions may already sit in an imported table (2.0 semantics). */
void runtime_adopt_instance(kiln_runtime *rt, Instance *in);
/* Runs fn(t, arg) under a trap boundary. KILN_OK, or KILN_TRAP / KILN_EXIT
 * with the trap's line in kiln_error. Nests: a host function may call back. */
kiln_status runtime_protect(kiln_runtime *rt, void (*fn)(Thread *t, void *arg), void *arg);
/* Where the next call's arguments go on the operand stack. */
uint64_t *runtime_stack_top(kiln_runtime *rt);

/* tiering.c: stops the instance's tiering thread, if any (its packages stay
 * mapped until the runtime is freed), and frees its record. */
void tiering_free(Instance *in);

/* instance.c */
void instance_free(Instance *in);
/* The export `name` (len bytes, may hold NUL) or false. */
bool instance_export(const Instance *in, const char *name, size_t len, uint8_t *kind, void **item);

#endif
