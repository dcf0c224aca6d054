/*
 * loader.c: the Dynamic Package Loader, and kiln_instance_compile.
 *
 * kilnd answers a compile request with the name of a shared-memory segment
 * holding an ELF shared object (abi/kiln_package_abi.h). The loader trusts
 * nothing in that reply: the segment must be a regular file of this user
 * that nobody else can write, of the announced size and SHA-256, and the
 * object inside must speak this agent's package ABI and have been built for
 * this very module. Only then are the functions' entries switched, all of
 * them or none.
 *
 * The segment is hashed and then dlopen'ed through the same open file
 * (/proc/self/fd/N), so the bytes checked are the bytes mapped. The mapping
 * is shared and read-only: every process that runs the module at that tier
 * maps the same physical pages. A package kiln_instance_compile maps
 * stays mapped until its runtime is freed; one of the tiering thread's
 * goes once no function points into it any more and no frame can run it
 * (package_unused, package_release, release.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kiln_package_elf.h"
#include "loader.h"
#include "monitor.h"
#include "package_abi.h"
#include "runtime.h"
#include "service_client.h"

/* Where kilnd publishes segments; anything else in a reply is refused. */
#define SEGMENT_DIR "/dev/shm/"

static void kept_package_free(void *handle) {
  dlclose(handle);
}

/* A package whose code the fault handler knows (guard.c): it forgets it
 * first, since the addresses may hold other code next. */
static void kept_guarded_package_free(void *handle) {
  guard_forget_package(handle);
  dlclose(handle);
}

/* True if the loaded object h was mapped from the file st describes: the
 * /proc/self/maps line holding its dynamic section names device and inode. */
static bool object_from_file(void *h, const struct stat *st) {
  struct link_map *lm = NULL;
  FILE *maps = dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 ? fopen("/proc/self/maps", "re") : NULL;
  if (!maps)
    return false;
  bool same = false;
  char line[512];
  while (fgets(line, sizeof line, maps)) {
    uintptr_t lo, hi;
    unsigned maj, min;
    unsigned long long ino;
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %x:%x %llu", &lo, &hi, &maj, &min, &ino) ==
            5 &&
        (uintptr_t)lm->l_ld >= lo && (uintptr_t)lm->l_ld < hi) {
      same = ino == (unsigned long long)st->st_ino && maj == major(st->st_dev) &&
             min == minor(st->st_dev);
      break;
    }
  }
  fclose(maps);
  return same;
}

/* dlopen knows objects by name (and by file) and hands back the one already
 * loaded under it: /proc/self/fd/N names whatever file N held when an
 * earlier package was opened through it. That is right when it is this
 * very segment, and wrong otherwise; then the segment gets a descriptor
 * number no loaded object is named after. Takes fd; returns it or a
 * duplicate, or -1 with every descriptor closed. */
static int fresh_fd_name(int fd, char *path, size_t n) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return -1;
  }
  for (;;) {
    snprintf(path, n, "/proc/self/fd/%d", fd);
    void *old = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    bool taken = old && !object_from_file(old, &st);
    if (old)
      dlclose(old);
    if (!taken)
      return fd;
    /* The next number up that is free: numbers only rise, so the one
     * closed here never comes back, and past the descriptor limit there
     * is none (as many tries as there are names taken). */
    int next = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
    close(fd);
    if (next < 0)
      return -1;
    fd = next;
  }
}

/* The reply's promises about the module and its functions. */
static bool check_reply(const Instance *in, const Kiln__PackageReady *p, char *err, size_t n) {
  const WasmModule *wm = in->module->wasm;
  if (p->module_hash.len != 32 || memcmp(p->module_hash.data, wm->hash, 32) != 0) {
    snprintf(err, n, "package is for another module");
    return false;
  }
  if (p->content_hash.len != 32) {
    snprintf(err, n, "package reply has no content hash");
    return false;
  }
  for (size_t i = 0; i < p->n_entries; i++) {
    uint32_t x = p->entries[i]->function_index;
    if (x < wm->nfunc_imports || x >= wm->nfuncs || !p->entries[i]->symbol) {
      snprintf(err, n, "package lists function %u, which the module does not define", x);
      return false;
    }
  }
  const char *name = p->path ? p->path + strlen(SEGMENT_DIR) : NULL;
  if (!p->path || strncmp(p->path, SEGMENT_DIR, strlen(SEGMENT_DIR)) != 0 || !*name ||
      strchr(name, '/') || strcmp(name, "..") == 0) {
    snprintf(err, n, "package path '%s' is not a segment under " SEGMENT_DIR,
             p->path ? p->path : "");
    return false;
  }
  return true;
}

/* Opens the segment and checks its owner, mode, size and SHA-256. Its
 * bytes stay mapped at *bytes (p->size of them) for the caller to unmap. */
static int open_segment(const Kiln__PackageReady *p, const uint8_t **bytes_out, char *err,
                        size_t n) {
  int fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    snprintf(err, n, "%s: %s", p->path, strerror(errno));
    return -1;
  }
  struct stat st;
  const char *why = NULL;
  void *bytes = MAP_FAILED;
  if (fstat(fd, &st) != 0)
    why = strerror(errno);
  else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
    why = "not a regular file of this user, closed to others' writes";
  else if ((uint64_t)st.st_size != p->size || st.st_size == 0)
    why = "not the size kilnd announced";
  else if ((bytes = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
    why = strerror(errno);
  if (!why) {
    uint8_t digest[32];
    wasm_module_hash(bytes, (size_t)st.st_size, digest); /* SHA-256, as kilnd's */
    if (memcmp(digest, p->content_hash.data, 32) != 0)
      why = "its contents do not match the announced hash";
  }
  if (why) {
    if (bytes != MAP_FAILED)
      munmap(bytes, (size_t)st.st_size);
    snprintf(err, n, "%s: %s", p->path, why);
    close(fd);
    return -1;
  }
  *bytes_out = bytes;
  return fd;
}

typedef struct {
  const Instance *in;
  uintptr_t base; /* where the object is loaded */
  LoadedPackage *pkg; /* its spans, as they are made */
  size_t cap;
} CodeMapping;

static void map_function(const char *name, uint64_t value, uint64_t len, void *arg) {
  CodeMapping *cm = arg;
  const WasmModule *wm = cm->in->module->wasm;
  int64_t x = kiln_elf_function_index(name);
  if (x < wm->nfunc_imports || x >= wm->nfuncs || len == 0)
    return;
  LoadedPackage *pkg = cm->pkg;
  if (pkg->nspans == cm->cap) {
    /* Without room to remember it, a span could not be taken back when
     * the package goes: then it is not made (its time goes to callers). */
    size_t cap = cm->cap ? cm->cap * 2 : 16;
    LoadedSpan *spans = realloc(pkg->spans, cap * sizeof *spans);
    if (!spans)
      return;
    pkg->spans = spans;
    cm->cap = cap;
  }
  uintptr_t lo = cm->base + (uintptr_t)value, hi = lo + (uintptr_t)len;
  const FuncInst *f = cm->in->funcs[x];
  if (monitor_map_code(lo, hi, f))
    pkg->spans[pkg->nspans++] = (LoadedSpan){lo, hi, f->prof};
}

/* Tells the sampler whose code each function symbol of the package is, so
 * that self time in it is charged there (monitor.c). A package whose
 * symbols cannot be read still runs; its time goes to its callers. */
static void map_code(const Instance *in, void *h, const uint8_t *bytes, size_t size,
                     LoadedPackage *pkg) {
  struct link_map *lm = NULL;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
    return;
  CodeMapping cm = {in, (uintptr_t)lm->l_addr, pkg, 0};
  kiln_elf_functions(bytes, size, SHT_SYMTAB, map_function, &cm);
}

static void unmap_code(LoadedPackage *pkg) {
  for (size_t i = 0; i < pkg->nspans; i++)
    monitor_unmap_code(pkg->spans[i].lo, pkg->spans[i].hi, pkg->spans[i].prof);
  free(pkg->spans);
  pkg->spans = NULL;
  pkg->nspans = 0;
}

/* The lowest and highest address of the loaded object whose load bias
 * (link_map l_addr) is extent[0]: every entry into it points there. */
static int visit_extent(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  uintptr_t *extent = data;
  if (info->dlpi_addr != extent[0])
    return 0;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    lo = a < lo ? a : lo;
    hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
  }
  extent[1] = lo;
  extent[2] = hi;
  return 1;
}

static bool object_extent(void *h, uintptr_t *lo, uintptr_t *hi) {
  struct link_map *lm = NULL;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
    return false;
  uintptr_t extent[3] = {(uintptr_t)lm->l_addr, 0, 0};
  dl_iterate_phdr(visit_extent, extent);
  *lo = extent[1];
  *hi = extent[2];
  return extent[1] < extent[2];
}

bool package_adopt(void *h, const WasmModule *wm, char *err, size_t n) {
  const uint32_t *abi = dlsym(h, KILN_PACKAGE_SYM_ABI);
  const uint8_t *hash = dlsym(h, KILN_PACKAGE_SYM_HASH);
  KilnPackageImports *imports = dlsym(h, KILN_PACKAGE_SYM_IMPORTS);
  if (!abi || !hash || !imports) {
    snprintf(err, n, "package lacks its ABI symbols");
    return false;
  }
  if (*abi != KILN_PACKAGE_ABI_VERSION) {
    snprintf(err, n, "package ABI %u, this agent speaks %u", *abi, KILN_PACKAGE_ABI_VERSION);
    return false;
  }
  if (memcmp(hash, wm->hash, 32) != 0) {
    snprintf(err, n, "package was built for another module");
    return false;
  }
  *imports = kiln_package_imports_default();
  return true;
}

/* Maps the package and switches the listed functions of `in` to it. */
bool package_load(Instance *in, const Kiln__PackageReady *p, LoadedPackage *out, char *err,
                  size_t n) {
  if (!check_reply(in, p, err, n))
    return false;
  const uint8_t *bytes;
  int fd = open_segment(p, &bytes, err, n);
  if (fd < 0)
    return false;
  char proc_path[64];
  int named = fresh_fd_name(fd, proc_path, sizeof proc_path);
  void *h = named < 0 ? NULL : dlopen(proc_path, RTLD_NOW | RTLD_LOCAL);
  LoadedPackage pkg = {.handle = h};
  if (named < 0)
    snprintf(err, n, "%s: no descriptor to load it through", p->path);
  else if (!h)
    snprintf(err, n, "%s: %s", p->path, dlerror());
  else
    map_code(in, h, bytes, p->size, &pkg);
  munmap((void *)bytes, p->size);
  if (named >= 0)
    close(named); /* the mapping outlives the descriptor */
  if (!h)
    return false;
  FuncEntry *entries = calloc(p->n_entries + 1, sizeof *entries);
  pkg.funcs = calloc(p->n_entries + 1, sizeof *pkg.funcs);
  bool ok = entries && pkg.funcs && package_adopt(h, in->module->wasm, err, n);
  if (ok && !object_extent(h, &pkg.lo, &pkg.hi)) {
    snprintf(err, n, "%s: cannot tell where it was loaded", p->path);
    ok = false;
  }
  /* Every symbol first, so that a package is used whole or not at all. */
  for (size_t i = 0; ok && i < p->n_entries; i++) {
    void *sym = dlsym(h, p->entries[i]->symbol);
    if (!sym) {
      snprintf(err, n, "package lacks %s", p->entries[i]->symbol);
      ok = false;
    }
    memcpy(&entries[i], &sym, sizeof sym); /* object to function pointer */
  }
  /* Unregistered, a hot package runs its functions in the interpreter. */
  bool guarded = ok && guard_register_package(h);
  if (!ok) {
    if (!entries || !pkg.funcs)
      snprintf(err, n, "out of memory");
    free(entries);
    free(pkg.funcs);
    unmap_code(&pkg);
    if (guarded)
      guard_forget_package(h);
    dlclose(h);
    return false;
  }
  uint8_t tier = p->tier == KILN__TIER__TIER_HOT ? KILN_TIER_HOT : KILN_TIER_WARM;
  for (size_t i = 0; i < p->n_entries; i++) {
    FuncInst *f = in->funcs[p->entries[i]->function_index];
    char name[32];
    snprintf(name, sizeof name, KILN_PACKAGE_OSR_PREFIX "%u", f->index);
    void *osr = dlsym(h, name);
    OsrEntry entry_at_loop;
    memcpy(&entry_at_loop, &osr, sizeof osr); /* object to function pointer */
    __atomic_store_n(&f->osr, entry_at_loop, __ATOMIC_RELEASE);
    __atomic_store_n(&f->tier, tier, __ATOMIC_RELAXED);
    __atomic_store_n(&f->entry, entries[i], __ATOMIC_RELEASE);
    pkg.funcs[pkg.nfuncs++] = f->index;
  }
  free(entries);
  pkg.guarded = guarded;
  snprintf(pkg.segment, sizeof pkg.segment, "%s", p->path + strlen(SEGMENT_DIR));
  *out = pkg;
  return true;
}

bool package_keep(kiln_runtime *rt, LoadedPackage pkg) {
  /* Mapped for good: the module's end takes its code map entries
   * (monitor_unmap_profiles), and the handle is all that is left to free. */
  free(pkg.spans);
  free(pkg.funcs);
  return runtime_on_free(rt, pkg.guarded ? kept_guarded_package_free : kept_package_free,
                         pkg.handle);
}

static bool points_into(const void *entry, const LoadedPackage *pkg) {
  uintptr_t a = (uintptr_t)entry;
  return a >= pkg->lo && a < pkg->hi;
}

bool package_unused(const Instance *in, const LoadedPackage *pkg, char *why, size_t n) {
  const WasmModule *wm = in->module->wasm;
  for (uint32_t i = wm->nfunc_imports; i < wm->nfuncs; i++) {
    FuncInst *f = in->funcs[i];
    FuncEntry entry = __atomic_load_n(&f->entry, __ATOMIC_ACQUIRE);
    OsrEntry osr = __atomic_load_n(&f->osr, __ATOMIC_ACQUIRE);
    void *e, *o;
    memcpy(&e, &entry, sizeof e); /* function to object pointer */
    memcpy(&o, &osr, sizeof o);
    if (points_into(e, pkg) || (osr && points_into(o, pkg)))
      return false;
  }
  size_t cold = 0;
  for (size_t i = 0; i < pkg->nfuncs; i++)
    cold += __atomic_load_n(&in->funcs[pkg->funcs[i]]->entry, __ATOMIC_RELAXED) == interp_entry;
  if (pkg->nfuncs == 1)
    snprintf(why, n, "its one function %s",
             cold ? "went back to the interpreter" : "moved to another package");
  else if (cold == pkg->nfuncs)
    snprintf(why, n, "its %zu functions went back to the interpreter", pkg->nfuncs);
  else if (cold == 0)
    snprintf(why, n, "its %zu functions moved to other packages", pkg->nfuncs);
  else
    snprintf(why, n, "of its %zu functions %zu went back to the interpreter, %zu to other packages",
             pkg->nfuncs, cold, pkg->nfuncs - cold);
  return true;
}

void package_release(LoadedPackage *pkg) {
  unmap_code(pkg);
  if (pkg->guarded)
    guard_forget_package(pkg->handle);
  dlclose(pkg->handle);
  free(pkg->funcs);
  pkg->funcs = NULL;
  pkg->handle = NULL;
}

static void fill_info(kiln_compile_info *info, const Kiln__PackageReady *p) {
  memset(info, 0, sizeof *info);
  info->functions = (uint32_t)p->n_entries;
  info->package_bytes = p->size;
  info->compile_ms = (double)p->compile_time_us / 1000.0;
  info->cached = p->cached;
  snprintf(info->segment, sizeof info->segment, "%s", p->segment ? p->segment : "");
}

kiln_status kiln_instance_compile(kiln_instance *in, kiln_tier tier, kiln_compile_info *info) {
  kiln_runtime *rt = in->rt;
  const WasmModule *wm = in->module->wasm;
  uint32_t ndef = wm->nfuncs - wm->nfunc_imports;
  if (info)
    memset(info, 0, sizeof *info);
  if (tier == KILN_TIER_COLD) {
    for (uint32_t i = wm->nfunc_imports; i < wm->nfuncs; i++) {
      __atomic_store_n(&in->funcs[i]->osr, NULL, __ATOMIC_RELAXED);
      __atomic_store_n(&in->funcs[i]->tier, KILN_TIER_COLD, __ATOMIC_RELAXED);
      __atomic_store_n(&in->funcs[i]->entry, interp_entry, __ATOMIC_RELEASE);
    }
    if (info)
      info->functions = ndef;
    return KILN_OK;
  }
  if (tier != KILN_TIER_WARM && tier != KILN_TIER_HOT) {
    runtime_error(rt, "%s: unknown tier %d", in->name, (int)tier);
    return KILN_ERROR;
  }
  if (ndef == 0)
    return KILN_OK;
  /* Hot code relies on the memory's guard instead of bounds checks; with
   * less reserved (ulimit -v) its functions would all run interpreted,
   * behind a package that claims otherwise. Say so instead. */
  if (tier == KILN_TIER_HOT && in->mem0 && !memory_guarded(in->mem0)) {
    runtime_fail(rt, KILN_ERROR,
                 "%s: no hot tier: its memory has %zu MiB of address space, hot code needs %zu "
                 "MiB (see ulimit -v)",
                 in->name, in->mem0->reserved >> 20, MEMORY_GUARDED_RESERVE >> 20);
    return KILN_ERROR;
  }

  char err[480];
  const kiln_config *cfg = runtime_config(rt);
  ServiceClient **client = runtime_service(rt);
  kiln_status st = KILN_OK;
  if (!*client)
    st = service_connect(cfg->service_endpoint, cfg->service_timeout_ms, client, err, sizeof err);
  uint32_t *funcs = st == KILN_OK ? malloc(ndef * sizeof *funcs) : NULL;
  if (st == KILN_OK && !funcs) {
    snprintf(err, sizeof err, "out of memory");
    st = KILN_ERROR;
  }
  Kiln__PackageReady *pkg = NULL;
  if (st == KILN_OK) {
    for (uint32_t i = 0; i < ndef; i++)
      funcs[i] = wm->nfunc_imports + i;
    Kiln__Tier t = tier == KILN_TIER_HOT ? KILN__TIER__TIER_HOT : KILN__TIER__TIER_WARM;
    st = service_compile(*client, wm, funcs, ndef, t, &pkg, err, sizeof err);
  }
  free(funcs);
  if (st == KILN_UNAVAILABLE && *client) {
    /* Reconnect next time: the service may be back by then. */
    service_close(*client);
    *client = NULL;
  }
  LoadedPackage loaded;
  if (st == KILN_OK && !package_load(in, pkg, &loaded, err, sizeof err))
    st = KILN_ERROR;
  if (st == KILN_OK && !package_keep(rt, loaded)) {
    /* Its code may run already: it stays mapped for the process's life. */
    snprintf(err, sizeof err, "out of memory");
    st = KILN_ERROR;
  }
  if (st == KILN_OK && info)
    fill_info(info, pkg);
  if (pkg)
    kiln__package_ready__free_unpacked(pkg, NULL);
  if (st != KILN_OK)
    runtime_fail(rt, st, "%s: no %s tier: %s", in->name, tier == KILN_TIER_HOT ? "hot" : "warm",
                 err);
  return st;
}
