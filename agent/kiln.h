/*
 * kiln.h: the embedding API of libkiln.
 *
 * A runtime owns everything: modules, instances, host functions and the
 * stacks scripts run on. Use one runtime from one thread at a time. Every
 * call that can fail returns NULL or a non-zero kiln_status, and leaves one
 * line saying what, where and why in kiln_error(rt).
 *
 *   kiln_runtime *rt = kiln_runtime_new(NULL);
 *   kiln_module *m = kiln_module_new(rt, bytes, len, "app.wasm");
 *   kiln_instance *in = m ? kiln_instantiate(rt, m, "app") : NULL;
 *   kiln_func *f = in ? kiln_instance_func(in, "add") : NULL;
 *   kiln_value args[2] = {KILN_I32_VAL(2), KILN_I32_VAL(3)}, res[1];
 *   if (!f || kiln_call(rt, f, args, 2, res, 1) != KILN_OK)
 *     fprintf(stderr, "%s\n", kiln_error(rt));
 *   kiln_runtime_free(rt);
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

typedef struct kiln_runtime kiln_runtime;
typedef struct kiln_module kiln_module;
typedef struct kiln_instance kiln_instance;
typedef struct kiln_func kiln_func;
typedef struct kiln_caller kiln_caller;

typedef enum {
  KILN_OK = 0,
  KILN_ERROR = 1, /* bad input or misuse: the module, an argument, a link */
  KILN_TRAP = 2, /* the script trapped; kiln_error says which trap, where */
  KILN_EXIT = 3, /* the script asked to exit (WASI proc_exit): kiln_exit_code */
  KILN_UNAVAILABLE = 4, /* no compile service answered (kiln_instance_compile) */
} kiln_status;

/* How a function runs: interpreted (cold), or compiled by the compile
 * service kilnd at -O1 (warm) or -O3 with inlining (hot). Only speed
 * differs: results, output and traps are the same in every tier. */
typedef enum {
  KILN_TIER_COLD = 0,
  KILN_TIER_WARM = 1,
  KILN_TIER_HOT = 2,
} kiln_tier;

typedef enum {
  KILN_I32,
  KILN_I64,
  KILN_F32,
  KILN_F64,
  KILN_FUNCREF,
  KILN_EXTERNREF,
} kiln_type;

typedef struct {
  kiln_type type;
  union {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    kiln_func *func; /* KILN_FUNCREF; NULL is ref.null */
    void *ref; /* KILN_EXTERNREF; NULL is ref.null */
  } of;
} kiln_value;

#define KILN_I32_VAL(v) ((kiln_value){.type = KILN_I32, .of.i32 = (v)})
#define KILN_I64_VAL(v) ((kiln_value){.type = KILN_I64, .of.i64 = (v)})
#define KILN_F32_VAL(v) ((kiln_value){.type = KILN_F32, .of.f32 = (v)})
#define KILN_F64_VAL(v) ((kiln_value){.type = KILN_F64, .of.f64 = (v)})

typedef struct {
  /* Operand stack for all frames, in bytes. 0 means 8 MiB. */
  size_t value_stack_bytes;
  /* Native stack a call into a script may use, in bytes, measured from where
   * the host entered. 0 means: the calling thread's stack, less a margin. */
  size_t native_stack_bytes;
  /* The compile service (kilnd) for the compiled tiers: a ZeroMQ endpoint,
   * copied. NULL means ipc://$XDG_RUNTIME_DIR/kiln/kilnd.sock (or
   * /tmp/kiln-UID/kilnd.sock when XDG_RUNTIME_DIR is unset). */
  const char *service_endpoint;
  /* Longest wait for one compiled package, in milliseconds. 0 means 120 s. */
  int service_timeout_ms;
  /* 1: no Real-time Execution Monitor in modules loaded into this runtime:
   * their loops are not counted, and their interpreted activations cannot
   * move into compiled code mid-loop (bench/run measures what the monitor
   * costs against this). */
  int no_monitor;
} kiln_config;

/* --- runtime -------------------------------------------------------------- */
KILN_API kiln_runtime *kiln_runtime_new(const kiln_config *config); /* NULL: defaults */
KILN_API void kiln_runtime_free(kiln_runtime *rt);
KILN_API const char *kiln_error(const kiln_runtime *rt);
/* What the failure kiln_error describes was: KILN_ERROR, KILN_TRAP (also a
 * trap in a start function or a segment out of bounds during instantiation)
 * or KILN_EXIT. KILN_OK before any failure. */
KILN_API kiln_status kiln_error_status(const kiln_runtime *rt);
KILN_API int kiln_exit_code(const kiln_runtime *rt);

/* --- modules -------------------------------------------------------------- */
/* Decode, validate and prepare a module for the interpreter. name is used in
 * messages ("app.wasm"); the bytes are copied. */
KILN_API kiln_module *kiln_module_new(kiln_runtime *rt, const uint8_t *bytes, size_t len,
                                      const char *name);
/* Reads a whole file and calls kiln_module_new. */
KILN_API kiln_module *kiln_module_load(kiln_runtime *rt, const char *path);
/* SHA-256 of the binary, as 64 hex digits. */
KILN_API const char *kiln_module_hash(const kiln_module *m);

/* --- linking -------------------------------------------------------------- */
/* A host function, callable by scripts that import it. Return KILN_OK after
 * filling results, or the status of kiln_caller_trap / kiln_caller_exit. */
typedef kiln_status (*kiln_host_fn)(kiln_caller *caller, void *data, const kiln_value *args,
                                    kiln_value *results);

/* Make module.name importable by later instances: a host function, or every
 * export of an instance (kiln_register). A later definition of the same name
 * replaces the earlier one. */
KILN_API kiln_status kiln_define_func(kiln_runtime *rt, const char *module, const char *name,
                                      const kiln_type *params, uint32_t nparams,
                                      const kiln_type *results, uint32_t nresults, kiln_host_fn fn,
                                      void *data);
KILN_API kiln_status kiln_register(kiln_runtime *rt, const char *module, kiln_instance *in);

/* Resolve imports from the definitions, create memories, tables and globals,
 * apply segments and run the start function. name appears in messages. A
 * trap in the start function returns NULL with the trap in kiln_error. */
KILN_API kiln_instance *kiln_instantiate(kiln_runtime *rt, kiln_module *m, const char *name);

/* --- exports and calls ---------------------------------------------------- */
KILN_API kiln_func *kiln_instance_func(kiln_instance *in, const char *name);
KILN_API kiln_status kiln_instance_global(kiln_instance *in, const char *name, kiln_value *out);
/* Base and size of the instance's exported memory (or memory 0). */
KILN_API uint8_t *kiln_instance_memory(kiln_instance *in, const char *name, uint64_t *size);

KILN_API uint32_t kiln_func_param_count(const kiln_func *f);
KILN_API uint32_t kiln_func_result_count(const kiln_func *f);
KILN_API kiln_type kiln_func_param_type(const kiln_func *f, uint32_t i);
KILN_API kiln_type kiln_func_result_type(const kiln_func *f, uint32_t i);

/* Call f. Arguments must match its parameters in count and type. */
KILN_API kiln_status kiln_call(kiln_runtime *rt, kiln_func *f, const kiln_value *args,
                               uint32_t nargs, kiln_value *results, uint32_t nresults);

/* --- compiled tiers ------------------------------------------------------ */
typedef struct {
  uint32_t functions; /* functions switched to the package */
  uint64_t package_bytes; /* size of the shared object mapped */
  double compile_ms; /* what compiling the package cost kilnd (once) */
  int cached; /* 1: kilnd had the package already and did not compile */
  char segment[128]; /* the shared-memory segment's file name */
} kiln_compile_info;

/* Has the compile service build every function `in` defines at `tier`, maps
 * the package (shared, read-only: every process running the same module at
 * the same tier maps the same pages) and switches those functions to it;
 * callers in any tier and any instance reach the new code from their next
 * call on. KILN_TIER_COLD switches them back to the interpreter. Blocks
 * until done. KILN_OK, with info filled when not NULL; KILN_UNAVAILABLE when
 * no service answered or it went away; KILN_ERROR when it refused, the
 * package was unusable, or (hot) the instance's memory has less than the
 * 8 GiB of address space hot code needs (a tight ulimit -v). On failure
 * nothing changed: the instance keeps running in the tiers it had, and
 * kiln_error says why. */
KILN_API kiln_status kiln_instance_compile(kiln_instance *in, kiln_tier tier,
                                           kiln_compile_info *info);

/* --- the Real-time Execution Monitor --------------------------------------
 * Calls into interpreted code and loop iterations are always counted, per
 * module. Self time needs the sampler: a timer on the CPU time of the
 * calling thread that, every sample_us (0: 1000) of CPU the thread uses,
 * charges one sample to the function and innermost loop running, in every
 * tier. Start it on the thread that calls into the scripts; stop it there
 * too (kiln_runtime_free does, when called on that thread). */
KILN_API kiln_status kiln_monitor_start(kiln_runtime *rt, unsigned sample_us);
KILN_API void kiln_monitor_stop(kiln_runtime *rt);

#define KILN_NO_LOOP UINT32_MAX

/* One region of the heat map: a function, or one loop inside it. */
typedef struct {
  uint32_t func; /* index in the module's function space */
  uint32_t loop; /* KILN_NO_LOOP: the function; else its `loop`'s byte offset in the body */
  const char *name; /* the function's name from the name section; "" when none */
  uint64_t count; /* function: calls into its interpreted code; loop: iterations */
  uint64_t self_samples; /* a function's include its loops' */
  double self_share; /* self_samples over all the samples charged to the module */
  double heat; /* in [0, 1]: self_share over the hottest function's */
  kiln_tier tier; /* the function's, now */
  uint64_t osr_entries; /* loop: interpreted activations that moved into compiled code here */
} kiln_region;

/* Calls from one function to another, counted in interpreted code. A
 * call_indirect site is an edge of its own per callee (its busiest few):
 * for the busiest, count is all the site's calls and votes the margin of
 * its calls over the others' (over half of count: it takes more than three
 * calls in four); for each other callee, count is its own calls, votes 0. */
typedef struct {
  uint32_t caller, callee;
  uint64_t count;
  int indirect; /* 1: a call_indirect site */
  uint32_t site; /* indirect: the call_indirect's byte offset in the caller's body */
  uint32_t votes; /* indirect */
} kiln_edge;

/* Which way a br_if or if went, counted in interpreted code over its
 * function's first 10,000 calls (or million iterations of one loop). */
typedef struct {
  uint32_t func;
  uint32_t offset; /* of the br_if or if, in bytes from the body's start */
  uint64_t true_count, false_count; /* the condition's values */
} kiln_branch;

typedef struct {
  uint64_t samples; /* taken while a script of the runtime ran */
  unsigned sample_us;
  size_t nregions;
  kiln_region *regions; /* functions that ran, hottest first, each followed by its loops */
  size_t nedges;
  kiln_edge *edges; /* between functions that ran, most calls first */
  uint32_t memory_pages; /* memory 0 of the instance now (64 KiB pages) */
  uint64_t memory_grows; /* memory.grow executed on it */
  size_t nbranches;
  kiln_branch *branches; /* of functions that ran, busiest first */
} kiln_heatmap;

/* A function's move to another tier, and why; or (func KILN_NO_FUNC) what
 * kept the tiering from going on. */
#define KILN_NO_FUNC UINT32_MAX
typedef struct kiln_tier_change {
  uint32_t func;
  kiln_tier from, tier; /* the tier it left, and the one it moved to */
  double at_s; /* seconds since the runtime was made */
  double compile_ms; /* what its package cost kilnd (0: cached, or a demotion) */
  double latency_ms; /* from the heat map that led to it leaving the agent to the switch */
  char why[120]; /* the partition's reason, or what went wrong */
} kiln_tier_change;

/* A package the tiering mapped, unmapped again: none of its functions
 * runs from it any more (each went to another package or tier), and no
 * activation was running its code. Valid during the callback only. */
typedef struct kiln_package_release {
  const char *segment; /* the shared-memory segment's file name */
  uint32_t functions; /* how many it was mapped for */
  double at_s; /* seconds since the runtime was made */
  const char *why;
} kiln_package_release;

/* --- adaptive tiering -------------------------------------------------------
 * A thread of the runtime's own watches the instance's heat map: after the
 * warm-up, and then every period, it sends it to the compile service, whose
 * Partitioning Engine answers which functions are hot, warm and cold; the
 * thread has the changed parts compiled and switches each function to its
 * new tier while the script runs (the script never waits for a compile).
 * Start the monitor too (kiln_monitor_start), or there is no self time to
 * go by. */
typedef struct {
  unsigned warmup_ms; /* first heat map after this long (0: 100) ... */
  uint64_t warmup_events; /* ... or once this many calls and loop iterations ran (0: 20M) */
  unsigned period_ms; /* then one every period (0: 250) */
  /* A compiled function the partition puts lower goes down only after this
   * long without running (or since it was switched) (0: 10000): code that
   * may run again soon is not taken away. */
  unsigned demote_idle_ms;
  /* Called on the tiering thread, once, when no service answers at first:
   * it may start one (kiln run does); the thread then tries again. */
  void (*on_unavailable)(void *data);
  /* Called on the tiering thread for every change, as it happens. */
  void (*on_change)(const struct kiln_tier_change *change, void *data);
  /* Called on the thread running the script, for every package unmapped
   * (when its last function left it and no activation ran it any more);
   * it must not call into the runtime. */
  void (*on_release)(const struct kiln_package_release *release, void *data);
  void *data;
} kiln_adapt_config;

/* Starts adaptive tiering of in (cfg NULL: the defaults). KILN_ERROR when
 * it already runs or no thread could start. */
KILN_API kiln_status kiln_instance_adapt(kiln_instance *in, const kiln_adapt_config *cfg);
/* Stops it (waits for a compile in flight, then gives the service the whole
 * run's heat map for the module's next run, waiting 2 s at most); the
 * functions keep their tiers, and the record of changes stays readable.
 * On the thread that owns the runtime. Freeing the runtime stops it too.
 * With a service there, a later run of the module starts from its
 * partition: compiled from its first milliseconds. */
KILN_API void kiln_instance_adapt_stop(kiln_instance *in);
/* The tier changes so far, oldest first: copies up to max into out and
 * returns how many there are. */
KILN_API size_t kiln_instance_tier_changes(kiln_instance *in, kiln_tier_change *out, size_t max);
/* Packages the tiering has mapped so far, and how many of them it has
 * unmapped again. */
KILN_API void kiln_instance_packages(kiln_instance *in, size_t *mapped, size_t *released);

/* The heat map of the instance's module as it stands. NULL: out of memory
 * (kiln_error). Free with kiln_heatmap_free. */
KILN_API kiln_heatmap *kiln_instance_heatmap(kiln_instance *in);
KILN_API void kiln_heatmap_free(kiln_heatmap *h);

/* --- inside host functions ------------------------------------------------ */
/* The calling instance's memory 0 (NULL and size 0 when it has none). The
 * pointer stays valid until the host function returns. */
KILN_API uint8_t *kiln_caller_memory(kiln_caller *caller, uint64_t *size);
KILN_API kiln_runtime *kiln_caller_runtime(kiln_caller *caller);
/* Ends the script with a trap whose message is printf-formatted. */
KILN_API kiln_status kiln_caller_trap(kiln_caller *caller, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ends the script as WASI proc_exit does. */
KILN_API kiln_status kiln_caller_exit(kiln_caller *caller, int code);

/* --- WASI preview1 -------------------------------------------------------- */
typedef struct {
  int argc;
  const char *const *argv; /* argv[0] is the program name the script sees */
  int envc;
  const char *const *envp; /* "NAME=VALUE" */
  int npreopens;
  const char *const *preopen_host; /* directories on the host ... */
  const char *const *preopen_guest; /* ... and the names the script sees them by
                                     * (NULL, or a NULL entry: the host name) */
} kiln_wasi_config;

/* Defines the wasi_snapshot_preview1 functions in rt, with their own WASI
 * state (arguments, environment, open files), which kiln_runtime_free
 * releases. The strings are copied; fd 0, 1 and 2 are the host's stdio, the
 * preopens follow from fd 3. The script reaches files only under the
 * preopens: no path, "..", or symlink resolves outside them. Fails with a
 * message in kiln_error if a preopened directory cannot be opened. */
KILN_API kiln_status kiln_wasi_define(kiln_runtime *rt, const kiln_wasi_config *config);

#ifdef __cplusplus
}
#endif
#endif
