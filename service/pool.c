/*
 * pool.c: the compiler workers, as the broker sees them.
 *
 * Workers are kilnd itself, re-executed with the hidden --worker flag (a
 * fresh process: ZeroMQ's threads do not survive fork, and libgccjit wants a
 * process of its own per compile anyway). Each connects a DEALER to the
 * broker's private ROUTER, with routing id "w<pid>", and says WorkerReady.
 * The broker then hands it one CompileJob at a time.
 *
 * Nothing here waits: jobs go out with ZMQ_DONTWAIT, results arrive as poll
 * events, deaths as SIGCHLD through the broker's signalfd, and time limits
 * are checked by pool_tick against deadlines the poll timeout is built from.
 * A worker that dies or overruns (it is SIGKILLed) has its job answered with
 * an Error and is replaced; one that dies before it ever became ready is
 * replaced after a second, so a broken install cannot fork-loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "kilnd.h"

static void job_free(Job *j) {
  while (j->waiters) {
    Waiter *w = j->waiters;
    j->waiters = w->next;
    free(w);
  }
  free(j->funcs);
  free(j->hints);
  free(j->hintp);
  free(j->without_osr);
  free(j->branches);
  free(j->branchp);
  free(j);
}

/* Sends env to every client waiting on the job (each with its own id). */
static void answer(Broker *b, Job *j, Kiln__Envelope *env) {
  for (Waiter *w = j->waiters; w; w = w->next) {
    env->request_id = w->request_id;
    broker_send(b, w->client, w->client_len, env);
  }
}

/* A compile that killed its worker, ran out of time or failed would do so
 * again for every agent that asks, every period: its package is not
 * tried again for this long, and requests for it get its error at once. */
#define FAILED_RETRY_S 60.0

/* Job j failed: logged, on the feed, and remembered. */
static void failed(Broker *b, const Job *j, Kiln__ErrorCode code, const char *msg) {
  kd_log("compile failed: job %llu: %s", (unsigned long long)j->id, msg);
  feed_compile(b, KILN__COMPILE_STATE__COMPILE_FAILED, j, kd_now() - j->started, NULL, msg);
  PoolFailure *f = &b->failures[b->next_failure++ % POOL_FAILURES_KEPT];
  memcpy(f->key, j->key, 32);
  f->at = kd_now();
  f->code = code;
  snprintf(f->message, sizeof f->message, "%.200s", msg);
}

static const PoolFailure *failure_of(const Broker *b, const uint8_t key[32]) {
  for (size_t i = 0; i < POOL_FAILURES_KEPT; i++) {
    const PoolFailure *f = &b->failures[i];
    if (f->at > 0 && kd_now() - f->at < FAILED_RETRY_S && memcmp(f->key, key, 32) == 0)
      return f;
  }
  return NULL;
}

static void answer_error(Broker *b, Job *j, Kiln__ErrorCode code, const char *msg) {
  Kiln__Error e = KILN__ERROR__INIT;
  e.code = code;
  e.message = (char *)msg;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.body_case = KILN__ENVELOPE__BODY_ERROR;
  env.error = &e;
  answer(b, j, &env);
}

static void unlink_job(Job **list, Job *j) {
  for (Job **p = list; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      return;
    }
}

static void spawn(Broker *b, int slot) {
  Worker *w = &b->workers[slot];
  /* Everything the child needs is prepared before fork: between fork and
   * exec only async-signal-safe calls are allowed. */
  char id[32], maxmsg[32], delay[32];
  snprintf(id, sizeof id, "%d", slot);
  snprintf(maxmsg, sizeof maxmsg, "%ld", b->cfg->max_message);
  snprintf(delay, sizeof delay, "%ld", b->cfg->test_job_delay);
  char *argv[16] = {"kilnd",         "--worker", b->worker_endpoint, "--worker-id", id,
                    "--max-message", maxmsg,     "--test-job-delay", delay,         NULL};
  if (b->cfg->cache) {
    argv[9] = "--cache";
    argv[10] = (char *)b->cfg->cache;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    kd_log("cannot start worker %d: %s", slot, strerror(errno));
    w->pid = 0;
    w->respawn_at = kd_now() + 1;
    return;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A worker never outlives its broker, even one killed with SIGKILL. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(1);
    execv("/proc/self/exe", argv);
    static const char msg[] = "kilnd: cannot start a worker: exec of /proc/self/exe failed\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(127);
  }
  w->pid = pid;
  w->ready = false;
  w->job = NULL;
  w->started = kd_now();
  kd_log("worker %d started (pid %d)", slot, (int)pid);
}

int pool_start(Broker *b) {
  char dir[4096], err[512];
  if (kiln_endpoint_dir(dir, sizeof dir, err, sizeof err) != 0) {
    fprintf(stderr, "kilnd: %s\n", err);
    return -1;
  }
  /* In the private endpoint directory whatever --endpoint says: only this
   * user's processes can connect to it and pose as a worker. */
  snprintf(b->worker_endpoint, sizeof b->worker_endpoint, "ipc://%s/kilnd-%d.workers", dir,
           (int)getpid());
  b->workers_sock = zmq_socket(b->zctx, ZMQ_ROUTER);
  int one = 1, linger = 0;
  /* Fail a send to a worker that is gone instead of dropping it silently. */
  zmq_setsockopt(b->workers_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(b->workers_sock, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(b->workers_sock, b->worker_endpoint) != 0) {
    fprintf(stderr, "kilnd: cannot listen on %s: %s\n", b->worker_endpoint, zmq_strerror(errno));
    b->worker_endpoint[0] = '\0';
    return -1;
  }
  b->nworkers = (int)b->cfg->workers;
  b->workers = calloc((size_t)b->nworkers, sizeof *b->workers);
  if (!b->workers) {
    fprintf(stderr, "kilnd: out of memory\n");
    return -1;
  }
  for (int i = 0; i < b->nworkers; i++)
    spawn(b, i);
  return 0;
}

static int slot_of_pid(const Broker *b, pid_t pid) {
  for (int i = 0; i < b->nworkers; i++)
    if (b->workers[i].pid == pid)
      return i;
  return -1;
}

/* The temporary file a worker compiles into (worker.c names it so). */
static void temp_path(const uint8_t key[32], pid_t pid, char *buf, size_t size) {
  char name[128], path[256];
  store_segment_name(key, name, sizeof name);
  store_segment_path(name, path, sizeof path);
  snprintf(buf, size, "%s.%d.tmp", path, (int)pid);
}

void pool_reap(Broker *b) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    int slot = slot_of_pid(b, pid);
    if (slot < 0)
      continue;
    scratch_remove(pid);
    Worker *w = &b->workers[slot];
    char how[64];
    if (WIFSIGNALED(status))
      snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
      snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    if (!b->stopping)
      kd_log("worker %d (pid %d) died: %s", slot, (int)pid, how);
    Job *j = w->job;
    if (j) {
      char tmp[300], msg[256];
      temp_path(j->key, pid, tmp, sizeof tmp);
      unlink(tmp); /* whatever the dead compiler left half written */
      if (j->timed_out) {
        snprintf(msg, sizeof msg, "compile timed out after %ld s; its worker was killed",
                 b->cfg->job_timeout);
        answer_error(b, j, KILN__ERROR_CODE__ERROR_TIMEOUT, msg);
      } else {
        snprintf(msg, sizeof msg, "the compiler worker died while compiling (%s)", how);
        answer_error(b, j, KILN__ERROR_CODE__ERROR_WORKER_DIED, msg);
      }
      failed(b, j,
             j->timed_out ? KILN__ERROR_CODE__ERROR_TIMEOUT : KILN__ERROR_CODE__ERROR_WORKER_DIED,
             msg);
      unlink_job(&b->running, j);
      job_free(j);
    }
    bool was_ready = w->ready;
    memset(w, 0, sizeof *w);
    w->respawn_at = kd_now() + (was_ready ? 0 : 1);
  }
}

static void on_result(Broker *b, int slot, Kiln__Envelope *env) {
  Worker *w = &b->workers[slot];
  Job *j = w->job;
  if (!j || env->request_id != j->id) {
    kd_log("worker %d answered a job it does not have; ignored", slot);
    return;
  }
  if (env->body_case == KILN__ENVELOPE__BODY_PACKAGE_READY) {
    Kiln__PackageReady *pkg = env->package_ready;
    store_put_package(b->store, j->key, pkg);
    store_evict(b->store, (uint64_t)b->cfg->max_segments_mb << 20, b->cfg->cache,
                (uint64_t)b->cfg->max_cache_mb << 20);
    if (!pkg->cached) {
      uint64_t bytes = 0;
      for (size_t i = 0; i < j->nfuncs; i++)
        bytes += j->module->funcs[j->funcs[i]].body_len;
      part_cost_observe(&b->part_cost, j->tier == KILN__TIER__TIER_HOT ? PART_HOT : PART_WARM,
                        bytes, (double)pkg->compile_time_us / 1e6);
    }
    kd_log("compile done: job %llu, %zu functions %s, %s (%llu bytes, %s%.1f ms)",
           (unsigned long long)j->id, j->nfuncs, kiln_tier_name(j->tier), pkg->segment,
           (unsigned long long)pkg->size, pkg->cached ? "from the disk cache, compiled in " : "",
           (double)pkg->compile_time_us / 1000.0);
    feed_compile(b, KILN__COMPILE_STATE__COMPILE_DONE, j, kd_now() - j->started, pkg, NULL);
  } else {
    char msg[160];
    snprintf(msg, sizeof msg, "%s", env->error->message ? env->error->message : "");
    failed(b, j, env->error->code, msg);
  }
  answer(b, j, env);
  w->job = NULL;
  unlink_job(&b->running, j);
  job_free(j);
}

void pool_on_message(Broker *b) {
  for (int n = 0; n < 64; n++) {
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, b->workers_sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&id);
      return;
    }
    zmq_msg_init(&body);
    int more = zmq_msg_more(&id);
    bool ok = more && zmq_msg_recv(&body, b->workers_sock, 0) >= 0;
    /* Drain anything beyond the one expected frame. */
    while (ok && zmq_msg_more(&body)) {
      zmq_msg_t extra;
      zmq_msg_init(&extra);
      int r = zmq_msg_recv(&extra, b->workers_sock, 0);
      zmq_msg_close(&extra);
      if (r < 0)
        break;
      ok = false;
    }
    int slot = -1;
    char ident[32];
    size_t idlen = zmq_msg_size(&id);
    if (idlen > 1 && idlen < sizeof ident) {
      memcpy(ident, zmq_msg_data(&id), idlen);
      ident[idlen] = '\0';
      if (ident[0] == 'w')
        slot = slot_of_pid(b, (pid_t)atol(ident + 1));
    }
    zmq_msg_close(&id);
    Kiln__Envelope *env = NULL;
    uint64_t rid;
    char err[256];
    if (ok && slot >= 0 &&
        kiln_frame_unpack(zmq_msg_data(&body), zmq_msg_size(&body), (size_t)b->cfg->max_message * 2,
                          &env, &rid, err, sizeof err) == KILN_FRAME_OK) {
      if (env->body_case == KILN__ENVELOPE__BODY_WORKER_READY) {
        b->workers[slot].ready = true;
        kd_log("worker %d ready", slot);
      } else if (env->body_case == KILN__ENVELOPE__BODY_PACKAGE_READY ||
                 env->body_case == KILN__ENVELOPE__BODY_ERROR) {
        on_result(b, slot, env);
      } else {
        kd_log("worker %d sent message %d; ignored", slot, (int)env->body_case);
      }
      kiln__envelope__free_unpacked(env, NULL);
    } else {
      kd_log("ignored a bad message on the worker socket");
    }
    zmq_msg_close(&body);
  }
}

static bool send_job(Broker *b, int slot, Job *j) {
  Worker *w = &b->workers[slot];
  char ident[32];
  int idlen = snprintf(ident, sizeof ident, "w%d", (int)w->pid);
  Kiln__CompileRequest req = KILN__COMPILE_REQUEST__INIT;
  req.module_hash.data = (uint8_t *)j->module->hash;
  req.module_hash.len = 32;
  req.n_functions = j->nfuncs;
  req.functions = j->funcs;
  req.tier = j->tier;
  req.hints = j->hintp;
  req.n_hints = j->nhints;
  req.without_osr = j->without_osr;
  req.n_without_osr = j->nwithout_osr;
  req.osr_body = j->osr_body;
  req.n_osr_body = j->nosr_body;
  req.branch_hints = j->branchp;
  req.n_branch_hints = j->nbranches;
  char segment[128];
  store_segment_name(j->key, segment, sizeof segment);
  Kiln__CompileJob job = KILN__COMPILE_JOB__INIT;
  job.module.data = j->module->binary;
  job.module.len = j->module->binary_len;
  job.request = &req;
  job.key.data = j->key;
  job.key.len = 32;
  job.segment = segment;
  Kiln__Envelope env = KILN__ENVELOPE__INIT;
  env.request_id = j->id;
  env.body_case = KILN__ENVELOPE__BODY_COMPILE_JOB;
  env.compile_job = &job;
  if (zmq_send(b->workers_sock, ident, (size_t)idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
      kiln_frame_send(b->workers_sock, &env, ZMQ_DONTWAIT) < 0) {
    /* Gone or congested: the job stays queued; SIGCHLD will tell. */
    kd_log("cannot send job %llu to worker %d: %s", (unsigned long long)j->id, slot,
           zmq_strerror(errno));
    return false;
  }
  return true;
}

void pool_tick(Broker *b) {
  double now = kd_now();
  for (Job *j = b->running; j; j = j->next) {
    if (!j->timed_out && now >= j->deadline) {
      Worker *w = &b->workers[j->worker];
      kd_log("job %llu exceeded %ld s: killing worker %d (pid %d)", (unsigned long long)j->id,
             b->cfg->job_timeout, j->worker, (int)w->pid);
      j->timed_out = true;
      kill(w->pid, SIGKILL); /* reaped, answered and replaced via SIGCHLD */
    }
  }
  for (int i = 0; i < b->nworkers && !b->stopping; i++)
    if (!b->workers[i].pid && now >= b->workers[i].respawn_at)
      spawn(b, i);
  for (int i = 0; i < b->nworkers && b->queue; i++) {
    Worker *w = &b->workers[i];
    if (!w->pid || !w->ready || w->job)
      continue;
    Job *j = b->queue;
    if (!send_job(b, i, j))
      continue;
    b->queue = j->next;
    b->nqueued--;
    j->worker = i;
    j->deadline = now + (double)b->cfg->job_timeout;
    j->next = b->running;
    b->running = j;
    w->job = j;
    j->started = now;
    kd_log("compile started: job %llu on worker %d", (unsigned long long)j->id, i);
    feed_compile(b, KILN__COMPILE_STATE__COMPILE_STARTED, j, 0, NULL, NULL);
  }
}

int pool_timeout_ms(const Broker *b) {
  double now = kd_now(), next = -1;
  for (const Job *j = b->running; j; j = j->next)
    if (!j->timed_out && (next < 0 || j->deadline < next))
      next = j->deadline;
  for (int i = 0; i < b->nworkers; i++)
    if (!b->workers[i].pid && (next < 0 || b->workers[i].respawn_at < next))
      next = b->workers[i].respawn_at;
  if (next < 0)
    return -1;
  return next <= now ? 0 : (int)((next - now) * 1000) + 1;
}

bool pool_busy(const Broker *b) {
  return b->queue || b->running;
}

/* The job compiling key's package, queued or running, or NULL. */
static Job *job_of(const Broker *b, const uint8_t key[32]) {
  Job *lists[2] = {b->queue, b->running};
  for (int l = 0; l < 2; l++)
    for (Job *j = lists[l]; j; j = j->next)
      if (memcmp(j->key, key, 32) == 0)
        return j;
  return NULL;
}

bool pool_has(const Broker *b, const uint8_t key[32]) {
  return job_of(b, key) != NULL;
}

void pool_submit(Broker *b, const WasmModule *m, const uint8_t key[32], const uint32_t *funcs,
                 size_t nfuncs, Kiln__Tier tier, const PackageProfile *profile,
                 const uint8_t *client, size_t client_len, uint64_t request_id) {
  size_t nhints = profile ? profile->nhints : 0, nplain = profile ? profile->nwithout_osr : 0;
  size_t nbody = profile ? profile->nosr_body : 0;
  size_t nbranches = profile ? profile->nbranches : 0;
  Waiter *w = client ? calloc(1, sizeof *w) : NULL;
  if (client && !w) {
    broker_send_error(b, client, client_len, request_id, KILN__ERROR_CODE__ERROR_INTERNAL,
                      "out of memory");
    return;
  }
  if (w) {
    memcpy(w->client, client, client_len);
    w->client_len = client_len;
    w->request_id = request_id;
  }
  const PoolFailure *failed = failure_of(b, key);
  if (failed) {
    free(w);
    if (client)
      broker_send_error(b, client, client_len, request_id, failed->code,
                        "%s (it failed %.0f s ago; tried again %.0f s after that)", failed->message,
                        kd_now() - failed->at, FAILED_RETRY_S);
    return;
  }
  /* The same package already on its way: one compile answers both. */
  Job *on_way = job_of(b, key);
  if (on_way) {
    if (w) {
      w->next = on_way->waiters;
      on_way->waiters = w;
      kd_log("compile joined job %llu", (unsigned long long)on_way->id);
    }
    return;
  }
  if (b->nqueued >= (size_t)b->cfg->max_queue) {
    free(w);
    broker_send_error(b, client, client_len, request_id, KILN__ERROR_CODE__ERROR_UNAVAILABLE,
                      "compile queue is full (%zu jobs waiting); try again later", b->nqueued);
    return;
  }
  Job *j = calloc(1, sizeof *j);
  uint32_t *copy = malloc(nfuncs * sizeof *copy);
  Kiln__CallHint *hint_copy = calloc(nhints + 1, sizeof *hint_copy);
  Kiln__CallHint **hintp = calloc(nhints + 1, sizeof *hintp);
  uint32_t *plain = malloc((nplain + nbody + 1) * sizeof *plain);
  Kiln__BranchHint *branch_copy = calloc(nbranches + 1, sizeof *branch_copy);
  Kiln__BranchHint **branchp = calloc(nbranches + 1, sizeof *branchp);
  if (!j || !copy || !hint_copy || !hintp || !plain || !branch_copy || !branchp) {
    free(branch_copy);
    free(branchp);
    free(j);
    free(copy);
    free(hint_copy);
    free(hintp);
    free(plain);
    free(w);
    broker_send_error(b, client, client_len, request_id, KILN__ERROR_CODE__ERROR_INTERNAL,
                      "out of memory");
    return;
  }
  memcpy(copy, funcs, nfuncs * sizeof *copy);
  j->id = ++b->next_job_id;
  memcpy(j->key, key, 32);
  j->module = m;
  j->funcs = copy;
  j->nfuncs = nfuncs;
  j->tier = tier;
  for (size_t i = 0; i < nhints; i++) {
    kiln__call_hint__init(&hint_copy[i]);
    hint_copy[i].caller = profile->hints[i]->caller;
    hint_copy[i].site = profile->hints[i]->site;
    hint_copy[i].callee = profile->hints[i]->callee;
    hintp[i] = &hint_copy[i];
  }
  j->hints = hint_copy;
  j->hintp = hintp;
  j->nhints = nhints;
  if (nplain)
    memcpy(plain, profile->without_osr, nplain * sizeof *plain);
  j->without_osr = plain;
  j->nwithout_osr = nplain;
  if (nbody)
    memcpy(plain + nplain, profile->osr_body, nbody * sizeof *plain);
  j->osr_body = plain + nplain;
  j->nosr_body = nbody;
  for (size_t i = 0; i < nbranches; i++) {
    kiln__branch_hint__init(&branch_copy[i]);
    branch_copy[i].function_index = profile->branches[i]->function_index;
    branch_copy[i].offset = profile->branches[i]->offset;
    branch_copy[i].likely = profile->branches[i]->likely;
    branchp[i] = &branch_copy[i];
  }
  j->branches = branch_copy;
  j->branchp = branchp;
  j->nbranches = nbranches;
  j->waiters = w;
  j->worker = -1;
  Job **tail = &b->queue;
  while (*tail)
    tail = &(*tail)->next;
  *tail = j;
  b->nqueued++;
  char hex[65];
  kiln_hex(m->hash, 32, hex);
  char note[160] = "";
  int at = 0;
  if (nhints)
    at += snprintf(note + at, sizeof note - (size_t)at, ", %zu call hint%s", nhints,
                   nhints == 1 ? "" : "s");
  if (nbranches)
    at += snprintf(note + at, sizeof note - (size_t)at, ", %zu branch hint%s", nbranches,
                   nbranches == 1 ? "" : "s");
  if (nplain)
    at += snprintf(note + at, sizeof note - (size_t)at, ", %zu without OSR entries", nplain);
  if (nbody)
    snprintf(note + at, sizeof note - (size_t)at, ", %zu with only an OSR entry", nbody);
  kd_log("compile queued: job %llu, module %.16s, %zu functions %s%s", (unsigned long long)j->id,
         hex, nfuncs, kiln_tier_name(tier), note);
}

void pool_stop(Broker *b) {
  for (int i = 0; i < b->nworkers; i++) {
    Worker *w = &b->workers[i];
    if (!w->pid)
      continue;
    kill(w->pid, SIGTERM);
    if (w->job) {
      /* Named now, while the pid is known; removed once the worker is gone. */
      temp_path(w->job->key, w->pid, w->job_temp, sizeof w->job_temp);
    }
  }
  /* Give them a second to go, then insist: a compile in progress is lost
   * either way and its requester told so below. */
  double until = kd_now() + 1.0;
  for (;;) {
    int alive = 0;
    for (int i = 0; i < b->nworkers; i++) {
      Worker *w = &b->workers[i];
      if (w->pid && waitpid(w->pid, NULL, WNOHANG) == w->pid) {
        scratch_remove(w->pid);
        w->pid = 0;
      }
      alive += w->pid != 0;
    }
    if (!alive)
      break;
    if (kd_now() > until) {
      for (int i = 0; i < b->nworkers; i++)
        if (b->workers[i].pid) {
          kill(b->workers[i].pid, SIGKILL);
          waitpid(b->workers[i].pid, NULL, 0);
          scratch_remove(b->workers[i].pid);
          b->workers[i].pid = 0;
        }
      break;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < b->nworkers; i++)
    if (b->workers[i].job_temp[0])
      unlink(b->workers[i].job_temp); /* a compile cut short leaves half a file */
  Job *lists[2] = {b->queue, b->running};
  for (int l = 0; l < 2; l++)
    while (lists[l]) {
      Job *j = lists[l];
      lists[l] = j->next;
      answer_error(b, j, KILN__ERROR_CODE__ERROR_SHUTTING_DOWN, "kilnd is shutting down");
      job_free(j);
    }
  b->queue = b->running = NULL;
  free(b->workers);
  b->workers = NULL;
  b->nworkers = 0;
}
