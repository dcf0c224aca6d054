/*
 * guard.c: guard pages instead of bounds checks for hot compiled code.
 *
 * A memory reserves MEMORY_GUARDED_RESERVE bytes of address space, so every
 * access hot code can compute lands inside the reservation, and one beyond
 * the memory's size hits an inaccessible page. The fault becomes the same
 * trap the interpreter raises ("out of bounds memory access in $f (func
 * N)") through a SIGSEGV/SIGBUS handler that acts only when
 *   - the faulting instruction lies in a registered package's code,
 *   - the thread is inside a trap boundary (guard_enter), and
 *   - the faulting address lies in the reservation of the memory that the
 *     running hot code addresses (Thread.guard_inst).
 * Anything else goes to the handler that was there before (a debugger's,
 * AddressSanitizer's) or to the default action, so real crashes stay
 * crashes.
 *
 * Process-wide state, on purpose: a signal handler is process-wide. It is
 * the previous handlers (written once, under pthread_once), the table of
 * code ranges (written under a mutex, read lock-free by the handler) and
 * each thread's current Thread (thread-local).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#include "runtime.h"

/* Packages loaded at once; an agent keeps a handful (old ones are released). */
#define GUARD_RANGES 1024

/* A package shared by several runtimes (one object, dlopen counts) is
 * registered by each of them: the range stays until the last one leaves. */
typedef struct {
  _Atomic uintptr_t lo, hi; /* hi == 0: free */
  unsigned holders; /* under ranges_lock */
} CodeRange;

static CodeRange ranges[GUARD_RANGES];
static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool installed;
static struct sigaction previous_segv, previous_bus;
static _Thread_local Thread *current;

Thread *guard_enter(Thread *t) {
  Thread *prev = current;
  current = t;
  return prev;
}

void guard_leave(Thread *prev) {
  current = prev;
}

static bool in_package(uintptr_t pc) {
  for (size_t i = 0; i < GUARD_RANGES; i++) {
    uintptr_t hi = atomic_load_explicit(&ranges[i].hi, memory_order_acquire);
    if (hi && pc < hi && pc >= atomic_load_explicit(&ranges[i].lo, memory_order_relaxed))
      return true;
  }
  return false;
}

uintptr_t signal_pc(const void *uctx) {
  const ucontext_t *uc = uctx;
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
  (void)uc;
  return 0; /* no package code here: install() refuses such targets */
#endif
}

/* What would have happened without us. */
static void chain(int sig, siginfo_t *si, void *uctx) {
  const struct sigaction *old = sig == SIGBUS ? &previous_bus : &previous_segv;
  if (old->sa_flags & SA_SIGINFO) {
    old->sa_sigaction(sig, si, uctx);
    return;
  }
  if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
    /* Returning re-runs the faulting instruction, which then gets the
     * default action (a synchronous fault cannot be ignored). */
    signal(sig, SIG_DFL);
    return;
  }
  old->sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uctx) {
  Thread *t = current;
  Instance *in = t ? t->guard_inst : NULL;
  const MemoryInst *m = in ? in->mem0 : NULL;
  uintptr_t addr = (uintptr_t)si->si_addr;
  if (!m || !t->boundary || !in_package(signal_pc(uctx)) || addr < (uintptr_t)m->base ||
      addr - (uintptr_t)m->base >= m->reserved || t->guard_func >= in->module->wasm->nfuncs) {
    chain(sig, si, uctx);
    return;
  }
  /* trap_raise leaves through longjmp, which keeps the signal mask: unblock
   * the signal first, or the next fault of this thread would kill it. The
   * interrupted code is package code, which holds no lock trap_raise needs. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  trap_raise(t, in->funcs[t->guard_func], TRAP_MEMORY_OOB);
}

static void install(void) {
#if !defined(__x86_64__) && !defined(__aarch64__)
  /* signal_pc cannot tell package code: registration fails, and hot
   * packages run their functions interpreted (abi/kiln_package_abi.h). */
  return;
#endif
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sigemptyset(&sa.sa_mask);
  /* SA_ONSTACK: a thread that set up an alternate stack (for its own stack
   * overflows) gets the handler there, and so do the handlers we chain to. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  /* The previous handlers are read first: once ours is in place, a fault
   * in another thread may already need them. */
  if (sigaction(SIGSEGV, NULL, &previous_segv) != 0 || sigaction(SIGBUS, NULL, &previous_bus) != 0)
    return;
  installed = sigaction(SIGSEGV, &sa, NULL) == 0;
  if (installed && sigaction(SIGBUS, &sa, NULL) != 0) {
    sigaction(SIGSEGV, &previous_segv, NULL);
    installed = false;
  }
}

bool guard_register_code(uintptr_t lo, uintptr_t hi) {
  pthread_once(&install_once, install);
  if (!installed || lo >= hi)
    return false;
  bool ok = false;
  pthread_mutex_lock(&ranges_lock);
  CodeRange *free_slot = NULL;
  for (size_t i = 0; i < GUARD_RANGES && !ok; i++) {
    CodeRange *r = &ranges[i];
    uintptr_t h = atomic_load_explicit(&r->hi, memory_order_relaxed);
    if (!h && !free_slot)
      free_slot = r;
    if (h == hi && atomic_load_explicit(&r->lo, memory_order_relaxed) == lo) {
      r->holders++;
      ok = true;
    }
  }
  if (!ok && free_slot) {
    free_slot->holders = 1;
    atomic_store_explicit(&free_slot->lo, lo, memory_order_relaxed);
    atomic_store_explicit(&free_slot->hi, hi, memory_order_release);
    ok = true;
  }
  pthread_mutex_unlock(&ranges_lock);
  return ok;
}

void guard_unregister_code(uintptr_t lo, uintptr_t hi) {
  pthread_mutex_lock(&ranges_lock);
  for (size_t i = 0; i < GUARD_RANGES; i++) {
    CodeRange *r = &ranges[i];
    if (atomic_load_explicit(&r->hi, memory_order_relaxed) == hi &&
        atomic_load_explicit(&r->lo, memory_order_relaxed) == lo && --r->holders == 0) {
      atomic_store_explicit(&r->hi, 0, memory_order_release);
      break;
    }
  }
  pthread_mutex_unlock(&ranges_lock);
}

/* --- whole packages --------------------------------------------------------- */

/* The executable segments of one loaded object; a package has one. */
typedef struct {
  uintptr_t addr; /* an address inside the object, or 0 */
  uintptr_t bias; /* or its load bias (link_map l_addr) */
  bool found;
  size_t ncode;
  uintptr_t lo[4], hi[4];
} ObjectCode;

static bool segment_holds(const struct dl_phdr_info *info, uintptr_t addr) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && addr >= lo && addr - lo < ph->p_memsz)
      return true;
  }
  return false;
}

static int visit_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  ObjectCode *o = data;
  if (o->addr ? !segment_holds(info, o->addr) : info->dlpi_addr != o->bias)
    return 0;
  o->found = true;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    if (o->ncode == 4) {
      o->found = false; /* not a package as the DCM writes them */
      break;
    }
    o->lo[o->ncode] = info->dlpi_addr + ph->p_vaddr;
    o->hi[o->ncode] = o->lo[o->ncode] + ph->p_memsz;
    o->ncode++;
  }
  return 1;
}

static bool object_code(void *dl_handle, ObjectCode *o) {
  struct link_map *lm = NULL;
  if (!dl_handle || dlinfo(dl_handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
    return false;
  *o = (ObjectCode){.bias = (uintptr_t)lm->l_addr};
  dl_iterate_phdr(visit_object, o);
  return o->found && o->ncode > 0;
}

bool guard_register_package(void *dl_handle) {
  ObjectCode o;
  if (!object_code(dl_handle, &o))
    return false;
  for (size_t i = 0; i < o.ncode; i++) {
    if (!guard_register_code(o.lo[i], o.hi[i])) {
      while (i--)
        guard_unregister_code(o.lo[i], o.hi[i]);
      return false;
    }
  }
  return true;
}

void guard_forget_package(void *dl_handle) {
  ObjectCode o;
  if (object_code(dl_handle, &o))
    for (size_t i = 0; i < o.ncode; i++)
      guard_unregister_code(o.lo[i], o.hi[i]);
}

void guard_package_ready(int *flag) {
  ObjectCode o = {.addr = (uintptr_t)flag};
  dl_iterate_phdr(visit_object, &o);
  bool registered = o.found && o.ncode > 0;
  for (size_t i = 0; registered && i < o.ncode; i++)
    registered = in_package(o.lo[i]) && in_package(o.hi[i] - 1);
  *flag = registered ? KILN_ABI_GUARD_READY : KILN_ABI_GUARD_REFUSED;
}
