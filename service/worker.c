/*
 * worker.c: a compiler worker process (kilnd --worker ENDPOINT).
 *
 * It connects a DEALER to the broker, says WorkerReady, then takes one
 * CompileJob at a time: decode and validate the module (the broker already
 * did, but a worker trusts only what it checks), compile the functions with
 * the DCM into a temporary file in /dev/shm, hash it, make it read-only, and
 * rename it to the segment's name, so an agent never sees a half-written
 * package. The answer is PackageReady or Error.
 *
 * With a cache directory (--cache), a job is first looked up there by its
 * content key, and every package compiled is copied there: the next kilnd,
 * after a reboot even, answers the same request without compiling.
 *
 * Each compile runs in a child process of the worker, which sends the
 * answer the child hands back through a pipe. libgccjit 12 keeps state
 * between contexts, and a process that has compiled a few packages at -O3
 * crashes in the next one; a fresh process per compile never does, and a
 * compiler crash then costs one job, not the worker.
 *
 * A worker has no signal handling: the broker stops it with SIGTERM or
 * SIGKILL, and PR_SET_PDEATHSIG kills it (and a compiling child of it) if
 * its parent dies first.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "kilnd.h"

#ifdef KILN_HAVE_DCM
#include "dcm.h"
#endif

bool worker_have_compiler(void) {
#ifdef KILN_HAVE_DCM
  return true;
#else
  return false;
#endif
}

/* Where a job's answer goes: the broker's socket, or, in the child that
 * compiles, the pipe to its worker. `worker` is the worker's pid, which
 * names the job's temporary files (the broker removes them if it dies). */
typedef struct {
  void *sock;
  int fd;
  pid_t worker;
} Reply;

static void reply_send(Reply *r, Kiln__Envelope *env) {
  if (r->sock) {
    if (kiln_frame_send(r->sock, env, 0) < 0)
      kd_log("worker: cannot reply: %s", zmq_strerror(errno));
    return;
  }
  size_t len;
  uint8_t *buf = kiln_frame_pack(env, &len);
  if (!buf || !store_write_all(r->fd, buf, len))
    kd_log("worker: cannot hand the answer over: %s", strerror(errno));
  free(buf);
}

static void reply_error(Reply *r, uint64_t id, Kiln__ErrorCode code, const char *msg) {
  Kiln__Error e = KILN__ERROR__INIT;
  e.code = code;
  e.message = (char *)msg;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = id;
  env.body_case = KILN__ENVELOPE__BODY_ERROR;
  env.error = &e;
  reply_send(r, &env);
}

#ifdef KILN_HAVE_DCM
/* SHA-256 and size of an open file, read from the start. */
static bool hash_file(int fd, uint8_t out[32], uint64_t *size) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  uint8_t buf[65536];
  ssize_t n;
  *size = 0;
  while (ok && (n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      ok = false;
      break;
    }
    EVP_DigestUpdate(ctx, buf, (size_t)n);
    *size += (uint64_t)n;
  }
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 32;
  EVP_MD_CTX_free(ctx);
  return ok;
}

/* Copies the file src to a new file dst (mode 0400 once complete), hashing
 * the bytes on the way. On failure nothing is left at dst. */
static bool copy_file(const char *src, const char *dst, uint8_t digest[32], uint64_t *size) {
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0)
    return false;
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = out >= 0 && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  uint8_t buf[65536];
  ssize_t n;
  *size = 0;
  while (ok && (n = read(in, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    ok =
        n > 0 && store_write_all(out, buf, (size_t)n) && EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
    *size += n > 0 ? (uint64_t)n : 0;
  }
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 32 && fchmod(out, 0400) == 0;
  EVP_MD_CTX_free(ctx);
  close(in);
  if (out >= 0 && close(out) != 0)
    ok = false;
  if (!ok && out >= 0)
    unlink(dst);
  return ok;
}

/* The package's two files in the cache: KEY.so, and KEY.pkg (its packed
 * PackageReady: manifest, content hash). */
static void cache_paths(const char *cache, const Kiln__CompileJob *job, char *so, char *pkg,
                        size_t size) {
  char hex[65];
  kiln_hex(job->key.data, 32, hex);
  snprintf(so, size, "%s/%s.so", cache, hex);
  snprintf(pkg, size, "%s/%s.pkg", cache, hex);
}

/* Answers the job from the on-disk cache if it holds the package intact:
 * copies it into its segment, checks the content hash, then publishes it. */
static bool from_cache(Reply *r, uint64_t id, const char *cache, const Kiln__CompileJob *job,
                       const char *path) {
  char sof[4200], pkgf[4200], tmp[320];
  cache_paths(cache, job, sof, pkgf, sizeof sof);
  int fd = open(pkgf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return false; /* the usual miss */
  uint8_t buf[1 << 16]; /* a manifest is far smaller; larger is not ours */
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  Kiln__PackageReady *cached =
      n > 0 && n < (ssize_t)sizeof buf ? kiln__package_ready__unpack(NULL, (size_t)n, buf) : NULL;
  uint8_t digest[32];
  uint64_t size = 0;
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)r->worker);
  bool ok = cached && cached->content_hash.len == 32 && copy_file(sof, tmp, digest, &size);
  if (ok && (size != cached->size || memcmp(digest, cached->content_hash.data, 32) != 0)) {
    kd_log("worker: cache entry %s is damaged; compiling again", sof);
    unlink(tmp);
    ok = false;
  }
  if (ok && rename(tmp, path) != 0) {
    unlink(tmp);
    ok = false;
  }
  if (ok) {
    /* Used now: the cache's bound removes the least recently used first
     * (store_evict), by this time. */
    utimensat(AT_FDCWD, sof, NULL, 0);
    /* The names are this run's (the same for this user), the rest as cached. */
    char *old_segment = cached->segment, *old_path = cached->path;
    cached->segment = job->segment;
    cached->path = (char *)path;
    cached->cached = true;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    env.request_id = id;
    env.body_case = KILN__ENVELOPE__BODY_PACKAGE_READY;
    env.package_ready = cached;
    reply_send(r, &env);
    cached->segment = old_segment;
    cached->path = old_path;
  }
  if (cached)
    kiln__package_ready__free_unpacked(cached, NULL);
  return ok;
}

/* Keeps a published package for later runs; failures cost only a compile. */
static void to_cache(const char *cache, const Kiln__CompileJob *job, const char *path,
                     const Kiln__PackageReady *pkg) {
  char sof[4200], pkgf[4200], tmp[4300];
  cache_paths(cache, job, sof, pkgf, sizeof sof);
  uint8_t digest[32];
  uint64_t size;
  /* The .so goes first: a .pkg is only ever found next to its .so. */
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", sof, (int)getpid());
  bool copied = copy_file(path, tmp, digest, &size);
  /* Removed since the broker last looked (it looks once a second). */
  if (!copied && errno == ENOENT) {
    bool lost = false;
    if (store_keep_cache_dir(cache, &lost))
      copied = copy_file(path, tmp, digest, &size);
    else
      errno = ENOENT; /* the reason below, whatever its log line left in errno */
  }
  if (!copied || rename(tmp, sof) != 0) {
    unlink(tmp);
    kd_log("worker: cannot add %s to the cache: %s", sof, strerror(errno));
    return;
  }
  uint8_t *buf = malloc(kiln__package_ready__get_packed_size(pkg) + 1);
  if (!buf || !store_write_file(pkgf, buf, kiln__package_ready__pack(pkg, buf)))
    kd_log("worker: cannot add %s to the cache", pkgf);
  free(buf);
}

static void compile_job(Reply *r, uint64_t id, const Kiln__CompileJob *job, const char *cache) {
  char err[512];
  const Kiln__CompileRequest *req = job->request;
  if (!req || !job->segment || !*job->segment || strchr(job->segment, '/') || job->key.len != 32) {
    reply_error(r, id, KILN__ERROR_CODE__ERROR_INTERNAL, "worker got an incomplete job");
    return;
  }
  char path[256], tmp[300];
  store_segment_path(job->segment, path, sizeof path);
  if (cache && from_cache(r, id, cache, job, path))
    return;
  WasmError werr;
  WasmModule *m = wasm_decode(job->module.data, job->module.len, &werr);
  if (!m || !wasm_validate(m, &werr)) {
    wasm_format_error(m, &werr, err, sizeof err);
    wasm_module_free(m);
    reply_error(r, id, KILN__ERROR_CODE__ERROR_INVALID_MODULE, err);
    return;
  }
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)r->worker);
  DcmManifest man;
  memset(&man, 0, sizeof man);
  DcmTier tier = req->tier == KILN__TIER__TIER_HOT ? DCM_HOT : DCM_WARM;
  DcmCallHint *hints = calloc(req->n_hints + 1, sizeof *hints);
  for (size_t i = 0; hints && i < req->n_hints; i++)
    hints[i] = (DcmCallHint){req->hints[i]->caller, req->hints[i]->site, req->hints[i]->callee};
  DcmBranchHint *branches = calloc(req->n_branch_hints + 1, sizeof *branches);
  for (size_t i = 0; branches && i < req->n_branch_hints; i++)
    branches[i] = (DcmBranchHint){req->branch_hints[i]->function_index,
                                  req->branch_hints[i]->offset, req->branch_hints[i]->likely};
  DcmProfile profile = {.hints = hints,
                        .nhints = req->n_hints,
                        .without_osr = req->without_osr,
                        .nwithout_osr = req->n_without_osr,
                        .osr_body = req->osr_body,
                        .nosr_body = req->n_osr_body,
                        .branches = branches,
                        .nbranches = req->n_branch_hints};
  bool compiled = hints && branches &&
                  dcm_compile(m, req->functions, (uint32_t)req->n_functions, tier, &profile, tmp,
                              &man, err, sizeof err);
  if (!hints || !branches)
    snprintf(err, sizeof err, "out of memory");
  free(hints);
  free(branches);
  if (!compiled) {
    unlink(tmp);
    wasm_module_free(m);
    reply_error(r, id, KILN__ERROR_CODE__ERROR_COMPILE_FAILED, err);
    return;
  }
  uint8_t content[32];
  uint64_t size = 0;
  int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  /* Read-only before it gets its name: agents may map it, never change it. */
  bool ok = fd >= 0 && hash_file(fd, content, &size) && fchmod(fd, 0400) == 0;
  int e = errno;
  if (fd >= 0)
    close(fd);
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    e = errno;
  }
  if (!ok) {
    unlink(tmp);
    snprintf(err, sizeof err, "cannot publish the package %s: %s", path, strerror(e));
    dcm_manifest_free(&man);
    wasm_module_free(m);
    reply_error(r, id, KILN__ERROR_CODE__ERROR_INTERNAL, err);
    return;
  }
  Kiln__ManifestEntry *entries = calloc(man.nfuncs ? man.nfuncs : 1, sizeof *entries);
  Kiln__ManifestEntry **eptrs = calloc(man.nfuncs ? man.nfuncs : 1, sizeof *eptrs);
  if (!entries || !eptrs) {
    free(entries);
    free(eptrs);
    dcm_manifest_free(&man);
    wasm_module_free(m);
    reply_error(r, id, KILN__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    return;
  }
  uint64_t total_us = (uint64_t)(man.compile_ms * 1000.0);
  for (uint32_t i = 0; i < man.nfuncs; i++) {
    kiln__manifest_entry__init(&entries[i]);
    entries[i].function_index = man.funcs[i].index;
    entries[i].symbol = man.funcs[i].symbol;
    entries[i].tier = req->tier;
    entries[i].code_size = man.funcs[i].code_size;
    /* One context compiles them all; each gets an even share. */
    entries[i].compile_time_us = total_us / man.nfuncs;
    eptrs[i] = &entries[i];
  }
  Kiln__PackageReady pkg = KILN__PACKAGE_READY__INIT;
  pkg.segment = job->segment;
  pkg.path = path;
  pkg.size = size;
  pkg.content_hash.data = content;
  pkg.content_hash.len = 32;
  pkg.key = job->key;
  pkg.module_hash.data = m->hash;
  pkg.module_hash.len = 32;
  pkg.tier = req->tier;
  pkg.n_entries = man.nfuncs;
  pkg.entries = eptrs;
  pkg.compile_time_us = total_us;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = id;
  env.body_case = KILN__ENVELOPE__BODY_PACKAGE_READY;
  env.package_ready = &pkg;
  /* Cached before the reply: once anyone has heard of the package, a kilnd
   * stopped right after still finds it next time. */
  if (cache)
    to_cache(cache, job, path, &pkg);
  reply_send(r, &env);
  free(entries);
  free(eptrs);
  dcm_manifest_free(&man);
  wasm_module_free(m);
}

/* The whole of a pipe, until its writer closes it. */
static uint8_t *read_all(int fd, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf)
      return NULL;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb)
        free(buf);
      buf = nb;
      continue;
    }
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  *len = n;
  return buf;
}

/* Runs compile_job in a child (see the top of the file) and sends on what
 * it answers, or an error saying how it died. */
static void compile_isolated(void *sock, uint64_t id, const Kiln__CompileJob *job,
                             const char *cache, const char *scratch) {
  Reply direct = {sock, -1, getpid()};
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    reply_error(&direct, id, KILN__ERROR_CODE__ERROR_INTERNAL, "worker: cannot make a pipe");
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != direct.worker)
      _exit(1);
    Reply child = {NULL, fds[1], direct.worker};
    compile_job(&child, id, job, cache);
    /* _exit: nothing of the worker's (its ZeroMQ context) is ours to flush. */
    _exit(0);
  }
  close(fds[1]);
  size_t len = 0;
  uint8_t *answer = pid > 0 ? read_all(fds[0], &len) : NULL;
  close(fds[0]);
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (scratch)
    scratch_clear(scratch); /* what a compiler that crashed left */
  if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && answer && len > 0) {
    if (zmq_send(sock, answer, len, 0) < 0)
      kd_log("worker: cannot reply: %s", zmq_strerror(errno));
  } else {
    char msg[160];
    if (pid < 0)
      snprintf(msg, sizeof msg, "worker: cannot fork a compiler: %s", strerror(errno));
    else if (WIFSIGNALED(status))
      snprintf(msg, sizeof msg, "the compiler crashed (killed by signal %d (%s))", WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
      snprintf(msg, sizeof msg, "the compiler exited with status %d and no answer",
               WEXITSTATUS(status));
    char tmp[300], path[256];
    store_segment_path(job->segment ? job->segment : "", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)direct.worker);
    if (job->segment && *job->segment && !strchr(job->segment, '/'))
      unlink(tmp); /* what the dead compiler left half written */
    reply_error(&direct, id, KILN__ERROR_CODE__ERROR_WORKER_DIED, msg);
  }
  free(answer);
}
#endif

int worker_main(const KilndConfig *cfg) {
  /* Packages are private until chmod'ed read-only (0400): nothing this
   * process creates is for other users. */
  umask(077);
  char scratch[4096];
  bool have_scratch = scratch_enter(scratch, sizeof scratch);
  if (!have_scratch)
    kd_log("worker: cannot make %s (%s): the compiler's temporary files go to the default place",
           scratch, strerror(errno));
  void *ctx = zmq_ctx_new();
  void *sock = zmq_socket(ctx, ZMQ_DEALER);
  char ident[32];
  int idlen = snprintf(ident, sizeof ident, "w%d", (int)getpid());
  int linger = 1000; /* a last reply still reaches the broker */
  zmq_setsockopt(sock, ZMQ_ROUTING_ID, ident, (size_t)idlen);
  zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_connect(sock, cfg->worker) != 0) {
    kd_log("worker: cannot connect to %s: %s", cfg->worker, zmq_strerror(errno));
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 1;
  }
  Kiln__WorkerReady ready = KILN__WORKER_READY__INIT;
  ready.worker_id = (uint32_t)cfg->worker_id;
  ready.pid = (uint32_t)getpid();
  ready.compiler_available = worker_have_compiler();
  Kiln__Envelope hello = KILN__ENVELOPE__INIT;
  hello.body_case = KILN__ENVELOPE__BODY_WORKER_READY;
  hello.worker_ready = &ready;
  kiln_frame_send(sock, &hello, 0);
  Reply direct = {sock, -1, getpid()};

  for (;;) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, sock, 0) < 0) {
      zmq_msg_close(&msg);
      if (errno == EINTR)
        continue;
      break;
    }
    Kiln__Envelope *env;
    uint64_t rid;
    char err[256];
    KilnFrameStatus st =
        kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), (size_t)cfg->max_message * 2,
                          &env, &rid, err, sizeof err);
    zmq_msg_close(&msg);
    if (st != KILN_FRAME_OK) {
      reply_error(&direct, rid, kiln_frame_error_code(st), err);
      continue;
    }
    if (env->body_case != KILN__ENVELOPE__BODY_COMPILE_JOB) {
      reply_error(&direct, rid, KILN__ERROR_CODE__ERROR_BAD_REQUEST, "a worker only takes jobs");
      kiln__envelope__free_unpacked(env, NULL);
      continue;
    }
    if (cfg->test_job_delay > 0) {
      /* Test hook: a job that takes long enough to be killed mid-way. */
      struct timespec ts = {cfg->test_job_delay / 1000, (cfg->test_job_delay % 1000) * 1000000};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    }
#ifdef KILN_HAVE_DCM
    compile_isolated(sock, rid, env->compile_job, cfg->cache, have_scratch ? scratch : NULL);
#else
    reply_error(&direct, rid, KILN__ERROR_CODE__ERROR_UNAVAILABLE,
                "compiler not built: this kilnd was built without service/dcm");
#endif
    kiln__envelope__free_unpacked(env, NULL);
  }
  zmq_close(sock);
  zmq_ctx_term(ctx);
  return 0;
}
