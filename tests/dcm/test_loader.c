/*
 * test_loader.c: the Dynamic Package Loader (agent/loader.c) against a fake
 * kilnd.
 *
 * The fake is a thread of this process with a ROUTER socket on a private
 * ipc:// endpoint; it answers the agent's requests with whatever the test
 * sets up. The package it announces is real: the DCM compiles loader.wat
 * once, before the tests, into a segment under /dev/shm. So every refusal
 * below differs from an accepted reply in exactly one promise (hash, size,
 * path, mode, module), and most tests end by showing that the same runtime
 * accepts the honest reply: the refusal was the loader's doing, not the
 * setup's.
 *
 * usage: test_loader (the module's path is built in as LOADER_WASM)
 */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "dcm.h"
#include "frame.h"
#include "kiln.pb-c.h"
#include "loader.h"
#include "release.h"
#include "runtime.h"

/* The directory the loader accepts segments from (agent/loader.c). */
#define SHM_DIR "/dev/shm"
#define MAX_FUNCS 8

/* --- the packages, made once by main ------------------------------------- */

typedef struct {
  char path[PATH_MAX];
  const char *name; /* the file name inside path */
  uint64_t size;
  uint8_t hash[32]; /* SHA-256 of the bytes */
} Segment;

static uint8_t *module_bytes;
static size_t module_len;
static uint8_t module_hash[32];
static uint8_t other_module_hash[32]; /* loader.wat's bytes and a custom section */
static uint32_t nfunc_imports, nfuncs; /* of loader.wat */
static DcmManifest manifest; /* of pkg */

static char tmpdir[PATH_MAX]; /* private: the endpoints, and one copy of pkg */
static Segment pkg; /* loader.wat at the warm tier */
static Segment hot_pkg; /* and at the hot tier */
static Segment other_pkg; /* the same functions, built for another module */
static Segment open_copy; /* pkg's bytes in a file anyone may write */
static Segment outside_copy; /* pkg's bytes, in tmpdir */
static Segment link_seg; /* a symbolic link under SHM_DIR to pkg */

/* --- the fake kilnd -------------------------------------------------------- */

typedef enum { ANSWER_PACKAGE, ANSWER_ERROR, ANSWER_NOTHING } CompileAnswer;

typedef struct {
  void *ctx, *router;
  char endpoint[PATH_MAX + 64];
  pthread_t thread;
  pthread_mutex_t lock; /* everything below */
  bool stop;
  /* how to answer */
  bool no_compiler;
  bool need_module; /* answer HaveModule with NeedModule until an upload */
  CompileAnswer answer;
  const Kiln__PackageReady *package;
  /* what was asked */
  int hellos, have_modules, uploads, compiles;
  bool have_module_hash_ok, upload_ok, compile_hash_ok, compile_funcs_ok;
  Kiln__Tier tier;
} Fake;

static void fake_send(Fake *fk, const zmq_msg_t *id, Kiln__Envelope *env) {
  zmq_send(fk->router, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id), ZMQ_SNDMORE);
  kiln_frame_send(fk->router, env, 0);
}

static void fake_error(Fake *fk, const zmq_msg_t *id, uint64_t rid, Kiln__ErrorCode code,
                       const char *text) {
  Kiln__Error e;
  Kiln__Envelope env;
  kiln_error_envelope(&env, &e, rid, code, (char *)text);
  fake_send(fk, id, &env);
}

static bool is_module_hash(ProtobufCBinaryData h) {
  return h.len == 32 && memcmp(h.data, module_hash, 32) == 0;
}

/* The agent must ask for every defined function, in index order. */
static bool asks_all_functions(const Kiln__CompileRequest *cr) {
  if (cr->n_functions != nfuncs - nfunc_imports)
    return false;
  for (size_t i = 0; i < cr->n_functions; i++)
    if (cr->functions[i] != nfunc_imports + i)
      return false;
  return true;
}

/* Answers one request; called with fk->lock held. */
static void fake_answer(Fake *fk, const zmq_msg_t *id, const Kiln__Envelope *req) {
  Kiln__Envelope rep = KILN__ENVELOPE__INIT;
  rep.request_id = req->request_id;
  switch (req->body_case) {
  case KILN__ENVELOPE__BODY_HELLO: {
    fk->hellos++;
    Kiln__HelloReply hr = KILN__HELLO_REPLY__INIT;
    hr.pid = (uint32_t)getpid();
    hr.server_version = "fake";
    hr.workers = 1;
    hr.compiler_available = !fk->no_compiler;
    rep.body_case = KILN__ENVELOPE__BODY_HELLO_REPLY;
    rep.hello_reply = &hr;
    fake_send(fk, id, &rep);
    return;
  }
  case KILN__ENVELOPE__BODY_HAVE_MODULE: {
    fk->have_modules++;
    fk->have_module_hash_ok = is_module_hash(req->have_module->module_hash);
    Kiln__NeedModule need = KILN__NEED_MODULE__INIT;
    Kiln__ModuleAck ack = KILN__MODULE_ACK__INIT;
    if (fk->need_module) {
      need.module_hash = req->have_module->module_hash;
      rep.body_case = KILN__ENVELOPE__BODY_NEED_MODULE;
      rep.need_module = &need;
    } else {
      ack.module_hash = req->have_module->module_hash;
      ack.function_count = nfuncs;
      rep.body_case = KILN__ENVELOPE__BODY_MODULE_ACK;
      rep.module_ack = &ack;
    }
    fake_send(fk, id, &rep);
    return;
  }
  case KILN__ENVELOPE__BODY_MODULE_UPLOAD: {
    fk->uploads++;
    ProtobufCBinaryData m = req->module_upload->module;
    fk->upload_ok = m.len == module_len && memcmp(m.data, module_bytes, module_len) == 0;
    if (!fk->upload_ok) {
      fake_error(fk, id, req->request_id, KILN__ERROR_CODE__ERROR_INVALID_MODULE,
                 "the upload is not the module file");
      return;
    }
    fk->need_module = false;
    Kiln__ModuleAck ack = KILN__MODULE_ACK__INIT;
    ack.module_hash.data = module_hash;
    ack.module_hash.len = 32;
    ack.function_count = nfuncs;
    rep.body_case = KILN__ENVELOPE__BODY_MODULE_ACK;
    rep.module_ack = &ack;
    fake_send(fk, id, &rep);
    return;
  }
  case KILN__ENVELOPE__BODY_COMPILE_REQUEST:
    fk->compiles++;
    fk->compile_hash_ok = is_module_hash(req->compile_request->module_hash);
    fk->compile_funcs_ok = asks_all_functions(req->compile_request);
    fk->tier = req->compile_request->tier;
    if (fk->answer == ANSWER_ERROR) {
      fake_error(fk, id, req->request_id, KILN__ERROR_CODE__ERROR_COMPILE_FAILED, "boom");
    } else if (fk->answer == ANSWER_PACKAGE) {
      rep.body_case = KILN__ENVELOPE__BODY_PACKAGE_READY;
      rep.package_ready = (Kiln__PackageReady *)fk->package;
      fake_send(fk, id, &rep);
    }
    return;
  default:
    fake_error(fk, id, req->request_id, KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "the fake kilnd does not take that");
    return;
  }
}

static void *fake_main(void *arg) {
  Fake *fk = arg;
  for (;;) {
    pthread_mutex_lock(&fk->lock);
    bool stop = fk->stop;
    pthread_mutex_unlock(&fk->lock);
    if (stop)
      break;
    /* A short poll, so that the stop flag is seen soon. */
    zmq_pollitem_t item = {fk->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 20) <= 0)
      continue;
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, fk->router, 0) >= 0 && zmq_msg_more(&id) &&
        zmq_msg_recv(&body, fk->router, 0) >= 0) {
      Kiln__Envelope *req;
      uint64_t rid;
      char why[256];
      if (kiln_frame_unpack(zmq_msg_data(&body), zmq_msg_size(&body), KILN_DEFAULT_MAX_MESSAGE,
                            &req, &rid, why, sizeof why) == KILN_FRAME_OK) {
        pthread_mutex_lock(&fk->lock);
        fake_answer(fk, &id, req);
        pthread_mutex_unlock(&fk->lock);
        kiln__envelope__free_unpacked(req, NULL);
      } else {
        fake_error(fk, &id, rid, KILN__ERROR_CODE__ERROR_MALFORMED, why);
      }
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
  }
  return NULL;
}

static void fake_start(Fake *fk, const Kiln__PackageReady *package, CompileAnswer answer) {
  static int serial;
  memset(fk, 0, sizeof *fk);
  pthread_mutex_init(&fk->lock, NULL);
  fk->package = package;
  fk->answer = answer;
  /* Unique per process and test, so that nothing another test left behind
   * answers in its place. */
  snprintf(fk->endpoint, sizeof fk->endpoint, "ipc://%s/kilnd-%d-%d.sock", tmpdir, (int)getpid(),
           serial++);
  int linger = 0;
  fk->ctx = zmq_ctx_new();
  ck_assert_ptr_nonnull(fk->ctx);
  fk->router = zmq_socket(fk->ctx, ZMQ_ROUTER);
  ck_assert_ptr_nonnull(fk->router);
  zmq_setsockopt(fk->router, ZMQ_LINGER, &linger, sizeof linger);
  ck_assert_msg(zmq_bind(fk->router, fk->endpoint) == 0, "bind %s: %s", fk->endpoint,
                zmq_strerror(errno));
  /* The socket is handed to the thread here and not used by this one again
   * until it has been joined. */
  ck_assert_int_eq(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
}

static void fake_stop(Fake *fk) {
  pthread_mutex_lock(&fk->lock);
  fk->stop = true;
  pthread_mutex_unlock(&fk->lock);
  pthread_join(fk->thread, NULL);
  zmq_close(fk->router);
  zmq_ctx_term(fk->ctx);
  unlink(kiln_ipc_path(fk->endpoint)); /* ZeroMQ leaves the socket file */
  pthread_mutex_destroy(&fk->lock);
}

/* --- the reply a test sends ------------------------------------------------ */

typedef struct {
  Kiln__PackageReady p;
  Kiln__ManifestEntry e[MAX_FUNCS];
  Kiln__ManifestEntry *ep[MAX_FUNCS];
  uint8_t content_hash[32], module_hash[32];
  char path[PATH_MAX], segment[NAME_MAX + 1];
} Reply;

#define COMPILE_TIME_US 12345u

/* The honest reply for segment s, which holds a package of manifest's
 * functions; tests then break one promise in it. */
static void reply_for(Reply *r, const Segment *s) {
  memset(r, 0, sizeof *r);
  kiln__package_ready__init(&r->p);
  snprintf(r->path, sizeof r->path, "%s", s->path);
  snprintf(r->segment, sizeof r->segment, "%s", s->name);
  memcpy(r->content_hash, s->hash, 32);
  memcpy(r->module_hash, module_hash, 32);
  r->p.segment = r->segment;
  r->p.path = r->path;
  r->p.size = s->size;
  r->p.content_hash.data = r->content_hash;
  r->p.content_hash.len = 32;
  r->p.module_hash.data = r->module_hash;
  r->p.module_hash.len = 32;
  r->p.tier = KILN__TIER__TIER_WARM;
  r->p.compile_time_us = COMPILE_TIME_US;
  r->p.cached = true;
  for (uint32_t i = 0; i < manifest.nfuncs; i++) {
    kiln__manifest_entry__init(&r->e[i]);
    r->e[i].function_index = manifest.funcs[i].index;
    r->e[i].symbol = manifest.funcs[i].symbol;
    r->e[i].tier = KILN__TIER__TIER_WARM;
    r->e[i].code_size = manifest.funcs[i].code_size;
    r->ep[i] = &r->e[i];
  }
  r->p.entries = r->ep;
  r->p.n_entries = manifest.nfuncs;
}

/* --- one runtime with loader.wat, talking to one fake ---------------------- */

static Fake fake;
static Reply reply;
static kiln_runtime *rt;
static kiln_instance *inst;

/* Called inside env.twice when set: from the script, below its frames. */
static void (*inside_twice)(void);

static kiln_status twice(kiln_caller *caller, void *data, const kiln_value *args,
                         kiln_value *results) {
  (void)caller;
  (void)data;
  if (inside_twice)
    inside_twice();
  results[0] = KILN_I32_VAL(args[0].of.i32 * 2);
  return KILN_OK;
}

static void open_instance(const char *endpoint, int timeout_ms) {
  kiln_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.service_endpoint = endpoint;
  cfg.service_timeout_ms = timeout_ms;
  rt = kiln_runtime_new(&cfg);
  ck_assert_ptr_nonnull(rt);
  kiln_type i32 = KILN_I32;
  ck_assert_int_eq(kiln_define_func(rt, "env", "twice", &i32, 1, &i32, 1, twice, NULL), KILN_OK);
  kiln_module *m = kiln_module_new(rt, module_bytes, module_len, "loader.wasm");
  ck_assert_msg(m != NULL, "%s", kiln_error(rt));
  inst = kiln_instantiate(rt, m, "loader");
  ck_assert_msg(inst != NULL, "%s", kiln_error(rt));
}

/* A fake that answers with pkg, and an instance that uses it. */
static void start(void) {
  reply_for(&reply, &pkg);
  fake_start(&fake, &reply.p, ANSWER_PACKAGE);
  open_instance(fake.endpoint, 0);
}

static void finish(void) {
  kiln_runtime_free(rt); /* closes the agent's socket before the fake's */
  rt = NULL;
  inst = NULL;
  fake_stop(&fake);
}

/* Changes what the fake answers; safe while it runs. */
static void set_reply(const Reply *r) {
  pthread_mutex_lock(&fake.lock);
  fake.package = &r->p;
  fake.answer = ANSWER_PACKAGE;
  pthread_mutex_unlock(&fake.lock);
}

static void set_answer(CompileAnswer a) {
  pthread_mutex_lock(&fake.lock);
  fake.answer = a;
  pthread_mutex_unlock(&fake.lock);
}

static void fake_set(bool *flag) {
  pthread_mutex_lock(&fake.lock);
  *flag = true;
  pthread_mutex_unlock(&fake.lock);
}

static int fake_count(const int *counter) {
  pthread_mutex_lock(&fake.lock);
  int n = *counter;
  pthread_mutex_unlock(&fake.lock);
  return n;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --- what the instance must do, whatever runs it ----------------------------- */

static int32_t call_i32(const char *name, const kiln_value *args, uint32_t nargs) {
  kiln_func *f = kiln_instance_func(inst, name);
  ck_assert_msg(f != NULL, "no export %s", name);
  kiln_value res[1];
  kiln_status st = kiln_call(rt, f, args, nargs, res, 1);
  ck_assert_msg(st == KILN_OK, "%s: status %d: %s", name, (int)st, kiln_error(rt));
  return res[0].of.i32;
}

static void assert_calls_correct(void) {
  kiln_value add[2] = {KILN_I32_VAL(40), KILN_I32_VAL(2)};
  ck_assert_int_eq(call_i32("add", add, 2), 42);
  kiln_value fib[1] = {KILN_I32_VAL(20)};
  ck_assert_int_eq(call_i32("fib", fib, 1), 6765);
  kiln_value apply_add[3] = {KILN_I32_VAL(0), KILN_I32_VAL(6), KILN_I32_VAL(7)};
  ck_assert_int_eq(call_i32("apply", apply_add, 3), 26);
  kiln_value apply_mul[3] = {KILN_I32_VAL(1), KILN_I32_VAL(6), KILN_I32_VAL(7)};
  ck_assert_int_eq(call_i32("apply", apply_mul, 3), 84);
  /* A trap must still unwind cleanly out of whatever tier runs apply. */
  kiln_value apply_bad[3] = {KILN_I32_VAL(5), KILN_I32_VAL(6), KILN_I32_VAL(7)};
  kiln_value res[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, "apply"), apply_bad, 3, res, 1),
                   KILN_TRAP);
  ck_assert_msg(strstr(kiln_error(rt), "undefined element"), "trap '%s'", kiln_error(rt));
}

static void assert_interpreted(void) {
  for (uint32_t i = nfunc_imports; i < nfuncs; i++)
    ck_assert_msg(inst->funcs[i]->entry == interp_entry, "function %u left the interpreter", i);
}

/* Each entry is the package's exported symbol for that very function. */
static void assert_compiled(void) {
  for (uint32_t i = 0; i < manifest.nfuncs; i++) {
    FuncEntry entry = inst->funcs[manifest.funcs[i].index]->entry;
    ck_assert_msg(entry != interp_entry, "function %u still interpreted", manifest.funcs[i].index);
    void *addr;
    memcpy(&addr, &entry, sizeof addr); /* function to object pointer */
    Dl_info di;
    ck_assert_msg(dladdr(addr, &di) && di.dli_sname, "function %u: entry in no loaded object",
                  manifest.funcs[i].index);
    ck_assert_str_eq(di.dli_sname, manifest.funcs[i].symbol);
  }
}

/* A refusal: the status, one line naming the reason, and nothing changed. */
static void assert_refused(kiln_status got, kiln_status want, const char *mentions) {
  const char *err = kiln_error(rt);
  ck_assert_msg(got == want, "status %d, expected %d (%s)", (int)got, (int)want, err);
  ck_assert_int_eq(kiln_error_status(rt), want);
  ck_assert_msg(*err && !strchr(err, '\n'), "error '%s' is not one line", err);
  if (mentions)
    ck_assert_msg(strstr(err, mentions), "error '%s' does not mention '%s'", err, mentions);
  assert_interpreted();
  assert_calls_correct();
}

/* The honest reply works in this same runtime afterwards. */
static void assert_honest_reply_accepted(void) {
  static Reply honest;
  reply_for(&honest, &pkg);
  set_reply(&honest);
  kiln_compile_info info;
  kiln_status st = kiln_instance_compile(inst, KILN_TIER_WARM, &info);
  ck_assert_msg(st == KILN_OK, "honest reply refused: %s", kiln_error(rt));
  assert_compiled();
  assert_calls_correct();
}

static kiln_status compile_warm(void) {
  kiln_compile_info info;
  return kiln_instance_compile(inst, KILN_TIER_WARM, &info);
}

/* --- the cases ------------------------------------------------------------- */

START_TEST(good_package) {
  start();
  assert_interpreted();
  kiln_compile_info info;
  kiln_status st = kiln_instance_compile(inst, KILN_TIER_WARM, &info);
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  ck_assert_uint_eq(info.functions, nfuncs - nfunc_imports);
  ck_assert_uint_eq(info.package_bytes, pkg.size);
  ck_assert_double_eq_tol(info.compile_ms, COMPILE_TIME_US / 1000.0, 1e-9);
  ck_assert_int_eq(info.cached, 1);
  ck_assert_str_eq(info.segment, pkg.name);
  assert_compiled();
  assert_calls_correct();

  pthread_mutex_lock(&fake.lock);
  ck_assert_int_eq(fake.hellos, 1);
  ck_assert_int_eq(fake.have_modules, 1);
  ck_assert_int_eq(fake.uploads, 0); /* kilnd had it: nothing to upload */
  ck_assert_int_eq(fake.compiles, 1);
  ck_assert(fake.have_module_hash_ok);
  ck_assert(fake.compile_hash_ok);
  ck_assert(fake.compile_funcs_ok);
  ck_assert_int_eq(fake.tier, KILN__TIER__TIER_WARM);
  pthread_mutex_unlock(&fake.lock);

  /* The connection is the runtime's: a second request says hello no more. */
  st = kiln_instance_compile(inst, KILN_TIER_HOT, NULL);
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  ck_assert_int_eq(fake_count(&fake.hellos), 1);
  pthread_mutex_lock(&fake.lock);
  ck_assert_int_eq(fake.compiles, 2);
  ck_assert_int_eq(fake.tier, KILN__TIER__TIER_HOT);
  pthread_mutex_unlock(&fake.lock);
  assert_compiled();
  assert_calls_correct();
  finish();
}
END_TEST

START_TEST(content_hash_off_by_one_bit) {
  start();
  reply.content_hash[31] ^= 0x01;
  set_reply(&reply);
  assert_refused(compile_warm(), KILN_ERROR, "hash");
  assert_honest_reply_accepted();
  finish();
}
END_TEST

START_TEST(path_outside_shm) {
  start();
  /* Each names a file whose bytes are exactly the package's (hash, size
   * and mode fine), so only where it lies can be refused. From inside
   * SHM_DIR, the bare name would open the package itself. */
  int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(cwd, 0);
  ck_assert_int_eq(chdir(SHM_DIR), 0);
  char traversal[PATH_MAX];
  snprintf(traversal, sizeof traversal, SHM_DIR "/../shm/%s", pkg.name);
  const char *paths[] = {outside_copy.path, traversal, link_seg.path, pkg.name, SHM_DIR "/"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    static Reply r;
    reply_for(&r, &pkg);
    snprintf(r.path, sizeof r.path, "%s", paths[i]);
    set_reply(&r);
    kiln_status st = compile_warm();
    ck_assert_msg(st == KILN_ERROR, "path %s: status %d (%s)", paths[i], (int)st, kiln_error(rt));
    assert_refused(st, KILN_ERROR, NULL);
  }
  ck_assert_int_eq(fchdir(cwd), 0);
  close(cwd);
  assert_honest_reply_accepted();
  finish();
}
END_TEST

START_TEST(size_differs) {
  start();
  const uint64_t sizes[] = {pkg.size + 1, pkg.size - 1, 0};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    reply.p.size = sizes[i];
    set_reply(&reply);
    assert_refused(compile_warm(), KILN_ERROR, NULL);
  }
  assert_honest_reply_accepted();
  finish();
}
END_TEST

START_TEST(writable_by_others) {
  start();
  reply_for(&reply, &open_copy);
  set_reply(&reply);
  ck_assert_int_eq(chmod(open_copy.path, 0666), 0);
  assert_refused(compile_warm(), KILN_ERROR, open_copy.name);
  ck_assert_int_eq(chmod(open_copy.path, 0620), 0); /* the group may write */
  assert_refused(compile_warm(), KILN_ERROR, open_copy.name);
  /* The mode was the only fault. */
  ck_assert_int_eq(chmod(open_copy.path, 0644), 0);
  kiln_status st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  assert_calls_correct();
  finish();
}
END_TEST

START_TEST(reply_for_another_module) {
  start();
  memcpy(reply.module_hash, other_module_hash, 32);
  set_reply(&reply);
  assert_refused(compile_warm(), KILN_ERROR, NULL);
  assert_honest_reply_accepted();
  finish();
}
END_TEST

/* The reply is right about this module, but the package inside was built
 * for another one: only the package's own hash symbol can tell. */
START_TEST(package_for_another_module) {
  start();
  reply_for(&reply, &other_pkg);
  set_reply(&reply);
  assert_refused(compile_warm(), KILN_ERROR, NULL);
  assert_honest_reply_accepted();
  finish();
}
END_TEST

/* The same, once another package is loaded: the second must be checked
 * (and mapped) for itself, not taken for the first. */
START_TEST(second_package_checked_for_itself) {
  start();
  kiln_status st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  static Reply r;
  reply_for(&r, &other_pkg);
  set_reply(&r);
  st = compile_warm();
  ck_assert_msg(st == KILN_ERROR, "package of another module accepted: status %d (%s)", (int)st,
                kiln_error(rt));
  assert_compiled(); /* still the first package */
  assert_calls_correct();
  finish();
}
END_TEST

/* A copy of segment s's file under $TMPDIR, open for reading. */
static int open_copy_of(const Segment *s) {
  const char *dir = getenv("TMPDIR");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/kiln-loader-test-XXXXXX", dir && *dir ? dir : P_tmpdir);
  int out = mkstemp(path);
  ck_assert_int_ge(out, 0);
  FILE *in = fopen(s->path, "rb");
  ck_assert_ptr_nonnull(in);
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, in)) > 0)
    ck_assert_int_eq(write(out, buf, got), (ssize_t)got);
  fclose(in);
  close(out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  return fd;
}

/* dlopen knows objects by name, and a package is loaded as
 * /proc/self/fd/N. A process that has loaded many other objects under the
 * names of the very descriptors its next files get still loads one (under
 * a number none of them is named after). */
START_TEST(descriptor_names_taken) {
  start();
  enum { TAKEN = 40 };
  int fds[TAKEN];
  void *objects[TAKEN];
  for (int i = 0; i < TAKEN; i++) { /* all open at once: the numbers rise */
    fds[i] = open_copy_of(&other_pkg);
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", fds[i]);
    objects[i] = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(objects[i] != NULL, "%s", dlerror());
  }
  for (int i = 0; i < TAKEN; i++)
    close(fds[i]); /* the numbers are free again; the names stay taken */
  kiln_status st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  assert_calls_correct();
  finish();
  for (int i = 0; i < TAKEN; i++)
    dlclose(objects[i]);
}
END_TEST

START_TEST(kilnd_error) {
  start();
  set_answer(ANSWER_ERROR);
  assert_refused(compile_warm(), KILN_ERROR, "boom");
  assert_honest_reply_accepted();
  finish();
}
END_TEST

START_TEST(no_compiler) {
  start();
  fake_set(&fake.no_compiler);
  assert_refused(compile_warm(), KILN_ERROR, NULL);
  ck_assert_int_eq(fake_count(&fake.compiles), 0);
  finish();
}
END_TEST

START_TEST(kilnd_silent) {
  reply_for(&reply, &pkg);
  fake_start(&fake, &reply.p, ANSWER_NOTHING);
  open_instance(fake.endpoint, 500);
  double t0 = now_ms();
  kiln_status st = compile_warm();
  double took = now_ms() - t0;
  ck_assert_msg(took >= 400 && took < 5000, "gave up after %.0f ms", took);
  ck_assert_int_eq(fake_count(&fake.compiles), 1);
  assert_refused(st, KILN_UNAVAILABLE, NULL);
  /* A service that was unavailable is asked again next time. */
  set_answer(ANSWER_PACKAGE);
  st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  ck_assert_int_eq(fake_count(&fake.hellos), 2);
  assert_compiled();
  assert_calls_correct();
  finish();
}
END_TEST

START_TEST(module_uploaded_when_needed) {
  start();
  fake_set(&fake.need_module);
  kiln_status st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  pthread_mutex_lock(&fake.lock);
  ck_assert_int_eq(fake.uploads, 1);
  ck_assert(fake.upload_ok);
  ck_assert_int_eq(fake.compiles, 1);
  pthread_mutex_unlock(&fake.lock);
  assert_compiled();
  assert_calls_correct();
  finish();
}
END_TEST

START_TEST(no_endpoint) {
  char endpoint[PATH_MAX + 64];
  snprintf(endpoint, sizeof endpoint, "ipc://%s/absent-%d.sock", tmpdir, (int)getpid());
  open_instance(endpoint, 0);
  double t0 = now_ms();
  kiln_status st = compile_warm();
  double took = now_ms() - t0;
  ck_assert_msg(took < 1000, "took %.0f ms to see nothing listens", took);
  assert_refused(st, KILN_UNAVAILABLE, NULL);
  kiln_runtime_free(rt);
}
END_TEST

START_TEST(cold_after_warm) {
  start();
  kiln_status st = compile_warm();
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  kiln_compile_info info;
  st = kiln_instance_compile(inst, KILN_TIER_COLD, &info);
  ck_assert_msg(st == KILN_OK, "%s", kiln_error(rt));
  ck_assert_uint_eq(info.functions, nfuncs - nfunc_imports);
  ck_assert_int_eq(fake_count(&fake.compiles), 1); /* the interpreter needs no kilnd */
  assert_interpreted();
  assert_calls_correct();
  finish();
}
END_TEST

/* peek reads memory without a bounds check in hot code: in bounds it reads,
 * past the end the guard page's fault must come back as the trap. */
static void assert_peek(void) {
  kiln_value in_bounds[1] = {KILN_I32_VAL(65532)};
  ck_assert_int_eq(call_i32("peek", in_bounds, 1), 0);
  kiln_value past_end[1] = {KILN_I32_VAL(65533)}, res[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, "peek"), past_end, 1, res, 1), KILN_TRAP);
  ck_assert_msg(strstr(kiln_error(rt), "out of bounds memory access"), "trap '%s'", kiln_error(rt));
}

/* Two runtimes of one process that load the same hot package share one
 * loaded object. Freeing the first must leave the second's faults known as
 * the package's (a crash otherwise, which Check reports as a failure). */
START_TEST(hot_package_outlives_one_runtime) {
  reply_for(&reply, &hot_pkg);
  fake_start(&fake, &reply.p, ANSWER_PACKAGE);
  open_instance(fake.endpoint, 0);
  kiln_runtime *first = rt;
  kiln_instance *first_inst = inst;
  ck_assert_msg(kiln_instance_compile(inst, KILN_TIER_HOT, NULL) == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  assert_peek();

  open_instance(fake.endpoint, 0);
  ck_assert_msg(kiln_instance_compile(inst, KILN_TIER_HOT, NULL) == KILN_OK, "%s", kiln_error(rt));
  assert_compiled();
  uint32_t f = manifest.funcs[0].index;
  ck_assert_msg(inst->funcs[f]->entry == first_inst->funcs[f]->entry, "two objects, not one");
  kiln_runtime_free(first);
  assert_peek();
  assert_calls_correct();
  finish();
}
END_TEST

/* Whether this process maps the file named name (its last path part). */
static bool maps_file(const char *name) {
  FILE *f = fopen("/proc/self/maps", "r");
  ck_assert_ptr_nonnull(f);
  char line[PATH_MAX + 128];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    const char *slash = strrchr(line, '/');
    found = slash && strncmp(slash + 1, name, strlen(name)) == 0 && slash[1 + strlen(name)] == '\n';
  }
  fclose(f);
  return found;
}

/* What the tiering thread does with a package, by hand: it is not unused
 * while a function points into it; once they all went back to the
 * interpreter it is, and package_release unmaps it (segment gone from the
 * maps, its fault ranges forgotten); the same segment then maps again, and
 * its hot code (faults included) works as the first time. */
START_TEST(release_and_map_again) {
  reply_for(&reply, &hot_pkg);
  fake_start(&fake, &reply.p, ANSWER_PACKAGE);
  open_instance(fake.endpoint, 0);
  for (int round = 0; round < 2; round++) {
    char err[480], why[120];
    LoadedPackage lp;
    ck_assert_msg(!maps_file(hot_pkg.name), "round %d: mapped before its load", round);
    ck_assert_msg(package_load(inst, &reply.p, &lp, err, sizeof err), "round %d: %s", round, err);
    ck_assert(maps_file(hot_pkg.name));
    ck_assert_uint_eq(lp.nfuncs, manifest.nfuncs);
    ck_assert_str_eq(lp.segment, hot_pkg.name);
    assert_compiled();
    assert_peek();
    assert_calls_correct();
    ck_assert_msg(!package_unused(inst, &lp, why, sizeof why), "unused while its code is in use");
    ck_assert_int_eq(kiln_instance_compile(inst, KILN_TIER_COLD, NULL), KILN_OK);
    ck_assert_msg(package_unused(inst, &lp, why, sizeof why), "still used after the switch");
    ck_assert_msg(strstr(why, "went back to the interpreter"), "why: %s", why);
    package_release(&lp);
    ck_assert_msg(!maps_file(hot_pkg.name), "round %d: still mapped after its release", round);
    assert_interpreted();
    assert_calls_correct();
  }
  finish();
}
END_TEST

/* A package whose functions all moved on to a newer package (warm, then
 * hot) is unused, says so, and goes; the newer one runs on. */
START_TEST(release_after_moving_on) {
  reply_for(&reply, &pkg);
  static Reply hot;
  reply_for(&hot, &hot_pkg);
  fake_start(&fake, &reply.p, ANSWER_PACKAGE);
  open_instance(fake.endpoint, 0);
  char err[480], why[120];
  LoadedPackage warm_lp, hot_lp;
  ck_assert_msg(package_load(inst, &reply.p, &warm_lp, err, sizeof err), "%s", err);
  ck_assert_msg(!package_unused(inst, &warm_lp, why, sizeof why), "unused while in use");
  ck_assert_msg(package_load(inst, &hot.p, &hot_lp, err, sizeof err), "%s", err);
  ck_assert_msg(package_unused(inst, &warm_lp, why, sizeof why), "still used after the move");
  ck_assert_msg(strstr(why, "moved to other packages"), "why: %s", why);
  ck_assert_msg(!package_unused(inst, &hot_lp, why, sizeof why), "the newer one is in use");
  package_release(&warm_lp);
  ck_assert(!maps_file(pkg.name));
  ck_assert(maps_file(hot_pkg.name));
  assert_compiled();
  assert_peek();
  assert_calls_correct();
  ck_assert(package_keep(rt, hot_lp));
  finish();
}
END_TEST

/* The script's thread releases a posted package only where no compiled
 * frame can be on its stack: not from inside compiled code (a host
 * function that compiled apply called, making a nested call into the
 * interpreter), only once apply has returned; and a trap out of compiled
 * code leaves the depth at 0. Released too early, apply would go on in
 * unmapped code and crash. */
static LoadedPackage waiting;
static bool waiting_released;

static void note_released(const PackageRelease *r) {
  (void)r;
  waiting_released = true;
}

static void post_from_inside(void) {
  inside_twice = NULL;
  Thread *t = runtime_thread_of(rt);
  ck_assert_uint_gt(t->compiled_depth, 0);
  ck_assert_int_eq(kiln_instance_compile(inst, KILN_TIER_COLD, NULL), KILN_OK);
  PackageRelease *r = calloc(1, sizeof *r);
  ck_assert_ptr_nonnull(r);
  ck_assert(package_unused(inst, &waiting, r->why, sizeof r->why));
  r->pkg = waiting;
  r->done = note_released;
  release_post(t, r);
  /* Interpreted now, and entered from here: a release point, but with
   * compiled apply below it. */
  kiln_value add[2] = {KILN_I32_VAL(40), KILN_I32_VAL(2)};
  ck_assert_int_eq(call_i32("add", add, 2), 42);
  ck_assert_msg(!waiting_released, "released under a compiled frame");
  ck_assert(maps_file(hot_pkg.name));
}

START_TEST(release_waits_for_compiled_frames) {
  reply_for(&reply, &hot_pkg);
  fake_start(&fake, &reply.p, ANSWER_PACKAGE);
  open_instance(fake.endpoint, 0);
  char err[480];
  ck_assert_msg(package_load(inst, &reply.p, &waiting, err, sizeof err), "%s", err);
  /* A trap out of compiled code skips its frames' bookkeeping. */
  kiln_value apply_bad[3] = {KILN_I32_VAL(5), KILN_I32_VAL(6), KILN_I32_VAL(7)}, res[1];
  ck_assert_int_eq(kiln_call(rt, kiln_instance_func(inst, "apply"), apply_bad, 3, res, 1),
                   KILN_TRAP);
  ck_assert_uint_eq(runtime_thread(rt)->compiled_depth, 0);
  inside_twice = post_from_inside;
  kiln_value apply_add[3] = {KILN_I32_VAL(0), KILN_I32_VAL(6), KILN_I32_VAL(7)};
  ck_assert_int_eq(call_i32("apply", apply_add, 3), 26);
  ck_assert_ptr_null(inside_twice); /* it ran */
  ck_assert_msg(waiting_released, "not released once back at the host");
  ck_assert(!maps_file(hot_pkg.name));
  ck_assert_uint_eq(runtime_thread(rt)->compiled_depth, 0);
  assert_interpreted();
  assert_calls_correct();
  finish();
}
END_TEST

/* --- setup ----------------------------------------------------------------- */

static bool read_all(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  bool ok = fseek(f, 0, SEEK_END) == 0;
  long n = ok ? ftell(f) : -1;
  ok = n > 0 && fseek(f, 0, SEEK_SET) == 0;
  *out = ok ? malloc((size_t)n) : NULL;
  ok = *out && fread(*out, 1, (size_t)n, f) == (size_t)n;
  fclose(f);
  *len = ok ? (size_t)n : 0;
  return ok;
}

static bool write_all(int fd, const uint8_t *bytes, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, bytes, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    bytes += w;
    len -= (size_t)w;
  }
  return true;
}

/* A new empty file dir/kiln-test-loader-XXXXXX.so. */
static bool new_file(Segment *s, const char *dir) {
  snprintf(s->path, sizeof s->path, "%s/kiln-test-loader-XXXXXX.so", dir);
  int fd = mkstemps(s->path, 3);
  if (fd < 0) {
    fprintf(stderr, "cannot create %s: %s\n", s->path, strerror(errno));
    s->path[0] = '\0';
    return false;
  }
  close(fd);
  s->name = strrchr(s->path, '/') + 1;
  return true;
}

/* Size and hash of what s->path holds now; optionally its bytes. */
static bool describe(Segment *s, uint8_t **bytes_out) {
  uint8_t *bytes;
  size_t len;
  if (!read_all(s->path, &bytes, &len)) {
    fprintf(stderr, "cannot read %s\n", s->path);
    return false;
  }
  s->size = len;
  wasm_module_hash(bytes, len, s->hash);
  if (bytes_out)
    *bytes_out = bytes;
  else
    free(bytes);
  return true;
}

/* Compiles every defined function of wm into a new segment. */
static bool compile_segment(const WasmModule *wm, DcmTier tier, Segment *s, DcmManifest *man) {
  uint32_t funcs[MAX_FUNCS], ndef = wm->nfuncs - wm->nfunc_imports;
  if (ndef > MAX_FUNCS) {
    fprintf(stderr, "loader.wat has more than %d functions\n", MAX_FUNCS);
    return false;
  }
  for (uint32_t i = 0; i < ndef; i++)
    funcs[i] = wm->nfunc_imports + i;
  char err[256];
  if (!new_file(s, SHM_DIR))
    return false;
  if (!dcm_compile(wm, funcs, ndef, tier, NULL, s->path, man, err, sizeof err)) {
    fprintf(stderr, "dcm_compile: %s\n", err);
    return false;
  }
  return chmod(s->path, 0400) == 0 && describe(s, NULL);
}

static bool copy_segment(const Segment *from, Segment *to, const char *dir, mode_t mode) {
  uint8_t *bytes;
  Segment src = *from;
  if (!new_file(to, dir) || !describe(&src, &bytes))
    return false;
  int fd = open(to->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  bool ok = fd >= 0 && write_all(fd, bytes, src.size) && fchmod(fd, mode) == 0;
  if (fd >= 0)
    close(fd);
  free(bytes);
  return ok && describe(to, NULL);
}

static void remove_files(void) {
  Segment *all[] = {&pkg, &hot_pkg, &other_pkg, &open_copy, &outside_copy, &link_seg};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i]->path[0])
      unlink(all[i]->path);
  /* Whatever a failed test left there too (its fake's socket). */
  DIR *d = tmpdir[0] ? opendir(tmpdir) : NULL;
  for (struct dirent *de; d && (de = readdir(d));)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      unlinkat(dirfd(d), de->d_name, 0);
  if (d)
    closedir(d);
  if (tmpdir[0])
    rmdir(tmpdir);
  dcm_manifest_free(&manifest);
  free(module_bytes);
}

/* The packages the fake announces, and the files around them. */
static bool prepare(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/kiln-test-loader-XXXXXX", t && *t ? t : P_tmpdir);
  if (!mkdtemp(tmpdir)) {
    fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
    tmpdir[0] = '\0';
    return false;
  }
  if (!read_all(LOADER_WASM, &module_bytes, &module_len)) {
    fprintf(stderr, "cannot read %s\n", LOADER_WASM);
    return false;
  }
  /* Another module with the same functions: the bytes plus a custom
   * section, so that only the hash differs. */
  static const uint8_t custom[] = {0x00, 0x02, 0x01, 'x'};
  uint8_t *other = malloc(module_len + sizeof custom);
  if (!other)
    return false;
  memcpy(other, module_bytes, module_len);
  memcpy(other + module_len, custom, sizeof custom);

  kiln_runtime *crt = kiln_runtime_new(NULL);
  kiln_module *m = crt ? kiln_module_new(crt, module_bytes, module_len, "loader.wasm") : NULL;
  kiln_module *om = m ? kiln_module_new(crt, other, module_len + sizeof custom, "other") : NULL;
  free(other);
  if (!om) {
    fprintf(stderr, "cannot load the modules: %s\n", crt ? kiln_error(crt) : "no runtime");
    kiln_runtime_free(crt);
    return false;
  }
  memcpy(module_hash, m->wasm->hash, 32);
  memcpy(other_module_hash, om->wasm->hash, 32);
  nfunc_imports = m->wasm->nfunc_imports;
  nfuncs = m->wasm->nfuncs;
  /* Symbols do not depend on the tier: one manifest describes both. */
  DcmManifest other_man = {0}, hot_man = {0};
  bool ok = compile_segment(m->wasm, DCM_WARM, &pkg, &manifest) &&
            compile_segment(m->wasm, DCM_HOT, &hot_pkg, &hot_man) &&
            compile_segment(om->wasm, DCM_WARM, &other_pkg, &other_man);
  dcm_manifest_free(&other_man);
  dcm_manifest_free(&hot_man);
  kiln_runtime_free(crt);
  if (!ok)
    return false;
  if (nfunc_imports == 0 || manifest.nfuncs != nfuncs - nfunc_imports) {
    fprintf(stderr, "loader.wat: expected an import and a package of every function\n");
    return false;
  }
  /* Mode 0644 for now: the test that uses it sets the mode it wants. */
  if (!copy_segment(&pkg, &open_copy, SHM_DIR, 0644) ||
      !copy_segment(&pkg, &outside_copy, tmpdir, 0400))
    return false;
  snprintf(link_seg.path, sizeof link_seg.path, SHM_DIR "/%s.link", pkg.name);
  if (symlink(pkg.path, link_seg.path) != 0) {
    fprintf(stderr, "symlink %s: %s\n", link_seg.path, strerror(errno));
    link_seg.path[0] = '\0';
    return false;
  }
  return true;
}

int main(void) {
  if (!prepare()) {
    remove_files();
    return 1;
  }
  Suite *s = suite_create("loader");
  TCase *tc = tcase_create("loader");
  /* Sanitizers make compiles and calls several times slower. */
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, good_package);
  tcase_add_test(tc, content_hash_off_by_one_bit);
  tcase_add_test(tc, path_outside_shm);
  tcase_add_test(tc, size_differs);
  tcase_add_test(tc, writable_by_others);
  tcase_add_test(tc, reply_for_another_module);
  tcase_add_test(tc, package_for_another_module);
  tcase_add_test(tc, second_package_checked_for_itself);
  tcase_add_test(tc, descriptor_names_taken);
  tcase_add_test(tc, kilnd_error);
  tcase_add_test(tc, no_compiler);
  tcase_add_test(tc, kilnd_silent);
  tcase_add_test(tc, module_uploaded_when_needed);
  tcase_add_test(tc, no_endpoint);
  tcase_add_test(tc, cold_after_warm);
  tcase_add_test(tc, hot_package_outlives_one_runtime);
  tcase_add_test(tc, release_and_map_again);
  tcase_add_test(tc, release_after_moving_on);
  tcase_add_test(tc, release_waits_for_compiled_frames);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  remove_files();
  return failed ? 1 : 0;
}
