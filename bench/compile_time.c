/*
 * compile_time.c: how long the DCM takes over given functions of a module,
 * as one request (one libgccjit context), outside kilnd: for tuning the
 * compiler's options on real programs (SQLite's largest functions take
 * seconds each) without a service, an agent or a run around it.
 *
 *   build/bench/compile-time MODULE.wasm warm|hot FUNC... [--osr-body FUNC]... [--runs N]
 *
 * FUNC is a function index (as kiln run --stats and kilnd's log name them).
 * The functions get no OSR entries, as a function called often gets from
 * the Partitioning Engine; one after --osr-body has only its OSR entry, as
 * a long-running main gets. Prints each run's time and the package's size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcm.h"
#include "u32_set.h"
#include "wasm.h"

static int usage(void) {
  fprintf(stderr,
          "usage: compile-time MODULE.wasm warm|hot FUNC... [--osr-body FUNC]... [--runs N]\n");
  return 2;
}

static uint8_t *read_module(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *bytes = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    rewind(f);
    bytes = n > 0 ? malloc((size_t)n) : NULL;
    if (bytes && fread(bytes, 1, (size_t)n, f) != (size_t)n) {
      free(bytes);
      bytes = NULL;
    }
    *len = n > 0 ? (size_t)n : 0;
  }
  fclose(f);
  return bytes;
}

int main(int argc, char **argv) {
  if (argc < 4)
    return usage();
  DcmTier tier;
  if (strcmp(argv[2], "warm") == 0)
    tier = DCM_WARM;
  else if (strcmp(argv[2], "hot") == 0)
    tier = DCM_HOT;
  else
    return usage();
  uint32_t *funcs = calloc((size_t)argc, sizeof *funcs),
           *plain = calloc((size_t)argc, sizeof *plain),
           *osr_body = calloc((size_t)argc, sizeof *osr_body);
  if (!funcs || !plain || !osr_body) {
    fprintf(stderr, "compile-time: out of memory\n");
    return 1;
  }
  uint32_t nfuncs = 0, nplain = 0, nosr_body = 0;
  long runs = 1;
  for (int i = 3; i < argc; i++) {
    char *end;
    errno = 0;
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = strtol(argv[++i], &end, 10);
      if (errno || *end || runs < 1 || runs > 100) {
        fprintf(stderr, "compile-time: --runs %s: expected 1 to 100\n", argv[i]);
        return 2;
      }
      continue;
    }
    bool osr_only = strcmp(argv[i], "--osr-body") == 0 && i + 1 < argc;
    if (osr_only)
      i++;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (errno || *end || end == argv[i] || v > UINT32_MAX) {
      fprintf(stderr, "compile-time: %s: expected a function index\n", argv[i]);
      return 2;
    }
    funcs[nfuncs++] = (uint32_t)v;
    if (osr_only)
      osr_body[nosr_body++] = (uint32_t)v;
    else
      plain[nplain++] = (uint32_t)v;
  }
  if (!nfuncs)
    return usage();
  size_t len = 0;
  uint8_t *bytes = read_module(argv[1], &len);
  if (!bytes) {
    fprintf(stderr, "compile-time: %s: cannot read: %s\n", argv[1], strerror(errno));
    return 1;
  }
  WasmError werr;
  WasmModule *m = wasm_decode(bytes, len, &werr);
  if (!m || !wasm_validate(m, &werr)) {
    char msg[512];
    wasm_format_error(m, &werr, msg, sizeof msg);
    fprintf(stderr, "compile-time: %s: %s\n", argv[1], msg);
    return 1;
  }
  uint64_t body = 0;
  for (uint32_t i = 0; i < nfuncs; i++) {
    if (funcs[i] < m->nfunc_imports || funcs[i] >= m->nfuncs) {
      fprintf(stderr, "compile-time: %s: func %u is not a function defined in the module\n",
              argv[1], funcs[i]);
      return 1;
    }
    body += m->funcs[funcs[i]].body_len;
  }
  u32_set_sort(plain, nplain);
  u32_set_sort(osr_body, nosr_body);
  DcmProfile profile = {
      .without_osr = plain, .nwithout_osr = nplain, .osr_body = osr_body, .nosr_body = nosr_body};
  char what[160];
  wasm_describe_func(m, funcs[0], what, sizeof what);
  if (nfuncs > 1)
    snprintf(what + strlen(what), sizeof what - strlen(what), " and %u more", nfuncs - 1);
  printf("%s at %s, %llu bytes of wasm\n", what, dcm_tier_name(tier), (unsigned long long)body);
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  int rc = 0;
  for (long r = 0; r < runs && rc == 0; r++) {
    snprintf(path, sizeof path, "%s/kiln-compile-time-XXXXXX.so", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemps(path, 3);
    if (fd < 0) {
      fprintf(stderr, "compile-time: %s: cannot make a file: %s\n", path, strerror(errno));
      return 1;
    }
    close(fd);
    DcmManifest man;
    char err[512];
    if (dcm_compile(m, funcs, nfuncs, tier, &profile, path, &man, err, sizeof err)) {
      printf("run %ld: %.0f ms, package %llu bytes\n", r + 1, man.compile_ms,
             (unsigned long long)man.package_size);
      dcm_manifest_free(&man);
    } else {
      fprintf(stderr, "compile-time: %s: %s\n", argv[1], err);
      rc = 1;
    }
    remove(path);
  }
  wasm_module_free(m);
  free(bytes);
  free(funcs);
  free(plain);
  free(osr_body);
  return rc;
}
