/*
 * kiln-spec: runs the commands of WebAssembly spec tests, as wabt's
 * wast2json writes them (docs/wast2json.md), against libkiln.
 *
 *   kiln-spec [--tier cold|warm|hot] FILE.json...
 *
 * Every FILE.json gets a fresh runtime with the "spectest" module defined.
 * At warm and hot, every instance is switched to code compiled by the
 * Differential Compilation Module right after it is instantiated (its start
 * function, if any, has run interpreted); a module that cannot be compiled
 * fails its command.
 * One line per failure ("FILE:LINE: assert_return: expected i32:1, got
 * i32:0"), then exactly "N passed, M failed, K skipped". Exit status: 0, 1
 * when something failed, 2 when the input itself is unusable. Modules given
 * as text (only ever in assert_malformed / assert_invalid) are the one skip.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcm-run.h"
#include "runtime.h"
#include "spec-values.h"

#ifndef SPECTEST_WASM
#define SPECTEST_WASM "spectest.wasm"
#endif

typedef struct {
  char *name; /* "$M" as the script names a module */
  kiln_instance *in;
} NamedInstance;

/* The tier every instance runs in: the interpreter, or a compiled one. */
typedef enum { TIER_COLD, TIER_WARM, TIER_HOT } Tier;
static const char *const tier_names[] = {"cold", "warm", "hot"};

typedef struct {
  const char *source; /* for messages: the .wast the commands came from */
  Tier tier;
  char *dir; /* .wasm files are relative to the .json */
  kiln_runtime *rt;
  NamedInstance *named;
  size_t nnamed;
  kiln_instance *current; /* the last module defined */
  unsigned passed, failed, skipped;
} SpecFile;

/* What an action did. */
typedef struct {
  kiln_status status;
  kiln_value *results;
  uint32_t nresults;
} Outcome;

static const char *str_field(json_object *obj, const char *key) {
  json_object *v;
  return json_object_object_get_ex(obj, key, &v) ? json_object_get_string(v) : NULL;
}

static int line_of(json_object *cmd) {
  json_object *v;
  return json_object_object_get_ex(cmd, "line", &v) ? json_object_get_int(v) : 0;
}

__attribute__((format(printf, 3, 4))) static void fail(SpecFile *sf, json_object *cmd,
                                                       const char *fmt, ...) {
  printf("%s:%d: %s: ", sf->source, line_of(cmd), str_field(cmd, "type"));
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  sf->failed++;
}

/* --- the spectest module -------------------------------------------------- */

static kiln_status spectest_print(kiln_caller *caller, void *data, const kiln_value *args,
                                  kiln_value *results) {
  (void)caller, (void)data, (void)args, (void)results;
  return KILN_OK; /* the tests only need the imports to exist */
}

/* The print functions are host functions; memory, table and globals come
 * from spectest.wat (built to SPECTEST_WASM), registered under the same
 * module name. */
static bool define_spectest(kiln_runtime *rt) {
  static const struct {
    const char *name;
    uint32_t nparams;
    kiln_type params[2];
  } prints[] = {
      {"print", 0, {KILN_I32}},
      {"print_i32", 1, {KILN_I32}},
      {"print_i64", 1, {KILN_I64}},
      {"print_f32", 1, {KILN_F32}},
      {"print_f64", 1, {KILN_F64}},
      {"print_i32_f32", 2, {KILN_I32, KILN_F32}},
      {"print_f64_f64", 2, {KILN_F64, KILN_F64}},
  };
  for (size_t i = 0; i < sizeof prints / sizeof prints[0]; i++)
    if (kiln_define_func(rt, "spectest", prints[i].name, prints[i].params, prints[i].nparams, NULL,
                         0, spectest_print, NULL) != KILN_OK)
      return false;
  const char *path = getenv("KILN_SPECTEST_WASM");
  kiln_module *m = kiln_module_load(rt, path ? path : SPECTEST_WASM);
  kiln_instance *in = m ? kiln_instantiate(rt, m, "spectest") : NULL;
  return in && kiln_register(rt, "spectest", in) == KILN_OK;
}

/* --- modules -------------------------------------------------------------- */

/* kiln_instantiate, then the switch to the file's tier. A module that cannot
 * be compiled is refused like one that cannot be instantiated. */
static kiln_instance *instantiate(SpecFile *sf, kiln_module *m, const char *name) {
  kiln_instance *in = kiln_instantiate(sf->rt, m, name);
  if (!in || sf->tier == TIER_COLD)
    return in;
  char err[512];
  if (dcm_switch_instance(in, sf->tier == TIER_HOT ? DCM_HOT : DCM_WARM, err, sizeof err))
    return in;
  runtime_error(sf->rt, "cannot run at %s: %s", tier_names[sf->tier], err);
  return NULL;
}

static kiln_instance *find_instance(SpecFile *sf, const char *name) {
  if (!name)
    return sf->current;
  for (size_t i = sf->nnamed; i-- > 0;)
    if (strcmp(sf->named[i].name, name) == 0)
      return sf->named[i].in;
  return NULL;
}

static bool remember_instance(SpecFile *sf, const char *name, kiln_instance *in) {
  NamedInstance *n = realloc(sf->named, (sf->nnamed + 1) * sizeof *n);
  if (!n)
    return false;
  sf->named = n;
  n[sf->nnamed].name = strdup(name);
  n[sf->nnamed].in = in;
  return n[sf->nnamed++].name != NULL;
}

static kiln_module *load_module(SpecFile *sf, json_object *cmd) {
  const char *file = str_field(cmd, "filename");
  if (!file) {
    fail(sf, cmd, "no filename in command");
    return NULL;
  }
  size_t len = strlen(sf->dir) + strlen(file) + 2;
  char *path = malloc(len);
  if (!path) {
    fail(sf, cmd, "out of memory");
    return NULL;
  }
  snprintf(path, len, "%s/%s", sf->dir, file);
  kiln_module *m = kiln_module_load(sf->rt, path);
  free(path);
  return m;
}

static void cmd_module(SpecFile *sf, json_object *cmd) {
  kiln_module *m = load_module(sf, cmd);
  const char *name = str_field(cmd, "name");
  sf->current = m ? instantiate(sf, m, name) : NULL;
  if (!sf->current) {
    fail(sf, cmd, "%s", kiln_error(sf->rt));
    return;
  }
  if (name && !remember_instance(sf, name, sf->current)) {
    fail(sf, cmd, "out of memory");
    return;
  }
  sf->passed++;
}

static void cmd_register(SpecFile *sf, json_object *cmd) {
  const char *as = str_field(cmd, "as");
  kiln_instance *in = find_instance(sf, str_field(cmd, "name"));
  if (!as || !in) {
    fail(sf, cmd, "no module to register");
    return;
  }
  if (kiln_register(sf->rt, as, in) != KILN_OK) {
    fail(sf, cmd, "%s", kiln_error(sf->rt));
    return;
  }
  sf->passed++;
}

/* --- actions -------------------------------------------------------------- */

/* Arguments of an invoke; NULL (with why) when one cannot be represented. */
static kiln_value *parse_args(json_object *action, uint32_t *n, const char **why) {
  json_object *args;
  *n = 0;
  if (!json_object_object_get_ex(action, "args", &args))
    return calloc(1, sizeof(kiln_value));
  size_t len = json_object_array_length(args);
  kiln_value *vals = calloc(len + 1, sizeof *vals);
  if (!vals) {
    *why = "out of memory";
    return NULL;
  }
  for (size_t i = 0; i < len; i++) {
    if (!spec_parse_value(json_object_array_get_idx(args, i), &vals[i], why)) {
      free(vals);
      return NULL;
    }
  }
  *n = (uint32_t)len;
  return vals;
}

static bool invoke(SpecFile *sf, kiln_instance *in, json_object *action, Outcome *out,
                   const char **why) {
  json_object *field;
  uint8_t kind;
  void *item;
  if (!json_object_object_get_ex(action, "field", &field) ||
      !instance_export(in, json_object_get_string(field), (size_t)json_object_get_string_len(field),
                       &kind, &item) ||
      kind != WASM_EXTERN_FUNC) {
    *why = "no such exported function";
    return false;
  }
  kiln_func *f = item;
  uint32_t nargs;
  kiln_value *args = parse_args(action, &nargs, why);
  if (!args)
    return false;
  out->nresults = kiln_func_result_count(f);
  out->results = calloc(out->nresults + 1, sizeof *out->results);
  if (!out->results) {
    free(args);
    *why = "out of memory";
    return false;
  }
  out->status = kiln_call(sf->rt, f, args, nargs, out->results, out->nresults);
  free(args);
  return true;
}

static bool get_global(SpecFile *sf, kiln_instance *in, json_object *action, Outcome *out,
                       const char **why) {
  const char *field = str_field(action, "field");
  out->results = calloc(1, sizeof *out->results);
  if (!out->results) {
    *why = "out of memory";
    return false;
  }
  if (!field || kiln_instance_global(in, field, &out->results[0]) != KILN_OK) {
    *why = kiln_error(sf->rt);
    return false;
  }
  out->status = KILN_OK;
  out->nresults = 1;
  return true;
}

/* Runs the command's action. false (with why) when it could not even start:
 * unknown module or export, or arguments it cannot pass. */
static bool run_action(SpecFile *sf, json_object *cmd, Outcome *out, const char **why) {
  json_object *action;
  *out = (Outcome){0};
  if (!json_object_object_get_ex(cmd, "action", &action)) {
    *why = "no action in command";
    return false;
  }
  kiln_instance *in = find_instance(sf, str_field(action, "module"));
  if (!in) {
    *why = "no such module";
    return false;
  }
  const char *type = str_field(action, "type");
  if (type && strcmp(type, "invoke") == 0)
    return invoke(sf, in, action, out, why);
  if (type && strcmp(type, "get") == 0)
    return get_global(sf, in, action, out, why);
  *why = "unknown action type";
  return false;
}

/* --- assertions ----------------------------------------------------------- */

static void format_results(const kiln_value *v, uint32_t n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < n && used + 1 < size; i++) {
    char one[96];
    spec_format_value(&v[i], one, sizeof one);
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", one);
  }
  if (n == 0)
    snprintf(buf, size, "nothing");
}

static void format_expected(const Expected *e, uint32_t n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < n && used + 1 < size; i++) {
    char one[96];
    spec_format_expected(&e[i], one, sizeof one);
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", one);
  }
  if (n == 0)
    snprintf(buf, size, "nothing");
}

/* Compares an outcome with the command's "expected" list. */
static void check_results(SpecFile *sf, json_object *cmd, const Outcome *out) {
  json_object *expected;
  size_t n = json_object_object_get_ex(cmd, "expected", &expected)
                 ? json_object_array_length(expected)
                 : 0;
  Expected *want = calloc(n + 1, sizeof *want);
  const char *why = "out of memory";
  bool ok = want != NULL;
  for (size_t i = 0; ok && i < n; i++)
    ok = spec_parse_expected(json_object_array_get_idx(expected, i), &want[i], &why);
  if (!ok) {
    fail(sf, cmd, "%s", why);
    free(want);
    return;
  }
  bool match = n == out->nresults;
  for (size_t i = 0; match && i < n; i++)
    match = spec_value_matches(&want[i], &out->results[i]);
  if (match) {
    sf->passed++;
  } else {
    char w[1024], g[1024];
    format_expected(want, (uint32_t)n, w, sizeof w);
    format_results(out->results, out->nresults, g, sizeof g);
    fail(sf, cmd, "expected %s, got %s", w, g);
  }
  free(want);
}

static void cmd_action(SpecFile *sf, json_object *cmd, bool check) {
  Outcome out;
  const char *why;
  if (!run_action(sf, cmd, &out, &why))
    fail(sf, cmd, "%s", why);
  else if (out.status != KILN_OK)
    fail(sf, cmd, "%s", kiln_error(sf->rt));
  else if (check)
    check_results(sf, cmd, &out);
  else
    sf->passed++;
  free(out.results);
}

/* Does kiln's "trap: TEXT in $f (func 3)" say the trap the script expects?
 * Either text may carry more detail ("uninitialized element 2"). */
static bool trap_matches(const char *error, const char *text) {
  if (strncmp(error, "trap: ", 6) != 0)
    return false;
  error += 6;
  const char *in = strstr(error, " in ");
  size_t ours = in ? (size_t)(in - error) : strlen(error), theirs = strlen(text);
  size_t n = ours < theirs ? ours : theirs;
  return n > 0 && strncmp(error, text, n) == 0;
}

static void expect_trap(SpecFile *sf, json_object *cmd, kiln_status status) {
  const char *text = str_field(cmd, "text");
  const char *error = kiln_error(sf->rt);
  if (status == KILN_TRAP && trap_matches(error, text ? text : ""))
    sf->passed++;
  else if (status == KILN_OK)
    fail(sf, cmd, "expected trap \"%s\", got no trap", text ? text : "");
  else
    fail(sf, cmd, "expected trap \"%s\", got %s", text ? text : "", error);
}

static void cmd_uninstantiable(SpecFile *sf, json_object *cmd) {
  kiln_module *m = load_module(sf, cmd);
  if (!m) {
    fail(sf, cmd, "%s", kiln_error(sf->rt));
    return;
  }
  kiln_instance *in = instantiate(sf, m, NULL);
  expect_trap(sf, cmd, in ? KILN_OK : KILN_TRAP);
}

static void cmd_assert_trap(SpecFile *sf, json_object *cmd) {
  json_object *action;
  if (!json_object_object_get_ex(cmd, "action", &action)) {
    cmd_uninstantiable(sf, cmd); /* assert_trap on a module: its start traps */
    return;
  }
  Outcome out;
  const char *why;
  if (!run_action(sf, cmd, &out, &why))
    fail(sf, cmd, "%s", why);
  else
    expect_trap(sf, cmd, out.status);
  free(out.results);
}

static void cmd_unlinkable(SpecFile *sf, json_object *cmd) {
  const char *text = str_field(cmd, "text");
  kiln_module *m = load_module(sf, cmd);
  if (!m) {
    fail(sf, cmd, "%s", kiln_error(sf->rt));
    return;
  }
  if (instantiate(sf, m, NULL))
    fail(sf, cmd, "expected \"%s\", got an instance", text ? text : "");
  else if (text && !strstr(kiln_error(sf->rt), text))
    fail(sf, cmd, "expected \"%s\", got %s", text, kiln_error(sf->rt));
  else
    sf->passed++;
}

/* assert_malformed / assert_invalid: the module must be refused. Like
 * wabt's own runner, the reason's wording is not compared: every engine
 * words it differently. */
static void cmd_refused(SpecFile *sf, json_object *cmd) {
  const char *type = str_field(cmd, "module_type");
  if (type && strcmp(type, "text") == 0) {
    sf->skipped++;
    return;
  }
  if (load_module(sf, cmd))
    fail(sf, cmd, "expected \"%s\", got a valid module", str_field(cmd, "text"));
  else
    sf->passed++;
}

static void run_command(SpecFile *sf, json_object *cmd) {
  const char *type = str_field(cmd, "type");
  if (!type)
    fail(sf, cmd, "command without a type");
  else if (strcmp(type, "module") == 0)
    cmd_module(sf, cmd);
  else if (strcmp(type, "register") == 0)
    cmd_register(sf, cmd);
  else if (strcmp(type, "action") == 0)
    cmd_action(sf, cmd, false);
  else if (strcmp(type, "assert_return") == 0)
    cmd_action(sf, cmd, true);
  else if (strcmp(type, "assert_trap") == 0 || strcmp(type, "assert_exhaustion") == 0)
    cmd_assert_trap(sf, cmd);
  else if (strcmp(type, "assert_malformed") == 0 || strcmp(type, "assert_invalid") == 0)
    cmd_refused(sf, cmd);
  else if (strcmp(type, "assert_unlinkable") == 0)
    cmd_unlinkable(sf, cmd);
  else if (strcmp(type, "assert_uninstantiable") == 0)
    cmd_uninstantiable(sf, cmd);
  else
    fail(sf, cmd, "unknown command");
}

/* --- files ---------------------------------------------------------------- */

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

static void spec_file_free(SpecFile *sf) {
  kiln_runtime_free(sf->rt);
  for (size_t i = 0; i < sf->nnamed; i++)
    free(sf->named[i].name);
  free(sf->named);
  free(sf->dir);
}

/* Runs one .json; false on unusable input (message printed). */
/* The parsed file, or NULL after printing why not. */
static json_object *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "kiln-spec: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  json_tokener *tok = json_tokener_new();
  json_object *root = NULL;
  enum json_tokener_error err = json_tokener_error_parse_eof;
  char buf[65536];
  size_t n;
  while (tok && !root && (n = fread(buf, 1, sizeof buf, f)) > 0) {
    root = json_tokener_parse_ex(tok, buf, (int)n);
    err = json_tokener_get_error(tok);
    if (err != json_tokener_continue)
      break;
  }
  if (!root && tok && err == json_tokener_continue)
    err = json_tokener_error_parse_eof; /* the input ended inside a value */
  if (!root)
    fprintf(stderr, "kiln-spec: %s: %s\n", path,
            ferror(f) ? strerror(errno)
            : tok     ? json_tokener_error_desc(err)
                      : "out of memory");
  json_tokener_free(tok);
  fclose(f);
  return root;
}

static bool run_file(const char *path, Tier tier, unsigned totals[3], bool per_file) {
  json_object *root = read_json(path);
  json_object *commands;
  if (!root)
    return false;
  if (!json_object_object_get_ex(root, "commands", &commands) ||
      !json_object_is_type(commands, json_type_array)) {
    fprintf(stderr, "kiln-spec: %s: no \"commands\" array: not wast2json output\n", path);
    json_object_put(root);
    return false;
  }
  SpecFile sf = {.source = str_field(root, "source_filename"), .tier = tier, .dir = dir_of(path)};
  if (!sf.source)
    sf.source = path;
  sf.rt = kiln_runtime_new(NULL);
  bool ok = sf.dir && sf.rt && define_spectest(sf.rt);
  if (!ok) {
    fprintf(stderr, "kiln-spec: cannot set up the spectest module: %s\n",
            sf.rt ? kiln_error(sf.rt) : "out of memory");
  } else {
    for (size_t i = 0; i < json_object_array_length(commands); i++)
      run_command(&sf, json_object_array_get_idx(commands, i));
    if (per_file)
      printf("%s: %u passed, %u failed, %u skipped\n", sf.source, sf.passed, sf.failed, sf.skipped);
  }
  fflush(stdout);
  totals[0] += sf.passed;
  totals[1] += sf.failed;
  totals[2] += sf.skipped;
  spec_file_free(&sf);
  json_object_put(root);
  return ok;
}

static int usage(void) {
  fprintf(stderr, "kiln-spec: usage: kiln-spec [--tier cold|warm|hot] FILE.json...\n");
  return 2;
}

static bool parse_tier(const char *name, Tier *tier) {
  for (Tier t = TIER_COLD; t <= TIER_HOT; t++)
    if (strcmp(name, tier_names[t]) == 0) {
      *tier = t;
      return true;
    }
  fprintf(stderr, "kiln-spec: unknown tier \"%s\" (known: cold, warm, hot)\n", name);
  return false;
}

int main(int argc, char **argv) {
  int first = 1;
  Tier tier = TIER_COLD;
  while (first < argc && strncmp(argv[first], "--", 2) == 0) {
    const char *arg = argv[first++];
    if (strcmp(arg, "--") == 0)
      break;
    if (strncmp(arg, "--tier=", 7) == 0) {
      if (!parse_tier(arg + 7, &tier))
        return 2;
    } else if (strcmp(arg, "--tier") == 0 && first < argc) {
      if (!parse_tier(argv[first++], &tier))
        return 2;
    } else {
      return usage();
    }
  }
  if (first >= argc)
    return usage();
  unsigned totals[3] = {0, 0, 0};
  for (int i = first; i < argc; i++)
    if (!run_file(argv[i], tier, totals, argc - first > 1))
      return 2;
  printf("%u passed, %u failed, %u skipped\n", totals[0], totals[1], totals[2]);
  dcm_release_all(); /* no instance runs any more */
  return totals[1] ? 1 : 0;
}
