/*
 * monitor.c: the Real-time Execution Monitor's sampling timer and the heat
 * map it feeds.
 *
 * The interpreter counts calls and loop iterations as it runs (interp.c);
 * this file adds self time. A POSIX timer on the CPU-time clock of the
 * script's thread sends that thread SIGPROF every sample_us of CPU it
 * uses, and the handler adds one sample to the function the thread runs
 * (Thread.running) and to its innermost loop. Compiled code does not keep
 * Thread.running current: a sample whose interrupted instruction lies in a
 * mapped package is attributed by address instead (the code map, below),
 * and to the loop the code last said it entered (Thread.compiled_loop).
 * Nothing leaves the process but the aggregated heat map.
 *
 * Process-wide state, on purpose: a signal handler is process-wide. It is
 * the previous SIGPROF handler (written once, under pthread_once) and the
 * code map (written under a mutex, read lock-free by the handler). Each
 * runtime's timer names its own Monitor in the signal's value.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp.h"
#include "monitor.h"
#include "runtime.h"

struct Monitor {
  Thread *thread;
  timer_t timer;
};

/* --- code map: package code ranges by function -------------------------- */

/* One compiled function's machine code. Entries are claimed whole under
 * map_lock and published by their `hi` (release), so the handler never
 * reads a half-written one. */
typedef struct {
  _Atomic uintptr_t lo, hi; /* hi == 0: free */
  FuncProfile *_Atomic prof;
  const InterpCode *_Atomic code; /* its loops, by offset */
  _Atomic uint32_t index;
} CodeSpan;

#define CODE_SPANS 8192
static CodeSpan spans[CODE_SPANS];
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;

bool monitor_map_code(uintptr_t lo, uintptr_t hi, const FuncInst *f) {
  FuncProfile *prof = f->prof;
  if (lo >= hi || !prof || !f->code)
    return false;
  pthread_mutex_lock(&map_lock);
  bool done = false;
  for (size_t i = 0; i < CODE_SPANS && !done; i++) {
    if (atomic_load_explicit(&spans[i].hi, memory_order_relaxed) != 0)
      continue;
    atomic_store_explicit(&spans[i].lo, lo, memory_order_relaxed);
    atomic_store_explicit(&spans[i].prof, prof, memory_order_relaxed);
    atomic_store_explicit(&spans[i].code, f->code, memory_order_relaxed);
    atomic_store_explicit(&spans[i].index, f->index, memory_order_relaxed);
    atomic_store_explicit(&spans[i].hi, hi, memory_order_release);
    done = true;
  }
  pthread_mutex_unlock(&map_lock);
  return done;
}

void monitor_unmap_code(uintptr_t lo, uintptr_t hi, const FuncProfile *prof) {
  /* One entry only: an object loaded twice (dlopen counts) made two equal
   * ones, and the other load still holds its code. */
  pthread_mutex_lock(&map_lock);
  for (size_t i = 0; i < CODE_SPANS; i++) {
    if (atomic_load_explicit(&spans[i].hi, memory_order_relaxed) == hi &&
        atomic_load_explicit(&spans[i].lo, memory_order_relaxed) == lo &&
        atomic_load_explicit(&spans[i].prof, memory_order_relaxed) == prof) {
      atomic_store_explicit(&spans[i].hi, 0, memory_order_release);
      break;
    }
  }
  pthread_mutex_unlock(&map_lock);
}

void monitor_unmap_profiles(const FuncProfile *first, size_t n) {
  pthread_mutex_lock(&map_lock);
  for (size_t i = 0; i < CODE_SPANS; i++) {
    const FuncProfile *p = atomic_load_explicit(&spans[i].prof, memory_order_relaxed);
    if (atomic_load_explicit(&spans[i].hi, memory_order_relaxed) && p >= first && p < first + n)
      atomic_store_explicit(&spans[i].hi, 0, memory_order_release);
  }
  pthread_mutex_unlock(&map_lock);
}

static const CodeSpan *code_owner(uintptr_t pc) {
  for (size_t i = 0; i < CODE_SPANS; i++) {
    uintptr_t hi = atomic_load_explicit(&spans[i].hi, memory_order_acquire);
    if (hi && pc < hi && pc >= atomic_load_explicit(&spans[i].lo, memory_order_relaxed))
      return &spans[i];
  }
  return NULL;
}

/* The loop of span's function that compiled code says it runs, or
 * NO_LOOP. The code may be another function's, inlined here: then its loop
 * is not this one's. */
static uint32_t compiled_loop(const CodeSpan *span, uint64_t at) {
  if ((uint32_t)(at >> 32) != atomic_load_explicit(&span->index, memory_order_relaxed))
    return NO_LOOP;
  return interp_loop_at(atomic_load_explicit(&span->code, memory_order_relaxed), (uint32_t)at);
}

/* --- the signal --------------------------------------------------------- */

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool installed;
static struct sigaction previous;

static void on_sample(int sig, siginfo_t *si, void *uctx) {
  if (si->si_code != SI_TIMER || !si->si_value.sival_ptr) {
    /* Someone else's SIGPROF (a profiler's setitimer): theirs to handle. */
    if (previous.sa_flags & SA_SIGINFO)
      previous.sa_sigaction(sig, si, uctx);
    else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
      previous.sa_handler(sig);
    return;
  }
  Monitor *mon = si->si_value.sival_ptr;
  Thread *t = mon->thread;
  if (!t->boundary)
    return; /* the host's own time, between calls into the script */
  /* The kernel checks CPU-time timers at its scheduler tick, so one signal
   * may stand for several periods: si_overrun counts the others. */
  uint64_t w = 1 + (uint64_t)(si->si_overrun > 0 ? si->si_overrun : 0);
  t->samples += w;
  const CodeSpan *span = code_owner(signal_pc(uctx));
  if (span) {
    FuncProfile *p = atomic_load_explicit(&span->prof, memory_order_relaxed);
    p->self += w;
    p->self_compiled += w;
    uint32_t l = compiled_loop(span, t->compiled_loop);
    if (l < p->nloops)
      p->loops[l].self += w;
    return;
  }
  FuncInst *f = t->running;
  if (!f || !f->prof)
    return;
  f->prof->self += w;
  uint32_t l = t->running_loop;
  if (l < f->prof->nloops)
    f->prof->loops[l].self += w;
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sample;
  /* SA_RESTART: the script's own system calls (WASI) must not see EINTR. */
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  installed = sigaction(SIGPROF, &sa, &previous) == 0;
}

/* --- starting and stopping ---------------------------------------------- */

Monitor *monitor_start(Thread *t, unsigned sample_us, char *err, size_t n) {
  pthread_once(&install_once, install);
  if (!installed) {
    snprintf(err, n, "cannot install the sampling signal handler: %s", strerror(errno));
    return NULL;
  }
  Monitor *mon = calloc(1, sizeof *mon);
  if (!mon) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  mon->thread = t;
  t->sample_us = sample_us ? sample_us : MONITOR_SAMPLE_US;
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev.sigev_value.sival_ptr = mon;
  sev._sigev_un._tid = gettid();
  clockid_t clock;
  if (pthread_getcpuclockid(pthread_self(), &clock) != 0 ||
      timer_create(clock, &sev, &mon->timer) != 0) {
    snprintf(err, n, "cannot create the sampling timer: %s", strerror(errno));
    free(mon);
    return NULL;
  }
  struct itimerspec its = {
      .it_interval = {.tv_sec = t->sample_us / 1000000, .tv_nsec = t->sample_us % 1000000 * 1000},
  };
  its.it_value = its.it_interval;
  if (timer_settime(mon->timer, 0, &its, NULL) != 0) {
    snprintf(err, n, "cannot start the sampling timer: %s", strerror(errno));
    timer_delete(mon->timer);
    free(mon);
    return NULL;
  }
  return mon;
}

void monitor_stop(Monitor *mon) {
  if (!mon)
    return;
  /* A signal of this timer may still be pending: it names mon, so take it
   * before mon goes away. Only the sampled thread can, hence the rule
   * that it is the one stopping. */
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &prof, &old);
  timer_delete(mon->timer);
  struct timespec none = {0, 0};
  while (sigtimedwait(&prof, NULL, &none) > 0)
    ;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  free(mon);
}
