/*
 * dcm-run.c: compile an instance's functions, load the package, switch.
 *
 * The loading half is what the agent's Dynamic Package Loader does with a
 * package from kilnd: dlopen, check the ABI version and module hash, fill
 * the imports, look up each function's symbol and store it in the entry.
 */
#include "dcm-run.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "package_abi.h"
#include "runtime.h"

static void **handles;
static size_t nhandles, handles_cap;
static double last_ms;

double dcm_last_compile_ms(void) {
  return last_ms;
}

static bool remember(void *h) {
  if (nhandles == handles_cap) {
    size_t cap = handles_cap ? handles_cap * 2 : 16;
    void **nh = realloc(handles, cap * sizeof *nh);
    if (!nh)
      return false;
    handles = nh;
    handles_cap = cap;
  }
  handles[nhandles++] = h;
  return true;
}

void dcm_release_all(void) {
  for (size_t i = 0; i < nhandles; i++) {
    guard_forget_package(handles[i]);
    dlclose(handles[i]);
  }
  free(handles);
  handles = NULL;
  nhandles = handles_cap = 0;
}

/* /dev/shm when there (the package is mapped from memory), else $TMPDIR. */
static int temp_package(char *path, size_t n) {
  const char *dir = getenv("TMPDIR");
  if (access("/dev/shm", W_OK) == 0)
    dir = "/dev/shm";
  if (!dir || !*dir)
    dir = "/tmp";
  snprintf(path, n, "%s/kiln-dcm-XXXXXX.so", dir);
  return mkstemps(path, 3);
}

static bool load_and_switch(Instance *in, const char *path, const DcmManifest *man, bool osr_only,
                            char *err, size_t n) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, n, "dlopen: %s", dlerror());
    return false;
  }
  if (!package_adopt(h, in->module->wasm, err, n)) {
    dlclose(h);
    return false;
  }
  /* As the agent's loader; the tests want hot code to run unchecked. */
  if (!guard_register_package(h)) {
    snprintf(err, n, "cannot register the package with the fault handler");
    dlclose(h);
    return false;
  }
  if (!remember(h)) {
    snprintf(err, n, "out of memory");
    guard_forget_package(h);
    dlclose(h);
    return false;
  }
  /* Look every symbol up first, so a package is used whole or not at all. */
  FuncEntry *entries = calloc(man->nfuncs ? man->nfuncs : 1, sizeof *entries);
  bool ok = entries != NULL;
  for (uint32_t i = 0; ok && i < man->nfuncs; i++) {
    void *sym = dlsym(h, man->funcs[i].symbol);
    if (!sym) {
      snprintf(err, n, "package lacks %s", man->funcs[i].symbol);
      ok = false;
    }
    memcpy(&entries[i], &sym, sizeof sym); /* object to function pointer */
  }
  for (uint32_t i = 0; ok && i < man->nfuncs; i++) {
    FuncInst *f = in->funcs[man->funcs[i].index];
    char name[32];
    snprintf(name, sizeof name, KILN_PACKAGE_OSR_PREFIX "%u", f->index);
    void *osr = dlsym(h, name);
    memcpy(&f->osr, &osr, sizeof osr);
    if (!osr_only)
      f->entry = entries[i];
  }
  free(entries);
  return ok;
}

static bool compile_and_load(kiln_instance *in, DcmTier tier, const DcmProfile *profile,
                             bool osr_only, char *err, size_t n) {
  const WasmModule *wm = in->module->wasm;
  uint32_t ndef = wm->nfuncs - wm->nfunc_imports;
  if (ndef == 0)
    return true;
  uint32_t *funcs = malloc(ndef * sizeof *funcs);
  if (!funcs) {
    snprintf(err, n, "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < ndef; i++)
    funcs[i] = wm->nfunc_imports + i;
  char path[4096];
  int fd = temp_package(path, sizeof path);
  if (fd < 0) {
    snprintf(err, n, "cannot create a temporary package file");
    free(funcs);
    return false;
  }
  close(fd);
  DcmManifest man;
  bool ok = dcm_compile(wm, funcs, ndef, tier, profile, path, &man, err, n);
  free(funcs);
  if (ok) {
    last_ms = man.compile_ms;
    ok = load_and_switch(in, path, &man, osr_only, err, n);
    dcm_manifest_free(&man);
  }
  unlink(path); /* the mapping stays valid */
  return ok;
}

bool dcm_switch_instance(kiln_instance *in, DcmTier tier, char *err, size_t n) {
  return compile_and_load(in, tier, NULL, false, err, n);
}

bool dcm_switch_profiled(kiln_instance *in, DcmTier tier, const DcmProfile *profile, char *err,
                         size_t n) {
  return compile_and_load(in, tier, profile, false, err, n);
}

bool dcm_switch_osr_body(kiln_instance *in, DcmTier tier, char *err, size_t n) {
  const WasmModule *wm = in->module->wasm;
  uint32_t *all = malloc((wm->nfuncs + 1) * sizeof *all);
  if (!all) {
    snprintf(err, n, "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < wm->nfuncs; i++)
    all[i] = i;
  DcmProfile profile = {.osr_body = all, .nosr_body = wm->nfuncs};
  bool ok = compile_and_load(in, tier, &profile, false, err, n);
  free(all);
  return ok;
}

bool dcm_give_osr(kiln_instance *in, DcmTier tier, char *err, size_t n) {
  return compile_and_load(in, tier, NULL, true, err, n);
}
