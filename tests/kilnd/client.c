/*
 * client.c: see client.h. Failures here are test failures, so they abort
 * the test with a message (Check reports it) rather than return codes.
 */
#include "client.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

const char *kd_exe;

void kd_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void kd_init(Kd *kd) {
  memset(kd, 0, sizeof *kd);
  const char *tmp = getenv("TMPDIR");
  snprintf(kd->runtime, sizeof kd->runtime, "%s/kilnd-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(kd->runtime));
  setenv("XDG_RUNTIME_DIR", kd->runtime, 1);
  /* The package cache too: tests never touch the user's ~/.cache. */
  char cache[300];
  snprintf(cache, sizeof cache, "%s/cache", kd->runtime);
  setenv("XDG_CACHE_HOME", cache, 1);
  /* And no kilnd.conf of the user's own. */
  char config[300];
  snprintf(config, sizeof config, "%s/config", kd->runtime);
  setenv("XDG_CONFIG_HOME", config, 1);
  snprintf(kd->dir, sizeof kd->dir, "%s/kiln", kd->runtime);
  snprintf(kd->sock_path, sizeof kd->sock_path, "%s/kilnd.sock", kd->dir);
  snprintf(kd->endpoint, sizeof kd->endpoint, "ipc://%s", kd->sock_path);
  snprintf(kd->log, sizeof kd->log, "%s/kilnd.log", kd->runtime);
}

static pid_t spawn(Kd *kd, const char *const *args, bool foreground) {
  const char *argv[32];
  int n = 0;
  argv[n++] = kd_exe;
  if (foreground)
    argv[n++] = "--foreground";
  for (int i = 0; args && args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* A test that dies must not leave a kilnd behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Its workers' scratch directories too (the compiler's temporary files). */
    setenv("TMPDIR", kd->runtime, 1);
    int fd = open(kd->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0)
      dup2(fd, STDERR_FILENO);
    execv(kd_exe, (char **)argv);
    _exit(127);
  }
  return pid;
}

bool kd_start(Kd *kd, const char *const *args) {
  kd->pid = spawn(kd, args, true);
  for (int i = 0; i < 1000; i++) {
    if (access(kd->sock_path, F_OK) == 0 && kd_log_has(kd, "listening on", 0))
      return true;
    if (waitpid(kd->pid, NULL, WNOHANG) == kd->pid) {
      kd->pid = 0;
      return false;
    }
    kd_sleep_ms(10);
  }
  return false;
}

int kd_run(Kd *kd, const char *const *args) {
  pid_t pid = spawn(kd, args, false);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void kd_connect(Kd *kd) {
  kd->ctx = zmq_ctx_new();
  kd->sock = zmq_socket(kd->ctx, ZMQ_DEALER);
  int linger = 0;
  zmq_setsockopt(kd->sock, ZMQ_LINGER, &linger, sizeof linger);
  ck_assert_int_eq(zmq_connect(kd->sock, kd->endpoint), 0);
}

void kd_disconnect(Kd *kd) {
  if (kd->sock)
    zmq_close(kd->sock);
  if (kd->ctx)
    zmq_ctx_term(kd->ctx);
  kd->sock = kd->ctx = NULL;
}

Kiln__Envelope *kd_recv(Kd *kd, int timeout_ms) {
  zmq_pollitem_t item = {kd->sock, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, timeout_ms) <= 0)
    return NULL;
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  ck_assert_int_ge(zmq_msg_recv(&msg, kd->sock, 0), 0);
  Kiln__Envelope *env;
  uint64_t rid;
  char err[256];
  KilnFrameStatus st = kiln_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), 1u << 30, &env,
                                         &rid, err, sizeof err);
  zmq_msg_close(&msg);
  ck_assert_msg(st == KILN_FRAME_OK, "kilnd sent a bad frame: %s", err);
  return env;
}

Kiln__Envelope *kd_call(Kd *kd, Kiln__Envelope *env) {
  env->request_id = ++kd->next_id;
  ck_assert_int_eq(kiln_frame_send(kd->sock, env, 0), 0);
  Kiln__Envelope *r = kd_recv(kd, 10000);
  if (r)
    ck_assert_uint_eq(r->request_id, env->request_id);
  return r;
}

Kiln__Envelope *kd_call_raw(Kd *kd, const void *data, size_t len) {
  ck_assert_int_ge(zmq_send(kd->sock, data, len, 0), 0);
  return kd_recv(kd, 10000);
}

int kd_wait_exit(Kd *kd, int timeout_ms) {
  for (int t = 0; t <= timeout_ms; t += 10) {
    int st;
    pid_t r = waitpid(kd->pid, &st, WNOHANG);
    if (r == kd->pid) {
      kd->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    kd_sleep_ms(10);
  }
  return -1;
}

int kd_stop(Kd *kd, int sig) {
  ck_assert_int_gt(kd->pid, 0);
  kill(kd->pid, sig);
  return kd_wait_exit(kd, 10000);
}

static char *read_log(Kd *kd) {
  FILE *f = fopen(kd->log, "r");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (len + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (buf)
    buf[len] = '\0';
  return buf;
}

int kd_log_count(Kd *kd, const char *text) {
  char *log = read_log(kd);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, text)); p += strlen(text))
    n++;
  free(log);
  return n;
}

bool kd_log_has(Kd *kd, const char *text, int timeout_ms) {
  for (int t = 0;; t += 10) {
    if (kd_log_count(kd, text) > 0)
      return true;
    if (t >= timeout_ms)
      return false;
    kd_sleep_ms(10);
  }
}

int kd_children(Kd *kd, pid_t *out, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)kd->pid, (int)kd->pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  int n = 0;
  long v;
  while (n < max && fscanf(f, "%ld", &v) == 1)
    out[n++] = (pid_t)v;
  fclose(f);
  return n;
}

void kd_cleanup(Kd *kd) {
  kd_disconnect(kd);
  /* A clean stop first, so a sanitizer build runs its leak check. */
  if (kd->pid > 0) {
    kill(kd->pid, SIGTERM);
    if (kd_wait_exit(kd, 5000) == -1 && kd->pid > 0) {
      kill(kd->pid, SIGKILL);
      waitpid(kd->pid, NULL, 0);
    }
    kd->pid = 0;
  }
  bool sanitizer = kd_log_count(kd, "Sanitizer") + kd_log_count(kd, "runtime error:") > 0;
  if (sanitizer) {
    char *log = read_log(kd);
    fprintf(stderr, "kilnd's log (%s):\n%s\n", kd->log, log ? log : "");
    free(log);
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", kd->runtime);
  if (kd->runtime[0] && system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", kd->runtime);
  ck_assert_msg(!sanitizer, "a sanitizer reported an error in kilnd (log above)");
}

Kiln__Envelope *kd_hello(Kd *kd) {
  Kiln__Hello h = KILN__HELLO__INIT;
  h.pid = (uint32_t)getpid();
  h.client_name = "kilnd test";
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_HELLO;
  env.hello = &h;
  return kd_call(kd, &env);
}

Kiln__Envelope *kd_upload(Kd *kd, const void *bytes, size_t len) {
  Kiln__ModuleUpload u = KILN__MODULE_UPLOAD__INIT;
  u.module.data = (uint8_t *)bytes;
  u.module.len = len;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_MODULE_UPLOAD;
  env.module_upload = &u;
  return kd_call(kd, &env);
}

Kiln__Envelope *kd_compile(Kd *kd, const uint8_t hash[32], const uint32_t *funcs, size_t n,
                           Kiln__Tier tier) {
  Kiln__CompileRequest c = KILN__COMPILE_REQUEST__INIT;
  c.module_hash.data = (uint8_t *)hash;
  c.module_hash.len = 32;
  c.functions = (uint32_t *)funcs;
  c.n_functions = n;
  c.tier = tier;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_COMPILE_REQUEST;
  env.compile_request = &c;
  return kd_call(kd, &env);
}
