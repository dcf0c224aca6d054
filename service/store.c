/*
 * store.c: what kilnd keeps. Modules by hash (decoded and validated once, on
 * upload), and the index of finished packages by content key, which answers a
 * repeated compile request without compiling.
 *
 * Both are small linear arrays: a kilnd serves one user's handful of scripts,
 * and a lookup is one memcmp per entry. Re-partitioning makes many packages
 * over a long life, and /dev/shm is memory: store_evict bounds both the
 * segments and the disk cache, least recently used first, and never takes
 * a segment a process maps.
 *
 * Segments are files in /dev/shm named kiln-UID-KEYHEX.so: per user, because
 * another user's file of the same name must never be trusted or replaced.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kilnd.h"
#ifdef KILN_HAVE_DCM
#include "dcm.h"
#endif

#ifndef KILN_COMPILER_VERSION
#define KILN_COMPILER_VERSION "unknown"
#endif

typedef struct {
  uint8_t key[32];
  char path[256];
  uint8_t *packed; /* the PackageReady as the worker sent it */
  size_t packed_len;
  uint64_t size; /* of the segment */
  double used; /* kd_now() when last put or found */
} Package;

struct Store {
  WasmModule **modules;
  size_t nmodules, cap_modules;
  Package *packages;
  size_t npackages, cap_packages;
};

Store *store_new(void) {
  return calloc(1, sizeof(Store));
}

void store_free(Store *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nmodules; i++)
    wasm_module_free(s->modules[i]);
  free(s->modules);
  for (size_t i = 0; i < s->npackages; i++)
    free(s->packages[i].packed);
  free(s->packages);
  free(s);
}

/* Grows an array by doubling; false on ENOMEM. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return true;
  size_t ncap = *cap ? *cap * 2 : 16;
  void *p = realloc(*arr, ncap * elem);
  if (!p)
    return false;
  *arr = p;
  *cap = ncap;
  return true;
}

const WasmModule *store_find_module(Store *s, const uint8_t *hash, size_t hash_len) {
  if (hash_len != 32)
    return NULL;
  for (size_t i = 0; i < s->nmodules; i++)
    if (memcmp(s->modules[i]->hash, hash, 32) == 0)
      return s->modules[i];
  return NULL;
}

size_t store_module_count(const Store *s) {
  return s->nmodules;
}

const WasmModule *store_add_module(Store *s, const uint8_t *bytes, size_t len, char *err,
                                   size_t errsize) {
  uint8_t hash[32];
  wasm_module_hash(bytes, len, hash);
  const WasmModule *have = store_find_module(s, hash, 32);
  if (have)
    return have; /* validated when it first came */
  WasmError werr;
  WasmModule *m = wasm_decode(bytes, len, &werr);
  if (!m) {
    wasm_format_error(NULL, &werr, err, errsize);
    return NULL;
  }
  if (!wasm_validate(m, &werr)) {
    wasm_format_error(m, &werr, err, errsize);
    wasm_module_free(m);
    return NULL;
  }
  if (!grow((void **)&s->modules, &s->cap_modules, s->nmodules, sizeof *s->modules)) {
    snprintf(err, errsize, "out of memory storing the module");
    wasm_module_free(m);
    return NULL;
  }
  s->modules[s->nmodules++] = m;
  return m;
}

int store_hint_order(const void *a, const void *b) {
  const Kiln__CallHint *x = *(Kiln__CallHint *const *)a, *y = *(Kiln__CallHint *const *)b;
  if (x->caller != y->caller)
    return x->caller < y->caller ? -1 : 1;
  return (x->site > y->site) - (x->site < y->site);
}

void store_package_key(const uint8_t module_hash[32], const uint32_t *funcs, size_t nfuncs,
                       Kiln__Tier tier, const PackageProfile *profile, uint8_t key[32]) {
  /* Every field is length-prefixed or fixed-size, so no two requests hash
   * the same bytes. Integers little-endian, whatever the host. */
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  uint8_t word[4];
#define PUT32(v)                                                                                   \
  do {                                                                                             \
    uint32_t v_ = (uint32_t)(v);                                                                   \
    for (int b_ = 0; b_ < 4; b_++)                                                                 \
      word[b_] = (uint8_t)(v_ >> (8 * b_));                                                        \
    EVP_DigestUpdate(ctx, word, 4);                                                                \
  } while (0)
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    memset(key, 0, 32); /* only if libcrypto itself is broken */
    EVP_MD_CTX_free(ctx);
    return;
  }
  static const char tag[] = "kiln-package-key-1";
  EVP_DigestUpdate(ctx, tag, sizeof tag);
  EVP_DigestUpdate(ctx, module_hash, 32);
  PUT32(tier);
  PUT32(nfuncs);
  for (size_t i = 0; i < nfuncs; i++)
    PUT32(funcs[i]);
  /* No profile hashes as the (never used) options did: those keys stay. */
  size_t nhints = profile ? profile->nhints : 0;
  size_t nplain = profile ? profile->nwithout_osr : 0;
  PUT32(nhints);
  for (size_t i = 0; i < nhints; i++) {
    PUT32(profile->hints[i]->caller);
    PUT32(profile->hints[i]->site);
    PUT32(profile->hints[i]->callee);
  }
  size_t nbranches = profile ? profile->nbranches : 0;
  size_t nbody = profile ? profile->nosr_body : 0;
  if (nplain || nbranches || nbody) {
    PUT32(nplain);
    for (size_t i = 0; i < nplain; i++)
      PUT32(profile->without_osr[i]);
  }
  if (nbranches || nbody) {
    PUT32(nbranches);
    for (size_t i = 0; i < nbranches; i++) {
      PUT32(profile->branches[i]->function_index);
      PUT32(profile->branches[i]->offset);
      PUT32(profile->branches[i]->likely);
    }
  }
  if (nbody) {
    static const char body_tag[] = "osr-body";
    EVP_DigestUpdate(ctx, body_tag, sizeof body_tag);
    PUT32(nbody);
    for (size_t i = 0; i < nbody; i++)
      PUT32(profile->osr_body[i]);
  }
  static const char compiler[] = KILN_COMPILER_VERSION;
  PUT32(sizeof compiler - 1);
  EVP_DigestUpdate(ctx, compiler, sizeof compiler - 1);
#ifdef KILN_HAVE_DCM
  PUT32(dcm_package_generation());
#endif
#undef PUT32
  if (EVP_DigestFinal_ex(ctx, key, &n) != 1 || n != 32)
    memset(key, 0, 32);
  EVP_MD_CTX_free(ctx);
}

void store_segment_name(const uint8_t key[32], char *name, size_t size) {
  char hex[65];
  kiln_hex(key, 32, hex);
  snprintf(name, size, "kiln-%u-%s.so", (unsigned)geteuid(), hex);
}

void store_segment_path(const char *name, char *path, size_t size) {
  snprintf(path, size, "/dev/shm/%s", name);
}

void store_put_package(Store *s, const uint8_t key[32], const Kiln__PackageReady *pkg) {
  Package *p = NULL;
  for (size_t i = 0; i < s->npackages; i++)
    if (memcmp(s->packages[i].key, key, 32) == 0)
      p = &s->packages[i];
  if (!p) {
    if (!grow((void **)&s->packages, &s->cap_packages, s->npackages, sizeof *s->packages))
      return; /* only costs a recompile next time */
    p = &s->packages[s->npackages++];
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, 32);
  }
  free(p->packed);
  p->packed_len = kiln__package_ready__get_packed_size(pkg);
  p->packed = malloc(p->packed_len ? p->packed_len : 1);
  if (!p->packed) {
    p->packed_len = 0;
    return;
  }
  kiln__package_ready__pack(pkg, p->packed);
  store_segment_path(pkg->segment, p->path, sizeof p->path);
  p->size = pkg->size;
  p->used = kd_now();
}

Kiln__PackageReady *store_find_package(Store *s, const uint8_t key[32]) {
  for (size_t i = 0; i < s->npackages; i++) {
    Package *p = &s->packages[i];
    if (memcmp(p->key, key, 32) != 0 || !p->packed)
      continue;
    /* Someone may have cleaned /dev/shm; then it is compiled again. */
    if (access(p->path, R_OK) != 0)
      return NULL;
    p->used = kd_now();
    return kiln__package_ready__unpack(NULL, p->packed_len, p->packed);
  }
  return NULL;
}

/* Whether any process we can see maps path: its /proc/PID/maps names it.
 * Processes of other users are unreadable, but they cannot open our 0400
 * segments either. */
static bool is_mapped(const char *path) {
  DIR *d = opendir("/proc");
  if (!d)
    return true; /* cannot tell: keep it */
  bool found = false;
  size_t plen = strlen(path);
  struct dirent *e;
  char line[4352];
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    char maps[300];
    snprintf(maps, sizeof maps, "/proc/%s/maps", e->d_name);
    FILE *f = fopen(maps, "re");
    if (!f)
      continue;
    while (fgets(line, sizeof line, f)) {
      /* The path is the last field; a deleted file gets " (deleted)". */
      char *hit = strstr(line, path);
      if (hit && (hit[plen] == '\n' || hit[plen] == ' ' || hit[plen] == '\0')) {
        found = true;
        break;
      }
    }
    fclose(f);
  }
  closedir(d);
  return found;
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path, char *err, size_t errsize) {
  struct stat st;
  if (mkdir(path, 0700) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
    return 0;
  snprintf(err, errsize, "cannot create the directory %s: %s", path,
           errno == EEXIST ? "not a directory" : strerror(errno));
  return -1;
}

static int make_cache_dir(const char *dir, char *err, size_t errsize) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
    snprintf(err, errsize, "the cache path is too long");
    return -1;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    int failed = make_dir(path, err, errsize);
    *p = '/';
    if (failed)
      return -1;
  }
  return make_dir(path, err, errsize);
}

bool store_keep_cache_dir(const char *dir, bool *lost) {
  struct stat st;
  /* ENOTDIR: a file took a parent's place; make_dir then says which. */
  if (stat(dir, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
    return false;
  char err[4300];
  bool made = make_cache_dir(dir, err, sizeof err) == 0;
  if (made)
    kd_log("cache directory %s was removed: made it again (what it held is lost)", dir);
  else if (!*lost)
    kd_log("cache directory %s was removed: %s; nothing is kept", dir, err);
  *lost = !made;
  return made;
}

int store_cache_dir(const char *configured, char *buf, size_t size, char *err, size_t errsize) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char parent[4096];
  int n;
  if (configured) {
    n = snprintf(buf, size, "%s", configured);
    parent[0] = '\0';
  } else if (xdg && xdg[0] == '/') { /* the XDG spec: relative values are ignored */
    snprintf(parent, sizeof parent, "%s", xdg);
    n = snprintf(buf, size, "%s/kiln", xdg);
  } else if (home && home[0] == '/') {
    snprintf(parent, sizeof parent, "%s/.cache", home);
    n = snprintf(buf, size, "%s/.cache/kiln", home);
  } else {
    snprintf(err, errsize, "neither XDG_CACHE_HOME nor HOME is set (use --cache DIR)");
    return -1;
  }
  if (n < 0 || (size_t)n >= size) {
    snprintf(err, errsize, "the cache path is too long");
    return -1;
  }
  if (buf[0] != '/') {
    snprintf(err, errsize, "the cache directory must be an absolute path, not '%s'", buf);
    return -1;
  }
  if (parent[0] && make_dir(parent, err, errsize) != 0)
    return -1;
  return make_dir(buf, err, errsize);
}

void store_remove_segments(Store *s) {
  for (size_t i = 0; i < s->npackages; i++) {
    const char *path = s->packages[i].path;
    if (!path[0] || access(path, F_OK) != 0)
      continue;
    if (is_mapped(path)) {
      kd_log("keeping segment %s: an agent maps it", path);
      continue;
    }
    if (unlink(path) != 0)
      kd_log("cannot remove segment %s: %s", path, strerror(errno));
  }
}

/* --- bounds ------------------------------------------------------------------ */

/* A package answered this recently may not be mapped yet by the agent it
 * was answered to: it stays. */
#define EVICT_GRACE_S 2.0

static void log_eviction(const char *what, const char *path, uint64_t bytes, double idle_s) {
  kd_log("evicted %s %s (%llu KiB, unused for %.0f s)", what, path,
         (unsigned long long)(bytes >> 10), idle_s);
}

/* Segments first: the index's, least recently used first, until they fit;
 * one a process maps stays (its pages are in use anyway). The package
 * stays in the disk cache, so it comes back without compiling. */
static void evict_segments(Store *s, uint64_t max_bytes) {
  uint64_t total = 0;
  for (size_t i = 0; i < s->npackages; i++)
    if (access(s->packages[i].path, F_OK) == 0)
      total += s->packages[i].size;
  double now = kd_now();
  bool *tried = calloc(s->npackages + 1, sizeof *tried);
  while (tried && total > max_bytes) {
    size_t lru = SIZE_MAX;
    for (size_t i = 0; i < s->npackages; i++)
      if (!tried[i] && now - s->packages[i].used >= EVICT_GRACE_S &&
          access(s->packages[i].path, F_OK) == 0 &&
          (lru == SIZE_MAX || s->packages[i].used < s->packages[lru].used))
        lru = i;
    if (lru == SIZE_MAX)
      break;
    tried[lru] = true;
    Package *p = &s->packages[lru];
    if (is_mapped(p->path) || unlink(p->path) != 0)
      continue;
    total -= p->size;
    log_eviction("segment", p->path, p->size, now - p->used);
    free(p->packed);
    *p = s->packages[--s->npackages];
    memmove(tried + lru, tried + lru + 1, (s->npackages - lru) * sizeof *tried);
    tried[lru] = false; /* the entry moved here was not tried */
  }
  free(tried);
}

typedef struct {
  char name[80]; /* KEYHEX, without .so / .pkg */
  uint64_t bytes;
  double mtime;
} CacheEntry;

static int older_first(const void *a, const void *b) {
  double x = ((const CacheEntry *)a)->mtime, y = ((const CacheEntry *)b)->mtime;
  return x < y ? -1 : x > y;
}

/* The disk cache: its packages (KEY.so with KEY.pkg) by last use, which is
 * their mtime (the worker touches an entry it answers from). */
static void evict_cache(const char *dir, uint64_t max_bytes, double grace_s) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  CacheEntry *e = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (len < 4 || len >= sizeof e->name + 3 || strcmp(de->d_name + len - 3, ".so") != 0)
      continue;
    char path[4400];
    struct stat st, pst;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat(path, &st) != 0)
      continue;
    if (n == cap && !grow((void **)&e, &cap, n, sizeof *e))
      break;
    CacheEntry *c = &e[n++];
    snprintf(c->name, sizeof c->name, "%.*s", (int)(len - 3), de->d_name);
    c->bytes = (uint64_t)st.st_size;
    c->mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
    snprintf(path, sizeof path, "%s/%s.pkg", dir, c->name);
    if (stat(path, &pst) == 0)
      c->bytes += (uint64_t)pst.st_size;
    total += c->bytes;
  }
  closedir(d);
  if (total > max_bytes && n)
    qsort(e, n, sizeof *e, older_first);
  double now = (double)time(NULL);
  for (size_t i = 0; i < n && total > max_bytes; i++) {
    if (now - e[i].mtime < grace_s)
      break; /* the rest is newer still */
    char so[4400], pkg[4400];
    snprintf(so, sizeof so, "%s/%s.so", dir, e[i].name);
    snprintf(pkg, sizeof pkg, "%s/%s.pkg", dir, e[i].name);
    /* The .pkg first: without it the .so is never taken for a package. */
    if (unlink(pkg) != 0 && errno != ENOENT)
      continue;
    unlink(so);
    total -= e[i].bytes;
    log_eviction("cached package", so, e[i].bytes, now - e[i].mtime);
  }
  free(e);
}

void store_evict(Store *s, uint64_t max_segment_bytes, const char *cache_dir,
                 uint64_t max_cache_bytes) {
  evict_segments(s, max_segment_bytes);
  if (cache_dir)
    evict_cache(cache_dir, max_cache_bytes, EVICT_GRACE_S);
}

/* --- small files, whole -------------------------------------------------------- */

bool store_write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

bool store_write_file(const char *path, const uint8_t *bytes, size_t len) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && store_write_all(fd, bytes, len);
  if (fd >= 0 && close(fd) != 0)
    ok = false;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return false;
  }
  return true;
}

uint8_t *store_read_file(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  uint8_t *buf = NULL;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      (uint64_t)st.st_size <= max && (buf = malloc((size_t)st.st_size))) {
    size_t n = 0;
    while (n < (size_t)st.st_size) {
      ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      n += (size_t)got;
    }
    if (n != (size_t)st.st_size) {
      free(buf);
      buf = NULL;
    }
    *len = n;
  }
  if (fd >= 0)
    close(fd);
  return buf;
}
