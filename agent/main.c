/*
 * main.c: the `kiln` command.
 *
 *   kiln run [--tier auto|cold|warm|hot] [--warmup MS] [--period MS] [--demote-after MS]
 *            [--service ENDPOINT] [--idle SECONDS] [--verbose]
 *            [--stats] [--heatmap FILE.json]
 *            [--dir HOST[::GUEST]]... [--env NAME=VALUE]... FILE.wasm [ARGS...]
 *
 * Everything but starting a kilnd goes through kiln.h, as any embedder
 * would. A compiled tier that cannot be had (no kilnd, or one that fails)
 * costs one warning line and speed, never the run. Exit status:
 * the script's own (proc_exit, or 0 when _start returns); 134 after a trap
 * (as a native program killed by abort); 2 for bad usage or a bad module,
 * always with exactly one "kiln: ..." line on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kiln.h"
#include "report.h"
#include "start_kilnd.h"
#include "status.h"

enum { EXIT_USAGE = 2, EXIT_TRAP = 134, HELP_SHOWN = -1 };

/* The script runs on its own thread with this much stack (address space
 * only: pages are touched as recursion reaches them), so deep but
 * legitimate recursion works; the runtime traps runaway recursion before
 * the stack's end. */
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer cannot clean up after a trap's longjmp on a stack of
 * more than 64 MiB (it warns on stderr instead): stay just below. */
#define SCRIPT_STACK_BYTES (((size_t)64 << 20) - ((size_t)64 << 10))
#else
#define SCRIPT_STACK_BYTES ((size_t)256 << 20)
#endif
/* The operand stack is sized so that it is not the first limit deep
 * recursion meets. */
#define VALUE_STACK_BYTES ((size_t)64 << 20)
/* How long a kilnd started by `kiln run` waits for more work. */
#define DEFAULT_IDLE_SECONDS 600

static const char usage_text[] =
    "Usage: kiln run [OPTIONS] FILE.wasm [ARGS...]\n"
    "       kiln status [--service ENDPOINT] [--json | --watch]\n"
    "       kiln control [--service ENDPOINT] [--agent N] [--policy P] [--hot N] [--warm N]\n"
    "       kiln --help | --version\n"
    "\n"
    "Runs the WebAssembly program FILE.wasm (its _start export) with WASI\n"
    "preview1. ARGS are passed to the program; its exit status is kiln's.\n"
    "\n"
    "Options:\n"
    "  --tier TIER            auto (default): interpret, watch where the time\n"
    "                         goes, and have kilnd compile what is hot (-O3)\n"
    "                         and warm (-O1) while the program runs; cold:\n"
    "                         interpret only; warm or hot: compile every\n"
    "                         function first. Without a kilnd the program\n"
    "                         still runs, interpreted, after a warning\n"
    "  --warmup MS            auto: the first heat map after MS milliseconds\n"
    "                         (default 100), sooner in a busy program\n"
    "  --period MS            auto: then one every MS milliseconds (default 250)\n"
    "  --demote-after MS      auto: a compiled function the partition puts\n"
    "                         lower goes down once it has not run for MS\n"
    "                         milliseconds (default 10000); a package none of\n"
    "                         whose functions runs from it any more is unmapped\n"
    "  --service ENDPOINT     kilnd's ZeroMQ endpoint (default\n"
    "                         ipc://$XDG_RUNTIME_DIR/kiln/kilnd.sock); when no\n"
    "                         kilnd answers at an ipc:// endpoint, kiln starts one\n"
    "  --idle SECONDS         a kilnd started by kiln exits after this long\n"
    "                         with no agent connected (default 600)\n"
    "  --verbose              say on stderr which package was mapped, and each\n"
    "                         tier change and package unmapped (auto)\n"
    "  --no-monitor           no counting, no sampling and no tiering up: the\n"
    "                         interpreter (or --tier) alone, as a reference\n"
    "  --stats                at exit, print the heat map on stderr: calls, loop\n"
    "                         iterations, share of self time and tier per region\n"
    "  --heatmap FILE.json    at exit, write the heat map to FILE.json\n"
    "  --dir HOST[::GUEST]    let the program use the directory HOST, under the\n"
    "                         name GUEST (default: HOST); may be repeated\n"
    "  --env NAME=VALUE       set an environment variable for the program; may\n"
    "                         be repeated (nothing is inherited from kiln's own)\n"
    "  --help                 show this help\n"
    "  --version              show the version\n"
    "\n"
    "Exit status: the program's; 134 after a trap; 2 for bad usage or a bad module.\n"
    "\n"
    "kiln status shows what kilnd is doing; kiln control changes its thresholds\n"
    "while it runs (see 'kiln status --help', 'kiln control --help').\n";

typedef struct {
  bool adaptive; /* --tier auto: the partition decides, as the script runs */
  kiln_tier tier; /* otherwise: every function at this tier, from the start */
  unsigned warmup_ms, period_ms, demote_ms; /* 0: libkiln's defaults */
  const char *service; /* NULL: the default endpoint */
  long idle;
  bool verbose;
  bool stats;
  bool no_monitor; /* no counting, no sampling, no tiering (the bench's reference) */
  const char *heatmap; /* --heatmap FILE.json, or NULL */
  const char *file;
  int nargs; /* the script's argv, argv[0] being FILE as given */
  const char *const *args;
  int ndirs;
  char **dir_host; /* each a copy of HOST::GUEST, split in place; owned */
  const char **dir_guest; /* pointers into dir_host's strings */
  int nenv;
  const char **env;
} Options;

/* One line on stderr, as every refusal is. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kiln: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return EXIT_USAGE;
}

static void options_free(Options *o) {
  for (int i = 0; i < o->ndirs; i++)
    free(o->dir_host[i]);
  free(o->dir_host);
  free(o->dir_guest);
  free(o->env);
}

/* HOST[::GUEST]; "::" and not ":" so host paths with a colon still work. */
static int add_dir(Options *o, const char *spec) {
  char *copy = strdup(spec);
  if (!copy)
    return fail("%s", "out of memory");
  char *sep = strstr(copy, "::");
  const char *guest = copy;
  if (sep) {
    *sep = 0;
    guest = sep + 2;
  }
  if (!*copy || !*guest) {
    free(copy);
    return fail("--dir %s: expected HOST or HOST::GUEST", spec);
  }
  o->dir_host[o->ndirs] = copy;
  o->dir_guest[o->ndirs] = guest;
  o->ndirs++;
  return 0;
}

static int parse_tier(const char *tier, Options *o) {
  if (strcmp(tier, "auto") == 0) {
    o->adaptive = true;
    return 0;
  }
  for (int i = 0; i < 3; i++)
    if (strcmp(tier, report_tier_names[i]) == 0) {
      o->tier = (kiln_tier)i;
      o->adaptive = false;
      return 0;
    }
  return fail("--tier %s: unknown tier (expected auto, cold, warm or hot)", tier);
}

/* A number of milliseconds from 1 to an hour. */
static int parse_ms(const char *opt, const char *v, unsigned *out) {
  char *end;
  errno = 0;
  long ms = strtol(v, &end, 10);
  if (errno || end == v || *end || ms < 1 || ms > 3600000)
    return fail("%s %s: expected milliseconds from 1 to 3600000", opt, v);
  *out = (unsigned)ms;
  return 0;
}

static int parse_idle(const char *v, long *out) {
  char *end;
  errno = 0;
  long s = strtol(v, &end, 10);
  if (errno || end == v || *end || s < 1 || s > 86400 * 365)
    return fail("--idle %s: expected a number of seconds from 1 to 31536000", v);
  *out = s;
  return 0;
}

/* The value of an option given as "--opt VALUE" or "--opt=VALUE", or NULL
 * when arg is not that option. *i moves past a separate value. */
static const char *option_value(int argc, char **argv, int *i, const char *opt, int *err) {
  size_t n = strlen(opt);
  const char *arg = argv[*i];
  if (strncmp(arg, opt, n) != 0)
    return NULL;
  if (arg[n] == '=')
    return arg + n + 1;
  if (arg[n] != 0)
    return NULL;
  if (*i + 1 >= argc) {
    *err = fail("%s: missing value", opt);
    return NULL;
  }
  return argv[++*i];
}

/* Parses the words after "run". Returns 0, HELP_SHOWN, or the exit status
 * of a refusal. */
static int parse_run(int argc, char **argv, Options *o) {
  /* No more options than words; + 1 so that none is a zero-sized calloc. */
  size_t n = (size_t)argc + 1;
  o->dir_host = calloc(n, sizeof *o->dir_host);
  o->dir_guest = calloc(n, sizeof *o->dir_guest);
  o->env = calloc(n, sizeof *o->env);
  if (!o->dir_host || !o->dir_guest || !o->env)
    return fail("%s", "out of memory");
  int i = 0;
  for (; i < argc; i++) {
    const char *arg = argv[i], *v;
    int err = 0;
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (arg[0] != '-' || strcmp(arg, "-") == 0)
      break;
    if ((v = option_value(argc, argv, &i, "--tier", &err))) {
      if ((err = parse_tier(v, o)))
        return err;
    } else if ((v = option_value(argc, argv, &i, "--warmup", &err))) {
      if ((err = parse_ms("--warmup", v, &o->warmup_ms)))
        return err;
    } else if ((v = option_value(argc, argv, &i, "--period", &err))) {
      if ((err = parse_ms("--period", v, &o->period_ms)))
        return err;
    } else if ((v = option_value(argc, argv, &i, "--demote-after", &err))) {
      if ((err = parse_ms("--demote-after", v, &o->demote_ms)))
        return err;
    } else if ((v = option_value(argc, argv, &i, "--service", &err))) {
      if (!*v)
        return fail("--service: empty endpoint");
      o->service = v;
    } else if ((v = option_value(argc, argv, &i, "--idle", &err))) {
      if ((err = parse_idle(v, &o->idle)))
        return err;
    } else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
      o->verbose = true;
    } else if (strcmp(arg, "--no-monitor") == 0) {
      o->no_monitor = true;
    } else if (strcmp(arg, "--stats") == 0) {
      o->stats = true;
    } else if ((v = option_value(argc, argv, &i, "--heatmap", &err))) {
      if (!*v)
        return fail("--heatmap: empty file name");
      o->heatmap = v;
    } else if ((v = option_value(argc, argv, &i, "--dir", &err))) {
      if ((err = add_dir(o, v)))
        return err;
    } else if ((v = option_value(argc, argv, &i, "--env", &err))) {
      if (!strchr(v, '=') || v[0] == '=')
        return fail("--env %s: expected NAME=VALUE", v);
      o->env[o->nenv++] = v;
    } else if (err) {
      return err;
    } else {
      if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        fputs(usage_text, stdout);
        return HELP_SHOWN;
      }
      return fail("run: unknown option '%s'; try 'kiln --help'", arg);
    }
  }
  if (i >= argc)
    return fail("run: no FILE.wasm given; try 'kiln --help'");
  o->file = argv[i];
  o->args = (const char *const *)argv + i;
  o->nargs = argc - i;
  return 0;
}

/* --- running the script ----------------------------------------------------- */

typedef struct {
  const Options *o;
  int status; /* the process's exit status */
} Run;

/* After a failed call: the exit status and, unless the script exited, the
 * one line. The runtime's traps already read "trap: ...". */
static int outcome(kiln_runtime *rt, kiln_status st) {
  const char *msg = kiln_error(rt);
  if (st == KILN_EXIT)
    return kiln_exit_code(rt) & 0xff;
  fprintf(stderr, "kiln: %s\n", msg);
  return st == KILN_TRAP ? EXIT_TRAP : EXIT_USAGE;
}

/* Switches the instance to the compiled tier asked for, starting a kilnd
 * if none answers. Failing that, one warning: the script runs anyway. */
static void compile_tier(kiln_runtime *rt, kiln_instance *in, const Options *o) {
  kiln_compile_info info;
  kiln_status st = kiln_instance_compile(in, o->tier, &info);
  char first[512], start_err[512] = "";
  if (st == KILN_UNAVAILABLE) {
    snprintf(first, sizeof first, "%s", kiln_error(rt));
    /* Tried even when the start failed: it may have lost a race to
     * another kilnd, which then serves us. */
    start_kilnd(o->service, o->idle, start_err, sizeof start_err);
    st = kiln_instance_compile(in, o->tier, &info);
  }
  if (st != KILN_OK) {
    if (start_err[0]) /* why there was no kilnd, then why none could start */
      fprintf(stderr, "kiln: warning: %s; %s; running interpreted\n", first, start_err);
    else
      fprintf(stderr, "kiln: warning: %s; running interpreted\n", kiln_error(rt));
    return;
  }
  if (o->verbose)
    fprintf(stderr, "kiln: %s tier: %u functions from %s (%llu bytes), %s %.1f ms\n",
            report_tier_names[o->tier], info.functions, info.segment,
            (unsigned long long)info.package_bytes,
            info.cached ? "cached, compiled once in" : "compiled in", info.compile_ms);
}

/* What the tiering thread tells kiln run, on that thread. */
typedef struct {
  const Options *o;
  bool warned; /* one warning about the service per run */
} Adapt;

static void start_own_kilnd(void *data) {
  const Adapt *a = data;
  char err[512];
  /* Its failure shows as the connection's, which comes next. */
  start_kilnd(a->o->service, a->o->idle, err, sizeof err);
}

static void tier_changed(const kiln_tier_change *c, void *data) {
  Adapt *a = data;
  if (c->func == KILN_NO_FUNC) {
    /* The script runs on in the tiers it has; say so once, as the forced
     * tiers do. */
    if (!a->warned)
      fprintf(stderr, "kiln: warning: %s; running on in the tiers it has\n", c->why);
    a->warned = true;
    return;
  }
  if (a->o->verbose)
    fprintf(stderr, "kiln: %.3f s: func %u %s -> %s: %s (%.1f ms after the heat map%s)\n", c->at_s,
            c->func, report_tier_names[c->from], report_tier_names[c->tier], c->why, c->latency_ms,
            c->tier == KILN_TIER_COLD ? ""
            : c->compile_ms > 0       ? ", compiled"
                                      : ", cached");
}

static void package_released(const kiln_package_release *r, void *data) {
  const Adapt *a = data;
  if (a->o->verbose)
    fprintf(stderr, "kiln: %.3f s: released package %s: %s\n", r->at_s, r->segment, r->why);
}

/* --stats and --heatmap, once the script is done. Non-zero: the heat map
 * could not be written (one line said so). */
static int report(kiln_runtime *rt, kiln_module *m, kiln_instance *in, const Options *o) {
  if (!o->stats && !o->heatmap)
    return 0;
  kiln_heatmap *h = kiln_instance_heatmap(in);
  if (!h)
    return fail("%s", kiln_error(rt));
  size_t nchanges = kiln_instance_tier_changes(in, NULL, 0);
  kiln_tier_change *changes = calloc(nchanges + 1, sizeof *changes);
  if (!changes) {
    kiln_heatmap_free(h);
    return fail("%s", "out of memory");
  }
  nchanges = kiln_instance_tier_changes(in, changes, nchanges);
  int status = 0;
  if (o->stats) {
    report_stats(stderr, h, changes, nchanges, 20);
    size_t mapped, released;
    kiln_instance_packages(in, &mapped, &released);
    if (o->adaptive)
      fprintf(stderr, "kiln: stats: %zu packages mapped, %zu of them released\n", mapped, released);
  }
  char err[512];
  if (o->heatmap && !report_heatmap_json(o->heatmap, o->file, kiln_module_hash(m), h, changes,
                                         nchanges, err, sizeof err))
    status = fail("%s", err);
  free(changes);
  kiln_heatmap_free(h);
  return status;
}

/* Loads, links and runs the script in rt. */
static int run_module(kiln_runtime *rt, const Options *o) {
  kiln_module *m = kiln_module_load(rt, o->file);
  if (!m)
    return outcome(rt, KILN_ERROR);
  kiln_wasi_config wc = {
      .argc = o->nargs,
      .argv = o->args,
      .envc = o->nenv,
      .envp = o->env,
      .npreopens = o->ndirs,
      .preopen_host = (const char *const *)o->dir_host,
      .preopen_guest = o->dir_guest,
  };
  if (kiln_wasi_define(rt, &wc) != KILN_OK)
    return outcome(rt, KILN_ERROR);
  kiln_instance *in = kiln_instantiate(rt, m, o->file);
  if (!in) /* a start function can trap or exit too */
    return outcome(rt, kiln_error_status(rt));
  kiln_func *start = kiln_instance_func(in, "_start");
  if (!start || kiln_func_param_count(start) || kiln_func_result_count(start)) {
    fprintf(stderr,
            "kiln: %s: no \"_start\" function of type [] -> [] exported "
            "(not a WASI command module)\n",
            o->file);
    return EXIT_USAGE;
  }
  if (!o->adaptive && o->tier != KILN_TIER_COLD)
    compile_tier(rt, in, o);
  /* Self time is sampled from here on, on this thread: the script's. */
  bool sampling = !o->no_monitor && kiln_monitor_start(rt, 0) == KILN_OK;
  if (!sampling && !o->no_monitor && (o->stats || o->heatmap || o->adaptive))
    fprintf(stderr, "kiln: warning: %s; no self time to go by\n", kiln_error(rt));
  Adapt a = {o, false};
  if (o->adaptive && sampling && !o->no_monitor) {
    kiln_adapt_config ac = {.warmup_ms = o->warmup_ms,
                            .period_ms = o->period_ms,
                            .demote_idle_ms = o->demote_ms,
                            .on_unavailable = start_own_kilnd,
                            .on_change = tier_changed,
                            .on_release = package_released,
                            .data = &a};
    if (kiln_instance_adapt(in, &ac) != KILN_OK)
      fprintf(stderr, "kiln: warning: %s; running interpreted\n", kiln_error(rt));
  }
  kiln_status st = kiln_call(rt, start, NULL, 0, NULL, 0);
  int status = st == KILN_OK ? 0 : outcome(rt, st);
  kiln_instance_adapt_stop(in);
  kiln_monitor_stop(rt);
  if (report(rt, m, in, o) != 0 && status == 0)
    status = EXIT_USAGE;
  return status;
}

static void *script_thread(void *arg) {
  Run *r = arg;
  kiln_config cfg = {.value_stack_bytes = VALUE_STACK_BYTES,
                     .service_endpoint = r->o->service,
                     .no_monitor = r->o->no_monitor};
  kiln_runtime *rt = kiln_runtime_new(&cfg);
  if (!rt) {
    r->status = fail("%s", "out of memory");
    return NULL;
  }
  r->status = run_module(rt, r->o);
  kiln_runtime_free(rt);
  return NULL;
}

/* The stack is mapped here rather than by pthread_create so it is address
 * space only (MAP_NORESERVE) even where the kernel does strict overcommit
 * accounting; its lowest page stays unmapped as a guard. */
static int run_on_big_stack(const Options *o) {
  Run r = {o, EXIT_USAGE};
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *stack = mmap(NULL, SCRIPT_STACK_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED)
    return fail("cannot reserve the script's stack: %s", strerror(errno));
  pthread_attr_t attr;
  pthread_t th;
  bool started = mprotect(stack, page, PROT_NONE) == 0 && pthread_attr_init(&attr) == 0;
  if (started) {
    started = pthread_attr_setstack(&attr, (char *)stack + page, SCRIPT_STACK_BYTES - page) == 0 &&
              pthread_create(&th, &attr, script_thread, &r) == 0;
    pthread_attr_destroy(&attr);
  }
  if (started)
    pthread_join(th, NULL);
  munmap(stack, SCRIPT_STACK_BYTES);
  return started ? r.status : fail("cannot start the script's thread");
}

int main(int argc, char **argv) {
  if (argc < 2)
    return fail("no command given; try 'kiln --help'");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("kiln %s\n", KILN_VERSION);
    return 0;
  }
  if (strcmp(cmd, "status") == 0)
    return kiln_status_main(argc - 2, argv + 2);
  if (strcmp(cmd, "control") == 0)
    return kiln_control_main(argc - 2, argv + 2);
  if (strcmp(cmd, "run") != 0)
    return fail("unknown command '%s'; try 'kiln --help'", cmd);
  Options o = {.adaptive = true, .tier = KILN_TIER_COLD, .idle = DEFAULT_IDLE_SECONDS};
  int status = parse_run(argc - 2, argv + 2, &o);
  if (status == HELP_SHOWN)
    status = 0;
  else if (status == 0)
    status = run_on_big_stack(&o);
  options_free(&o);
  fflush(stdout);
  return status;
}
