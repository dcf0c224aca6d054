/*
 * test_kilnd.c: kilnd from the outside, through a real client (client.c).
 *
 * Every test starts its own kilnd on a private temporary XDG_RUNTIME_DIR and
 * talks to it over ipc:// only. meson runs one test case per test (by
 * CK_RUN_CASE), so they run in parallel and fail one by one.
 *
 * usage: test_kilnd KILND SAMPLE.wasm
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "wasm.h"

static const char *sample_wasm;

/* (module (func (export "f") (result i32) i32.const 42)) */
static const uint8_t valid_bytes[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* header */
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, /* type: () -> i32 */
    0x03, 0x02, 0x01, 0x00, /* func 0: type 0 */
    0x07, 0x05, 0x01, 0x01, 'f',  0x00, 0x00, /* export "f" */
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, /* i32.const 42 */
};

/* The same function returning an f64 where it promises an i32. */
static const uint8_t invalid_bytes[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00,
    0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
};

static Kd kd;

static void setup(void) {
  kd_init(&kd);
}

static void teardown(void) {
  kd_cleanup(&kd);
}

static void start(const char *const *args) {
  ck_assert_msg(kd_start(&kd, args), "kilnd did not start (log in %s)", kd.log);
  kd_connect(&kd);
}

static void assert_error(Kiln__Envelope *r, Kiln__ErrorCode code, const char *text) {
  ck_assert_msg(r != NULL, "no reply");
  ck_assert_msg(r->body_case == KILN__ENVELOPE__BODY_ERROR, "reply %d is not an Error",
                (int)r->body_case);
  ck_assert_msg(r->error->code == code, "error code %d, expected %d (%s)", (int)r->error->code,
                (int)code, r->error->message);
  ck_assert_msg(strstr(r->error->message, text), "error '%s' lacks '%s'", r->error->message, text);
  ck_assert_msg(!strchr(r->error->message, '\n'), "error is not one line");
  kiln__envelope__free_unpacked(r, NULL);
}

static void assert_alive(void) {
  Kiln__Envelope *r = kd_hello(&kd);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_HELLO_REPLY, "kilnd no longer answers");
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert_int_eq(kill(kd.pid, 0), 0);
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Uploads valid_bytes returning `value` instead of 42. Tests run in parallel
 * and segments are named by content, so each test compiles its own module:
 * one kilnd's shutdown never removes another test's segment. */
static void upload_valid(uint8_t hash[32], uint8_t value) {
  uint8_t bytes[sizeof valid_bytes];
  memcpy(bytes, valid_bytes, sizeof bytes);
  ck_assert(value < 0x40); /* stays a one-byte LEB128 */
  bytes[sizeof bytes - 2] = value; /* the i32.const immediate */
  Kiln__Envelope *r = kd_upload(&kd, bytes, sizeof bytes);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_MODULE_ACK, "no ModuleAck");
  memcpy(hash, r->module_ack->module_hash.data, 32);
  kiln__envelope__free_unpacked(r, NULL);
}

START_TEST(hello) {
  start((const char *[]){"--workers", "1", NULL});
  Kiln__Envelope *r = kd_hello(&kd);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_HELLO_REPLY);
  ck_assert_uint_eq(r->version, KILN_PROTO_VERSION);
  ck_assert_int_eq((pid_t)r->hello_reply->pid, kd.pid);
  ck_assert_uint_eq(r->hello_reply->workers, 1);
  ck_assert_uint_eq(r->hello_reply->max_message, KILN_DEFAULT_MAX_MESSAGE);
  ck_assert_int_eq(r->hello_reply->compiler_available, KILND_HAVE_COMPILER);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "hello from 'kilnd test'", 2000));
}
END_TEST

START_TEST(wrong_version) {
  start((const char *[]){"--workers", "1", NULL});
  Kiln__Hello h = KILN__HELLO__INIT;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.version = KILN_PROTO_VERSION + 41; /* packed by hand: kiln_frame_send stamps ours */
  env.request_id = 77;
  env.body_case = KILN__ENVELOPE__BODY_HELLO;
  env.hello = &h;
  uint8_t buf[64];
  size_t n = kiln__envelope__pack(&env, buf);
  Kiln__Envelope *r = kd_call_raw(&kd, buf, n);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(r->request_id, 77); /* answered to the right request */
  assert_error(r, KILN__ERROR_CODE__ERROR_VERSION, "protocol version 42 is not supported");
  /* A future envelope whose body we cannot decode is still told "version". */
  const uint8_t future[] = {0x08, 0x02, 0x10, 0x05, 0x52, 0x03, 0xff, 0xff, 0xff};
  r = kd_call_raw(&kd, future, sizeof future);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(r->request_id, 5);
  assert_error(r, KILN__ERROR_CODE__ERROR_VERSION, "protocol version 2 is not supported");
  assert_alive();
}
END_TEST

START_TEST(garbage) {
  start((const char *[]){"--workers", "1", NULL});
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_error(kd_call_raw(&kd, junk, sizeof junk), KILN__ERROR_CODE__ERROR_MALFORMED,
               "malformed message");
  assert_error(kd_call_raw(&kd, "", 0), KILN__ERROR_CODE__ERROR_MALFORMED,
               "without a protocol version");
  /* A version but no body. */
  const uint8_t nobody[] = {0x08, 0x01};
  assert_error(kd_call_raw(&kd, nobody, sizeof nobody), KILN__ERROR_CODE__ERROR_MALFORMED,
               "without a body");
  /* Two frames in one message. */
  zmq_send(kd.sock, nobody, sizeof nobody, ZMQ_SNDMORE);
  assert_error(kd_call_raw(&kd, nobody, sizeof nobody), KILN__ERROR_CODE__ERROR_MALFORMED,
               "2 frames");
  /* A reply sent as if it were a request. */
  Kiln__NeedModule need = KILN__NEED_MODULE__INIT;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_NEED_MODULE;
  env.need_module = &need;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST, "not a request");
  /* Random bytes, many times: never a crash, always an answer. */
  srand(1);
  for (int i = 0; i < 200; i++) {
    uint8_t b[48];
    size_t len = (size_t)(rand() % (int)sizeof b);
    for (size_t k = 0; k < len; k++)
      b[k] = (uint8_t)rand();
    Kiln__Envelope *r = kd_call_raw(&kd, b, len);
    ck_assert_msg(r != NULL, "no answer to random frame %d", i);
    kiln__envelope__free_unpacked(r, NULL);
  }
  /* Real requests with a few bytes changed reach deeper: every handler must
   * answer whatever decodes. Each request gets exactly one reply (a compile
   * that happens to be valid answers later, which the count allows). */
  uint8_t mod_hash[32];
  wasm_module_hash(valid_bytes, sizeof valid_bytes, mod_hash);
  uint32_t funcs[] = {0};
  Kiln__CompileRequest c = KILN__COMPILE_REQUEST__INIT;
  c.module_hash.data = mod_hash;
  c.module_hash.len = 32;
  c.functions = funcs;
  c.n_functions = 1;
  c.tier = KILN__TIER__TIER_WARM;
  Kiln__ModuleUpload u = KILN__MODULE_UPLOAD__INIT;
  u.module.data = (uint8_t *)valid_bytes;
  u.module.len = sizeof valid_bytes;
  Kiln__Hello h = KILN__HELLO__INIT;
  h.client_name = "mutant";
  Kiln__Envelope reqs[3] = {KILN__ENVELOPE__INIT, KILN__ENVELOPE__INIT, KILN__ENVELOPE__INIT};
  reqs[0].body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
  reqs[0].compile_request = &c;
  reqs[1].body_case = KILN__ENVELOPE__BODY_MODULE_UPLOAD;
  reqs[1].module_upload = &u;
  reqs[2].body_case = KILN__ENVELOPE__BODY_HELLO;
  reqs[2].hello = &h;
  for (int i = 0; i < 300; i++) {
    size_t len;
    uint8_t *b = kiln_frame_pack(&reqs[i % 3], &len);
    ck_assert_ptr_nonnull(b);
    for (int k = 0; k < 1 + rand() % 3; k++)
      b[(size_t)rand() % len] ^= (uint8_t)(1u << (rand() % 8));
    Kiln__Envelope *r = kd_call_raw(&kd, b, len);
    free(b);
    ck_assert_msg(r != NULL, "no answer to mutated request %d", i);
    kiln__envelope__free_unpacked(r, NULL);
  }
  assert_alive();
  ck_assert(kd_log_has(&kd, "refused a request: malformed message", 0));
}
END_TEST

START_TEST(oversized) {
  start((const char *[]){"--workers", "1", "--max-message", "65536", NULL});
  size_t len = 65537;
  uint8_t *big = calloc(1, len);
  assert_error(kd_upload(&kd, big, len), KILN__ERROR_CODE__ERROR_TOO_LARGE,
               "exceeds the limit of 65536 bytes");
  assert_alive();
  /* Beyond twice the limit ZeroMQ drops the connection unread; kilnd lives on
   * and answers a new connection. */
  free(big);
  len = 4u << 20;
  big = calloc(1, len);
  zmq_send(kd.sock, big, len, 0);
  free(big);
  kd_sleep_ms(200);
  kd_disconnect(&kd);
  kd_connect(&kd);
  assert_alive();
}
END_TEST

START_TEST(upload) {
  start((const char *[]){"--workers", "1", NULL});
  size_t len;
  uint8_t *bytes = read_file(sample_wasm, &len);
  uint8_t hash[32];
  wasm_module_hash(bytes, len, hash);
  Kiln__Envelope *r = kd_upload(&kd, bytes, len);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_MODULE_ACK);
  ck_assert_uint_eq(r->module_ack->module_hash.len, 32);
  ck_assert_mem_eq(r->module_ack->module_hash.data, hash, 32);
  ck_assert_uint_gt(r->module_ack->function_count, 1);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "stored", 2000));

  /* Known by hash from now on; an unknown hash is asked for. */
  Kiln__HaveModule have = KILN__HAVE_MODULE__INIT;
  have.module_hash.data = hash;
  have.module_hash.len = 32;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_HAVE_MODULE;
  env.have_module = &have;
  r = kd_call(&kd, &env);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_MODULE_ACK);
  kiln__envelope__free_unpacked(r, NULL);
  hash[0] ^= 1;
  r = kd_call(&kd, &env);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_NEED_MODULE);
  ck_assert_mem_eq(r->need_module->module_hash.data, hash, 32);
  kiln__envelope__free_unpacked(r, NULL);
  have.module_hash.len = 5;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST, "must be 32 bytes");
  free(bytes);
}
END_TEST

START_TEST(invalid_module) {
  start((const char *[]){"--workers", "1", NULL});
  assert_error(kd_upload(&kd, invalid_bytes, sizeof invalid_bytes),
               KILN__ERROR_CODE__ERROR_INVALID_MODULE,
               "invalid module at 0x21 in func 0: type mismatch: expected i32, got f64");
  assert_error(kd_upload(&kd, "\0asm\2\0\0\0", 8), KILN__ERROR_CODE__ERROR_INVALID_MODULE,
               "malformed module at 0x4");
  ck_assert(kd_log_has(&kd, "module refused", 2000));
  /* Refused means not stored. */
  uint8_t hash[32];
  wasm_module_hash(invalid_bytes, sizeof invalid_bytes, hash);
  uint32_t f = 0;
  Kiln__Envelope *r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_NEED_MODULE);
  kiln__envelope__free_unpacked(r, NULL);
  /* A heat map or a start partition of it is refused the same way. */
  Kiln__HeatMap hm = KILN__HEAT_MAP__INIT;
  hm.module_hash = (ProtobufCBinaryData){32, hash};
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_HEAT_MAP;
  env.heat_map = &hm;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "heat map of a module kilnd does not have (send HaveModule first)");
  Kiln__PartitionRequest pr = KILN__PARTITION_REQUEST__INIT;
  pr.module_hash = (ProtobufCBinaryData){32, hash};
  env.body_case = KILN__ENVELOPE__BODY_PARTITION_REQUEST;
  env.partition_request = &pr;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "partition of a module kilnd does not have (send HaveModule first)");
  assert_alive();
}
END_TEST

START_TEST(compile) {
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 1);
  uint32_t f = 0;
  Kiln__Envelope *r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  ck_assert_ptr_nonnull(r);
#if KILND_HAVE_COMPILER
  ck_assert_msg(r->body_case == KILN__ENVELOPE__BODY_PACKAGE_READY, "no PackageReady: %s",
                r->body_case == KILN__ENVELOPE__BODY_ERROR ? r->error->message : "?");
  Kiln__PackageReady *p = r->package_ready;
  struct stat st;
  ck_assert_int_eq(stat(p->path, &st), 0);
  ck_assert_uint_eq((uint64_t)st.st_size, p->size);
  ck_assert_int_eq(st.st_mode & 0777, 0400);
  ck_assert_uint_eq(p->n_entries, 1);
  ck_assert_uint_eq(p->entries[0]->function_index, 0);
  ck_assert(!p->cached);
  size_t len;
  uint8_t *so = read_file(p->path, &len), digest[32];
  wasm_module_hash(so, len, digest); /* SHA-256 of the bytes */
  ck_assert_mem_eq(digest, p->content_hash.data, 32);
  free(so);
  char path[512];
  snprintf(path, sizeof path, "%s", p->path);
  kiln__envelope__free_unpacked(r, NULL);
  /* The same request again comes from the index. */
  r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_PACKAGE_READY);
  ck_assert(r->package_ready->cached);
  kiln__envelope__free_unpacked(r, NULL);
  /* Unmapped segments go at shutdown. */
  ck_assert_int_eq(kd_stop(&kd, SIGTERM), 0);
  ck_assert_int_ne(access(path, F_OK), 0);
#else
  assert_error(r, KILN__ERROR_CODE__ERROR_UNAVAILABLE, "compiler not built");
  ck_assert(kd_log_has(&kd, "compile failed", 2000));
  assert_alive();
#endif
}
END_TEST

START_TEST(compile_bad_request) {
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 2);
  uint32_t f = 1;
  assert_error(kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM),
               KILN__ERROR_CODE__ERROR_BAD_REQUEST, "function 1 does not exist");
  f = 0;
  assert_error(kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_UNSPECIFIED),
               KILN__ERROR_CODE__ERROR_BAD_REQUEST, "tier must be warm or hot");
  assert_error(kd_compile(&kd, hash, &f, 0, KILN__TIER__TIER_HOT),
               KILN__ERROR_CODE__ERROR_BAD_REQUEST, "names no functions");
  Kiln__CompileRequest c = KILN__COMPILE_REQUEST__INIT;
  char *opts[] = {"fast\x01"};
  c.module_hash.data = hash;
  c.module_hash.len = 32;
  c.functions = &f;
  c.n_functions = 1;
  c.tier = KILN__TIER__TIER_HOT;
  c.options = opts;
  c.n_options = 1;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
  env.compile_request = &c;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "unknown compiler option 'fast?'");
  /* The profile's function lists name functions of the request, each in
   * one list at most. */
  c.n_options = 0;
  uint32_t other = 1;
  c.osr_body = &other;
  c.n_osr_body = 1;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "osr_body names a function outside the request");
  c.osr_body = c.without_osr = &f;
  c.n_without_osr = 1;
  assert_error(kd_call(&kd, &env), KILN__ERROR_CODE__ERROR_BAD_REQUEST,
               "a function cannot be both without_osr and osr_body");
  hash[3] ^= 1;
  Kiln__Envelope *r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  ck_assert_int_eq(r->body_case, KILN__ENVELOPE__BODY_NEED_MODULE);
  kiln__envelope__free_unpacked(r, NULL);
  assert_alive();
}
END_TEST

/* Waits until kilnd has a worker other than `old`, and returns it. */
static pid_t new_worker(pid_t old) {
  for (int i = 0; i < 500; i++) {
    pid_t kids[8];
    int n = kd_children(&kd, kids, 8);
    if (n == 1 && kids[0] != old)
      return kids[0];
    kd_sleep_ms(10);
  }
  return 0;
}

/* Worker pid's scratch directory (service/scratch.c), in kilnd's TMPDIR. */
static void scratch_of(pid_t pid, char *dir, size_t size) {
  snprintf(dir, size, "%s/kilnd-w%d", kd.runtime, (int)pid);
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* What a compile cut short leaves: libgccjit's directory with a file. */
static void leave_compiler_files(pid_t pid) {
  char dir[400], file[450];
  scratch_of(pid, dir, sizeof dir);
  ck_assert_msg(is_dir(dir), "worker %d has no scratch directory %s", (int)pid, dir);
  snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/libgccjit-test");
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  snprintf(file, sizeof file, "%s/fake.s", dir);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  fputs("half an assembly\n", f);
  fclose(f);
}

static void assert_scratch_gone(pid_t pid) {
  char dir[400];
  scratch_of(pid, dir, sizeof dir);
  for (int i = 0; i < 200 && is_dir(dir); i++)
    kd_sleep_ms(10);
  ck_assert_msg(!is_dir(dir), "%s is left after its worker died", dir);
}

START_TEST(worker_killed) {
  start((const char *[]){"--workers", "1", "--test-job-delay", "30000", NULL});
  ck_assert(kd_log_has(&kd, "worker 0 ready", 5000));
  uint8_t hash[32];
  upload_valid(hash, 3);
  pid_t kids[8];
  ck_assert_int_eq(kd_children(&kd, kids, 8), 1);
  uint32_t f = 0;
  Kiln__CompileRequest c = KILN__COMPILE_REQUEST__INIT;
  c.module_hash.data = hash;
  c.module_hash.len = 32;
  c.functions = &f;
  c.n_functions = 1;
  c.tier = KILN__TIER__TIER_HOT;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = 9;
  env.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
  env.compile_request = &c;
  ck_assert_int_eq(kiln_frame_send(kd.sock, &env, 0), 0);
  ck_assert(kd_log_has(&kd, "compile started: job 1 on worker 0", 5000));
  /* The broker keeps serving while the job runs. */
  assert_alive();
  leave_compiler_files(kids[0]);
  kill(kids[0], SIGKILL);
  Kiln__Envelope *r = kd_recv(&kd, 10000);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(r->request_id, 9);
  assert_error(r, KILN__ERROR_CODE__ERROR_WORKER_DIED, "signal 9");
  ck_assert(kd_log_has(&kd, "died: killed by signal 9", 2000));
  pid_t next = new_worker(kids[0]);
  ck_assert_int_ne(next, 0);
  ck_assert(kd_log_has(&kd, "worker 0 started", 0));
  for (int i = 0; i < 500 && kd_log_count(&kd, "worker 0 ready") < 2; i++)
    kd_sleep_ms(10);
  ck_assert_int_eq(kd_log_count(&kd, "worker 0 ready"), 2);
  assert_scratch_gone(kids[0]);
  char dir[400];
  scratch_of(next, dir, sizeof dir);
  ck_assert_msg(is_dir(dir), "the new worker has no scratch directory %s", dir);
  assert_alive();
}
END_TEST

START_TEST(job_timeout) {
  start(
      (const char *[]){"--workers", "1", "--job-timeout", "1", "--test-job-delay", "30000", NULL});
  ck_assert(kd_log_has(&kd, "worker 0 ready", 5000));
  uint8_t hash[32];
  upload_valid(hash, 4);
  pid_t kids[8];
  ck_assert_int_eq(kd_children(&kd, kids, 8), 1);
  uint32_t f = 0;
  leave_compiler_files(kids[0]);
  Kiln__Envelope *r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  assert_error(r, KILN__ERROR_CODE__ERROR_TIMEOUT, "timed out after 1 s");
  ck_assert(kd_log_has(&kd, "exceeded 1 s: killing worker 0", 0));
  ck_assert_int_ne(new_worker(kids[0]), 0);
  assert_scratch_gone(kids[0]);
  /* Asked again, the package that failed is not compiled again (it would
   * kill a worker every time): the same error comes at once. */
  r = kd_compile(&kd, hash, &f, 1, KILN__TIER__TIER_WARM);
  assert_error(r, KILN__ERROR_CODE__ERROR_TIMEOUT, "timed out after 1 s");
  ck_assert_int_eq(kd_log_count(&kd, "compile started"), 1);
  assert_alive();
}
END_TEST

START_TEST(sigterm) {
  start((const char *[]){"--workers", "2", NULL});
  ck_assert(kd_log_has(&kd, "worker 1 ready", 5000));
  pid_t kids[8];
  int n = kd_children(&kd, kids, 8);
  ck_assert_int_eq(n, 2);
  assert_alive();
  ck_assert_int_eq(kd_stop(&kd, SIGTERM), 0);
  ck_assert_int_ne(access(kd.sock_path, F_OK), 0);
  for (int i = 0; i < n; i++) {
    ck_assert_int_ne(kill(kids[i], 0), 0); /* workers gone too */
    assert_scratch_gone(kids[i]);
  }
  ck_assert(kd_log_has(&kd, "shutdown on SIGTERM", 0));
  /* Only the lock file is left in the endpoint directory. */
  ck_assert_int_eq(kd_log_count(&kd, "stopped"), 1);
}
END_TEST

START_TEST(sigint) {
  start((const char *[]){"--workers", "1", NULL});
  ck_assert_int_eq(kd_stop(&kd, SIGINT), 0);
  ck_assert_int_ne(access(kd.sock_path, F_OK), 0);
  ck_assert(kd_log_has(&kd, "shutdown on SIGINT", 0));
}
END_TEST

START_TEST(endpoint_dir) {
  /* An existing directory of ours with a wider mode is made private. */
  char runtime_kiln[400];
  snprintf(runtime_kiln, sizeof runtime_kiln, "%s", kd.dir);
  ck_assert_int_eq(mkdir(runtime_kiln, 0755), 0);
  ck_assert_int_eq(chmod(runtime_kiln, 0755), 0);
  start((const char *[]){"--workers", "1", NULL});
  struct stat st;
  ck_assert_int_eq(lstat(kd.dir, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_eq(st.st_mode & 0777, 0700);
  ck_assert_int_eq(lstat(kd.sock_path, &st), 0);
  ck_assert(S_ISSOCK(st.st_mode));
  /* The helpers agree on where the endpoint is. */
  char ep[512], err[256];
  ck_assert_int_eq(kiln_default_endpoint(ep, sizeof ep, err, sizeof err), 0);
  ck_assert_str_eq(ep, kd.endpoint);
  /* A symlink in the directory's place is refused. */
  char link_rt[400], link_dir[420];
  snprintf(link_rt, sizeof link_rt, "%s/other", kd.runtime);
  ck_assert_int_eq(mkdir(link_rt, 0700), 0);
  snprintf(link_dir, sizeof link_dir, "%s/kiln", link_rt);
  ck_assert_int_eq(symlink(kd.dir, link_dir), 0);
  setenv("XDG_RUNTIME_DIR", link_rt, 1);
  ck_assert_int_eq(kiln_default_endpoint(ep, sizeof ep, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a directory we can use"), "%s", err);
  setenv("XDG_RUNTIME_DIR", kd.runtime, 1);
}
END_TEST

START_TEST(second_instance) {
  start((const char *[]){"--workers", "1", NULL});
  ck_assert_int_eq(kd_run(&kd, (const char *[]){"--foreground", NULL}), 1);
  ck_assert(kd_log_has(&kd, "kilnd: another kilnd is already serving", 0));
  assert_alive(); /* its socket was not taken */
}
END_TEST

START_TEST(idle_exit) {
  start((const char *[]){"--workers", "1", "--idle", "1", NULL});
  assert_alive();
  /* A connected agent keeps it, requests or not; its leaving starts the clock. */
  kd_sleep_ms(2500);
  assert_alive();
  kd_disconnect(&kd);
  ck_assert_int_eq(kd_wait_exit(&kd, 5000), 0);
  ck_assert(kd_log_has(&kd, "idle for 1 s: shutting down", 0));
  ck_assert_int_ne(access(kd.sock_path, F_OK), 0);
}
END_TEST

START_TEST(detach) {
  /* Without --foreground the command returns once the daemon listens. */
  ck_assert_int_eq(kd_run(&kd, (const char *[]){"--workers", "1", NULL}), 0);
  ck_assert_int_eq(access(kd.sock_path, F_OK), 0);
  kd_connect(&kd);
  Kiln__Envelope *r = kd_hello(&kd);
  ck_assert_ptr_nonnull(r);
  pid_t daemon = (pid_t)r->hello_reply->pid;
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert_int_eq(kill(daemon, SIGTERM), 0);
  for (int i = 0; i < 500 && access(kd.sock_path, F_OK) == 0; i++)
    kd_sleep_ms(10);
  ck_assert_int_ne(access(kd.sock_path, F_OK), 0);
}
END_TEST

START_TEST(bad_flags) {
  ck_assert_int_eq(kd_run(&kd, (const char *[]){"--workers", "many", NULL}), 2);
  ck_assert_int_eq(kd_run(&kd, (const char *[]){"--frobnicate", NULL}), 2);
  ck_assert_int_eq(kd_run(&kd, (const char *[]){"--endpoint", "tcp://127.0.0.1:5555", NULL}), 2);
  ck_assert(kd_log_has(&kd, "kilnd: --workers wants a whole number from 0 to 256, not 'many'", 0));
  ck_assert(kd_log_has(&kd, "kilnd: unknown option '--frobnicate'", 0));
  ck_assert(kd_log_has(&kd, "kilnd: only ipc:// endpoints are supported", 0));
}
END_TEST

START_TEST(joined) {
  /* Two requests for the same package while it compiles: one compile. */
  start((const char *[]){"--workers", "1", "--test-job-delay", "500", NULL});
  ck_assert(kd_log_has(&kd, "worker 0 ready", 5000));
  uint8_t hash[32];
  upload_valid(hash, 5);
  uint32_t sets[2][2] = {{0, 0}, {0, 0}}; /* duplicates fold into the set {0} */
  size_t lens[2] = {1, 2};
  for (int i = 0; i < 2; i++) {
    Kiln__CompileRequest c = KILN__COMPILE_REQUEST__INIT;
    c.module_hash.data = hash;
    c.module_hash.len = 32;
    c.functions = sets[i];
    c.n_functions = lens[i];
    c.tier = KILN__TIER__TIER_WARM;
    Kiln__Envelope env = KILN__ENVELOPE__INIT;
    env.request_id = 21 + (uint64_t)i;
    env.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
    env.compile_request = &c;
    ck_assert_int_eq(kiln_frame_send(kd.sock, &env, 0), 0);
  }
  bool seen[2] = {false, false};
  int kind = -1;
  for (int i = 0; i < 2; i++) {
    Kiln__Envelope *r = kd_recv(&kd, 10000);
    ck_assert_ptr_nonnull(r);
    ck_assert(r->request_id == 21 || r->request_id == 22);
    seen[r->request_id - 21] = true;
    ck_assert(kind == -1 || kind == (int)r->body_case); /* the same answer for both */
    kind = (int)r->body_case;
    kiln__envelope__free_unpacked(r, NULL);
  }
  ck_assert(seen[0] && seen[1]);
  ck_assert_int_eq(kind, KILND_HAVE_COMPILER ? KILN__ENVELOPE__BODY_PACKAGE_READY
                                             : KILN__ENVELOPE__BODY_ERROR);
  ck_assert(kd_log_has(&kd, "compile joined job 1", 0));
  ck_assert_int_eq(kd_log_count(&kd, "compile started"), 1);
}
END_TEST

#if KILND_HAVE_COMPILER
/* Compiles function 0 of the module `hash` at `tier`, which must give a
 * package: the reply. */
static Kiln__Envelope *compile_package(const uint8_t hash[32], Kiln__Tier tier) {
  uint32_t f = 0;
  Kiln__Envelope *r = kd_compile(&kd, hash, &f, 1, tier);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_PACKAGE_READY, "no PackageReady");
  return r;
}

START_TEST(disk_cache) {
  /* A package outlives kilnd in $XDG_CACHE_HOME/kiln and is checked on reuse. */
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 6);
  Kiln__Envelope *r = compile_package(hash, KILN__TIER__TIER_WARM);
  ck_assert(!r->package_ready->cached);
  char path[512], so[600], hex[65];
  snprintf(path, sizeof path, "%s", r->package_ready->path);
  kiln_hex(r->package_ready->key.data, 32, hex);
  snprintf(so, sizeof so, "%s/cache/kiln/%s.so", kd.runtime, hex);
  uint8_t content[32];
  memcpy(content, r->package_ready->content_hash.data, 32);
  kiln__envelope__free_unpacked(r, NULL);
  kd_disconnect(&kd);
  ck_assert_int_eq(kd_stop(&kd, SIGTERM), 0);
  ck_assert_int_ne(access(path, F_OK), 0);
  ck_assert_int_eq(access(so, R_OK), 0);

  /* A new kilnd: from the cache, no compile. */
  start((const char *[]){"--workers", "1", NULL});
  upload_valid(hash, 6);
  r = compile_package(hash, KILN__TIER__TIER_WARM);
  ck_assert(r->package_ready->cached);
  ck_assert_str_eq(r->package_ready->path, path);
  ck_assert_mem_eq(r->package_ready->content_hash.data, content, 32);
  ck_assert_uint_eq(r->package_ready->n_entries, 1);
  kiln__envelope__free_unpacked(r, NULL);
  size_t len;
  uint8_t *bytes = read_file(path, &len), digest[32];
  wasm_module_hash(bytes, len, digest);
  ck_assert_mem_eq(digest, content, 32);
  free(bytes);
  ck_assert(kd_log_has(&kd, "from the disk cache", 0));
  kd_disconnect(&kd);
  ck_assert_int_eq(kd_stop(&kd, SIGTERM), 0);

  /* A damaged cache entry is compiled again, not served. */
  ck_assert_int_eq(chmod(so, 0600), 0);
  FILE *fp = fopen(so, "r+b");
  ck_assert_ptr_nonnull(fp);
  fputs("damage", fp);
  fclose(fp);
  start((const char *[]){"--workers", "1", NULL});
  upload_valid(hash, 6);
  r = compile_package(hash, KILN__TIER__TIER_WARM);
  ck_assert(!r->package_ready->cached);
  ck_assert_mem_eq(r->package_ready->content_hash.data, content, 32);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "is damaged; compiling again", 0));
}
END_TEST

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

START_TEST(cache_removed) {
  /* The cache directory and its parent go while kilnd runs (rm -rf
   * ~/.cache): kilnd makes them again, and what it compiles next is kept;
   * a file in the way is said once, and the directory made once it goes. */
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 8);
  Kiln__Envelope *r = compile_package(hash, KILN__TIER__TIER_WARM);
  kiln__envelope__free_unpacked(r, NULL);
  char parent[600], dir[700];
  snprintf(parent, sizeof parent, "%s/cache", kd.runtime);
  snprintf(dir, sizeof dir, "%s/kiln", parent);
  ck_assert_int_eq(nftw(parent, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
  ck_assert_int_ne(access(parent, F_OK), 0);

  /* Compiled at once, most often before the broker's check each second:
   * the worker makes the directory. */
  r = compile_package(hash, KILN__TIER__TIER_HOT);
  ck_assert(!r->package_ready->cached);
  char hex[65], so[800];
  kiln_hex(r->package_ready->key.data, 32, hex);
  snprintf(so, sizeof so, "%s/%s.so", dir, hex);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert_msg(access(so, R_OK) == 0, "%s is not in the cache made again", so);
  ck_assert(!kd_log_has(&kd, "cannot add", 0));
  ck_assert(kd_log_has(&kd, "was removed: made it again", 1000));
  int made = kd_log_count(&kd, "was removed: made it again"); /* 2 if both raced */
  struct stat st;
  ck_assert_int_eq(stat(dir, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_eq(st.st_mode & 0777, 0700);

  /* A file where the parent was: said once, and made again once it goes. */
  ck_assert_int_eq(nftw(parent, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
  FILE *fp = fopen(parent, "w");
  ck_assert_ptr_nonnull(fp);
  fclose(fp);
  ck_assert(kd_log_has(&kd, "cache/kiln was removed: cannot create the directory", 3000));
  ck_assert(kd_log_has(&kd, "cache: not a directory; nothing is kept", 0));
  ck_assert_int_eq(unlink(parent), 0);
  for (int i = 0; i < 60 && kd_log_count(&kd, "was removed: made it again") == made; i++)
    usleep(50 * 1000);
  ck_assert_int_eq(kd_log_count(&kd, "was removed: made it again"), made + 1);
  ck_assert_int_eq(kd_log_count(&kd, "nothing is kept"), 1);
  ck_assert_int_eq(stat(dir, &st), 0);
  assert_alive();
}
END_TEST

START_TEST(segment_kept) {
  /* A segment some process maps survives kilnd's shutdown. */
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 7);
  Kiln__Envelope *r = compile_package(hash, KILN__TIER__TIER_HOT);
  char path[512];
  snprintf(path, sizeof path, "%s", r->package_ready->path);
  size_t size = r->package_ready->size;
  kiln__envelope__free_unpacked(r, NULL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  ck_assert(map != MAP_FAILED);
  ck_assert_int_eq(kd_stop(&kd, SIGTERM), 0);
  ck_assert_int_eq(access(path, F_OK), 0);
  ck_assert(kd_log_has(&kd, "keeping segment", 0));
  munmap(map, size);
  unlink(path);
}
END_TEST
#endif

/* An interim heat map (sent while the agent waits for packages) is for the
 * feed: kilnd neither answers nor partitions it. The same heat map not
 * interim gets its partition. */
START_TEST(interim_heat_map) {
  start((const char *[]){"--workers", "1", NULL});
  uint8_t hash[32];
  upload_valid(hash, 7);
  Kiln__Region region = KILN__REGION__INIT, *regions[] = {&region};
  region.function_index = 0;
  region.count = 1000;
  region.self_samples = 50;
  region.heat = 1;
  Kiln__HeatMap hm = KILN__HEAT_MAP__INIT;
  hm.module_hash = (ProtobufCBinaryData){32, hash};
  hm.samples = 50;
  hm.sample_us = 1000;
  hm.n_regions = 1;
  hm.regions = regions;
  hm.interim = true;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_HEAT_MAP;
  env.heat_map = &hm;
  env.request_id = ++kd.next_id;
  ck_assert_int_eq(kiln_frame_send(kd.sock, &env, 0), 0);
  Kiln__Envelope *r = kd_recv(&kd, 500);
  ck_assert_msg(r == NULL, "kilnd answered an interim heat map (body %d)",
                r ? (int)r->body_case : 0);
  assert_alive();
  ck_assert_int_eq(kd_log_count(&kd, "partition of"), 0);
  hm.interim = false;
  r = kd_call(&kd, &env);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_PARTITION, "no partition for a heat map");
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "partition of", 2000));
}
END_TEST

/* (module (func (export "f") (result i32) call 1 call 2 i32.add)
 *         (func (result i32) i32.const 42) (func (result i32) i32.const 7)) */
static const uint8_t caller_bytes[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* header */
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, /* type: () -> i32 */
    0x03, 0x04, 0x03, 0x00, 0x00, 0x00, /* funcs 0, 1, 2: type 0 */
    0x07, 0x05, 0x01, 0x01, 'f',  0x00, 0x00, /* export "f" */
    0x0a, 0x13, 0x03, 0x07, 0x00, 0x10, 0x01, 0x10, 0x02, 0x6a, 0x0b, /* call 1, call 2 */
    0x04, 0x00, 0x41, 0x2a, 0x0b, 0x04, 0x00, 0x41, 0x07, 0x0b, /* 42; 7 */
};

/* A final heat map of functions 0, 1, 2 (count 0 and no samples: not in
 * it); edge: 0 calls 1 that many times (0: none). Returns the start
 * partition kilnd answers with. */
static Kiln__Envelope *final_heat_map(const uint8_t hash[32], const uint64_t samples[3],
                                      const uint64_t counts[3], const Kiln__Tier tiers[3],
                                      uint64_t edge) {
  Kiln__Region r[3], *regions[3];
  size_t n = 0;
  uint64_t total = 0;
  for (uint32_t i = 0; i < 3; i++) {
    if (!samples[i] && !counts[i])
      continue;
    kiln__region__init(&r[n]);
    r[n].function_index = i;
    r[n].count = counts[i];
    r[n].self_samples = samples[i];
    r[n].tier = tiers[i];
    total += samples[i];
    regions[n] = &r[n];
    n++;
  }
  Kiln__CallEdge e = KILN__CALL_EDGE__INIT, *edges[] = {&e};
  e.caller = 0, e.callee = 1, e.count = edge;
  Kiln__HeatMap hm = KILN__HEAT_MAP__INIT;
  hm.module_hash = (ProtobufCBinaryData){32, (uint8_t *)hash};
  hm.samples = total;
  hm.sample_us = 1000;
  hm.n_regions = n;
  hm.regions = regions;
  hm.n_edges = edge ? 1 : 0;
  hm.edges = edges;
  hm.final = true;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_HEAT_MAP;
  env.heat_map = &hm;
  Kiln__Envelope *reply = kd_call(&kd, &env);
  ck_assert_msg(reply && reply->body_case == KILN__ENVELOPE__BODY_PARTITION,
                "no start partition for a final heat map");
  return reply;
}

/* The placement of func in a partition reply, or NULL. */
static const Kiln__Placement *placement_of(const Kiln__Envelope *r, uint32_t func) {
  for (size_t i = 0; i < r->partition->n_placements; i++)
    if (r->partition->placements[i]->function_index == func)
      return r->partition->placements[i];
  return NULL;
}

/* The same; fails without one. */
static const Kiln__Placement *placement(const Kiln__Envelope *r, uint32_t func) {
  const Kiln__Placement *p = placement_of(r, func);
  ck_assert_msg(p, "function %u is not in the start partition", func);
  return p;
}

/* Uploads caller_bytes; its hash in hash. */
static void upload_caller(uint8_t hash[32]) {
  Kiln__Envelope *r = kd_upload(&kd, caller_bytes, sizeof caller_bytes);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_MODULE_ACK, "no ModuleAck");
  memcpy(hash, r->module_ack->module_hash.data, 32);
  kiln__envelope__free_unpacked(r, NULL);
}

/* The start partition a run starting now gets. */
static Kiln__Envelope *start_request(const uint8_t hash[32]) {
  Kiln__PartitionRequest pr = KILN__PARTITION_REQUEST__INIT;
  pr.module_hash = (ProtobufCBinaryData){32, (uint8_t *)hash};
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_PARTITION_REQUEST;
  env.partition_request = &pr;
  Kiln__Envelope *r = kd_call(&kd, &env);
  ck_assert_msg(r && r->body_case == KILN__ENVELOPE__BODY_PARTITION, "no start partition");
  return r;
}

/* The heat map kilnd keeps for a module's next run keeps what a run could
 * not see: a callee inlined into hot code from the run's start has no
 * region of its own and its compiled caller no edge, and it still starts
 * hot next time (by the edge kept from the run before). And a function
 * near a threshold keeps the tier the run ended with (hysteresis). */
START_TEST(kept_heat_map) {
  /* Every run's start partition compiles: each reply is the engine's. */
  start((const char *[]){"--workers", "1", "--start-saving", "0", NULL});
  uint8_t hash[32];
  upload_caller(hash);
  Kiln__Envelope *r;
  const Kiln__Tier cold = KILN__TIER__TIER_COLD, hot = KILN__TIER__TIER_HOT,
                   warm = KILN__TIER__TIER_WARM;

  /* A first run, interpreted: 1 is inlined into its hot caller. */
  r = final_heat_map(hash, (uint64_t[]){95, 5, 0}, (uint64_t[]){10, 100000, 0},
                     (Kiln__Tier[]){cold, cold, cold}, 100000);
  ck_assert_int_eq(placement(r, 1)->tier, hot);
  kiln__envelope__free_unpacked(r, NULL);

  /* A run that started with 1 inlined into 0: no trace of 1. */
  r = final_heat_map(hash, (uint64_t[]){100, 0, 0}, (uint64_t[]){0, 0, 0},
                     (Kiln__Tier[]){hot, hot, cold}, 0);
  ck_assert_int_eq(placement(r, 0)->tier, hot);
  const Kiln__Placement *p = placement(r, 1);
  ck_assert_msg(p->tier == hot && strstr(p->reason, "inlined into hot caller 0"),
                "the unseen callee starts %d (%s)", (int)p->tier, p->reason);
  kiln__envelope__free_unpacked(r, NULL);

  /* The next run asks for the same start. */
  r = start_request(hash);
  ck_assert_int_eq(placement(r, 1)->tier, hot);
  kiln__envelope__free_unpacked(r, NULL);

  /* 2 ran warm, 0.4% of the run: under the 0.5% that would make it warm
   * from scratch, but within hysteresis of it; and cold at the end of
   * the run, it starts cold. */
  for (int ran_warm = 1; ran_warm >= 0; ran_warm--) {
    r = final_heat_map(hash, (uint64_t[]){1000, 0, 4}, (uint64_t[]){0, 0, 0},
                       (Kiln__Tier[]){hot, hot, ran_warm ? warm : cold}, 0);
    p = placement(r, 2);
    if (ran_warm)
      ck_assert_msg(p->tier == warm && strstr(p->reason, "kept warm"), "2 starts %d (%s)",
                    (int)p->tier, p->reason);
    else
      ck_assert_msg(p->tier == cold, "2 starts %d (%s)", (int)p->tier, p->reason);
    kiln__envelope__free_unpacked(r, NULL);
  }
}
END_TEST

/* func's tier in a partition reply: cold when it is not in it. */
static Kiln__Tier tier_in(const Kiln__Envelope *r, uint32_t func) {
  const Kiln__Placement *p = placement_of(r, func);
  return p ? p->tier : KILN__TIER__TIER_COLD;
}

/* Until kilnd's log has text n times (kilnd answers before it queues the
 * compiles of a start partition). */
static void wait_count(const char *text, int n) {
  for (int i = 0; i < 300 && kd_log_count(&kd, text) < n; i++)
    usleep(20000);
  ck_assert_int_ge(kd_log_count(&kd, text), n);
}

/* Start partitions do not churn: a new one that would save little leaves
 * the one compiled before in place, none starts while another compiles,
 * and a run starting meanwhile starts from the last one compiled, then
 * from the new one once it is. Compiles take a second each here. */
START_TEST(start_churn) {
  start((const char *[]){"--workers", "1", "--test-job-delay", "1000", NULL});
  uint8_t hash[32];
  upload_caller(hash);
  Kiln__Envelope *r;
  const Kiln__Tier cold = KILN__TIER__TIER_COLD, hot = KILN__TIER__TIER_HOT;

  /* A first run: 0 and 1 hot, compiled as the run ends. */
  r = final_heat_map(hash, (uint64_t[]){95, 5, 0}, (uint64_t[]){10, 100000, 0},
                     (Kiln__Tier[]){cold, cold, cold}, 100000);
  ck_assert_int_eq(tier_in(r, 1), hot);
  kiln__envelope__free_unpacked(r, NULL);
  wait_count("compile done", 1);

  /* 2 took 1% of the next run: warm would save under 3% of it. */
  r = final_heat_map(hash, (uint64_t[]){950, 50, 10}, (uint64_t[]){0, 0, 5},
                     (Kiln__Tier[]){hot, hot, cold}, 0);
  ck_assert_int_eq(tier_in(r, 2), cold);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "the ready one stays", 2000));
  int queued = kd_log_count(&kd, "compile queued");

  /* 15%: that one compiles. */
  r = final_heat_map(hash, (uint64_t[]){800, 50, 150}, (uint64_t[]){0, 0, 5},
                     (Kiln__Tier[]){hot, hot, cold}, 0);
  ck_assert_int_ne(tier_in(r, 2), cold);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "compiling it", 2000));
  wait_count("compile queued", queued + 1);

  /* While it compiles, another run ends: nothing more compiles, and a run
   * starting now starts from the first. */
  r = final_heat_map(hash, (uint64_t[]){700, 50, 250}, (uint64_t[]){0, 0, 5},
                     (Kiln__Tier[]){hot, hot, cold}, 0);
  ck_assert_int_eq(tier_in(r, 2), cold);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "the last new one still compiles; no other starts", 2000));
  r = start_request(hash);
  ck_assert_int_eq(tier_in(r, 0), hot);
  ck_assert_int_eq(tier_in(r, 2), cold);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert(kd_log_has(&kd, "starting from the last one that is", 2000));
  /* (kilnd answered this request after queueing what the last one asked) */
  ck_assert_int_eq(kd_log_count(&kd, "compile queued"), queued + 1);

  /* Once compiled, the new one is where runs start. */
  wait_count("compile done", 2);
  r = start_request(hash);
  ck_assert_int_ne(tier_in(r, 2), cold);
  kiln__envelope__free_unpacked(r, NULL);
  ck_assert_int_eq(kd_log_count(&kd, "compile queued"), queued + 1);
}
END_TEST

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_kilnd KILND SAMPLE.wasm\n");
    return 2;
  }
  kd_exe = argv[1];
  sample_wasm = argv[2];
  Suite *s = suite_create("kilnd");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
    {"hello", hello},
    {"wrong_version", wrong_version},
    {"garbage", garbage},
    {"oversized", oversized},
    {"upload", upload},
    {"invalid_module", invalid_module},
    {"compile", compile},
    {"compile_bad_request", compile_bad_request},
    {"worker_killed", worker_killed},
    {"job_timeout", job_timeout},
    {"sigterm", sigterm},
    {"sigint", sigint},
    {"endpoint_dir", endpoint_dir},
    {"second_instance", second_instance},
    {"idle_exit", idle_exit},
    {"detach", detach},
    {"bad_flags", bad_flags},
    {"joined", joined},
    {"interim_heat_map", interim_heat_map},
    {"kept_heat_map", kept_heat_map},
    {"start_churn", start_churn},
#if KILND_HAVE_COMPILER
    {"segment_kept", segment_kept},
    {"disk_cache", disk_cache},
    {"cache_removed", cache_removed},
#endif
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cases[i].test);
    suite_add_tcase(s, tc);
  }
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
